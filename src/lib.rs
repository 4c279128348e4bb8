//! The `keel` package: what the `keel` and `keelctl` binaries run.
//!
//! - [`apiserver`]: `keel apiserver`, kube-apiserver's flags mapped onto keel-control-plane.
//! - [`certs`]: throwaway local CA and certificates (`keel up --tls`, the TLS tests).
//! - [`ctl`]: the etcdctl-style client behind `keelctl` (commands and etcdctl's output formats).
//! - [`up`]: `keel up`, the local 3-member cluster launcher.
//! - [`member`]: `keel store`, one member's flags mapped onto keel-store's config.
//! - [`snapshot`]: `keel snapshot status|restore`, offline work on backup files.

pub mod apiserver;
pub mod certs;
pub mod ctl;
pub mod member;
pub mod snapshot;
pub mod up;
