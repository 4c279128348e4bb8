//! Memory and restart time with many keys (`KEEL_BENCH_RECOVERY_KEYS`, 1,000,000).
//!
//! A fresh cluster is loaded with N keys (8-byte keys, `KEEL_BENCH_VALUE_BYTES` values) by 32
//! clients sending txns of 100 puts each (within etcd's default of 128 operations per txn).
//! Measured: the members' RSS once loaded; then every member is stopped with SIGTERM and
//! started again on its data dir, and the time from starting them to the cluster serving (every
//! member answers Status, there is a leader, a put through it succeeds); and the RSS right
//! after the restart, when the members hold what they rebuilt from disk and little else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::{PutRequest, RequestOp, TxnRequest};

use crate::support::{self, Cluster};
use crate::{Metric, Unit};

const CLIENTS: u64 = 32;
const PUTS_PER_TXN: u64 = 100;

pub async fn run(
    cluster: &mut Cluster,
    keys: u64,
    value_bytes: usize,
) -> anyhow::Result<Vec<Metric>> {
    let channel = support::connect_unary(
        &cluster.client_urls[cluster.leader],
        Duration::from_secs(60),
    )
    .await?;
    let loaded = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let txns = keys.div_ceil(PUTS_PER_TXN);
    for client in 0..CLIENTS {
        let mut kv = KvClient::new(channel.clone());
        let loaded = loaded.clone();
        tasks.spawn(async move {
            for txn in (client..txns).step_by(CLIENTS as usize) {
                let first = txn * PUTS_PER_TXN;
                let success = (first..(first + PUTS_PER_TXN).min(keys))
                    .map(|n| RequestOp {
                        request: Some(Request::RequestPut(PutRequest {
                            key: format!("r{n:07}").into_bytes(),
                            value: vec![b'v'; value_bytes],
                            ..Default::default()
                        })),
                    })
                    .collect::<Vec<_>>();
                let count = success.len() as u64;
                kv.txn(TxnRequest {
                    success,
                    ..Default::default()
                })
                .await?;
                loaded.fetch_add(count, Ordering::Relaxed);
            }
            Ok::<_, tonic::Status>(())
        });
    }
    let mut progress = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(result) => result??,
                None => break,
            },
            _ = progress.tick() => eprintln!(
                "  recovery: {} of {keys} keys loaded ({:.0}s)",
                loaded.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            ),
        }
    }
    let load_time = started.elapsed();
    let rss_loaded = cluster.rss_kib() as f64 / 1024.0;
    eprintln!(
        "  recovery: {keys} keys loaded in {:.1}s; member RSS {rss_loaded:.0} MiB; restarting",
        load_time.as_secs_f64()
    );
    let restart = cluster.restart().await?;
    let rss_restarted = cluster.rss_kib() as f64 / 1024.0;
    eprintln!(
        "  recovery: serving {:.2}s after the restart; member RSS {rss_restarted:.0} MiB",
        restart.as_secs_f64()
    );
    Ok(vec![
        Metric::new("load time", load_time.as_secs_f64(), Unit::Seconds),
        Metric::new("member RSS, loaded", rss_loaded, Unit::MiB),
        Metric::new("restart to serving", restart.as_secs_f64(), Unit::Seconds),
        Metric::new("member RSS after restart", rss_restarted, Unit::MiB),
    ])
}
