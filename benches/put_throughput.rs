//! # Put throughput: Keel beside etcd
//!
//! Run it with `cargo bench --bench put_throughput` (it needs `target/release/keel`, built by
//! `cargo build --release --bin keel`, and Debian's `etcd` on the PATH or `ETCD_BIN`).
//!
//! Each system runs as a 3-member cluster on this machine (free loopback ports, a temporary data
//! directory). For each client count C (default 1 and 256), C closed-loop clients put 256-byte
//! values under keys `bench/<n>` (a key space of 100,000) to the leader for
//! `KEEL_BENCH_SECONDS` (10) after `KEEL_BENCH_WARMUP_SECONDS` (2), sharing
//! `min(C, KEEL_BENCH_CONNECTIONS)` (16) HTTP/2 connections, as etcd's `benchmark put --clients
//! C --conns N` does. Reported per system and C: puts/s (acknowledged puts in the window /
//! window), latency p50 and p99 (send to response; every put is a quorum fsync), errors, and
//! the members' RSS at the end. Rounds (`KEEL_BENCH_ROUNDS`, 3) alternate which system goes
//! first; the report gives the median round and Keel/etcd ratios.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keel_proto::etcdserverpb::PutRequest;
use keel_proto::etcdserverpb::kv_client::KvClient;
use support::{Cluster, System, env_list, env_or};

const KEY_SPACE: u64 = 100_000;

struct Config {
    rounds: usize,
    clients: Vec<usize>,
    seconds: f64,
    warmup: f64,
    connections: usize,
    value_bytes: usize,
    systems: Vec<System>,
    etcd_bin: PathBuf,
    keel_bin: PathBuf,
    dir: Option<PathBuf>,
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        let clients = env_list("KEEL_BENCH_CLIENTS", "1,256")
            .iter()
            .map(|c| c.parse())
            .collect::<Result<Vec<usize>, _>>()
            .context("KEEL_BENCH_CLIENTS: a comma-separated list of client counts")?;
        let systems = support::systems_from_env()?;
        Ok(Config {
            rounds: env_or("KEEL_BENCH_ROUNDS", 3)?,
            clients,
            seconds: env_or("KEEL_BENCH_SECONDS", 10.0)?,
            warmup: env_or("KEEL_BENCH_WARMUP_SECONDS", 2.0)?,
            connections: env_or("KEEL_BENCH_CONNECTIONS", 16)?,
            value_bytes: env_or("KEEL_BENCH_VALUE_BYTES", 256)?,
            systems,
            etcd_bin: std::env::var_os("ETCD_BIN").map_or_else(|| "etcd".into(), PathBuf::from),
            keel_bin: std::env::var_os("KEEL_BIN").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/keel"),
                PathBuf::from,
            ),
            dir: std::env::var_os("KEEL_BENCH_DIR").map(PathBuf::from),
        })
    }
}

/// One measurement of one system at one client count.
#[derive(Clone, Debug)]
struct Sample {
    puts_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    rss_mib: f64,
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `cargo test --benches` must not start servers.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("put_throughput: skipped (run it with `cargo bench --bench put_throughput`)");
        return Ok(());
    }
    let config = Config::from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    if config.systems.contains(&System::Keel) && !config.keel_bin.exists() {
        bail!(
            "{} does not exist: run `cargo build --release --bin keel` or set KEEL_BIN",
            config.keel_bin.display()
        );
    }
    let etcd_version =
        support::command_line(config.etcd_bin.to_str().unwrap_or("etcd"), &["--version"]);
    eprintln!(
        "put_throughput: {} round(s), clients {:?}, {} s (+{} s warm-up) each; {}",
        config.rounds,
        config.clients,
        config.seconds,
        config.warmup,
        support::machine()
    );
    let mut results: Vec<(System, usize, Sample)> = Vec::new();
    for round in 0..config.rounds {
        let mut order = config.systems.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for system in order {
            let cluster = Cluster::start(
                system,
                &config.etcd_bin,
                &config.keel_bin,
                config.dir.as_deref(),
            )
            .await
            .with_context(|| format!("starting {}", system.name()))?;
            for &clients in &config.clients {
                let sample = measure(&config, &cluster, clients).await?;
                eprintln!(
                    "  round {} {} clients {clients}: {:.0} puts/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, RSS {:.0} MiB",
                    round + 1,
                    system.name(),
                    sample.puts_per_second,
                    sample.p50_ms,
                    sample.p99_ms,
                    sample.errors,
                    sample.rss_mib
                );
                results.push((system, clients, sample));
            }
        }
    }
    report(&config, &results, etcd_version.as_deref());
    Ok(())
}

async fn measure(config: &Config, cluster: &Cluster, clients: usize) -> anyhow::Result<Sample> {
    let leader = &cluster.client_urls[cluster.leader];
    let mut channels = Vec::new();
    for _ in 0..clients.min(config.connections).max(1) {
        channels.push(support::connect_unary(leader, Duration::from_secs(10)).await?);
    }
    let value = vec![b'v'; config.value_bytes];
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let window_start = start + Duration::from_secs_f64(config.warmup);
    let window_end = window_start + Duration::from_secs_f64(config.seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut kv = KvClient::new(channels[c % channels.len()].clone());
        let (value, counter, stop) = (value.clone(), counter.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed) % KEY_SPACE;
                let sent = Instant::now();
                let ok = kv
                    .put(PutRequest {
                        key: format!("bench/{n:06}").into_bytes(),
                        value: value.clone(),
                        ..Default::default()
                    })
                    .await
                    .is_ok();
                let done = Instant::now();
                if sent >= window_start && done <= window_end {
                    if ok {
                        latencies.push(done - sent);
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep_until(window_end.into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let percentile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Sample {
        puts_per_second: latencies.len() as f64 / config.seconds,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
        errors,
        rss_mib: cluster.rss_kib() as f64 / 1024.0,
    })
}

/// The median round of each (system, clients), by puts/s.
fn median(results: &[(System, usize, Sample)], system: System, clients: usize) -> Option<Sample> {
    let mut samples: Vec<Sample> = results
        .iter()
        .filter(|(s, c, _)| *s == system && *c == clients)
        .map(|(_, _, sample)| sample.clone())
        .collect();
    samples.sort_by(|a, b| a.puts_per_second.total_cmp(&b.puts_per_second));
    samples.get(samples.len() / 2).cloned()
}

fn report(config: &Config, results: &[(System, usize, Sample)], etcd_version: Option<&str>) {
    println!();
    println!(
        "put throughput, 3-member clusters, {}-byte values, median of {} round(s); etcd: {}",
        config.value_bytes,
        config.rounds,
        etcd_version.unwrap_or("?")
    );
    println!(
        "| clients | system | puts/s | p50 ms | p99 ms | errors | RSS MiB | puts/s keel/etcd |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &clients in &config.clients {
        let etcd = median(results, System::Etcd, clients);
        for system in &config.systems {
            let Some(sample) = median(results, *system, clients) else {
                continue;
            };
            let ratio = match (system, &etcd) {
                (System::Keel, Some(etcd)) if etcd.puts_per_second > 0.0 => {
                    format!("{:.2}", sample.puts_per_second / etcd.puts_per_second)
                }
                _ => String::new(),
            };
            println!(
                "| {clients} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {ratio} |",
                system.name(),
                sample.puts_per_second,
                sample.p50_ms,
                sample.p99_ms,
                sample.errors,
                sample.rss_mib
            );
        }
    }
}
