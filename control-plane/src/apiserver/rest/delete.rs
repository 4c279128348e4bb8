//! DELETE, as kube's generic registry does it: DeleteOptions from the body or the query
//! (`gracePeriodSeconds`, `propagationPolicy`, `preconditions`), preconditions checked,
//! then one of three outcomes:
//! - an object with finalizers (or deleted with `Orphan`/`Foreground` propagation, which add
//!   kube's `orphan`/`foregroundDeletion` finalizers) only gets a `deletionTimestamp`; the
//!   update that removes its last finalizer deletes it;
//! - a pod bound to a node is deleted gracefully: `deletionTimestamp` = now + grace period,
//!   and the object goes when its node agent confirms (a delete with grace period 0);
//! - anything else is deleted at once with `Txn(mod_revision == rv)`.
//!
//! A namespace is marked Terminating; its contents go through the namespace controller.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::admission::IMMORTAL_NAMESPACES;
use super::list::{Filter, read_list};
use super::{Ctx, get};
use crate::apiserver::body;
use crate::apiserver::objects;
use crate::apiserver::respond::{self, Body};
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::{StorageError, Stored};

const MAX_ATTEMPTS: usize = 5;

/// The DeleteOptions of a request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub grace_period: Option<i64>,
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl Options {
    /// From the JSON body (if any), then the query (which kube reads when the body is empty).
    pub fn read(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Options, ApiError> {
        let mut o = Options::default();
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let v = body::json_object(bytes)?;
            o.grace_period = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.propagation = v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string);
            if v.get("orphanDependents").and_then(Value::as_bool) == Some(true)
                && o.propagation.is_none()
            {
                o.propagation = Some("Orphan".into());
            }
            o.uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            o.resource_version = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(g) = cx.query.get("gracePeriodSeconds") {
            o.grace_period =
                Some(g.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}"))
                })?);
        }
        if let Some(p) = cx.query.get("propagationPolicy") {
            o.propagation = Some(p.to_string());
        }
        match o.propagation.as_deref() {
            None | Some("Background" | "Foreground" | "Orphan") => Ok(o),
            Some(other) => Err(ApiError::invalid(
                "DeleteOptions",
                "",
                "",
                vec![crate::apiserver::status::field::not_supported(
                    "propagationPolicy",
                    &json!(other),
                    &["Foreground", "Background", "Orphan", "nil"],
                )],
            )),
        }
    }
}

/// What a delete does to the current object.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Remove it from the store now.
    Remove,
    /// Write it back marked for deletion (with the new finalizers / timestamps).
    Mark(Value),
    /// Already marked as it would be: answer with it as it is.
    Unchanged,
}

/// Decides what deleting `obj` with `opts` does at `now` (pure: tested without a store).
pub fn plan(obj: &Value, opts: &Options, now: jiff::Timestamp) -> Plan {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let already = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let mut new = obj.clone();
    let mut changed = false;
    let finalizer = match opts.propagation.as_deref() {
        Some("Orphan") => Some("orphan"),
        Some("Foreground") => Some("foregroundDeletion"),
        _ => None,
    };
    if let Some(f) = finalizer {
        let list = new["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !list.iter().any(|x| x.as_str() == Some(f)) && !already {
            let mut list = list;
            list.push(json!(f));
            new["metadata"]["finalizers"] = json!(list);
            changed = true;
        }
    }
    let has_finalizers = new
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    if kind == "Namespace" {
        if already {
            return Plan::Unchanged;
        }
        new["metadata"]["deletionTimestamp"] = json!(objects::timestamp(now));
        new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        new["status"]["phase"] = json!("Terminating");
        return Plan::Mark(new);
    }
    if kind == "Pod" {
        let bound = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let terminated = matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        let default_grace = obj
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        let grace = opts.grace_period.unwrap_or(default_grace).max(0);
        let grace = if bound && !terminated { grace } else { 0 };
        if grace > 0 {
            let current = obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if already && current.is_some_and(|c| c <= grace) && !changed {
                return Plan::Unchanged;
            }
            let at = now
                .checked_add(jiff::SignedDuration::from_secs(grace))
                .unwrap_or(now);
            new["metadata"]["deletionTimestamp"] = json!(objects::timestamp(at));
            new["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            return Plan::Mark(new);
        }
    }
    if has_finalizers {
        if already && !changed {
            return Plan::Unchanged;
        }
        if !already {
            new["metadata"]["deletionTimestamp"] = json!(objects::timestamp(now));
            new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        }
        return Plan::Mark(new);
    }
    Plan::Remove
}

pub async fn delete(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let opts = Options::read(cx, bytes)?;
    if cx.resource.kind == "Namespace" && IMMORTAL_NAMESPACES.contains(&cx.name()) {
        return Err(ApiError::forbidden(
            &cx.subject(),
            "this namespace may not be deleted".into(),
        ));
    }
    let current = get::read(cx).await?;
    let (code, obj) = delete_one(cx, current, &opts).await?;
    Ok(respond::json(code, &obj))
}

/// Deletes (or marks) one object, retrying lost races on the new object.
async fn delete_one(
    cx: &Ctx<'_>,
    mut current: Stored,
    opts: &Options,
) -> Result<(StatusCode, Value), ApiError> {
    let name = objects::meta_str(&current.object, "name")
        .unwrap_or("")
        .to_string();
    let key = cx.key(&name);
    for _ in 0..MAX_ATTEMPTS {
        check_preconditions(cx, &current.object, opts)?;
        let dry_run = cx.dry_run()?;
        let storage = cx.server.storage();
        let written = match plan(&current.object, opts, super::now()) {
            Plan::Unchanged => return Ok((StatusCode::OK, current.object)),
            Plan::Mark(new) if dry_run => return Ok((StatusCode::OK, new)),
            Plan::Remove if dry_run => return Ok((StatusCode::OK, answer(cx, current.object))),
            Plan::Mark(new) => storage.update(&key, &new, current.mod_revision, 0).await,
            Plan::Remove => storage
                .delete(&key, current.mod_revision)
                .await
                .map(|deleted| Stored {
                    object: answer(cx, deleted.object),
                    ..deleted
                }),
        };
        match written {
            Ok(stored) => return Ok((StatusCode::OK, stored.object)),
            // Lost a race: decide again on the object as it is now.
            Err(StorageError::Conflict(Some(now))) => current = *now,
            Err(StorageError::Conflict(None) | StorageError::NotFound) => {
                return Err(ApiError::not_found(&cx.subject_named(&name)));
            }
            Err(e) => return Err(cx.storage_error(e, &name)),
        }
    }
    Err(ApiError::conflict_modified(&cx.subject_named(&name)))
}

/// kube answers a finished delete with the object for pods and namespaces (their stores set
/// `ReturnDeletedObject`) and with a Success Status for everything else.
fn answer(cx: &Ctx<'_>, deleted: Value) -> Value {
    if matches!(cx.resource.kind, "Pod" | "Namespace" | "Service") {
        return deleted;
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": objects::meta_str(&deleted, "name").unwrap_or(""),
            "group": cx.resource.group,
            "kind": cx.resource.plural,
            "uid": objects::meta_str(&deleted, "uid").unwrap_or(""),
        },
    })
}

fn check_preconditions(cx: &Ctx<'_>, obj: &Value, opts: &Options) -> Result<(), ApiError> {
    let name = objects::meta_str(obj, "name").unwrap_or("");
    if let Some(uid) = &opts.uid {
        let actual = objects::meta_str(obj, "uid").unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict(
                &cx.subject_named(name),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.resource_version {
        let actual = objects::meta_str(obj, "resourceVersion").unwrap_or("");
        if rv != actual {
            return Err(ApiError::conflict(
                &cx.subject_named(name),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

/// DELETE on a collection: every object matching the selectors, one by one; answers the list of them.
pub async fn delete_collection(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let opts = Options::read(cx, bytes)?;
    let filter = Filter::from_query(cx)?;
    let listed = read_list(cx, &filter).await?;
    let mut items = Vec::new();
    for stored in listed.items {
        match delete_one(cx, stored, &opts).await {
            Ok((_, obj)) => items.push(obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(respond::json(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", cx.resource.kind),
            "apiVersion": cx.resource.api_version(),
            "metadata": {"resourceVersion": listed.revision.to_string()},
            "items": items,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000).unwrap_or_default()
    }

    #[test]
    fn bound_pods_go_gracefully_unbound_ones_at_once() {
        let bound = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        match plan(&bound, &Options::default(), now()) {
            Plan::Mark(p) => {
                assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30);
                assert_eq!(p["metadata"]["deletionTimestamp"], "2023-11-14T22:13:50Z");
            }
            other => panic!("{other:?}"),
        }
        let zero = Options {
            grace_period: Some(0),
            ..Default::default()
        };
        assert_eq!(plan(&bound, &zero, now()), Plan::Remove);
        let unbound = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {}});
        assert_eq!(plan(&unbound, &Options::default(), now()), Plan::Remove);
    }

    #[test]
    fn finalizers_and_propagation_mark_instead_of_remove() {
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(plan(&cm, &Options::default(), now()), Plan::Remove);
        let orphan = Options {
            propagation: Some("Orphan".into()),
            ..Default::default()
        };
        match plan(&cm, &orphan, now()) {
            Plan::Mark(m) => assert_eq!(m["metadata"]["finalizers"], json!(["orphan"])),
            other => panic!("{other:?}"),
        }
        let ns = json!({"kind": "Namespace", "metadata": {"name": "x"}, "spec": {"finalizers": ["kubernetes"]}});
        match plan(&ns, &Options::default(), now()) {
            Plan::Mark(m) => assert_eq!(m["status"]["phase"], "Terminating"),
            other => panic!("{other:?}"),
        }
    }
}
