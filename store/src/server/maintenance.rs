//! `etcdserverpb.Maintenance`: Status, alarms, the consistency hashes, defragmentation,
//! snapshots (backups) and leadership transfer.
//!
//! Alarm changes are replicated (every member refuses writes under NOSPACE); listing them,
//! hashing, defragmenting and snapshotting are local to the member asked, as in etcd.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use super::auth::Caller;
use futures::Stream;
use keel_proto::etcdserverpb::alarm_request::AlarmAction;
use keel_proto::etcdserverpb::maintenance_server::{Maintenance, MaintenanceServer};
use keel_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentRequest, DefragmentResponse,
    DowngradeRequest, DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse,
    MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest,
    StatusResponse,
};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use tonic::{Request, Response, Status};

use super::member::{Leader, Member};
use super::membership;
use crate::error::StoreError;
use crate::mvcc::alarms_of_type;
use crate::snapshot_file;

/// The etcd API version Keel speaks; clients gate features on it.
pub const ETCD_API_VERSION: &str = "3.5.0";

/// Bytes per message of a snapshot stream (etcd's chunk size).
const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;

pub struct MaintenanceService {
    member: Arc<Member>,
}

impl MaintenanceService {
    pub fn server(member: Arc<Member>) -> MaintenanceServer<Self> {
        MaintenanceServer::new(Self { member })
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

/// etcd prints an alarm in Status.errors as the AlarmMember's protobuf text form.
fn alarm_text(alarm: &AlarmMember) -> String {
    let kind = AlarmType::try_from(alarm.alarm)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| alarm.alarm.to_string());
    format!("memberID:{} alarm:{} ", alarm.member_id, kind)
}

/// Runs blocking storage work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(join) => Err(Status::internal(format!("maintenance task failed: {join}"))),
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        let member = &self.member;
        let alarms = match request.action() {
            AlarmAction::Get => alarms_of_type(&member.mvcc.alarms(), request.alarm),
            AlarmAction::Activate | AlarmAction::Deactivate => {
                caller.check_admin()?;
                match member
                    .propose_request(CommandRequest::Alarm(request))
                    .await?
                {
                    CommandOutcome::Alarm(response) => {
                        tracing::info!(action = ?request.action(), member = %format!("{:x}", request.member_id), alarm = ?request.alarm(), "alarm changed");
                        response.alarms
                    }
                    _ => return Err(Status::internal("state machine answered another request")),
                }
            }
        };
        Ok(Response::new(AlarmResponse {
            header: Some(member.header(member.mvcc.current_revision())),
            alarms,
        }))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let member = &self.member;
        let metrics = member.metrics();
        let mvcc = member.mvcc.clone();
        let db_size_in_use = blocking(move || mvcc.db_size_in_use()).await? as i64;
        Ok(Response::new(StatusResponse {
            header: Some(member.header(member.mvcc.current_revision())),
            version: ETCD_API_VERSION.to_string(),
            db_size: member.mvcc.db_size() as i64,
            leader: metrics.current_leader.unwrap_or(0),
            raft_index: metrics.last_log_index.unwrap_or(0),
            raft_term: metrics.current_term,
            raft_applied_index: metrics.last_applied.map_or(0, |id| id.index),
            errors: member.mvcc.alarms().iter().map(alarm_text).collect(),
            db_size_in_use,
            is_learner: member.is_learner(),
            ..Default::default()
        }))
    }

    async fn defragment(
        &self,
        request: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let member = &self.member;
        let before = member.mvcc.db_size();
        tracing::info!(db_size = before, "defragmenting");
        let started = Instant::now();
        let mvcc = member.mvcc.clone();
        blocking(move || mvcc.defragment()).await?;
        tracing::info!(
            db_size_before = before,
            db_size_after = member.mvcc.db_size(),
            took = ?started.elapsed(),
            "defragment done"
        );
        Ok(Response::new(DefragmentResponse {
            header: Some(member.header(member.mvcc.current_revision())),
        }))
    }

    async fn hash(&self, request: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let mvcc = self.member.mvcc.clone();
        let (hash, revision) = blocking(move || mvcc.hash()).await?;
        Ok(Response::new(HashResponse {
            header: Some(self.member.header(revision)),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let revision = request.into_inner().revision;
        let mvcc = self.member.mvcc.clone();
        let hashed = blocking(move || mvcc.hash_kv(revision)).await?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.member.header(self.member.mvcc.current_revision())),
            hash: hashed.hash,
            compact_revision: hashed.compact_revision,
            hash_revision: hashed.hash_revision,
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let mvcc = self.member.mvcc.clone();
        let (image, _) = blocking(move || mvcc.export_image()).await?;
        let revision = image.current_revision;
        let bytes = snapshot_file::encode(&image);
        tracing::info!(
            revision,
            bytes = bytes.len(),
            "sending a snapshot to a client"
        );
        let header = self.member.header(revision);
        let total = bytes.len();
        let chunks: Vec<Result<SnapshotResponse, Status>> = bytes
            .chunks(SNAPSHOT_CHUNK_BYTES)
            .scan(0usize, |sent, chunk| {
                *sent += chunk.len();
                Some(Ok(SnapshotResponse {
                    header: (*sent == chunk.len()).then_some(header),
                    remaining_bytes: (total - *sent) as u64,
                    blob: chunk.to_vec(),
                    ..Default::default()
                }))
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let target = request.into_inner().target_id;
        let member = &self.member;
        if !matches!(member.leader(None), Leader::Me) {
            return Err(StoreError::NotLeader.into());
        }
        if !membership::is_voter(member.metrics().membership_config.membership(), target) {
            return Err(StoreError::BadLeaderTransferee.into());
        }
        if target != member.id {
            tracing::info!(to = %format!("{target:x}"), "moving leadership (MoveLeader)");
            membership::transfer_leadership(member, target).await?;
        }
        Ok(Response::new(MoveLeaderResponse {
            header: Some(member.header(member.mvcc.current_revision())),
        }))
    }

    async fn downgrade(
        &self,
        _: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(Status::unimplemented(
            "Downgrade is not supported: Keel has a single storage version",
        ))
    }
}
