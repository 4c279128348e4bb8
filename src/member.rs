//! `keel store`: one member, configured with etcd's flag names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use keel_store::config::{
    AutoCompaction, ClusterState, DEFAULT_QUOTA_BACKEND_BYTES, MemberConfig, TlsInfo,
    parse_initial_cluster,
};

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Human-readable name for this member.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Path to the data directory [default: ${name}.etcd].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// URLs to listen on for client traffic (comma-separated).
    #[arg(long, default_value = "http://localhost:2379", value_delimiter = ',')]
    pub listen_client_urls: Vec<String>,
    /// Client URLs advertised to the rest of the cluster (comma-separated).
    #[arg(long, default_value = "http://localhost:2379", value_delimiter = ',')]
    pub advertise_client_urls: Vec<String>,
    /// URLs to listen on for peer traffic (comma-separated).
    #[arg(long, default_value = "http://localhost:2380", value_delimiter = ',')]
    pub listen_peer_urls: Vec<String>,
    /// This member's peer URLs, advertised to the rest of the cluster (comma-separated).
    #[arg(long, default_value = "http://localhost:2380", value_delimiter = ',')]
    pub initial_advertise_peer_urls: Vec<String>,
    /// Initial cluster configuration for bootstrapping, e.g. m1=http://10.0.0.1:2380,...
    /// [default: ${name}=${initial-advertise-peer-urls}]
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Initial cluster state ('new' or 'existing'). Ignored once the data dir holds state.
    #[arg(long, default_value = "new", value_parser = ["new", "existing"])]
    pub initial_cluster_state: String,
    /// Initial cluster token, mixed into member and cluster ids.
    #[arg(long, default_value = "etcd-cluster")]
    pub initial_cluster_token: String,
    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to timeout.
    #[arg(long, default_value_t = 1000)]
    pub election_timeout: u64,
    /// Maximum client request size in bytes the server will accept.
    #[arg(long, default_value_t = 1572864)]
    pub max_request_bytes: usize,
    /// Maximum number of operations permitted in a transaction.
    #[arg(long, default_value_t = 128)]
    pub max_txn_ops: usize,
    /// Maximum concurrent streams that each client can open at a time.
    #[arg(long, default_value_t = u32::MAX)]
    pub max_concurrent_streams: u32,
    /// Minimum duration interval that a client should wait before pinging server (e.g. 5s);
    /// a client pinging more often (or at all, with no stream open) is sent GOAWAY
    /// "too_many_pings" on its third strike, as etcd does. 0 turns the policy off.
    #[arg(long, default_value = "5s", value_parser = parse_duration_or_zero)]
    pub grpc_keepalive_min_time: Duration,
    /// Frequency duration of server-to-client ping to check if a connection is alive (e.g. 2h).
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub grpc_keepalive_interval: Duration,
    /// Additional duration of wait before closing a non-responsive connection (e.g. 20s).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub grpc_keepalive_timeout: Duration,
    /// Most watchers one gRPC watch stream may hold; a create beyond it is refused.
    #[arg(long, default_value_t = 100_000)]
    pub max_watchers_per_stream: usize,
    /// Most leases the cluster holds; a grant beyond it gets "etcdserver: too many requests".
    #[arg(long, default_value_t = 1_000_000)]
    pub max_leases: usize,
    /// Number of committed transactions to trigger a snapshot (after which the log is purged).
    #[arg(long, default_value_t = 10000)]
    pub snapshot_count: u64,
    /// Number of entries kept behind a snapshot for slow followers to catch up.
    #[arg(long, default_value_t = 5000)]
    pub experimental_snapshot_catchup_entries: u64,
    /// Duration of periodic watch progress notifications (e.g. 10m, 5s, 500ms).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub experimental_watch_progress_notify_interval: Duration,
    /// How often the leader persists remaining lease TTLs through Raft so that a new leader
    /// resumes leases from there (e.g. 5m, 1s, 500ms). Keel always checkpoints, as etcd does
    /// with --experimental-enable-lease-checkpoint.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub experimental_lease_checkpoint_interval: Duration,
    /// Raise an alarm when the backend size exceeds the given quota (0 defaults to the
    /// default quota of 2 GiB; a negative value disables the quota).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub quota_backend_bytes: i64,
    /// Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for
    /// duration based retention (e.g. '5m'), 'revision' for revision number based retention.
    #[arg(long, default_value = "periodic", value_parser = ["periodic", "revision"])]
    pub auto_compaction_mode: String,
    /// Auto compaction retention for mvcc key value store. 0 means disable auto compaction.
    /// A bare number is hours in periodic mode.
    #[arg(long, default_value = "0")]
    pub auto_compaction_retention: String,
    /// Local IP address to make peer connections from (default: the system's choice). Meant
    /// for fault injection: a proxy on the peer links tells members apart by it.
    #[arg(long)]
    pub experimental_peer_source_ip: Option<std::net::IpAddr>,
    /// Specify auth token type: 'simple' (the only type Keel supports).
    #[arg(long, default_value = "simple", value_parser = ["simple"])]
    pub auth_token: String,
    /// The time to live of simple tokens in seconds, counted from their last use.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_token_ttl: u64,
    /// Specify bcrypt algorithm cost factor for auth password hashing.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,
    /// Path to the client server TLS cert file (for https client URLs).
    #[arg(long)]
    pub cert_file: Option<PathBuf>,
    /// Path to the client server TLS key file.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Path to the client server TLS trusted CA cert file.
    #[arg(long)]
    pub trusted_ca_file: Option<PathBuf>,
    /// Enable client cert authentication (certificates signed by --trusted-ca-file).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub client_cert_auth: bool,
    /// Path to the peer server TLS cert file (also this member's client certificate towards
    /// its peers).
    #[arg(long)]
    pub peer_cert_file: Option<PathBuf>,
    /// Path to the peer server TLS key file.
    #[arg(long)]
    pub peer_key_file: Option<PathBuf>,
    /// Path to the peer server TLS trusted CA file.
    #[arg(long)]
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// Enable peer client cert authentication (certificates signed by --peer-trusted-ca-file).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub peer_client_cert_auth: bool,
}

/// etcd's `--auto-compaction-mode`/`--auto-compaction-retention` pair.
pub fn parse_auto_compaction(mode: &str, retention: &str) -> anyhow::Result<AutoCompaction> {
    if retention.trim() == "0" {
        return Ok(AutoCompaction::Off);
    }
    match mode {
        "revision" => {
            let keep: i64 = retention
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("invalid --auto-compaction-retention {retention:?} for revision mode (a positive revision count)"))?;
            Ok(AutoCompaction::Revision(keep))
        }
        _ => {
            // A bare number is hours (etcd's v3.2 form); otherwise a Go duration.
            let duration = match retention.parse::<u64>() {
                Ok(hours) => Duration::from_secs(hours * 3600),
                Err(_) => parse_duration(retention).map_err(anyhow::Error::msg)?,
            };
            Ok(AutoCompaction::Periodic(duration))
        }
    }
}

/// Durations as etcd's flags take them (Go's, e.g. `500ms`, `1m30s`); a bare number is seconds.
fn parse_duration_or_zero(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(seconds) => {
            Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid duration {value:?}"))
        }
        Err(_) => crate::ctl::gofmt::parse_duration(value),
    }
}

/// A duration flag that must be positive.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    match parse_duration_or_zero(value)? {
        zero if zero.is_zero() => Err(format!("duration {value:?} must be positive")),
        duration => Ok(duration),
    }
}

impl StoreArgs {
    pub fn to_config(&self) -> anyhow::Result<MemberConfig> {
        let initial_cluster = match &self.initial_cluster {
            Some(value) => value.clone(),
            None => self
                .initial_advertise_peer_urls
                .iter()
                .map(|url| format!("{}={url}", self.name))
                .collect::<Vec<_>>()
                .join(","),
        };
        if self.election_timeout < 5 * self.heartbeat_interval {
            bail!(
                "--election-timeout[{}ms] should be at least 5 times as --heartbeat-interval[{}ms]",
                self.election_timeout,
                self.heartbeat_interval
            );
        }
        let mut config = MemberConfig::new(
            self.name.clone(),
            self.data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name))),
        );
        config.listen_client_urls = self.listen_client_urls.clone();
        config.advertise_client_urls = self.advertise_client_urls.clone();
        config.listen_peer_urls = self.listen_peer_urls.clone();
        config.initial_advertise_peer_urls = self.initial_advertise_peer_urls.clone();
        config.initial_cluster =
            parse_initial_cluster(&initial_cluster).context("bad --initial-cluster")?;
        config.initial_cluster_state = match self.initial_cluster_state.as_str() {
            "existing" => ClusterState::Existing,
            _ => ClusterState::New,
        };
        config.initial_cluster_token = self.initial_cluster_token.clone();
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval);
        config.election_timeout = Duration::from_millis(self.election_timeout);
        config.max_request_bytes = self.max_request_bytes;
        config.max_txn_ops = self.max_txn_ops;
        config.max_concurrent_streams = self.max_concurrent_streams;
        config.grpc_keepalive_interval = self.grpc_keepalive_interval;
        config.grpc_keepalive_timeout = self.grpc_keepalive_timeout;
        config.grpc_keepalive_min_time = self.grpc_keepalive_min_time;
        config.max_watchers_per_stream = self.max_watchers_per_stream.max(1);
        config.max_leases = self.max_leases;
        config.snapshot_count = self.snapshot_count.max(1);
        config.snapshot_catchup_entries = self.experimental_snapshot_catchup_entries;
        config.watch_progress_notify_interval = self.experimental_watch_progress_notify_interval;
        config.lease_checkpoint_interval = self.experimental_lease_checkpoint_interval;
        config.quota_backend_bytes = match self.quota_backend_bytes {
            0 => DEFAULT_QUOTA_BACKEND_BYTES,
            n if n < 0 => 0,
            n => n as u64,
        };
        config.auto_compaction =
            parse_auto_compaction(&self.auto_compaction_mode, &self.auto_compaction_retention)?;
        config.peer_source_ip = self.experimental_peer_source_ip;
        config.auth_token_ttl = Duration::from_secs(self.auth_token_ttl);
        config.bcrypt_cost = self.bcrypt_cost;
        config.client_tls = TlsInfo {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            trusted_ca_file: self.trusted_ca_file.clone(),
            client_cert_auth: self.client_cert_auth,
        };
        config.peer_tls = TlsInfo {
            cert_file: self.peer_cert_file.clone(),
            key_file: self.peer_key_file.clone(),
            trusted_ca_file: self.peer_trusted_ca_file.clone(),
            client_cert_auth: self.peer_client_cert_auth,
        };
        Ok(config)
    }
}

/// Runs the member until SIGINT or SIGTERM.
pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    tracing::info!(name = %config.name, data_dir = %config.data_dir.display(), "starting keel store");
    keel_store::server::run(config, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process can only be killed; wait forever.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = int.recv() => tracing::info!("received SIGINT"),
    }
}
