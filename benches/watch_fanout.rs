//! # Watch fan-out: Keel beside etcd
//!
//! Run it with `cargo bench --bench watch_fanout` (this builds `target/release/keel` too). It
//! needs Debian's `etcd` (package `etcd-server`, 3.4) on the PATH, or `ETCD_BIN`.
//!
//! ## What is measured
//!
//! For each watcher count N (default 1,000 and 10,000), N watchers watch one key prefix while a
//! single writer puts keys under that prefix at a fixed rate (default 100 puts/s for 10 s, after
//! a 2 s warm-up whose events are not counted). Every put's value is its send time in
//! nanoseconds on the benchmark's monotonic clock, taken just before the put is sent, so every
//! event carries the time it was written. Per system and N:
//!
//! - **events delivered/s**: measured events received, summed over all watchers, divided by the
//!   time from the first measured put to the last measured event received. When the server keeps
//!   up this is N × the put rate.
//! - **latency p50 / p99**: receive time − send time for every (event, watcher) pair. It
//!   includes the put's commit (a quorum fsync) and the fan-out to every watcher.
//! - **put latency p50**: send → response of the measured puts, i.e. the commit part of the
//!   event latency, shown for context.
//! - **delivered**: measured events received / (successful measured puts × N); the run waits up
//!   to `KEEL_BENCH_DRAIN_SECONDS` after the last put for stragglers. Events that never arrive
//!   are missing from the latency percentiles, so read those next to this figure.
//! - **member RSS**: the sum of VmRSS (/proc/PID/status) of the three member processes at the
//!   end of the scenario, with the watchers still attached (for Keel the `keel up` launcher is
//!   not counted).
//!
//! ## How
//!
//! Each system runs as a 3-member cluster on this machine, on free loopback ports with a
//! temporary data directory: etcd as three `etcd` processes (`--initial-cluster`), Keel as
//! `keel up`. Both are driven by this same client with the same load. Watchers are grouped
//! `KEEL_BENCH_WATCHERS_PER_STREAM` (100) to a gRPC watch stream; the streams are spread over
//! `KEEL_BENCH_CONNECTIONS` (6) HTTP/2 connections that go round-robin to the three members, as
//! etcd's client balances. Writing starts only after every watcher's `created` response. The
//! writer is open-loop (a put every 1/rate seconds whether or not earlier ones finished, at most
//! 512 in flight) and talks to the member that was leader at start-up.
//!
//! A round starts a fresh cluster of each system in turn, runs every watcher count against it
//! and stops it; rounds alternate which system goes first. The report gives the median over
//! rounds and the keel/etcd ratio (for latency and RSS below 1 means Keel is better, for
//! events/s above 1 does), then a markdown table for the README with the machine and versions.
//! If Keel answers Watch with `Unimplemented` its column says so and later rounds skip it. A
//! scenario that fails is shown as failed and the run goes on; the exit status is non-zero only
//! if an etcd scenario failed (no baseline). A per-round table comes first with more detail:
//! p50 of the watchers on the leader vs the followers, put p99, and the CPU seconds the members
//! and this client used from the first put to the end of the drain.
//!
//! Everything shares one machine: at high fan-out the client (decoding every event) needs a
//! good part of a core, so on a small machine the results measure the servers' efficiency
//! under CPU contention as much as their latency; the CPU columns show how close it is.
//! Without `--bench` (e.g. `cargo test --benches`) the binary does nothing.
//!
//! ## Knobs (environment)
//!
//! `KEEL_BENCH_ROUNDS` (3), `KEEL_BENCH_WATCHERS` (1000,10000), `KEEL_BENCH_RATE` (puts/s, 100),
//! `KEEL_BENCH_SECONDS` (10), `KEEL_BENCH_WARMUP_SECONDS` (2), `KEEL_BENCH_DRAIN_SECONDS` (10),
//! `KEEL_BENCH_WATCHERS_PER_STREAM` (100), `KEEL_BENCH_CONNECTIONS` (6),
//! `KEEL_BENCH_SYSTEMS` (etcd,keel), `KEEL_BENCH_DIR` (parent of the data dirs; the system temp
//! dir by default), `ETCD_BIN` (etcd), `KEEL_BIN` (the keel built by cargo for this bench).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest};
use support::{Cluster, System};
use support::{env_list, env_or};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

const NOT_IMPLEMENTED: &str = "n/a (Watch not implemented)";
const MAX_PUTS_IN_FLIGHT: usize = 512;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and must not start a
    // multi-minute run with six server processes.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("watch_fanout: skipped (run it with `cargo bench --bench watch_fanout`)");
        return Ok(());
    }
    let config = Config::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(config))
}

struct Config {
    rounds: usize,
    watchers: Vec<usize>,
    rate: f64,
    seconds: f64,
    warmup: f64,
    drain: f64,
    per_stream: usize,
    connections: usize,
    systems: Vec<System>,
    dir: Option<PathBuf>,
    etcd_bin: PathBuf,
    keel_bin: PathBuf,
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        let watchers = env_list("KEEL_BENCH_WATCHERS", "1000,10000")
            .iter()
            .map(|s| s.replace('_', "").parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .context("KEEL_BENCH_WATCHERS: a comma-separated list of watcher counts")?;
        let systems = support::systems_from_env()?;
        let config = Config {
            rounds: env_or("KEEL_BENCH_ROUNDS", 3)?,
            watchers,
            rate: env_or("KEEL_BENCH_RATE", 100.0)?,
            seconds: env_or("KEEL_BENCH_SECONDS", 10.0)?,
            warmup: env_or("KEEL_BENCH_WARMUP_SECONDS", 2.0)?,
            drain: env_or("KEEL_BENCH_DRAIN_SECONDS", 10.0)?,
            per_stream: env_or("KEEL_BENCH_WATCHERS_PER_STREAM", 100)?,
            connections: env_or("KEEL_BENCH_CONNECTIONS", 6)?,
            systems,
            dir: std::env::var_os("KEEL_BENCH_DIR").map(PathBuf::from),
            etcd_bin: std::env::var_os("ETCD_BIN").map_or_else(|| "etcd".into(), PathBuf::from),
            keel_bin: std::env::var_os("KEEL_BIN")
                .map_or_else(|| env!("CARGO_BIN_EXE_keel").into(), PathBuf::from),
        };
        if config.rounds == 0
            || config.watchers.is_empty()
            || config.watchers.contains(&0)
            || config.systems.is_empty()
            || config.per_stream == 0
            || config.connections == 0
            || !(config.rate > 0.0 && config.seconds > 0.0)
            || config.warmup < 0.0
            || config.drain < 0.0
        {
            bail!("invalid benchmark settings (see the //! doc of benches/watch_fanout.rs)");
        }
        Ok(config)
    }

    fn measured_puts(&self) -> u64 {
        (self.rate * self.seconds).round().max(1.0) as u64
    }

    fn warmup_puts(&self) -> u64 {
        (self.rate * self.warmup).round() as u64
    }
}

/// Nanoseconds since the benchmark started, on a monotonic clock shared by writer and watchers.
fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A log-linear latency histogram (64 sub-buckets per power of two: within 1.6%).
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Histogram {
    const SUB: u64 = 64;

    fn new() -> Histogram {
        Histogram {
            counts: vec![0; 3776],
            total: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < 2 * Self::SUB {
            return value as usize;
        }
        let msb = 63 - u64::from(value.leading_zeros());
        let shift = msb - 6;
        let top = value >> shift;
        (2 * Self::SUB + (shift - 1) * Self::SUB + (top - Self::SUB)) as usize
    }

    /// The middle of bucket `index`.
    fn value(index: usize) -> u64 {
        let index = index as u64;
        if index < 2 * Self::SUB {
            return index;
        }
        let j = index - 2 * Self::SUB;
        let shift = j / Self::SUB + 1;
        let top = j % Self::SUB + Self::SUB;
        (top << shift) + (1 << shift) / 2
    }

    fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    fn percentile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

#[derive(Clone, Debug)]
struct Sample {
    events_per_sec: f64,
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    put_p50_ns: u64,
    put_p99_ns: u64,
    /// Event latency p50 of the watchers connected to the start-up leader, and to the others.
    leader_p50_ns: u64,
    followers_p50_ns: u64,
    delivered: u64,
    expected: u64,
    rss_kib: u64,
    setup: Duration,
    /// CPU seconds the members and this client used from the first put to the end of the drain.
    member_cpu: f64,
    client_cpu: f64,
}

#[derive(Clone, Debug)]
enum Outcome {
    Measured(Sample),
    NotImplemented,
    Failed(String),
}

async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    now_nanos();
    let etcd_version =
        support::command_line(config.etcd_bin.to_str().unwrap_or("etcd"), &["--version"]);
    if config.systems.contains(&System::Etcd) && etcd_version.is_none() {
        bail!(
            "cannot run {} --version: install Debian's etcd-server or set ETCD_BIN",
            config.etcd_bin.display()
        );
    }
    if config.systems.contains(&System::Keel) && !config.keel_bin.exists() {
        bail!(
            "{} does not exist: run `cargo build --release --bin keel` or set KEEL_BIN",
            config.keel_bin.display()
        );
    }
    let per_round: f64 = config
        .watchers
        .iter()
        .map(|w| 3.0 + config.warmup + config.seconds + *w as f64 / 5000.0)
        .sum::<f64>()
        + 4.0;
    eprintln!(
        "watch_fanout: {} round(s) of {} with {:?} watchers, {} puts/s for {}s (+{}s warm-up); \
         about {:.0}s if every system keeps up",
        config.rounds,
        config
            .systems
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(" and "),
        config.watchers,
        config.rate,
        config.seconds,
        config.warmup,
        per_round * (config.rounds * config.systems.len()) as f64
    );
    eprintln!(
        "watch_fanout: load average at start {}",
        support::load_average()
    );

    let mut results: BTreeMap<(System, usize), Vec<(usize, Outcome)>> = BTreeMap::new();
    let mut keel_unimplemented = false;
    let mut scenario_id = 0;
    for round in 1..=config.rounds {
        let mut order = config.systems.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for system in order {
            if system == System::Keel && keel_unimplemented {
                eprintln!(
                    "[round {round}/{}] keel: skipped (Watch not implemented)",
                    config.rounds
                );
                continue;
            }
            eprintln!(
                "[round {round}/{}] {}: starting a 3-member cluster",
                config.rounds,
                system.name()
            );
            let cluster_started = Instant::now();
            // Started here, on the block_on thread (see Cluster::start).
            let cluster = match Cluster::start(
                system,
                &config.etcd_bin,
                &config.keel_bin,
                config.dir.as_deref(),
            )
            .await
            {
                Ok(cluster) => cluster,
                Err(e) => {
                    eprintln!(
                        "[round {round}/{}] {}: cannot start: {e:#}",
                        config.rounds,
                        system.name()
                    );
                    for &w in &config.watchers {
                        results
                            .entry((system, w))
                            .or_default()
                            .push((round, Outcome::Failed(one_line(&e))));
                    }
                    continue;
                }
            };
            eprintln!(
                "[round {round}/{}] {}: ready in {:.1}s, leader m{}, members on {}",
                config.rounds,
                system.name(),
                cluster_started.elapsed().as_secs_f64(),
                cluster.leader + 1,
                cluster
                    .client_urls
                    .iter()
                    .map(|u| u.trim_start_matches("http://"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for &watchers in &config.watchers {
                scenario_id += 1;
                let label = format!(
                    "[round {round}/{}] {} {watchers} watchers",
                    config.rounds,
                    system.name()
                );
                let outcome = match scenario(&cluster, watchers, &config, &label, scenario_id).await
                {
                    Ok(outcome) => outcome,
                    Err(e) => Outcome::Failed(one_line(&e)),
                };
                match &outcome {
                    Outcome::Measured(s) => eprintln!(
                        "{label}: {} events/s, p50 {} (watchers on leader {}, on followers {}), \
                         p99 {}, max {}, put p50 {}, delivered {}, RSS {}, CPU members {:.1}s \
                         client {:.1}s",
                        fmt_count(s.events_per_sec),
                        fmt_latency(s.p50_ns),
                        fmt_latency(s.leader_p50_ns),
                        fmt_latency(s.followers_p50_ns),
                        fmt_latency(s.p99_ns),
                        fmt_latency(s.max_ns),
                        fmt_latency(s.put_p50_ns),
                        fmt_fraction(s.delivered, s.expected),
                        fmt_rss(s.rss_kib),
                        s.member_cpu,
                        s.client_cpu
                    ),
                    Outcome::NotImplemented => eprintln!("{label}: {NOT_IMPLEMENTED}"),
                    Outcome::Failed(e) => eprintln!("{label}: failed: {e}"),
                }
                let not_implemented = matches!(outcome, Outcome::NotImplemented);
                results
                    .entry((system, watchers))
                    .or_default()
                    .push((round, outcome));
                if not_implemented {
                    keel_unimplemented = true;
                    for &w in config.watchers.iter().filter(|w| **w != watchers) {
                        results
                            .entry((system, w))
                            .or_default()
                            .push((round, Outcome::NotImplemented));
                    }
                    break;
                }
            }
            eprintln!(
                "[round {round}/{}] {}: stopping the cluster",
                config.rounds,
                system.name()
            );
            drop(cluster);
        }
    }

    report(&config, &results, etcd_version, started.elapsed());
    // A failed Keel run is a finding, shown in its column; a failed etcd run means there is no
    // baseline to compare with.
    let etcd_failures = results
        .iter()
        .filter(|((system, _), _)| *system == System::Etcd)
        .flat_map(|(_, outcomes)| outcomes)
        .filter(|(_, outcome)| matches!(outcome, Outcome::Failed(_)))
        .count();
    if etcd_failures > 0 {
        bail!("{etcd_failures} etcd scenario(s) failed (see the per-round table)");
    }
    Ok(())
}

/// Everything the watcher tasks share with the coordinator.
#[derive(Default)]
struct Shared {
    /// Measured events received so far, over all watchers.
    delivered: AtomicU64,
}

/// Everything the writer shares with the coordinator.
struct WriterState {
    sent: AtomicU64,
    measured_ok: AtomicU64,
    failed: AtomicU64,
    /// Send time of the first measured put (u64::MAX until then).
    measured_start: AtomicU64,
    /// Send → response of the successful measured puts: the commit part of the event latency.
    put_latency: Mutex<Histogram>,
}

impl Default for WriterState {
    fn default() -> WriterState {
        WriterState {
            sent: AtomicU64::new(0),
            measured_ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            measured_start: AtomicU64::new(u64::MAX),
            put_latency: Mutex::new(Histogram::new()),
        }
    }
}

struct StreamStats {
    histogram: Histogram,
    delivered: u64,
    last_receive: u64,
}

async fn scenario(
    cluster: &Cluster,
    watchers: usize,
    config: &Config,
    label: &str,
    id: usize,
) -> anyhow::Result<Outcome> {
    let prefix: Arc<[u8]> = format!("/bench/{id}/").into_bytes().into();
    let streams = watchers.div_ceil(config.per_stream);
    let connections = config.connections.min(streams);
    let mut channels = Vec::new();
    for i in 0..connections {
        let url = &cluster.client_urls[i % cluster.client_urls.len()];
        channels.push(support::connect_watch(url, streams.div_ceil(connections)).await?);
    }

    // Watchers first; writing starts once every one of them is created.
    let setup_started = Instant::now();
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel(streams);
    let mut tasks = JoinSet::new();
    for s in 0..streams {
        let n = config.per_stream.min(watchers - s * config.per_stream);
        let connection = s % channels.len();
        let member = connection % cluster.client_urls.len();
        let stream = watch_stream(
            channels[connection].clone(),
            prefix.clone(),
            n,
            shared.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        );
        tasks.spawn(async move { (member, stream.await) });
    }
    drop(ready_tx);
    let mut ready = 0;
    let setup_deadline = Instant::now() + Duration::from_secs(60);
    let mut last_progress = Instant::now();
    while ready < streams {
        match tokio::time::timeout_at(setup_deadline.into(), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => ready += 1,
            Ok(Some(Err(status))) if status.code() == Code::Unimplemented => {
                tasks.shutdown().await;
                return Ok(Outcome::NotImplemented);
            }
            Ok(Some(Err(status))) => {
                tasks.shutdown().await;
                bail!("creating watchers failed: {status}");
            }
            Ok(None) => bail!("watch streams ended before every watcher was created"),
            Err(_) => {
                tasks.shutdown().await;
                bail!("only {ready} of {streams} watch streams were created within 60s");
            }
        }
        if last_progress.elapsed() > Duration::from_secs(2) {
            last_progress = Instant::now();
            eprintln!(
                "{label}: {} of {watchers} watchers created",
                ready * config.per_stream
            );
        }
    }
    let setup = setup_started.elapsed();
    eprintln!(
        "{label}: {watchers} watchers on {streams} streams over {} connections created in {:.2}s; \
         writing",
        channels.len(),
        setup.as_secs_f64()
    );

    // The writer: warm-up puts, then measured ones, at a fixed rate.
    let leader_url = &cluster.client_urls[cluster.leader];
    let kv = KvClient::new(support::connect_unary(leader_url, Duration::from_secs(30)).await?);
    let writer_state = Arc::new(WriterState::default());
    let warmup_puts = config.warmup_puts();
    let measured_puts = config.measured_puts();
    let writer = tokio::spawn(write(
        kv,
        prefix.clone(),
        warmup_puts,
        measured_puts,
        config.rate,
        writer_state.clone(),
    ));
    let total_puts = warmup_puts + measured_puts;
    let write_started = Instant::now();
    let member_cpu_before = cluster.cpu_seconds();
    let client_cpu_before = support::cpu_seconds(std::process::id());
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    tokio::pin!(writer);
    loop {
        tokio::select! {
            result = &mut writer => { result??; break; }
            _ = tick.tick() => {
                let sent = writer_state.sent.load(Ordering::Relaxed);
                let phase = if sent <= warmup_puts { "warm-up" } else { "measuring" };
                eprintln!(
                    "{label}: {phase} t={:.0}s puts {sent}/{total_puts}, events delivered {} \
                     of {} for the puts acknowledged",
                    write_started.elapsed().as_secs_f64(),
                    fmt_count(shared.delivered.load(Ordering::Relaxed) as f64),
                    fmt_count(
                        (writer_state.measured_ok.load(Ordering::Relaxed) * watchers as u64) as f64
                    ),
                );
            }
        }
    }
    let measured_ok = writer_state.measured_ok.load(Ordering::Relaxed);
    let failed = writer_state.failed.load(Ordering::Relaxed);
    if measured_ok == 0 {
        bail!("no measured put succeeded ({failed} failed)");
    }
    if failed > 0 {
        eprintln!("{label}: {failed} puts failed");
    }

    // Drain: wait for the stragglers, within limits.
    let expected = measured_ok * watchers as u64;
    let drain_deadline = Instant::now() + Duration::from_secs_f64(config.drain);
    let mut last_progress = Instant::now();
    while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_progress.elapsed() > Duration::from_secs(2) {
            last_progress = Instant::now();
            eprintln!(
                "{label}: draining, {} of {} events delivered",
                fmt_count(shared.delivered.load(Ordering::Relaxed) as f64),
                fmt_count(expected as f64)
            );
        }
    }
    let rss_kib = cluster.rss_kib();
    let member_cpu = cluster.cpu_seconds() - member_cpu_before;
    let client_cpu = support::cpu_seconds(std::process::id()) - client_cpu_before;

    let _ = stop_tx.send(true);
    let mut histogram = Histogram::new();
    let mut on_leader = Histogram::new();
    let mut on_followers = Histogram::new();
    let mut delivered = 0;
    let mut last_receive = 0;
    let mut stream_errors = Vec::new();
    while let Some(joined) = tokio::time::timeout(Duration::from_secs(10), tasks.join_next())
        .await
        .context("watch streams did not stop within 10s")?
    {
        match joined? {
            (member, Ok(stats)) => {
                histogram.merge(&stats.histogram);
                if member == cluster.leader {
                    on_leader.merge(&stats.histogram);
                } else {
                    on_followers.merge(&stats.histogram);
                }
                delivered += stats.delivered;
                last_receive = last_receive.max(stats.last_receive);
            }
            (_, Err(e)) => stream_errors.push(format!("{e:#}")),
        }
    }
    if let Some(first) = stream_errors.first() {
        bail!(
            "{} watch stream(s) failed, first: {first}",
            stream_errors.len()
        );
    }
    let measured_start = writer_state.measured_start.load(Ordering::Relaxed);
    let window = last_receive.saturating_sub(measured_start).max(1) as f64 / 1e9;
    let puts = lock(&writer_state.put_latency).clone();
    Ok(Outcome::Measured(Sample {
        events_per_sec: if delivered == 0 {
            0.0
        } else {
            delivered as f64 / window
        },
        p50_ns: histogram.percentile(50.0),
        p99_ns: histogram.percentile(99.0),
        max_ns: histogram.max,
        put_p50_ns: puts.percentile(50.0),
        put_p99_ns: puts.percentile(99.0),
        leader_p50_ns: on_leader.percentile(50.0),
        followers_p50_ns: on_followers.percentile(50.0),
        delivered,
        expected,
        rss_kib,
        setup,
        member_cpu,
        client_cpu,
    }))
}

/// The end of the range holding every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// One gRPC watch stream carrying `n` watchers on `prefix`: creates them, reports readiness
/// (or the error), then records the latency of every measured event until told to stop.
async fn watch_stream(
    channel: Channel,
    prefix: Arc<[u8]>,
    n: usize,
    shared: Arc<Shared>,
    ready: mpsc::Sender<Result<(), tonic::Status>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<StreamStats> {
    // Every create request is queued before the call: a server may send nothing (not even
    // headers) until it has a response, so waiting for the call first could deadlock.
    let (requests, receiver) = mpsc::channel(n.max(1));
    let range_end = prefix_end(&prefix);
    for _ in 0..n {
        let create = WatchCreateRequest {
            key: prefix.to_vec(),
            range_end: range_end.clone(),
            ..Default::default()
        };
        requests
            .try_send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(create)),
            })
            .expect("the request channel holds every create request");
    }
    let mut client = WatchClient::new(channel).max_decoding_message_size(usize::MAX);
    let mut responses = match client.watch(ReceiverStream::new(receiver)).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let _ = ready.send(Err(status.clone())).await;
            return Err(status.into());
        }
    };
    let mut created = 0;
    while created < n {
        let status = match responses.message().await {
            Ok(Some(response)) if response.canceled => tonic::Status::aborted(format!(
                "watch canceled while being created: {}",
                response.cancel_reason
            )),
            Ok(Some(response)) => {
                created += usize::from(response.created);
                continue;
            }
            Ok(None) => tonic::Status::aborted("the server closed the watch stream"),
            Err(status) => status,
        };
        let _ = ready.send(Err(status.clone())).await;
        return Err(status.into());
    }
    let _ = ready.send(Ok(())).await;

    let mut stats = StreamStats {
        histogram: Histogram::new(),
        delivered: 0,
        last_receive: 0,
    };
    let tag_at = prefix.len();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            message = responses.message() => {
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => bail!("the server closed the watch stream"),
                    Err(status) => bail!("watch stream failed: {status}"),
                };
                if response.canceled {
                    bail!("watch {} canceled: {}", response.watch_id, response.cancel_reason);
                }
                if response.events.is_empty() {
                    continue;
                }
                let now = now_nanos();
                let mut measured = 0;
                for kv in response.events.iter().filter_map(|e| e.kv.as_ref()) {
                    if kv.key.get(tag_at) != Some(&b'm') {
                        continue; // a warm-up put
                    }
                    let sent = std::str::from_utf8(&kv.value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .context("an event value is not a send time")?;
                    stats.histogram.record(now.saturating_sub(sent));
                    measured += 1;
                }
                if measured > 0 {
                    stats.delivered += measured;
                    stats.last_receive = now;
                    shared.delivered.fetch_add(measured, Ordering::Relaxed);
                }
            }
        }
    }
    drop(requests); // kept open until now: closing it ends the stream on etcd
    Ok(stats)
}

/// Open-loop writer: `warmup` then `measured` puts under `prefix`, one every 1/rate seconds.
/// Keys are `prefix` + `w`|`m` + sequence number; the value is the send time in nanoseconds.
async fn write(
    kv: KvClient<Channel>,
    prefix: Arc<[u8]>,
    warmup: u64,
    measured: u64,
    rate: f64,
    state: Arc<WriterState>,
) -> anyhow::Result<()> {
    let in_flight = Arc::new(Semaphore::new(MAX_PUTS_IN_FLIGHT));
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut puts = JoinSet::new();
    for seq in 0..warmup + measured {
        interval.tick().await;
        let permit = in_flight.clone().acquire_owned().await?;
        let is_measured = seq >= warmup;
        let mut key = prefix.to_vec();
        key.extend_from_slice(
            format!("{}{seq:08}", if is_measured { 'm' } else { 'w' }).as_bytes(),
        );
        let mut kv = kv.clone();
        let put_state = state.clone();
        puts.spawn(async move {
            let state = put_state;
            let sent = now_nanos();
            if is_measured {
                state.measured_start.fetch_min(sent, Ordering::Relaxed);
            }
            let result = kv
                .put(PutRequest {
                    key,
                    value: sent.to_string().into_bytes(),
                    ..Default::default()
                })
                .await;
            match result {
                Ok(_) if is_measured => {
                    let latency = now_nanos().saturating_sub(sent);
                    lock(&state.put_latency).record(latency);
                    state.measured_ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => {
                    state.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(permit);
        });
        state.sent.fetch_add(1, Ordering::Relaxed);
        while puts.try_join_next().is_some() {}
    }
    while puts.join_next().await.is_some() {}
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Medians over the measured rounds of one system and watcher count.
struct Summary {
    events_per_sec: f64,
    p50_ns: f64,
    p99_ns: f64,
    put_p50_ns: f64,
    delivered: f64,
    rss_kib: f64,
    rounds: usize,
}

enum Cell {
    Summary(Summary),
    Text(String),
}

fn summarize(outcomes: Option<&Vec<(usize, Outcome)>>) -> Cell {
    let outcomes: Vec<&Outcome> = outcomes.into_iter().flatten().map(|(_, o)| o).collect();
    let samples: Vec<&Sample> = outcomes
        .iter()
        .filter_map(|o| match *o {
            Outcome::Measured(s) => Some(s),
            _ => None,
        })
        .collect();
    if samples.is_empty() {
        if outcomes
            .iter()
            .any(|o| matches!(o, Outcome::NotImplemented))
        {
            return Cell::Text(NOT_IMPLEMENTED.to_string());
        }
        return Cell::Text(
            match outcomes.iter().find_map(|o| match o {
                Outcome::Failed(e) => Some(e),
                _ => None,
            }) {
                Some(e) => format!("failed: {}", e.chars().take(60).collect::<String>()),
                None => "not run".to_string(),
            },
        );
    }
    let each = |f: fn(&Sample) -> f64| median(samples.iter().map(|s| f(s)).collect());
    Cell::Summary(Summary {
        events_per_sec: each(|s| s.events_per_sec),
        p50_ns: each(|s| s.p50_ns as f64),
        p99_ns: each(|s| s.p99_ns as f64),
        put_p50_ns: each(|s| s.put_p50_ns as f64),
        delivered: each(|s| s.delivered as f64 / s.expected.max(1) as f64),
        rss_kib: each(|s| s.rss_kib as f64),
        rounds: samples.len(),
    })
}

fn report(
    config: &Config,
    results: &BTreeMap<(System, usize), Vec<(usize, Outcome)>>,
    etcd_version: Option<String>,
    elapsed: Duration,
) {
    let etcd_deb = support::command_line("dpkg-query", &["-W", "-f=${Version}", "etcd-server"]);
    let etcd = match (&etcd_version, etcd_deb) {
        (Some(v), Some(deb)) => format!(
            "{} (Debian etcd-server {deb})",
            v.trim_start_matches("etcd Version: ")
        ),
        (Some(v), None) => v.trim_start_matches("etcd Version: ").to_string(),
        _ => "not run".to_string(),
    };
    let keel_bin = config.keel_bin.to_str().unwrap_or("keel");
    let keel_version = support::command_line(keel_bin, &["--version"])
        .map(|v| v.trim_start_matches("keel ").to_string())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let root = env!("CARGO_MANIFEST_DIR");
    let git = support::command_line("git", &["-C", root, "rev-parse", "--short", "HEAD"]);
    let dirty = support::command_line(
        "git",
        &["-C", root, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some();
    let keel = match git {
        Some(rev) => format!(
            "{keel_version} (git {rev}{})",
            if dirty { "-dirty" } else { "" }
        ),
        None => keel_version,
    };
    let rustc = support::command_line("rustc", &["--version"]).unwrap_or_default();

    // Per-round numbers first: raw material, not for the README.
    println!();
    println!("### Per round");
    println!();
    println!(
        "| system | watchers | round | events/s | p50 | p50 on leader / followers | p99 | max \
         | put p50 | put p99 | delivered | member RSS | member CPU | client CPU | watch setup |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((system, watchers), outcomes) in results {
        for (round, outcome) in outcomes {
            let cells = match outcome {
                Outcome::Measured(s) => format!(
                    "{} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {:.1}s | {:.1}s | {:.2}s",
                    fmt_count(s.events_per_sec),
                    fmt_latency(s.p50_ns),
                    fmt_latency(s.leader_p50_ns),
                    fmt_latency(s.followers_p50_ns),
                    fmt_latency(s.p99_ns),
                    fmt_latency(s.max_ns),
                    fmt_latency(s.put_p50_ns),
                    fmt_latency(s.put_p99_ns),
                    fmt_fraction(s.delivered, s.expected),
                    fmt_rss(s.rss_kib),
                    s.member_cpu,
                    s.client_cpu,
                    s.setup.as_secs_f64()
                ),
                Outcome::NotImplemented => format!("{NOT_IMPLEMENTED} | | | | | | | | | | |"),
                Outcome::Failed(e) => format!("failed: {e} | | | | | | | | | | |"),
            };
            println!(
                "| {} | {} | {round} | {cells} |",
                system.name(),
                fmt_count(*watchers as f64),
            );
        }
    }

    println!();
    println!("### Watch fan-out: Keel beside etcd");
    println!();
    println!(
        "N watchers on one prefix while one client puts {} keys/s under it for {}s (after {}s of \
         warm-up); every event carries its send time. 3-member clusters on one machine, same \
         client and load for both; watchers {} per gRPC stream, streams over {} connections \
         round-robin across the members. Median of {} round(s), systems alternated. Latency is \
         put sent → event received by a watcher (includes the commit, shown alone as put latency); RSS is the sum over the 3 \
         members at the end, watchers attached. keel/etcd: above 1 is better for events/s, below \
         1 for latency and RSS.",
        config.rate,
        config.seconds,
        config.warmup,
        config.per_stream,
        config.connections,
        config.rounds
    );
    println!();
    println!("| watchers | metric | etcd | keel | keel/etcd |");
    println!("|---:|---|---:|---:|---:|");
    type Metric = (&'static str, fn(&Summary) -> f64, fn(f64) -> String);
    let metrics: [Metric; 6] = [
        ("events delivered/s", |s| s.events_per_sec, fmt_count),
        ("latency p50", |s| s.p50_ns, |v| fmt_latency(v as u64)),
        ("latency p99", |s| s.p99_ns, |v| fmt_latency(v as u64)),
        (
            "put latency p50 (commit part)",
            |s| s.put_p50_ns,
            |v| fmt_latency(v as u64),
        ),
        (
            "delivered",
            |s| s.delivered,
            |v| format!("{:.1}%", v * 100.0),
        ),
        (
            "member RSS (sum of 3)",
            |s| s.rss_kib,
            |v| fmt_rss(v as u64),
        ),
    ];
    for &watchers in &config.watchers {
        let etcd_cell = summarize(results.get(&(System::Etcd, watchers)));
        let keel_cell = summarize(results.get(&(System::Keel, watchers)));
        for (name, get, format) in &metrics {
            let show = |cell: &Cell| match cell {
                Cell::Summary(s) => {
                    let rounds = if s.rounds < config.rounds {
                        format!(" ({} of {} rounds)", s.rounds, config.rounds)
                    } else {
                        String::new()
                    };
                    format!("{}{rounds}", format(get(s)))
                }
                Cell::Text(t) => t.clone(),
            };
            let ratio = match (&etcd_cell, &keel_cell) {
                (Cell::Summary(e), Cell::Summary(k)) if get(e) > 0.0 => {
                    format!("{:.2}", get(k) / get(e))
                }
                _ => "n/a".to_string(),
            };
            println!(
                "| {} | {name} | {} | {} | {ratio} |",
                fmt_count(watchers as f64),
                show(&etcd_cell),
                show(&keel_cell)
            );
        }
    }
    println!();
    println!("- machine: {}", support::machine());
    println!("- etcd: {etcd}");
    println!("- keel: {keel}, built with {rustc}");
    println!(
        "- run: `cargo bench --bench watch_fanout`, {:.0}s in all; load average {} at the end",
        elapsed.as_secs_f64(),
        support::load_average()
    );
}

/// 1234567.8 → "1,234,568"
fn fmt_count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_latency(nanos: u64) -> String {
    let ms = nanos as f64 / 1e6;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn fmt_fraction(part: u64, whole: u64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole.max(1) as f64)
}

fn fmt_rss(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// An error as one line that fits in a markdown table cell.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace(['\n', '|'], " ")
}
