//! Writes the seed corpora (`fuzz/corpus/<target>/seed-*`) from real messages: what Keel's own
//! code encodes for typical client requests, peer messages, WAL files and snapshots, so that
//! libFuzzer starts from valid inputs of every selector rather than from nothing.
//!
//! Run from `fuzz/`: `cargo +nightly run --release --bin seed_corpora` (see README.md).

use std::collections::BTreeMap;
use std::path::Path;

use keel_proto::etcdserverpb as etcd;
use keel_proto::keelraft as pb;
use keel_proto::mvccpb::KeyValue;
use keel_store::raft::log_store::{LogStore, scan_chunk};
use keel_store::raft::{Entry, LeaderId, LogId};
use keel_store::snapshot_file;
use openraft::storage::{IOFlushed, RaftLogStorage};
use prost::Message;

fn write(target: &str, name: &str, selector: u8, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let mut input = vec![selector];
    input.extend_from_slice(bytes);
    std::fs::write(dir.join(format!("seed-{name}")), input).expect("write seed");
}

fn put(key: &str, value: &str) -> etcd::PutRequest {
    etcd::PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn op(request: etcd::request_op::Request) -> etcd::RequestOp {
    etcd::RequestOp {
        request: Some(request),
    }
}

fn txn() -> etcd::TxnRequest {
    use etcd::request_op::Request;
    etcd::TxnRequest {
        compare: vec![etcd::Compare {
            result: etcd::compare::CompareResult::Equal as i32,
            target: etcd::compare::CompareTarget::Version as i32,
            key: b"a".to_vec(),
            range_end: vec![],
            target_union: Some(etcd::compare::TargetUnion::Version(0)),
        }],
        success: vec![
            op(Request::RequestPut(put("a", "1"))),
            op(Request::RequestRange(etcd::RangeRequest {
                key: b"a".to_vec(),
                ..Default::default()
            })),
            op(Request::RequestTxn(etcd::TxnRequest {
                compare: vec![],
                success: vec![op(Request::RequestPut(put("n", "x")))],
                failure: vec![op(Request::RequestDeleteRange(etcd::DeleteRangeRequest {
                    key: b"n".to_vec(),
                    ..Default::default()
                }))],
            })),
        ],
        failure: vec![op(Request::RequestDeleteRange(etcd::DeleteRangeRequest {
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
            prev_kv: true,
        }))],
    }
}

fn grpc_requests() {
    let t = "grpc_requests";
    let range = etcd::RangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        limit: 10,
        sort_order: 1,
        sort_target: 3,
        ..Default::default()
    };
    write(t, "range", 0, &range.encode_to_vec());
    let all = etcd::RangeRequest {
        key: vec![0],
        range_end: vec![0],
        revision: 2,
        count_only: true,
        ..Default::default()
    };
    write(t, "range-all", 0, &all.encode_to_vec());
    write(t, "put", 1, &put("a", "1").encode_to_vec());
    let leased = etcd::PutRequest {
        lease: 0x1234,
        prev_kv: true,
        ..put("b", "2")
    };
    write(t, "put-lease", 1, &leased.encode_to_vec());
    let del = etcd::DeleteRangeRequest {
        key: b"a".to_vec(),
        range_end: vec![0],
        prev_kv: true,
    };
    write(t, "delete", 2, &del.encode_to_vec());
    write(t, "txn", 3, &txn().encode_to_vec());
    let compact = etcd::CompactionRequest {
        revision: 3,
        physical: true,
    };
    write(t, "compact", 4, &compact.encode_to_vec());
    let grant = etcd::LeaseGrantRequest {
        ttl: 60,
        id: 0x1234,
    };
    write(t, "lease-grant", 5, &grant.encode_to_vec());
    write(
        t,
        "lease-revoke",
        6,
        &etcd::LeaseRevokeRequest { id: 0x1234 }.encode_to_vec(),
    );
    let ttl = etcd::LeaseTimeToLiveRequest {
        id: 0x1234,
        keys: true,
    };
    write(t, "lease-ttl", 7, &ttl.encode_to_vec());
    let watch = etcd::WatchRequest {
        request_union: Some(etcd::watch_request::RequestUnion::CreateRequest(
            etcd::WatchCreateRequest {
                key: b"a".to_vec(),
                range_end: b"z".to_vec(),
                start_revision: 1,
                prev_kv: true,
                ..Default::default()
            },
        )),
    };
    write(t, "watch", 8, &watch.encode_to_vec());
    let alarm = etcd::AlarmRequest {
        action: etcd::alarm_request::AlarmAction::Activate as i32,
        member_id: 1,
        alarm: etcd::AlarmType::Nospace as i32,
    };
    write(t, "alarm", 9, &alarm.encode_to_vec());
    write(
        t,
        "hashkv",
        10,
        &etcd::HashKvRequest { revision: 2 }.encode_to_vec(),
    );
    let member = etcd::MemberAddRequest {
        peer_urls: vec!["http://127.0.0.1:2380".into()],
        is_learner: true,
    };
    write(t, "member-add", 11, &member.encode_to_vec());
    write(
        t,
        "keepalive",
        12,
        &etcd::LeaseKeepAliveRequest { id: 5 }.encode_to_vec(),
    );
    let checkpoint = etcd::LeaseCheckpointRequest {
        checkpoints: vec![etcd::LeaseCheckpoint {
            id: 0x1234,
            remaining_ttl: 30,
        }],
    };
    write(t, "lease-checkpoint", 13, &checkpoint.encode_to_vec());
    let command = pb::Command {
        auth_header: None,
        request: Some(pb::command::Request::Txn(txn())),
    };
    write(t, "command", 14, &command.encode_to_vec());
}

fn log_id(term: u64, index: u64) -> pb::LogId {
    pb::LogId {
        leader_id: Some(pb::LeaderId { term, node_id: 1 }),
        index,
    }
}

fn vote(term: u64, committed: bool) -> pb::Vote {
    pb::Vote {
        leader_id: Some(pb::LeaderId { term, node_id: 1 }),
        committed,
    }
}

fn membership() -> pb::Membership {
    let node = |i: u64| pb::Node {
        name: format!("m{i}"),
        peer_urls: vec![format!("http://127.0.0.1:{}", 2380 + i)],
        client_urls: vec![format!("http://127.0.0.1:{}", 2379 + i)],
    };
    pb::Membership {
        configs: vec![pb::NodeIdSet { ids: vec![1, 2, 3] }],
        nodes: BTreeMap::from([(1, node(1)), (2, node(2)), (3, node(3)), (4, node(4))])
            .into_iter()
            .collect(),
    }
}

fn entries() -> Vec<pb::Entry> {
    vec![
        pb::Entry {
            log_id: Some(log_id(1, 1)),
            payload: Some(pb::entry::Payload::Blank(pb::Blank {})),
        },
        pb::Entry {
            log_id: Some(log_id(1, 2)),
            payload: Some(pb::entry::Payload::Membership(membership())),
        },
        pb::Entry {
            log_id: Some(log_id(1, 3)),
            payload: Some(pb::entry::Payload::Normal(pb::Command {
                auth_header: None,
                request: Some(pb::command::Request::Put(put("a", "1"))),
            })),
        },
    ]
}

fn peer_messages() {
    let t = "peer_messages";
    let append = pb::AppendEntriesRequest {
        vote: Some(vote(1, true)),
        prev_log_id: Some(log_id(1, 0)),
        entries: entries(),
        leader_commit: Some(log_id(1, 2)),
    };
    write(t, "append", 0, &append.encode_to_vec());
    let vote_request = pb::VoteRequest {
        vote: Some(vote(2, false)),
        last_log_id: Some(log_id(1, 3)),
        leadership_transfer: false,
        lost_leader_id: 1,
    };
    write(t, "vote", 1, &vote_request.encode_to_vec());
    let snapshot = pb::InstallSnapshotRequest {
        vote: Some(vote(1, true)),
        meta: Some(pb::SnapshotMeta {
            last_log_id: Some(log_id(1, 3)),
            last_membership: Some(pb::StoredMembership {
                log_id: Some(log_id(1, 2)),
                membership: Some(membership()),
            }),
        }),
        data: image().encode_to_vec(),
    };
    write(t, "install-snapshot", 2, &snapshot.encode_to_vec());
    let propose = pb::ProposeRequest {
        command: Some(pb::Command {
            auth_header: None,
            request: Some(pb::command::Request::Txn(txn())),
        }),
    };
    write(t, "propose", 3, &propose.encode_to_vec());
    let change = pb::MembershipChangeRequest {
        request: Some(pb::membership_change_request::Request::Add(
            etcd::MemberAddRequest {
                peer_urls: vec!["http://127.0.0.1:2390".into()],
                is_learner: false,
            },
        )),
    };
    write(t, "membership-change", 4, &change.encode_to_vec());
    let transfer = pb::TransferLeaderRequest {
        vote: Some(vote(3, true)),
        to_node_id: 2,
        last_log_id: Some(log_id(3, 9)),
    };
    write(t, "transfer-leader", 5, &transfer.encode_to_vec());
    let publish = pb::PublishMemberRequest {
        member_id: 2,
        node: membership().nodes.get(&2).cloned(),
    };
    write(t, "publish", 6, &publish.encode_to_vec());
    write(
        t,
        "keepalive",
        7,
        &etcd::LeaseKeepAliveRequest { id: 9 }.encode_to_vec(),
    );
    let append_response = pb::AppendEntriesResponse {
        result: Some(pb::append_entries_response::Result::PartialSuccess(
            pb::PartialSuccess {
                matching: Some(log_id(1, 2)),
            },
        )),
    };
    write(t, "append-response", 8, &append_response.encode_to_vec());
    let vote_response = pb::VoteResponse {
        vote: Some(vote(2, false)),
        vote_granted: true,
        last_log_id: Some(log_id(1, 3)),
    };
    write(t, "vote-response", 9, &vote_response.encode_to_vec());
    let read_index = pb::ReadIndexResponse {
        read_log_id: Some(log_id(4, 12)),
    };
    write(t, "read-index", 10, &read_index.encode_to_vec());
    let info = pb::ClusterInfoResponse {
        cluster_id: 77,
        members: vec![etcd::Member {
            id: 1,
            name: "m1".into(),
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            client_urls: vec!["http://127.0.0.1:2379".into()],
            is_learner: false,
        }],
        membership_log_index: 2,
    };
    write(t, "cluster-info", 11, &info.encode_to_vec());
    let stored = pb::StoredMembership {
        log_id: Some(log_id(1, 2)),
        membership: Some(membership()),
    };
    write(t, "stored-membership", 12, &stored.encode_to_vec());
    for (i, entry) in entries().iter().enumerate() {
        write(t, &format!("entry-{i}"), 13, &entry.encode_to_vec());
    }
}

fn image() -> pb::StateMachineImage {
    let kv = |key: &str, rev: i64, version: i64, lease: i64| KeyValue {
        key: key.into(),
        value: format!("v{rev}").into_bytes(),
        create_revision: 2,
        mod_revision: rev,
        version,
        lease,
    };
    pb::StateMachineImage {
        current_revision: 5,
        compact_revision: 2,
        records: vec![
            pb::RevisionRecord {
                main: 2,
                sub: 0,
                tombstone: false,
                kv: Some(kv("a", 2, 1, 0)),
            },
            pb::RevisionRecord {
                main: 3,
                sub: 0,
                tombstone: false,
                kv: Some(kv("a", 3, 2, 0x99)),
            },
            pb::RevisionRecord {
                main: 4,
                sub: 0,
                tombstone: false,
                kv: Some(kv("b", 4, 1, 0)),
            },
            pb::RevisionRecord {
                main: 5,
                sub: 0,
                tombstone: true,
                kv: Some(KeyValue {
                    key: b"b".to_vec(),
                    mod_revision: 5,
                    ..Default::default()
                }),
            },
        ],
        cluster_id: 0xabc,
        leases: vec![pb::LeaseRecord {
            id: 0x99,
            ttl: 60,
            remaining_ttl: 30,
        }],
        alarms: vec![etcd::AlarmMember {
            member_id: 1,
            alarm: etcd::AlarmType::Nospace as i32,
        }],
    }
}

fn snapshot_reader() {
    let t = "snapshot_reader";
    let file = snapshot_file::encode(&image());
    write(t, "backup-file", 0, &file);
    let image = image().encode_to_vec();
    let mut framed = (image.len() as u64).to_be_bytes().to_vec();
    framed.extend_from_slice(&image);
    write(t, "backup-image", 1, &framed);
    write(t, "install", 2, &image);
    write(t, "install-reopen", 0x12, &image);
    write(t, "install-empty", 3, &[]);
}

async fn wal_reader() {
    let t = "wal_reader";
    let dir = tempfile::tempdir().expect("temp dir");
    let wal = dir.path().join("wal");
    let mut log = LogStore::open(&wal).expect("open a log");
    log.save_identity(&pb::MemberIdentity {
        member_id: 7,
        cluster_id: 9,
        name: "m1".into(),
        joined: false,
        removed: false,
    })
    .await
    .expect("identity");
    log.save_vote(&keel_store::raft::Vote::new(1, 1))
        .await
        .expect("vote");
    let entries: Vec<Entry> = entries()
        .into_iter()
        .map(|e| keel_store::raft::codec::entry_from_pb(e).expect("a valid entry"))
        .collect();
    log.append(entries, IOFlushed::noop())
        .await
        .expect("append");
    log.save_committed(Some(LogId::new(
        LeaderId {
            term: 1,
            node_id: 1,
        },
        2,
    )))
    .await
    .expect("commit");
    log.save_vote(&keel_store::raft::Vote::new_committed(1, 1))
        .await
        .expect("vote");
    drop(log);
    let name = raft_log::chunked_wal::Config::chunk_file_name(raft_log::ChunkId(0));
    let chunk = wal.join(name);
    let bytes = std::fs::read(&chunk).expect("read the chunk");
    write(t, "chunk", 0, &bytes);
    // The same records in the structured mode: type byte, u16 length, payload (no CRC).
    let scan = scan_chunk(&chunk).expect("scan");
    let mut records = Vec::new();
    let mut start = 0usize;
    for end in scan.record_ends {
        let end = end as usize;
        let payload = &bytes[start + 4..end - 8];
        records.push(bytes[start + 3]);
        records.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        records.extend_from_slice(payload);
        start = end;
    }
    write(t, "records", 1, &records);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    grpc_requests();
    peer_messages();
    snapshot_reader();
    wal_reader().await;
}
