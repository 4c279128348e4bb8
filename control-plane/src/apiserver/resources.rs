//! The table of resources the api-server serves. One row per resource says everything
//! discovery, routing and storage need (group, version, kind, plural, short names, whether it
//! is namespaced, its subresources, its verbs, where kube-apiserver keeps it in etcd), so adding
//! a resource is adding a row. Behaviour that differs by kind (defaulting, validation, what a
//! status update may change) is keyed on the row's kind elsewhere, never by new routes.

/// What the REST verbs of a resource are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbs {
    /// create, delete, deletecollection, get, list, patch, update, watch.
    All,
    /// Namespaces: all but deletecollection.
    NoDeleteCollection,
    /// Reviews (SelfSubjectAccessReview): create only; nothing is stored.
    CreateOnly,
}

impl Verbs {
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Verbs::All => &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
            Verbs::NoDeleteCollection => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Verbs::CreateOnly => &["create"],
        }
    }
}

/// One resource of the API.
#[derive(Debug)]
pub struct Resource {
    /// API group; "" is the core (legacy) group served under `/api`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    /// Subresources, e.g. `status`, `scale`, `binding`.
    pub subresources: &'static [&'static str],
    pub verbs: Verbs,
    /// The path segment under the etcd prefix (`minions` for nodes, `services/specs` ...);
    /// empty for resources that are not stored.
    pub storage: &'static str,
    /// Fields besides metadata.name/namespace that field selectors may use.
    pub selectable_fields: &'static [&'static str],
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }

    /// Whether the object has a `status` that only `/status` may change.
    pub fn has_status(&self) -> bool {
        self.has_subresource("status")
    }

    pub fn stored(&self) -> bool {
        !self.storage.is_empty()
    }

    /// Whether `field` may appear in a field selector on this resource.
    pub fn selectable(&self, field: &str) -> bool {
        field == "metadata.name"
            || (self.namespaced && field == "metadata.namespace")
            || self.selectable_fields.contains(&field)
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[&str] = &["status"];
const STATUS_SCALE: &[&str] = &["status", "scale"];

macro_rules! resource {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, short: $short:expr,
     cat: $cat:expr, namespaced: $ns:expr, sub: $sub:expr, verbs: $verbs:expr, storage: $storage:expr,
     fields: $fields:expr) => {
        Resource {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            short_names: $short,
            categories: $cat,
            namespaced: $ns,
            subresources: $sub,
            verbs: $verbs,
            storage: $storage,
            selectable_fields: $fields,
        }
    };
}

/// Every resource, in the order discovery lists them.
pub static RESOURCES: &[Resource] = &[
    // core/v1
    resource!("", "v1", "Binding", "bindings", "binding", short: NONE, cat: NONE, namespaced: true,
        sub: NONE, verbs: Verbs::CreateOnly, storage: "", fields: NONE),
    resource!("", "v1", "ConfigMap", "configmaps", "configmap", short: &["cm"], cat: NONE, namespaced: true,
        sub: NONE, verbs: Verbs::All, storage: "configmaps", fields: NONE),
    resource!("", "v1", "Endpoints", "endpoints", "endpoints", short: &["ep"], cat: NONE, namespaced: true,
        sub: NONE, verbs: Verbs::All, storage: "services/endpoints", fields: NONE),
    resource!("", "v1", "Event", "events", "event", short: &["ev"], cat: NONE, namespaced: true,
        sub: NONE, verbs: Verbs::All, storage: "events",
        fields: &["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                  "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                  "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"]),
    resource!("", "v1", "LimitRange", "limitranges", "limitrange", short: &["limits"], cat: NONE, namespaced: true,
        sub: NONE, verbs: Verbs::All, storage: "limitranges", fields: NONE),
    resource!("", "v1", "Namespace", "namespaces", "namespace", short: &["ns"], cat: NONE, namespaced: false,
        sub: &["finalize", "status"], verbs: Verbs::NoDeleteCollection, storage: "namespaces",
        fields: &["status.phase"]),
    resource!("", "v1", "Node", "nodes", "node", short: &["no"], cat: NONE, namespaced: false,
        sub: &["proxy", "status"], verbs: Verbs::All, storage: "minions", fields: &["spec.unschedulable"]),
    resource!("", "v1", "Pod", "pods", "pod", short: &["po"], cat: ALL, namespaced: true,
        sub: &["attach", "binding", "eviction", "exec", "log", "portforward", "proxy", "status"],
        verbs: Verbs::All, storage: "pods",
        fields: &["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                  "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]),
    resource!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", short: &["quota"], cat: NONE,
        namespaced: true, sub: STATUS, verbs: Verbs::All, storage: "resourcequotas", fields: NONE),
    resource!("", "v1", "Secret", "secrets", "secret", short: NONE, cat: NONE, namespaced: true,
        sub: NONE, verbs: Verbs::All, storage: "secrets", fields: &["type"]),
    resource!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", short: &["sa"], cat: NONE,
        namespaced: true, sub: &["token"], verbs: Verbs::All, storage: "serviceaccounts", fields: NONE),
    resource!("", "v1", "Service", "services", "service", short: &["svc"], cat: ALL, namespaced: true,
        sub: &["proxy", "status"], verbs: Verbs::All, storage: "services/specs", fields: &["spec.clusterIP", "spec.type"]),
    // apps/v1
    resource!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", short: NONE,
        cat: NONE, namespaced: true, sub: NONE, verbs: Verbs::All, storage: "controllerrevisions", fields: NONE),
    resource!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", short: &["ds"], cat: ALL, namespaced: true,
        sub: STATUS, verbs: Verbs::All, storage: "daemonsets", fields: NONE),
    resource!("apps", "v1", "Deployment", "deployments", "deployment", short: &["deploy"], cat: ALL,
        namespaced: true, sub: STATUS_SCALE, verbs: Verbs::All, storage: "deployments", fields: NONE),
    resource!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", short: &["rs"], cat: ALL, namespaced: true,
        sub: STATUS_SCALE, verbs: Verbs::All, storage: "replicasets", fields: NONE),
    resource!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", short: &["sts"], cat: ALL,
        namespaced: true, sub: STATUS_SCALE, verbs: Verbs::All, storage: "statefulsets", fields: NONE),
    // batch/v1
    resource!("batch", "v1", "CronJob", "cronjobs", "cronjob", short: &["cj"], cat: ALL, namespaced: true,
        sub: STATUS, verbs: Verbs::All, storage: "cronjobs", fields: NONE),
    resource!("batch", "v1", "Job", "jobs", "job", short: NONE, cat: ALL, namespaced: true,
        sub: STATUS, verbs: Verbs::All, storage: "jobs", fields: &["status.successful"]),
    // coordination.k8s.io/v1
    resource!("coordination.k8s.io", "v1", "Lease", "leases", "lease", short: NONE, cat: NONE,
        namespaced: true, sub: NONE, verbs: Verbs::All, storage: "leases", fields: NONE),
    // discovery.k8s.io/v1
    resource!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", short: NONE,
        cat: NONE, namespaced: true, sub: NONE, verbs: Verbs::All, storage: "endpointslices",
        fields: &["addressType"]),
    // events.k8s.io/v1 is not served yet: it shares core/v1's stored events in another shape,
    // which needs a conversion both ways.
    // rbac.authorization.k8s.io/v1
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
        "clusterrolebinding", short: NONE, cat: NONE, namespaced: false, sub: NONE, verbs: Verbs::All,
        storage: "clusterrolebindings", fields: NONE),
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", short: NONE,
        cat: NONE, namespaced: false, sub: NONE, verbs: Verbs::All, storage: "clusterroles", fields: NONE),
    resource!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", short: NONE,
        cat: NONE, namespaced: true, sub: NONE, verbs: Verbs::All, storage: "rolebindings", fields: NONE),
    resource!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", short: NONE, cat: NONE,
        namespaced: true, sub: NONE, verbs: Verbs::All, storage: "roles", fields: NONE),
    // scheduling.k8s.io/v1
    resource!("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", short: &["pc"],
        cat: NONE, namespaced: false, sub: NONE, verbs: Verbs::All, storage: "priorityclasses", fields: NONE),
    // authorization.k8s.io/v1
    resource!("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        "selfsubjectaccessreview", short: NONE, cat: NONE, namespaced: false, sub: NONE,
        verbs: Verbs::CreateOnly, storage: "", fields: NONE),
];

/// The API groups in the order kube-apiserver's discovery lists them (core first).
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

/// The versions served for `group`.
pub fn versions(group: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        if !out.contains(&r.version) {
            out.push(r.version);
        }
    }
    out
}

/// The resources of one group version.
pub fn of(group: &str, version: &str) -> impl Iterator<Item = &'static Resource> {
    let group = group.to_string();
    let version = version.to_string();
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// The resource with this group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of this group and kind (any version), for objects that name their own type.
pub fn by_kind(group: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_are_kube_apiservers() {
        assert_eq!(find("", "v1", "nodes").map(|r| r.storage), Some("minions"));
        assert_eq!(
            find("", "v1", "services").map(|r| r.storage),
            Some("services/specs")
        );
        assert_eq!(
            find("", "v1", "endpoints").map(|r| r.storage),
            Some("services/endpoints")
        );
        assert_eq!(
            find("coordination.k8s.io", "v1", "leases").map(|r| r.namespaced),
            Some(true)
        );
    }

    #[test]
    fn every_row_is_unique_and_named_consistently() {
        for (i, a) in RESOURCES.iter().enumerate() {
            assert_eq!(a.plural.to_lowercase(), a.plural);
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "{} twice",
                    a.plural
                );
            }
        }
        assert_eq!(groups().first(), Some(&"apps"));
        assert_eq!(versions(""), vec!["v1"]);
    }
}
