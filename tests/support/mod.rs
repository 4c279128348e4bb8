//! Test support: real `keel store` processes on free loopback ports with temp data dirs, and
//! the helpers end-to-end tests share (clients, waiting on conditions, SIGKILL/restart).
//! Every test gets its own ports and directories, so tests run in parallel and never collide
//! with a running `keel up`. [`Cluster::plan_tls`] plans a cluster with https client and/or
//! peer URLs and a throwaway CA; its members' helpers then dial over TLS with a client
//! certificate.

#![allow(dead_code)]

pub mod kube;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keel::certs::{LocalCa, Validity};
use keel_proto::etcdserverpb::cluster_client::ClusterClient;
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::lease_client::LeaseClient;
use keel_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use keel_proto::etcdserverpb::{HashKvRequest, PutRequest, RangeRequest, StatusRequest};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// `[prefix, prefix+1)`: the key range etcd clients use for a prefix.
pub fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (prefix.as_bytes().to_vec(), end)
}

/// A loopback port nobody listens on right now, below Linux's ephemeral range (32768-60999):
/// a port inside it could be taken by a client's local port, or by a member's connection to
/// itself while it dials a peer that is still starting. Each test process walks the range
/// from its own offset, so parallel tests do not hand out the same port.
pub fn free_port() -> u16 {
    const FIRST: u32 = 15_000;
    const COUNT: u32 = 17_000; // up to 31_999
    static OFFSET: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = *OFFSET.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        std::process::id().wrapping_mul(7919) ^ nanos
    });
    loop {
        let port =
            (FIRST + offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        if matches!(port, 22379 | 22380) {
            continue; // keel up's defaults
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Polls `check` until it returns Some, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct Member {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// The peer URL the others use, when it is not `peer_url` (a fault-injecting proxy).
    pub advertised_peer_url: Option<String>,
    extra_args: Vec<String>,
    initial_cluster: String,
    child: Option<Child>,
    /// How this member's client URL is dialed when it is https.
    pub client_tls: Option<ClientTlsFiles>,
}

/// A client's TLS files: the CA that signed the members' certificates and a client
/// certificate (CN root) with its key.
#[derive(Clone, Debug)]
pub struct ClientTlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ClientTlsFiles {
    pub fn config(&self) -> ClientTlsConfig {
        let read = |p: &Path| std::fs::read(p).expect("tls file");
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca)))
            .identity(Identity::from_pem(read(&self.cert), read(&self.key)))
    }

    /// etcdctl's (and keelctl's) flags for these files.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--cacert".into(),
            self.ca.display().to_string(),
            "--cert".into(),
            self.cert.display().to_string(),
            "--key".into(),
            self.key.display().to_string(),
        ]
    }
}

/// Which URLs of a cluster planned with [`Cluster::plan_tls`] are https.
#[derive(Clone, Copy, Debug)]
pub struct TlsPlan {
    pub client: bool,
    pub peer: bool,
}

/// The CA and files of a TLS cluster.
pub struct ClusterTls {
    pub ca: LocalCa,
    pub dir: PathBuf,
    pub client: ClientTlsFiles,
}

impl ClusterTls {
    /// Writes a certificate signed by `ca` for `common_name` (SAN localhost, 127.0.0.1) as
    /// `<dir>/<file_name>.crt` and `.key`; returns both paths.
    pub fn write_cert(
        ca: &LocalCa,
        dir: &Path,
        file_name: &str,
        common_name: &str,
        validity: Validity,
    ) -> (PathBuf, PathBuf) {
        let issued = ca
            .issue(common_name, &["localhost", "127.0.0.1"], validity)
            .expect("issue certificate");
        let cert = dir.join(format!("{file_name}.crt"));
        let key = dir.join(format!("{file_name}.key"));
        std::fs::write(&cert, issued.cert_pem).expect("write cert");
        std::fs::write(&key, issued.key_pem).expect("write key");
        (cert, key)
    }

    /// Member `name`'s certificate and key (used on both its client and peer URLs).
    pub fn member_files(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        )
    }
}

impl Member {
    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("store")
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &self.client_url])
            .args(["--advertise-client-urls", &self.client_url])
            .args(["--listen-peer-urls", &self.peer_url])
            .args([
                "--initial-advertise-peer-urls",
                self.advertised_peer_url.as_ref().unwrap_or(&self.peer_url),
            ])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&self.extra_args)
            .env("KEEL_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start keel store");
        self.child = Some(child);
    }

    /// Starts the process (members planned with [`Cluster::plan_member`] or
    /// [`Cluster::plan`] are not running until then).
    pub fn start(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the process has ended by itself (it stays "running" otherwise).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGSTOP: the process freezes (timers, sockets and all) until [`Member::resume`].
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// SIGCONT after [`Member::pause`].
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
        }
    }

    /// SIGTERM, then waits for the process to exit: a clean stop, which syncs the state
    /// machine file (a SIGKILL leaves its latest batches to be re-applied from the log).
    pub fn stop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Restarts from the same data dir (bootstrap flags are passed again and must not matter).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A connection to this member's client URL with bounded connect and request times.
    pub async fn channel(&self) -> Option<Channel> {
        let mut endpoint = Channel::from_shared(self.client_url.clone())
            .ok()?
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(10));
        if let Some(tls) = &self.client_tls {
            endpoint = endpoint.tls_config(tls.config()).ok()?;
        }
        endpoint.connect().await.ok()
    }

    pub async fn kv(&self) -> Option<KvClient<Channel>> {
        Some(KvClient::new(self.channel().await?))
    }

    pub async fn lease(&self) -> Option<LeaseClient<Channel>> {
        Some(LeaseClient::new(self.channel().await?))
    }

    pub async fn cluster(&self) -> Option<ClusterClient<Channel>> {
        Some(ClusterClient::new(self.channel().await?))
    }

    /// (hash, compact revision) of this member's data at `revision`.
    pub async fn hash_kv(&self, revision: i64) -> Result<(u32, i64), tonic::Status> {
        let mut client = self
            .maintenance()
            .await
            .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
        let response = client
            .hash_kv(HashKvRequest { revision })
            .await?
            .into_inner();
        Ok((response.hash, response.compact_revision))
    }

    /// This member's current revision (serializable: what it has applied).
    pub async fn revision(&self) -> Option<i64> {
        let mut kv = self.kv().await?;
        let response = kv
            .range(RangeRequest {
                key: vec![0],
                serializable: true,
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner();
        Some(response.header?.revision)
    }

    pub async fn maintenance(&self) -> Option<MaintenanceClient<Channel>> {
        if self.client_tls.is_some() {
            return Some(MaintenanceClient::new(self.channel().await?));
        }
        MaintenanceClient::connect(self.client_url.clone())
            .await
            .ok()
    }

    /// (this member's id, the leader it knows of) if it answers Status.
    pub async fn status(&self) -> Option<(u64, u64)> {
        let mut client = self.maintenance().await?;
        let status = client.status(StatusRequest {}).await.ok()?.into_inner();
        Some((status.header?.member_id, status.leader))
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<i64, tonic::Status> {
        self.put_with_lease(key, value, 0).await
    }

    /// Puts `key` attached to `lease` (0 = none); the revision it was written at.
    pub async fn put_with_lease(
        &self,
        key: &str,
        value: &str,
        lease: i64,
    ) -> Result<i64, tonic::Status> {
        let mut kv = self
            .kv()
            .await
            .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
        let response = kv
            .put(PutRequest {
                key: key.into(),
                value: value.into(),
                lease,
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(response.header.map_or(0, |h| h.revision))
    }

    /// Every key/value under `prefix`, read linearizably or serializably.
    pub async fn get_prefix(
        &self,
        prefix: &str,
        serializable: bool,
    ) -> Result<Vec<(String, String)>, tonic::Status> {
        let mut kv = self
            .kv()
            .await
            .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
        let (key, range_end) = prefix_range(prefix);
        let response = kv
            .range(RangeRequest {
                key,
                range_end,
                serializable,
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(response
            .kvs
            .into_iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(&kv.key).into_owned(),
                    String::from_utf8_lossy(&kv.value).into_owned(),
                )
            })
            .collect())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    pub members: Vec<Member>,
    /// The CA and files of a cluster planned with [`Cluster::plan_tls`].
    pub tls: Option<ClusterTls>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` members (m1..mN) with `extra_args` for every member.
    pub fn start(n: usize, extra_args: &[&str]) -> Cluster {
        let mut cluster = Cluster::plan(n, extra_args);
        for member in &mut cluster.members {
            member.start();
        }
        cluster
    }

    /// Plans `n` members (ports, data dirs, flags) without starting them.
    pub fn plan(n: usize, extra_args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let planned: Vec<(String, String, String)> = (1..=n)
            .map(|i| {
                (
                    format!("m{i}"),
                    format!("http://127.0.0.1:{}", free_port()),
                    format!("http://127.0.0.1:{}", free_port()),
                )
            })
            .collect();
        let initial_cluster = planned
            .iter()
            .map(|(name, _, peer)| format!("{name}={peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let members: Vec<Member> = planned
            .into_iter()
            .map(|(name, client_url, peer_url)| Member {
                data_dir: dir.path().join(&name),
                log_path: dir.path().join(format!("{name}.log")),
                name,
                client_url,
                peer_url,
                advertised_peer_url: None,
                extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
                initial_cluster: initial_cluster.clone(),
                child: None,
                client_tls: None,
            })
            .collect();
        Cluster {
            members,
            tls: None,
            _dir: dir,
        }
    }

    /// Plans `n` members whose client and/or peer URLs are https, with a new CA under
    /// `<dir>/tls/` (`ca.crt`, `<member>.crt/.key` for each member on both sides, and
    /// `client.crt/.key` with CN root) and client/peer certificate authentication on. Not
    /// started; the certificate files may be replaced before the start.
    pub fn plan_tls(n: usize, extra_args: &[&str], plan: TlsPlan) -> Cluster {
        let mut cluster = Cluster::plan(n, extra_args);
        let dir = cluster.dir().join("tls");
        std::fs::create_dir_all(&dir).expect("tls dir");
        let ca = LocalCa::new("keel test CA").expect("CA");
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, ca.cert_pem()).expect("write CA");
        let (cert, key) = ClusterTls::write_cert(&ca, &dir, "client", "root", Validity::Current);
        let client = ClientTlsFiles {
            ca: ca_file.clone(),
            cert,
            key,
        };
        for member in &mut cluster.members {
            let (cert, key) =
                ClusterTls::write_cert(&ca, &dir, &member.name, &member.name, Validity::Current);
            let path = |p: &PathBuf| p.display().to_string();
            if plan.client {
                member.client_url = member.client_url.replacen("http://", "https://", 1);
                member.client_tls = Some(client.clone());
                member.extra_args.extend([
                    "--cert-file".into(),
                    path(&cert),
                    "--key-file".into(),
                    path(&key),
                    "--trusted-ca-file".into(),
                    path(&ca_file),
                    "--client-cert-auth".into(),
                ]);
            }
            if plan.peer {
                member.peer_url = member.peer_url.replacen("http://", "https://", 1);
                member.extra_args.extend([
                    "--peer-cert-file".into(),
                    path(&cert),
                    "--peer-key-file".into(),
                    path(&key),
                    "--peer-trusted-ca-file".into(),
                    path(&ca_file),
                    "--peer-client-cert-auth".into(),
                ]);
            }
        }
        let initial_cluster = cluster.initial_cluster();
        for member in &mut cluster.members {
            member.initial_cluster = initial_cluster.clone();
        }
        cluster.tls = Some(ClusterTls { ca, dir, client });
        cluster
    }

    /// Plans one more member, `name`, that joins this cluster once added with MemberAdd
    /// (`--initial-cluster-state existing`); it is not started.
    pub fn plan_member(&self, name: &str, extra_args: &[&str]) -> Member {
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let mut initial_cluster: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.is_running())
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        initial_cluster.push(format!("{name}={peer_url}"));
        let mut args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        args.extend([
            "--initial-cluster-state".to_string(),
            "existing".to_string(),
        ]);
        Member {
            name: name.to_string(),
            client_url: format!("http://127.0.0.1:{}", free_port()),
            peer_url,
            data_dir: self.dir().join(name),
            log_path: self.dir().join(format!("{name}.log")),
            advertised_peer_url: None,
            extra_args: args,
            initial_cluster: initial_cluster.join(","),
            child: None,
            client_tls: None,
        }
    }

    /// Plans `n` members whose peers reach each other through proxies: member i listens for
    /// peers on `peer_url`, advertises `advertised_peer_url` (where the test puts a proxy in
    /// front of it) and dials its peers from `source_ip(i)`, so the proxies can tell the
    /// members apart. Not started.
    pub fn plan_behind_proxies(n: usize, extra_args: &[&str]) -> Cluster {
        let mut cluster = Cluster::plan(n, extra_args);
        for (i, member) in cluster.members.iter_mut().enumerate() {
            member.advertised_peer_url = Some(format!("http://127.0.0.1:{}", free_port()));
            member.extra_args.extend([
                "--experimental-peer-source-ip".to_string(),
                Self::source_ip(i).to_string(),
            ]);
        }
        let initial_cluster = cluster.initial_cluster();
        for member in &mut cluster.members {
            member.initial_cluster = initial_cluster.clone();
        }
        cluster
    }

    /// The loopback address member `i` of a proxied cluster dials its peers from.
    pub fn source_ip(i: usize) -> std::net::IpAddr {
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 11 + i as u8))
    }

    /// `--initial-cluster` of the planned members.
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let url = m.advertised_peer_url.as_ref().unwrap_or(&m.peer_url);
                format!("{}={url}", m.name)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Waits until the running members agree on a leader that is one of them; its index.
    pub async fn leader(&self) -> usize {
        wait_for(Duration::from_secs(20), "a leader", || async {
            let mut seen = Vec::new();
            for (index, member) in self
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.is_running())
            {
                let (id, leader) = member.status().await?;
                seen.push((index, id, leader));
            }
            let leader = seen.first()?.2;
            if leader == 0 || seen.iter().any(|(_, _, l)| *l != leader) {
                return None;
            }
            seen.iter()
                .find(|(_, id, _)| *id == leader)
                .map(|(index, _, _)| *index)
        })
        .await
    }

    pub fn dump_logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("===== {} =====\n{}", m.name, m.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
