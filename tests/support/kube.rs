//! Test support for the control plane: an api-server (`keel apiserver`) on a store — a Keel
//! cluster or Debian's real etcd 3.4 — with its own PKI, port and kubeconfig in a temp dir,
//! and helpers to drive it with the clients we did not write: kubectl 1.32 and curl.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use keel::certs::KubePki;

use super::{Cluster, free_port, wait_for};

/// What the api-server stores its objects in.
pub enum Store {
    Keel(Box<Cluster>),
    Etcd(Etcd),
}

impl Store {
    /// The client URLs the api-server is given (`--etcd-servers`).
    pub fn endpoints(&self) -> Vec<String> {
        match self {
            Store::Keel(c) => c.members.iter().map(|m| m.client_url.clone()).collect(),
            Store::Etcd(e) => vec![e.client_url.clone()],
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Store::Keel(_) => "keel",
            Store::Etcd(_) => "etcd",
        }
    }
}

/// One real etcd member (Debian's etcd-server package) on free loopback ports.
pub struct Etcd {
    pub client_url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Etcd {
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let client_url = format!("http://127.0.0.1:{}", free_port());
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let log = File::create(dir.path().join("etcd.log")).expect("etcd log");
        let child = Command::new(std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into()))
            .args(["--name", "e1"])
            .arg("--data-dir")
            .arg(dir.path().join("e1"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("e1={peer_url}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd (apt-get install etcd-server)");
        Etcd {
            client_url,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kubectl 1.32: the gcloud dispatcher on PATH picks a kubectl by the server's version, so the
/// 1.32 binary beside it is used when it is there.
pub fn kubectl_binary() -> PathBuf {
    if let Ok(path) = std::env::var("KUBECTL") {
        return path.into();
    }
    let on_path = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v kubectl)\""])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let pinned = Path::new(&on_path).with_file_name("kubectl.1.32");
    if pinned.exists() {
        pinned
    } else {
        "kubectl".into()
    }
}

/// A running api-server with its PKI and kubeconfig.
pub struct ApiServer {
    pub url: String,
    pub port: u16,
    pub pki: KubePki,
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
}

impl ApiServer {
    /// Starts an api-server on `endpoints` with the PKI in `dir` (made if missing) and waits
    /// until it is ready.
    pub async fn start(dir: &Path, endpoints: &[String], extra: &[&str]) -> ApiServer {
        std::fs::create_dir_all(dir).expect("dir");
        let (pki, _) = KubePki::ensure(&dir.join("pki"), &[]).expect("pki");
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}");
        let kubeconfig = dir.join(format!("kubeconfig-{port}"));
        std::fs::write(&kubeconfig, pki.kubeconfig(&url).expect("kubeconfig"))
            .expect("write kubeconfig");
        let mut args: Vec<String> = vec![
            "apiserver".into(),
            "--etcd-servers".into(),
            endpoints.join(","),
            "--bind-address".into(),
            "127.0.0.1".into(),
            "--secure-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            pki.apiserver_cert.display().to_string(),
            "--tls-private-key-file".into(),
            pki.apiserver_key.display().to_string(),
            "--client-ca-file".into(),
            pki.ca_cert.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = ApiServer {
            url,
            port,
            pki,
            kubeconfig,
            dir: dir.to_path_buf(),
            log_path: dir.join(format!("apiserver-{port}.log")),
            child: None,
            args,
        };
        server.spawn();
        server.wait_ready().await;
        server
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(&self.args)
            .env("KEEL_LOG", "info,keel_control_plane=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start keel apiserver");
        self.child = Some(child);
    }

    pub async fn wait_ready(&self) {
        let server = self;
        wait_for(
            Duration::from_secs(30),
            "the api-server to be ready",
            || async move {
                let out = server.curl(&["/readyz"]);
                (String::from_utf8_lossy(&out.stdout) == "ok").then_some(())
            },
        )
        .await;
    }

    /// SIGKILL, then start again with the same flags.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready().await;
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// kubectl with this server's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(args, None, &[])
    }

    /// kubectl with stdin and extra environment.
    pub fn kubectl_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        use std::io::Write as _;
        let mut cmd = Command::new(kubectl_binary());
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.dir)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run kubectl");
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(input.as_bytes());
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.expect_ok(args, None)
    }

    fn expect_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_with(args, stdin, &[]);
        assert!(
            out.status.success(),
            "kubectl {} failed:\n{}\n--- api-server log tail ---\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 40)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {} succeeded but should not have:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// kubectl with a manifest on stdin (`-f -`) that must succeed.
    pub fn ok_stdin(&self, args: &[&str], manifest: &str) -> String {
        self.expect_ok(args, Some(manifest))
    }

    /// curl as the admin (client certificate) against `args[0]` (a path), with more curl flags after.
    pub fn curl(&self, args: &[&str]) -> Output {
        self.curl_as(Some((&self.pki.admin_cert, &self.pki.admin_key)), args)
    }

    /// curl with `cert` (or none: anonymous), writing `HTTP <code>` after the body.
    pub fn curl_as(&self, cert: Option<(&Path, &Path)>, args: &[&str]) -> Output {
        let (path, rest) = args.split_first().expect("a path");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&self.pki.ca_cert);
        if let Some((c, k)) = cert {
            cmd.arg("--cert").arg(c).arg("--key").arg(k);
        }
        cmd.args(rest)
            .arg(format!("{}{}", self.url, path))
            .stdin(Stdio::null())
            .output()
            .expect("run curl")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A store and one api-server on it, in one temp dir.
pub struct ControlPlane {
    pub store: Store,
    pub api: ApiServer,
    pub dir: tempfile::TempDir,
}

impl ControlPlane {
    /// An api-server on a new Keel cluster of `members` members.
    pub async fn on_keel(members: usize) -> ControlPlane {
        let cluster = Cluster::start(members, &[]);
        cluster.leader().await;
        Self::on(Store::Keel(Box::new(cluster))).await
    }

    /// An api-server on a new single-member etcd 3.4.
    pub async fn on_etcd() -> ControlPlane {
        Self::on(Store::Etcd(Etcd::start())).await
    }

    async fn on(store: Store) -> ControlPlane {
        let dir = tempfile::tempdir().expect("temp dir");
        let api = ApiServer::start(dir.path(), &store.endpoints(), &[]).await;
        ControlPlane { store, api, dir }
    }
}
