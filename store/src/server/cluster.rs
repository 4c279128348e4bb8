//! `etcdserverpb.Cluster`: the member list and membership changes. The changes themselves
//! (and their forwarding to the leader) live in `membership`; this is the gRPC surface.

use std::sync::Arc;

use super::auth::Caller;
use keel_proto::etcdserverpb::cluster_server::Cluster;
use keel_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use keel_proto::keelraft::membership_change_request::Request as ChangeRequest;
use keel_proto::keelraft::membership_change_response::Response as ChangeResponse;
use tonic::{Request, Response, Status};

use super::member::Member;
use super::membership;

pub struct ClusterService {
    member: Arc<Member>,
}

impl ClusterService {
    pub fn new(member: Arc<Member>) -> Self {
        Self { member }
    }

    async fn change(&self, request: ChangeRequest) -> Result<ChangeResponse, Status> {
        Ok(membership::change(&self.member, request).await?)
    }
}

fn mismatched() -> Status {
    Status::internal("the leader answered a different membership change")
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        // As etcd: changing the membership takes an administrator.
        Caller::of(&self.member, &request).await?.check_admin()?;
        match self
            .change(ChangeRequest::Add(request.into_inner()))
            .await?
        {
            ChangeResponse::Add(response) => Ok(Response::new(response)),
            _ => Err(mismatched()),
        }
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        // As etcd: changing the membership takes an administrator.
        Caller::of(&self.member, &request).await?.check_admin()?;
        match self
            .change(ChangeRequest::Remove(request.into_inner()))
            .await?
        {
            ChangeResponse::Remove(response) => Ok(Response::new(response)),
            _ => Err(mismatched()),
        }
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        // As etcd: changing the membership takes an administrator.
        Caller::of(&self.member, &request).await?.check_admin()?;
        match self
            .change(ChangeRequest::Update(request.into_inner()))
            .await?
        {
            ChangeResponse::Update(response) => Ok(Response::new(response)),
            _ => Err(mismatched()),
        }
    }

    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        if request.into_inner().linearizable {
            self.member.read_barrier().await?;
        }
        Ok(Response::new(MemberListResponse {
            header: Some(self.member.header(self.member.mvcc.current_revision())),
            members: membership::member_list(&self.member),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        // As etcd: changing the membership takes an administrator.
        Caller::of(&self.member, &request).await?.check_admin()?;
        match self
            .change(ChangeRequest::Promote(request.into_inner()))
            .await?
        {
            ChangeResponse::Promote(response) => Ok(Response::new(response)),
            _ => Err(mismatched()),
        }
    }
}
