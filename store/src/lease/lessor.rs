//! The [`Lessor`]: the expiry queue of this member (held only while it is the Raft leader),
//! kept in step with the state machine, and the background loop that revokes expired leases
//! and checkpoints remaining TTLs by proposing through a [`Proposer`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use keel_proto::etcdserverpb::{
    LeaseCheckpoint, LeaseCheckpointRequest, LeaseGrantRequest, LeaseRevokeRequest,
};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{Command, CommandResult};
use tokio::sync::{Notify, RwLock};

use super::queue::{LeaseQueue, QueueConfig, Remaining, Renewal, StoredLease};
use super::{IdGenerator, LeaseChange, Proposer, min_lease_ttl};
use crate::config::MemberConfig;
use crate::error::StoreError;
use crate::mvcc::Mvcc;

/// The loop looks at the queue at least this often (etcd's lessor ticks every 500 ms).
const IDLE_WAKEUP: Duration = Duration::from_millis(500);
/// Most leases in one checkpoint proposal (etcd: 1000).
const MAX_CHECKPOINT_BATCH: usize = 1000;

#[derive(Clone, Debug)]
pub struct LessorConfig {
    /// This member's id (the high bits of the lease ids it generates).
    pub member_id: u64,
    pub queue: QueueConfig,
    /// Added to every lease's expiry when this member becomes leader: the election timeout.
    pub promotion_extension: Duration,
    /// The smallest TTL granted, in seconds (see [`min_lease_ttl`]).
    pub min_ttl: i64,
    /// How long a keepalive may wait for an expired lease's revocation.
    pub request_timeout: Duration,
}

impl LessorConfig {
    pub fn for_member(config: &MemberConfig, member_id: u64) -> Self {
        Self {
            member_id,
            queue: QueueConfig {
                checkpoint_interval: config.lease_checkpoint_interval,
                revoke_rate: config.lease_revoke_rate,
                ..QueueConfig::default()
            },
            promotion_extension: config.election_timeout,
            min_ttl: min_lease_ttl(config.heartbeat_interval, config.election_timeout),
            request_timeout: config.request_timeout,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// This member's lessor does not own expiry (not the leader, or not promoted yet): ask the
    /// leader.
    #[error("not the primary lessor")]
    NotPrimary,
    #[error("etcdserver: requested lease not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A lease's remaining and granted TTL, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeToLive {
    pub remaining: i64,
    pub granted: i64,
}

pub struct Lessor {
    queue: Mutex<LeaseQueue>,
    mvcc: Arc<Mvcc>,
    config: LessorConfig,
    ids: IdGenerator,
    /// Wakes the loop: the earliest expiry may have moved.
    wake: Notify,
    /// Wakes keepalives waiting for an expired lease's revocation.
    changed: Notify,
    /// Renewals hold it shared, a checkpoint exclusively: a checkpoint never carries a
    /// remaining TTL computed before a renewal it is applied after.
    checkpoint_gate: RwLock<()>,
    checkpointing: AtomicBool,
}

impl Lessor {
    pub fn new(config: LessorConfig, mvcc: Arc<Mvcc>) -> Self {
        Self {
            queue: Mutex::new(LeaseQueue::new(config.queue.clone())),
            mvcc,
            ids: IdGenerator::new(config.member_id),
            config,
            wake: Notify::new(),
            changed: Notify::new(),
            checkpoint_gate: RwLock::new(()),
            checkpointing: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LeaseQueue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stored(&self) -> Vec<StoredLease> {
        self.mvcc
            .leases()
            .into_iter()
            .map(|lease| StoredLease {
                id: lease.id,
                ttl: lease.ttl,
                remaining_ttl: lease.remaining_ttl,
            })
            .collect()
    }

    /// Whether this member currently owns lease expiry.
    pub fn is_primary(&self) -> bool {
        self.lock().is_primary()
    }

    pub fn min_ttl(&self) -> i64 {
        self.config.min_ttl
    }

    /// The grant to propose for a client's request: an id picked if the client left it 0,
    /// and the TTL raised to the minimum.
    pub fn prepare_grant(&self, request: LeaseGrantRequest) -> LeaseGrantRequest {
        LeaseGrantRequest {
            id: if request.id == 0 {
                self.ids.next()
            } else {
                request.id
            },
            ttl: request.ttl.max(self.config.min_ttl),
        }
    }

    /// The state machine's hook, called after each applied batch with what it changed.
    pub fn applied(&self, changes: &[LeaseChange]) {
        if changes.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut revoked = false;
        {
            let mut queue = self.lock();
            for change in changes {
                match *change {
                    LeaseChange::Granted { id, ttl } => queue.granted(now, id, ttl),
                    LeaseChange::Revoked { id } => {
                        queue.revoked(id);
                        revoked = true;
                    }
                    LeaseChange::Checkpointed { id, remaining_ttl } => {
                        queue.checkpointed(id, remaining_ttl)
                    }
                }
            }
        }
        self.wake.notify_one();
        if revoked {
            self.changed.notify_waiters();
        }
    }

    /// The state machine's hook after a snapshot replaced the store.
    pub fn resync(&self) {
        {
            let mut queue = self.lock();
            let stored = self.stored();
            queue.resync(Instant::now(), stored);
        }
        self.wake.notify_one();
        self.changed.notify_waiters();
    }

    fn promote(&self) {
        let count = {
            let mut queue = self.lock();
            // Read under the queue lock: a batch applied meanwhile is either in what is read
            // here or reaches `applied` after promotion.
            let stored = self.stored();
            queue.promote(Instant::now(), stored, self.config.promotion_extension);
            queue.len()
        };
        tracing::info!(
            leases = count,
            extension_ms = self.config.promotion_extension.as_millis() as u64,
            "lessor promoted: this leader now owns lease expiry"
        );
        self.wake.notify_one();
    }

    fn demote(&self) {
        let was_primary = {
            let mut queue = self.lock();
            let was = queue.is_primary();
            queue.demote();
            was
        };
        if was_primary {
            tracing::info!("lessor demoted: no longer the leader, lease expiry dropped");
        }
        self.changed.notify_waiters();
    }

    /// A keepalive on the leader: renews `id` for its full TTL and returns that TTL. A lease
    /// already expired is waited on until its revocation is applied (then `NotFound`), as etcd
    /// does, so a client is never told a lease lives on that is about to vanish.
    pub async fn renew<P: Proposer>(&self, id: i64, proposer: &P) -> Result<i64, LeaseError> {
        let deadline = Instant::now() + self.config.request_timeout;
        let gate = self.checkpoint_gate.read().await;
        let renewal = self.lock().renew(Instant::now(), id);
        match renewal {
            Renewal::NotPrimary => Err(LeaseError::NotPrimary),
            Renewal::NotFound => Err(LeaseError::NotFound),
            Renewal::Expired => {
                drop(gate);
                self.wait_gone(id, deadline).await
            }
            Renewal::Renewed {
                ttl,
                clear_checkpoint,
            } => {
                if clear_checkpoint {
                    let command = checkpoint_command(vec![LeaseCheckpoint {
                        id,
                        remaining_ttl: 0,
                    }]);
                    let timeout = self.config.request_timeout;
                    if propose(proposer, command, timeout).await?.is_none() {
                        return Err(LeaseError::NotPrimary);
                    }
                }
                Ok(ttl)
            }
        }
    }

    async fn wait_gone(&self, id: i64, deadline: Instant) -> Result<i64, LeaseError> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let queue = self.lock();
                if !queue.is_primary() {
                    return Err(LeaseError::NotPrimary);
                }
                if !queue.contains(id) {
                    return Err(LeaseError::NotFound);
                }
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(wait, notified).await.is_err() {
                return Err(LeaseError::Store(StoreError::Timeout));
            }
        }
    }

    /// The remaining TTL (whole seconds, rounded down as etcd does) and granted TTL of `id`.
    pub fn time_to_live(&self, id: i64) -> Result<TimeToLive, LeaseError> {
        match self.lock().remaining(Instant::now(), id) {
            Remaining::NotPrimary => Err(LeaseError::NotPrimary),
            Remaining::NotFound => Err(LeaseError::NotFound),
            Remaining::Alive { remaining, ttl } => Ok(TimeToLive {
                remaining: remaining.as_secs() as i64,
                granted: ttl,
            }),
        }
    }

    /// Runs until `leadership` (true while this member is the Raft leader) ends: promotes and
    /// demotes the queue, proposes revocations of expired leases and periodic checkpoints.
    pub async fn run<P, L>(self: Arc<Self>, proposer: Arc<P>, mut leadership: L)
    where
        P: Proposer,
        L: Stream<Item = bool> + Unpin + Send,
    {
        let mut leader = false;
        loop {
            let now = Instant::now();
            let (expired, checkpoint_due, wakeup) = {
                let mut queue = self.lock();
                let expired = queue.expired(now);
                let due = queue.checkpoint_due(now);
                (expired, due, queue.next_wakeup(now))
            };
            if !expired.is_empty() {
                let timeout = self.config.request_timeout;
                tokio::spawn(revoke_expired(proposer.clone(), expired, timeout));
            }
            if checkpoint_due && !self.checkpointing.swap(true, Ordering::SeqCst) {
                tokio::spawn(self.clone().checkpoint(proposer.clone()));
            }
            let idle = now + IDLE_WAKEUP;
            let wakeup = wakeup.map_or(idle, |at| at.min(idle));
            tokio::select! {
                next = leadership.next() => match next {
                    None => {
                        self.demote();
                        return;
                    }
                    Some(is_leader) if is_leader != leader => {
                        leader = is_leader;
                        if leader {
                            self.promote();
                        } else {
                            self.demote();
                        }
                    }
                    Some(_) => {}
                },
                () = self.wake.notified() => {}
                () = tokio::time::sleep_until(wakeup.into()) => {}
            }
        }
    }

    async fn checkpoint<P: Proposer>(self: Arc<Self>, proposer: Arc<P>) {
        let outcome = {
            let _gate = self.checkpoint_gate.write().await;
            let checkpoints = self.lock().checkpoints(Instant::now());
            let mut outcome = Ok(0);
            for chunk in checkpoints.chunks(MAX_CHECKPOINT_BATCH) {
                let command = checkpoint_command(
                    chunk
                        .iter()
                        .map(|&(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                        .collect(),
                );
                match propose(&*proposer, command, self.config.request_timeout).await {
                    Ok(Some(_)) => outcome = outcome.map(|n| n + chunk.len()),
                    Ok(None) => break,
                    Err(err) => {
                        outcome = Err(err);
                        break;
                    }
                }
            }
            outcome
        };
        self.checkpointing.store(false, Ordering::SeqCst);
        match outcome {
            Ok(0) => {}
            Ok(count) => tracing::debug!(leases = count, "checkpointed remaining lease TTLs"),
            Err(err) => {
                tracing::warn!(%err, "lease checkpoint failed; retrying at the next interval")
            }
        }
    }
}

fn checkpoint_command(checkpoints: Vec<LeaseCheckpoint>) -> Command {
    Command {
        auth_header: None,
        request: Some(CommandRequest::LeaseCheckpoint(LeaseCheckpointRequest {
            checkpoints,
        })),
    }
}

/// Proposes `command` as the leader, giving up after `timeout` (a leader cut off from its
/// quorum cannot commit, and a checkpoint holds renewals off while it waits). The state
/// machine's error is lifted into `Err`.
async fn propose<P: Proposer>(
    proposer: &P,
    command: Command,
    timeout: Duration,
) -> Result<Option<CommandResult>, StoreError> {
    let proposed = tokio::time::timeout(timeout, proposer.propose_as_leader(command))
        .await
        .map_err(|_| StoreError::Timeout)?;
    match proposed? {
        Some(CommandResult {
            result: Some(CommandOutcome::Error(err)),
        }) => Err(StoreError::from_code_and_message(err.code, err.message)),
        other => Ok(other),
    }
}

/// Proposes the revocation of each expired lease (concurrently; Raft batches them).
async fn revoke_expired<P: Proposer>(proposer: Arc<P>, ids: Vec<i64>, timeout: Duration) {
    let proposals = ids.iter().map(|&id| {
        let command = Command {
            auth_header: None,
            request: Some(CommandRequest::LeaseRevoke(LeaseRevokeRequest { id })),
        };
        let proposer = &proposer;
        async move { (id, propose(&**proposer, command, timeout).await) }
    });
    for (id, result) in futures::future::join_all(proposals).await {
        let lease = format!("{id:016x}");
        match result {
            Ok(Some(result)) => {
                let revision = match result.result {
                    Some(CommandOutcome::LeaseRevoke(response)) => {
                        response.header.map_or(0, |h| h.revision)
                    }
                    _ => 0,
                };
                tracing::info!(%lease, revision, "lease expired: revoked");
            }
            Ok(None) => {
                tracing::debug!(%lease, "lease expired but this member is no longer the leader")
            }
            Err(err) if err.code() == tonic::Code::NotFound => {
                tracing::debug!(%lease, "expired lease was already revoked")
            }
            Err(err) => {
                tracing::warn!(%lease, %err, "revoking an expired lease failed; will retry")
            }
        }
    }
}
