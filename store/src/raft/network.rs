//! The client side of the peer transport: openraft's network over tonic, one lazily connected
//! channel per peer (tonic reconnects by itself after a peer restarts). An `https://` peer URL
//! is dialed over TLS with the member's peer CA and peer certificate (`server::tls`).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_proto::keelraft as pb;
use keel_proto::keelraft::raft_peer_client::RaftPeerClient;
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::codec;
use super::{NodeId, Snapshot, SnapshotData, TypeConfig, Vote};
use keel_proto::keelraft::Node;

/// Largest peer message (a whole snapshot travels as one message for now).
pub const MAX_PEER_MESSAGE_BYTES: usize = 1 << 30;

pub type PeerClient = RaftPeerClient<Channel>;

/// Connects (lazily) to a member's peer URL, from `source` when given, over TLS with `tls`
/// when the URL is `https://`.
pub fn connect(
    url: &str,
    source: Option<IpAddr>,
    tls: Option<&ClientTlsConfig>,
) -> Result<PeerClient, String> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|err| format!("bad peer url {url}: {err}"))?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .local_address(source);
    if url.starts_with("https://") {
        let tls = tls.ok_or_else(|| {
            format!("cannot connect to https peer {url}: no --peer-trusted-ca-file given")
        })?;
        endpoint = endpoint
            .tls_config(tls.clone())
            .map_err(|err| format!("peer url {url}: {err}"))?;
    }
    Ok(RaftPeerClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES))
}

/// Peer clients by member id, shared by Raft replication and request forwarding.
#[derive(Clone, Default)]
pub struct Peers {
    clients: Arc<Mutex<HashMap<(NodeId, String), PeerClient>>>,
    /// The local address peer connections are made from (`None`: the system's choice).
    source: Option<IpAddr>,
    /// How `https://` peers are dialed (`None`: they cannot be).
    tls: Option<ClientTlsConfig>,
    /// The leader whose process this member saw go away; sent along with its vote requests.
    pub lost_leader: Arc<LostLeader>,
}

/// The id of a leader whose Liveness stream broke (see `server::liveness`), 0 for none.
#[derive(Default)]
pub struct LostLeader(tokio::sync::watch::Sender<NodeId>);

impl LostLeader {
    pub fn get(&self) -> NodeId {
        *self.0.borrow()
    }

    pub fn set(&self, leader: NodeId) {
        self.0.send_replace(leader);
    }

    /// True once this member has seen `leader` go away too, waiting at most `timeout` (both
    /// followers see the same connection reset within milliseconds of each other).
    pub async fn confirm(&self, leader: NodeId, timeout: Duration) -> bool {
        let mut seen = self.0.subscribe();
        tokio::time::timeout(timeout, seen.wait_for(|lost| *lost == leader))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Peers {
    pub fn new(source: Option<IpAddr>, tls: Option<ClientTlsConfig>) -> Self {
        Self {
            clients: Arc::default(),
            source,
            tls,
            lost_leader: Arc::default(),
        }
    }

    pub fn client(&self, id: NodeId, node: &Node) -> Result<PeerClient, String> {
        let url = node
            .peer_urls
            .first()
            .ok_or_else(|| format!("member {id:x} has no peer url"))?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&(id, url.clone())) {
            return Ok(client.clone());
        }
        let client = connect(url, self.source, self.tls.as_ref())?;
        clients.insert((id, url.clone()), client.clone());
        Ok(client)
    }
}

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerConnection {
        PeerConnection {
            target,
            client: self.client(target, node),
            lost_leader: self.lost_leader.clone(),
        }
    }
}

pub struct PeerConnection {
    target: NodeId,
    client: Result<PeerClient, String>,
    lost_leader: Arc<LostLeader>,
}

fn rpc_error(target: NodeId, status: tonic::Status) -> RPCError<TypeConfig> {
    let message = format!("peer {target:x}: {}", status.message());
    match status.code() {
        tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::from_string(message)),
        _ => RPCError::Network(NetworkError::from_string(message)),
    }
}

fn decode_error(target: NodeId, err: codec::CodecError) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::from_string(format!("peer {target:x}: {err}")))
}

impl PeerConnection {
    fn client(&self) -> Result<PeerClient, RPCError<TypeConfig>> {
        self.client
            .clone()
            .map_err(|err| RPCError::Unreachable(Unreachable::from_string(err)))
    }
}

fn with_timeout<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

impl RaftNetworkV2<TypeConfig> for PeerConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = with_timeout(codec::append_request_to_pb(&rpc), option.hard_ttl());
        let response = self
            .client()?
            .append_entries(request)
            .await
            .map_err(|s| rpc_error(self.target, s))?;
        codec::append_response_from_pb(response.into_inner())
            .map_err(|e| decode_error(self.target, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut request = codec::vote_request_to_pb(&rpc);
        request.lost_leader_id = self.lost_leader.get();
        let request = with_timeout(request, option.hard_ttl());
        let response = self
            .client()?
            .vote(request)
            .await
            .map_err(|s| rpc_error(self.target, s))?;
        codec::vote_response_from_pb(response.into_inner())
            .map_err(|e| decode_error(self.target, e))
    }

    /// Tells the member that should campaign now (or, for the others, that they may vote for
    /// it before the old leader's lease ends). A refusal is only logged by openraft.
    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = with_timeout(codec::transfer_leader_to_pb(&req), option.hard_ttl());
        self.client()?
            .transfer_leader(request)
            .await
            .map_err(|s| rpc_error(self.target, s))?;
        Ok(Ok(()))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let client = self.client().map_err(|_| {
            StreamingError::Unreachable(Unreachable::from_string(format!(
                "peer {:x} has no usable address",
                self.target
            )))
        })?;
        // Reading a pinned snapshot reads the whole store: off the async workers.
        let image = snapshot.snapshot;
        let data = tokio::task::spawn_blocking(move || image.into_bytes())
            .await
            .map_err(|e| StreamingError::Network(NetworkError::from_string(e.to_string())))?
            .map_err(|e| StreamingError::Network(NetworkError::from_string(e.to_string())))?;
        let request = pb::InstallSnapshotRequest {
            vote: Some(codec::vote_to_pb(&vote)),
            meta: Some(codec::snapshot_meta_to_pb(&snapshot.meta)),
            data,
        };
        let target = self.target;
        let send = async move {
            let mut client = client;
            client.install_snapshot(request).await
        };
        let response = tokio::select! {
            closed = cancel => {
                return Err(StreamingError::Closed(closed));
            }
            response = send => response,
        };
        let response = response.map_err(|status| match rpc_error(target, status) {
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            other => StreamingError::Network(NetworkError::from_string(other.to_string())),
        })?;
        let vote = codec::vote_from_pb(response.into_inner().vote.as_ref())
            .map_err(|e| StreamingError::Network(NetworkError::from_string(e.to_string())))?;
        Ok(SnapshotResponse::new(vote))
    }
}
