//! End-to-end: `keel apiserver` on a real store — a Keel cluster, and Debian's etcd 3.4 with
//! the same binary — driven by clients we did not write: kubectl 1.32, curl, etcdctl.
//! What kubectl prints is compared with what a real cluster prints where it matters
//! (columns, messages); what is stored is read back with etcdctl to check the layout.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::kube::{ApiServer, ControlPlane, kubectl_binary};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx:1.27
"#;

/// The words of the first line of `text` (a table header).
fn header(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The whitespace-separated cells of the line starting with `name`.
fn row(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{text}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Everything kubectl is asked to do against any store.
fn kubectl_tour(api: &ApiServer) {
    let version = api.ok(&["version"]);
    assert!(version.contains("Client Version: v1.32"), "{version}");
    assert!(version.contains("Server Version: v1.33.0"), "{version}");

    let resources = api.ok(&["api-resources"]);
    assert_eq!(
        row(&resources, "deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        row(&resources, "nodes"),
        ["nodes", "no", "v1", "false", "Node"]
    );
    let versions = api.ok(&["api-versions"]);
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "coordination.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "{gv} missing from:\n{versions}"
        );
    }
    let explain = api.ok(&["explain", "pods.spec.containers"]);
    assert!(
        explain.contains("FIELD: containers <[]Container>"),
        "{explain}"
    );

    // create -f validates on the client against /openapi/v3 (server-side field validation).
    assert_eq!(
        api.ok_stdin(&["create", "-f", "-"], POD).trim(),
        "pod/web created"
    );
    let again = api.kubectl_with(&["create", "-f", "-"], Some(POD), &[]);
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        "Error from server (AlreadyExists): error when creating \"STDIN\": pods \"web\" already exists"
    );

    let pods = api.ok(&["get", "pods"]);
    assert_eq!(
        header(&pods),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(row(&pods, "web")[..4], ["web", "0/1", "Pending", "0"]);
    let wide = api.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        header(&wide),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    let all = api.ok(&["get", "pods", "-A"]);
    assert_eq!(header(&all)[..2], ["NAMESPACE", "NAME"]);
    assert_eq!(api.ok(&["get", "pods", "-o", "name"]).trim(), "pod/web");
    let json: serde_json::Value =
        serde_json::from_str(&api.ok(&["get", "pod", "web", "-o", "json"])).expect("json");
    let uid = json["metadata"]["uid"].as_str().expect("uid").to_string();
    assert_eq!(json["spec"]["restartPolicy"], "Always");
    assert_eq!(
        json["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(json["status"]["phase"], "Pending");
    assert_eq!(
        api.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"]),
        uid
    );
    let yaml = api.ok(&["get", "pod", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("resourceVersion: \"") && yaml.contains("kind: Pod"),
        "{yaml}"
    );

    // Selectors.
    assert_eq!(
        api.ok(&["get", "pods", "-l", "app=web", "-o", "name"])
            .trim(),
        "pod/web"
    );
    assert_eq!(
        api.ok(&["get", "pods", "-l", "app in (db,cache)", "-o", "name"])
            .trim(),
        ""
    );
    assert_eq!(
        api.ok(&[
            "get",
            "pods",
            "--field-selector",
            "metadata.name=web,status.phase=Pending",
            "-o",
            "name"
        ])
        .trim(),
        "pod/web"
    );
    let bad_field = api.fails(&["get", "pods", "--field-selector", "spec.foo=bar"]);
    assert!(
        bad_field.contains("field label not supported: spec.foo"),
        "{bad_field}"
    );

    // label, annotate, and the patch types.
    assert_eq!(
        api.ok(&["label", "pod", "web", "tier=front"]).trim(),
        "pod/web labeled"
    );
    assert_eq!(
        api.ok(&["annotate", "pod", "web", "note=hi"]).trim(),
        "pod/web annotated"
    );
    assert_eq!(
        api.ok(&[
            "patch",
            "pod",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"tier":null,"x":"1"}}}"#
        ])
        .trim(),
        "pod/web patched"
    );
    assert_eq!(
        api.ok(&[
            "patch",
            "pod",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/y","value":"2"}]"#
        ])
        .trim(),
        "pod/web patched"
    );
    let labels = api.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels}"]);
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels");
    assert_eq!(
        labels,
        serde_json::json!({"app": "web", "x": "1", "y": "2"})
    );
    let bad_patch = api.fails(&[
        "patch",
        "pod",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/nope"}]"#,
    ]);
    assert!(
        bad_patch.starts_with("The request is invalid"),
        "{bad_patch}"
    );

    // Invalid objects are refused with kube's message and nothing is stored.
    let invalid = api.kubectl_with(
        &["create", "-f", "-"],
        Some(&POD.replace("name: web", "name: Web")),
        &[],
    );
    let invalid = String::from_utf8_lossy(&invalid.stderr);
    assert!(
        invalid.contains("The Pod \"Web\" is invalid: metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain"),
        "{invalid}"
    );
    // Unknown fields: kubectl asks for Strict (server-side field validation) by default.
    let typo = POD.replace("name: web", "name: typo").replace(
        "image: busybox:1.36",
        "imagee: busybox:1.36\n    image: busybox:1.36",
    );
    let strict = api.kubectl_with(&["create", "-f", "-"], Some(&typo), &[]);
    let strict = String::from_utf8_lossy(&strict.stderr);
    assert!(
        strict.contains(r#"Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagee""#),
        "{strict}"
    );
    let warned = api.kubectl_with(&["create", "--validate=warn", "-f", "-"], Some(&typo), &[]);
    assert!(
        warned.status.success(),
        "{}",
        String::from_utf8_lossy(&warned.stderr)
    );
    let warning = String::from_utf8_lossy(&warned.stderr);
    assert!(
        warning.contains(r#"Warning: unknown field "spec.containers[0].imagee""#),
        "{warning}"
    );
    let stored = api.ok(&["get", "pod", "typo", "-o", "jsonpath={.spec.containers[0]}"]);
    assert!(!stored.contains("imagee"), "{stored}");
    api.ok(&["delete", "pod", "typo"]);
    let missing = api.fails(&["get", "pod", "Web"]);
    assert_eq!(
        missing.trim(),
        "Error from server (NotFound): pods \"Web\" not found"
    );

    // Deployments: create, scale, generation, edit.
    assert_eq!(
        api.ok_stdin(&["create", "-f", "-"], DEPLOYMENT).trim(),
        "deployment.apps/web created"
    );
    let deploy = api.ok(&["get", "deploy", "-o", "wide"]);
    assert_eq!(
        header(&deploy),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(row(&deploy, "web")[1], "0/2");
    assert_eq!(
        api.ok(&["scale", "deploy", "web", "--replicas=5"]).trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        api.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation} {.spec.strategy.rollingUpdate.maxSurge}"]),
        "5 2 25%"
    );
    let editor = api.dir.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 5/replicas: 3/' \"$1\"\n",
    )
    .expect("editor");
    let _ = Command::new("chmod").arg("+x").arg(&editor).status();
    let edited = api.kubectl_with(
        &["edit", "deploy", "web"],
        None,
        &[("EDITOR", editor.to_str().unwrap_or(""))],
    );
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        api.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );

    // Client-side apply of a changed manifest (a strategic merge patch computed by kubectl,
    // with the last-applied annotation), then re-applied unchanged.
    let changed = DEPLOYMENT.replace("nginx:1.27", "nginx:1.28");
    assert_eq!(
        api.ok_stdin(&["apply", "-f", "-"], &changed).trim(),
        "deployment.apps/web configured"
    );
    assert_eq!(
        api.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[?(@.name=='c')].image}"
        ]),
        "2 nginx:1.28"
    );
    assert_eq!(
        api.ok_stdin(&["apply", "-f", "-"], &changed).trim(),
        "deployment.apps/web unchanged"
    );

    // Strategic merge patch (kubectl patch's default): containers merge by name.
    api.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#]);
    let names = api.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
    ]);
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["c", "sidecar"]);
    // A stale resourceVersion is a conflict.
    let mut stale = json.clone();
    stale["metadata"]["resourceVersion"] = serde_json::json!("1");
    let conflict = api.kubectl_with(&["replace", "-f", "-"], Some(&stale.to_string()), &[]);
    let conflict = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        conflict.contains("Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again"),
        "{conflict}"
    );

    // A watch sees changes as they happen.
    let mut watch = Command::new(kubectl_binary())
        .args(["get", "pods", "-w", "--output-watch-events"])
        .env("KUBECONFIG", &api.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let (tx, rx) = mpsc::channel();
    if let Some(out) = watch.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    // kubectl prints the list, then one table row per event (the watch's Tables carry the
    // columns on their first event only, as kube's do).
    let wait_row = |event: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {event} row for web"));
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells.len() > 2 && cells[0] == event && cells[1] == "web" {
                return cells.len();
            }
        }
    };
    let columns = wait_row("ADDED");
    api.ok(&["label", "pod", "web", "watched=yes"]);
    assert_eq!(wait_row("MODIFIED"), columns);
    api.ok(&["delete", "pod", "web"]);
    assert_eq!(wait_row("DELETED"), columns);
    let _ = watch.kill();
    let _ = watch.wait();

    // Deletion: orphan leaves a finalizer for the garbage collector; background deletes.
    api.ok(&[
        "delete",
        "deploy",
        "web",
        "--cascade=orphan",
        "--wait=false",
    ]);
    assert_eq!(
        api.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.finalizers}"
        ]),
        r#"["orphan"]"#
    );
    api.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert!(api.fails(&["get", "deploy", "web"]).contains("NotFound"));

    // kubectl's generators send protobuf bodies (no JSON fallback).
    for (args, expect) in [
        (&["create", "namespace", "gen"][..], "namespace/gen created"),
        (
            &[
                "create",
                "deployment",
                "gen",
                "--image=nginx:1.27",
                "--replicas=2",
                "--port=80",
                "-n",
                "gen",
            ],
            "deployment.apps/gen created",
        ),
        (
            &[
                "create",
                "configmap",
                "gen",
                "--from-literal=a=b",
                "-n",
                "gen",
            ],
            "configmap/gen created",
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "gen",
                "--from-literal=password=s3cret",
                "-n",
                "gen",
            ],
            "secret/gen created",
        ),
        (
            &[
                "create",
                "service",
                "clusterip",
                "gen",
                "--tcp=80:8080",
                "-n",
                "gen",
            ],
            "service/gen created",
        ),
        (
            &[
                "create",
                "job",
                "gen",
                "--image=busybox:1.36",
                "-n",
                "gen",
                "--",
                "true",
            ],
            "job.batch/gen created",
        ),
    ] {
        assert_eq!(api.ok(args).trim(), expect);
    }
    assert_eq!(
        api.ok(&[
            "get",
            "deploy",
            "gen",
            "-n",
            "gen",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}"
        ]),
        "2 80"
    );
    assert_eq!(
        api.ok(&[
            "get",
            "secret",
            "gen",
            "-n",
            "gen",
            "-o",
            "jsonpath={.data.password}"
        ]),
        "czNjcmV0"
    );
    assert_eq!(
        api.ok(&[
            "get",
            "svc",
            "gen",
            "-n",
            "gen",
            "-o",
            "jsonpath={.spec.ports[0].port}:{.spec.ports[0].targetPort}"
        ]),
        "80:8080"
    );
    assert_eq!(
        api.ok(&[
            "get",
            "job",
            "gen",
            "-n",
            "gen",
            "-o",
            "jsonpath={.spec.template.spec.restartPolicy}"
        ]),
        "Never"
    );

    // describe reads the object and its events (a field selector on involvedObject).
    let described = api.ok(&["describe", "deploy", "gen", "-n", "gen"]);
    let field = |name: &str| {
        described
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in:\n{described}"))
    };
    assert_eq!(field("Name:"), "gen");
    assert_eq!(field("Namespace:"), "gen");
    assert!(field("Replicas:").starts_with("2 desired"), "{described}");
    // Foreground deletion leaves the foregroundDeletion finalizer for the garbage collector.
    api.ok(&[
        "delete",
        "job",
        "gen",
        "-n",
        "gen",
        "--cascade=foreground",
        "--wait=false",
    ]);
    assert_eq!(
        api.ok(&[
            "get",
            "job",
            "gen",
            "-n",
            "gen",
            "-o",
            "jsonpath={.metadata.finalizers}"
        ]),
        r#"["foregroundDeletion"]"#
    );

    // A terminating namespace takes no new content.
    assert_eq!(
        api.ok(&["create", "namespace", "doomed"]).trim(),
        "namespace/doomed created"
    );
    api.ok(&["delete", "namespace", "doomed", "--wait=false"]);
    assert_eq!(
        api.ok(&["get", "ns", "doomed", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    let refused = api.kubectl_with(&["create", "-n", "doomed", "-f", "-"], Some(POD), &[]);
    let refused = String::from_utf8_lossy(&refused.stderr);
    assert!(
        refused.contains(
            "unable to create new content in namespace doomed because it is being terminated"
        ),
        "{refused}"
    );
    let system = api.fails(&["delete", "namespace", "default"]);
    assert!(
        system.contains("this namespace may not be deleted"),
        "{system}"
    );

    assert_eq!(api.ok(&["auth", "can-i", "delete", "pods"]).trim(), "yes");
}

/// Bad input gets kube's Status and changes nothing.
fn bad_input(api: &ApiServer) {
    let code = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = text.rsplit("HTTP ").next().unwrap_or("").trim().to_string();
        (code, text)
    };
    // `data` is curl's --data-binary argument: the body, or @file.
    let post = |ctype: &str, data: &str| {
        api.curl(&[
            "/api/v1/namespaces/default/configmaps",
            "-X",
            "POST",
            "-H",
            &format!("Content-Type: {ctype}"),
            "--data-binary",
            data,
            "-w",
            "HTTP %{http_code}",
        ])
    };
    let (c, text) = code(&post("application/json", "{not json"));
    assert_eq!(c, "400", "{text}");
    assert!(text.contains("\"reason\":\"BadRequest\""), "{text}");
    let (c, text) = code(&post("text/plain", r#"{"metadata":{"name":"x"}}"#));
    assert_eq!(c, "415", "{text}");
    let big = format!(
        r#"{{"metadata":{{"name":"big"}},"data":{{"a":"{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let file = api.dir.join("big.json");
    std::fs::write(&file, big).expect("big body");
    let out = post("application/json", &format!("@{}", file.display()));
    let (c, text) = code(&out);
    assert_eq!(c, "413", "{text}");
    // Anonymous: health is public, the API is not.
    let health = api.curl_as(None, &["/healthz"]);
    assert_eq!(String::from_utf8_lossy(&health.stdout), "ok");
    let anon = api.curl_as(
        None,
        &["/api/v1/namespaces/default/pods", "-w", "HTTP %{http_code}"],
    );
    let (c, text) = code(&anon);
    assert_eq!(c, "403", "{text}");
    assert!(
        text.contains(r#"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#),
        "{text}"
    );
    let bad_token = api.curl_as(
        None,
        &[
            "/api/v1/pods",
            "-H",
            "Authorization: Bearer nope",
            "-w",
            "HTTP %{http_code}",
        ],
    );
    let (c, text) = code(&bad_token);
    assert_eq!(c, "401", "{text}");
    // Nothing of the above was stored.
    assert_eq!(api.ok(&["get", "configmaps", "-o", "name"]).trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_the_api_server_on_keel() {
    let cp = ControlPlane::on_keel(3).await;
    kubectl_tour(&cp.api);
    bad_input(&cp.api);
    // Objects are stored as kube-apiserver stores them: JSON under /registry, readable with etcdctl.
    cp.api
        .ok(&["create", "configmap", "settings", "--from-literal=a=b"]);
    let endpoints = cp.store.endpoints().join(",");
    let out = Command::new("etcdctl")
        .args([
            "--endpoints",
            &endpoints,
            "get",
            "/registry/configmaps/default/settings",
            "--print-value-only",
        ])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl");
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stored value is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(stored["kind"], "ConfigMap");
    assert_eq!(stored["data"]["a"], "b");
    assert!(
        stored["metadata"].get("resourceVersion").is_none(),
        "{stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_the_same_api_server_on_etcd() {
    let cp = ControlPlane::on_etcd().await;
    kubectl_tour(&cp.api);
    bad_input(&cp.api);
}

/// kube-rs (`kube` + `kube-runtime`), as the scheduler, controllers and node agents will use it:
/// create, list, the watcher (both its list-then-watch and its streaming list), patch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_creates_lists_and_watches() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
    use kube::runtime::watcher;

    let cp = ControlPlane::on_keel(1).await;
    let kubeconfig = kube::config::Kubeconfig::read_from(&cp.api.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);

    let configs = [
        ("list", watcher::Config::default()),
        ("stream", watcher::Config::default().streaming_lists()),
    ];
    for (mode, config) in configs {
        let mut events = watcher(pods.clone(), config).boxed();
        // The initial state arrives as Init, InitApply(web), InitDone.
        let mut initial = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(20), events.try_next())
                .await
                .expect("watcher event in time")
                .expect("watcher error")
                .expect("watcher ended");
            match event {
                watcher::Event::Init => {}
                watcher::Event::InitApply(p) => initial.push(p.metadata.name.unwrap_or_default()),
                watcher::Event::InitDone => break,
                other => panic!("unexpected {other:?} before InitDone"),
            }
        }
        assert_eq!(initial, ["web"]);
        let label = mode.to_string();
        let patch = serde_json::json!({"metadata": {"labels": {"seen": label}}});
        pods.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
        let event = tokio::time::timeout(Duration::from_secs(20), events.try_next())
            .await
            .expect("change in time")
            .expect("watcher error")
            .expect("watcher ended");
        match event {
            watcher::Event::Apply(p) => {
                assert_eq!(
                    p.metadata.labels.unwrap_or_default().get("seen"),
                    Some(&label)
                );
            }
            other => panic!("expected Apply, got {other:?}"),
        }
    }
}
