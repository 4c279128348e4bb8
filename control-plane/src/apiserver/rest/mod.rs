//! The REST verbs on resources, one file each (`get`, `list`, `watch`, `create`, `update`,
//! `patch`, `delete`), plus what they share: the [`Ctx`] of a request (its resource row,
//! path parts, query and user), the mapping of storage failures to kube's errors, and
//! `dryRun`. Start-up work lives beside them: [`bootstrap`] (default namespaces and RBAC
//! policy), [`compaction`], and [`events`] (the lease events are written with).

pub mod admission;
pub mod bootstrap;
pub mod compaction;
pub mod create;
pub mod delete;
pub mod events;
pub mod get;
pub mod list;
pub mod patch;
pub mod update;
pub mod watch;

use http::{HeaderMap, Method, Response, header};
use serde_json::Value;

use super::ApiServer;
use super::authn::User;
use super::authz::Policy;
use super::request::{Query, ResourceRequest};
use super::resources::{self, Resource};
use super::respond::Body;
use super::status::{ApiError, Subject};
use super::storage::StorageError;

/// Everything a verb needs to know about its request.
pub struct Ctx<'a> {
    pub server: &'a ApiServer,
    pub user: &'a User,
    pub resource: &'static Resource,
    pub req: &'a ResourceRequest,
    pub query: &'a Query,
    pub headers: &'a HeaderMap,
    /// Warnings for the client (`Warning: 299 - "..."` headers), e.g. unknown fields under Warn.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl Ctx<'_> {
    /// Checks an incoming object's fields under the request's `fieldValidation`.
    pub fn check_fields(&self, obj: &mut Value) -> Result<(), ApiError> {
        let directive =
            super::field_validation::Directive::parse(self.query.get("fieldValidation"))?;
        let found = super::field_validation::check(
            directive,
            self.resource.group,
            self.resource.kind,
            obj,
        )?;
        if !found.is_empty() {
            let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
            w.extend(found);
        }
        Ok(())
    }

    /// `includeObject` for Table answers (kube's 400 for a bad value).
    pub fn table_include(&self) -> Result<super::table::IncludeObject, ApiError> {
        super::table::IncludeObject::parse(self.query.get("includeObject").unwrap_or(""))
            .map_err(ApiError::bad_request)
    }

    pub fn name(&self) -> &str {
        self.req.name.as_deref().unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        if self.resource.namespaced {
            self.req.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn subject(&self) -> Subject<'_> {
        Subject::new(self.resource.group, self.resource.plural, self.name())
    }

    pub fn subject_named<'n>(&'n self, name: &'n str) -> Subject<'n> {
        Subject::new(self.resource.group, self.resource.plural, name)
    }

    /// The store key of the object named `name` in the request's namespace.
    pub fn key(&self, name: &str) -> String {
        self.server
            .storage()
            .key(self.resource.storage, self.namespace(), name)
    }

    /// The prefix of the collection the request is about (all namespaces when none is given).
    pub fn collection(&self) -> String {
        self.server
            .storage()
            .collection(self.resource.storage, self.namespace())
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `dryRun`: absent, or `All` (kube's only value).
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dryRun value: {other:?}; supported values: \"All\""
            ))),
        }
    }

    /// The kube error for a storage failure on the object `name`.
    pub fn storage_error(&self, e: StorageError, name: &str) -> ApiError {
        let s = self.subject_named(name);
        match e {
            StorageError::NotFound => ApiError::not_found(&s),
            StorageError::AlreadyExists => ApiError::already_exists(&s),
            StorageError::Conflict(_) => ApiError::conflict_modified(&s),
            StorageError::Compacted {
                requested,
                compacted,
            } => ApiError::too_old_resource_version(requested, compacted),
            StorageError::Corrupt { .. } => ApiError::internal(e.to_string()),
            StorageError::Timeout(m) => ApiError::timeout(format!("etcd request timed out: {m}")),
            StorageError::Store(m) => ApiError::internal(m),
        }
    }
}

/// Serves a resource request.
pub async fn serve<B>(
    server: &ApiServer,
    user: &User,
    method: &Method,
    headers: &HeaderMap,
    req: &ResourceRequest,
    query: &Query,
    body: B,
) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let resource = resources::find(&req.group, &req.version, &req.resource)
        .ok_or_else(ApiError::path_not_found)?;
    if req.namespace.is_some() && !resource.namespaced && resource.kind != "Namespace" {
        return Err(ApiError::path_not_found());
    }
    if let Some(sub) = &req.subresource
        && !resource.has_subresource(sub)
    {
        return Err(ApiError::path_not_found());
    }
    let cx = Ctx {
        server,
        user,
        resource,
        req,
        query,
        headers,
        warnings: Default::default(),
    };
    let sub = req.subresource.as_deref();
    let verb_allowed = resource.verbs.names().contains(&req.verb) || sub.is_some();
    if !verb_allowed {
        return Err(ApiError::method_not_allowed());
    }
    match (method.as_str(), req.verb, sub) {
        (_, "get", None | Some("status")) => return get::get(&cx).await,
        (_, "get", Some("scale")) => return get::scale(&cx).await,
        (_, "list", None) => return list::list(&cx).await,
        (_, "watch", None) => return watch::watch(&cx).await,
        _ => {}
    }
    // Every other verb reads its whole body (at most 3 MiB) before anything is written.
    let bytes = super::body::read(body).await?;
    let bytes = bytes.as_ref();
    let result = match (method.as_str(), req.verb, sub) {
        ("POST", "create", None) if cx.req.name.is_none() => create::create(&cx, bytes).await,
        ("POST", "create", Some("binding")) => create::binding(&cx, bytes).await,
        ("PUT", "update", None | Some("status") | Some("finalize")) => {
            update::update(&cx, bytes).await
        }
        ("PUT", "update", Some("scale")) => update::scale(&cx, bytes).await,
        ("PATCH", "patch", None | Some("status") | Some("scale")) => patch::patch(&cx, bytes).await,
        ("DELETE", "delete", None) => delete::delete(&cx, bytes).await,
        ("DELETE", "deletecollection", None) => delete::delete_collection(&cx, bytes).await,
        _ => Err(ApiError::method_not_allowed()),
    };
    let warnings = cx.warnings.into_inner().unwrap_or_else(|e| e.into_inner());
    result.map(|mut resp| {
        for w in warnings {
            let text = format!("299 - {}", serde_json::Value::String(w));
            if let Ok(v) = http::HeaderValue::from_str(&text) {
                resp.headers_mut().append(http::header::WARNING, v);
            }
        }
        resp
    })
}

/// The RBAC objects that bear on a request in `namespace`, read from the store.
pub async fn rbac_policy(server: &ApiServer, namespace: &str) -> Result<Policy, ApiError> {
    let storage = server.storage();
    let read = |storage_path: &'static str, ns: Option<&str>| {
        let prefix = storage.collection(storage_path, ns);
        async move {
            let page = storage
                .list(&prefix, 0, None, 0)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok::<Vec<Value>, ApiError>(page.items.into_iter().map(|s| s.object).collect())
        }
    };
    let mut policy = Policy {
        cluster_roles: read("clusterroles", None).await?,
        cluster_role_bindings: read("clusterrolebindings", None).await?,
        ..Default::default()
    };
    if !namespace.is_empty() {
        policy.roles = read("roles", Some(namespace)).await?;
        policy.role_bindings = read("rolebindings", Some(namespace)).await?;
    }
    Ok(policy)
}

/// The time now (the only place the REST handlers read the clock).
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// 16 random bytes (uids, generated names).
pub fn random() -> Result<[u8; 16], ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(b)
}
