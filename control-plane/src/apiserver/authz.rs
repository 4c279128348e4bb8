//! May this user do this? kube's RBAC authorizer (`plugin/pkg/auth/authorizer/rbac`):
//! `system:masters` may do anything; anyone else gets what the rules of the roles bound to
//! them (by ClusterRoleBindings anywhere, RoleBindings in the request's namespace) allow.
//! The decision is a pure function of the request's attributes and the RBAC objects, so it
//! is tested without a server; the caller fetches the objects. The bootstrap policy
//! (cluster-admin, admin, edit, view and the discovery roles) is here too, as kube's
//! `bootstrappolicy` package has it, and is written to the store at start-up.

use serde_json::{Value, json};

use super::authn::{MASTERS, User};

/// What a request wants to do, as the authorizer sees it.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    pub verb: String,
    /// Resource requests: group, resource, subresource, namespace, name.
    pub resource_request: bool,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Non-resource requests: the path.
    pub path: String,
}

impl Attributes {
    /// kube's denial text: `User "bob" cannot list resource "pods" in API group "" in the namespace "default"`.
    pub fn denial(&self, user: &User) -> String {
        if !self.resource_request {
            return format!(
                "User \"{}\" cannot {} path \"{}\"",
                user.name, self.verb, self.path
            );
        }
        let resource = if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        };
        let scope = if self.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", self.namespace)
        };
        format!(
            "User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {}",
            user.name, self.verb, resource, self.group, scope
        )
    }
}

/// Whether one PolicyRule (JSON) allows the request.
pub fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let list = |field: &str| -> Vec<&str> {
        rule.get(field)
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let verbs = list("verbs");
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !a.resource_request {
        return list("nonResourceURLs").iter().any(|u| {
            *u == "*" || *u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
        });
    }
    let groups = list("apiGroups");
    if !groups.iter().any(|g| *g == "*" || *g == a.group) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources = list("resources");
    let resource_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(a.subresource.as_str()))
    });
    if !resource_ok {
        return false;
    }
    let names = list("resourceNames");
    names.is_empty() || names.contains(&a.name.as_str())
}

/// Whether a binding's subjects include the user.
pub fn binds(binding: &Value, user: &User, binding_namespace: &str) -> bool {
    let Some(subjects) = binding.get("subjects").and_then(Value::as_array) else {
        return false;
    };
    subjects.iter().any(|s| {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        match kind {
            "User" => name == user.name,
            "Group" => user.in_group(name),
            "ServiceAccount" => {
                let ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(binding_namespace);
                user.name == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    })
}

/// The role a binding refers to: (kind, name).
pub fn role_ref(binding: &Value) -> Option<(&str, &str)> {
    let r = binding.get("roleRef")?;
    Some((r.get("kind")?.as_str()?, r.get("name")?.as_str()?))
}

/// The RBAC objects that can matter to one request.
#[derive(Default)]
pub struct Policy {
    pub cluster_roles: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
    /// Roles and RoleBindings of the request's namespace.
    pub roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
}

/// The decision for `user` doing `a` under `policy`.
pub fn allowed(user: &User, a: &Attributes, policy: &Policy) -> bool {
    if user.in_group(MASTERS) {
        return true;
    }
    let named = |list: &[Value], name: &str| -> Option<Value> {
        list.iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let rules_allow = |role: Option<Value>| {
        role.and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
            .is_some_and(|rules| rules.iter().any(|rule| rule_allows(rule, a)))
    };
    for b in &policy.cluster_role_bindings {
        if binds(b, user, "")
            && let Some(("ClusterRole", name)) = role_ref(b)
            && rules_allow(named(&policy.cluster_roles, name))
        {
            return true;
        }
    }
    if a.namespace.is_empty() {
        return false;
    }
    for b in &policy.role_bindings {
        if !binds(b, user, &a.namespace) {
            continue;
        }
        let role = match role_ref(b) {
            Some(("ClusterRole", name)) => named(&policy.cluster_roles, name),
            Some(("Role", name)) => named(&policy.roles, name),
            _ => None,
        };
        if rules_allow(role) {
            return true;
        }
    }
    false
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

/// kube's bootstrap ClusterRoles (a subset of `bootstrappolicy.ClusterRoles()`: the ones users
/// and the control plane's components rely on).
pub fn bootstrap_cluster_roles() -> Vec<Value> {
    let all_verbs: Vec<&str> = READ.iter().chain(WRITE).copied().collect();
    let namespaced_core = [
        "pods",
        "pods/attach",
        "pods/exec",
        "pods/portforward",
        "pods/proxy",
        "pods/log",
        "pods/status",
        "configmaps",
        "endpoints",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "secrets",
        "serviceaccounts",
        "services",
        "services/proxy",
        "events",
        "limitranges",
        "resourcequotas",
    ];
    let apps = [
        "daemonsets",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "statefulsets",
        "statefulsets/scale",
        "controllerrevisions",
    ];
    let role = |name: &str, rules: Vec<Value>, aggregate_label: Option<&str>| {
        let mut r = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            },
            "rules": rules,
        });
        if let Some(label) = aggregate_label {
            r["metadata"]["labels"][label] = json!("true");
        }
        r
    };
    let edit_rules = vec![
        rule(&[""], &namespaced_core, &all_verbs),
        rule(&["apps"], &apps, &all_verbs),
        rule(
            &["batch"],
            &["jobs", "cronjobs", "jobs/status", "cronjobs/status"],
            &all_verbs,
        ),
        rule(&["discovery.k8s.io"], &["endpointslices"], &all_verbs),
        rule(&["coordination.k8s.io"], &["leases"], &all_verbs),
        rule(&[""], &["namespaces"], READ),
    ];
    let view_rules = vec![
        rule(
            &[""],
            &[
                "pods",
                "pods/log",
                "pods/status",
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "serviceaccounts",
                "services",
                "events",
                "limitranges",
                "resourcequotas",
                "namespaces",
                "namespaces/status",
            ],
            READ,
        ),
        rule(&["apps"], &apps, READ),
        rule(
            &["batch"],
            &["jobs", "cronjobs", "jobs/status", "cronjobs/status"],
            READ,
        ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
    ];
    let mut admin_rules = edit_rules.clone();
    admin_rules.push(rule(
        &["rbac.authorization.k8s.io"],
        &["roles", "rolebindings"],
        &all_verbs,
    ));
    admin_rules.push(rule(
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews"],
        &["create"],
    ));
    vec![
        role(
            "cluster-admin",
            vec![
                json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
                json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            ],
            None,
        ),
        role(
            "admin",
            admin_rules,
            Some("rbac.authorization.k8s.io/aggregate-to-admin"),
        ),
        role(
            "edit",
            edit_rules,
            Some("rbac.authorization.k8s.io/aggregate-to-edit"),
        ),
        role(
            "view",
            view_rules,
            Some("rbac.authorization.k8s.io/aggregate-to-view"),
        ),
        role(
            "system:discovery",
            vec![
                json!({"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                "verbs": ["get"]}),
            ],
            None,
        ),
        role(
            "system:basic-user",
            vec![rule(
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                &["create"],
            )],
            None,
        ),
        role(
            "system:public-info-viewer",
            vec![
                json!({"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                "verbs": ["get"]}),
            ],
            None,
        ),
    ]
}

/// kube's bootstrap ClusterRoleBindings for the roles above.
pub fn bootstrap_cluster_role_bindings() -> Vec<Value> {
    let binding = |name: &str, role: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
            .collect();
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects,
        })
    };
    vec![
        binding("cluster-admin", "cluster-admin", &[MASTERS]),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> User {
        User {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn pods(verb: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            resource: "pods".into(),
            namespace: ns.into(),
            ..Default::default()
        }
    }

    fn bootstrap() -> Policy {
        Policy {
            cluster_roles: bootstrap_cluster_roles(),
            cluster_role_bindings: bootstrap_cluster_role_bindings(),
            ..Default::default()
        }
    }

    #[test]
    fn masters_may_do_anything_others_what_they_are_bound_to() {
        let policy = bootstrap();
        assert!(allowed(
            &user("admin", &[MASTERS]),
            &pods("delete", "x"),
            &policy
        ));
        let bob = user("bob", &["system:authenticated"]);
        assert!(!allowed(&bob, &pods("list", "default"), &policy));
        let mut policy = policy;
        policy.role_bindings.push(json!({
            "metadata": {"name": "bob-view", "namespace": "default"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "bob"}],
        }));
        assert!(allowed(&bob, &pods("list", "default"), &policy));
        assert!(!allowed(&bob, &pods("delete", "default"), &policy));
        let discovery = Attributes {
            verb: "get".into(),
            path: "/apis/apps/v1".into(),
            ..Default::default()
        };
        assert!(allowed(&bob, &discovery, &policy));
    }

    #[test]
    fn rules_match_subresources_and_names() {
        let r = json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"], "resourceNames": ["web"]});
        let mut a = pods("get", "default");
        a.subresource = "log".into();
        a.name = "web".into();
        assert!(rule_allows(&r, &a));
        a.name = "db".into();
        assert!(!rule_allows(&r, &a));
        let any_status = json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]});
        a.subresource = "status".into();
        assert!(rule_allows(&any_status, &a));
    }

    #[test]
    fn denials_read_as_kube_writes_them() {
        let bob = user("bob", &[]);
        assert_eq!(
            pods("list", "default").denial(&bob),
            "User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let nodes = Attributes {
            verb: "get".into(),
            resource_request: true,
            resource: "nodes".into(),
            ..Default::default()
        };
        assert_eq!(
            nodes.denial(&bob),
            "User \"bob\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }
}
