//! Writing answers: JSON objects with kube's headers, `Status` errors, and the choice between
//! an object and its `meta.k8s.io/v1` Table, made from the `Accept` header as kube-apiserver
//! makes it (`as=Table;v=v1;g=meta.k8s.io`, falling back to the object itself).

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::status::ApiError;

/// Every response body: whole, or streamed (watches, logs).
pub type Body = BoxBody<Bytes, Infallible>;

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON answer.
pub fn json(code: StatusCode, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A plain-text answer (health checks).
pub fn text(code: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The `Status` answer for an error.
pub fn error(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(code, &e.to_status());
    if let Some(v) = e
        .details
        .retry_after
        .and_then(|after| HeaderValue::from_str(&after.to_string()).ok())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// What the client asked to get back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io/v1` Table.
    Table,
}

/// Reads the `Accept` header: a Table when the first acceptable type asks for one in
/// `meta.k8s.io` v1 (or v1beta1, which kube answers with the same v1 Table), else the object.
pub fn shape(accept: Option<&str>) -> Shape {
    let Some(accept) = accept else {
        return Shape::Object;
    };
    for media in accept.split(',') {
        let mut params = media.split(';').map(str::trim);
        let base = params.next().unwrap_or("");
        let mut as_ = None;
        let mut group = None;
        let mut version = None;
        for p in params {
            match p.split_once('=') {
                Some(("as", v)) => as_ = Some(v),
                Some(("g", v)) => group = Some(v),
                Some(("v", v)) => version = Some(v),
                _ => {}
            }
        }
        match (as_, group, version) {
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1"))
                if base == "application/json" || base == "*/*" =>
            {
                return Shape::Table;
            }
            (None, _, _) => return Shape::Object,
            _ => continue,
        }
    }
    Shape::Object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(shape(Some(kubectl)), Shape::Table);
        assert_eq!(shape(Some("application/json")), Shape::Object);
        assert_eq!(shape(None), Shape::Object);
        assert_eq!(
            shape(Some(
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"
            )),
            Shape::Object
        );
    }
}
