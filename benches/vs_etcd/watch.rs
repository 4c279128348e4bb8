//! Watch fan-out: N watchers on one prefix while one client puts under it at a fixed rate.
//!
//! For each (watchers, rate) pair of `KEEL_BENCH_WATCH` (see main.rs), N watchers watch one key
//! prefix while a single writer puts keys under that prefix at that rate for
//! `KEEL_BENCH_SECONDS`, after a warm-up whose events are not counted. Every put's value is its
//! send time in nanoseconds on the benchmark's monotonic clock, so every event carries the time
//! it was written. Measured per system and N:
//!
//! - **events delivered/s**: measured events received, summed over all watchers, divided by the
//!   time from the first measured put to the last measured event received. When the server keeps
//!   up this is N x the put rate.
//! - **latency p50 / p99**: receive time - send time for every (event, watcher) pair. It
//!   includes the put's commit (a quorum fsync) and the fan-out to every watcher.
//! - **delivered**: measured events received / (successful measured puts x N); the run waits up
//!   to `KEEL_BENCH_DRAIN_SECONDS` (10) after the last put for stragglers.
//! - **member RSS**: the sum of VmRSS of the three members at the end, watchers attached.
//!
//! Watchers are grouped `KEEL_BENCH_WATCHERS_PER_STREAM` (100) to a gRPC watch stream; the
//! streams are spread over `KEEL_BENCH_WATCH_CONNECTIONS` (6) HTTP/2 connections that go
//! round-robin to the three members, as etcd's client balances. Writing starts only after every
//! watcher's `created` response. The writer is open-loop (a put every 1/rate seconds whether or
//! not earlier ones finished, at most 512 in flight) and talks to the member that was leader at
//! start-up.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::support::{self, Cluster, env_or};
use crate::{Metric, Unit};
use anyhow::{Context, bail};
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

const MAX_PUTS_IN_FLIGHT: usize = 512;

#[derive(Clone)]
pub struct Config {
    /// Puts per second; set per load with [`Config::with_rate`].
    rate: f64,
    seconds: f64,
    warmup: f64,
    drain: f64,
    per_stream: usize,
    connections: usize,
}

impl Config {
    pub fn from_env(seconds: f64, warmup: f64) -> anyhow::Result<Config> {
        let config = Config {
            rate: 100.0,
            seconds,
            warmup,
            drain: env_or("KEEL_BENCH_DRAIN_SECONDS", 10.0)?,
            per_stream: env_or("KEEL_BENCH_WATCHERS_PER_STREAM", 100)?,
            connections: env_or("KEEL_BENCH_WATCH_CONNECTIONS", 6)?,
        };
        if config.per_stream == 0
            || config.connections == 0
            || config.seconds <= 0.0
            || config.warmup < 0.0
            || config.drain < 0.0
        {
            bail!("invalid watch settings (see the //! doc of benches/vs_etcd/watch.rs)");
        }
        Ok(config)
    }

    /// The same settings with the writer putting `rate` keys per second.
    pub fn with_rate(&self, rate: f64) -> Config {
        Config {
            rate,
            ..self.clone()
        }
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

impl Sample {
    fn metrics(&self) -> Vec<Metric> {
        let ms = |ns: u64| ns as f64 / 1e6;
        vec![
            Metric::new("events delivered/s", self.events_per_sec, Unit::PerSecond),
            Metric::new("delivery latency p50", ms(self.p50_ns), Unit::Millis),
            Metric::new("delivery latency p99", ms(self.p99_ns), Unit::Millis),
            Metric::new(
                "delivered",
                100.0 * self.delivered as f64 / self.expected.max(1) as f64,
                Unit::Percent,
            ),
            Metric::new("member RSS", self.rss_kib as f64 / 1024.0, Unit::MiB),
        ]
    }
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

/// Runs N watchers against `cluster`; `id` makes the key prefix unique within the cluster.
pub async fn scenario(
    cluster: &Cluster,
    watchers: usize,
    config: &Config,
    label: &str,
    id: usize,
) -> anyhow::Result<Vec<Metric>> {
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
                bail!("Watch is not implemented");
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
                    crate::thousands(shared.delivered.load(Ordering::Relaxed) as f64),
                    crate::thousands(
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
                crate::thousands(shared.delivered.load(Ordering::Relaxed) as f64),
                crate::thousands(expected as f64)
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
    let sample = Sample {
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
    };
    eprintln!(
        "{label}: {} events/s, p50 {} (watchers on leader {}, on followers {}), p99 {}, max {}, \
         put p50 {} p99 {}, delivered {}, RSS {}, CPU members {:.1}s client {:.1}s, setup {:.2}s",
        crate::thousands(sample.events_per_sec),
        fmt_latency(sample.p50_ns),
        fmt_latency(sample.leader_p50_ns),
        fmt_latency(sample.followers_p50_ns),
        fmt_latency(sample.p99_ns),
        fmt_latency(sample.max_ns),
        fmt_latency(sample.put_p50_ns),
        fmt_latency(sample.put_p99_ns),
        fmt_fraction(sample.delivered, sample.expected),
        fmt_rss(sample.rss_kib),
        sample.member_cpu,
        sample.client_cpu,
        sample.setup.as_secs_f64()
    );
    Ok(sample.metrics())
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
    let range_end = keel_client::prefix_range_end(&prefix);
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
