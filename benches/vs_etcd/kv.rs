//! Closed-loop KV loads: put, get (linearizable or serializable) and txn compare-and-swap.
//!
//! C clients share `min(C, connections)` HTTP/2 connections, as etcd's `benchmark --clients C
//! --conns N` does; each client sends its next request as soon as the previous one is
//! answered. Requests sent in the warm-up, or answered after the window, are not counted.
//! Keys are 8 bytes (`k0000123`), values `KEEL_BENCH_VALUE_BYTES` (256).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::response_op::Response;
use keel_proto::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};
use tonic::transport::Channel;

use crate::support::{self, Cluster};
use crate::{Metric, Unit};

/// Keys the put load cycles through.
const PUT_KEY_SPACE: u64 = 100_000;
/// Keys the get loads read (written first).
const GET_KEY_SPACE: u64 = 1_000;

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Put,
    Get { serializable: bool },
    TxnCas,
}

#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub op: Op,
    pub clients: usize,
    pub connections: usize,
}

impl Load {
    pub fn name(&self) -> String {
        let what = match self.op {
            Op::Put => "put",
            Op::Get {
                serializable: false,
            } => "get linearizable",
            Op::Get { serializable: true } => "get serializable",
            Op::TxnCas => "txn compare-and-swap",
        };
        let plural = if self.clients == 1 { "" } else { "s" };
        format!("{what}, {} client{plural}", self.clients)
    }
}

fn key(n: u64) -> Vec<u8> {
    format!("k{n:07}").into_bytes()
}

/// Writes, spreads or targets: puts and txns go to the leader; gets are spread over every
/// member (a linearizable get on a follower pays the read-index round trip, as in etcd).
async fn channels(cluster: &Cluster, load: &Load) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for i in 0..load.clients.min(load.connections).max(1) {
        let url = match load.op {
            Op::Get { .. } => &cluster.client_urls[i % cluster.client_urls.len()],
            Op::Put | Op::TxnCas => &cluster.client_urls[cluster.leader],
        };
        channels.push(support::connect_unary(url, Duration::from_secs(10)).await?);
    }
    Ok(channels)
}

/// Writes the keys the get loads read.
async fn preload(cluster: &Cluster, value: &[u8]) -> anyhow::Result<()> {
    let channel = support::connect_unary(
        &cluster.client_urls[cluster.leader],
        Duration::from_secs(10),
    )
    .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for part in 0..16 {
        let mut kv = KvClient::new(channel.clone());
        let value = value.to_vec();
        tasks.spawn(async move {
            for n in (part..GET_KEY_SPACE).step_by(16) {
                kv.put(PutRequest {
                    key: key(n),
                    value: value.clone(),
                    ..Default::default()
                })
                .await?;
            }
            Ok::<_, tonic::Status>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// One request of `op` by client `client`; `cas_revision` is the client's view of its CAS key.
async fn request(
    kv: &mut KvClient<Channel>,
    op: Op,
    client: usize,
    n: u64,
    value: &[u8],
    cas_revision: &mut i64,
) -> bool {
    match op {
        Op::Put => kv
            .put(PutRequest {
                key: key(n % PUT_KEY_SPACE),
                value: value.to_vec(),
                ..Default::default()
            })
            .await
            .is_ok(),
        Op::Get { serializable } => kv
            .range(RangeRequest {
                key: key(n % GET_KEY_SPACE),
                serializable,
                ..Default::default()
            })
            .await
            .is_ok_and(|r| r.into_inner().kvs.len() == 1),
        Op::TxnCas => {
            let key = format!("cas{client:05}").into_bytes();
            let response = kv
                .txn(TxnRequest {
                    compare: vec![Compare {
                        result: CompareResult::Equal as i32,
                        target: CompareTarget::Mod as i32,
                        key: key.clone(),
                        target_union: Some(TargetUnion::ModRevision(*cas_revision)),
                        ..Default::default()
                    }],
                    success: vec![RequestOp {
                        request: Some(Request::RequestPut(PutRequest {
                            key: key.clone(),
                            value: value.to_vec(),
                            ..Default::default()
                        })),
                    }],
                    failure: vec![RequestOp {
                        request: Some(Request::RequestRange(RangeRequest {
                            key,
                            ..Default::default()
                        })),
                    }],
                })
                .await;
            let Ok(response) = response else {
                return false;
            };
            let response = response.into_inner();
            if response.succeeded {
                *cas_revision = response.header.map_or(0, |h| h.revision);
            } else if let Some(Response::ResponseRange(range)) = response
                .responses
                .into_iter()
                .next()
                .and_then(|r| r.response)
            {
                // Lost the race (only after an error left the view stale): catch up.
                *cas_revision = range.kvs.first().map_or(0, |kv| kv.mod_revision);
            }
            true
        }
    }
}

/// Runs `load` against `cluster`: requests/s, latency p50/p99 and errors in the window.
pub async fn run(
    cluster: &Cluster,
    load: Load,
    seconds: f64,
    warmup: f64,
    value_bytes: usize,
) -> anyhow::Result<Vec<Metric>> {
    let value = vec![b'v'; value_bytes];
    if matches!(load.op, Op::Get { .. }) {
        preload(cluster, &value).await?;
    }
    let channels = channels(cluster, &load).await?;
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let window_start = Instant::now() + Duration::from_secs_f64(warmup);
    let window_end = window_start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for client in 0..load.clients {
        let mut kv = KvClient::new(channels[client % channels.len()].clone());
        let (value, counter, stop) = (value.clone(), counter.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut cas_revision = 0;
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let ok = request(&mut kv, load.op, client, n, &value, &mut cas_revision).await;
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
    Ok(vec![
        Metric::new(
            "requests/s",
            latencies.len() as f64 / seconds,
            Unit::PerSecond,
        ),
        Metric::new("latency p50", percentile(0.5), Unit::Millis),
        Metric::new("latency p99", percentile(0.99), Unit::Millis),
        Metric::new("errors", errors as f64, Unit::Count),
    ])
}
