//! What kube-apiserver writes when it starts (its post-start hooks): the system namespaces
//! (`default`, `kube-system`, `kube-public`, `kube-node-lease`) and the bootstrap RBAC policy.
//! Each object is created only if missing, so several api-servers starting together, or a
//! restart, change nothing that exists.

use serde_json::{Value, json};

use crate::apiserver::ApiServer;
use crate::apiserver::authz;
use crate::apiserver::defaults;
use crate::apiserver::objects::{self, CreateContext};
use crate::apiserver::resources;
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::StorageError;

pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn ensure(server: &ApiServer) -> Result<(), ApiError> {
    let mut objects: Vec<(&'static str, &'static str, Value)> = Vec::new();
    for ns in SYSTEM_NAMESPACES {
        let mut obj = json!({"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        defaults::apply("", "Namespace", &mut obj);
        objects.push(("", "namespaces", obj));
    }
    for role in authz::bootstrap_cluster_roles() {
        objects.push(("rbac.authorization.k8s.io", "clusterroles", role));
    }
    for binding in authz::bootstrap_cluster_role_bindings() {
        objects.push(("rbac.authorization.k8s.io", "clusterrolebindings", binding));
    }
    let mut created = 0;
    for (group, plural, mut obj) in objects {
        let Some(r) = resources::RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
        else {
            continue;
        };
        let cx = CreateContext {
            now: super::now(),
            random: super::random()?,
            namespace: None,
        };
        objects::prepare_create(r, &mut obj, &cx)?;
        let name = objects::meta_str(&obj, "name").unwrap_or("").to_string();
        let key = server.storage().key(r.storage, None, &name);
        match server.storage().create(&key, &obj, 0).await {
            Ok(_) => created += 1,
            Err(StorageError::AlreadyExists) => {}
            Err(e) => return Err(ApiError::internal(format!("creating {plural} {name}: {e}"))),
        }
    }
    if created > 0 {
        tracing::info!(
            created,
            "bootstrap objects written (system namespaces, RBAC policy)"
        );
    }
    Ok(())
}
