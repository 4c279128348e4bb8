//! PUT: replacing an object (or only its `/status`, or a namespace's `spec.finalizers` through
//! `/finalize`, or a workload's replicas through `/scale`), guarded by the resourceVersion the
//! client sent (none: unconditional, as kube allows) with `Txn(mod_revision == rv)`. An
//! object being deleted whose last finalizer an update removes is deleted by that update.

use http::{Response, StatusCode, header};
use serde_json::{Value, json};

use super::{Ctx, create, get};
use crate::apiserver::objects;
use crate::apiserver::respond::{self, Body};
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::Stored;
use crate::apiserver::{body, defaults, validation};

/// What part of the object an update may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but status.
    Main,
    /// Only status (`/status`).
    Status,
    /// Only `spec.finalizers` of a namespace (`/finalize`).
    Finalize,
}

impl Part {
    pub fn of(subresource: Option<&str>) -> Part {
        match subresource {
            Some("status") => Part::Status,
            Some("finalize") => Part::Finalize,
            _ => Part::Main,
        }
    }
}

/// Resources whose PUT creates a missing object (kube's `AllowCreateOnUpdate`).
fn creates_on_update(kind: &str) -> bool {
    matches!(kind, "Event" | "Endpoints" | "Lease" | "EndpointSlice")
}

pub async fn update(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let new = body::object(cx.header(header::CONTENT_TYPE), bytes)?;
    let name = cx.name().to_string();
    let body_name = objects::meta_str(&new, "name").unwrap_or("");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let part = Part::of(cx.req.subresource.as_deref());
    let current = cx
        .server
        .storage()
        .get(&cx.key(&name))
        .await
        .map_err(|e| cx.storage_error(e, &name))?;
    let Some(current) = current else {
        if part == Part::Main && creates_on_update(cx.resource.kind) {
            let mut new = new;
            if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("name".into(), json!(name));
            }
            let created = create::create_object(cx, new).await?;
            return Ok(get::object_or_table(cx, StatusCode::CREATED, created));
        }
        return Err(ApiError::not_found(&cx.subject()));
    };
    if let Some(rv) = objects::meta_str(&new, "resourceVersion").filter(|s| !s.is_empty()) {
        let expected = parse_rv(rv)?;
        if expected != current.mod_revision {
            return Err(ApiError::conflict_modified(&cx.subject()));
        }
    }
    let updated = apply_update(cx, &current, new, part).await?;
    Ok(get::object_or_table(cx, StatusCode::OK, updated))
}

/// A resourceVersion a client sent.
pub fn parse_rv(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>()
        .ok()
        .filter(|r| *r > 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

/// Writes `new` over `current` (read at `current.mod_revision`), or deletes the object when
/// the update leaves a deleted object without finalizers. Conflicts are reported as such.
pub async fn apply_update(
    cx: &Ctx<'_>,
    current: &Stored,
    mut new: Value,
    part: Part,
) -> Result<Value, ApiError> {
    let r = cx.resource;
    let name = cx.name().to_string();
    cx.check_fields(&mut new)?;
    match part {
        Part::Finalize => {
            let finalizers = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| json!([]));
            new = current.object.clone();
            new["spec"]["finalizers"] = finalizers;
        }
        Part::Status => objects::prepare_update(r, &current.object, &mut new, true)?,
        Part::Main => objects::prepare_update(r, &current.object, &mut new, false)?,
    }
    defaults::apply(r.group, r.kind, &mut new);
    validation::validate(r, &new, Some(&current.object))?;
    let key = cx.key(&name);
    let dry_run = cx.dry_run()?;
    if finished_deleting(&new) {
        if dry_run {
            return Ok(new);
        }
        return match cx.server.storage().delete(&key, current.mod_revision).await {
            Ok(deleted) => Ok(deleted.object),
            Err(e) => Err(cx.storage_error(e, &name)),
        };
    }
    if new == current.object {
        // Nothing changed: kube writes nothing and answers with the current object.
        return Ok(current.object.clone());
    }
    if dry_run {
        return Ok(new);
    }
    match cx
        .server
        .storage()
        .update(&key, &new, current.mod_revision, 0)
        .await
    {
        Ok(stored) => Ok(stored.object),
        Err(e) => Err(cx.storage_error(e, &name)),
    }
}

/// Whether an object marked for deletion has no finalizers left (a namespace also waits
/// for its `spec.finalizers`).
pub fn finished_deleting(obj: &Value) -> bool {
    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let empty = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    };
    let namespace_done =
        obj.get("kind").and_then(Value::as_str) != Some("Namespace") || empty("/spec/finalizers");
    deleting && empty("/metadata/finalizers") && namespace_done
}

/// PUT `/scale`: only spec.replicas of the workload changes.
pub async fn scale(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let scale = body::object(cx.header(header::CONTENT_TYPE), bytes)?;
    let current = get::read(cx).await?;
    if let Some(rv) = objects::meta_str(&scale, "resourceVersion").filter(|s| !s.is_empty())
        && parse_rv(rv)? != current.mod_revision
    {
        return Err(ApiError::conflict_modified(&cx.subject()));
    }
    let updated = set_replicas(cx, &current, &scale).await?;
    Ok(respond::json(StatusCode::OK, &get::scale_of(&updated)))
}

/// Applies a Scale's spec.replicas to the workload `current`.
pub async fn set_replicas(
    cx: &Ctx<'_>,
    current: &Stored,
    scale: &Value,
) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            cx.name(),
            vec![crate::apiserver::status::field::invalid(
                "spec.replicas",
                &json!(replicas),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut new = current.object.clone();
    new["spec"]["replicas"] = json!(replicas);
    apply_update(cx, current, new, Part::Main).await
}
