//! `etcdserverpb.Lease`. Grants and revokes are proposed through Raft from any member (the
//! grant's id and TTL floor are settled here, before proposing). Keepalives and time-to-live
//! lookups need the leader's expiry state, so a follower forwards them to the leader over the
//! peer RPCs `LeaseKeepAlive`/`LeaseTimeToLive` (as etcd forwards them over its peer HTTP
//! endpoints). The list of leases is read from the local state machine after a read barrier.
//!
//! Also here: the glue between a [`Member`] and its [`crate::lease::Lessor`] — the member
//! proposes for the lessor, and its Raft metrics tell the lessor when to promote or demote.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use keel_proto::etcdserverpb::lease_server::{Lease, LeaseServer};
use keel_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{Command, CommandResult};
use openraft::async_runtime::WatchReceiver;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Caller;
use super::member::{Leader, Member};
use crate::auth::Access;
use crate::error::StoreError;
use crate::lease::{LeaseError, Proposer};
use crate::raft::network::PeerClient;

/// How long to wait between looks for a (promoted) leader.
const LEADER_POLL: Duration = Duration::from_millis(20);
/// Keepalive responses buffered per stream before the stream stops reading requests.
const KEEPALIVE_BUFFER: usize = 16;

pub struct LeaseService {
    member: Arc<Member>,
}

impl LeaseService {
    pub fn new(member: Arc<Member>) -> Self {
        Self { member }
    }

    /// The tonic service, ready for `add_service`.
    pub fn server(member: Arc<Member>) -> LeaseServer<Self> {
        LeaseServer::new(Self::new(member))
    }
}

fn wrong_result() -> Status {
    Status::internal("state machine answered with another request's result")
}

/// This member's header at its current revision.
fn current_header(member: &Member) -> keel_proto::etcdserverpb::ResponseHeader {
    member.header(member.mvcc.current_revision())
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        // As etcd: granting needs no permission, but a bad token is still refused.
        let caller = Caller::of(&self.member, &request).await?;
        if self.member.mvcc.lease_count() >= self.member.config.max_leases {
            return Err(StoreError::TooManyRequests.into());
        }
        let request = self.member.lessor.prepare_grant(request.into_inner());
        let request = CommandRequest::LeaseGrant(request);
        super::quota::check(&self.member, &request).await?;
        match self.member.propose_as(&caller, request).await? {
            CommandOutcome::LeaseGrant(mut response) => {
                let revision = response.header.map_or(0, |h| h.revision);
                tracing::debug!(lease = %format!("{:016x}", response.id), ttl = response.ttl, "lease granted");
                response.header = Some(self.member.header(revision));
                Ok(Response::new(response))
            }
            _ => Err(wrong_result()),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        let id = request.id;
        // Revoking deletes the lease's keys: the caller must be allowed to delete every one.
        if caller.state.enabled
            && let Some(lease) = self.member.mvcc.lease(id)
        {
            for key in &lease.keys {
                caller.check(Access::Write, key, &[])?;
            }
        }
        match self
            .member
            .propose_as(&caller, CommandRequest::LeaseRevoke(request))
            .await?
        {
            CommandOutcome::LeaseRevoke(mut response) => {
                let revision = response.header.map_or(0, |h| h.revision);
                tracing::info!(lease = %format!("{id:016x}"), revision, "lease revoked by a client");
                response.header = Some(self.member.header(revision));
                Ok(Response::new(response))
            }
            _ => Err(wrong_result()),
        }
    }

    type LeaseKeepAliveStream =
        Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send + 'static>>;

    /// One answer per request, in order. An error (no leader, timeout) ends the stream with
    /// that status, as etcd does; the client reopens it.
    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut requests = request.into_inner();
        let member = self.member.clone();
        let (answers, stream) = tokio::sync::mpsc::channel(KEEPALIVE_BUFFER);
        tokio::spawn(async move {
            loop {
                let id = match requests.message().await {
                    Ok(Some(request)) => request.id,
                    Ok(None) => return,
                    Err(status) => {
                        tracing::debug!(%status, "keepalive stream ended by the client");
                        return;
                    }
                };
                let answer = keep_alive(&member, id)
                    .await
                    .map(|ttl| LeaseKeepAliveResponse {
                        header: Some(current_header(&member)),
                        id,
                        ttl,
                    })
                    .map_err(Status::from);
                let failed = answer.is_err();
                if answers.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let member = &*self.member;
        let mut response = with_leader(
            member,
            || time_to_live_on_leader(member, &request),
            |mut client, timeout| {
                let mut forwarded = Request::new(request);
                forwarded.set_timeout(timeout);
                async move {
                    client
                        .lease_time_to_live(forwarded)
                        .await
                        .map(Response::into_inner)
                }
            },
        )
        .await?;
        response.header = Some(current_header(member));
        Ok(Response::new(response))
    }

    async fn lease_leases(
        &self,
        _: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        self.member.read_barrier().await?;
        let leases = self
            .member
            .mvcc
            .leases()
            .into_iter()
            .map(|lease| LeaseStatus { id: lease.id })
            .collect();
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(current_header(&self.member)),
            leases,
        }))
    }
}

/// A keepalive from any member: the TTL granted after renewal, 0 for an unknown lease.
async fn keep_alive(member: &Member, id: i64) -> Result<i64, StoreError> {
    with_leader(
        member,
        || keep_alive_on_leader(member, id),
        |mut client, timeout| {
            let mut forwarded = Request::new(LeaseKeepAliveRequest { id });
            forwarded.set_timeout(timeout);
            async move {
                client
                    .lease_keep_alive(forwarded)
                    .await
                    .map(|response| response.into_inner().ttl)
            }
        },
    )
    .await
}

/// Runs `local` if this member is the leader, else `remote` against the leader, until one of
/// them answers (`local` answers `None` while this member's lessor is not promoted; the
/// leader answers FAILED_PRECONDITION likewise) or the request timeout passes.
async fn with_leader<T, L, LF, R, RF>(member: &Member, local: L, remote: R) -> Result<T, StoreError>
where
    L: Fn() -> LF,
    LF: Future<Output = Result<Option<T>, StoreError>>,
    R: Fn(PeerClient, Duration) -> RF,
    RF: Future<Output = Result<T, Status>>,
{
    let deadline = Instant::now() + member.config.request_timeout;
    loop {
        match member.leader(None) {
            Leader::Me => {
                if let Some(answer) = local().await? {
                    return Ok(answer);
                }
            }
            Leader::Remote(id, node) => {
                let client = member
                    .peers
                    .client(id, &node)
                    .map_err(StoreError::Storage)?;
                match remote(client, deadline.saturating_duration_since(Instant::now())).await {
                    Ok(answer) => return Ok(answer),
                    // Not the leader (any more), not promoted yet, or unreachable: look again.
                    // Both requests are safe to repeat.
                    Err(status)
                        if matches!(
                            status.code(),
                            tonic::Code::FailedPrecondition | tonic::Code::Unavailable
                        ) => {}
                    Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
                        return Err(StoreError::Timeout);
                    }
                    Err(status) => {
                        return Err(StoreError::from_code_and_message(
                            status.code() as i32,
                            status.message().to_string(),
                        ));
                    }
                }
            }
            Leader::Unknown => {}
        }
        if Instant::now() >= deadline {
            return Err(member.deadline_error());
        }
        tokio::time::sleep(LEADER_POLL).await;
    }
}

/// The leader's side of a keepalive: the renewed TTL (0 for an unknown lease); `None` when
/// this member's lessor is not the primary.
pub(crate) async fn keep_alive_on_leader(
    member: &Member,
    id: i64,
) -> Result<Option<i64>, StoreError> {
    match member.lessor.renew(id, member).await {
        Ok(ttl) => Ok(Some(ttl)),
        Err(LeaseError::NotPrimary) => Ok(None),
        Err(LeaseError::Store(err)) => Err(err),
        Err(LeaseError::NotFound) => {
            // A leader fresh from an election may not have applied a grant committed before
            // it: apply everything committed, then look again (etcd's waitAppliedIndex).
            member.read_barrier().await?;
            match member.lessor.renew(id, member).await {
                Ok(ttl) => Ok(Some(ttl)),
                Err(LeaseError::NotPrimary) => Ok(None),
                Err(LeaseError::NotFound) => Ok(Some(0)),
                Err(LeaseError::Store(err)) => Err(err),
            }
        }
    }
}

/// The leader's side of a time-to-live lookup (TTL -1 for an unknown lease, as etcd answers);
/// `None` when this member's lessor is not the primary. The header is left to the answering
/// member.
pub(crate) async fn time_to_live_on_leader(
    member: &Member,
    request: &LeaseTimeToLiveRequest,
) -> Result<Option<LeaseTimeToLiveResponse>, StoreError> {
    if !member.lessor.is_primary() {
        return Ok(None);
    }
    member.read_barrier().await?;
    let not_found = LeaseTimeToLiveResponse {
        id: request.id,
        ttl: -1,
        ..Default::default()
    };
    let ttl = match member.lessor.time_to_live(request.id) {
        Ok(ttl) => ttl,
        Err(LeaseError::NotPrimary) => return Ok(None),
        Err(LeaseError::NotFound) => return Ok(Some(not_found)),
        Err(LeaseError::Store(err)) => return Err(err),
    };
    let keys = if request.keys {
        match member.mvcc.lease(request.id) {
            Some(lease) => lease.keys.into_iter().collect(),
            None => return Ok(Some(not_found)),
        }
    } else {
        Vec::new()
    };
    Ok(Some(LeaseTimeToLiveResponse {
        header: None,
        id: request.id,
        ttl: ttl.remaining,
        granted_ttl: ttl.granted,
        keys,
    }))
}

impl Proposer for Member {
    async fn propose_as_leader(
        &self,
        command: Command,
    ) -> Result<Option<CommandResult>, StoreError> {
        self.propose_local(command).await
    }
}

/// Runs the member's lessor, promoted while this member is the Raft leader.
pub async fn run_lessor(member: Arc<Member>) {
    let leadership = leadership(&member);
    member.lessor.clone().run(member, leadership).await;
}

/// `true` while this member is the Raft leader: the current state, then one item per change
/// of Raft metrics; ends when Raft stops.
fn leadership(member: &Member) -> Pin<Box<dyn Stream<Item = bool> + Send>> {
    let id = member.id;
    Box::pin(futures::stream::unfold(
        (member.raft.metrics(), true),
        move |(mut metrics, first)| async move {
            if !first && metrics.changed().await.is_err() {
                return None;
            }
            let leader = metrics.borrow_watched().current_leader == Some(id);
            Some((leader, (metrics, false)))
        },
    ))
}
