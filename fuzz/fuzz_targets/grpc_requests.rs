//! Fuzz target: etcd v3 requests as a client sends them.
//!
//! Input: one selector byte (which request message), then the protobuf bytes of the message.
//! Each decoded request goes through what the server would do with it in-process: the stateless
//! checks of `mvcc::validate` (the same calls `server/kv.rs` makes), the lessor's grant
//! preparation, then the Raft state machine's apply path (`Mvcc::begin_apply`,
//! `ApplyBatch::execute`, `ApplyBatch::commit`) for writes, and `Mvcc::range` / `Mvcc::history`
//! / `Mvcc::hash_kv` for reads and watch starts; auth commands (users, roles, logins) and the
//! permission checks over the auth state they leave.
//!
//! Why not a whole member: a one-member Keel answers each write only after a Raft round and a
//! WAL fsync, which costs roughly a millisecond an input; calling the MVCC directly runs the
//! same request-handling code that a peer or a client can influence at thousands of inputs a
//! second. What is not covered here: tonic's own framing (tonic/prost are fuzzed upstream) and
//! the Raft proposal plumbing between the service and the state machine (see `peer_messages`
//! for the peer side). Requests that need a leader (member changes, keepalives) are only decoded.
//!
//! The store persists across inputs (and is replaced every few thousand), so sequences of
//! writes, compactions and reads meet each other; a crash input is reproduced on a fresh store.

#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keel_fuzz::FuzzStore;
use keel_proto::etcdserverpb as etcd;
use keel_proto::keelraft::Command;
use keel_store::auth::{Access, permissions};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_store::lease::{Lessor, LessorConfig, QueueConfig};
use keel_store::mvcc::key_range::KeyRange;
use keel_store::mvcc::{Mvcc, RaftMeta, validate};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// etcd's default `--max-txn-ops`.
const MAX_TXN_OPS: usize = 128;
/// etcd's default `--max-request-bytes` (1.5 MiB): the server refuses larger requests first.
const MAX_REQUEST_BYTES: usize = 1536 * 1024;

fn store() -> &'static Mutex<FuzzStore> {
    static STORE: OnceLock<Mutex<FuzzStore>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(FuzzStore::new()))
}

fn lessor(mvcc: &Arc<Mvcc>) -> Lessor {
    Lessor::new(
        LessorConfig {
            member_id: 1,
            queue: QueueConfig::default(),
            promotion_extension: Duration::from_secs(1),
            min_ttl: 2,
            request_timeout: Duration::from_secs(1),
        },
        mvcc.clone(),
    )
}

/// Applies one command as the state machine does, in a batch of its own.
fn apply(mvcc: &Mvcc, request: CommandRequest) {
    let command = Command {
        auth_header: None,
        request: Some(request),
    };
    if command.encoded_len() > MAX_REQUEST_BYTES + 1024 {
        return;
    }
    let Ok(mut batch) = mvcc.begin_apply() else {
        return;
    };
    let _ = batch.execute(&command);
    let _ = batch.commit(&RaftMeta::default());
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    let message = M::decode(bytes).ok()?;
    (message.encoded_len() <= MAX_REQUEST_BYTES).then_some(message)
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = keel_fuzz::split(data) else {
        return;
    };
    let mvcc = store()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .for_next_input();
    match selector % 16 {
        0 => {
            if let Some(req) = decode::<etcd::RangeRequest>(bytes)
                && validate::check_range(&req).is_ok()
            {
                let _ = mvcc.range(&req);
            }
        }
        1 => {
            if let Some(req) = decode::<etcd::PutRequest>(bytes)
                && validate::check_put(&req).is_ok()
            {
                apply(&mvcc, CommandRequest::Put(req));
            }
        }
        2 => {
            if let Some(req) = decode::<etcd::DeleteRangeRequest>(bytes)
                && validate::check_delete(&req).is_ok()
            {
                apply(&mvcc, CommandRequest::DeleteRange(req));
            }
        }
        3 => {
            if let Some(req) = decode::<etcd::TxnRequest>(bytes)
                && validate::check_txn(&req, MAX_TXN_OPS).is_ok()
            {
                apply(&mvcc, CommandRequest::Txn(req));
            }
        }
        4 => {
            if let Some(req) = decode::<etcd::CompactionRequest>(bytes) {
                apply(&mvcc, CommandRequest::Compaction(req));
            }
        }
        5 => {
            if let Some(req) = decode::<etcd::LeaseGrantRequest>(bytes) {
                let req = lessor(&mvcc).prepare_grant(req);
                apply(&mvcc, CommandRequest::LeaseGrant(req));
            }
        }
        6 => {
            if let Some(req) = decode::<etcd::LeaseRevokeRequest>(bytes) {
                apply(&mvcc, CommandRequest::LeaseRevoke(req));
            }
        }
        7 => {
            if let Some(req) = decode::<etcd::LeaseTimeToLiveRequest>(bytes) {
                let _ = mvcc.lease(req.id);
                let _ = lessor(&mvcc).time_to_live(req.id);
            }
        }
        8 => {
            if let Some(req) = decode::<etcd::WatchRequest>(bytes)
                && let Some(etcd::watch_request::RequestUnion::CreateRequest(create)) =
                    req.request_union
            {
                let range = KeyRange::new(&create.key, &create.range_end);
                let _ = mvcc.history(&range, create.start_revision, 1000);
            }
        }
        9 => {
            if let Some(req) = decode::<etcd::AlarmRequest>(bytes) {
                apply(&mvcc, CommandRequest::Alarm(req));
            }
        }
        10 => {
            if let Some(req) = decode::<etcd::HashKvRequest>(bytes) {
                let _ = mvcc.hash_kv(req.revision);
            }
        }
        11 => {
            let _ = decode::<etcd::MemberAddRequest>(bytes);
            let _ = decode::<etcd::MemberRemoveRequest>(bytes);
            let _ = decode::<etcd::MemberUpdateRequest>(bytes);
            let _ = decode::<etcd::MemberPromoteRequest>(bytes);
            let _ = decode::<etcd::MemberListRequest>(bytes);
        }
        12 => {
            let _ = decode::<etcd::LeaseKeepAliveRequest>(bytes);
            let _ = decode::<etcd::LeaseLeasesRequest>(bytes);
            let _ = decode::<etcd::StatusRequest>(bytes);
            let _ = decode::<etcd::DefragmentRequest>(bytes);
            let _ = decode::<etcd::SnapshotRequest>(bytes);
            let _ = decode::<etcd::MoveLeaderRequest>(bytes);
        }
        13 => {
            // A lease checkpoint comes from the leader's lessor, never from a client; a
            // malicious peer can still propose one (peer_messages' Propose).
            if let Some(req) = decode::<etcd::LeaseCheckpointRequest>(bytes) {
                apply(&mvcc, CommandRequest::LeaseCheckpoint(req));
            }
        }
        14 => {
            // Users, roles and logins (the Auth service proposes these), then a permission
            // check of every user against the range the same bytes spell.
            if let Some(auth) = decode::<keel_proto::keelraft::AuthCommand>(bytes) {
                apply(&mvcc, CommandRequest::Auth(auth));
                let state = mvcc.auth.state();
                let (key, end) = bytes.split_at(bytes.len() / 2);
                for user in &state.users {
                    let name = String::from_utf8_lossy(&user.name);
                    let _ = permissions::check(&state, &name, Access::Read, key, end);
                    let _ = permissions::check_admin(&state, &name);
                }
            }
        }
        _ => {
            // Any command a peer may propose, as the leader applies it (auth header included).
            if let Some(command) = decode::<Command>(bytes)
                && command.encoded_len() <= MAX_REQUEST_BYTES + 1024
                && let Ok(mut batch) = mvcc.begin_apply()
            {
                let _ = batch.execute(&command);
                let _ = batch.commit(&RaftMeta::default());
            }
        }
    }
});
