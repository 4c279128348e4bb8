//! `etcdserverpb.KV`: validate as etcd does, check the caller's permissions (`server::auth`),
//! then read locally (after a ReadIndex barrier unless serializable) or propose through Raft
//! and answer with what was applied.

use std::sync::Arc;

use keel_proto::etcdserverpb::kv_server::Kv;
use keel_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use prost::Message;
use tonic::{Request, Response, Status};

use super::auth::Caller;
use super::member::Member;
use super::quota;
use crate::error::StoreError;
use crate::mvcc::validate;

pub struct KvService {
    member: Arc<Member>,
}

impl KvService {
    pub fn new(member: Arc<Member>) -> Self {
        Self { member }
    }

    fn check_size(&self, request: &impl Message) -> Result<(), StoreError> {
        if request.encoded_len() > self.member.config.max_request_bytes {
            return Err(StoreError::RequestTooLarge);
        }
        Ok(())
    }
}

/// Proposes `$request` for `$caller`, expects the `$outcome` variant back and stamps this
/// member's header on it (the state machine only knows the revision).
macro_rules! propose_and_answer {
    ($self:ident, $caller:expr, $request:expr, $outcome:path) => {
        match $self.member.propose_as($caller, $request).await? {
            $outcome(mut response) => {
                let revision = response.header.map_or(0, |h| h.revision);
                response.header = Some($self.member.header(revision));
                Ok(Response::new(response))
            }
            _ => Err(Status::internal(
                "state machine answered with another request's result",
            )),
        }
    };
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        validate::check_range(&request)?;
        caller.check_range(&request)?;
        if !request.serializable {
            if self.member.is_learner() {
                return Err(StoreError::NotSupportedForLearner.into());
            }
            self.member.read_barrier().await?;
        }
        let mut response = self.member.mvcc.range(&request)?;
        let revision = response.header.map_or(0, |h| h.revision);
        response.header = Some(self.member.header(revision));
        Ok(Response::new(response))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        self.check_size(&request)?;
        validate::check_put(&request)?;
        caller.check_put(&request)?;
        let request = CommandRequest::Put(request);
        quota::check(&self.member, &request).await?;
        propose_and_answer!(self, &caller, request, CommandOutcome::Put)
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        self.check_size(&request)?;
        validate::check_delete(&request)?;
        caller.check_delete(&request)?;
        propose_and_answer!(
            self,
            &caller,
            CommandRequest::DeleteRange(request),
            CommandOutcome::DeleteRange
        )
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        self.check_size(&request)?;
        validate::check_txn(&request, self.member.config.max_txn_ops)?;
        caller.check_txn(&request)?;
        let request = CommandRequest::Txn(request);
        quota::check(&self.member, &request).await?;
        propose_and_answer!(self, &caller, request, CommandOutcome::Txn)
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        // As etcd: any authenticated caller may compact.
        let caller = Caller::of(&self.member, &request).await?;
        let request = request.into_inner();
        propose_and_answer!(
            self,
            &caller,
            CommandRequest::Compaction(request),
            CommandOutcome::Compaction
        )
    }
}
