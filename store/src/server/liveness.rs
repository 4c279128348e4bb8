//! Early detection of a dead leader: a follower campaigns as soon as its leader's process is
//! gone instead of after an election timeout of silence plus the leader's lease.
//!
//! Every voter that follows a leader holds a `Liveness` stream open to it (a server stream
//! that never carries a message). When the leader's process dies, its kernel resets the
//! connection and the stream breaks at once; a leader that stops cleanly ends it. The
//! follower then records the leader as lost and, after a delay given by its rank among the
//! remaining voters (so that the two followers of a 3-member cluster do not split the vote),
//! campaigns. Its vote requests name the lost leader; a voter grants them inside the old
//! leader's lease only if it saw the same leader go away itself (`peer::vote`), so a link that
//! breaks between one follower and a live leader cannot depose it: the other followers still
//! hear from the leader and refuse, and openraft's usual lease rule stands.
//!
//! A leader that hangs (SIGSTOP) or is cut off without a reset keeps its connections open and
//! is replaced by the ordinary election timeout.

use std::sync::Arc;

use keel_proto::keelraft::LivenessRequest;
use openraft::async_runtime::WatchReceiver;

use super::member::{Leader, Member};
use super::membership::is_voter;
use crate::raft::NodeId;

/// Runs for the life of the member.
pub async fn watch_leader(member: Arc<Member>) {
    let mut metrics = member.raft.metrics();
    loop {
        let (leader, node) = loop {
            if let Leader::Remote(id, node) = member.leader(None) {
                break (id, node);
            }
            if metrics.changed().await.is_err() {
                return;
            }
        };
        if member.peers.lost_leader.get() != leader {
            member.peers.lost_leader.set(0);
        }
        let stream = match member.peers.client(leader, &node) {
            Ok(mut client) => client.liveness(LivenessRequest {}).await,
            Err(err) => Err(tonic::Status::unavailable(err)),
        };
        let mut stream = match stream {
            Ok(response) => response.into_inner(),
            Err(status) => {
                // Not reachable now: the ordinary election timeout covers this case. Try again
                // after a while, or as soon as the leader changes.
                tracing::debug!(%status, "cannot open a liveness stream to the leader");
                let _ = tokio::time::timeout(
                    member.config.election_timeout,
                    leader_changes(&member, leader),
                )
                .await;
                continue;
            }
        };
        let leader_gone = tokio::select! {
            _ = stream.message() => true,
            () = leader_changes(&member, leader) => false,
        };
        if leader_gone && still_follows(&member, leader) {
            campaign_after_loss(&member, leader).await;
        }
    }
}

/// Resolves when the member no longer names `leader` as its leader.
async fn leader_changes(member: &Member, leader: NodeId) {
    let mut metrics = member.raft.metrics();
    while metrics.borrow_watched().current_leader == Some(leader) {
        if metrics.changed().await.is_err() {
            // Raft stopped: nothing left to watch.
            std::future::pending::<()>().await;
        }
    }
}

fn still_follows(member: &Member, leader: NodeId) -> bool {
    let metrics = member.metrics();
    metrics.current_leader == Some(leader)
        && is_voter(metrics.membership_config.membership(), member.id)
}

async fn campaign_after_loss(member: &Member, leader: NodeId) {
    member.peers.lost_leader.set(leader);
    let metrics = member.metrics();
    let mut others: Vec<NodeId> = metrics
        .membership_config
        .membership()
        .voter_ids()
        .filter(|id| *id != leader)
        .collect();
    others.sort_unstable();
    let rank = others.iter().position(|id| *id == member.id).unwrap_or(0) as u32;
    // The first in rank campaigns at once; the next only if that found no quorum.
    let delay = 2 * member.config.heartbeat_interval * rank;
    tracing::warn!(
        leader = %format!("{leader:x}"),
        delay_ms = delay.as_millis() as u64,
        "lost the connection to the leader; campaigning without waiting for an election timeout"
    );
    tokio::time::sleep(delay).await;
    let leaderless = member
        .metrics()
        .current_leader
        .is_none_or(|current| current == leader);
    if leaderless
        && still_voter(member)
        && let Err(err) = member.raft.trigger().elect(false).await
    {
        tracing::warn!(%err, "cannot start an election");
    }
    // Give the election time to settle before watching again.
    let _ = tokio::time::timeout(
        member.config.election_timeout,
        leader_changes(member, leader),
    )
    .await;
}

fn still_voter(member: &Member) -> bool {
    is_voter(member.metrics().membership_config.membership(), member.id)
}
