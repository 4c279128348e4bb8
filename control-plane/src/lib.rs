//! `keel-control-plane`: the Kubernetes control plane on an etcd v3 store.
//!
//! - [`apiserver`]: the Kubernetes API (kube-apiserver's paths, storage layout, semantics
//!   and errors) over `keel-client`, so it runs on Keel or on etcd unchanged.
//!
//! The scheduler and controllers will live beside it as clients of the api-server only.

pub mod apiserver;
