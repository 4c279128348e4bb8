//! `keel snapshot restore`: seeds the data dir of a member of a brand-new cluster from a
//! snapshot file. Every member of the new cluster restores the same file with its own name and
//! peer URLs; each data dir then holds the snapshot's keys, revisions and leases under a new
//! cluster id (derived from the new members, as at any bootstrap), and an empty Raft log: the
//! first start bootstraps Raft from `--initial-cluster` on top of the restored data.
//!
//! The data dir is built next to its final place and renamed into it, so a failed restore
//! leaves nothing behind that a later `keel store` could mistake for a member.

use std::path::Path;

use keel_proto::keelraft::StateMachineImage;

use super::{ServerError, data_dir_error, new_identity};
use crate::config::{ClusterState, MemberConfig};
use crate::mvcc::{Mvcc, RaftMeta};
use crate::raft::log_store::LogStore;
use crate::snapshot_file;

/// What a restore produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub member_id: u64,
    pub cluster_id: u64,
    pub revision: i64,
    pub keys: usize,
}

/// Verifies `snapshot` (the file's bytes) and writes `config.data_dir` from it.
pub async fn restore(snapshot: &[u8], config: &MemberConfig) -> Result<Restored, ServerError> {
    let mut image: StateMachineImage =
        snapshot_file::decode(snapshot).map_err(|err| ServerError::Snapshot(err.to_string()))?;
    let target = &config.data_dir;
    if is_non_empty_dir(target) {
        return Err(data_dir_error(
            target,
            "it already exists and is not empty; restore only into a new data dir",
        ));
    }
    let mut config = config.clone();
    config.initial_cluster_state = ClusterState::New;
    let identity = new_identity(&config).await?;
    image.cluster_id = identity.cluster_id;
    // Alarms name the old cluster's members.
    image.alarms.clear();

    let staging = target.with_extension("restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| data_dir_error(&staging, e))?;
    }
    let snap_dir = staging.join("member").join("snap");
    std::fs::create_dir_all(&snap_dir).map_err(|e| data_dir_error(&snap_dir, e))?;
    let db_path = snap_dir.join("db");
    let mvcc = Mvcc::open(&db_path).map_err(|e| data_dir_error(&db_path, e))?;
    mvcc.install_image(&image, &RaftMeta::default())
        .map_err(|e| data_dir_error(&db_path, e))?;
    drop(mvcc);
    let wal_dir = staging.join("member").join("wal");
    let log = LogStore::open(&wal_dir).map_err(|e| data_dir_error(&wal_dir, e))?;
    log.save_identity(&identity)
        .await
        .map_err(|e| data_dir_error(&wal_dir, e))?;
    drop(log);
    if target.exists() {
        std::fs::remove_dir(target).map_err(|e| data_dir_error(target, e))?;
    }
    std::fs::rename(&staging, target).map_err(|e| data_dir_error(target, e))?;
    tracing::info!(
        data_dir = %target.display(),
        member = %format!("{:x}", identity.member_id),
        cluster = %format!("{:x}", identity.cluster_id),
        revision = image.current_revision,
        "restored snapshot"
    );
    Ok(Restored {
        member_id: identity.member_id,
        cluster_id: identity.cluster_id,
        revision: image.current_revision.max(1),
        keys: image.records.len(),
    })
}

fn is_non_empty_dir(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => path.exists(),
    }
}
