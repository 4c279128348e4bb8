//! The api-server: the Kubernetes API over an etcd v3 store.
//!
//! A request goes through [`handler`]: TLS ([`serve`]) → who is asking ([`authn`]) → may
//! they ([`authz`], RBAC) → what it is about ([`request`]) → discovery ([`discovery`]) or a
//! REST verb ([`rest`]) on a resource of the [`resources`] table → admission, defaulting
//! ([`defaults`]) and the metadata rules ([`objects`]) → the store ([`storage`]), laid out as
//! kube-apiserver lays it out in etcd. Answers are JSON ([`respond`]), Tables ([`table`]) or
//! `Status` errors ([`status`]).

pub mod authn;
pub mod authz;
pub mod body;
pub mod defaults;
pub mod discovery;
pub mod field_validation;
pub mod handler;
pub mod objects;
pub mod openapi;
pub mod protobuf;
pub mod request;
pub mod resources;
pub mod respond;
pub mod rest;
pub mod selectors;
pub mod serve;
pub mod status;
pub mod storage;
pub mod strategic_merge;
pub mod table;
pub mod validation;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use authn::Tokens;
use storage::Storage;

/// The api-server's settings (kube-apiserver's flags map onto these).
#[derive(Clone, Debug)]
pub struct Config {
    /// `--etcd-servers`.
    pub etcd_servers: Vec<String>,
    /// `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`.
    pub etcd_tls: keel_client::TlsFiles,
    /// `--etcd-prefix`.
    pub etcd_prefix: String,
    /// `--bind-address` and `--secure-port`.
    pub listen: SocketAddr,
    /// The address clients are told to use (`--advertise-address`, else the bind address).
    pub advertise: SocketAddr,
    pub tls_cert_file: PathBuf,
    pub tls_private_key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub token_auth_file: Option<PathBuf>,
    /// `--max-requests-inflight` (non-mutating) and `--max-mutating-requests-inflight`.
    pub max_requests_inflight: usize,
    pub max_mutating_requests_inflight: usize,
    /// `--etcd-compaction-interval` (0 turns compaction off).
    pub compaction_interval: Duration,
    /// `--event-ttl`.
    pub event_ttl: Duration,
}

/// The shared state of one api-server; cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    storage: Storage,
    tokens: Tokens,
    readonly_slots: Arc<Semaphore>,
    mutating_slots: Arc<Semaphore>,
    event_leases: rest::events::LeaseCache,
}

/// Why the api-server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("--etcd-servers: {0}")]
    Store(#[from] keel_client::Error),
    #[error("--token-auth-file: {0}")]
    Tokens(#[from] authn::TokenFileError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    #[error("bootstrapping: {0}")]
    Bootstrap(String),
}

impl ApiServer {
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// The slots of `--max-requests-inflight` (reads) or `--max-mutating-requests-inflight`.
    pub fn slots(&self, mutating: bool) -> &Arc<Semaphore> {
        if mutating {
            &self.inner.mutating_slots
        } else {
            &self.inner.readonly_slots
        }
    }

    pub fn event_leases(&self) -> &rest::events::LeaseCache {
        &self.inner.event_leases
    }
}

/// Connects to the store, writes the bootstrap objects, binds the port and serves until the
/// returned future is dropped. Logs one line when it is serving.
pub async fn run(config: Config) -> Result<(), StartError> {
    let tls = serve::tls_config(
        &config.tls_cert_file,
        &config.tls_private_key_file,
        config.client_ca_file.as_deref(),
    )?;
    let tokens = match &config.token_auth_file {
        Some(path) => Tokens::load(path)?,
        None => Tokens::default(),
    };
    let mut client_config = keel_client::Config::new(config.etcd_servers.clone());
    client_config.tls = config.etcd_tls.clone();
    let client = keel_client::Client::connect(client_config).await?;
    let storage = Storage::new(client, &config.etcd_prefix);
    let listener = serve::bind(config.listen).await?;
    let server = ApiServer {
        inner: Arc::new(Inner {
            readonly_slots: Arc::new(Semaphore::new(config.max_requests_inflight.max(1))),
            mutating_slots: Arc::new(Semaphore::new(config.max_mutating_requests_inflight.max(1))),
            event_leases: rest::events::LeaseCache::new(config.event_ttl),
            config,
            storage,
            tokens,
        }),
    };
    // Build the OpenAPI documents now rather than on kubectl's first request.
    openapi::v3_index(discovery::openapi_resources());
    rest::bootstrap::ensure(&server)
        .await
        .map_err(|e| StartError::Bootstrap(e.message))?;
    let compactor = tokio::spawn(rest::compaction::run(
        server.storage().clone(),
        server.config().compaction_interval,
    ));
    tracing::info!(
        address = %server.config().listen,
        etcd = %server.config().etcd_servers.join(","),
        "api-server serving"
    );
    serve::serve(listener, tls, server).await;
    compactor.abort();
    Ok(())
}
