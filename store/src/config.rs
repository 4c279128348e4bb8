//! One member's configuration, shaped after etcd's flags (the `keel store` binary maps its
//! command line onto this struct; defaults are etcd's).

use std::path::PathBuf;
use std::time::Duration;

/// `--initial-cluster-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    New,
    Existing,
}

/// `--auto-compaction-mode` with its `--auto-compaction-retention`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    Off,
    /// Keep the history of the last this long.
    Periodic(Duration),
    /// Keep the last this many revisions.
    Revision(i64),
}

/// One side's TLS files (etcd's `transport.TLSInfo`): `--cert-file`/`--key-file`/
/// `--trusted-ca-file`/`--client-cert-auth` for clients, the `--peer-*` ones for peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// PEM certificate chain this member presents (leaf first).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle that client (or peer) certificates, and for peers also the other
    /// members' server certificates, must chain to.
    pub trusted_ca_file: Option<PathBuf>,
    /// Require a certificate signed by `trusted_ca_file` from everyone who connects.
    pub client_cert_auth: bool,
}

impl TlsInfo {
    /// Nothing configured: https URLs cannot be served on this side.
    pub fn is_empty(&self) -> bool {
        self.cert_file.is_none() && self.key_file.is_none() && self.trusted_ca_file.is_none()
    }
}

/// etcd's default space quota: 2 GiB.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct MemberConfig {
    pub name: String,
    pub data_dir: PathBuf,
    pub listen_client_urls: Vec<String>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer_urls: Vec<String>,
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--initial-cluster`, parsed: (name, peer urls) in the order given.
    pub initial_cluster: Vec<(String, Vec<String>)>,
    pub initial_cluster_state: ClusterState,
    pub initial_cluster_token: String,
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    /// Largest request accepted (etcd: 1.5 MiB).
    pub max_request_bytes: usize,
    /// Most operations in one txn (etcd: 128).
    pub max_txn_ops: usize,
    /// HTTP/2 streams one client connection may have open at once (etcd: unlimited, u32::MAX).
    pub max_concurrent_streams: u32,
    /// How often the member pings an idle client connection (etcd: 2 h), and how long it then
    /// waits for the answer before closing it (etcd: 20 s).
    pub grpc_keepalive_interval: Duration,
    pub grpc_keepalive_timeout: Duration,
    /// The shortest interval at which a client with a stream open may ping (etcd: 5 s); a
    /// client with no stream open may not ping at all. Zero turns the policy off.
    pub grpc_keepalive_min_time: Duration,
    /// Most watchers on one gRPC watch stream.
    pub max_watchers_per_stream: usize,
    /// Most leases the cluster holds (checked where grants are taken).
    pub max_leases: usize,
    /// Applied entries between Raft snapshots (after which the log is purged).
    pub snapshot_count: u64,
    /// Entries kept in the log behind a snapshot for slow followers.
    pub snapshot_catchup_entries: u64,
    /// How long a request may wait for a leader / commit before "request timed out".
    pub request_timeout: Duration,
    /// How often the leader persists the remaining TTLs of leases through Raft, so that a new
    /// leader resumes them from there (etcd: 5 minutes, a Keel extension flag lets tests
    /// shorten it).
    pub lease_checkpoint_interval: Duration,
    /// Most expired leases revoked per second (etcd's leaseRevokeRate: 1000).
    pub lease_revoke_rate: usize,
    /// Period of progress notifications to watchers that asked for them (etcd: 10 minutes).
    pub watch_progress_notify_interval: Duration,
    /// Largest state-machine file before writes are refused with NOSPACE (0: no quota).
    pub quota_backend_bytes: u64,
    /// Automatic compaction of old revisions, run by the leader.
    pub auto_compaction: AutoCompaction,
    /// The local address this member's connections to its peers are made from (`None`: the
    /// system's choice). Fault-injection tests give each member its own loopback address so
    /// that a proxy on the peer links can tell who is talking.
    pub peer_source_ip: Option<std::net::IpAddr>,
    /// `--bcrypt-cost`: the work factor of stored password hashes (etcd: 10).
    pub bcrypt_cost: u32,
    /// `--auth-token-ttl`: how long a token lives after its last use (etcd: 300 s).
    pub auth_token_ttl: Duration,
    /// TLS for https client URLs (`--cert-file`, `--key-file`, `--trusted-ca-file`,
    /// `--client-cert-auth`).
    pub client_tls: TlsInfo,
    /// TLS for https peer URLs, both the listener and this member's connections to its peers
    /// (`--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`,
    /// `--peer-client-cert-auth`).
    pub peer_tls: TlsInfo,
}

impl MemberConfig {
    /// A single member named `name` with etcd's default URLs and limits.
    pub fn new(name: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        let name = name.into();
        Self {
            initial_cluster: vec![(name.clone(), vec!["http://localhost:2380".into()])],
            name,
            data_dir: data_dir.into(),
            listen_client_urls: vec!["http://localhost:2379".into()],
            advertise_client_urls: vec!["http://localhost:2379".into()],
            listen_peer_urls: vec!["http://localhost:2380".into()],
            initial_advertise_peer_urls: vec!["http://localhost:2380".into()],
            initial_cluster_state: ClusterState::New,
            initial_cluster_token: "etcd-cluster".into(),
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
            max_request_bytes: 1572864,
            max_txn_ops: 128,
            max_concurrent_streams: u32::MAX,
            grpc_keepalive_interval: Duration::from_secs(2 * 3600),
            grpc_keepalive_timeout: Duration::from_secs(20),
            grpc_keepalive_min_time: Duration::from_secs(5),
            max_watchers_per_stream: 100_000,
            max_leases: 1_000_000,
            snapshot_count: 10_000,
            snapshot_catchup_entries: 5_000,
            request_timeout: Duration::from_secs(5),
            lease_checkpoint_interval: Duration::from_secs(300),
            lease_revoke_rate: 1000,
            watch_progress_notify_interval: Duration::from_secs(600),
            quota_backend_bytes: DEFAULT_QUOTA_BACKEND_BYTES,
            auto_compaction: AutoCompaction::Off,
            peer_source_ip: None,
            bcrypt_cost: 10,
            auth_token_ttl: crate::auth::tokens::DEFAULT_TOKEN_TTL,
            client_tls: TlsInfo::default(),
            peer_tls: TlsInfo::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid --initial-cluster {value:?}: {reason}")]
pub struct InitialClusterError {
    pub value: String,
    pub reason: String,
}

/// Parses etcd's `name1=url1,name1=url2,name2=url3` form; a name may repeat for several URLs.
pub fn parse_initial_cluster(
    value: &str,
) -> Result<Vec<(String, Vec<String>)>, InitialClusterError> {
    let error = |reason: &str| InitialClusterError {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let mut members: Vec<(String, Vec<String>)> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, url) = item
            .split_once('=')
            .ok_or_else(|| error("expected name=url pairs"))?;
        if name.is_empty() || url.is_empty() {
            return Err(error("empty name or url"));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(error("peer urls must start with http:// or https://"));
        }
        match members.iter_mut().find(|(n, _)| n == name) {
            Some((_, urls)) => urls.push(url.to_string()),
            None => members.push((name.to_string(), vec![url.to_string()])),
        }
    }
    if members.is_empty() {
        return Err(error("no members"));
    }
    Ok(members)
}

/// FNV-1a, 64 bit: a tiny hash with a fixed definition, so ids derived from it are the same on
/// every member and every build.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// A member's id from its peer URLs and the cluster token, as etcd derives it.
pub fn member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let id = fnv1a(urls.concat().bytes().chain(token.bytes()));
    id.max(1)
}

/// The cluster id from its founding members' ids.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort();
    fnv1a(ids.iter().flat_map(|id| id.to_be_bytes())).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_initial_cluster() {
        let parsed = parse_initial_cluster(
            "m1=http://127.0.0.1:2380,m2=http://127.0.0.1:22380,m1=http://10.0.0.1:2380",
        )
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].1.len(), 2);
        assert!(parse_initial_cluster("m1").is_err());
        assert!(parse_initial_cluster("m1=127.0.0.1:2380").is_err());
    }

    #[test]
    fn ids_are_stable_and_order_independent() {
        let a = member_id(&["http://a".into(), "http://b".into()], "t");
        let b = member_id(&["http://b".into(), "http://a".into()], "t");
        assert_eq!(a, b);
        assert_ne!(
            a,
            member_id(&["http://a".into(), "http://b".into()], "other")
        );
        assert_eq!(cluster_id(&[1, 2, 3]), cluster_id(&[3, 2, 1]));
    }
}
