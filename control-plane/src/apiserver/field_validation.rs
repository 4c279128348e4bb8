//! `fieldValidation` (Strict, Warn, Ignore), as kube-apiserver applies it to create, update
//! and patch bodies: fields the kind does not have are refused (`strict decoding error:
//! unknown field "spec.containers[0].imagee"`), reported as warnings, or dropped silently.
//! Values of the wrong type are always refused, as kube's decoder refuses them.
//!
//! The schema is k8s-openapi's types: the object is decoded into the kind's struct and encoded
//! again, and every field of the input that did not survive the round trip is unknown. The
//! stored object is the input itself (with the unknown fields dropped), so nothing a client
//! sent in a known field is rewritten by the round trip.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::status::ApiError;

/// What to do with unknown fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Strict,
    Warn,
    Ignore,
}

impl Directive {
    /// The `fieldValidation` query parameter; kube's default without one is Warn.
    pub fn parse(value: Option<&str>) -> Result<Directive, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Directive::Warn),
            Some("Strict") => Ok(Directive::Strict),
            Some("Ignore") => Ok(Directive::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))),
        }
    }
}

/// Decodes `obj` as `T` and back; the round trip, or the decoding error.
fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// The round trip of an object of `group`/`kind` through its k8s-openapi type; None for a
/// kind without one here (nothing is checked then).
fn typed_round_trip(group: &str, kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    use k8s_openapi::api::{apps, batch, coordination, core, discovery, rbac, scheduling};
    Some(match (group, kind) {
        ("", "ConfigMap") => round_trip::<core::v1::ConfigMap>(obj),
        ("", "Endpoints") => round_trip::<core::v1::Endpoints>(obj),
        ("", "Event") => round_trip::<core::v1::Event>(obj),
        ("", "LimitRange") => round_trip::<core::v1::LimitRange>(obj),
        ("", "Namespace") => round_trip::<core::v1::Namespace>(obj),
        ("", "Node") => round_trip::<core::v1::Node>(obj),
        ("", "Pod") => round_trip::<core::v1::Pod>(obj),
        ("", "ResourceQuota") => round_trip::<core::v1::ResourceQuota>(obj),
        ("", "Secret") => round_trip::<core::v1::Secret>(obj),
        ("", "ServiceAccount") => round_trip::<core::v1::ServiceAccount>(obj),
        ("", "Service") => round_trip::<core::v1::Service>(obj),
        ("apps", "ControllerRevision") => round_trip::<apps::v1::ControllerRevision>(obj),
        ("apps", "DaemonSet") => round_trip::<apps::v1::DaemonSet>(obj),
        ("apps", "Deployment") => round_trip::<apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => round_trip::<apps::v1::ReplicaSet>(obj),
        ("apps", "StatefulSet") => round_trip::<apps::v1::StatefulSet>(obj),
        ("batch", "CronJob") => round_trip::<batch::v1::CronJob>(obj),
        ("batch", "Job") => round_trip::<batch::v1::Job>(obj),
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::v1::Lease>(obj),
        ("discovery.k8s.io", "EndpointSlice") => round_trip::<discovery::v1::EndpointSlice>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::v1::ClusterRoleBinding>(obj)
        }
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::v1::RoleBinding>(obj),
        ("scheduling.k8s.io", "PriorityClass") => round_trip::<scheduling::v1::PriorityClass>(obj),
        _ => return None,
    })
}

/// The paths of fields in `input` that `known` (its round trip) lacks, as kube names them.
fn unknown(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, value) in i {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(kv) => unknown(value, kv, &p, out),
                    None if value.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (n, (iv, kv)) in i.iter().zip(k).enumerate() {
                unknown(iv, kv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Removes from `obj` every field its round trip `known` lacks (what Warn and Ignore store).
fn drop_fields(obj: &mut Value, known: &Value) {
    match (obj, known) {
        (Value::Object(o), Value::Object(k)) => {
            o.retain(|key, v| v.is_null() || k.contains_key(key));
            for (key, v) in o.iter_mut() {
                if let Some(kv) = k.get(key) {
                    drop_fields(v, kv);
                }
            }
        }
        (Value::Array(a), Value::Array(k)) => {
            for (v, kv) in a.iter_mut().zip(k) {
                drop_fields(v, kv);
            }
        }
        _ => {}
    }
}

/// Checks `obj` under `directive`: Err for Strict with unknown fields and for values of the
/// wrong type; otherwise the warnings to send (Warn) and `obj` without the unknown fields.
pub fn check(
    directive: Directive,
    group: &str,
    kind: &str,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let Some(result) = typed_round_trip(group, kind, obj) else {
        return Ok(Vec::new());
    };
    let version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1")
        .to_string();
    let version = version.rsplit('/').next().unwrap_or("v1").to_string();
    let known = result.map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"
        ))
    })?;
    let mut found = Vec::new();
    unknown(obj, &known, "", &mut found);
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = found
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match directive {
        Directive::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", ")
        ))),
        Directive::Warn => {
            drop_fields(obj, &known);
            Ok(messages)
        }
        Directive::Ignore => {
            drop_fields(obj, &known);
            Ok(Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
               "spec": {"containers": [{"name": "c", "image": "i", "imagee": "x"}], "securityContext": {}},
               "bogus": 1})
    }

    #[test]
    fn strict_refuses_unknown_fields_with_their_paths() {
        let mut p = pod();
        let err = check(Directive::Strict, "", "Pod", &mut p)
            .err()
            .map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some(
                "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"bogus\", unknown field \"spec.containers[0].imagee\""
            )
        );
    }

    #[test]
    fn warn_and_ignore_drop_them_and_keep_the_rest() {
        let mut p = pod();
        let warnings = check(Directive::Warn, "", "Pod", &mut p).unwrap_or_default();
        assert_eq!(warnings.len(), 2);
        assert!(p.get("bogus").is_none());
        assert_eq!(
            p["spec"]["containers"][0],
            json!({"name": "c", "image": "i"})
        );
        assert_eq!(p["spec"]["securityContext"], json!({}));
        assert_eq!(p["metadata"]["labels"], json!({"a": "b"}));
        let mut clean = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        assert_eq!(
            check(Directive::Strict, "", "ConfigMap", &mut clean).ok(),
            Some(vec![])
        );
    }

    #[test]
    fn wrong_types_are_always_refused() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "two"}});
        let err = check(Directive::Ignore, "apps", "Deployment", &mut d).err();
        assert_eq!(err.map(|e| e.code), Some(400));
    }
}
