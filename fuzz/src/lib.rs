//! Shared pieces of Keel's fuzz targets: the selector byte that picks which message type the
//! rest of an input is decoded as, the long-lived store a target runs requests against, and the
//! framing of raft-log records (so that mutations are not all stopped by the CRC).
//!
//! Every target takes `selector byte + payload`: one target per attack surface (client gRPC,
//! peer gRPC, WAL on disk, snapshot/backup bytes) rather than one per message type keeps the
//! number of runs small while libFuzzer still learns each message's shape from the seeds.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use keel_store::mvcc::Mvcc;
use raft_log::codeq::config::{CodeqConfig, Crc32fast};

/// Splits an input into its selector byte and the bytes to decode.
pub fn split(data: &[u8]) -> Option<(u8, &[u8])> {
    let (&selector, rest) = data.split_first()?;
    Some((selector, rest))
}

/// A fresh temp dir on /dev/shm (tmpfs: the targets measure decoding, not the disk).
pub fn shm_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("keel-fuzz-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temp dir")
}

/// An MVCC store in its own temp dir, replaced every `REOPEN_EVERY` inputs so that the store a
/// target runs against stays small (and the exec rate steady) however long the run.
pub struct FuzzStore {
    pub mvcc: Arc<Mvcc>,
    _dir: tempfile::TempDir,
    uses: u32,
}

const REOPEN_EVERY: u32 = 5_000;

impl FuzzStore {
    pub fn new() -> Self {
        let dir = shm_dir();
        let mvcc = Arc::new(Mvcc::open(&dir.path().join("db")).expect("open the fuzz store"));
        Self {
            mvcc,
            _dir: dir,
            uses: 0,
        }
    }

    /// The store to use for the next input.
    pub fn for_next_input(&mut self) -> Arc<Mvcc> {
        self.uses += 1;
        if self.uses > REOPEN_EVERY {
            *self = Self::new();
        }
        self.mvcc.clone()
    }
}

impl Default for FuzzStore {
    fn default() -> Self {
        Self::new()
    }
}

/// raft-log's record framing: a big-endian u32 record type, the payload, then a CRC-32 of both
/// (as a big-endian u64). Used by `wal_reader`'s structured mode and by the seed generator.
pub fn frame_record(out: &mut Vec<u8>, record_type: u32, payload: &[u8]) {
    let mut w = Crc32fast::new_writer(&mut *out);
    let _ = w.write_all(&record_type.to_be_bytes());
    let _ = w.write_all(payload);
    let _ = w.write_checksum();
}

/// Writes `chunk` as the first (and only) chunk file of a raft-log dir at `dir/wal`.
pub fn write_wal(dir: &Path, chunk: &[u8]) -> std::path::PathBuf {
    let wal = dir.join("wal");
    std::fs::create_dir_all(&wal).expect("create the wal dir");
    let name = raft_log::chunked_wal::Config::chunk_file_name(raft_log::ChunkId(0));
    std::fs::write(wal.join(name), chunk).expect("write the chunk");
    wal
}
