//! The rules every object's metadata follows, whatever its kind, as kube-apiserver's
//! generic registry applies them (`BeforeCreate`, `BeforeUpdate`, `rest.FillObjectMetaSystemFields`):
//! names and generateName, uid and creationTimestamp set by the server, the namespace
//! taken from the path, generation bumped only when the spec changes, and what an update
//! may not change. The clock and the randomness are passed in.

use serde_json::{Map, Value, json};

use super::resources::Resource;
use super::status::{ApiError, Cause, field};

/// kube's characters for generated name suffixes (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The time as kube writes it in metadata (RFC 3339, seconds, UTC).
pub fn timestamp(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random version-4 UUID, formatted as kube's uids are.
pub fn new_uid(random: [u8; 16]) -> String {
    let mut b = random;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A name from `generateName` plus five random characters (kube's `SimpleNameGenerator`).
pub fn generated_name(base: &str, random: [u8; 16]) -> String {
    // kube trims the base so that the result fits in 63 characters.
    let base: String = base.chars().take(63 - 5).collect();
    let suffix: String = random[..5]
        .iter()
        .map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char)
        .collect();
    format!("{base}{suffix}")
}

/// The object's `metadata` as a map, created if missing; an error if it is not an object.
pub fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let o = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?;
    let meta = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

/// A string field of the object's metadata.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// What a create needs from the server: the clock, randomness and the request's path.
pub struct CreateContext<'a> {
    pub now: jiff::Timestamp,
    pub random: [u8; 16],
    /// The namespace of the path, for namespaced resources.
    pub namespace: Option<&'a str>,
}

/// Fills in the metadata of a new object and checks the parts every kind shares.
pub fn prepare_create(
    r: &Resource,
    obj: &mut Value,
    cx: &CreateContext<'_>,
) -> Result<(), ApiError> {
    let kind = r.kind;
    set_type(r, obj)?;
    let meta = meta_mut(obj)?;
    // Clients may not set these; kube clears them.
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(f);
    }
    let has_name = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !has_name
        && let Some(base) = meta.get("generateName").and_then(Value::as_str)
        && !base.is_empty()
    {
        let name = generated_name(base, cx.random);
        meta.insert("name".into(), json!(name));
    }
    match (r.namespaced, cx.namespace) {
        (true, Some(path_ns)) => match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(path_ns));
            }
        },
        (false, _) => {
            meta.remove("namespace");
        }
        (true, None) => {}
    }
    let mut uid_bytes = cx.random;
    uid_bytes.reverse();
    meta.insert("uid".into(), json!(new_uid(uid_bytes)));
    meta.insert("creationTimestamp".into(), json!(timestamp(cx.now)));
    if uses_generation(r) {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(field::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        causes.extend(validate_name(r, &name, "metadata.name"));
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str) {
        causes.extend(
            dns1123_label(ns)
                .map(|detail| field::invalid("metadata.namespace", &json!(ns), &detail)),
        );
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(kind, r.group, &name, causes));
    }
    Ok(())
}

/// Whether objects of this resource carry `metadata.generation` (those with a spec that
/// controllers act on; kube sets it for all of those and CRDs).
fn uses_generation(r: &Resource) -> bool {
    matches!(
        r.kind,
        "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
            | "PriorityClass"
            | "Service"
            | "Pod"
            | "EndpointSlice"
    )
}

/// Sets apiVersion and kind (a body may omit them; one naming another type is refused).
pub fn set_type(r: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    let o = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?;
    let api_version = r.api_version();
    if let Some(kind) = o.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != r.kind
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            o.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            api_version
        )));
    }
    if let Some(v) = o.get("apiVersion").and_then(Value::as_str)
        && !v.is_empty()
        && v != api_version
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({api_version})"
        )));
    }
    o.insert("apiVersion".into(), json!(api_version));
    o.insert("kind".into(), json!(r.kind));
    Ok(())
}

/// Carries over what an update may not change (uid, creationTimestamp, deletion fields,
/// generation) and bumps the generation when the spec changed. `status` is kept from the
/// old object unless `status_update`, in which case only the status is taken from the new.
pub fn prepare_update(
    r: &Resource,
    old: &Value,
    new: &mut Value,
    status_update: bool,
) -> Result<(), ApiError> {
    set_type(r, new)?;
    if status_update {
        let status = new.get("status").cloned();
        let rv = meta_str(new, "resourceVersion").map(str::to_string);
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        let meta = meta_mut(new)?;
        match rv {
            Some(rv) => meta.insert("resourceVersion".into(), json!(rv)),
            None => meta.remove("resourceVersion"),
        };
        return Ok(());
    }
    if r.has_status() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = meta_mut(new)?;
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "generation",
    ] {
        match old_meta.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    let spec_changed = spec_of(old) != spec_of(new);
    if spec_changed && uses_generation(r) {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(new)?.insert("generation".into(), json!(g + 1));
    }
    let old_name = meta_str(old, "name").unwrap_or("");
    let new_name = meta_str(new, "name").unwrap_or("");
    if old_name != new_name {
        return Err(ApiError::invalid(
            r.kind,
            r.group,
            old_name,
            vec![field::invalid(
                "metadata.name",
                &json!(new_name),
                "field is immutable",
            )],
        ));
    }
    Ok(())
}

/// Everything of an object but its metadata and status: what a generation counts changes of.
fn spec_of(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

/// The name rule of a resource: most use a DNS-1123 subdomain; namespaces and services a label.
pub fn validate_name(r: &Resource, name: &str, path: &str) -> Vec<Cause> {
    let problem = match r.kind {
        "Namespace" | "Service" => dns1123_label(name),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => path_segment_name(name),
        _ => dns1123_subdomain(name),
    };
    problem
        .map(|detail| field::invalid(path, &json!(name), &detail))
        .into_iter()
        .collect()
}

/// kube's `IsDNS1123Label` failure text, if `s` is not one.
pub fn dns1123_label(s: &str) -> Option<String> {
    const MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    (!ok).then(|| MSG.to_string())
}

/// kube's `IsDNS1123Subdomain` failure text, if `s` is not one.
pub fn dns1123_subdomain(s: &str) -> Option<String> {
    const MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    (!ok).then(|| MSG.to_string())
}

/// kube's `ValidatePathSegmentName` (RBAC objects may have ':' in their names).
fn path_segment_name(s: &str) -> Option<String> {
    if s == "." || s == ".." {
        return Some(format!("may not be '{s}'"));
    }
    for bad in ["/", "%"] {
        if s.contains(bad) {
            return Some(format!("may not contain '{bad}'"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    fn cx(ns: Option<&str>) -> CreateContext<'_> {
        CreateContext {
            now: jiff::Timestamp::from_second(1_700_000_000).unwrap_or_default(),
            random: [7; 16],
            namespace: ns,
        }
    }

    #[test]
    fn creates_get_server_fields_and_the_paths_namespace() {
        let pods = resources::find("", "v1", "pods");
        let Some(pods) = pods else { return };
        let mut obj = json!({"metadata": {"generateName": "web-", "resourceVersion": "5"}});
        assert!(prepare_create(pods, &mut obj, &cx(Some("default"))).is_ok());
        assert_eq!(obj["kind"], "Pod");
        assert_eq!(obj["apiVersion"], "v1");
        assert_eq!(obj["metadata"]["namespace"], "default");
        assert_eq!(obj["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
        assert!(obj["metadata"].get("resourceVersion").is_none());
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("");
        assert_eq!(uid.len(), 36);
        let mut other_ns = json!({"metadata": {"name": "a", "namespace": "kube-system"}});
        let err = prepare_create(pods, &mut other_ns, &cx(Some("default"))).err();
        assert_eq!(err.map(|e| e.code), Some(400));
    }

    #[test]
    fn bad_names_are_invalid_with_kubes_message() {
        let Some(pods) = resources::find("", "v1", "pods") else {
            return;
        };
        let mut obj = json!({"metadata": {"name": "Web"}});
        let err = prepare_create(pods, &mut obj, &cx(Some("default"))).err();
        let Some(err) = err else {
            panic!("Web accepted")
        };
        assert_eq!(err.code, 422);
        assert!(err.message.starts_with("Pod \"Web\" is invalid: metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain"), "{}", err.message);
        let mut none = json!({"metadata": {}});
        let err = prepare_create(pods, &mut none, &cx(Some("default"))).err();
        assert_eq!(
            err.map(|e| e.message),
            Some("Pod \"\" is invalid: metadata.name: Required value: name or generateName is required".into())
        );
    }

    #[test]
    fn updates_keep_server_fields_and_count_spec_changes() {
        let Some(deploy) = resources::find("apps", "v1", "deployments") else {
            return;
        };
        let old = json!({"metadata": {"name": "d", "uid": "u1", "generation": 3, "creationTimestamp": "t"},
                         "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut new = json!({"metadata": {"name": "d", "uid": "other"}, "spec": {"replicas": 2}, "status": {}});
        assert!(prepare_update(deploy, &old, &mut new, false).is_ok());
        assert_eq!(new["metadata"]["uid"], "u1");
        assert_eq!(new["metadata"]["generation"], 4);
        assert_eq!(new["status"], json!({"replicas": 1}));
        let mut same =
            json!({"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 1}});
        assert!(prepare_update(deploy, &old, &mut same, false).is_ok());
        assert_eq!(same["metadata"]["generation"], 3);
        let mut status = json!({"metadata": {"name": "d", "resourceVersion": "9"}, "spec": {"replicas": 5}, "status": {"replicas": 2}});
        assert!(prepare_update(deploy, &old, &mut status, true).is_ok());
        assert_eq!(status["spec"], json!({"replicas": 1}));
        assert_eq!(status["status"], json!({"replicas": 2}));
    }

    #[test]
    fn dns_names() {
        assert!(dns1123_label("web-1").is_none());
        assert!(dns1123_label("web.1").is_some());
        assert!(dns1123_subdomain("web.example").is_none());
        assert!(dns1123_subdomain("-web").is_some());
        assert!(dns1123_subdomain(&"a".repeat(254)).is_some());
    }
}
