//! Defaulting as kube-apiserver applies it before validation and storage (the
//! `SetDefaults_*` functions of `pkg/apis/*/v1/defaults.go`), on the JSON object, keyed by kind.
//! Only fields that are absent are filled; what a client set is never changed. The values
//! are upstream's, so objects read back look as they do from a real cluster.

use serde_json::{Map, Value, json};

/// Applies the defaults of `kind` (in `group`) to `obj`.
pub fn apply(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
            }
        }
        ("", "Namespace") => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(name) = name {
                let meta = ensure(obj, "metadata");
                let labels = meta.and_then(|m| {
                    let l = m.entry("labels").or_insert_with(|| json!({}));
                    l.as_object_mut()
                });
                if let Some(labels) = labels {
                    labels
                        .entry("kubernetes.io/metadata.name")
                        .or_insert(json!(name));
                }
            }
        }
        ("", "Secret") => {
            if let Some(o) = obj.as_object_mut() {
                o.entry("type").or_insert(json!("Opaque"));
            }
        }
        ("", "Service") => service(obj),
        ("apps", "Deployment") => deployment(obj),
        ("apps", "ReplicaSet") => {
            replicas_and_template(obj);
        }
        ("apps", "StatefulSet") => {
            replicas_and_template(obj);
            let Some(spec) = ensure(obj, "spec") else {
                return;
            };
            spec.entry("podManagementPolicy")
                .or_insert(json!("OrderedReady"));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("updateStrategy")
                .or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
            spec.entry("persistentVolumeClaimRetentionPolicy")
                .or_insert(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        }
        ("apps", "DaemonSet") => {
            template(obj);
            let Some(spec) = ensure(obj, "spec") else {
                return;
            };
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("updateStrategy").or_insert(
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        ("batch", "Job") => {
            let Some(spec) = ensure(obj, "spec") else {
                return;
            };
            spec.entry("parallelism").or_insert(json!(1));
            spec.entry("completions").or_insert(json!(1));
            spec.entry("backoffLimit").or_insert(json!(6));
            spec.entry("completionMode").or_insert(json!("NonIndexed"));
            spec.entry("suspend").or_insert(json!(false));
            spec.entry("podReplacementPolicy")
                .or_insert(json!("TerminatingOrFailed"));
            spec.entry("manualSelector").or_insert(json!(false));
            if let Some(t) = obj.pointer_mut("/spec/template/spec") {
                pod_spec(t);
            }
        }
        ("batch", "CronJob") => {
            let Some(spec) = ensure(obj, "spec") else {
                return;
            };
            spec.entry("concurrencyPolicy").or_insert(json!("Allow"));
            spec.entry("suspend").or_insert(json!(false));
            spec.entry("successfulJobsHistoryLimit").or_insert(json!(3));
            spec.entry("failedJobsHistoryLimit").or_insert(json!(1));
            if let Some(t) = obj.pointer_mut("/spec/jobTemplate/spec/template/spec") {
                pod_spec(t);
            }
        }
        _ => {}
    }
}

/// `obj[key]` as an object, created (or replaced, if it was not an object) when needed;
/// None only when `obj` itself is not an object.
fn ensure<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

fn replicas_and_template(obj: &mut Value) {
    if let Some(spec) = ensure(obj, "spec") {
        spec.entry("replicas").or_insert(json!(1));
    }
    template(obj);
}

fn template(obj: &mut Value) {
    if let Some(t) = obj.pointer_mut("/spec/template/spec") {
        pod_spec(t);
    }
}

fn deployment(obj: &mut Value) {
    replicas_and_template(obj);
    let Some(spec) = ensure(obj, "spec") else {
        return;
    };
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
    let strategy = spec
        .entry("strategy")
        .or_insert_with(|| json!({"type": "RollingUpdate"}));
    if let Some(s) = strategy.as_object_mut() {
        let rolling = s
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("RollingUpdate")
            == "RollingUpdate";
        s.entry("type").or_insert(json!("RollingUpdate"));
        if rolling {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                ru.entry("maxUnavailable").or_insert(json!("25%"));
                ru.entry("maxSurge").or_insert(json!("25%"));
            }
        }
    }
}

fn service(obj: &mut Value) {
    let Some(spec) = ensure(obj, "spec") else {
        return;
    };
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if ty != "ExternalName" {
        spec.entry("internalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        spec.entry("externalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert(json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                p.entry("targetPort").or_insert(port);
            }
        }
    }
}

/// `SetDefaults_PodSpec` and its containers'.
pub fn pod_spec(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    s.entry("restartPolicy").or_insert(json!("Always"));
    s.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    s.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    s.entry("securityContext").or_insert(json!({}));
    s.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    s.entry("enableServiceLinks").or_insert(json!(true));
    if s.contains_key("serviceAccountName") {
        let sa = s.get("serviceAccountName").cloned();
        if let Some(sa) = sa {
            s.entry("serviceAccount").or_insert(sa);
        }
    }
    for list in ["initContainers", "containers"] {
        if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut() {
                container(c);
            }
        }
    }
}

/// `SetDefaults_Container`: pull policy by tag, termination message, resources.
fn container(c: &mut Value) {
    let Some(c) = c.as_object_mut() else {
        return;
    };
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    c.entry("imagePullPolicy")
        .or_insert(json!(pull_policy(&image)));
    c.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    c.entry("terminationMessagePolicy").or_insert(json!("File"));
    c.entry("resources").or_insert(json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert(json!("TCP"));
        }
    }
}

/// `Always` for `:latest` or an untagged image, else `IfNotPresent` (a digest counts as a tag).
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_kubes_defaults() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "registry:5000/x:1.2"}]}});
        apply("", "Pod", &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            pod["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
    }

    #[test]
    fn what_the_client_set_is_kept() {
        let mut d = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}, "template": {"spec": {"containers": []}}}});
        apply("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        let mut d = json!({"spec": {}});
        apply("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("busybox:latest"), "Always");
        assert_eq!(pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }
}
