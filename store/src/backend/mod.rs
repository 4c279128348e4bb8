//! The durable state-machine file: one redb database (copy-on-write B+tree, crash-safe, one
//! writer and consistent read snapshots, the Rust counterpart of etcd's bbolt).
//!
//! Three tables:
//! - `kv`: revision (as an ordered u128, see `mvcc::revision`) -> encoded `mvccpb.KeyValue`.
//!   A tombstone is stored as a KeyValue with `version == 0`, as etcd does.
//! - `meta`: the store's counters (current and compacted revision, cluster id) and the Raft
//!   state the data corresponds to (last applied log id, membership), so that one commit makes
//!   both durable together and a restart neither loses nor re-applies an entry.
//! - `leases`: lease id -> granted and checkpointed TTL (attached keys are derived from `kv`).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Result, StoreError};

pub const KV: TableDefinition<u128, &[u8]> = TableDefinition::new("kv");
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Lease id -> encoded `keelraft.LeaseRecord`.
pub const LEASES: TableDefinition<i64, &[u8]> = TableDefinition::new("leases");

/// Keys of the `meta` table.
pub mod meta {
    pub const CURRENT_REVISION: &str = "current_revision";
    pub const COMPACT_REVISION: &str = "compact_revision";
    pub const CLUSTER_ID: &str = "cluster_id";
    pub const APPLIED_LOG_ID: &str = "applied_log_id";
    pub const MEMBERSHIP: &str = "membership";
}

pub struct Backend {
    db: Database,
    path: PathBuf,
}

impl Backend {
    /// Opens (or creates) the state-machine file. A file that is not a valid redb database is
    /// refused with an error naming it; it is never replaced by an empty one.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|err| {
            StoreError::Corrupt(format!(
                "cannot open state machine file {}: {err}",
                path.display()
            ))
        })?;
        let txn = db.begin_write()?;
        txn.open_table(KV)?;
        txn.open_table(META)?;
        txn.open_table(LEASES)?;
        txn.commit()?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    pub fn begin_read(&self) -> Result<redb::ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    pub fn begin_write(&self) -> Result<redb::WriteTransaction> {
        Ok(self.db.begin_write()?)
    }

    /// Size of the file on disk (etcd's dbSize).
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }
}

pub fn read_i64<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    key: &str,
) -> Result<i64> {
    match table.get(key)? {
        None => Ok(0),
        Some(guard) => {
            let bytes: [u8; 8] = guard
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("meta key {key} is not an i64")))?;
            Ok(i64::from_be_bytes(bytes))
        }
    }
}

pub fn read_bytes<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    key: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(table.get(key)?.map(|guard| guard.value().to_vec()))
}
