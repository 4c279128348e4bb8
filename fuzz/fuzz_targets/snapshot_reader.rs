//! Fuzz target: snapshot bytes from outside — a backup file given to `keel snapshot
//! status|restore`, and the `StateMachineImage` a leader (or anyone on the peer port) sends
//! in `InstallSnapshot`.
//!
//! Input: a selector byte, then
//! - 0 mod 4: a whole backup file for `snapshot_file::decode` and `snapshot_file::status`;
//! - 1 mod 4: an image length (u64 BE) and image bytes that the target wraps as a backup file
//!   with a correct SHA-256 (a random mutation of a real file only ever breaks the checksum);
//! - otherwise: an encoded `keelraft.StateMachineImage` installed the way a follower installs
//!   a leader's snapshot (`RaftStateMachine::install_snapshot` with `SnapshotImage::Encoded`:
//!   decode, `Mvcc::install_image`, watcher and lessor resync), then read back (a full range,
//!   HashKV, watch history), and, when the selector's bit 4 is set, the store file is
//!   reopened (`Mvcc::open` rebuilds the index from what was installed, as after a restart or
//!   a `snapshot restore`).

#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use keel_proto::etcdserverpb::RangeRequest;
use keel_store::mvcc::Mvcc;
use keel_store::mvcc::key_range::KeyRange;
use keel_store::raft::SnapshotMeta;
use keel_store::raft::state_machine::{SnapshotImage, StateMachine};
use keel_store::snapshot_file;
use keel_store::watch::{WatchConfig, WatchHub};
use libfuzzer_sys::fuzz_target;
use openraft::storage::RaftStateMachine;
use sha2::{Digest, Sha256};

struct Store {
    path: PathBuf,
    mvcc: Option<Arc<Mvcc>>,
    _dir: tempfile::TempDir,
}

fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = keel_fuzz::shm_dir();
        let path = dir.path().join("db");
        let mvcc = Arc::new(Mvcc::open(&path).expect("open the fuzz store"));
        Mutex::new(Store {
            path,
            mvcc: Some(mvcc),
            _dir: dir,
        })
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// `MAGIC`, the given length, the image, padding to 512 and the SHA-256: a file whose checksum
/// is right whatever the rest says.
fn backup_file(bytes: &[u8]) -> Vec<u8> {
    let (length, image) = bytes.split_at(bytes.len().min(8));
    let mut file = snapshot_file::MAGIC.to_vec();
    let mut len = [0u8; 8];
    len[..length.len()].copy_from_slice(length);
    file.extend_from_slice(&len);
    file.extend_from_slice(image);
    file.resize(file.len().div_ceil(512) * 512, 0);
    let checksum = Sha256::digest(&file);
    file.extend_from_slice(&checksum);
    file
}

fn install(selector: u8, bytes: &[u8]) {
    let mut store = store().lock().unwrap_or_else(|p| p.into_inner());
    let Some(mvcc) = store.mvcc.clone() else {
        return;
    };
    let hub = WatchHub::new(mvcc.clone(), 1, WatchConfig::default());
    let mut state_machine = StateMachine::new(mvcc.clone(), hub);
    let meta = SnapshotMeta::default();
    let installed = runtime()
        .block_on(state_machine.install_snapshot(&meta, SnapshotImage::Encoded(bytes.to_vec())));
    if installed.is_err() {
        return;
    }
    let all = RangeRequest {
        key: vec![0],
        range_end: vec![0],
        limit: 1000,
        ..Default::default()
    };
    let _ = mvcc.range(&all);
    let _ = mvcc.hash_kv(0);
    let _ = mvcc.history(&KeyRange::new(&[0], &[0]), 1, 1000);
    let _ = mvcc.export_image();
    if selector & 0x10 != 0 {
        drop(state_machine);
        drop(mvcc);
        store.mvcc = None;
        // The fuzz store is the only owner now: reopen it as a restarted member would.
        match Mvcc::open(&store.path) {
            Ok(mvcc) => store.mvcc = Some(Arc::new(mvcc)),
            Err(_) => {
                // A refused file is an acceptable outcome; start the next input afresh.
                let _ = std::fs::remove_file(&store.path);
                store.mvcc = Some(Arc::new(Mvcc::open(&store.path).expect("a fresh store")));
            }
        }
        if let Some(mvcc) = &store.mvcc {
            let _ = mvcc.range(&all);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = keel_fuzz::split(data) else {
        return;
    };
    match selector % 4 {
        0 => {
            let _ = snapshot_file::decode(bytes);
            let _ = snapshot_file::status(bytes);
        }
        1 => {
            let file = backup_file(bytes);
            if let Ok(image) = snapshot_file::decode(&file) {
                let _ = snapshot_file::status(&file);
                assert_eq!(
                    snapshot_file::decode(&snapshot_file::encode(&image)),
                    Ok(image)
                );
            }
        }
        _ => install(selector, bytes),
    }
});
