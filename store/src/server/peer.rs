//! `keelraft.RaftPeer`, the server side of the member-to-member transport: Raft's own RPCs
//! handed to openraft, plus the leader's half of write forwarding, follower ReadIndex and the
//! lease requests only the leader's lessor can answer (keepalive, time-to-live), membership
//! changes, leadership transfer and the cluster view a joining member asks for.

use std::sync::Arc;
use std::time::Duration;

use keel_proto::etcdserverpb::{
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use keel_proto::keelraft as pb;
use keel_proto::keelraft::raft_peer_server::RaftPeer;
use tonic::{Request, Response, Status};

use super::lease;
use super::member::Member;
use super::membership;
use crate::raft::codec;

pub struct PeerService {
    member: Arc<Member>,
    /// Becomes true when the member stops serving: ends the Liveness streams it holds open.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl PeerService {
    pub fn new(member: Arc<Member>, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { member, stop }
    }
}

/// How long a voter asked to skip a leader's lease waits to see that leader go away itself.
const CONFIRM_LOST_LEADER: Duration = Duration::from_millis(300);

fn bad_message(err: codec::CodecError) -> Status {
    Status::invalid_argument(err.to_string())
}

fn not_leader() -> Status {
    Status::failed_precondition("not the leader")
}

type LivenessStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::LivenessResponse, Status>> + Send>>;

#[tonic::async_trait]
impl RaftPeer for PeerService {
    type LivenessStream = LivenessStream;

    async fn liveness(
        &self,
        _request: Request<pb::LivenessRequest>,
    ) -> Result<Response<LivenessStream>, Status> {
        use futures::StreamExt;
        let mut stop = self.stop.clone();
        let open_until_stop = futures::stream::once(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .filter_map(|()| async { None });
        Ok(Response::new(Box::pin(open_until_stop)))
    }

    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let rpc = codec::append_request_from_pb(request.into_inner()).map_err(bad_message)?;
        let response = self
            .member
            .raft
            .append_entries(rpc)
            .await
            .map_err(|err| Status::unavailable(err.to_string()))?;
        Ok(Response::new(codec::append_response_to_pb(&response)))
    }

    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let request = request.into_inner();
        let lost_leader = request.lost_leader_id;
        let mut rpc = codec::vote_request_from_pb(request).map_err(bad_message)?;
        // The candidate saw the leader's process go away. If this member saw it too, the
        // leader's lease protects nobody: vote now rather than after it runs out. If this
        // member still hears from the leader, the lease rule stands and the vote is refused.
        if lost_leader != 0
            && !rpc.leadership_transfer
            && self
                .member
                .peers
                .lost_leader
                .confirm(lost_leader, CONFIRM_LOST_LEADER)
                .await
        {
            rpc.leadership_transfer = true;
        }
        let response = self
            .member
            .raft
            .vote(rpc)
            .await
            .map_err(|err| Status::unavailable(err.to_string()))?;
        Ok(Response::new(codec::vote_response_to_pb(&response)))
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        let request = request.into_inner();
        let vote = codec::vote_from_pb(request.vote.as_ref()).map_err(bad_message)?;
        let meta = request
            .meta
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("snapshot without meta"))?;
        let meta = codec::snapshot_meta_from_pb(meta).map_err(bad_message)?;
        let snapshot = crate::raft::Snapshot {
            meta,
            snapshot: crate::raft::state_machine::SnapshotImage::Encoded(request.data),
        };
        let response = self
            .member
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|err| Status::unavailable(err.to_string()))?;
        Ok(Response::new(pb::InstallSnapshotResponse {
            vote: Some(codec::vote_to_pb(&response.vote)),
        }))
    }

    async fn propose(
        &self,
        request: Request<pb::ProposeRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let command = request
            .into_inner()
            .command
            .ok_or_else(|| Status::invalid_argument("propose without a command"))?;
        match self.member.propose_local(command).await? {
            Some(result) => Ok(Response::new(result)),
            None => Err(not_leader()),
        }
    }

    async fn publish_member(
        &self,
        request: Request<pb::PublishMemberRequest>,
    ) -> Result<Response<pb::PublishMemberResponse>, Status> {
        let request = request.into_inner();
        let node = request
            .node
            .ok_or_else(|| Status::invalid_argument("publish without a node"))?;
        if self.member.record_member(request.member_id, node).await? {
            Ok(Response::new(pb::PublishMemberResponse {}))
        } else {
            Err(not_leader())
        }
    }

    async fn read_index(
        &self,
        _: Request<pb::ReadIndexRequest>,
    ) -> Result<Response<pb::ReadIndexResponse>, Status> {
        match self.member.local_read_index().await? {
            Some(log_id) => Ok(Response::new(pb::ReadIndexResponse {
                read_log_id: Some(codec::log_id_to_pb(&log_id)),
            })),
            None => Err(not_leader()),
        }
    }

    async fn lease_keep_alive(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        let id = request.into_inner().id;
        match lease::keep_alive_on_leader(&self.member, id).await? {
            Some(ttl) => Ok(Response::new(LeaseKeepAliveResponse {
                header: None,
                id,
                ttl,
            })),
            None => Err(not_leader()),
        }
    }

    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderResponse>, Status> {
        let request = codec::transfer_leader_from_pb(&request.into_inner()).map_err(bad_message)?;
        match self.member.raft.handle_transfer_leader(request).await {
            Ok(Ok(())) => Ok(Response::new(pb::TransferLeaderResponse {})),
            Ok(Err(refused)) => Err(Status::failed_precondition(refused.to_string())),
            Err(fatal) => Err(Status::unavailable(fatal.to_string())),
        }
    }

    async fn cluster_info(
        &self,
        _: Request<pb::ClusterInfoRequest>,
    ) -> Result<Response<pb::ClusterInfoResponse>, Status> {
        Ok(Response::new(membership::cluster_info(&self.member)))
    }

    async fn change_membership(
        &self,
        request: Request<pb::MembershipChangeRequest>,
    ) -> Result<Response<pb::MembershipChangeResponse>, Status> {
        let request = request
            .into_inner()
            .request
            .ok_or_else(|| Status::invalid_argument("membership change without a request"))?;
        match membership::change_on_leader(&self.member, request).await? {
            Some(response) => Ok(Response::new(pb::MembershipChangeResponse {
                response: Some(response),
            })),
            None => Err(not_leader()),
        }
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        match lease::time_to_live_on_leader(&self.member, &request).await? {
            Some(response) => Ok(Response::new(response)),
            None => Err(not_leader()),
        }
    }
}
