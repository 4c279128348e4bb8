//! The store's maintenance operations: the consistency hashes operators compare across members
//! (etcd's Hash and HashKV) and defragmentation.
//!
//! Both hashes are CRC-32 over what every member stores identically after applying the same
//! log: the MVCC records (revision key and encoded KeyValue). Compaction is replicated and
//! deletes the same records everywhere, so two members at the same revision and compaction
//! revision agree exactly when their data does. The values are not etcd's (etcd hashes its
//! bbolt layout), only comparable between Keel members.

use redb::ReadableTable;

use super::Mvcc;
use super::revision::Revision;
use crate::backend::{KV, LEASES};
use crate::error::{Result, StoreError};

/// What HashKV answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    pub hash: u32,
    /// The store's compaction revision when the hash was taken.
    pub compact_revision: i64,
    /// The revision the hash covers (the request's, or the current one for 0).
    pub hash_revision: i64,
}

impl Mvcc {
    /// CRC-32 of every MVCC record with a main revision <= `revision` (0: the current one).
    pub fn hash_kv(&self, revision: i64) -> Result<KvHash> {
        let (txn, current, compacted) = self.read_view()?;
        let at = if revision <= 0 { current } else { revision };
        if at > current {
            return Err(StoreError::FutureRevision);
        }
        if at < compacted {
            return Err(StoreError::Compacted);
        }
        let table = txn.open_table(KV)?;
        let mut hasher = crc32fast::Hasher::new();
        let end = Revision::new(at + 1, 0).to_key();
        for entry in table.range(..end)? {
            let (key, value) = entry?;
            hasher.update(&key.value().to_be_bytes());
            hasher.update(value.value());
        }
        Ok(KvHash {
            hash: hasher.finalize(),
            compact_revision: compacted,
            hash_revision: at,
        })
    }

    /// CRC-32 of everything stored (records and leases) and the current revision: etcd's Hash.
    pub fn hash(&self) -> Result<(u32, i64)> {
        let (txn, current, compacted) = self.read_view()?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&current.to_be_bytes());
        hasher.update(&compacted.to_be_bytes());
        for entry in txn.open_table(KV)?.iter()? {
            let (key, value) = entry?;
            hasher.update(&key.value().to_be_bytes());
            hasher.update(value.value());
        }
        for entry in txn.open_table(LEASES)?.iter()? {
            let (key, value) = entry?;
            hasher.update(&key.value().to_be_bytes());
            hasher.update(value.value());
        }
        Ok((hasher.finalize(), current))
    }

    /// Bytes of the state-machine file that hold live data (etcd's dbSizeInUse).
    pub fn db_size_in_use(&self) -> Result<u64> {
        self.backend.size_in_use()
    }

    /// Rewrites the state-machine file without its free space; every read and write waits.
    pub fn defragment(&self) -> Result<()> {
        self.backend.defragment()
    }
}
