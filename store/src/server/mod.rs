//! One member end to end: open (or bootstrap) its data dir, start Raft, serve etcd's gRPC API
//! to clients and the peer transport to the other members, and stop cleanly.
//!
//! Data dir layout (etcd's): `member/wal/` holds the Raft log and vote (raft-log) plus the
//! member's identity; `member/snap/db` is the state machine (redb). A member whose log has
//! state but whose state machine file is missing or unreadable refuses to start: it must never
//! come up empty and let Raft believe it still holds what it acknowledged.

pub mod auth;
pub mod cluster;
pub mod compactor;
pub mod kv;
pub mod learner;
pub mod lease;
pub mod liveness;
pub mod maintenance;
pub mod member;
pub mod membership;
pub mod peer;
pub mod ping_policy;
pub mod quota;
pub mod read_index;
pub mod restore;
pub mod tls;
pub mod watch;

use ping_policy::PingGuarded;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_proto::etcdserverpb::cluster_server::ClusterServer;
use keel_proto::etcdserverpb::kv_server::KvServer;
use keel_proto::keelraft::raft_peer_server::RaftPeerServer;
use keel_proto::keelraft::{MemberIdentity, Node};
use openraft::async_runtime::WatchReceiver;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::config::{self, ClusterState, MemberConfig};
use crate::lease::{Lessor, LessorConfig};
use crate::mvcc::Mvcc;
use crate::raft::Raft;
use crate::raft::log_store::LogStore;
use crate::raft::network::{MAX_PEER_MESSAGE_BYTES, Peers};
use crate::raft::state_machine::StateMachine;
use crate::watch::{WatchConfig, WatchHub};
pub use member::Member;

/// Room gRPC framing may take on top of `--max-request-bytes` (etcd uses the same margin), so
/// that a slightly-too-large request gets etcd's "request is too large" rather than a gRPC error.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot use data dir {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("cannot listen on {url}: {reason}")]
    Listen { url: String, reason: String },
    #[error("raft: {0}")]
    Raft(String),
    #[error("{}", membership::REMOVED_MESSAGE)]
    Removed,
    #[error("{0}")]
    Snapshot(String),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
}

pub(crate) fn data_dir_error(path: &Path, reason: impl ToString) -> ServerError {
    ServerError::DataDir {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Runs a member until `shutdown` resolves, then stops it cleanly.
pub async fn run(
    config: MemberConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let member = start(config).await?;
    let result = serve(member.clone(), shutdown).await;
    tracing::info!("stopping raft");
    if let Err(err) = member.raft.shutdown().await {
        tracing::warn!(%err, "raft did not stop cleanly");
    }
    // Nothing is lost without this (the log has every entry), but a restart then has nothing
    // to re-apply.
    if let Err(err) = member.mvcc.persist() {
        tracing::warn!(%err, "could not sync the state machine file");
    }
    tracing::info!(name = %member.config.name, "member stopped");
    result
}

/// Opens or bootstraps the member's data dir and starts Raft (not yet serving).
pub async fn start(config: MemberConfig) -> Result<Arc<Member>, ServerError> {
    tls::validate(&config)?;
    let member_dir = config.data_dir.join("member");
    let wal_dir = member_dir.join("wal");
    let snap_dir = member_dir.join("snap");
    let db_path = snap_dir.join("db");
    std::fs::create_dir_all(&snap_dir).map_err(|e| data_dir_error(&snap_dir, e))?;

    let log = LogStore::open(&wal_dir).map_err(|e| data_dir_error(&wal_dir, e))?;
    let stored_identity = log.identity().map_err(|e| data_dir_error(&wal_dir, e))?;
    let log_has_state = log.has_state();
    if (log_has_state || stored_identity.is_some()) && !db_path.exists() {
        return Err(data_dir_error(
            &db_path,
            "the state machine file is missing although the Raft log has state; refusing to start empty",
        ));
    }
    let mvcc = open_state_machine(&db_path)?;
    // A data dir that has served but whose log lost its identity (a WAL deleted, emptied or cut
    // back by damage) must not come up as a brand-new member with the old data under it.
    let has_applied = mvcc
        .raft_meta()
        .map_err(|e| data_dir_error(&db_path, e))?
        .applied_log_id
        .is_some();
    if stored_identity.is_none() && (log_has_state || has_applied) {
        return Err(data_dir_error(
            &wal_dir,
            "the Raft log holds no member identity although this data dir has Raft state (the log is missing or damaged); refusing to start as a new member",
        ));
    }

    let identity = match stored_identity {
        Some(identity) => {
            if identity.name != config.name {
                tracing::warn!(stored = %identity.name, flag = %config.name, "--name differs from the name this data dir was created with; keeping the stored one");
            }
            if identity.removed {
                return Err(ServerError::Removed);
            }
            identity
        }
        None => {
            let identity = new_identity(&config).await?;
            log.save_identity(&identity)
                .await
                .map_err(|e| data_dir_error(&wal_dir, e))?;
            identity
        }
    };
    mvcc.init_cluster_id(identity.cluster_id)
        .map_err(|e| data_dir_error(&db_path, e))?;
    mvcc.auth.tokens.set_ttl(config.auth_token_ttl);

    let raft_config = openraft::Config {
        cluster_name: "keel".into(),
        heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
        election_timeout_min: config.election_timeout.as_millis() as u64,
        election_timeout_max: 2 * config.election_timeout.as_millis() as u64,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_count),
        max_in_snapshot_log_to_keep: config.snapshot_catchup_entries,
        // Standard Raft: a restarted leader campaigns in a new term. Restoring leadership in
        // the old term (openraft's default) let a leader killed with entries it had sent but
        // not yet made durable itself append different entries under the same (term, index)
        // after the restart; followers kept their copies and the state machines diverged
        // (found by the fault-injection soak, seed 808567535).
        enable_leader_restore: Some(false),
        broadcast_submitted_on_append: Some(true),
        // A follower that comes back with less log than it once acknowledged (its WAL tail was
        // damaged: a crash alone cannot do it, entries are synced before they are acknowledged)
        // answers every append with a conflict below what the leader has as its match. openraft
        // would then stall that follower until leadership changes; with this the leader starts
        // over for it at once, as a new leader would and as etcd's probe state does, logging
        // "follower log is reverted". The lost entries are sent again.
        allow_log_reversion: Some(true),
        ..Default::default()
    }
    .validate()
    .map_err(|e| ServerError::Config(e.to_string()))?;

    let peers = Peers::new(
        config.peer_source_ip,
        tls::peer_client_config(&config.peer_tls)?,
    );
    let watch_hub = WatchHub::new(
        mvcc.clone(),
        identity.member_id,
        WatchConfig {
            max_response_bytes: config.max_request_bytes,
            ..WatchConfig::default()
        },
    );
    let lessor = Arc::new(Lessor::new(
        LessorConfig::for_member(&config, identity.member_id),
        mvcc.clone(),
    ));
    let log_handle = log.clone();
    let raft = Raft::new(
        identity.member_id,
        Arc::new(raft_config),
        peers.clone(),
        log,
        StateMachine::new(mvcc.clone(), watch_hub.clone()).with_lessor(lessor.clone()),
    )
    .await
    .map_err(|e| ServerError::Raft(e.to_string()))?;

    if !log_has_state && config.initial_cluster_state == ClusterState::Existing {
        tracing::info!("waiting for the leader to replicate the cluster's state to this member");
    } else if !log_has_state {
        let members = founding_members(&config);
        tracing::info!(members = members.len(), "bootstrapping a new cluster");
        if let Err(err) = raft.initialize(members).await {
            // Already initialized (e.g. a peer's entry arrived first) is fine.
            tracing::info!(%err, "initialize skipped");
        }
    } else {
        tracing::info!(
            name = %identity.name,
            id = %format!("{:x}", identity.member_id),
            revision = mvcc.current_revision(),
            "restarting member from its data dir"
        );
    }

    Ok(Arc::new(Member {
        id: identity.member_id,
        identity: std::sync::Mutex::new(identity),
        log: log_handle,
        config,
        raft,
        mvcc,
        peers,
        watch_hub,
        lessor,
        read_index_batches: Arc::default(),
    }))
}

fn open_state_machine(path: &Path) -> Result<Arc<Mvcc>, ServerError> {
    // redb can panic on some kinds of page damage; a damaged file must become an error.
    let opened = std::panic::catch_unwind(|| Mvcc::open(path));
    match opened {
        Ok(Ok(mvcc)) => Ok(Arc::new(mvcc)),
        Ok(Err(err)) => Err(data_dir_error(path, err)),
        Err(_) => Err(data_dir_error(
            path,
            "the state machine file is damaged (redb failed to open it)",
        )),
    }
}

pub(crate) async fn new_identity(config: &MemberConfig) -> Result<MemberIdentity, ServerError> {
    let Some((_, own_urls)) = config
        .initial_cluster
        .iter()
        .find(|(name, _)| *name == config.name)
    else {
        return Err(ServerError::Config(format!(
            "--initial-cluster has no member named {:?} (this member's --name)",
            config.name
        )));
    };
    let mut own = own_urls.clone();
    let mut advertised = config.initial_advertise_peer_urls.clone();
    own.sort();
    advertised.sort();
    if own != advertised {
        return Err(ServerError::Config(format!(
            "--initial-cluster has {:?} for {:?} but --initial-advertise-peer-urls is {:?}",
            own_urls, config.name, config.initial_advertise_peer_urls
        )));
    }
    if config.initial_cluster_state == ClusterState::Existing {
        return membership::join(config).await;
    }
    let member_ids: Vec<u64> = founding_members(config).keys().copied().collect();
    Ok(MemberIdentity {
        member_id: config::member_id(own_urls, &config.initial_cluster_token),
        cluster_id: config::cluster_id(&member_ids),
        name: config.name.clone(),
        joined: true,
        removed: false,
    })
}

/// The founding membership, identical on every member: names and peer URLs only (client URLs
/// are published by each member once a leader exists).
fn founding_members(config: &MemberConfig) -> BTreeMap<u64, Node> {
    config
        .initial_cluster
        .iter()
        .map(|(name, urls)| {
            let id = config::member_id(urls, &config.initial_cluster_token);
            let node = Node {
                name: name.clone(),
                peer_urls: urls.clone(),
                client_urls: Vec::new(),
            };
            (id, node)
        })
        .collect()
}

/// `http(s)://host:port` -> `host:port`.
fn host_port(url: &str) -> Result<&str, ServerError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| ServerError::Listen {
            url: url.to_string(),
            reason: "expected an http:// or https:// URL".to_string(),
        })?;
    Ok(rest.trim_end_matches('/'))
}

async fn bind_all(urls: &[String]) -> Result<Vec<(String, TcpListener)>, ServerError> {
    let mut listeners = Vec::new();
    for url in urls {
        let address = host_port(url)?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| ServerError::Listen {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        listeners.push((url.clone(), listener));
    }
    Ok(listeners)
}

/// Serves clients and peers until `shutdown` resolves.
pub async fn serve(
    member: Arc<Member>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let client_listeners = bind_all(&member.config.listen_client_urls).await?;
    let peer_listeners = bind_all(&member.config.listen_peer_urls).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let max_decoding = member.config.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let mut servers = tokio::task::JoinSet::new();

    let config = &member.config;
    let guarded = || {
        tonic::transport::Server::builder()
            .max_concurrent_streams(config.max_concurrent_streams)
            .http2_keepalive_interval(Some(config.grpc_keepalive_interval))
            .http2_keepalive_timeout(Some(config.grpc_keepalive_timeout))
            .layer(learner::LearnerGuardLayer::new(member.clone()))
    };
    for (url, listener) in peer_listeners {
        let router = guarded().add_service(
            RaftPeerServer::new(peer::PeerService::new(member.clone(), stop_rx.clone()))
                .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES),
        );
        tracing::info!(%url, "serving peers");
        let tls = tls::is_https(&url)
            .then(|| tls::server_config(&member.config.peer_tls, tls::Side::Peer, &url))
            .transpose()?;
        servers.spawn(run_router(
            router,
            url,
            listener,
            tls,
            None,
            stop_rx.clone(),
        ));
    }
    let min_ping_time = Some(config.grpc_keepalive_min_time).filter(|t| !t.is_zero());
    for (url, listener) in client_listeners {
        let router = guarded()
            .add_service(
                KvServer::new(kv::KvService::new(member.clone()))
                    .max_decoding_message_size(max_decoding),
            )
            .add_service(lease::LeaseService::server(member.clone()))
            .add_service(ClusterServer::new(cluster::ClusterService::new(
                member.clone(),
            )))
            .add_service(maintenance::MaintenanceService::server(member.clone()))
            .add_service(auth::AuthService::server(member.clone()))
            .add_service(watch::WatchServer::new(member.clone(), max_decoding));
        tracing::info!(%url, "serving clients");
        let tls = tls::is_https(&url)
            .then(|| tls::server_config(&member.config.client_tls, tls::Side::Client, &url))
            .transpose()?;
        servers.spawn(run_router(
            router,
            url,
            listener,
            tls,
            min_ping_time,
            stop_rx.clone(),
        ));
    }

    let background = [
        tokio::spawn(member.clone().publish_self()),
        tokio::spawn(log_leadership(member.clone())),
        tokio::spawn(lease::run_lessor(member.clone())),
        tokio::spawn(compactor::run(member.clone())),
        tokio::spawn(quota::watch_backend_size(member.clone())),
        tokio::spawn(liveness::watch_leader(member.clone())),
    ];

    let outcome = tokio::select! {
        _ = shutdown => Ok(()),
        fatal = raft_failure(member.clone()) => Err(fatal),
        removed = membership::watch_removal(member.clone()) => Err(removed),
        Some(result) = servers.join_next() => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err),
            Err(join) => Err(ServerError::Raft(format!("server task failed: {join}"))),
        },
    };
    let _ = stop_tx.send(true);
    while servers.join_next().await.is_some() {}
    for task in background {
        task.abort();
    }
    outcome
}

/// A gRPC router behind the learner guard.
type GuardedRouter = tonic::transport::server::Router<
    tower_layer::Stack<learner::LearnerGuardLayer, tower_layer::Identity>,
>;

/// Serves one listener until `stop` turns true, over TLS when `tls` is given (an https URL),
/// holding clients to the keepalive policy when `min_ping_time` is given.
async fn run_router(
    router: GuardedRouter,
    url: String,
    listener: TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    min_ping_time: Option<Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ServerError> {
    use futures::StreamExt;
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let served = match tls {
        Some(tls) => {
            let listener_url = url.clone();
            let incoming = tls::accept(listener, tls, url.clone()).map(move |accepted| {
                accepted.map(|io| {
                    let remote = io.get_ref().0.peer_addr();
                    PingGuarded::new(io, min_ping_time, remote, &listener_url)
                })
            });
            router.serve_with_incoming_shutdown(incoming, stopped).await
        }
        None => {
            let listener_url = url.clone();
            let incoming = with_nodelay(listener).map(move |accepted| {
                accepted.map(|io| {
                    let remote = io.peer_addr();
                    PingGuarded::new(io, min_ping_time, remote, &listener_url)
                })
            });
            router.serve_with_incoming_shutdown(incoming, stopped).await
        }
    };
    served.map_err(|e| ServerError::Listen {
        url,
        reason: e.to_string(),
    })
}

/// Accepted connections with Nagle's algorithm off: gRPC writes small frames (a watch event, a
/// unary reply) that must leave at once, not wait for the peer's delayed ACK.
fn with_nodelay(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted
            && let Err(err) = stream.set_nodelay(true)
        {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        accepted
    })
}

/// Resolves when Raft has stopped on a fatal error (e.g. the disk failed during apply). The
/// member must then stop serving: its in-memory state may be ahead of what is durable.
async fn raft_failure(member: Arc<Member>) -> ServerError {
    let mut metrics = member.raft.metrics();
    loop {
        if let Err(fatal) = &metrics.borrow_watched().running_state {
            tracing::error!(%fatal, "raft stopped on a fatal error; shutting down");
            return ServerError::Raft(fatal.to_string());
        }
        if metrics.changed().await.is_err() {
            return ServerError::Raft("raft stopped".into());
        }
    }
}

/// One log line per leadership change, as etcd prints "elected leader".
async fn log_leadership(member: Arc<Member>) {
    let mut metrics = member.raft.metrics();
    let mut last_leader = None;
    loop {
        let (leader, term) = {
            let m = metrics.borrow_watched();
            (m.current_leader, m.current_term)
        };
        member.watch_hub.set_raft_term(term);
        if leader != last_leader {
            match leader {
                Some(id) if id == member.id => tracing::info!(term, "this member is the leader"),
                Some(id) => tracing::info!(leader = %format!("{id:x}"), term, "elected leader"),
                None => tracing::warn!(term, "no leader"),
            }
            last_leader = leader;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
