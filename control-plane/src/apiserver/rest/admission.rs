//! The admission plugins kube-apiserver runs by default that Keel needs, in kube's order:
//! NamespaceLifecycle (no new content in a missing or terminating namespace; the system
//! namespaces cannot be deleted), ServiceAccount (a pod without one runs as `default`),
//! DefaultTolerationSeconds (pods tolerate not-ready/unreachable nodes for 300 s), and
//! the status a new object starts with (a pod is Pending with its QoS class, a namespace
//! Active). Each rule is a function of the object and what the store says.

use serde_json::{Value, json};

use super::Ctx;
use crate::apiserver::status::{ApiError, Subject};

/// Namespaces that cannot be deleted (kube's `immortalNamespaces`).
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Runs the create-time admission of `obj` (already defaulted).
pub async fn admit_create(cx: &Ctx<'_>, obj: &mut Value) -> Result<(), ApiError> {
    if cx.resource.namespaced {
        namespace_lifecycle(cx, obj).await?;
    }
    match (cx.resource.group, cx.resource.kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                let sa = spec
                    .get("serviceAccountName")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("default")
                    .to_string();
                spec.insert("serviceAccountName".into(), json!(sa));
                spec.insert("serviceAccount".into(), json!(sa));
            }
            default_tolerations(obj);
            let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("", "Namespace") => {
            let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
            if spec.get("finalizers").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            obj["status"] = json!({"phase": "Active"});
        }
        (_, kind) if cx.resource.has_status() && kind != "Node" => {
            // Status is the controllers' to write; a create starts without one (kube's PrepareForCreate).
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        _ => {}
    }
    Ok(())
}

/// NamespaceLifecycle for creates: the namespace must exist and not be terminating.
async fn namespace_lifecycle(cx: &Ctx<'_>, obj: &Value) -> Result<(), ApiError> {
    let Some(ns) = cx.namespace() else {
        return Ok(());
    };
    let key = cx.server.storage().key("namespaces", None, ns);
    let found = cx
        .server
        .storage()
        .get(&key)
        .await
        .map_err(|e| cx.storage_error(e, ns))?;
    let Some(found) = found else {
        return Err(ApiError::not_found(&Subject::new("", "namespaces", ns)));
    };
    let terminating = found
        .object
        .pointer("/status/phase")
        .and_then(Value::as_str)
        == Some("Terminating")
        || found
            .object
            .pointer("/metadata/deletionTimestamp")
            .is_some();
    if terminating {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ApiError::forbidden(
            &cx.subject_named(name),
            format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        ));
    }
    Ok(())
}

/// DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300 s unless told otherwise.
fn default_tolerations(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let has = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str);
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            (k == Some(key)
                || (k.is_none() && t.get("operator").and_then(Value::as_str) == Some("Exists")))
                && (effect.is_empty() || effect == "NoExecute")
        });
        if !has {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// A pod's QoS class (`pkg/apis/core/helper/qos`): BestEffort without requests or limits,
/// Guaranteed when every container's cpu and memory limits equal their requests, else Burstable.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|f| spec.get(*f).and_then(Value::as_array))
        .flatten()
        .collect();
    let res = |c: &Value, which: &str, r: &str| -> Option<String> {
        c.pointer(&format!("/resources/{which}/{r}"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    };
    let any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|w| {
            c.pointer(&format!("/resources/{w}"))
                .and_then(Value::as_object)
                .is_some_and(|m| m.keys().any(|k| k == "cpu" || k == "memory"))
        })
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = res(c, "limits", r);
            let request = res(c, "requests", r).or_else(|| limit.clone());
            limit.is_some() && limit == request
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_follows_requests_and_limits() {
        assert_eq!(
            qos_class(&json!({"containers": [{"name": "a"}]})),
            "BestEffort"
        );
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn pods_tolerate_unready_nodes_for_five_minutes() {
        let mut pod = json!({"spec": {}});
        default_tolerations(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
        assert_eq!(pod["spec"]["tolerations"][0]["tolerationSeconds"], 300);
        let mut tolerant = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        default_tolerations(&mut tolerant);
        assert_eq!(
            tolerant["spec"]["tolerations"].as_array().map(Vec::len),
            Some(1)
        );
    }
}
