//! `keel up`: a local 3-member cluster (m1, m2, m3) as three `keel store` child processes on
//! etcd's local-cluster ports, data under one directory, logs prefixed with the member name.
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

use crate::certs::LocalTlsFiles;

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
}

struct Planned {
    name: String,
    client_url: String,
    peer_url: String,
}

fn plan(args: &UpArgs) -> anyhow::Result<Vec<Planned>> {
    if args.client_ports.len() != 3 || args.peer_ports.len() != 3 {
        bail!("--client-ports and --peer-ports take exactly three ports each");
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
    let mut child = Command::new(exe)
        .arg("store")
        .args(["--name", &member.name])
        .arg("--data-dir")
        .arg(data_dir.join(&member.name))
        .args(["--listen-client-urls", &member.client_url])
        .args(["--advertise-client-urls", &member.client_url])
        .args(["--listen-peer-urls", &member.peer_url])
        .args(["--initial-advertise-peer-urls", &member.peer_url])
        .args(["--initial-cluster", initial_cluster])
        .args(["--initial-cluster-state", "new"])
        .args(tls.map(tls_args).unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start member {}", member.name))?;
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
        let name = member.name.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("{name} | {line}");
            }
        });
    }
    Ok(child)
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
                println!("keel up: cluster ready, leader is {name} ({id:x})");
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
            println!("keel up: member {name} exited ({status}); it is not restarted");
            if running == 0 {
                bail!("every member has exited");
            }
        }
    }
    stop_all(&mut children).await;
    Ok(())
}

/// SIGTERM to every member, then wait (SIGKILL after 10 s).
async fn stop_all(children: &mut [(String, Child)]) {
    println!("keel up: stopping members");
    for (_, child) in children.iter() {
        if let Some(pid) = child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for (name, child) in children.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) => println!("keel up: member {name} stopped ({status})"),
            _ => {
                println!("keel up: member {name} did not stop in 10s; killing it");
                let _ = child.kill().await;
            }
        }
    }
}
