//! Leases, the leader's side (etcd's `server/lease/lessor.go`).
//!
//! What a lease *is* (its TTL, its checkpointed remaining TTL, its keys) is replicated state in
//! the MVCC (`mvcc::leases`), changed only by applied Raft commands. *When* it expires is
//! decided by the Raft leader alone, in memory:
//!
//! - `queue`: the expiry queue, pure logic with the clock passed in.
//! - `lessor`: the [`Lessor`]: the queue behind a lock, fed by the state machine after every
//!   applied batch ([`Lessor::applied`]), promoted/demoted as this member gains/loses
//!   leadership, and a background loop that asks the server to revoke expired leases and to
//!   checkpoint remaining TTLs. It never touches the network: everything it replicates goes
//!   through a [`Proposer`].
//!
//! Rules kept from etcd:
//! - the proposer picks the id of a grant (never 0) and floors its TTL at [`min_lease_ttl`],
//!   so every member applies the same grant;
//! - a new leader resumes every lease from its checkpointed remaining TTL (else its TTL) plus
//!   one election timeout, so it never expires a lease before the old leader would have;
//! - an expired lease is revoked by proposing `LeaseRevoke`, so its keys disappear in one
//!   revision on every member; a revoke not applied is retried, and at most
//!   `revoke_rate` leases per second are handed out;
//! - keepalives renew in memory on the leader only; if a checkpointed remaining TTL is stored
//!   for the lease it is reset to 0 (through Raft) before the keepalive is answered, so that a
//!   leader change cannot resume the lease from a value older than the last keepalive.
//!   Renewals therefore cost no Raft write except the first one after each checkpoint (at most
//!   two writes per lease per checkpoint interval, as in etcd 3.5+).

pub mod lessor;
pub mod queue;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{Command, CommandResult};

use crate::error::StoreError;
pub use lessor::{LeaseError, Lessor, LessorConfig, TimeToLive};
pub use queue::{LeaseQueue, QueueConfig, StoredLease};

/// etcd's minimum lease TTL: long enough to survive a leader election,
/// `ceil((3 * electionTicks / 2) * heartbeat)` seconds — 2 s with the defaults (100 ms
/// heartbeat, 1000 ms election timeout).
pub fn min_lease_ttl(heartbeat: Duration, election_timeout: Duration) -> i64 {
    let heartbeat_ms = heartbeat.as_millis().max(1);
    let election_ticks = election_timeout.as_millis() / heartbeat_ms;
    let min_ms = (3 * election_ticks / 2) * heartbeat_ms;
    min_ms.div_ceil(1000).max(1) as i64
}

/// Replicates a command on this member as the leader. The lessor's only way out.
pub trait Proposer: Send + Sync + 'static {
    /// Proposes `command` here; `Ok(None)` when this member is not the leader. Errors decided
    /// by the state machine come back inside the `CommandResult`.
    fn propose_as_leader(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<Option<CommandResult>, StoreError>> + Send;
}

/// What an applied command changed about leases (fed to [`Lessor::applied`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChange {
    Granted { id: i64, ttl: i64 },
    Revoked { id: i64 },
    Checkpointed { id: i64, remaining_ttl: i64 },
}

/// Appends to `out` the lease changes of one applied command (nothing if it failed).
pub fn collect_changes(command: &Command, result: &CommandResult, out: &mut Vec<LeaseChange>) {
    match (&command.request, &result.result) {
        (Some(CommandRequest::LeaseGrant(req)), Some(CommandOutcome::LeaseGrant(_))) => {
            out.push(LeaseChange::Granted {
                id: req.id,
                ttl: req.ttl,
            });
        }
        (Some(CommandRequest::LeaseRevoke(req)), Some(CommandOutcome::LeaseRevoke(_))) => {
            out.push(LeaseChange::Revoked { id: req.id });
        }
        (Some(CommandRequest::LeaseCheckpoint(req)), Some(CommandOutcome::LeaseCheckpoint(_))) => {
            out.extend(req.checkpoints.iter().map(|c| LeaseChange::Checkpointed {
                id: c.id,
                remaining_ttl: c.remaining_ttl,
            }));
        }
        _ => {}
    }
}

/// Lease ids as etcd's leader generates them (`pkg/idutil`): the member id's low 2 bytes, then
/// the start time in milliseconds (5 bytes) plus a counter, masked positive. Unique per
/// member, and the members' ids differ in the high bits.
#[derive(Debug)]
pub struct IdGenerator {
    prefix: u64,
    suffix: AtomicU64,
}

const SUFFIX_BITS: u32 = 48;
const COUNTER_BITS: u32 = 8;

impl IdGenerator {
    pub fn new(member_id: u64) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let timestamp = millis & ((1 << (SUFFIX_BITS - COUNTER_BITS)) - 1);
        Self {
            prefix: (member_id & 0xffff) << SUFFIX_BITS,
            suffix: AtomicU64::new(timestamp << COUNTER_BITS),
        }
    }

    /// The next id: positive, never 0.
    pub fn next(&self) -> i64 {
        loop {
            let suffix = self.suffix.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            let id = (self.prefix | (suffix & ((1 << SUFFIX_BITS) - 1))) & (i64::MAX as u64);
            if id != 0 {
                return id as i64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::etcdserverpb::{
        LeaseCheckpoint, LeaseCheckpointRequest, LeaseCheckpointResponse, LeaseGrantRequest,
        LeaseGrantResponse,
    };
    use keel_proto::keelraft::CommandError;

    #[test]
    fn the_floor_is_etcds() {
        let ms = Duration::from_millis;
        // Defaults: 10 ticks of 100 ms -> 1.5 s -> 2 s.
        assert_eq!(min_lease_ttl(ms(100), ms(1000)), 2);
        // The test clusters: 10 ticks of 50 ms -> 0.75 s -> 1 s.
        assert_eq!(min_lease_ttl(ms(50), ms(500)), 1);
        assert_eq!(min_lease_ttl(ms(100), ms(5000)), 8);
    }

    #[test]
    fn generated_ids_are_positive_distinct_and_carry_the_member() {
        let generator = IdGenerator::new(0xabcd_1234);
        let a = generator.next();
        let b = generator.next();
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!((a as u64) >> SUFFIX_BITS, 0x1234);
        let high = IdGenerator::new(0xffff);
        assert!(high.next() > 0);
    }

    #[test]
    fn only_applied_lease_commands_are_changes() {
        let grant = Command {
            auth_header: None,
            request: Some(CommandRequest::LeaseGrant(LeaseGrantRequest {
                ttl: 5,
                id: 9,
            })),
        };
        let mut out = Vec::new();
        collect_changes(
            &grant,
            &CommandResult {
                result: Some(CommandOutcome::LeaseGrant(LeaseGrantResponse::default())),
            },
            &mut out,
        );
        collect_changes(
            &grant,
            &CommandResult {
                result: Some(CommandOutcome::Error(CommandError::default())),
            },
            &mut out,
        );
        let checkpoint = Command {
            auth_header: None,
            request: Some(CommandRequest::LeaseCheckpoint(LeaseCheckpointRequest {
                checkpoints: vec![LeaseCheckpoint {
                    id: 9,
                    remaining_ttl: 3,
                }],
            })),
        };
        collect_changes(
            &checkpoint,
            &CommandResult {
                result: Some(CommandOutcome::LeaseCheckpoint(
                    LeaseCheckpointResponse::default(),
                )),
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                LeaseChange::Granted { id: 9, ttl: 5 },
                LeaseChange::Checkpointed {
                    id: 9,
                    remaining_ttl: 3
                }
            ]
        );
    }
}
