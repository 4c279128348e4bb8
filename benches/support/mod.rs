//! Cluster processes for the benchmarks: a 3-member etcd or Keel cluster on free loopback ports
//! with a temporary data directory, plus machine and version facts and environment parsing for
//! the reports. Shared by every bench binary; each uses a part of it.
//!
//! A [`Cluster`] stops its members when dropped (also while unwinding from a panic): SIGTERM,
//! then SIGKILL after a grace period. If the benchmark process itself dies, the kernel sends
//! the members a signal too (`PR_SET_PDEATHSIG`): SIGKILL to etcd, SIGTERM to `keel up` so that
//! it stops its own members.

#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use keel_proto::etcdserverpb::{PutRequest, StatusRequest};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tonic::transport::{Channel, Endpoint};

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum System {
    Etcd,
    Keel,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Etcd => "etcd",
            System::Keel => "keel",
        }
    }
}

/// Ports other clusters on this machine use (etcd's and `keel up`'s defaults, test fixtures).
fn forbidden(port: u16) -> bool {
    matches!(
        port,
        2379 | 2380 | 22379 | 22380 | 32379 | 32380 | 13379 | 13380 | 14379..=14402
    )
}

/// `n` distinct loopback ports nobody listens on right now, none of them [`forbidden`].
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
        let port = listener.local_addr()?.port();
        if !forbidden(port) && !ports.contains(&port) {
            ports.push(port);
        }
        held.push(listener);
        if held.len() > 1000 {
            bail!("could not find {n} free loopback ports");
        }
    }
    Ok(ports)
}

/// HTTP/2 flow-control window of each watch stream (hyper's default).
const STREAM_WINDOW: u32 = 2 << 20;

/// A connection for `streams` long-lived watch streams (no per-request timeout).
///
/// While this client falls behind, unread DATA frames queue up in h2. h2 charges each unread
/// frame under 256 bytes (etcd sends one small watch response per frame) 256 − its size against
/// a budget of half the connection window, and closes the connection with GOAWAY
/// `too_many_data_frames` when it runs out. So the connection window is made 8× what the
/// stream windows can hold: full stream windows then cost at most half of it as long as the
/// frames are at least ~52 bytes, and the stream windows (flow control) bound the backlog.
pub async fn connect_watch(url: &str, streams: usize) -> anyhow::Result<Channel> {
    let window = (8 * streams as u64 * u64::from(STREAM_WINDOW)).clamp(5 << 20, (1 << 31) - 1);
    Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(window as u32)
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// A channel for unary calls: every call gives up after `timeout`.
pub async fn connect_unary(url: &str, timeout: Duration) -> anyhow::Result<Channel> {
    Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(timeout)
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

pub struct Cluster {
    pub system: System,
    /// `http://127.0.0.1:PORT` of m1, m2, m3.
    pub client_urls: Vec<String>,
    /// Index into `client_urls` of the member that was leader when the cluster became ready.
    pub leader: usize,
    /// etcd: the three members; Keel: the `keel up` launcher (its members are its children).
    children: Vec<Child>,
    /// Process ids of the three members (for RSS).
    member_pids: Vec<u32>,
    /// How `children` were started, to start them again on the same data dirs.
    specs: Vec<Spec>,
    log: PathBuf,
    // Declared last: removed after `Drop::drop` has stopped the members.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a 3-member cluster and waits until it has a leader and takes a write.
    ///
    /// Call this from the thread that runs `block_on`, not from a spawned task: the parent-death
    /// signal fires when the *thread* that started the child exits, and the main thread lives
    /// as long as the benchmark.
    pub async fn start(
        system: System,
        etcd_bin: &Path,
        keel_bin: &Path,
        parent_dir: Option<&Path>,
    ) -> anyhow::Result<Cluster> {
        let dir = match parent_dir {
            Some(parent) => tempfile::Builder::new()
                .prefix("keel-watch-bench-")
                .tempdir_in(parent)?,
            None => tempfile::Builder::new()
                .prefix("keel-watch-bench-")
                .tempdir()?,
        };
        let ports = free_ports(6)?;
        let (client_ports, peer_ports) = ports.split_at(3);
        let client_urls: Vec<String> = client_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let log = dir.path().join(format!("{}.log", system.name()));
        let mut specs = Vec::new();
        match system {
            System::Etcd => {
                let peer_urls: Vec<String> = peer_ports
                    .iter()
                    .map(|p| format!("http://127.0.0.1:{p}"))
                    .collect();
                let initial_cluster = peer_urls
                    .iter()
                    .enumerate()
                    .map(|(i, url)| format!("m{}={url}", i + 1))
                    .collect::<Vec<_>>()
                    .join(",");
                let token = format!("keel-watch-bench-{}", std::process::id());
                for i in 0..3 {
                    let name = format!("m{}", i + 1);
                    let member_log = dir.path().join(format!("etcd-{name}.log"));
                    let data_dir = dir.path().join(&name);
                    let args: Vec<&std::ffi::OsStr> = vec![
                        "--name".as_ref(),
                        name.as_ref(),
                        "--data-dir".as_ref(),
                        data_dir.as_os_str(),
                        "--listen-client-urls".as_ref(),
                        client_urls[i].as_ref(),
                        "--advertise-client-urls".as_ref(),
                        client_urls[i].as_ref(),
                        "--listen-peer-urls".as_ref(),
                        peer_urls[i].as_ref(),
                        "--initial-advertise-peer-urls".as_ref(),
                        peer_urls[i].as_ref(),
                        "--initial-cluster".as_ref(),
                        initial_cluster.as_ref(),
                        "--initial-cluster-state".as_ref(),
                        "new".as_ref(),
                        "--initial-cluster-token".as_ref(),
                        token.as_ref(),
                        "--logger".as_ref(),
                        "zap".as_ref(),
                        "--log-outputs".as_ref(),
                        "stderr".as_ref(),
                    ];
                    specs.push(Spec {
                        program: etcd_bin.to_path_buf(),
                        args: args.into_iter().map(Into::into).collect(),
                        log: member_log,
                        on_parent_death: Signal::SIGKILL,
                    });
                }
            }
            System::Keel => {
                let list = |ports: &[u16]| {
                    ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let data_dir = dir.path().join("keel-data");
                let args: Vec<std::ffi::OsString> = vec![
                    "up".into(),
                    "--data-dir".into(),
                    data_dir.into(),
                    "--client-ports".into(),
                    list(client_ports).into(),
                    "--peer-ports".into(),
                    list(peer_ports).into(),
                ];
                specs.push(Spec {
                    program: keel_bin.to_path_buf(),
                    args,
                    log: log.clone(),
                    on_parent_death: Signal::SIGTERM,
                });
            }
        }
        let mut cluster = Cluster {
            system,
            client_urls,
            leader: 0,
            children: Vec::new(),
            member_pids: Vec::new(),
            specs,
            log,
            _dir: dir,
        };
        cluster.spawn_all()?;
        cluster.leader = cluster.wait_ready(Duration::from_secs(60)).await?;
        cluster.find_member_pids()?;
        Ok(cluster)
    }

    fn spawn_all(&mut self) -> anyhow::Result<()> {
        for spec in &self.specs {
            self.children.push(spec.spawn()?);
        }
        Ok(())
    }

    fn find_member_pids(&mut self) -> anyhow::Result<()> {
        self.member_pids = match self.system {
            System::Etcd => self.children.iter().map(Child::id).collect(),
            System::Keel => {
                // `keel up` names its members m1, m2, m3 in client-URL order.
                let children = children_of(self.children[0].id());
                (1..=3)
                    .filter_map(|i| {
                        let name = format!("--name\0m{i}\0");
                        children.iter().copied().find(|pid| {
                            std::fs::read(format!("/proc/{pid}/cmdline"))
                                .is_ok_and(|c| c.windows(name.len()).any(|w| w == name.as_bytes()))
                        })
                    })
                    .collect()
            }
        };
        if self.member_pids.len() != 3 {
            bail!(
                "{}: expected 3 member processes, found {:?}",
                self.system.name(),
                self.member_pids
            );
        }
        Ok(())
    }

    /// Stops every member (SIGTERM, as an operator would) and starts them again on the same
    /// data dirs; returns the time from starting them to the cluster serving again (every
    /// member answers, there is a leader and a put through it succeeds).
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        self.stop();
        self.children.clear();
        let started = Instant::now();
        self.spawn_all()?;
        self.leader = self.wait_ready(Duration::from_secs(300)).await?;
        let elapsed = started.elapsed();
        self.find_member_pids()?;
        Ok(elapsed)
    }

    /// SIGKILLs the member behind `client_urls[index]`.
    pub fn kill_member(&self, index: usize) -> anyhow::Result<()> {
        let pid = *self.member_pids.get(index).context("no such member")?;
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)
            .with_context(|| format!("cannot kill member {pid}"))
    }

    /// Waits until every member answers Status, one of them is the leader, and a put through
    /// the leader succeeds. Returns the leader's index.
    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            for child in &mut self.children {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{} exited during start-up ({status}); last log lines:\n{}",
                        self.system.name(),
                        self.log_tail()
                    );
                }
            }
            if let Some(leader) = self.probe().await {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} cluster not ready after {timeout:?}; last log lines:\n{}",
                    self.system.name(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn probe(&self) -> Option<usize> {
        let mut ids = Vec::new();
        let mut leader = 0;
        for url in &self.client_urls {
            let channel = connect_unary(url, Duration::from_secs(2)).await.ok()?;
            let status = MaintenanceClient::new(channel)
                .status(StatusRequest {})
                .await
                .ok()?
                .into_inner();
            ids.push(status.header?.member_id);
            leader = leader.max(status.leader);
        }
        let index = ids.iter().position(|id| *id == leader && leader != 0)?;
        let channel = connect_unary(&self.client_urls[index], Duration::from_secs(5))
            .await
            .ok()?;
        KvClient::new(channel)
            .put(PutRequest {
                key: b"/bench-ready".to_vec(),
                value: b"1".to_vec(),
                ..Default::default()
            })
            .await
            .ok()?;
        Some(index)
    }

    /// Sum of VmRSS of the three member processes, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.member_pids
            .iter()
            .filter_map(|pid| status_field(*pid, "VmRSS:"))
            .sum()
    }

    /// CPU time (user + system) the three members have used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.member_pids.iter().map(|pid| cpu_seconds(*pid)).sum()
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        let dir = self._dir.path();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        if logs.is_empty() {
            logs.push(self.log.clone());
        }
        for path in logs {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            text.push_str(&format!("--- {}\n", path.display()));
            for line in &lines[lines.len().saturating_sub(15)..] {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    fn stop(&mut self) {
        for child in &self.children {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let running = self
                .children
                .iter_mut()
                .map(|c| matches!(c.try_wait(), Ok(None)))
                .filter(|running| *running)
                .count();
            if running == 0 {
                break;
            }
            if Instant::now() > deadline {
                for child in &mut self.children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // `keel up` stops its members before it exits; if it had to be killed they are orphans.
        if self.system == System::Keel {
            for pid in &self.member_pids {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "keel" {
                    let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How one process of a cluster is started.
struct Spec {
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    log: PathBuf,
    on_parent_death: Signal,
}

impl Spec {
    fn spawn(&self) -> anyhow::Result<Child> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        spawn(command, &self.log, self.on_parent_death)
    }
}

fn spawn(mut command: Command, log: &Path, on_parent_death: Signal) -> anyhow::Result<Child> {
    // Appended to: a restarted member continues its log.
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot create {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: the closure runs in the forked child before exec and only makes the prctl
    // system call, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(on_parent_death).map_err(std::io::Error::from)
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))
}

/// Process ids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

/// CPU time (utime + stime from /proc/PID/stat) of a process so far, in seconds; 0 if gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    // Linux reports these in USER_HZ, which is 100 on every architecture's user ABI.
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime ...
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / TICKS_PER_SECOND
}

/// A "Field:   123 kB" line of /proc/PID/status, in KiB.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// First line of a command's stdout, if it runs.
pub fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// "2 CPUs (model), 23.5 GiB RAM, Linux 6.1.0"
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}), {:.1} GiB RAM, Linux {}",
        mem_kib as f64 / (1024.0 * 1024.0),
        kernel.trim()
    )
}

/// The 1-minute load average, to show how busy the (shared) machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// `name` parsed, or `default` when unset or empty.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={value} is not valid")),
        _ => Ok(default),
    }
}

/// A comma-separated list from `name`, lower-cased, or `default`.
pub fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `KEEL_BENCH_SYSTEMS` (default etcd,keel): the systems to measure.
pub fn systems_from_env() -> anyhow::Result<Vec<System>> {
    env_list("KEEL_BENCH_SYSTEMS", "etcd,keel")
        .iter()
        .map(|s| match s.as_str() {
            "etcd" => Ok(System::Etcd),
            "keel" => Ok(System::Keel),
            other => bail!("KEEL_BENCH_SYSTEMS: unknown system {other:?}"),
        })
        .collect()
}
