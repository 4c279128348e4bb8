//! Fuzz target: every `keelraft.RaftPeer` message another member (or anyone who reaches the
//! peer port) can send, and the responses a member decodes from its peers.
//!
//! Input: one selector byte (which message), then its protobuf bytes. Each message is decoded
//! and run through the `raft::codec` conversions `server/peer.rs` and `raft/network.rs` run
//! (`append_request_from_pb`, `vote_request_from_pb`, `snapshot_meta_from_pb`,
//! `transfer_leader_from_pb`, `entry_from_pb`, ...). What a successful conversion produces is
//! converted back and decoded again, which must give the same value: the codec may refuse a
//! message, never lose or change what it accepted. Handing the converted requests to openraft
//! itself is left to the cluster tests (it needs a running Raft); the commands inside them are
//! applied by `grpc_requests`' last selector, and snapshot data by `snapshot_reader`.

#![no_main]

use keel_proto::etcdserverpb as etcd;
use keel_proto::keelraft as pb;
use keel_store::raft::codec;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = keel_fuzz::split(data) else {
        return;
    };
    match selector % 16 {
        0 => {
            if let Some(req) = decode::<pb::AppendEntriesRequest>(bytes)
                && let Ok(rpc) = codec::append_request_from_pb(req)
            {
                let again = codec::append_request_from_pb(codec::append_request_to_pb(&rpc))
                    .expect("re-decoding an accepted AppendEntries");
                assert_eq!(format!("{rpc:?}"), format!("{again:?}"));
            }
        }
        1 => {
            if let Some(req) = decode::<pb::VoteRequest>(bytes)
                && let Ok(rpc) = codec::vote_request_from_pb(req)
            {
                let again = codec::vote_request_from_pb(codec::vote_request_to_pb(&rpc))
                    .expect("re-decoding an accepted Vote");
                assert_eq!(format!("{rpc:?}"), format!("{again:?}"));
            }
        }
        2 => {
            if let Some(req) = decode::<pb::InstallSnapshotRequest>(bytes) {
                let _ = codec::vote_from_pb(req.vote.as_ref());
                if let Some(meta) = &req.meta
                    && let Ok(meta) = codec::snapshot_meta_from_pb(meta)
                {
                    let again = codec::snapshot_meta_from_pb(&codec::snapshot_meta_to_pb(&meta))
                        .expect("re-decoding accepted snapshot meta");
                    assert_eq!(meta, again);
                }
            }
        }
        3 => {
            if let Some(req) = decode::<pb::ProposeRequest>(bytes) {
                let _ = req.command.map(|c| c.encoded_len());
            }
        }
        4 => {
            if let Some(req) = decode::<pb::MembershipChangeRequest>(bytes) {
                let _ = req.request;
            }
        }
        5 => {
            if let Some(req) = decode::<pb::TransferLeaderRequest>(bytes)
                && let Ok(rpc) = codec::transfer_leader_from_pb(&req)
            {
                let again = codec::transfer_leader_from_pb(&codec::transfer_leader_to_pb(&rpc))
                    .expect("re-decoding an accepted TransferLeader");
                assert_eq!(format!("{rpc:?}"), format!("{again:?}"));
            }
        }
        6 => {
            let _ = decode::<pb::PublishMemberRequest>(bytes);
            let _ = decode::<pb::ReadIndexRequest>(bytes);
            let _ = decode::<pb::ClusterInfoRequest>(bytes);
            let _ = decode::<pb::LivenessRequest>(bytes);
        }
        7 => {
            let _ = decode::<etcd::LeaseKeepAliveRequest>(bytes);
            let _ = decode::<etcd::LeaseTimeToLiveRequest>(bytes);
        }
        8 => {
            if let Some(resp) = decode::<pb::AppendEntriesResponse>(bytes)
                && let Ok(rpc) = codec::append_response_from_pb(resp)
            {
                let again = codec::append_response_from_pb(codec::append_response_to_pb(&rpc))
                    .expect("re-decoding an accepted AppendEntries response");
                assert_eq!(rpc, again);
            }
        }
        9 => {
            if let Some(resp) = decode::<pb::VoteResponse>(bytes)
                && let Ok(rpc) = codec::vote_response_from_pb(resp)
            {
                let again = codec::vote_response_from_pb(codec::vote_response_to_pb(&rpc))
                    .expect("re-decoding an accepted Vote response");
                assert_eq!(rpc, again);
            }
        }
        10 => {
            if let Some(resp) = decode::<pb::ReadIndexResponse>(bytes) {
                let _ = codec::opt_log_id_from_pb(resp.read_log_id.as_ref());
            }
            let _ = decode::<pb::InstallSnapshotResponse>(bytes)
                .map(|resp| codec::vote_from_pb(resp.vote.as_ref()));
        }
        11 => {
            let _ = decode::<pb::ClusterInfoResponse>(bytes);
            let _ = decode::<pb::MembershipChangeResponse>(bytes);
            let _ = decode::<pb::CommandResult>(bytes);
        }
        12 => {
            if let Some(membership) = decode::<pb::StoredMembership>(bytes)
                && let Ok(stored) = codec::stored_membership_from_pb(&membership)
            {
                let again =
                    codec::stored_membership_from_pb(&codec::stored_membership_to_pb(&stored))
                        .expect("re-decoding an accepted membership");
                assert_eq!(stored, again);
            }
        }
        _ => {
            if let Some(entry) = decode::<pb::Entry>(bytes)
                && let Ok(entry) = codec::entry_from_pb(entry)
            {
                let again = codec::entry_from_pb(codec::entry_to_pb(&entry))
                    .expect("re-decoding an accepted entry");
                assert_eq!(format!("{entry:?}"), format!("{again:?}"));
            }
        }
    }
});
