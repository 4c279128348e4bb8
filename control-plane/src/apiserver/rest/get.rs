//! GET of one object (and of its `/status`, which is the same object in kube), answered as
//! the object or, when kubectl asks for it, as a one-row Table; and GET of `/scale`, the
//! autoscaling/v1 Scale view of a workload.

use http::{Response, StatusCode, header};
use serde_json::{Value, json};

use super::Ctx;
use crate::apiserver::respond::{self, Body, Shape};
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::Stored;
use crate::apiserver::table;

/// Reads the object the request names, or NotFound.
pub async fn read(cx: &Ctx<'_>) -> Result<Stored, ApiError> {
    let name = cx.name();
    match cx.server.storage().get(&cx.key(name)).await {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => Err(ApiError::not_found(&cx.subject())),
        Err(e) => Err(cx.storage_error(e, name)),
    }
}

pub async fn get(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let stored = read(cx).await?;
    Ok(object_or_table(cx, StatusCode::OK, stored.object))
}

/// The answer for one object: itself, or its Table if the client asked for one.
pub fn object_or_table(cx: &Ctx<'_>, code: StatusCode, object: Value) -> Response<Body> {
    match respond::shape(cx.header(header::ACCEPT)) {
        Shape::Object => respond::json(code, &object),
        Shape::Table => {
            // Also the answer to writes, which have happened by now: a bad value is not an error here.
            let include = cx.table_include().unwrap_or_default();
            let rv = object
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            let t = table::table(
                cx.resource.plural,
                std::slice::from_ref(&object),
                super::now().as_second(),
                include,
                json!({"resourceVersion": rv}),
            );
            respond::json(code, &t)
        }
    }
}

/// The autoscaling/v1 Scale of a workload object.
pub fn scale_of(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let meta: serde_json::Map<String, Value> = meta
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let replicas = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status_replicas = object
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = object
        .pointer("/spec/selector")
        .map(selector_string)
        .unwrap_or_default();
    let mut status = json!({"replicas": status_replicas});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// A LabelSelector object as the selector string Scale's status carries.
fn selector_string(sel: &Value) -> String {
    crate::apiserver::selectors::from_label_selector_json(sel)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

pub async fn scale(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let stored = read(cx).await?;
    Ok(respond::json(StatusCode::OK, &scale_of(&stored.object)))
}
