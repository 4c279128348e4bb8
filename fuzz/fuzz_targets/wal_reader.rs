//! Fuzz target: a member's Raft log directory (`member/wal/`) as found on disk.
//!
//! Input: a mode byte, then either
//! - mode even: the raw bytes of the log's one chunk file (`r-…0.wal`), written as is; or
//! - mode odd: a list of records, each `type u8, length u16 BE, payload`, that the target frames
//!   the way raft-log does (u32 type, payload, CRC-32) before writing them. Without this,
//!   almost every mutation of a real WAL only breaks a checksum and stops at the first record.
//!
//! The dir is then opened with `LogStore::open` (Keel's damage checks, then raft-log's replay)
//! and everything is read back: identity, log state, vote, committed id, every entry (protobuf
//! `keelraft.Entry` decode + `codec::entry_from_pb`). Any outcome is fine except a panic,
//! an abort or running out of memory: a damaged data dir must be refused with an error.

#![no_main]

use keel_store::raft::log_store::LogStore;
use libfuzzer_sys::fuzz_target;
use openraft::storage::{RaftLogReader, RaftLogStorage};

fn records(mut data: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::new();
    while let [record_type, hi, lo, rest @ ..] = data {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(rest.len());
        let (payload, next) = rest.split_at(len);
        keel_fuzz::frame_record(&mut chunk, u32::from(*record_type), payload);
        data = next;
    }
    chunk
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = keel_fuzz::split(data) else {
        return;
    };
    let chunk = if mode % 2 == 0 {
        bytes.to_vec()
    } else {
        records(bytes)
    };
    let dir = keel_fuzz::shm_dir();
    let wal = keel_fuzz::write_wal(dir.path(), &chunk);
    let Ok(mut log) = LogStore::open(&wal) else {
        return;
    };
    runtime().block_on(async {
        let _ = log.identity();
        let _ = log.has_state();
        let _ = log.read_vote().await;
        let _ = log.read_committed().await;
        if let Ok(state) = log.get_log_state().await {
            let first = state.last_purged_log_id.map_or(0, |id| id.index + 1);
            let last = state.last_log_id.map_or(0, |id| id.index + 1);
            // In pages, as openraft reads: one huge range would only measure the allocator. The
            // first and the last few pages: a crafted log may claim indexes near u64::MAX.
            let _ = log.try_get_log_entries(last.saturating_sub(64)..last).await;
            let mut at = first;
            let mut pages = 0;
            while at < last && pages < 64 {
                pages += 1;
                let end = at.saturating_add(64).min(last);
                let _ = log.try_get_log_entries(at..end).await;
                at = end;
            }
        }
    });
});
