//! # Keel beside etcd: every load of the performance issue, one command
//!
//! `cargo bench --bench vs_etcd` (it builds `target/release/keel`; it needs Debian's `etcd`,
//! package `etcd-server` 3.4, on the PATH or `ETCD_BIN`). It writes the summary into
//! docs/benchmarks.md and the README between their `bench:begin`/`bench:end` markers when every
//! load ran for both systems (`KEEL_BENCH_WRITE_DOCS=0|1` overrides), and prints it either way.
//!
//! Each system runs as a 3-member cluster on this machine (free loopback ports, a temporary
//! data dir): etcd as three `etcd` processes with their defaults, Keel as `keel up`. The same
//! client (this binary, on keel-proto's tonic client) drives the same load against both, one
//! system after the other. A round starts a fresh cluster, runs the loads below against it in
//! this order, and stops it; rounds alternate which system goes first; the summary is the
//! median over rounds and the ratio keel/etcd.
//!
//! - put, 1 client and 256 clients over 16 connections, to the leader (`kv`);
//! - get, linearizable and serializable, 64 clients over 16 connections spread over the members;
//! - txn compare-and-swap on the mod revision, 64 clients, to the leader;
//! - watch fan-out, 1k and 10k watchers on one prefix while one client writes under it
//!   (`watch`);
//! - the leader SIGKILLed under 200 writes/s: the longest write gap (`failover`, last, since it
//!   leaves a member down);
//! - separately, a cluster loaded with 1M keys: RSS, and the time from a restart of every member
//!   to serving (`recovery`; `KEEL_BENCH_RECOVERY_ROUNDS`, 1 by default, as loading takes
//!   minutes).
//!
//! Knobs: `KEEL_BENCH_ROUNDS` (3), `KEEL_BENCH_SYSTEMS` (etcd,keel), `KEEL_BENCH_LOADS`
//! (put,get,txn,watch,failover,recovery), `KEEL_BENCH_SECONDS` (10) and
//! `KEEL_BENCH_WARMUP_SECONDS` (2) per KV load, `KEEL_BENCH_VALUE_BYTES` (256),
//! `KEEL_BENCH_WATCH` (watchers@puts-per-second pairs, `1000@3000,10000@100`),
//! `KEEL_BENCH_FAILOVER_RATE` (200), `KEEL_BENCH_RECOVERY_KEYS` (1000000), `KEEL_BENCH_DIR`
//! (parent of the data dirs), `KEEL_BIN`, `ETCD_BIN`; the watch module documents its own.
//! Without `--bench` (e.g. `cargo test --benches`) the binary does nothing.

mod failover;
mod kv;
mod recovery;
#[path = "../support/mod.rs"]
mod support;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use support::{Cluster, System, env_list, env_or};

/// What a metric measures, which decides its format and which direction is better.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    PerSecond,
    Millis,
    Seconds,
    MiB,
    Percent,
    Count,
}

impl Unit {
    fn higher_is_better(self) -> bool {
        matches!(self, Unit::PerSecond | Unit::Percent)
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::PerSecond => thousands(value),
            Unit::Millis if value < 10.0 => format!("{value:.2} ms"),
            Unit::Millis => format!("{value:.0} ms"),
            Unit::Seconds => format!("{value:.2} s"),
            Unit::MiB => format!("{value:.0} MiB"),
            Unit::Percent => format!("{value:.1}%"),
            Unit::Count => format!("{value:.0}"),
        }
    }
}

fn thousands(value: f64) -> String {
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

#[derive(Clone, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    pub fn new(name: &'static str, value: f64, unit: Unit) -> Metric {
        Metric { name, value, unit }
    }
}

/// The targets: (load, metric, bound on keel/etcd, at least (true) or at most).
const TARGETS: &[(&str, &str, f64, bool)] = &[
    ("put, 1 client", "requests/s", 1.5, true),
    ("put, 1 client", "latency p50", 0.67, false),
    ("put, 256 clients", "requests/s", 2.0, true),
    ("get linearizable, 64 clients", "requests/s", 1.5, true),
    ("watch, 1,000 watchers", "events delivered/s", 2.0, true),
    ("watch, 1,000 watchers", "delivery latency p99", 1.0, false),
    ("leader SIGKILL", "longest write gap", 0.5, false),
    ("1M keys", "member RSS, loaded", 1.0, false),
    ("1M keys", "restart to serving", 1.0, false),
];

struct Config {
    rounds: usize,
    systems: Vec<System>,
    loads: Vec<String>,
    seconds: f64,
    warmup: f64,
    value_bytes: usize,
    watch: watch::Config,
    /// (watchers, puts per second) per watch load.
    watch_loads: Vec<(usize, f64)>,
    failover_rate: f64,
    recovery_keys: u64,
    recovery_rounds: usize,
    etcd_bin: PathBuf,
    keel_bin: PathBuf,
    dir: Option<PathBuf>,
}

const ALL_LOADS: &str = "put,get,txn,watch,failover,recovery";

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        let seconds = env_or("KEEL_BENCH_SECONDS", 10.0)?;
        let warmup = env_or("KEEL_BENCH_WARMUP_SECONDS", 2.0)?;
        let watch = watch::Config::from_env(seconds, warmup)?;
        let mut watch_loads = Vec::new();
        for pair in env_list("KEEL_BENCH_WATCH", "1000@3000,10000@100") {
            let (watchers, rate) = pair
                .split_once('@')
                .context("KEEL_BENCH_WATCH: watchers@puts-per-second pairs")?;
            let (watchers, rate): (usize, f64) =
                (watchers.replace('_', "").parse()?, rate.parse()?);
            if watchers == 0 || rate <= 0.0 {
                bail!("KEEL_BENCH_WATCH: {pair}: watchers and rate must be positive");
            }
            watch_loads.push((watchers, rate));
        }
        let loads = env_list("KEEL_BENCH_LOADS", ALL_LOADS);
        for load in &loads {
            if !ALL_LOADS.split(',').any(|l| l == load) {
                bail!("KEEL_BENCH_LOADS: unknown load {load:?} (known: {ALL_LOADS})");
            }
        }
        Ok(Config {
            rounds: env_or("KEEL_BENCH_ROUNDS", 3)?,
            systems: support::systems_from_env()?,
            loads,
            seconds,
            warmup,
            value_bytes: env_or("KEEL_BENCH_VALUE_BYTES", 256)?,
            watch,
            watch_loads,
            failover_rate: env_or("KEEL_BENCH_FAILOVER_RATE", 200.0)?,
            recovery_keys: env_or("KEEL_BENCH_RECOVERY_KEYS", 1_000_000)?,
            recovery_rounds: env_or("KEEL_BENCH_RECOVERY_ROUNDS", 1)?,
            etcd_bin: std::env::var_os("ETCD_BIN").map_or_else(|| "etcd".into(), PathBuf::from),
            keel_bin: std::env::var_os("KEEL_BIN")
                .map_or_else(|| env!("CARGO_BIN_EXE_keel").into(), PathBuf::from),
            dir: std::env::var_os("KEEL_BENCH_DIR").map(PathBuf::from),
        })
    }

    fn runs(&self, load: &str) -> bool {
        self.loads.iter().any(|l| l == load)
    }

    fn complete(&self) -> bool {
        ALL_LOADS.split(',').all(|l| self.runs(l)) && self.systems.len() == 2
    }
}

/// (load, metric, system).
type MetricKey = (String, &'static str, System);

/// Every measurement: (load, metric) in first-seen order, then per system the value per round.
#[derive(Default)]
struct Results {
    order: Vec<(String, &'static str, Unit)>,
    values: BTreeMap<MetricKey, Vec<(usize, f64)>>,
    failures: Vec<String>,
}

impl Results {
    fn add(&mut self, load: &str, system: System, round: usize, metrics: Vec<Metric>) {
        for m in metrics {
            if !self
                .order
                .iter()
                .any(|(l, name, _)| l == load && *name == m.name)
            {
                self.order.push((load.to_string(), m.name, m.unit));
            }
            self.values
                .entry((load.to_string(), m.name, system))
                .or_default()
                .push((round, m.value));
        }
    }

    fn median(&self, load: &str, metric: &'static str, system: System) -> Option<f64> {
        let mut values: Vec<f64> = self
            .values
            .get(&(load.to_string(), metric, system))?
            .iter()
            .map(|(_, v)| *v)
            .collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `cargo test --benches` must not start servers.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("vs_etcd: skipped (run it with `cargo bench --bench vs_etcd`)");
        return Ok(());
    }
    let config = Config::from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}

async fn start(config: &Config, system: System) -> anyhow::Result<Cluster> {
    Cluster::start(
        system,
        &config.etcd_bin,
        &config.keel_bin,
        config.dir.as_deref(),
    )
    .await
    .with_context(|| format!("starting {}", system.name()))
}

fn kv_loads(config: &Config) -> Vec<kv::Load> {
    let mut loads = Vec::new();
    let load = |op, clients| kv::Load {
        op,
        clients,
        connections: 16,
    };
    if config.runs("put") {
        loads.push(load(kv::Op::Put, 1));
        loads.push(load(kv::Op::Put, 256));
    }
    if config.runs("get") {
        loads.push(load(
            kv::Op::Get {
                serializable: false,
            },
            64,
        ));
        loads.push(load(kv::Op::Get { serializable: true }, 64));
    }
    if config.runs("txn") {
        loads.push(load(kv::Op::TxnCas, 64));
    }
    loads
}

async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let etcd_version =
        support::command_line(config.etcd_bin.to_str().unwrap_or("etcd"), &["--version"]);
    if config.systems.contains(&System::Etcd) && etcd_version.is_none() {
        bail!(
            "cannot run {} --version: install Debian's etcd-server or set ETCD_BIN",
            config.etcd_bin.display()
        );
    }
    eprintln!(
        "vs_etcd: {} round(s) of {:?} on {:?}; {}",
        config.rounds,
        config.loads,
        config.systems.iter().map(|s| s.name()).collect::<Vec<_>>(),
        support::machine()
    );
    let mut results = Results::default();
    let cluster_loads = kv_loads(&config);
    let runs_cluster_loads =
        !cluster_loads.is_empty() || config.runs("watch") || config.runs("failover");
    for round in 1..=config.rounds {
        if !runs_cluster_loads {
            break;
        }
        let mut order = config.systems.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for system in order {
            let label = format!("[round {round}/{}] {}", config.rounds, system.name());
            let cluster = match start(&config, system).await {
                Ok(cluster) => cluster,
                Err(err) => {
                    results.failures.push(format!("{label}: {err:#}"));
                    continue;
                }
            };
            eprintln!("{label}: cluster ready, leader m{}", cluster.leader + 1);
            for load in &cluster_loads {
                let name = load.name();
                match kv::run(
                    &cluster,
                    *load,
                    config.seconds,
                    config.warmup,
                    config.value_bytes,
                )
                .await
                {
                    Ok(metrics) => {
                        eprintln!("{label} {name}: {}", one_line_metrics(&metrics));
                        results.add(&name, system, round, metrics);
                    }
                    Err(err) => results.failures.push(format!("{label} {name}: {err:#}")),
                }
            }
            if config.runs("watch") {
                for (i, &(watchers, rate)) in config.watch_loads.iter().enumerate() {
                    let name = format!("watch, {} watchers", thousands(watchers as f64));
                    let watch_config = config.watch.with_rate(rate);
                    match watch::scenario(&cluster, watchers, &watch_config, &label, i).await {
                        Ok(metrics) => results.add(&name, system, round, metrics),
                        Err(err) => results.failures.push(format!("{label} {name}: {err:#}")),
                    }
                }
            }
            if config.runs("failover") {
                let name = "leader SIGKILL";
                match failover::run(&cluster, config.failover_rate).await {
                    Ok(metrics) => results.add(name, system, round, metrics),
                    Err(err) => results.failures.push(format!("{label} {name}: {err:#}")),
                }
            }
            drop(cluster);
        }
    }
    if config.runs("recovery") {
        for round in 1..=config.recovery_rounds {
            let mut order = config.systems.clone();
            if round % 2 == 0 {
                order.reverse();
            }
            for system in order {
                let name = "1M keys";
                let label = format!("[recovery {round}] {}", system.name());
                let outcome = async {
                    let mut cluster = start(&config, system).await?;
                    recovery::run(&mut cluster, config.recovery_keys, config.value_bytes).await
                }
                .await;
                match outcome {
                    Ok(metrics) => results.add(name, system, round, metrics),
                    Err(err) => results.failures.push(format!("{label}: {err:#}")),
                }
            }
        }
    }

    let summary = summary_table(&results);
    let details = details_table(&results);
    let facts = facts(&config, etcd_version.as_deref(), started.elapsed());
    println!("\n{summary}\n{facts}\n{details}");
    for failure in &results.failures {
        println!("FAILED: {failure}");
    }
    let write = match std::env::var("KEEL_BENCH_WRITE_DOCS").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => config.complete() && results.failures.is_empty(),
    };
    if write {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let doc = format!("{summary}\n{facts}\n### Every round\n\n{details}");
        replace_between_markers(&root.join("docs/benchmarks.md"), &doc)?;
        replace_between_markers(&root.join("README.md"), &summary)?;
        eprintln!("vs_etcd: wrote docs/benchmarks.md and the README table");
    } else {
        eprintln!("vs_etcd: partial run, docs left as they are (KEEL_BENCH_WRITE_DOCS=1 forces)");
    }
    if !results.failures.is_empty() {
        bail!("{} load(s) failed (see above)", results.failures.len());
    }
    Ok(())
}

fn one_line_metrics(metrics: &[Metric]) -> String {
    metrics
        .iter()
        .map(|m| format!("{} {}", m.name, m.unit.format(m.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary_table(results: &Results) -> String {
    let mut out =
        "| load | metric | etcd | keel | keel/etcd | target |\n|---|---|---:|---:|---:|---|\n"
            .to_string();
    for (load, metric, unit) in &results.order {
        let etcd = results.median(load, metric, System::Etcd);
        let keel = results.median(load, metric, System::Keel);
        let ratio = match (etcd, keel) {
            (Some(e), Some(k)) if e > 0.0 => Some(k / e),
            _ => None,
        };
        let target = TARGETS
            .iter()
            .find(|(l, m, _, _)| l == load && m == metric)
            .map(|(_, _, bound, at_least)| {
                let met = ratio.map(|r| if *at_least { r >= *bound } else { r <= *bound });
                let verdict = match met {
                    Some(true) => "met",
                    Some(false) => "not met",
                    None => "?",
                };
                format!("{} {bound}: {verdict}", if *at_least { "≥" } else { "≤" })
            })
            .unwrap_or_default();
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| unit.format(v));
        out.push_str(&format!(
            "| {load} | {metric}{} | {} | {} | {} | {target} |\n",
            if unit.higher_is_better() { " ↑" } else { "" },
            cell(etcd),
            cell(keel),
            ratio.map_or("-".to_string(), |r| format!("{r:.2}")),
        ));
    }
    out
}

fn details_table(results: &Results) -> String {
    let rounds = results
        .values
        .values()
        .flat_map(|v| v.iter().map(|(r, _)| *r))
        .max()
        .unwrap_or(0);
    let mut out = String::from("| load | metric | system |");
    for r in 1..=rounds {
        out.push_str(&format!(" round {r} |"));
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---:|".repeat(rounds));
    out.push('\n');
    for (load, metric, unit) in &results.order {
        for system in [System::Etcd, System::Keel] {
            let Some(values) = results.values.get(&(load.clone(), *metric, system)) else {
                continue;
            };
            out.push_str(&format!("| {load} | {metric} | {} |", system.name()));
            for r in 1..=rounds {
                let cell = values
                    .iter()
                    .find(|(round, _)| *round == r)
                    .map_or("-".to_string(), |(_, v)| unit.format(*v));
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
    }
    out
}

fn facts(config: &Config, etcd_version: Option<&str>, elapsed: std::time::Duration) -> String {
    let keel_git = support::command_line("git", &["describe", "--always", "--dirty"])
        .unwrap_or_else(|| "?".into());
    let rustc = support::command_line("rustc", &["--version"]).unwrap_or_else(|| "?".into());
    let etcd_package =
        support::command_line("dpkg-query", &["-W", "-f", "${Version}", "etcd-server"])
            .map(|v| format!(" (Debian etcd-server {v})"))
            .unwrap_or_default();
    format!(
        "Median of {} round(s) (the 1M-key load: {} round(s)), systems alternated; ↑ marks \
         metrics where higher is better, for the others lower is better.\n\n\
         - machine: {}\n- etcd: {}{etcd_package}, its defaults\n- keel: {} (git {keel_git}), \
         {rustc}, `keel up` defaults\n- command: `cargo bench --bench vs_etcd`, {:.0} s in all; \
         load average {} at the end\n",
        config.rounds,
        config.recovery_rounds,
        support::machine(),
        etcd_version.unwrap_or("?"),
        env!("CARGO_PKG_VERSION"),
        elapsed.as_secs_f64(),
        support::load_average()
    )
}

/// Replaces what lies between `<!-- bench:begin -->` and `<!-- bench:end -->` in `path`.
fn replace_between_markers(path: &Path, content: &str) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no {BEGIN} ... {END} markers", path.display());
    };
    let updated = format!("{}{BEGIN}\n{content}\n{}", &text[..begin], &text[end..]);
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}
