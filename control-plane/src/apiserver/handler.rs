//! One request, start to end: authenticate, resolve what it is about, authorize, hold an
//! in-flight slot (long-running watches excepted, as in kube), then serve discovery,
//! health, or a REST verb. Every failure becomes kube's `Status` answer here, and every
//! request is logged at debug level with its verb, path, user, code and latency.

use std::time::Instant;

use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde_json::Value;

use super::ApiServer;
use super::authn::{self, User};
use super::authz::{self, Attributes};
use super::discovery;
use super::openapi;
use super::request::{self, Query, Target};
use super::respond::{self, Body};
use super::rest;
use super::status::{ApiError, Subject};

/// Serves one request.
pub async fn handle<B>(
    server: ApiServer,
    peer_cert: Option<&[u8]>,
    req: Request<B>,
) -> Response<Body>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let start = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let (user, result) = pipeline(&server, peer_cert, req).await;
    let resp = result.unwrap_or_else(|e| respond::error(&e));
    tracing::debug!(
        verb = %method,
        uri = %uri,
        user = %user.map(|u| u.name).unwrap_or_default(),
        code = resp.status().as_u16(),
        latency_ms = start.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// Who asked (once known) and the answer.
type Outcome = (Option<User>, Result<Response<Body>, ApiError>);

async fn pipeline<B>(server: &ApiServer, peer_cert: Option<&[u8]>, req: Request<B>) -> Outcome
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match authn::authenticate(peer_cert, authorization, server.tokens()) {
        authn::Outcome::User(u) => u,
        authn::Outcome::Refused => return (None, Err(ApiError::unauthorized())),
    };
    let query = Query::parse(parts.uri.query());
    let target = request::resolve(&parts.method, parts.uri.path(), &query);
    if let Err(e) = authorize(server, &user, &parts.method, &target).await {
        return (Some(user), Err(e));
    }
    let long_running = matches!(&target, Target::Resource(r) if r.verb == "watch"
        || matches!(r.subresource.as_deref(), Some("log" | "exec" | "attach" | "portforward" | "proxy")));
    let mutating = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let _slot = if long_running {
        None
    } else {
        match server.slots(mutating).clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return (Some(user), Err(ApiError::too_many_requests())),
        }
    };
    let result = match target {
        Target::NonResource(path) => {
            non_resource(server, &parts.method, &path, &parts.headers).await
        }
        Target::Resource(r) => {
            rest::serve(
                server,
                &user,
                &parts.method,
                &parts.headers,
                &r,
                &query,
                body,
            )
            .await
        }
    };
    (Some(user), result)
}

/// The authorizer's view of a request.
fn attributes(method: &Method, target: &Target) -> Attributes {
    match target {
        Target::NonResource(path) => Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.clone(),
            ..Default::default()
        },
        Target::Resource(r) => Attributes {
            verb: r.verb.to_string(),
            resource_request: true,
            group: r.group.clone(),
            resource: r.resource.clone(),
            subresource: r.subresource.clone().unwrap_or_default(),
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            path: String::new(),
        },
    }
}

/// RBAC, with the policy objects read from the store when the user is not a master.
async fn authorize(
    server: &ApiServer,
    user: &User,
    method: &Method,
    target: &Target,
) -> Result<(), ApiError> {
    if user.in_group(authn::MASTERS) {
        return Ok(());
    }
    let attrs = attributes(method, target);
    let policy = rest::rbac_policy(server, &attrs.namespace).await?;
    if authz::allowed(user, &attrs, &policy) {
        return Ok(());
    }
    // kube names the resource with its subresource: `pods/log is forbidden: ...`.
    let resource = match (attrs.resource_request, attrs.subresource.is_empty()) {
        (false, _) => String::new(),
        (true, true) => attrs.resource.clone(),
        (true, false) => format!("{}/{}", attrs.resource, attrs.subresource),
    };
    let subject = Subject::new(&attrs.group, &resource, &attrs.name);
    Err(ApiError::forbidden(&subject, attrs.denial(user)))
}

/// Health, version, discovery and OpenAPI.
async fn non_resource(
    server: &ApiServer,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed());
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let path = path.trim_end_matches('/');
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ok = |v: Value| Ok(respond::json(StatusCode::OK, &v));
    match parts.as_slice() {
        ["healthz" | "livez", ..] => Ok(respond::text(StatusCode::OK, "ok")),
        ["readyz", ..] => match server.storage().current_revision().await {
            Ok(_) => Ok(respond::text(StatusCode::OK, "ok")),
            Err(e) => {
                tracing::warn!(error = %e, "readyz: the store does not answer");
                Ok(respond::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[-]etcd failed: reason withheld\nreadyz check failed",
                ))
            }
        },
        ["version"] => ok(discovery::version()),
        ["api"] if discovery::wants_aggregated(accept) => {
            Ok(aggregated(discovery::aggregated(true)))
        }
        ["api"] => ok(discovery::api_versions(
            &server.config().advertise.to_string(),
        )),
        ["api", version] => discovery::resource_list("", version)
            .map(|v| respond::json(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis"] if discovery::wants_aggregated(accept) => {
            Ok(aggregated(discovery::aggregated(false)))
        }
        ["apis"] => ok(discovery::group_list()),
        ["apis", group] => discovery::group(group)
            .map(|v| respond::json(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis", group, version] => discovery::resource_list(group, version)
            .map(|v| respond::json(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        ["openapi", "v3"] => ok(openapi::v3_index(discovery::openapi_resources())),
        ["openapi", "v3", gv @ ..] => {
            openapi::v3_document(discovery::openapi_resources(), &gv.join("/"))
                .map(|v| respond::json(StatusCode::OK, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        _ => Err(ApiError::path_not_found()),
    }
}

fn aggregated(v: Value) -> Response<Body> {
    let mut resp = respond::json(StatusCode::OK, &v);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(discovery::AGGREGATED_CONTENT_TYPE),
    );
    resp
}
