//! What a learner may answer. etcd serves only `Status` and serializable `Range` on a learner
//! (it has the data but is not part of the quorum); every other client RPC fails with
//! "etcdserver: rpc not supported for learner". The check runs in front of every gRPC route by
//! method path, so no service can forget it; `Range` itself refuses the linearizable kind.
//! The peer transport (`/keelraft.*`) always passes: it is how a learner catches up.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tower_layer::Layer;
use tower_service::Service;

use super::member::Member;
use crate::error::StoreError;

/// Method paths a learner answers.
const LEARNER_RPCS: [&str; 2] = ["/etcdserverpb.Maintenance/Status", "/etcdserverpb.KV/Range"];

/// Refuses client RPCs a learner may not serve.
#[derive(Clone)]
pub struct LearnerGuardLayer {
    member: Arc<Member>,
}

impl LearnerGuardLayer {
    pub fn new(member: Arc<Member>) -> Self {
        Self { member }
    }
}

impl<S> Layer<S> for LearnerGuardLayer {
    type Service = LearnerGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LearnerGuard {
            inner,
            member: self.member.clone(),
        }
    }
}

#[derive(Clone)]
pub struct LearnerGuard<S> {
    inner: S,
    member: Arc<Member>,
}

fn allowed_for_learner(path: &str) -> bool {
    path.starts_with("/keelraft.") || LEARNER_RPCS.contains(&path)
}

impl<S, B, R> Service<http::Request<B>> for LearnerGuard<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if !allowed_for_learner(request.uri().path()) && self.member.is_learner() {
            let refused = StoreError::NotSupportedForLearner.to_status().into_http();
            return Either::Left(ready(Ok(refused)));
        }
        Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_for_learner;

    #[test]
    fn learners_answer_only_status_range_and_peers() {
        assert!(allowed_for_learner("/etcdserverpb.Maintenance/Status"));
        assert!(allowed_for_learner("/etcdserverpb.KV/Range"));
        assert!(allowed_for_learner("/keelraft.RaftPeer/AppendEntries"));
        assert!(!allowed_for_learner("/etcdserverpb.KV/Put"));
        assert!(!allowed_for_learner("/etcdserverpb.Watch/Watch"));
        assert!(!allowed_for_learner("/etcdserverpb.Cluster/MemberList"));
    }
}
