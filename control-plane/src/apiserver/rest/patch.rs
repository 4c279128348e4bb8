//! PATCH: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch, on
//! the object, its `/status` or its `/scale`, applied to the current object and written with
//! `Txn(mod_revision == rv)`. A lost race is retried on the new object (kube's
//! GuaranteedUpdate) unless the patch itself names a resourceVersion, which then must match.

use http::{Response, StatusCode, header};
use serde_json::Value;

use super::update::{self, Part};
use super::{Ctx, get};
use crate::apiserver::respond::{self, Body};
use crate::apiserver::status::ApiError;
use crate::apiserver::{body, objects, strategic_merge};

/// How many times a patch is re-applied after losing a race.
const MAX_ATTEMPTS: usize = 5;

/// The patch formats kube accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
}

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

pub fn patch_type(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    match body::media_type(content_type).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        _ => Err(ApiError::unsupported_media_type(PATCH_TYPES)),
    }
}

/// `original` with `patch` applied.
pub fn apply_patch(
    ty: PatchType,
    group: &str,
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    match ty {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            let mut doc = original.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::invalid_patch(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            let mut doc = original.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic => strategic_merge::apply(group, kind, original, patch).map_err(|e| {
            // kube answers a malformed patch with 400 and a patch that cannot apply with 422.
            if e.starts_with("invalid") || e.starts_with("json: ") {
                ApiError::bad_request(e)
            } else {
                ApiError::invalid_patch(e)
            }
        }),
    }
}

pub async fn patch(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let ty = patch_type(cx.header(header::CONTENT_TYPE))?;
    let patch: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let sub = cx.req.subresource.as_deref();
    let part = Part::of(sub);
    let pinned = objects::meta_str(&patch, "resourceVersion").map(str::to_string);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = get::read(cx).await?;
        let result = if sub == Some("scale") {
            let scale = get::scale_of(&current.object);
            let patched = apply_patch(ty, "autoscaling", "Scale", &scale, &patch)?;
            check_pinned(cx, pinned.as_deref(), current.mod_revision)?;
            update::set_replicas(cx, &current, &patched)
                .await
                .map(|o| get::scale_of(&o))
        } else {
            let mut patched = apply_patch(
                ty,
                cx.resource.group,
                cx.resource.kind,
                &current.object,
                &patch,
            )?;
            check_pinned(cx, pinned.as_deref(), current.mod_revision)?;
            if pinned.is_none() {
                // The patch applies to the object read now; the write is guarded by its revision.
                if let Some(meta) = patched.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert(
                        "resourceVersion".into(),
                        Value::String(current.mod_revision.to_string()),
                    );
                }
            }
            update::apply_update(cx, &current, patched, part).await
        };
        match result {
            Err(e) if e.reason == "Conflict" && pinned.is_none() && attempt < MAX_ATTEMPTS => {
                continue;
            }
            Err(e) => return Err(e),
            Ok(obj) if sub == Some("scale") => return Ok(respond::json(StatusCode::OK, &obj)),
            Ok(obj) => return Ok(get::object_or_table(cx, StatusCode::OK, obj)),
        }
    }
}

fn check_pinned(cx: &Ctx<'_>, pinned: Option<&str>, current: i64) -> Result<(), ApiError> {
    match pinned {
        Some(rv) if update::parse_rv(rv)? != current => {
            Err(ApiError::conflict_modified(&cx.subject()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_merge_patches_apply() {
        let obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let merged = apply_patch(
            PatchType::Merge,
            "",
            "Pod",
            &obj,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        );
        assert_eq!(
            merged.ok(),
            Some(json!({"metadata": {"labels": {"b": "2", "c": "3"}}}))
        );
        let patched = apply_patch(
            PatchType::Json,
            "",
            "Pod",
            &obj,
            &json!([{"op": "replace", "path": "/metadata/labels/a", "value": "9"}]),
        );
        assert_eq!(
            patched.ok().map(|o| o["metadata"]["labels"]["a"].clone()),
            Some(json!("9"))
        );
        let bad = apply_patch(
            PatchType::Json,
            "",
            "Pod",
            &obj,
            &json!([{"op": "remove", "path": "/nope"}]),
        );
        assert_eq!(bad.err().map(|e| e.code), Some(422));
        assert_eq!(
            patch_type(Some("text/plain")).err().map(|e| e.code),
            Some(415)
        );
    }
}
