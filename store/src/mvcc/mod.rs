//! Multi-version concurrency control with etcd's semantics: every write gets the next main
//! revision, every change inside it a sub revision; keys live in generations ended by
//! tombstones; old revisions stay readable until compacted.
//!
//! - `revision`: the (main, sub) pair and its backend key.
//! - `key_index`: one key's history; `index`: the tree of them; `key_range`: request ranges.
//! - `kvstore`: the store itself, its read path (Range) and its apply path (Put, DeleteRange,
//!   Txn, Compact) run by the Raft state machine in log order.
//! - `leases`: the replicated lease records and the keys attached to each.
//! - `maintenance`: consistency hashes (Hash, HashKV) and defragmentation.
//! - `validate`: the checks etcd makes on a request before it is proposed.

pub mod index;
pub mod key_index;
pub mod key_range;
pub mod kvstore;
pub mod leases;
pub mod maintenance;
pub mod revision;
pub mod validate;

pub use kvstore::{
    Applied, ApplyBatch, History, Mvcc, RaftMeta, adds_data, alarms_of_type, image_of,
};
pub use leases::LeaseInfo;
pub use maintenance::KvHash;
pub use revision::Revision;
