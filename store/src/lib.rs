//! keel-store: the replicated MVCC store behind Keel.
//!
//! - [`mvcc`]: etcd's multi-version key-value semantics over the durable [`backend`].
//! - `raft`: openraft wiring (log in raft-log, state machine over `mvcc`, peer network).
//! - `lease`: the leader's lessor (lease expiry, revocation, checkpoints).
//! - `server`: the etcd v3 gRPC services and the peer service of one member.

pub mod auth;
pub mod backend;
pub mod config;
pub mod error;
pub mod lease;
pub mod mvcc;

pub use error::{Result, StoreError};
pub mod raft;
pub mod server;
pub mod snapshot_file;
pub mod watch;
