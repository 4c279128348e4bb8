//! `keel up`: a local 3-member cluster (m1, m2, m3) as three `keel store` child processes on
//! etcd's local-cluster ports, data under one directory, logs prefixed with the member name,
//! and one `keel apiserver` per member (6443, 16443, 26443), each given all three store
//! endpoints. The control plane's PKI (cluster CA, serving certificate, an admin client
//! certificate with O=system:masters) is made under `<data-dir>/pki/` on the first run, and
//! `<data-dir>/kubeconfig` points kubectl at the first api-server. `--store-only` starts the
//! store alone, as before.
//!
//! It prints the endpoints and the leader, stops every member cleanly on SIGINT/SIGTERM, and
//! reports (never silently restarts) a member that dies. Running it again resumes the same data.
//!
//! With `--tls`, client and peer URLs are https, both sides require client certificates, and a
//! throwaway CA with member and client (CN root) certificates is made under
//! `<data-dir>/tls/` on the first run and reused after (see [`crate::certs`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use keel_proto::etcdserverpb::StatusRequest;
use keel_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::certs::{KubePki, LocalTlsFiles};

#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// Directory holding each member's data dir (m1/, m2/, m3/).
    #[arg(long, default_value = "./keel-data")]
    pub data_dir: PathBuf,
    /// Client ports of m1, m2, m3.
    #[arg(long, default_value = "2379,22379,32379", value_delimiter = ',')]
    pub client_ports: Vec<u16>,
    /// Peer ports of m1, m2, m3.
    #[arg(long, default_value = "2380,22380,32380", value_delimiter = ',')]
    pub peer_ports: Vec<u16>,
    /// Serve clients and peers over TLS with client certificates required (certificates
    /// made under <data-dir>/tls/ on the first run).
    #[arg(long)]
    pub tls: bool,
    /// Start only the store (no api-servers).
    #[arg(long)]
    pub store_only: bool,
    /// Secure ports of the api-servers next to m1, m2, m3.
    #[arg(long, default_value = "6443,16443,26443", value_delimiter = ',')]
    pub apiserver_ports: Vec<u16>,
}

struct Planned {
    name: String,
    client_url: String,
    peer_url: String,
}

fn plan(args: &UpArgs) -> anyhow::Result<Vec<Planned>> {
    if args.client_ports.len() != 3 || args.peer_ports.len() != 3 || args.apiserver_ports.len() != 3
    {
        bail!("--client-ports, --peer-ports and --apiserver-ports take exactly three ports each");
    }
    let scheme = if args.tls { "https" } else { "http" };
    Ok((0..3)
        .map(|i| Planned {
            name: format!("m{}", i + 1),
            client_url: format!("{scheme}://127.0.0.1:{}", args.client_ports[i]),
            peer_url: format!("{scheme}://127.0.0.1:{}", args.peer_ports[i]),
        })
        .collect())
}

/// The `keel store` flags that turn TLS on with `files`.
fn tls_args(files: &LocalTlsFiles) -> Vec<std::ffi::OsString> {
    let mut args = Vec::new();
    for (flag, path) in [
        ("--cert-file", &files.member_cert),
        ("--key-file", &files.member_key),
        ("--trusted-ca-file", &files.ca_cert),
        ("--peer-cert-file", &files.member_cert),
        ("--peer-key-file", &files.member_key),
        ("--peer-trusted-ca-file", &files.ca_cert),
    ] {
        args.push(flag.into());
        args.push(path.as_os_str().to_owned());
    }
    args.push("--client-cert-auth".into());
    args.push("--peer-client-cert-auth".into());
    args
}

/// The client TLS configuration `keel up` itself uses to ask members for their status.
fn client_tls(files: &LocalTlsFiles) -> anyhow::Result<ClientTlsConfig> {
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&files.ca_cert)?))
        .identity(Identity::from_pem(
            read(&files.client_cert)?,
            read(&files.client_key)?,
        )))
}

fn spawn_member(
    exe: &std::path::Path,
    member: &Planned,
    data_dir: &std::path::Path,
    initial_cluster: &str,
    tls: Option<&LocalTlsFiles>,
) -> anyhow::Result<Child> {
    let mut args: Vec<std::ffi::OsString> =
        vec!["store".into(), "--name".into(), member.name.clone().into()];
    args.push("--data-dir".into());
    args.push(data_dir.join(&member.name).into_os_string());
    for (flag, value) in [
        ("--listen-client-urls", &member.client_url),
        ("--advertise-client-urls", &member.client_url),
        ("--listen-peer-urls", &member.peer_url),
        ("--initial-advertise-peer-urls", &member.peer_url),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    args.extend(["--initial-cluster".into(), initial_cluster.into()]);
    args.extend(["--initial-cluster-state".into(), "new".into()]);
    args.extend(tls.map(tls_args).unwrap_or_default());
    spawn_prefixed(exe, &member.name, &args, None)
}

/// Starts `exe args` with its output printed line by line behind `name | `; when `ready` is
/// given, it is sent once a line containing `marker` appears.
fn spawn_prefixed(
    exe: &std::path::Path,
    name: &str,
    args: &[std::ffi::OsString],
    ready: Option<(&'static str, tokio::sync::mpsc::Sender<String>)>,
) -> anyhow::Result<Child> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let name = name.to_string();
        let ready = ready.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((marker, tx)) = &ready
                    && line.contains(marker)
                {
                    let _ = tx.try_send(name.clone());
                }
                println!("{name} | {line}");
            }
        });
    }
    Ok(child)
}

/// The `keel apiserver` flags for the api-server on `port` over the store `endpoints`.
fn apiserver_args(
    port: u16,
    endpoints: &[String],
    pki: &KubePki,
    store_tls: Option<&LocalTlsFiles>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["apiserver".into()];
    let mut flag = |f: &str, v: std::ffi::OsString| {
        args.push(f.into());
        args.push(v);
    };
    flag("--etcd-servers", endpoints.join(",").into());
    flag("--bind-address", "127.0.0.1".into());
    flag("--secure-port", port.to_string().into());
    flag(
        "--tls-cert-file",
        pki.apiserver_cert.clone().into_os_string(),
    );
    flag(
        "--tls-private-key-file",
        pki.apiserver_key.clone().into_os_string(),
    );
    flag("--client-ca-file", pki.ca_cert.clone().into_os_string());
    if let Some(tls) = store_tls {
        flag("--etcd-cafile", tls.ca_cert.clone().into_os_string());
        flag("--etcd-certfile", tls.client_cert.clone().into_os_string());
        flag("--etcd-keyfile", tls.client_key.clone().into_os_string());
    }
    args
}

/// Asks every member for its status until one names a leader; returns the leader's name.
async fn wait_for_leader(
    members: &[Planned],
    tls: Option<&ClientTlsConfig>,
    timeout: Duration,
) -> Option<(String, u64)> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let mut ids = Vec::new();
        let mut leader = 0;
        for member in members {
            let Ok(mut endpoint) = Endpoint::from_shared(member.client_url.clone()) else {
                continue;
            };
            if let Some(tls) = tls {
                let Ok(with_tls) = endpoint.tls_config(tls.clone()) else {
                    continue;
                };
                endpoint = with_tls;
            }
            let Ok(channel) = endpoint.connect().await else {
                continue;
            };
            let mut client = MaintenanceClient::new(channel);
            if let Ok(status) = client.status(StatusRequest {}).await {
                let status = status.into_inner();
                let id = status.header.map_or(0, |h| h.member_id);
                ids.push((member.name.clone(), id));
                if status.leader != 0 {
                    leader = status.leader;
                }
            }
        }
        if let Some((name, id)) = ids.into_iter().find(|(_, id)| *id == leader && leader != 0) {
            return Some((name, id));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let members = plan(&args)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the keel executable")?;
    let tls_files = if args.tls {
        let dir = args.data_dir.join("tls");
        let (files, made) = LocalTlsFiles::ensure(&dir)?;
        if made {
            println!(
                "keel up: made a local CA and certificates in {}",
                dir.display()
            );
        } else {
            println!("keel up: using the certificates in {}", dir.display());
        }
        Some(files)
    } else {
        None
    };
    let status_tls = tls_files.as_ref().map(client_tls).transpose()?;
    let initial_cluster = members
        .iter()
        .map(|m| format!("{}={}", m.name, m.peer_url))
        .collect::<Vec<_>>()
        .join(",");

    let mut children = Vec::new();
    for member in &members {
        let child = spawn_member(
            &exe,
            member,
            &args.data_dir,
            &initial_cluster,
            tls_files.as_ref(),
        )?;
        children.push((member.name.clone(), child));
    }
    let endpoints: Vec<String> = members
        .iter()
        .map(|m| {
            if args.tls {
                m.client_url.clone()
            } else {
                m.client_url.trim_start_matches("http://").to_string()
            }
        })
        .collect();
    // keelctl and etcdctl take the same flags.
    let client_flags = match &tls_files {
        Some(files) => format!(
            "--cacert {} --cert {} --key {} --endpoints {}",
            files.ca_cert.display(),
            files.client_cert.display(),
            files.client_key.display(),
            endpoints.join(",")
        ),
        None => format!("--endpoints {}", endpoints.join(",")),
    };
    println!("keel up: data in {}", args.data_dir.display());
    for member in &members {
        println!(
            "keel up: {} client {} peer {}",
            member.name, member.client_url, member.peer_url
        );
    }

    let mut shutdown = Box::pin(crate::member::shutdown_signal());
    tokio::select! {
        found = wait_for_leader(&members, status_tls.as_ref(), Duration::from_secs(30)) => match found {
            Some((name, id)) => {
                println!("keel up: store ready, leader is {name} ({id:x})");
                println!("keel up: try  keelctl {client_flags} put hello world");
                if tls_files.is_some() {
                    println!("keel up: or   ETCDCTL_API=3 etcdctl {client_flags} get hello");
                }
            }
            None => println!("keel up: no leader after 30s; members keep trying (see their logs)"),
        },
        _ = &mut shutdown => {
            stop_all(&mut children).await;
            return Ok(());
        }
    }

    if !args.store_only {
        let store_urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
        match start_apiservers(&exe, &args, &store_urls, tls_files.as_ref(), &mut shutdown).await? {
            Some(started) => children.extend(started),
            None => {
                stop_all(&mut children).await;
                return Ok(());
            }
        }
    }

    let mut running = children.len();
    loop {
        let mut exited = None;
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                for (i, (_, child)) in children.iter_mut().enumerate() {
                    if let Ok(Some(status)) = child.try_wait() {
                        exited = Some((i, status));
                        break;
                    }
                }
            }
        }
        if let Some((i, status)) = exited {
            let (name, _) = children.remove(i);
            running -= 1;
            println!("keel up: {name} exited ({status}); it is not restarted");
            if running == 0 {
                bail!("every process has exited");
            }
        }
    }
    stop_all(&mut children).await;
    Ok(())
}

/// Makes the PKI and kubeconfig if needed, starts one api-server per member and waits until
/// they serve. None when interrupted meanwhile.
async fn start_apiservers(
    exe: &Path,
    args: &UpArgs,
    store_urls: &[String],
    store_tls: Option<&LocalTlsFiles>,
    shutdown: &mut std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
) -> anyhow::Result<Option<Vec<(String, Child)>>> {
    let pki_dir = args.data_dir.join("pki");
    let (pki, made) = KubePki::ensure(&pki_dir, &["127.0.0.1"])?;
    if made {
        println!(
            "keel up: made the cluster CA, serving and admin certificates in {}",
            pki_dir.display()
        );
    }
    let kubeconfig = std::path::absolute(args.data_dir.join("kubeconfig"))
        .context("cannot resolve the data dir")?;
    let server = format!("https://127.0.0.1:{}", args.apiserver_ports[0]);
    crate::certs::write(&kubeconfig, &pki.kubeconfig(&server)?, true)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(3);
    let mut started = Vec::new();
    for (i, port) in args.apiserver_ports.iter().enumerate() {
        let name = format!("apiserver{}", i + 1);
        let flags = apiserver_args(*port, store_urls, &pki, store_tls);
        let child = spawn_prefixed(exe, &name, &flags, Some(("api-server serving", tx.clone())))?;
        started.push((name, child));
    }
    let mut ready = 0;
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    while ready < started.len() {
        tokio::select! {
            Some(_) = rx.recv() => ready += 1,
            _ = &mut deadline => {
                println!("keel up: {ready} of {} api-servers serving after 60s (see their logs)", started.len());
                break;
            }
            _ = shutdown.as_mut() => {
                stop_all(&mut started).await;
                return Ok(None);
            }
        }
    }
    let urls: Vec<String> = args
        .apiserver_ports
        .iter()
        .map(|p| format!("https://127.0.0.1:{p}"))
        .collect();
    println!("keel up: api-servers {}", urls.join(" "));
    println!("keel up: cluster ready; kubectl with:");
    println!("    export KUBECONFIG={}", kubeconfig.display());
    Ok(Some(started))
}

/// SIGTERM to every member, then wait (SIGKILL after 10 s).
async fn stop_all(children: &mut [(String, Child)]) {
    println!("keel up: stopping");
    for (_, child) in children.iter() {
        if let Some(pid) = child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for (name, child) in children.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) => println!("keel up: {name} stopped ({status})"),
            _ => {
                println!("keel up: {name} did not stop in 10s; killing it");
                let _ = child.kill().await;
            }
        }
    }
}
