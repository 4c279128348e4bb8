//! Leader failure under a steady write load: the longest time without a successful write.
//!
//! One client puts at a fixed rate (`KEEL_BENCH_FAILOVER_RATE`, 200/s, open loop: a put every
//! 1/rate s whether or not earlier ones finished, each with a 5 s deadline) through the two
//! members that are not the leader, alternately, so the client itself never has to notice the
//! failure: what is measured is the cluster's own outage. After 3 s the leader is SIGKILLed;
//! writing goes on for 7 s more. The gap is the longest interval between two consecutive
//! successful puts (by completion time) from 1 s before the kill to the end; it covers failure
//! detection, the election and the first commit of the new leader.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use keel_proto::etcdserverpb::PutRequest;
use keel_proto::etcdserverpb::kv_client::KvClient;

use crate::support::{self, Cluster};
use crate::{Metric, Unit};

const BEFORE_KILL: Duration = Duration::from_secs(3);
const AFTER_KILL: Duration = Duration::from_secs(7);

pub async fn run(cluster: &Cluster, rate: f64) -> anyhow::Result<Vec<Metric>> {
    let survivors: Vec<usize> = (0..cluster.client_urls.len())
        .filter(|i| *i != cluster.leader)
        .collect();
    let mut clients = Vec::new();
    for &i in &survivors {
        clients.push(KvClient::new(
            support::connect_unary(&cluster.client_urls[i], Duration::from_secs(5)).await?,
        ));
    }
    let successes: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let failures: Arc<Mutex<u64>> = Arc::default();
    let start = Instant::now();
    let kill_at = start + BEFORE_KILL;
    let end = kill_at + AFTER_KILL;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut killed = None;
    let mut n = 0u64;
    while Instant::now() < end {
        ticker.tick().await;
        if killed.is_none() && Instant::now() >= kill_at {
            cluster.kill_member(cluster.leader)?;
            killed = Some(start.elapsed());
            eprintln!(
                "  failover: SIGKILLed the leader (m{}) at t={:.2}s",
                cluster.leader + 1,
                start.elapsed().as_secs_f64()
            );
        }
        let mut kv = clients[(n % clients.len() as u64) as usize].clone();
        let (successes, failures) = (successes.clone(), failures.clone());
        let key = format!("f{:07}", n % 100_000).into_bytes();
        n += 1;
        tasks.spawn(async move {
            let ok = kv
                .put(PutRequest {
                    key,
                    value: vec![b'v'; 256],
                    ..Default::default()
                })
                .await
                .is_ok();
            let done = start.elapsed();
            if ok {
                successes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(done);
            } else {
                *failures.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let killed = killed.context("the leader was never killed")?;
    let mut done = successes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    done.sort();
    let from = killed.saturating_sub(Duration::from_secs(1));
    let to = end - start;
    let mut previous = from;
    let mut gap = Duration::ZERO;
    for t in done.iter().copied().filter(|t| *t >= from && *t <= to) {
        gap = gap.max(t - previous);
        previous = t;
    }
    gap = gap.max(to - previous);
    let failed = *failures.lock().unwrap_or_else(|p| p.into_inner());
    eprintln!(
        "  failover: longest write gap {:.0} ms, {} puts ok, {failed} failed",
        gap.as_secs_f64() * 1000.0,
        done.len()
    );
    Ok(vec![
        Metric::new(
            "longest write gap",
            gap.as_secs_f64() * 1000.0,
            Unit::Millis,
        ),
        Metric::new("failed writes", failed as f64, Unit::Count),
    ])
}
