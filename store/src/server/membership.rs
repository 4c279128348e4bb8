//! Cluster membership: etcd's MemberAdd/Remove/Update/Promote on top of openraft's membership
//! changes, the join of a new member (`--initial-cluster-state existing`), and how a removed
//! member finds out that it was removed.
//!
//! - Changes run on the leader; a follower forwards its client's request over the peer
//!   transport (`ChangeMembership`). A member is always added as a learner first (openraft
//!   replicates to it, snapshot included); a voter is then promoted through joint consensus.
//!   Removing the leader moves leadership away first, then the new leader removes it.
//! - Every change, members publishing their attributes included, goes through one loop that
//!   guards each proposal with the membership log id it was planned from, so racing changes
//!   re-plan instead of landing on each other (see `change_membership`).
//! - A joining member asks the members named in `--initial-cluster` for the cluster's view
//!   (`ClusterInfo`) and finds its own id there by its peer URLs, as etcd does.
//! - Once removed, a member stops replicating: it may never see the entry that removed it. So
//!   it looks twice: at its own applied membership, and, periodically, at the membership its
//!   peers have applied. A member that has joined and is absent from a membership newer than
//!   its own was removed; it records that in its data dir and stops for good.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keel_proto::etcdserverpb::{
    Member as PbMember, MemberAddRequest, MemberAddResponse, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest,
    MemberUpdateResponse,
};
use keel_proto::keelraft::membership_change_request::Request as ChangeRequest;
use keel_proto::keelraft::membership_change_response::Response as ChangeResponse;
use keel_proto::keelraft::{
    ClusterInfoRequest, ClusterInfoResponse, MemberIdentity, MembershipChangeRequest, Node,
};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, Precondition};

use super::ServerError;
use super::member::{Leader, Member};
use crate::config::{self, MemberConfig};
use crate::error::StoreError;
use crate::raft::network;
use crate::raft::{Membership, NodeId, TypeConfig};

/// What a removed member says when it stops (etcd's message).
pub const REMOVED_MESSAGE: &str = "the member has been permanently removed from the cluster";

/// A learner is promotable once it has replicated this share of the leader's log (etcd's).
const LEARNER_READY_PERCENT: f64 = 0.9;

/// How long a joining member keeps asking the existing members for the cluster's view.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `id` votes in `membership` (openraft's own check is crate-private).
pub fn is_voter(membership: &Membership, id: NodeId) -> bool {
    membership.voter_ids().any(|voter| voter == id)
}

/// Every member of `membership`, voters and learners, in id order.
pub fn members_of(membership: &Membership) -> Vec<PbMember> {
    membership
        .nodes()
        .map(|(id, node)| PbMember {
            id: *id,
            name: node.name.clone(),
            peer_urls: node.peer_urls.clone(),
            client_urls: node.client_urls.clone(),
            is_learner: !is_voter(membership, *id),
        })
        .collect()
}

/// Every member the cluster knows, as this member sees it now.
pub fn member_list(member: &Member) -> Vec<PbMember> {
    members_of(member.metrics().membership_config.membership())
}

/// This member's view for a joining or possibly-removed peer: its applied membership.
pub fn cluster_info(member: &Member) -> ClusterInfoResponse {
    let metrics = member.metrics();
    let applied = metrics.last_applied.map_or(0, |id| id.index);
    let effective = &metrics.membership_config;
    let index = effective.log_id().as_ref().map_or(0, |id| id.index);
    // Only an applied (hence committed) membership is evidence of anything.
    let (members, index) = if index <= applied {
        (members_of(effective.membership()), index)
    } else {
        (Vec::new(), 0)
    };
    ClusterInfoResponse {
        cluster_id: member.mvcc.cluster_id(),
        members,
        membership_log_index: index,
    }
}

// ---- changes -------------------------------------------------------------------------------

/// Runs `request` on the leader, forwarding it there when this member is a follower.
pub async fn change(member: &Member, request: ChangeRequest) -> Result<ChangeResponse, StoreError> {
    let deadline = Instant::now() + member.config.request_timeout;
    loop {
        match member.leader(None) {
            Leader::Me => {
                if let Some(response) = change_on_leader(member, request.clone()).await? {
                    return Ok(response);
                }
            }
            Leader::Remote(id, node) => {
                if let Some(response) = forward(member, id, &node, &request, deadline).await? {
                    return Ok(response);
                }
            }
            Leader::Unknown => {}
        }
        if Instant::now() >= deadline {
            return Err(member.deadline_error());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader's side; `Ok(None)` when this member is not (or no longer) the leader.
pub async fn change_on_leader(
    member: &Member,
    request: ChangeRequest,
) -> Result<Option<ChangeResponse>, StoreError> {
    if !matches!(member.leader(None), Leader::Me) {
        return Ok(None);
    }
    let outcome = match request {
        ChangeRequest::Add(req) => add(member, req).await.map(ChangeResponse::Add),
        ChangeRequest::Remove(req) => remove(member, req).await.map(ChangeResponse::Remove),
        ChangeRequest::Update(req) => update(member, req).await.map(ChangeResponse::Update),
        ChangeRequest::Promote(req) => promote(member, req).await.map(ChangeResponse::Promote),
    };
    match outcome {
        Err(StoreError::NotLeader) => Ok(None),
        other => other.map(Some),
    }
}

async fn forward(
    member: &Member,
    leader: NodeId,
    node: &Node,
    request: &ChangeRequest,
    deadline: Instant,
) -> Result<Option<ChangeResponse>, StoreError> {
    let mut client = member
        .peers
        .client(leader, node)
        .map_err(StoreError::Storage)?;
    let mut message = tonic::Request::new(MembershipChangeRequest {
        request: Some(request.clone()),
    });
    message.set_timeout(deadline.saturating_duration_since(Instant::now()));
    match client.change_membership(message).await {
        Ok(response) => response
            .into_inner()
            .response
            .map(Some)
            .ok_or_else(|| StoreError::Storage("empty membership change response".into())),
        Err(status)
            if status.code() == tonic::Code::FailedPrecondition
                && status.message() == "not the leader" =>
        {
            Ok(None)
        }
        Err(status) if status.code() == tonic::Code::Unavailable => Ok(None),
        Err(status) if status.code() == tonic::Code::DeadlineExceeded => Err(StoreError::Timeout),
        Err(status) => Err(StoreError::from_code_and_message(
            status.code() as i32,
            status.message().to_string(),
        )),
    }
}

/// The change that moves `membership` (uniform) one step towards an operation's goal, with
/// openraft's `retain` flag, or `None` once the goal holds.
type Plan<'a> =
    dyn Fn(&Membership) -> Option<(ChangeMembers<NodeId, Node>, bool)> + Send + Sync + 'a;

/// Drives the membership to the goal `plan` describes, until the request timeout.
///
/// Every proposal is guarded by the membership log id it was planned from, so two changes
/// racing each other (an operator's request and a member publishing its attributes) never
/// apply one on top of a membership the other has changed: the loser re-plans. openraft's own
/// second step (flattening a joint config) can lose such a race after the joint config is
/// committed; the cluster is then left in joint consensus, and the next round finishes that
/// change first, dropping voters that left (`retain` false, as every voter change here is).
pub(crate) async fn change_membership(member: &Member, plan: &Plan<'_>) -> Result<(), StoreError> {
    let deadline = Instant::now() + member.config.request_timeout;
    loop {
        let metrics = member.metrics();
        let stored = &metrics.membership_config;
        // A membership not yet applied here is still being committed (another change, or
        // openraft's own second step): wait for it rather than be refused "in progress".
        let applied = metrics.last_applied.map_or(0, |id| id.index);
        let pending = stored.log_id().is_some_and(|id| id.index > applied);
        if pending && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let joint = stored.membership().get_joint_config().len() > 1;
        let (change, retain) = if joint {
            (ChangeMembers::AddVoterIds(BTreeSet::new()), false)
        } else {
            match plan(stored.membership()) {
                Some(step) => step,
                None => return Ok(()),
            }
        };
        let guard = Precondition::LastMembershipLogId {
            last_membership_log_id: *stored.log_id(),
        };
        match member
            .raft
            .change_membership_if(change, retain, [guard])
            .await
        {
            Ok(_) if joint => {}
            Ok(_) => return Ok(()),
            Err(RaftError::APIError(
                ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_))
                | ClientWriteError::PreconditionFailed(_),
            )) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => return Err(change_error(err)),
        }
    }
}

/// Maps a failed openraft membership change onto what the client sees.
fn change_error(err: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> StoreError {
    match err {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => StoreError::NotLeader,
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => StoreError::LeaderChanged,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(err)) => {
            StoreError::from_code_and_message(
                tonic::Code::FailedPrecondition as i32,
                format!("etcdserver: {err}"),
            )
        }
        RaftError::APIError(other) => StoreError::Storage(other.to_string()),
        RaftError::Fatal(fatal) => StoreError::Storage(fatal.to_string()),
    }
}

/// etcd accepts only absolute http(s) URLs with a host and a port.
fn validate_peer_urls(urls: &[String]) -> Result<(), StoreError> {
    let valid = |url: &String| {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest
            .map(|r| r.trim_end_matches('/'))
            .and_then(|r| r.rsplit_once(':'))
        {
            Some((host, port)) => {
                !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
            }
            None => false,
        }
    };
    if urls.is_empty() || !urls.iter().all(valid) {
        return Err(StoreError::MemberBadUrls);
    }
    Ok(())
}

/// Whether a member other than `except` already uses one of `urls`.
fn peer_url_in_use(membership: &Membership, urls: &[String], except: Option<NodeId>) -> bool {
    membership.nodes().any(|(id, node)| {
        Some(*id) != except && node.peer_urls.iter().any(|url| urls.contains(url))
    })
}

/// A new member's id: its peer URLs, the cluster and the time, so that a member added again
/// after removal never reuses the removed one's id (etcd does the same).
fn new_member_id(peer_urls: &[String], cluster_id: u64) -> NodeId {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    config::member_id(peer_urls, &format!("{cluster_id:x}/{now}"))
}

fn response_member(members: &[PbMember], id: NodeId) -> Result<PbMember, StoreError> {
    members
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or(StoreError::MemberNotFound)
}

async fn add(member: &Member, req: MemberAddRequest) -> Result<MemberAddResponse, StoreError> {
    validate_peer_urls(&req.peer_urls)?;
    let metrics = member.metrics();
    let membership = metrics.membership_config.membership();
    if peer_url_in_use(membership, &req.peer_urls, None) {
        return Err(StoreError::PeerUrlExists);
    }
    let id = new_member_id(&req.peer_urls, member.mvcc.cluster_id());
    let node = Node {
        name: String::new(),
        peer_urls: req.peer_urls.clone(),
        client_urls: Vec::new(),
    };
    change_membership(member, &|membership| {
        let absent = membership.get_node(&id).is_none();
        absent.then(|| {
            (
                ChangeMembers::AddNodes(BTreeMap::from([(id, node.clone())])),
                true,
            )
        })
    })
    .await?;
    if !req.is_learner {
        change_membership(member, &|membership| promotion(membership, id)).await?;
    }
    tracing::info!(id = %format!("{id:x}"), peer_urls = ?req.peer_urls, learner = req.is_learner, "member added");
    let members = member_list(member);
    Ok(MemberAddResponse {
        header: Some(member.header(member.mvcc.current_revision())),
        member: Some(response_member(&members, id)?),
        members,
    })
}

async fn remove(
    member: &Member,
    req: MemberRemoveRequest,
) -> Result<MemberRemoveResponse, StoreError> {
    let id = req.id;
    let metrics = member.metrics();
    let membership = metrics.membership_config.membership();
    if membership.get_node(&id).is_none() {
        return Err(StoreError::MemberNotFound);
    }
    if id == member.id {
        // The leader removes itself: hand leadership to the most up-to-date voter first; the
        // request is then retried on the new leader.
        let target = best_transferee(member, &metrics).ok_or(StoreError::MemberNotEnoughStarted)?;
        tracing::info!(to = %format!("{target:x}"), "moving leadership away before removing this member");
        transfer_leadership(member, target).await?;
        return Err(StoreError::NotLeader);
    }
    change_membership(member, &|membership| {
        membership.get_node(&id)?;
        let ids = BTreeSet::from([id]);
        if is_voter(membership, id) {
            Some((ChangeMembers::RemoveVoters(ids), false))
        } else {
            Some((ChangeMembers::RemoveNodes(ids), false))
        }
    })
    .await?;
    tracing::info!(id = %format!("{id:x}"), "member removed");
    Ok(MemberRemoveResponse {
        header: Some(member.header(member.mvcc.current_revision())),
        members: member_list(member),
    })
}

async fn update(
    member: &Member,
    req: MemberUpdateRequest,
) -> Result<MemberUpdateResponse, StoreError> {
    validate_peer_urls(&req.peer_urls)?;
    let metrics = member.metrics();
    let membership = metrics.membership_config.membership();
    if membership.get_node(&req.id).is_none() {
        return Err(StoreError::MemberNotFound);
    }
    if peer_url_in_use(membership, &req.peer_urls, Some(req.id)) {
        return Err(StoreError::PeerUrlExists);
    }
    change_membership(member, &|membership| {
        let current = membership.get_node(&req.id)?;
        (current.peer_urls != req.peer_urls).then(|| {
            let node = Node {
                peer_urls: req.peer_urls.clone(),
                ..current.clone()
            };
            (
                ChangeMembers::SetNodes(BTreeMap::from([(req.id, node)])),
                true,
            )
        })
    })
    .await?;
    tracing::info!(id = %format!("{:x}", req.id), peer_urls = ?req.peer_urls, "member updated");
    Ok(MemberUpdateResponse {
        header: Some(member.header(member.mvcc.current_revision())),
        members: member_list(member),
    })
}

async fn promote(
    member: &Member,
    req: MemberPromoteRequest,
) -> Result<MemberPromoteResponse, StoreError> {
    let id = req.id;
    let metrics = member.metrics();
    let membership = metrics.membership_config.membership();
    if membership.get_node(&id).is_none() {
        return Err(StoreError::MemberNotFound);
    }
    if is_voter(membership, id) {
        return Err(StoreError::MemberNotLearner);
    }
    let leader_index = metrics.last_log_index.unwrap_or(0);
    let learner_index = metrics
        .replication
        .as_ref()
        .and_then(|replication| replication.get(&id).cloned().flatten())
        .map_or(0, |log_id| log_id.index);
    if (learner_index as f64) < (leader_index as f64) * LEARNER_READY_PERCENT {
        return Err(StoreError::LearnerNotReady);
    }
    change_membership(member, &|membership| promotion(membership, id)).await?;
    tracing::info!(id = %format!("{id:x}"), "learner promoted to voter");
    Ok(MemberPromoteResponse {
        header: Some(member.header(member.mvcc.current_revision())),
        members: member_list(member),
    })
}

/// The step that makes learner `id` a voter, if it is not one yet.
fn promotion(membership: &Membership, id: NodeId) -> Option<(ChangeMembers<NodeId, Node>, bool)> {
    (!is_voter(membership, id)).then(|| (ChangeMembers::AddVoterIds(BTreeSet::from([id])), false))
}

/// The voter (other than this member) whose log matches the leader's furthest.
fn best_transferee(member: &Member, metrics: &openraft::RaftMetrics<TypeConfig>) -> Option<NodeId> {
    let replication = metrics.replication.as_ref()?;
    metrics
        .membership_config
        .membership()
        .voter_ids()
        .filter(|id| *id != member.id)
        .max_by_key(|id| replication.get(id).cloned().flatten().map(|l| l.index))
}

/// Makes `target` the leader (openraft's leadership transfer) and waits until it is, or until
/// the request timeout.
pub async fn transfer_leadership(member: &Member, target: NodeId) -> Result<(), StoreError> {
    member
        .raft
        .trigger()
        .transfer_leader(target)
        .await
        .map_err(|fatal| StoreError::Storage(fatal.to_string()))?;
    let deadline = tokio::time::Instant::now() + member.config.request_timeout;
    let mut metrics = member.raft.metrics();
    loop {
        if metrics.borrow_watched().current_leader == Some(target) {
            tracing::info!(to = %format!("{target:x}"), "leadership transferred");
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, metrics.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(StoreError::Storage("raft stopped".into())),
            Err(_) => return Err(StoreError::Timeout),
        }
    }
}

// ---- joining -------------------------------------------------------------------------------

/// The identity of a member joining a running cluster: asks the members named in
/// `--initial-cluster` for the cluster's view and finds itself there by its peer URLs.
pub async fn join(config: &MemberConfig) -> Result<MemberIdentity, ServerError> {
    let mut own = config.initial_advertise_peer_urls.clone();
    own.sort();
    let peers: Vec<&String> = config
        .initial_cluster
        .iter()
        .filter(|(name, _)| *name != config.name)
        .flat_map(|(_, urls)| urls)
        .collect();
    if peers.is_empty() {
        return Err(ServerError::Config(
            "--initial-cluster-state existing needs the running members in --initial-cluster"
                .into(),
        ));
    }
    let tls = super::tls::peer_client_config(&config.peer_tls)?;
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let mut last_error = String::new();
    loop {
        for url in &peers {
            match ask_cluster_info(url, config.peer_source_ip, tls.as_ref()).await {
                Ok(info) if !info.members.is_empty() => {
                    let found = info.members.iter().find(|m| {
                        let mut urls = m.peer_urls.clone();
                        urls.sort();
                        urls == own
                    });
                    let Some(found) = found else {
                        return Err(ServerError::Config(format!(
                            "this member's peer URLs {own:?} are not in the cluster's member list; add it first (keelctl member add {} --peer-urls={})",
                            config.name,
                            config.initial_advertise_peer_urls.join(",")
                        )));
                    };
                    tracing::info!(id = %format!("{:x}", found.id), cluster = %format!("{:x}", info.cluster_id), learner = found.is_learner, "joining the existing cluster");
                    return Ok(MemberIdentity {
                        member_id: found.id,
                        cluster_id: info.cluster_id,
                        name: config.name.clone(),
                        joined: false,
                        removed: false,
                    });
                }
                Ok(_) => last_error = format!("{url} has no applied membership yet"),
                Err(err) => last_error = format!("{url}: {err}"),
            }
        }
        if Instant::now() >= deadline {
            return Err(ServerError::Config(format!(
                "could not retrieve the cluster's members from --initial-cluster ({last_error})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn ask_cluster_info(
    url: &str,
    source: Option<std::net::IpAddr>,
    tls: Option<&tonic::transport::ClientTlsConfig>,
) -> Result<ClusterInfoResponse, String> {
    let mut client = network::connect(url, source, tls)?;
    let mut request = tonic::Request::new(ClusterInfoRequest {});
    request.set_timeout(Duration::from_secs(2));
    client
        .cluster_info(request)
        .await
        .map(|r| r.into_inner())
        .map_err(|status| error_chain(&status))
}

/// A status's message with the errors behind it (a refused TLS handshake shows only as
/// "transport error" otherwise).
fn error_chain(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

// ---- removal -------------------------------------------------------------------------------

/// Resolves when this member learns it was removed from the cluster (after recording that in
/// its data dir). Also records, once, that it has joined.
pub async fn watch_removal(member: Arc<Member>) -> ServerError {
    let mut metrics = member.raft.metrics();
    let mut poll = tokio::time::interval(member.config.election_timeout * 5);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(removed) = check_own_membership(&member).await {
            return removed;
        }
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    return ServerError::Raft("raft stopped".into());
                }
            }
            _ = poll.tick() => {
                if member.is_joined() && !matches!(member.leader(None), Leader::Me) && removed_per_peers(&member).await {
                    return mark_removed(&member).await;
                }
            }
        }
    }
}

/// Looks at this member's own applied membership.
async fn check_own_membership(member: &Member) -> Option<ServerError> {
    let present = {
        let metrics = member.metrics();
        let applied = metrics.last_applied.map_or(0, |id| id.index);
        let effective = &metrics.membership_config;
        let index = effective.log_id().as_ref().map_or(0, |id| id.index);
        if index == 0 || index > applied {
            return None; // nothing applied yet, or the newest membership is not applied
        }
        effective.membership().get_node(&member.id).is_some()
    };
    if present && !member.is_joined() {
        member
            .update_identity(|identity| identity.joined = true)
            .await;
        tracing::info!("this member is now part of the cluster's membership");
    }
    if !present && member.is_joined() {
        return Some(mark_removed(member).await);
    }
    None
}

/// Asks the other members for their applied membership: removed if one at least as new as
/// this member's own no longer lists it. "At least": a member removed right after it appended
/// the configuration that drops it never hears that it committed, so its own newest (unapplied)
/// configuration has the same index as the peers' applied one.
async fn removed_per_peers(member: &Member) -> bool {
    let (own_index, peers) = {
        let metrics = member.metrics();
        let effective = &metrics.membership_config;
        let own_index = effective.log_id().as_ref().map_or(0, |id| id.index);
        let peers: Vec<(NodeId, Node)> = effective
            .membership()
            .nodes()
            .filter(|(id, _)| **id != member.id)
            .map(|(id, node)| (*id, node.clone()))
            .collect();
        (own_index, peers)
    };
    for (id, node) in peers {
        let Ok(mut client) = member.peers.client(id, &node) else {
            continue;
        };
        let mut request = tonic::Request::new(ClusterInfoRequest {});
        request.set_timeout(Duration::from_secs(1));
        let Ok(info) = client.cluster_info(request).await else {
            continue;
        };
        let info = info.into_inner();
        if info.cluster_id == member.mvcc.cluster_id()
            && info.membership_log_index >= own_index
            && !info.members.is_empty()
            && !info.members.iter().any(|m| m.id == member.id)
        {
            return true;
        }
    }
    false
}

async fn mark_removed(member: &Member) -> ServerError {
    member
        .update_identity(|identity| identity.removed = true)
        .await;
    tracing::error!(id = %format!("{:x}", member.id), "{REMOVED_MESSAGE}; stopping");
    ServerError::Removed
}
