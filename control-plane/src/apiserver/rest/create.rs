//! POST: creating an object (metadata rules, defaulting, admission, validation, then
//! `Txn(mod_revision == 0)`; events are written with a lease so they expire), the
//! `pods/binding` subresource the scheduler binds pods with, and SelfSubjectAccessReview
//! (`kubectl auth can-i`), which is answered, not stored.

use http::{Response, StatusCode, header};
use serde_json::{Value, json};

use super::{Ctx, admission, get};
use crate::apiserver::authz::{self, Attributes};
use crate::apiserver::objects::{self, CreateContext};
use crate::apiserver::respond::{self, Body};
use crate::apiserver::status::ApiError;
use crate::apiserver::{body, defaults, validation};

pub async fn create(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let obj = body::object(cx.header(header::CONTENT_TYPE), bytes)?;
    if cx.resource.kind == "SelfSubjectAccessReview" {
        return self_subject_access_review(cx, obj).await;
    }
    if !cx.resource.stored() {
        return Err(ApiError::method_not_allowed());
    }
    let created = create_object(cx, obj).await?;
    Ok(get::object_or_table(cx, StatusCode::CREATED, created))
}

/// Creates `obj` in the request's collection; returns it as stored (or as it would be, under dryRun).
pub async fn create_object(cx: &Ctx<'_>, mut obj: Value) -> Result<Value, ApiError> {
    let r = cx.resource;
    cx.check_fields(&mut obj)?;
    let context = CreateContext {
        now: super::now(),
        random: super::random()?,
        namespace: cx.namespace(),
    };
    objects::prepare_create(r, &mut obj, &context)?;
    defaults::apply(r.group, r.kind, &mut obj);
    admission::admit_create(cx, &mut obj).await?;
    validation::validate(r, &obj, None)?;
    let name = objects::meta_str(&obj, "name").unwrap_or("").to_string();
    if cx.dry_run()? {
        return Ok(obj);
    }
    let lease = if r.kind == "Event" {
        cx.server
            .event_leases()
            .lease(cx.server.storage(), std::time::Instant::now())
            .await
            .map_err(|e| cx.storage_error(e, &name))?
    } else {
        0
    };
    let key = cx.key(&name);
    match cx.server.storage().create(&key, &obj, lease).await {
        Ok(stored) => {
            if r.kind == "Namespace" {
                tracing::info!(namespace = %name, "namespace created");
            }
            Ok(stored.object)
        }
        Err(e) => Err(cx.storage_error(e, &name)),
    }
}

/// `POST pods/<name>/binding`: assigns an unbound pod to a node, once.
pub async fn binding(cx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let binding = body::object(cx.header(header::CONTENT_TYPE), bytes)?;
    let pod_name = cx.name().to_string();
    let target = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if target.is_empty() {
        return Err(ApiError::invalid(
            "Binding",
            "",
            &pod_name,
            vec![crate::apiserver::status::field::required("target.name", "")],
        ));
    }
    let key = cx.key(&pod_name);
    let stored = get::read(cx).await?;
    let mut pod = stored.object.clone();
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::conflict(
            &cx.subject_named(&pod_name),
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    if let Some(node) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            &cx.subject_named(&pod_name),
            &format!("pod {pod_name} is already assigned to node \"{node}\""),
        ));
    }
    pod["spec"]["nodeName"] = json!(target);
    let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": objects::timestamp(super::now())});
    let conditions = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"))
        .collect();
    conditions.push(condition);
    pod["status"]["conditions"] = json!(conditions);
    if !cx.dry_run()? {
        cx.server
            .storage()
            .update(&key, &pod, stored.mod_revision, 0)
            .await
            .map_err(|e| cx.storage_error(e, &pod_name))?;
    }
    Ok(respond::json(StatusCode::CREATED, &success_status()))
}

/// kube's `Status` for a successful call without an object to return.
pub fn success_status() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

/// `kubectl auth can-i`: the authorizer's decision for the attributes in the review's spec.
async fn self_subject_access_review(
    cx: &Ctx<'_>,
    mut review: Value,
) -> Result<Response<Body>, ApiError> {
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let s = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    let attrs = if let Some(ra) = spec.get("resourceAttributes") {
        Attributes {
            verb: s(ra, "verb"),
            resource_request: true,
            group: s(ra, "group"),
            resource: s(ra, "resource"),
            subresource: s(ra, "subresource"),
            namespace: s(ra, "namespace"),
            name: s(ra, "name"),
            path: String::new(),
        }
    } else if let Some(nra) = spec.get("nonResourceAttributes") {
        Attributes {
            verb: s(nra, "verb"),
            path: s(nra, "path"),
            ..Default::default()
        }
    } else {
        return Err(ApiError::invalid(
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            "",
            vec![crate::apiserver::status::field::invalid(
                "spec.resourceAttributes",
                &Value::Null,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        ));
    };
    let policy = super::rbac_policy(cx.server, &attrs.namespace).await?;
    let allowed = authz::allowed(cx.user, &attrs, &policy);
    review["status"] = json!({"allowed": allowed});
    if !allowed {
        review["status"]["reason"] = json!("");
    }
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    if let Some(meta) = review.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("creationTimestamp".into(), Value::Null);
    } else {
        review["metadata"] = json!({"creationTimestamp": null});
    }
    Ok(respond::json(StatusCode::CREATED, &review))
}
