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
//!
//! Durability: the Raft log is what makes a write durable (it is fsynced on a quorum before
//! anyone is answered). Apply batches therefore commit here without an fsync of their own, and
//! at most every [`DURABLE_COMMIT_INTERVAL`] one commit is made durable, carrying every commit
//! before it (etcd's backend batching, 100 ms, for the same reason). After a crash the file is
//! at its last durable commit, a consistent applied log id, and openraft re-applies the entries
//! after it from the log. The log keeps them: it is purged only behind a snapshot, and building
//! a snapshot makes the state it was read from durable first ([`Backend::persist`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

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
    /// Raised alarms: an encoded `etcdserverpb.AlarmResponse` (only its `alarms`).
    pub const ALARMS: &str = "alarms";
    /// Users, roles and the auth switch: an encoded `keelraft.AuthState`.
    pub const AUTH: &str = "auth";
}

pub struct Backend {
    /// Transactions begin under the read side; defragmentation takes the write side, because
    /// redb compacts only a database nobody is using (`Database::compact` needs `&mut`).
    db: RwLock<Database>,
    path: PathBuf,
    /// When an apply batch last committed durably.
    last_durable_commit: Mutex<Instant>,
    /// Some commit since the last durable one has not been fsynced.
    unsynced: AtomicBool,
}

/// The longest an applied batch stays committed without an fsync of the state-machine file.
pub const DURABLE_COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// How long a defragmentation waits for transactions begun before it to end.
const DEFRAG_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

impl Backend {
    /// Opens (or creates) the state-machine file. A file that is not a valid redb database is
    /// refused with an error naming it; it is never replaced by an empty one.
    ///
    /// An existing file is checked page by page first (`Database::check_integrity`): redb
    /// verifies its page checksums only when it repairs a file after a crash, so bytes flipped
    /// on disk would otherwise be served as data. A file that fails the check is refused, even
    /// when redb could repair it (a repair may roll it back to an earlier commit, and only a
    /// person can tell whether the log still holds what that loses). The check reads the whole
    /// file, as rebuilding the index at start does anyway: a 128 MB file of 500k revisions on
    /// tmpfs took 50 ms to check out of a 283 ms `Mvcc::open` (2026-11-21, 2 shared cores).
    pub fn open(path: &Path) -> Result<Self> {
        let existed = path.exists();
        let mut db = Database::create(path).map_err(|err| {
            StoreError::Corrupt(format!(
                "cannot open state machine file {}: {err}",
                path.display()
            ))
        })?;
        if existed {
            let clean = db.check_integrity().map_err(|err| {
                StoreError::Corrupt(format!(
                    "state machine file {} failed its integrity check: {err}",
                    path.display()
                ))
            })?;
            if !clean {
                return Err(StoreError::Corrupt(format!(
                    "state machine file {} failed its integrity check (damaged pages; redb repaired what it could, which may have rolled it back): refusing to use it",
                    path.display()
                )));
            }
        }
        let txn = db.begin_write()?;
        txn.open_table(KV)?;
        txn.open_table(META)?;
        txn.open_table(LEASES)?;
        txn.commit()?;
        Ok(Self {
            db: RwLock::new(db),
            path: path.to_path_buf(),
            last_durable_commit: Mutex::new(Instant::now()),
            unsynced: AtomicBool::new(false),
        })
    }

    /// The database, waiting out a defragmentation in progress. On a multi-threaded tokio
    /// runtime the wait hands this worker's other tasks (Raft heartbeats among them) to another
    /// thread first, so a long defragmentation blocks storage, not the whole member.
    fn db(&self) -> RwLockReadGuard<'_, Database> {
        if let Ok(db) = self.db.try_read() {
            return db;
        }
        let wait = || self.db.read().unwrap_or_else(|p| p.into_inner());
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    pub fn begin_read(&self) -> Result<redb::ReadTransaction> {
        Ok(self.db().begin_read()?)
    }

    pub fn begin_write(&self) -> Result<redb::WriteTransaction> {
        Ok(self.db().begin_write()?)
    }

    /// Commits an apply batch: durably if `durable` or if the last durable commit is more than
    /// [`DURABLE_COMMIT_INTERVAL`] ago, else without an fsync (see the module docs).
    pub fn commit_apply(&self, mut txn: redb::WriteTransaction, durable: bool) -> Result<()> {
        let mut last_durable = self
            .last_durable_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let durable = durable || last_durable.elapsed() >= DURABLE_COMMIT_INTERVAL;
        if !durable {
            txn.set_durability(Durability::None)
                .map_err(|err| StoreError::Storage(format!("set durability: {err}")))?;
        }
        txn.commit()?;
        if durable {
            *last_durable = Instant::now();
            self.unsynced.store(false, Ordering::Release);
        } else {
            self.unsynced.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Makes every commit so far durable (an empty durable commit carries the ones before it).
    pub fn persist(&self) -> Result<()> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let txn = self.begin_write()?;
        txn.commit()?;
        *self
            .last_durable_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Ok(())
    }

    /// Bytes of the file holding live data (etcd's dbSizeInUse): the allocated pages.
    pub fn size_in_use(&self) -> Result<u64> {
        let txn = self.begin_write()?;
        let stats = txn.stats()?;
        txn.abort()?;
        Ok(stats.allocated_pages() * stats.page_size() as u64)
    }

    /// Rewrites the file without its free pages and shrinks it (etcd's defragment). Blocks
    /// every transaction for its duration; waits for the ones already running to end.
    pub fn defragment(&self) -> Result<()> {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        let deadline = std::time::Instant::now() + DEFRAG_DRAIN_TIMEOUT;
        loop {
            match db.compact() {
                Ok(_) => return Ok(()),
                Err(redb::CompactionError::TransactionInProgress)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(err) => return Err(StoreError::Storage(format!("defragment: {err}"))),
            }
        }
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
