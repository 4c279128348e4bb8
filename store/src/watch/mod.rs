//! Watch: etcd's watch streams served from this member's own applied state.
//!
//! - `hub`: the registry of watchers, fan-out of applied batches to synced watchers, replay
//!   from the backend for unsynced ones (etcd's synced/unsynced groups).
//! - `encoded`: responses whose events are encoded once per batch and shared by all watchers.
//!
//! The gRPC side (one task per stream reading create/cancel/progress requests) is in
//! `server::watch`.

pub mod encoded;
pub mod hub;

pub use encoded::EncodedWatchResponse;
pub use hub::{StreamSender, WatchConfig, WatchHub, WatchSpec};
