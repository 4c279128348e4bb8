"""The Python `kubernetes` client (PyPI) against Keel's api-server: create, list, patch,
delete and watch pods, as its users do. Usage: kube_client.py KUBECONFIG. Exits non-zero
with a message on the first thing that does not work."""

import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def main(kubeconfig: str) -> None:
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()
    apps = client.AppsV1Api()
    ns = "python-client"
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
    )
    created = v1.create_namespaced_pod(ns, pod)
    assert created.metadata.uid, "created pod has no uid"
    assert created.status.phase == "Pending", created.status.phase
    assert created.spec.restart_policy == "Always", created.spec.restart_policy

    listed = v1.list_namespaced_pod(ns, label_selector="app=web")
    assert [p.metadata.name for p in listed.items] == ["web"], listed.items
    assert listed.metadata.resource_version, "list without resourceVersion"

    # Strategic merge patch (the client's default for a dict body) and JSON patch.
    v1.patch_namespaced_pod("web", ns, {"metadata": {"labels": {"tier": "front"}}})
    v1.patch_namespaced_pod("web", ns, [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}])
    got = v1.read_namespaced_pod("web", ns)
    assert got.metadata.labels == {"app": "web", "tier": "front"}, got.metadata.labels
    assert got.metadata.annotations == {"a": "b"}, got.metadata.annotations

    try:
        v1.create_namespaced_pod(ns, pod)
        raise AssertionError("a second create of web succeeded")
    except ApiException as e:
        assert e.status == 409, e.status

    # watch.Watch().stream: the existing pod, then a new one, a change and a delete.
    seen = []
    done = threading.Event()

    def follow():
        w = watch.Watch()
        for event in w.stream(v1.list_namespaced_pod, ns, timeout_seconds=30):
            seen.append((event["type"], event["object"].metadata.name))
            if (event["type"], event["object"].metadata.name) == ("DELETED", "db"):
                w.stop()
        done.set()

    t = threading.Thread(target=follow)
    t.start()
    deadline = time.time() + 20
    while not seen and time.time() < deadline:
        time.sleep(0.05)
    db = client.V1Pod(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
    )
    v1.create_namespaced_pod(ns, db)
    v1.patch_namespaced_pod("db", ns, {"metadata": {"labels": {"role": "db"}}})
    v1.delete_namespaced_pod("db", ns)
    done.wait(30)
    want = [("ADDED", "web"), ("ADDED", "db"), ("MODIFIED", "db"), ("DELETED", "db")]
    assert seen == want, f"watch saw {seen}, wanted {want}"

    # A deployment through the apps API, scaled through its scale subresource.
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.27")]),
            ),
        ),
    )
    apps.create_namespaced_deployment(ns, deployment)
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 4

    v1.delete_namespaced_pod("web", ns)
    try:
        v1.read_namespaced_pod("web", ns)
        raise AssertionError("web still there after delete")
    except ApiException as e:
        assert e.status == 404, e.status
    print("python kubernetes client: create, list, patch, watch, scale, delete: ok")


if __name__ == "__main__":
    main(sys.argv[1])
