//! Conversions between openraft's types and Keel's protobuf messages (`keelraft.*`).
//!
//! Decoding is total: a message missing a required field is a `CodecError`, never a panic,
//! because these bytes come from the network and from disk.

use std::collections::{BTreeMap, BTreeSet};

use keel_proto::keelraft as pb;
use openraft::EntryPayload;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, TransferLeaderRequest, VoteRequest, VoteResponse,
};

use super::{Entry, LeaderId, LogId, Membership, SnapshotMeta, StoredMembership, TypeConfig, Vote};

#[derive(Debug, thiserror::Error)]
#[error("malformed raft message: {0}")]
pub struct CodecError(pub String);

fn missing(what: &str) -> CodecError {
    CodecError(format!("missing {what}"))
}

pub fn log_id_to_pb(log_id: &LogId) -> pb::LogId {
    pb::LogId {
        leader_id: Some(pb::LeaderId {
            term: log_id.leader_id.term,
            node_id: log_id.leader_id.node_id,
        }),
        index: log_id.index,
    }
}

pub fn log_id_from_pb(log_id: &pb::LogId) -> Result<LogId, CodecError> {
    let leader = log_id.leader_id.ok_or_else(|| missing("log id leader"))?;
    Ok(LogId::new(
        LeaderId {
            term: leader.term,
            node_id: leader.node_id,
        },
        log_id.index,
    ))
}

pub fn opt_log_id_from_pb(log_id: Option<&pb::LogId>) -> Result<Option<LogId>, CodecError> {
    log_id.map(log_id_from_pb).transpose()
}

pub fn vote_to_pb(vote: &Vote) -> pb::Vote {
    pb::Vote {
        leader_id: Some(pb::LeaderId {
            term: vote.leader_id.term,
            node_id: vote.leader_id.node_id,
        }),
        committed: vote.committed,
    }
}

pub fn vote_from_pb(vote: Option<&pb::Vote>) -> Result<Vote, CodecError> {
    let vote = vote.ok_or_else(|| missing("vote"))?;
    let leader = vote.leader_id.ok_or_else(|| missing("vote leader"))?;
    Ok(if vote.committed {
        Vote::new_committed(leader.term, leader.node_id)
    } else {
        Vote::new(leader.term, leader.node_id)
    })
}

pub fn membership_to_pb(membership: &Membership) -> pb::Membership {
    pb::Membership {
        configs: membership
            .get_joint_config()
            .iter()
            .map(|ids| pb::NodeIdSet {
                ids: ids.iter().copied().collect(),
            })
            .collect(),
        nodes: membership
            .nodes()
            .map(|(id, node)| (*id, node.clone()))
            .collect(),
    }
}

pub fn membership_from_pb(membership: &pb::Membership) -> Result<Membership, CodecError> {
    let configs: Vec<BTreeSet<u64>> = membership
        .configs
        .iter()
        .map(|set| set.ids.iter().copied().collect())
        .collect();
    let nodes: BTreeMap<u64, pb::Node> = membership
        .nodes
        .iter()
        .map(|(id, node)| (*id, node.clone()))
        .collect();
    Membership::new(configs, nodes).map_err(|err| CodecError(err.to_string()))
}

pub fn stored_membership_to_pb(stored: &StoredMembership) -> pb::StoredMembership {
    pb::StoredMembership {
        log_id: stored.log_id().as_ref().map(log_id_to_pb),
        membership: Some(membership_to_pb(stored.membership())),
    }
}

pub fn stored_membership_from_pb(
    stored: &pb::StoredMembership,
) -> Result<StoredMembership, CodecError> {
    let membership = stored
        .membership
        .as_ref()
        .ok_or_else(|| missing("membership"))?;
    Ok(StoredMembership::new(
        opt_log_id_from_pb(stored.log_id.as_ref())?,
        membership_from_pb(membership)?,
    ))
}

pub fn entry_to_pb(entry: &Entry) -> pb::Entry {
    let payload = match &entry.payload {
        EntryPayload::Blank => pb::entry::Payload::Blank(pb::Blank {}),
        EntryPayload::Normal(command) => pb::entry::Payload::Normal(command.clone()),
        EntryPayload::Membership(m) => pb::entry::Payload::Membership(membership_to_pb(m)),
    };
    pb::Entry {
        log_id: Some(log_id_to_pb(&entry.log_id)),
        payload: Some(payload),
    }
}

pub fn entry_from_pb(entry: pb::Entry) -> Result<Entry, CodecError> {
    let log_id = log_id_from_pb(
        entry
            .log_id
            .as_ref()
            .ok_or_else(|| missing("entry log id"))?,
    )?;
    let payload = match entry.payload.ok_or_else(|| missing("entry payload"))? {
        pb::entry::Payload::Blank(_) => EntryPayload::Blank,
        pb::entry::Payload::Normal(command) => EntryPayload::Normal(command),
        pb::entry::Payload::Membership(m) => EntryPayload::Membership(membership_from_pb(&m)?),
    };
    Ok(Entry { log_id, payload })
}

pub fn append_request_to_pb(req: &AppendEntriesRequest<TypeConfig>) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        vote: Some(vote_to_pb(&req.vote)),
        prev_log_id: req.prev_log_id.as_ref().map(log_id_to_pb),
        entries: req.entries.iter().map(entry_to_pb).collect(),
        leader_commit: req.leader_commit.as_ref().map(log_id_to_pb),
    }
}

pub fn append_request_from_pb(
    req: pb::AppendEntriesRequest,
) -> Result<AppendEntriesRequest<TypeConfig>, CodecError> {
    Ok(AppendEntriesRequest {
        vote: vote_from_pb(req.vote.as_ref())?,
        prev_log_id: opt_log_id_from_pb(req.prev_log_id.as_ref())?,
        leader_commit: opt_log_id_from_pb(req.leader_commit.as_ref())?,
        entries: req
            .entries
            .into_iter()
            .map(entry_from_pb)
            .collect::<Result<_, _>>()?,
    })
}

pub fn append_response_to_pb(
    resp: &AppendEntriesResponse<TypeConfig>,
) -> pb::AppendEntriesResponse {
    use pb::append_entries_response::Result as R;
    let result = match resp {
        AppendEntriesResponse::Success => R::Success(pb::Blank {}),
        AppendEntriesResponse::PartialSuccess(matching) => R::PartialSuccess(pb::PartialSuccess {
            matching: matching.as_ref().map(log_id_to_pb),
        }),
        AppendEntriesResponse::Conflict => R::Conflict(pb::Blank {}),
        AppendEntriesResponse::HigherVote(vote) => R::HigherVote(vote_to_pb(vote)),
    };
    pb::AppendEntriesResponse {
        result: Some(result),
    }
}

pub fn append_response_from_pb(
    resp: pb::AppendEntriesResponse,
) -> Result<AppendEntriesResponse<TypeConfig>, CodecError> {
    use pb::append_entries_response::Result as R;
    Ok(match resp.result.ok_or_else(|| missing("append result"))? {
        R::Success(_) => AppendEntriesResponse::Success,
        R::PartialSuccess(p) => {
            AppendEntriesResponse::PartialSuccess(opt_log_id_from_pb(p.matching.as_ref())?)
        }
        R::Conflict(_) => AppendEntriesResponse::Conflict,
        R::HigherVote(vote) => AppendEntriesResponse::HigherVote(vote_from_pb(Some(&vote))?),
    })
}

pub fn vote_request_to_pb(req: &VoteRequest<TypeConfig>) -> pb::VoteRequest {
    pb::VoteRequest {
        vote: Some(vote_to_pb(&req.vote)),
        last_log_id: req.last_log_id.as_ref().map(log_id_to_pb),
        leadership_transfer: req.leadership_transfer,
        lost_leader_id: 0,
    }
}

pub fn vote_request_from_pb(req: pb::VoteRequest) -> Result<VoteRequest<TypeConfig>, CodecError> {
    let mut out = VoteRequest::new(
        vote_from_pb(req.vote.as_ref())?,
        opt_log_id_from_pb(req.last_log_id.as_ref())?,
    );
    out.leadership_transfer = req.leadership_transfer;
    Ok(out)
}

pub fn vote_response_to_pb(resp: &VoteResponse<TypeConfig>) -> pb::VoteResponse {
    pb::VoteResponse {
        vote: Some(vote_to_pb(&resp.vote)),
        vote_granted: resp.vote_granted,
        last_log_id: resp.last_log_id.as_ref().map(log_id_to_pb),
    }
}

pub fn vote_response_from_pb(
    resp: pb::VoteResponse,
) -> Result<VoteResponse<TypeConfig>, CodecError> {
    Ok(VoteResponse {
        vote: vote_from_pb(resp.vote.as_ref())?,
        vote_granted: resp.vote_granted,
        last_log_id: opt_log_id_from_pb(resp.last_log_id.as_ref())?,
    })
}

pub fn snapshot_meta_to_pb(meta: &SnapshotMeta) -> pb::SnapshotMeta {
    pb::SnapshotMeta {
        last_log_id: meta.last_log_id.as_ref().map(log_id_to_pb),
        last_membership: Some(stored_membership_to_pb(&meta.last_membership)),
    }
}

pub fn snapshot_meta_from_pb(meta: &pb::SnapshotMeta) -> Result<SnapshotMeta, CodecError> {
    let membership = meta
        .last_membership
        .as_ref()
        .ok_or_else(|| missing("snapshot membership"))?;
    Ok(SnapshotMeta {
        last_log_id: opt_log_id_from_pb(meta.last_log_id.as_ref())?,
        last_membership: stored_membership_from_pb(membership)?,
    })
}

pub fn transfer_leader_to_pb(req: &TransferLeaderRequest<TypeConfig>) -> pb::TransferLeaderRequest {
    pb::TransferLeaderRequest {
        vote: Some(vote_to_pb(req.from_leader())),
        to_node_id: *req.to_node_id(),
        last_log_id: req.last_log_id().map(log_id_to_pb),
    }
}

pub fn transfer_leader_from_pb(
    req: &pb::TransferLeaderRequest,
) -> Result<TransferLeaderRequest<TypeConfig>, CodecError> {
    Ok(TransferLeaderRequest::new(
        vote_from_pb(req.vote.as_ref())?,
        req.to_node_id,
        opt_log_id_from_pb(req.last_log_id.as_ref())?,
    ))
}
