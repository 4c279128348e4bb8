//! What a request is about, read off its method, path and query as kube-apiserver's
//! `RequestInfoFactory` reads them: the verb (get, list, watch, create, update, patch,
//! delete, deletecollection), API group and version, namespace, resource, name and
//! subresource. Authorization, admission and the handlers all work from this one value.

use std::collections::HashMap;

/// A request for a resource, or a non-resource path such as `/healthz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `/api/v1/...` or `/apis/<group>/<version>/...`.
    Resource(ResourceRequest),
    /// Any other path (discovery, health, version, openapi).
    NonResource(String),
}

/// The parts of a resource path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceRequest {
    pub verb: &'static str,
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// The query parameters of a request (the last value wins, as in Go's `url.Values.Get`).
#[derive(Clone, Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        if let Some(raw) = raw {
            for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it (`true`, `1`, `True`, ...).
    pub fn flag(&self, key: &str) -> bool {
        matches!(
            self.get(key),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }
}

/// Subresources of a namespace, which stay on the namespace itself.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Reads the target of a request from its method, path and query.
pub fn resolve(method: &http::Method, path: &str, query: &Query) -> Target {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Target::NonResource(path.to_string()),
    };
    let mut rest: &[&str] = rest;
    let mut namespace = None;
    if let ["namespaces", ns, tail @ ..] = rest {
        namespace = Some(ns.to_string());
        match tail {
            [sub, ..] if !NAMESPACE_SUBRESOURCES.contains(sub) => rest = tail,
            _ => {}
        }
    }
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub, ..] => (*resource, Some(*name), Some(*sub)),
        [] => return Target::NonResource(path.to_string()),
    };
    // `/api/v1/namespaces/foo` is the namespace foo itself, not a namespaced list.
    let namespace = if resource == "namespaces" && name.is_some() {
        name.map(str::to_string)
    } else {
        namespace
    };
    let verb = verb_of(method, name.is_some(), query.flag("watch"));
    Target::Resource(ResourceRequest {
        verb,
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        resource: resource.to_string(),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
    })
}

/// kube's verb for a method on a collection or one object.
fn verb_of(method: &http::Method, named: bool, watch: bool) -> &'static str {
    match (method.as_str(), named) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn res(method: Method, path: &str, query: &str) -> ResourceRequest {
        match resolve(&method, path, &Query::parse(Some(query))) {
            Target::Resource(r) => r,
            Target::NonResource(p) => panic!("{p} read as a non-resource path"),
        }
    }

    #[test]
    fn paths_read_as_kube_reads_them() {
        let r = res(Method::GET, "/api/v1/namespaces/default/pods", "");
        assert_eq!(
            (r.verb, r.namespace.as_deref(), r.resource.as_str()),
            ("list", Some("default"), "pods")
        );
        let r = res(Method::GET, "/api/v1/namespaces/default/pods/web/log", "");
        assert_eq!(
            (r.verb, r.name.as_deref(), r.subresource.as_deref()),
            ("get", Some("web"), Some("log"))
        );
        let r = res(Method::GET, "/api/v1/pods", "watch=true");
        assert_eq!((r.verb, r.namespace), ("watch", None));
        let r = res(Method::PUT, "/api/v1/namespaces/foo/finalize", "");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.namespace.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("foo"), Some("foo"), Some("finalize"))
        );
        let r = res(Method::DELETE, "/apis/apps/v1/namespaces/x/deployments", "");
        assert_eq!((r.verb, r.group.as_str()), ("deletecollection", "apps"));
        let r = res(
            Method::PATCH,
            "/apis/apps/v1/namespaces/x/deployments/d/scale",
            "",
        );
        assert_eq!((r.verb, r.subresource.as_deref()), ("patch", Some("scale")));
        assert_eq!(
            resolve(&Method::GET, "/apis", &Query::default()),
            Target::NonResource("/apis".into())
        );
        assert_eq!(
            resolve(&Method::GET, "/api/v1", &Query::default()),
            Target::NonResource("/api/v1".into())
        );
    }

    #[test]
    fn query_flags_follow_go() {
        let q = Query::parse(Some("watch=1&dryRun=All&labelSelector=app%3Dweb"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert!(!Query::parse(Some("watch=yes")).flag("watch"));
    }
}
