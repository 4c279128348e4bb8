//! Discovery as kube-apiserver serves it, generated from the resource table: `/api`,
//! `/api/v1`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>` (the legacy
//! APIVersions / APIGroupList / APIResourceList documents), the aggregated
//! `apidiscovery.k8s.io/v2` documents when the client's Accept asks for them (kubectl 1.32
//! does, and saves a request per group), and `/version`.

use serde_json::{Value, json};

use super::resources::{self, Resource};

/// The Kubernetes version whose API this server serves (the k8s-openapi feature in use).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0+keel.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The kind, group and version a subresource answers with, and its verbs.
fn subresource_info(
    r: &Resource,
    sub: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
) {
    let own = |verbs: &'static [&'static str]| ("", "", "", verbs);
    match sub {
        "status" => own(&["get", "patch", "update"]),
        "scale" => ("autoscaling", "v1", "Scale", &["get", "patch", "update"]),
        "binding" => ("", "v1", "Binding", &["create"]),
        "eviction" => ("policy", "v1", "Eviction", &["create"]),
        "log" => own(&["get"]),
        "exec" => ("", "v1", "PodExecOptions", &["create", "get"]),
        "attach" => ("", "v1", "PodAttachOptions", &["create", "get"]),
        "portforward" => ("", "v1", "PodPortForwardOptions", &["create", "get"]),
        "proxy" => {
            let kind = match r.kind {
                "Node" => "NodeProxyOptions",
                "Service" => "ServiceProxyOptions",
                _ => "PodProxyOptions",
            };
            (
                "",
                "v1",
                kind,
                &["create", "delete", "get", "patch", "update"],
            )
        }
        "token" => ("authentication.k8s.io", "v1", "TokenRequest", &["create"]),
        "finalize" => own(&["update"]),
        _ => own(&["get"]),
    }
}

/// One APIResource entry (and its subresources') of a legacy APIResourceList.
fn legacy_entries(r: &Resource) -> Vec<Value> {
    let mut main = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs.names(),
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    let mut out = vec![main];
    for sub in r.subresources {
        let (group, version, kind, verbs) = subresource_info(r, sub);
        let mut e = json!({
            "name": format!("{}/{}", r.plural, sub),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": if kind.is_empty() { r.kind } else { kind },
            "verbs": verbs,
        });
        if !group.is_empty() {
            e["group"] = json!(group);
        }
        if !version.is_empty() && !group.is_empty() {
            e["version"] = json!(version);
        }
        out.push(e);
    }
    out
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let list: Vec<Value> = resources::of(group, version)
        .flat_map(legacy_entries)
        .collect();
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str) -> Value {
    let versions: Vec<Value> = resources::versions(group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `/apis`.
pub fn group_list() -> Value {
    let groups: Vec<Value> = resources::groups().into_iter().map(group_entry).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(group: &str) -> Option<Value> {
    if resources::versions(group).is_empty() || group.is_empty() {
        return None;
    }
    let mut g = group_entry(group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// The resource table as the OpenAPI documents need it.
pub fn openapi_resources() -> &'static [super::openapi::ResourceInfo] {
    static INFOS: std::sync::OnceLock<Vec<super::openapi::ResourceInfo>> =
        std::sync::OnceLock::new();
    INFOS.get_or_init(|| {
        resources::RESOURCES
            .iter()
            .map(|r| super::openapi::ResourceInfo {
                group: r.group,
                version: r.version,
                kind: r.kind,
                plural: r.plural,
                namespaced: r.namespaced,
                subresources: r.subresources,
            })
            .collect()
    })
}

/// The Content-Type of aggregated discovery answers.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header asks for aggregated discovery (v2) before anything else.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    let Some(first) = accept.and_then(|a| a.split(',').next()) else {
        return false;
    };
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    params.contains(&"g=apidiscovery.k8s.io")
        && params.contains(&"v=v2")
        && params.contains(&"as=APIGroupDiscoveryList")
}

fn aggregated_resource(r: &Resource) -> Value {
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|sub| {
            let (group, version, kind, verbs) = subresource_info(r, sub);
            let (group, version, kind) = if kind.is_empty() {
                (r.group, r.version, r.kind)
            } else {
                (group, version, kind)
            };
            json!({"subresource": sub, "responseKind": {"group": group, "version": version, "kind": kind}, "verbs": verbs})
        })
        .collect();
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs.names(),
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        e["subresources"] = json!(subresources);
    }
    e
}

fn aggregated_group(group: &str) -> Value {
    let versions: Vec<Value> = resources::versions(group)
        .iter()
        .map(|v| {
            let list: Vec<Value> = resources::of(group, v).map(aggregated_resource).collect();
            json!({"version": v, "resources": list, "freshness": "Current"})
        })
        .collect();
    let mut meta = json!({"creationTimestamp": null});
    if !group.is_empty() {
        meta["name"] = json!(group);
    }
    json!({"metadata": meta, "versions": versions})
}

/// The aggregated document for `/api` (core) or `/apis` (every named group).
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group("")]
    } else {
        resources::groups()
            .into_iter()
            .map(aggregated_group)
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists_pods_with_their_subresources() {
        let Some(list) = resource_list("", "v1") else {
            panic!("no core list")
        };
        let names: Vec<&str> = list["resources"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            names.contains(&"pods")
                && names.contains(&"pods/status")
                && names.contains(&"pods/log")
        );
        assert!(resource_list("", "v2").is_none());
    }

    #[test]
    fn kubectl_asks_for_aggregated_discovery() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(Some(kubectl)));
        assert!(!wants_aggregated(Some("application/json")));
        let apis = aggregated(false);
        assert_eq!(apis["items"][0]["metadata"]["name"], "apps");
        let scale = &aggregated(false)["items"][0]["versions"][0]["resources"];
        assert!(scale.as_array().is_some_and(|a| !a.is_empty()));
    }
}
