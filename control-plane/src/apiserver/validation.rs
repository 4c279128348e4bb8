//! Validation by kind, with kube's field paths and messages (`pkg/apis/*/validation`), for
//! the rules users meet first: pods need containers with names and images, workloads need a
//! selector that matches their template's labels, services need valid ports, and on update
//! the fields kube makes immutable stay as they were. Every problem found is reported at
//! once as one 422 Invalid, as kube does.

use serde_json::{Value, json};

use super::objects::dns1123_label;
use super::resources::Resource;
use super::selectors;
use super::status::{ApiError, Cause, field};

/// Validates `obj` (and, on update, against `old`).
pub fn validate(r: &Resource, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    match (r.group, r.kind) {
        ("", "Pod") => {
            pod_spec(obj.get("spec"), "spec", &mut causes);
            if let Some(old) = old {
                pod_update(old, obj, &mut causes);
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            workload(obj, &mut causes);
            if let Some(old) = old {
                immutable(old, obj, "/spec/selector", "spec.selector", &mut causes);
            }
        }
        ("batch", "Job") => {
            pod_spec(
                obj.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut causes,
            );
        }
        ("", "Service") => service(obj, &mut causes),
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(ApiError::invalid(r.kind, r.group, name, causes))
}

fn pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(field::required(&format!("{path}.containers"), ""));
        return;
    };
    let mut names = Vec::new();
    let init = spec
        .and_then(|s| s.get("initContainers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (list, items) in [
        ("initContainers", init.as_slice()),
        ("containers", containers.as_slice()),
    ] {
        for (i, c) in items.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(field::required(&format!("{at}.name"), "")),
                Some(n) => {
                    if let Some(detail) = dns1123_label(n) {
                        causes.push(field::invalid(&format!("{at}.name"), &json!(n), &detail));
                    } else if names.contains(&n.to_string()) {
                        causes.push(field::duplicate(&format!("{at}.name"), &json!(n)));
                    }
                    names.push(n.to_string());
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(field::required(&format!("{at}.image"), ""));
            }
        }
    }
    if let Some(policy) = spec.and_then(|s| s.get("restartPolicy"))
        && !matches!(policy.as_str(), Some("Always" | "OnFailure" | "Never"))
    {
        causes.push(field::not_supported(
            &format!("{path}.restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        ));
    }
}

/// kube lets a pod update change only images, activeDeadlineSeconds, tolerations (additions)
/// and terminationGracePeriodSeconds; everything else in the spec is fixed.
fn pod_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let strip = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(s) = spec.as_object_mut() {
            s.remove("activeDeadlineSeconds");
            s.remove("tolerations");
            s.remove("terminationGracePeriodSeconds");
            for list in ["containers", "initContainers"] {
                if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                    for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                        c.remove("image");
                    }
                }
            }
        }
        spec
    };
    let old_node = old.pointer("/spec/nodeName");
    let mut old_spec = strip(old);
    let new_spec = strip(new);
    // Binding sets nodeName once; an update may carry it over unchanged.
    if old_node.is_none()
        && let (Some(o), Some(n)) = (old_spec.as_object_mut(), new_spec.get("nodeName"))
    {
        o.insert("nodeName".into(), n.clone());
    }
    if old_spec != new_spec {
        causes.push(field::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

fn workload(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(selector) = obj.pointer("/spec/selector") else {
        causes.push(field::required("spec.selector", ""));
        pod_spec(
            obj.pointer("/spec/template/spec"),
            "spec.template.spec",
            causes,
        );
        return;
    };
    match selectors::from_label_selector_json(selector) {
        Err(e) => causes.push(field::invalid("spec.selector", selector, &e)),
        Ok(sel) => {
            if sel.is_empty() {
                causes.push(field::invalid(
                    "spec.selector",
                    selector,
                    "empty selector is invalid for deployment",
                ));
            }
            let labels = obj
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let template = json!({"metadata": {"labels": labels}});
            if !sel.matches_object(&template) {
                causes.push(field::invalid(
                    "spec.template.metadata.labels",
                    &labels,
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    if let Some(replicas) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        causes.push(field::invalid(
            "spec.replicas",
            &json!(replicas),
            "must be greater than or equal to 0",
        ));
    }
    pod_spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        causes,
    );
}

fn service(obj: &Value, causes: &mut Vec<Cause>) {
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ty != "ExternalName"
        && obj.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None")
        && ports.is_none_or(|p| p.is_empty())
    {
        causes.push(field::required("spec.ports", ""));
    }
    for (i, p) in ports
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            causes.push(field::invalid(
                &format!("spec.ports[{i}].port"),
                &json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
        let multiple = ports.is_some_and(|p| p.len() > 1);
        if multiple
            && p.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            causes.push(field::required(&format!("spec.ports[{i}].name"), ""));
        }
    }
}

fn immutable(old: &Value, new: &Value, pointer: &str, path: &str, causes: &mut Vec<Cause>) {
    let before = old.pointer(pointer);
    let after = new.pointer(pointer);
    if before != after {
        causes.push(field::invalid(
            path,
            after.unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    #[test]
    fn pods_need_named_containers_with_images() {
        let Some(pods) = resources::find("", "v1", "pods") else {
            return;
        };
        let bad = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "Web"}]}});
        let err = validate(pods, &bad, None).err().map(|e| e.message);
        assert_eq!(
            err.as_deref().map(|m| m.starts_with(
                "Pod \"p\" is invalid: [spec.containers[0].name: Invalid value: \"Web\""
            )),
            Some(true),
            "{err:?}"
        );
        let none = json!({"metadata": {"name": "p"}, "spec": {}});
        assert_eq!(
            validate(pods, &none, None).err().map(|e| e.message),
            Some("Pod \"p\" is invalid: spec.containers: Required value".into())
        );
    }

    #[test]
    fn selectors_must_match_template_labels() {
        let Some(d) = resources::find("apps", "v1", "deployments") else {
            return;
        };
        let obj = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let err = validate(d, &obj, None)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            err.contains("`selector` does not match template `labels`"),
            "{err}"
        );
    }
}
