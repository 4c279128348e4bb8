//! The space quota (etcd's `--quota-backend-bytes`). A request that would add data to a state
//! machine already at its quota raises a NOSPACE alarm through Raft, so every member refuses
//! such writes from then on (the apply path checks the alarm), and fails with etcd's
//! `ResourceExhausted "etcdserver: mvcc: database space exceeded"`. Reads, deletes, compaction
//! and defragmentation still work; `alarm disarm` clears the alarm once space was reclaimed.

use std::sync::Arc;
use std::time::Duration;

use keel_proto::etcdserverpb::alarm_request::AlarmAction;
use keel_proto::etcdserverpb::{AlarmRequest, AlarmType};
use keel_proto::keelraft::command::Request as CommandRequest;

use super::member::{Leader, Member};
use crate::error::StoreError;
use crate::mvcc::adds_data;

/// How often a member compares its state-machine file with the quota on its own (its file
/// also grows by replication, without requests of its own to notice it).
const SIZE_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Refuses `request` when it adds data and there is no room for it (raising the alarm the
/// first time), as etcd's quota check in front of its KV and Lease services.
pub async fn check(member: &Member, request: &CommandRequest) -> Result<(), StoreError> {
    if !adds_data(request) {
        return Ok(());
    }
    if member.mvcc.space_exhausted() {
        return Err(StoreError::NoSpace);
    }
    if fits(member, request.encoded_len() as u64) {
        return Ok(());
    }
    raise_nospace(member).await;
    Err(StoreError::NoSpace)
}

fn fits(member: &Member, cost: u64) -> bool {
    let quota = member.config.quota_backend_bytes;
    quota == 0 || member.mvcc.db_size().saturating_add(cost) < quota
}

async fn raise_nospace(member: &Member) {
    tracing::warn!(
        db_size = member.mvcc.db_size(),
        quota = member.config.quota_backend_bytes,
        "state machine is over its space quota; raising the NOSPACE alarm"
    );
    let request = CommandRequest::Alarm(AlarmRequest {
        action: AlarmAction::Activate as i32,
        member_id: member.id,
        alarm: AlarmType::Nospace as i32,
    });
    if let Err(err) = member.propose_request(request).await {
        tracing::warn!(%err, "cannot raise the NOSPACE alarm");
    }
}

/// Raises the alarm when this member's file is over the quota although no request of its own
/// noticed (etcd checks at start; Keel keeps looking).
pub async fn watch_backend_size(member: Arc<Member>) {
    if member.config.quota_backend_bytes == 0 {
        return;
    }
    let mut interval = tokio::time::interval(SIZE_CHECK_INTERVAL);
    loop {
        interval.tick().await;
        let over = !fits(&member, 0);
        let raised = member
            .mvcc
            .alarms()
            .iter()
            .any(|a| a.member_id == member.id && a.alarm == AlarmType::Nospace as i32);
        if over && !raised && !matches!(member.leader(None), Leader::Unknown) {
            raise_nospace(&member).await;
        }
    }
}
