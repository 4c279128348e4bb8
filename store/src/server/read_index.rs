//! A follower's linearizable reads share their ReadIndex round trips to the leader.
//!
//! Every read that arrives while a ReadIndex request is in flight waits for the next one, and
//! that next one answers all of them: a read index obtained after a read arrived is a valid
//! barrier for it (everything committed before the read is at or below it). Under load this
//! turns one peer RPC per read into one per round trip, as etcd's linearizable read loop does.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use keel_proto::keelraft::{Node, ReadIndexRequest};
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::raft::network::Peers;
use crate::raft::{LogId, NodeId, codec};

/// `Ok(None)`: the member asked was not the leader.
type ReadIndex = Result<Option<LogId>, StoreError>;

#[derive(Default)]
pub struct ReadIndexBatches {
    state: Mutex<Batch>,
}

#[derive(Default)]
struct Batch {
    /// A task is sending ReadIndex requests; it takes `waiting` before each one.
    in_flight: bool,
    waiting: Vec<oneshot::Sender<ReadIndex>>,
}

impl ReadIndexBatches {
    /// A read index from `leader` asked after this call, shared with the reads around it.
    pub async fn read_index(
        self: &Arc<Self>,
        peers: &Peers,
        leader: NodeId,
        node: &Node,
        deadline: Instant,
    ) -> ReadIndex {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut batch = self.state.lock().unwrap_or_else(|p| p.into_inner());
            batch.waiting.push(tx);
            !std::mem::replace(&mut batch.in_flight, true)
        };
        if start {
            tokio::spawn(
                self.clone()
                    .send_batches(peers.clone(), leader, node.clone(), deadline),
            );
        }
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Storage("read index batch dropped".into())))
    }

    async fn send_batches(
        self: Arc<Self>,
        peers: Peers,
        leader: NodeId,
        node: Node,
        deadline: Instant,
    ) {
        loop {
            let waiting = {
                let mut batch = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if batch.waiting.is_empty() {
                    batch.in_flight = false;
                    return;
                }
                std::mem::take(&mut batch.waiting)
            };
            let result = ask(&peers, leader, &node, deadline).await;
            for waiter in waiting {
                let _ = waiter.send(result.clone());
            }
        }
    }
}

/// Asks `leader` for a read index; `Ok(None)` when it turned out not to be the leader.
async fn ask(peers: &Peers, leader: NodeId, node: &Node, deadline: Instant) -> ReadIndex {
    let mut client = peers.client(leader, node).map_err(StoreError::Storage)?;
    let mut request = tonic::Request::new(ReadIndexRequest {});
    request.set_timeout(deadline.saturating_duration_since(Instant::now()));
    match client.read_index(request).await {
        Ok(response) => match response.into_inner().read_log_id {
            Some(id) => Ok(Some(
                codec::log_id_from_pb(&id).map_err(|e| StoreError::Storage(e.to_string()))?,
            )),
            None => Ok(None),
        },
        Err(status) if status.code() == tonic::Code::FailedPrecondition => Ok(None),
        Err(status) if status.code() == tonic::Code::Unavailable => Ok(None),
        Err(status) if status.code() == tonic::Code::DeadlineExceeded => Err(StoreError::Timeout),
        Err(status) => Err(StoreError::from_code_and_message(
            status.code() as i32,
            status.message().to_string(),
        )),
    }
}
