//! openraft's state machine over the MVCC store.
//!
//! A batch of committed entries is applied in one backend transaction that also records the
//! last applied log id and membership, so after a crash the store is exactly at some applied
//! log id: openraft re-applies only what comes after it, and nothing twice. Clients are
//! answered only after that transaction commits, so a client reads its own write anywhere the
//! read index has been applied.
//!
//! A snapshot is the store at its applied log id. Building one costs nothing but a redb read
//! transaction pinned at that state ([`SnapshotImage::Pinned`]); the `StateMachineImage` is
//! read from it only when the snapshot is actually sent to a follower. openraft asks for a
//! snapshot every `--snapshot-count` entries and twice at start-up and keeps only its metadata,
//! so materialising the whole store each time (as this did at first) cost seconds and hundreds
//! of megabytes with a million keys. Batches commit without an fsync of their own (the Raft log
//! already made them durable; see `backend`), so taking a snapshot pins the state first, then
//! makes the file durable up to at least that state: openraft may purge the log behind a
//! snapshot, and after that the file is the only copy.

use std::io;
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use keel_proto::keelraft as pb;
use keel_proto::keelraft::CommandResult;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use prost::Message;

use super::codec;
use super::{LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};
use crate::error::StoreError;
use crate::lease::{self, Lessor};
use crate::mvcc::{Mvcc, RaftMeta, image_of};
use crate::watch::WatchHub;

#[derive(Clone)]
pub struct StateMachine {
    mvcc: Arc<Mvcc>,
    watch_hub: Arc<WatchHub>,
    /// Told what each applied batch changed about leases (the leader's expiry queue).
    lessor: Option<Arc<Lessor>>,
}

fn io_error(err: StoreError) -> io::Error {
    io::Error::other(err.to_string())
}

fn invalid(err: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err.to_string())
}

impl StateMachine {
    pub fn new(mvcc: Arc<Mvcc>, watch_hub: Arc<WatchHub>) -> Self {
        Self {
            mvcc,
            watch_hub,
            lessor: None,
        }
    }

    /// Feeds `lessor` with the lease changes of every applied batch.
    pub fn with_lessor(mut self, lessor: Arc<Lessor>) -> Self {
        self.lessor = Some(lessor);
        self
    }

    fn decode_meta(meta: &RaftMeta) -> io::Result<(Option<LogId>, StoredMembership)> {
        let applied = match &meta.applied_log_id {
            Some(bytes) => Some(
                codec::log_id_from_pb(&pb::LogId::decode(bytes.as_slice()).map_err(invalid)?)
                    .map_err(invalid)?,
            ),
            None => None,
        };
        let membership = match &meta.membership {
            Some(bytes) => codec::stored_membership_from_pb(
                &pb::StoredMembership::decode(bytes.as_slice()).map_err(invalid)?,
            )
            .map_err(invalid)?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    fn encode_meta(applied: Option<&LogId>, membership: Option<&StoredMembership>) -> RaftMeta {
        RaftMeta {
            applied_log_id: applied.map(|id| codec::log_id_to_pb(id).encode_to_vec()),
            membership: membership.map(|m| codec::stored_membership_to_pb(m).encode_to_vec()),
        }
    }

    fn snapshot_now(&self) -> io::Result<Option<Snapshot>> {
        let (pinned, meta) = self.mvcc.pin_image().map_err(io_error)?;
        self.mvcc.persist().map_err(io_error)?;
        let (applied, membership) = Self::decode_meta(&meta)?;
        if applied.is_none() {
            return Ok(None);
        }
        Ok(Some(Snapshot {
            meta: SnapshotMeta {
                last_log_id: applied,
                last_membership: membership,
            },
            snapshot: SnapshotImage::Pinned(pinned),
        }))
    }
}

/// A snapshot's data: pinned in the local state-machine file (taken here), or the encoded
/// `StateMachineImage` a follower received.
pub enum SnapshotImage {
    Pinned(redb::ReadTransaction),
    Encoded(Vec<u8>),
}

impl SnapshotImage {
    /// The encoded `keelraft.StateMachineImage` (reads the whole store for a pinned snapshot).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            SnapshotImage::Encoded(bytes) => Ok(bytes),
            SnapshotImage::Pinned(txn) => Ok(image_of(&txn).map_err(io_error)?.encode_to_vec()),
        }
    }

    fn into_image(self) -> io::Result<pb::StateMachineImage> {
        match self {
            SnapshotImage::Encoded(bytes) => {
                pb::StateMachineImage::decode(bytes.as_slice()).map_err(invalid)
            }
            SnapshotImage::Pinned(txn) => image_of(&txn).map_err(io_error),
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let snapshot = self
            .snapshot_now()?
            .ok_or_else(|| io::Error::other("nothing applied yet: no snapshot to build"))?;
        tracing::info!(last_log_id = ?snapshot.meta.last_log_id, "built snapshot");
        Ok(snapshot)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Self::decode_meta(&self.mvcc.raft_meta().map_err(io_error)?)
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mvcc = self.mvcc.clone();
        let mut batch = mvcc.begin_apply().map_err(io_error)?;
        let mut replies = Vec::new();
        let mut last_applied = None;
        let mut membership = None;
        let mut lease_changes = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let result = match &entry.payload {
                EntryPayload::Normal(command) => batch.execute(command).map_err(io_error)?,
                EntryPayload::Blank => CommandResult::default(),
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    CommandResult::default()
                }
            };
            if let EntryPayload::Normal(command) = &entry.payload {
                lease::collect_changes(command, &result, &mut lease_changes);
            }
            last_applied = Some(entry.log_id);
            if let Some(responder) = responder {
                replies.push((responder, result));
            }
        }
        if last_applied.is_none() {
            return Ok(());
        }
        let meta = Self::encode_meta(last_applied.as_ref(), membership.as_ref());
        let applied = batch.commit(&meta).map_err(io_error)?;
        self.watch_hub.notify(&applied);
        if let Some(lessor) = &self.lessor {
            lessor.applied(&lease_changes);
        }
        for (responder, result) in replies {
            responder.send(result);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let image = snapshot.into_image()?;
        let raft_meta = Self::encode_meta(meta.last_log_id.as_ref(), Some(&meta.last_membership));
        self.mvcc
            .install_image(&image, &raft_meta)
            .map_err(io_error)?;
        // Watchers' positions may no longer line up with what was installed: replay them.
        self.watch_hub.resync_all();
        if let Some(lessor) = &self.lessor {
            lessor.resync();
        }
        tracing::info!(last_log_id = ?meta.last_log_id, "installed snapshot from leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        self.snapshot_now()
    }
}
