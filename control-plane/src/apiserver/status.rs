//! Errors as kube-apiserver sends them: a `meta.k8s.io/v1` `Status` object with the HTTP
//! code, the `reason` clients switch on (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`,
//! ...), kube's message texts, and `details` (name, group, kind, causes with field paths).
//!
//! Every failure a request can meet becomes an [`ApiError`] built by one of the
//! constructors here, so the wording of each reason lives in exactly one place
//! (upstream: `k8s.io/apimachinery/pkg/api/errors/errors.go`).

use serde_json::{Value, json};

/// The most an api-server accepts in one request body (kube's 3 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// One field-level cause of an `Invalid` error (`metav1.StatusCause`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueForbidden`, ...
    pub reason: &'static str,
    pub message: String,
    pub field: String,
}

/// A failed request: what kube would answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed, so that results carrying an error stay small.
    pub details: Box<Details>,
}

/// A Status's `details`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    /// name, group, kind (the resource's plural, as kube puts it), causes.
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    /// `retryAfterSeconds` for 429 and 5xx answers that should be retried.
    pub retry_after: Option<u32>,
}

/// What a failed request is about: the resource (`pods`), its API group and the object's name.
#[derive(Clone, Debug, Default)]
pub struct Subject<'a> {
    pub group: &'a str,
    pub resource: &'a str,
    pub name: &'a str,
}

impl<'a> Subject<'a> {
    pub fn new(group: &'a str, resource: &'a str, name: &'a str) -> Self {
        Subject {
            group,
            resource,
            name,
        }
    }

    /// `pods` or `deployments.apps`, as kube names a group resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, s: &Subject<'_>) -> Self {
        self.details.name = (!s.name.is_empty()).then(|| s.name.to_string());
        self.details.group = Some(s.group.to_string());
        self.details.kind = Some(s.resource.to_string());
        self
    }

    /// 404 `pods "web" not found`.
    pub fn not_found(s: &Subject<'_>) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", s.qualified(), s.name),
        )
        .about(s)
    }

    /// 404 for a path that names no resource.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409 `pods "web" already exists`.
    pub fn already_exists(s: &Subject<'_>) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", s.qualified(), s.name),
        )
        .about(s)
    }

    /// 409 Conflict: the object changed since the client read it.
    pub fn conflict_modified(s: &Subject<'_>) -> Self {
        Self::conflict(
            s,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 `Operation cannot be fulfilled on pods "web": <why>`.
    pub fn conflict(s: &Subject<'_>, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                s.qualified(),
                s.name,
                why
            ),
        )
        .about(s)
    }

    /// 422 `Pod "web" is invalid: <causes>` (kube's `NewInvalid`).
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let text = match causes.as_slice() {
            [] => String::new(),
            [one] => format!(": {}", cause_text(one)),
            many => format!(
                ": [{}]",
                many.iter().map(cause_text).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid{text}"),
        );
        e.details.name = Some(name.to_string());
        e.details.group = Some(group.to_string());
        e.details.kind = Some(kind.to_string());
        e.details.causes = causes;
        e
    }

    /// 422 for invalid query options (`ListOptions.meta.k8s.io "" is invalid: ...`).
    pub fn invalid_list_options(path: &str, detail: &str) -> Self {
        Self::invalid(
            "ListOptions.meta.k8s.io",
            "",
            "",
            vec![field::forbidden(path, detail)],
        )
    }

    /// 422 for a patch that cannot be applied.
    pub fn invalid_patch(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"`.
    pub fn forbidden(s: &Subject<'_>, why: String) -> Self {
        let target = if s.resource.is_empty() {
            "forbidden".to_string()
        } else if s.name.is_empty() {
            format!("{} is forbidden", s.qualified())
        } else {
            format!("{} \"{}\" is forbidden", s.qualified(), s.name)
        };
        Self::new(403, "Forbidden", format!("{target}: {why}")).about(s)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 410 `too old resource version: 5 (10)`.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 410 for a list/watch from a compacted resourceVersion.
    pub fn too_old_resource_version(requested: i64, compacted: i64) -> Self {
        Self::expired(format!(
            "too old resource version: {requested} ({compacted})"
        ))
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 for a body in a format the server does not read.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 406 when the client accepts no format the server can write.
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    /// 429 with kube's message for a full max-requests-inflight.
    pub fn too_many_requests() -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        e.details.retry_after = Some(1);
        e
    }

    /// 500 with the store's (or another component's) failure.
    pub fn internal(message: impl Into<String>) -> Self {
        let mut e = Self::new(500, "InternalError", message.into());
        e.message = format!("Internal error occurred: {}", e.message);
        e
    }

    /// 504 when the store did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        let mut e = Self::new(504, "Timeout", message);
        e.details.retry_after = Some(1);
        e
    }

    /// 503 while the server cannot serve (e.g. its store is unreachable).
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(503, "ServiceUnavailable", message);
        e.details.retry_after = Some(1);
        e
    }

    /// The `Status` object for the response body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let d = &self.details;
        let mut details = serde_json::Map::new();
        if let Some(name) = &d.name {
            details.insert("name".into(), json!(name));
        }
        if let Some(group) = d.group.as_ref().filter(|g| !g.is_empty()) {
            details.insert("group".into(), json!(group));
        }
        if let Some(kind) = &d.kind {
            details.insert("kind".into(), json!(kind));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(after) = d.retry_after {
            details.insert("retryAfterSeconds".into(), json!(after));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// `metadata.name: Invalid value: "Web": <detail>` (field.Error's text).
fn cause_text(c: &Cause) -> String {
    format!("{}: {}", c.field, c.message)
}

/// Builders of field errors with kube's wording (`k8s.io/apimachinery/pkg/util/validation/field`).
pub mod field {
    use super::Cause;

    /// `Invalid value: "x": detail`.
    pub fn invalid(path: &str, value: &serde_json::Value, detail: &str) -> Cause {
        let shown = match value {
            serde_json::Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {shown}: {detail}"),
            field: path.to_string(),
        }
    }

    /// `Required value` (with an optional detail).
    pub fn required(path: &str, detail: &str) -> Cause {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Cause {
            reason: "FieldValueRequired",
            message,
            field: path.to_string(),
        }
    }

    /// `Forbidden: detail`.
    pub fn forbidden(path: &str, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {detail}"),
            field: path.to_string(),
        }
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(path: &str, value: &serde_json::Value, supported: &[&str]) -> Cause {
        let shown = match value {
            serde_json::Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {shown}: supported values: {}",
                list.join(", ")
            ),
            field: path.to_string(),
        }
    }

    /// `Duplicate value: "x"`.
    pub fn duplicate(path: &str, value: &serde_json::Value) -> Cause {
        Cause {
            reason: "FieldValueDuplicate",
            message: format!("Duplicate value: {value}"),
            field: path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_kube_writes_them() {
        let s = Subject::new("", "pods", "web");
        assert_eq!(ApiError::not_found(&s).message, "pods \"web\" not found");
        let s = Subject::new("apps", "deployments", "web");
        assert_eq!(
            ApiError::already_exists(&s).message,
            "deployments.apps \"web\" already exists"
        );
        assert_eq!(
            ApiError::conflict_modified(&s).message,
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let e = ApiError::invalid(
            "Pod",
            "",
            "Web",
            vec![field::invalid(
                "metadata.name",
                &serde_json::json!("Web"),
                "bad",
            )],
        );
        assert_eq!(
            e.message,
            "Pod \"Web\" is invalid: metadata.name: Invalid value: \"Web\": bad"
        );
        let status = e.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    }

    #[test]
    fn forbidden_names_the_resource() {
        let s = Subject::new("", "pods", "");
        let e = ApiError::forbidden(
            &s,
            "User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"".into(),
        );
        assert_eq!(
            e.message,
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        assert_eq!(e.to_status()["code"], 403);
    }
}
