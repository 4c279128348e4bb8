//! One running member: its Raft handle and store, and the two operations every service builds
//! on — proposing a write (forwarded to the leader when this member is a follower) and the
//! barrier a linearizable read waits on (ReadIndex, asked of the leader when needed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::ResponseHeader;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{Command, CommandResult, ProposeRequest};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::raft::linearizable_read::{Linearizer, ReadLogId};
use openraft::{RaftMetrics, ReadPolicy};

use crate::config::MemberConfig;
use crate::error::StoreError;
use crate::mvcc::Mvcc;
use crate::raft::network::Peers;
use crate::raft::{NodeId, Raft, TypeConfig};

/// etcd's maxGapBetweenApplyAndCommitIndex.
const MAX_APPLY_BACKLOG: u64 = 5000;

/// How long to wait between looks for a leader while none is known.
const LEADER_POLL: Duration = Duration::from_millis(20);

pub struct Member {
    pub id: NodeId,
    /// Who this member is, as stored in its data dir (updated when it joins or is removed).
    pub(crate) identity: std::sync::Mutex<keel_proto::keelraft::MemberIdentity>,
    /// The Raft log, for saving `identity`.
    pub(crate) log: crate::raft::log_store::LogStore,
    pub config: MemberConfig,
    pub raft: Raft,
    pub mvcc: Arc<Mvcc>,
    pub peers: Peers,
    pub watch_hub: Arc<crate::watch::WatchHub>,
    /// Lease expiry (owned while this member is the leader); see `crate::lease`.
    pub lessor: Arc<crate::lease::Lessor>,
    /// Follower reads waiting for a read index from the leader.
    pub(crate) read_index_batches: Arc<super::read_index::ReadIndexBatches>,
}

/// Where a request that needs the leader should go.
pub(crate) enum Leader {
    Me,
    Remote(NodeId, keel_proto::keelraft::Node),
    Unknown,
}

impl Member {
    pub fn metrics(&self) -> RaftMetrics<TypeConfig> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// True unless this member is a voter: learners (and a member still joining) answer only
    /// serializable reads and Status.
    pub fn is_learner(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        !super::membership::is_voter(metrics.membership_config.membership(), self.id)
    }

    /// What a request that ran out of time waiting for the leader says: "no leader" while
    /// none is known, "request timed out" otherwise (etcd's two errors).
    pub(crate) fn deadline_error(&self) -> StoreError {
        if self.metrics().current_leader.is_none() {
            StoreError::NoLeader
        } else {
            StoreError::Timeout
        }
    }

    pub(crate) fn is_joined(&self) -> bool {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .joined
    }

    /// Changes the stored identity and saves it durably (failures are logged: the flags it
    /// holds are re-derived at the next start at worst).
    pub(crate) async fn update_identity(
        &self,
        change: impl FnOnce(&mut keel_proto::keelraft::MemberIdentity),
    ) {
        let identity = {
            let mut identity = self.identity.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut identity);
            identity.clone()
        };
        if let Err(err) = self.log.save_identity(&identity).await {
            tracing::error!(%err, "cannot save this member's identity");
        }
    }

    /// The header every response carries.
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.mvcc.cluster_id(),
            member_id: self.id,
            revision,
            raft_term: self.metrics().current_term,
        }
    }

    pub(crate) fn leader(&self, hint: Option<NodeId>) -> Leader {
        let metrics = self.metrics();
        let Some(leader) = hint.or(metrics.current_leader) else {
            return Leader::Unknown;
        };
        if leader == self.id {
            return Leader::Me;
        }
        match metrics.membership_config.membership().get_node(&leader) {
            Some(node) => Leader::Remote(leader, node.clone()),
            None => Leader::Unknown,
        }
    }

    /// Replicates `command` and returns what applying it produced. Request-level failures
    /// decided by the state machine come back as `Err` with etcd's code and message.
    pub async fn propose(&self, command: Command) -> Result<CommandResult, StoreError> {
        self.check_apply_backlog()?;
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let hint = match self.raft.client_write(command.clone()).await {
                Ok(response) => return into_result(response.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(fwd))) => fwd.leader_id,
                Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                    // Appended, then lost its leader: it may still commit. Only the client can
                    // decide whether to retry.
                    return Err(StoreError::LeaderChanged);
                }
                Err(RaftError::APIError(other)) => {
                    return Err(StoreError::Storage(other.to_string()));
                }
                Err(RaftError::Fatal(fatal)) => return Err(StoreError::Storage(fatal.to_string())),
            };
            match self.leader(hint) {
                Leader::Remote(id, node) => {
                    match self.forward(id, &node, &command, deadline).await {
                        Err(Forward::NotLeader) => {}
                        Err(Forward::Failed(err)) => return Err(err),
                        Ok(result) => return into_result(result),
                    }
                }
                Leader::Me | Leader::Unknown => {}
            }
            if Instant::now() >= deadline {
                return Err(self.deadline_error());
            }
            tokio::time::sleep(LEADER_POLL).await;
        }
    }

    /// etcd's back-pressure: while this member's state machine is more than
    /// [`MAX_APPLY_BACKLOG`] entries behind what is committed, new proposals are refused with
    /// "too many requests" rather than queued without bound.
    fn check_apply_backlog(&self) -> Result<(), StoreError> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let committed = metrics.local_committed.map_or(0, |id| id.index);
        let applied = metrics.last_applied.map_or(0, |id| id.index);
        if committed.saturating_sub(applied) > MAX_APPLY_BACKLOG {
            return Err(StoreError::TooManyRequests);
        }
        Ok(())
    }

    async fn forward(
        &self,
        leader: NodeId,
        node: &keel_proto::keelraft::Node,
        command: &Command,
        deadline: Instant,
    ) -> Result<CommandResult, Forward> {
        let mut client = self
            .peers
            .client(leader, node)
            .map_err(|err| Forward::Failed(StoreError::Storage(err)))?;
        let mut request = tonic::Request::new(ProposeRequest {
            command: Some(command.clone()),
        });
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        match client.propose(request).await {
            Ok(response) => Ok(response.into_inner()),
            // The leader we asked is no longer leader and did not propose: safe to retry.
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                Err(Forward::NotLeader)
            }
            // The leader is unreachable: nothing was proposed; look for the new one.
            Err(status)
                if status.code() == tonic::Code::Unavailable && is_connect_error(&status) =>
            {
                Err(Forward::NotLeader)
            }
            Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
                Err(Forward::Failed(StoreError::Timeout))
            }
            Err(status) => Err(Forward::Failed(StoreError::from_code_and_message(
                status.code() as i32,
                status.message().to_string(),
            ))),
        }
    }

    /// Replicates one request and returns what applying it produced, errors as gRPC statuses.
    pub async fn propose_request(
        &self,
        request: keel_proto::keelraft::command::Request,
    ) -> Result<CommandOutcome, tonic::Status> {
        let result = self
            .propose(Command {
                auth_header: None,
                request: Some(request),
            })
            .await?;
        result
            .result
            .ok_or_else(|| tonic::Status::internal("empty result from the state machine"))
    }

    /// Proposes on this member only (the leader side of a forward); `Ok(None)` when this member
    /// is not the leader, so the caller may retry elsewhere.
    pub async fn propose_local(
        &self,
        command: Command,
    ) -> Result<Option<CommandResult>, StoreError> {
        match self.raft.client_write(command).await {
            Ok(response) => Ok(Some(response.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Ok(None),
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                Err(StoreError::LeaderChanged)
            }
            Err(RaftError::APIError(other)) => Err(StoreError::Storage(other.to_string())),
            Err(RaftError::Fatal(fatal)) => Err(StoreError::Storage(fatal.to_string())),
        }
    }

    /// Waits until this member has applied everything committed before the call (ReadIndex):
    /// afterwards a local read is linearizable.
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let hint = match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(fwd))) => {
                    fwd.leader_id
                }
                Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => None,
                Err(RaftError::Fatal(fatal)) => return Err(StoreError::Storage(fatal.to_string())),
            };
            if let Leader::Remote(id, node) = self.leader(hint)
                && let Some(read_log_id) = self
                    .read_index_batches
                    .read_index(&self.peers, id, &node, deadline)
                    .await?
            {
                let linearizer =
                    Linearizer::new(self.id, ReadLogId::from_log_id(read_log_id), None);
                let wait = deadline.saturating_duration_since(Instant::now());
                return match linearizer.try_await_ready(&self.raft, Some(wait)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(_)) => Err(StoreError::Timeout),
                    Err(fatal) => Err(StoreError::Storage(fatal.to_string())),
                };
            }
            if Instant::now() >= deadline {
                return Err(self.deadline_error());
            }
            tokio::time::sleep(LEADER_POLL).await;
        }
    }

    /// The leader side of a follower's ReadIndex: the log id reads must wait for; `Ok(None)`
    /// when this member is not the leader.
    pub async fn local_read_index(&self) -> Result<Option<crate::raft::LogId>, StoreError> {
        match self.raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
            Ok(linearizer) => Ok(Some(*linearizer.read_log_id().log_id())),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => Ok(None),
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => Ok(None),
            Err(RaftError::Fatal(fatal)) => Err(StoreError::Storage(fatal.to_string())),
        }
    }
}

enum Forward {
    NotLeader,
    Failed(StoreError),
}

/// True only when the connection to the leader could not be made, so the request was never
/// sent and may safely go to the next leader. A connection lost mid-request is ambiguous (the
/// write may commit) and is reported to the client instead of being retried here.
fn is_connect_error(status: &tonic::Status) -> bool {
    let detail = format!("{status:?}");
    detail.contains("tcp connect error") || detail.contains("Connection refused")
}

fn into_result(result: CommandResult) -> Result<CommandResult, StoreError> {
    match result.result {
        Some(CommandOutcome::Error(err)) => {
            Err(StoreError::from_code_and_message(err.code, err.message))
        }
        _ => Ok(result),
    }
}

impl Member {
    /// This member's entry as it should appear in `member list`: its name and client URLs
    /// (its attributes, which it publishes) with the peer URLs the cluster has for it (which
    /// only MemberUpdate changes).
    pub fn own_node(&self) -> keel_proto::keelraft::Node {
        let peer_urls = self
            .metrics()
            .membership_config
            .membership()
            .get_node(&self.id)
            .map(|node| node.peer_urls.clone())
            .unwrap_or_else(|| self.config.initial_advertise_peer_urls.clone());
        keel_proto::keelraft::Node {
            name: self.config.name.clone(),
            peer_urls,
            client_urls: self.config.advertise_client_urls.clone(),
        }
    }

    /// Records `node` as member `id`'s attributes (leader only). Voters and learners are
    /// unchanged: only the node info of an existing member is replaced, through the same
    /// guarded change loop as the operator's requests, so it never lands on a half-done one.
    pub async fn record_member(
        &self,
        id: NodeId,
        node: keel_proto::keelraft::Node,
    ) -> Result<bool, StoreError> {
        if self
            .metrics()
            .membership_config
            .membership()
            .get_node(&id)
            .is_none()
        {
            return Err(StoreError::Storage(format!(
                "member {id:x} is not in the cluster"
            )));
        }
        let recorded = super::membership::change_membership(self, &|membership| {
            let current = membership.get_node(&id)?;
            (*current != node).then(|| {
                let change = openraft::ChangeMembers::SetNodes([(id, node.clone())].into());
                (change, true)
            })
        })
        .await;
        match recorded {
            Ok(()) => Ok(true),
            Err(StoreError::NotLeader) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Publishes this member's name and client URLs once a leader exists (etcd's publish),
    /// retrying until the membership shows them.
    pub async fn publish_self(self: Arc<Self>) {
        loop {
            let node = self.own_node();
            let metrics = self.metrics();
            let current = metrics
                .membership_config
                .membership()
                .get_node(&self.id)
                .cloned();
            if current.as_ref() == Some(&node) {
                tracing::info!(name = %node.name, client_urls = ?node.client_urls, "published member attributes");
                return;
            }
            let published = match self.leader(None) {
                Leader::Me => self
                    .record_member(self.id, node.clone())
                    .await
                    .unwrap_or(false),
                Leader::Remote(id, leader) => match self.peers.client(id, &leader) {
                    Ok(mut client) => client
                        .publish_member(keel_proto::keelraft::PublishMemberRequest {
                            member_id: self.id,
                            node: Some(node.clone()),
                        })
                        .await
                        .is_ok(),
                    Err(_) => false,
                },
                Leader::Unknown => false,
            };
            if !published {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            // Wait for the change to be applied here before checking again.
            let mut watch = self.raft.metrics();
            let _ = tokio::time::timeout(Duration::from_millis(500), watch.changed()).await;
        }
    }
}
