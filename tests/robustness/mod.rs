//! The fault-injection harness (modelled on etcd's robustness tests and on Jepsen): a real
//! 3-member cluster of `keel store` processes behind peer-link proxies, concurrent clients
//! whose every operation is recorded, a schedule of faults drawn from a seed, and the checks
//! of `checks` against the committed history (`truth`) at the end.
//!
//! - `history`: the operation records; `traffic`: the clients; `faults`: the faults and the
//!   cluster under test; `truth`: the committed history; `checks`: the checks;
//!   `linearizability`: the per-key linearizability checker; `netproxy`: the peer-link proxies.
//!
//! A run prints its seed first; the same seed replays the same fault schedule (the traffic's
//! interleaving depends on timing, as in any such test). On a violation the run writes the
//! whole history to `target/fault-injection/<scenario>-<seed>.history` and panics with the
//! evidence: the violations with the operations involved, the members' states and the faults.

pub mod checks;
pub mod faults;
pub mod history;
#[path = "../support/linearizability.rs"]
pub mod linearizability;
#[path = "../support/netproxy.rs"]
pub mod netproxy;
pub mod traffic;
pub mod truth;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::{RangeRequest, WatchCreateRequest, WatchRequest};
use keel_proto::mvccpb::event::EventType;

use crate::support::Member;
use faults::{Fault, Target};
use history::{Operation, Recorder, Request, Response};
use truth::{Change, Truth};

/// SplitMix64: a tiny seeded generator, so a seed names a fault schedule on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// What one run does.
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    /// The faults to draw from; `faults` of them are injected, one after another.
    pub faults: Vec<Fault>,
    pub rounds: usize,
    /// How long each fault holds (killed member down, partition in place, ...).
    pub hold: Duration,
    pub kv_clients: usize,
    pub watchers: usize,
    pub extra_args: Vec<String>,
}

/// What a run did, for its report.
#[derive(Debug, Default)]
pub struct Summary {
    pub operations: usize,
    pub indeterminate: usize,
    pub failed: usize,
    pub faults: Vec<String>,
    pub watch_events: usize,
    pub final_revision: i64,
}

pub async fn run(scenario: Scenario) -> Summary {
    println!(
        "fault injection {}: seed {} ({} faults)",
        scenario.name, scenario.seed, scenario.rounds
    );
    let mut rng = Rng::new(scenario.seed);
    let args: Vec<&str> = scenario.extra_args.iter().map(String::as_str).collect();
    let mut target = Target::start(3, &args).await;
    let recorder = Recorder::new();
    let endpoints = traffic::Endpoints::new(&target.client_urls());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicI64::new(0));
    let book = Arc::new(traffic::LeaseBook::default());
    let mut clients = Vec::new();
    for c in 0..scenario.kv_clients {
        clients.push(traffic::kv_client(
            c,
            rng.next_u64(),
            recorder.clone(),
            endpoints.clone(),
            stop.clone(),
        ));
    }
    let k8s = scenario.kv_clients;
    clients.push(traffic::k8s_client(
        k8s,
        rng.next_u64(),
        recorder.clone(),
        endpoints.clone(),
        stop.clone(),
    ));
    clients.push(traffic::lease_client(
        k8s + 1,
        rng.next_u64(),
        recorder.clone(),
        endpoints.clone(),
        stop.clone(),
        book.clone(),
    ));
    let prefixes = ["kv/", "k8s/", "lease/", ""];
    let mut watchers = vec![traffic::watcher(
        traffic::WatchSpec {
            id: 0,
            prefix: "k8s/".into(),
            start_revision: 1,
            prev_kv: true,
            filters: traffic::Filters::default(),
        },
        endpoints.clone(),
        done.clone(),
        rng.next_u64(),
    )];

    let mut summary = Summary::default();
    for round in 0..scenario.rounds {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1000) as u64)).await;
        // Watchers join at random past revisions as the run goes.
        while watchers.len() < 1 + (round + 1) * scenario.watchers / scenario.rounds.max(1) {
            let current = target.cluster.members[rng.below(3)]
                .revision()
                .await
                .unwrap_or(1);
            let start = 1 + rng.below(current.max(1) as usize) as i64;
            let prefix = prefixes[rng.below(prefixes.len())].to_string();
            // Drawn in the order of earlier versions, so that a seed keeps naming the same
            // fault schedule; the filters come from the watcher's own seed.
            let prev_kv = rng.below(2) == 0;
            let seed = rng.next_u64();
            let filters = match Rng::new(seed ^ 0xf117).below(4) {
                0 => traffic::Filters {
                    no_put: true,
                    no_delete: false,
                },
                1 => traffic::Filters {
                    no_put: false,
                    no_delete: true,
                },
                _ => traffic::Filters::default(),
            };
            watchers.push(traffic::watcher(
                traffic::WatchSpec {
                    id: watchers.len(),
                    prefix,
                    start_revision: start,
                    prev_kv,
                    filters,
                },
                endpoints.clone(),
                done.clone(),
                seed,
            ));
        }
        let fault = scenario.faults[rng.below(scenario.faults.len())];
        let what = target.inject(fault, scenario.hold, &mut rng).await;
        println!("  fault {}: {what}", round + 1);
        summary.faults.push(what);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    target.wait_healthy().await;
    let mut violations = Vec::new();

    // Leases: the short ones (no keepalive) must all expire and be revoked; only then is the
    // history final (a revocation is a write).
    let outcomes = wait_for_lease_expiry(&book, &endpoints).await;
    for lease in outcomes.iter().filter(|l| !l.kept_alive && l.alive_at_end) {
        violations.push(format!(
            "lease {:x} (TTL 3 s, no keepalive) still exists 20 s after the run",
            lease.id
        ));
    }

    // Convergence: the same revision and HashKV everywhere.
    let members: Vec<&Member> = target.cluster.members.iter().collect();
    let final_revision = converged(&members, &mut violations).await;
    summary.final_revision = final_revision;
    let truth = collect_truth(&target.cluster.members[0], final_revision).await;

    // Watchers catch up to the end, then stop.
    done.store(final_revision, Ordering::Relaxed);
    let final_kvs = final_leases(&target.cluster.members[0]).await;
    violations.extend(checks::leases(&outcomes, &truth, &final_kvs));
    let mut records = Vec::new();
    for w in watchers {
        let finished = tokio::time::timeout(Duration::from_secs(20), w.task)
            .await
            .is_ok();
        let record = w.record.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !finished {
            violations.push(format!(
                "watcher {} ({:?} from {}) never caught up with revision {final_revision}",
                record.watcher, record.prefix, record.start_revision
            ));
        }
        summary.watch_events += record.responses.iter().map(Vec::len).sum::<usize>();
        violations.extend(checks::watch(&record, &truth, finished));
        records.push(record);
    }

    let ops = recorder.operations();
    summary.operations = ops.len();
    summary.indeterminate = ops.iter().filter(|op| op.response.is_none()).count();
    summary.failed = ops
        .iter()
        .filter(|op| matches!(op.response, Some(Response::Failed(_))))
        .count();
    violations.extend(checks::writes(&ops, &truth));
    violations.extend(checks::reads(&ops, &truth));
    violations.extend(checks::client_revisions(&ops));
    violations.extend(linearizable(&ops, &truth));

    if !violations.is_empty() {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-injection");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}-{}.history", scenario.name, scenario.seed));
        history::dump(&path, &ops, &records);
        let logs = dir.join(format!("{}-{}.logs", scenario.name, scenario.seed));
        let _ = std::fs::write(&logs, target.cluster.dump_logs());
        panic!(
            "fault injection {} (seed {}) found {} violation(s):\n{}\n\nmembers:\n{}\nfaults:\n{}\nhistory: {}\nmember logs: {}\nreplay: KEEL_FAULT_SEED={} cargo test --release --test fault_injection {}",
            scenario.name,
            scenario.seed,
            violations.len(),
            violations
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
            target.describe().await,
            summary.faults.join("\n"),
            path.display(),
            logs.display(),
            scenario.seed,
            scenario.name,
        );
    }
    println!(
        "fault injection {}: seed {}: {} operations ({} indeterminate, {} failed), {} watch events, {} faults, final revision {}: no anomalies",
        scenario.name,
        scenario.seed,
        summary.operations,
        summary.indeterminate,
        summary.failed,
        summary.watch_events,
        summary.faults.len(),
        summary.final_revision
    );
    summary
}

/// Waits for every member to reach one revision and compares their HashKV there.
async fn converged(members: &[&Member], violations: &mut Vec<String>) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut revisions = Vec::new();
        for m in members {
            revisions.push(m.revision().await);
        }
        let first = revisions[0].unwrap_or(0);
        if revisions.iter().all(|r| *r == Some(first)) {
            let mut hashes = Vec::new();
            for m in members {
                hashes.push(m.hash_kv(first).await.ok());
            }
            if hashes.iter().all(Option::is_some) {
                if hashes.iter().any(|h| *h != hashes[0]) {
                    violations.push(format!(
                        "members diverged: HashKV (hash, compact revision) at {first}: {hashes:?}"
                    ));
                }
                return first;
            }
        }
        if tokio::time::Instant::now() > deadline {
            violations.push(format!(
                "members did not converge on one revision within 30 s: {revisions:?}"
            ));
            return revisions.iter().flatten().copied().max().unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The committed history on `member` up to `last`: the state at the compaction revision (if
/// any) and every change after it, replayed by a fresh watcher.
async fn collect_truth(member: &Member, last: i64) -> Truth {
    let (_, compacted) = member.hash_kv(last).await.unwrap_or((0, 0));
    let base_revision = compacted.max(1);
    let mut base = BTreeMap::new();
    if compacted > 1 {
        let mut kv = member.kv().await.expect("connect");
        let range = kv
            .range(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                revision: compacted,
                ..Default::default()
            })
            .await
            .expect("range at the compaction revision")
            .into_inner();
        for kv in range.kvs {
            base.insert(
                String::from_utf8_lossy(&kv.key).into_owned(),
                (
                    String::from_utf8_lossy(&kv.value).into_owned(),
                    kv.mod_revision,
                    kv.lease,
                ),
            );
        }
    }
    let mut client = WatchClient::connect(member.client_url.clone())
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: vec![0],
            range_end: vec![0],
            start_revision: base_revision + 1,
            ..Default::default()
        })),
    })
    .await
    .expect("send");
    let mut stream = client
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let mut changes = Vec::new();
    let mut seen = base_revision;
    while seen < last {
        let response = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("the history replay to progress")
            .expect("watch stream")
            .expect("watch stream open");
        for event in response.events {
            let Some(kv) = event.kv else { continue };
            seen = kv.mod_revision;
            changes.push(Change {
                revision: kv.mod_revision,
                key: String::from_utf8_lossy(&kv.key).into_owned(),
                value: (event.r#type == EventType::Put as i32)
                    .then(|| String::from_utf8_lossy(&kv.value).into_owned()),
                lease: kv.lease,
            });
        }
    }
    drop(tx);
    Truth::new(base_revision, base, changes, last)
}

/// Waits (bounded) until the short leases have expired; returns every lease's outcome.
async fn wait_for_lease_expiry(
    book: &traffic::LeaseBook,
    endpoints: &traffic::Endpoints,
) -> Vec<checks::LeaseOutcome> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let outcomes = traffic::lease_outcomes(book, endpoints).await;
        let pending = outcomes.iter().any(|l| !l.kept_alive && l.alive_at_end);
        if !pending || tokio::time::Instant::now() > deadline {
            return outcomes;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every key at the end with its lease.
async fn final_leases(member: &Member) -> BTreeMap<String, i64> {
    let mut kv = member.kv().await.expect("connect");
    let range = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .expect("final range")
        .into_inner();
    range
        .kvs
        .into_iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), kv.lease))
        .collect()
}

/// The per-key linearizability check over the plain KV keys (lease keys also change by
/// expiry, which no client operation records, and serializable reads are not linearizable by
/// design: both are held to the committed history by `checks::reads` instead).
fn linearizable(ops: &[Operation], truth: &Truth) -> Vec<String> {
    use linearizability::{KvInput, KvOperation, KvOutput};
    // mod_revision -> value, from everything seen, to turn CAS-on-revision into CAS-on-value
    // (values are unique, so the two compares agree).
    let mut values: HashMap<(String, i64), String> = HashMap::new();
    for op in ops {
        match (&op.request, &op.response) {
            (Request::Put { key, value, .. }, Some(Response::Put { revision }))
            | (
                Request::Cas { key, value, .. },
                Some(Response::Cas {
                    revision,
                    succeeded: true,
                    ..
                }),
            ) => {
                values.insert((key.clone(), *revision), value.clone());
            }
            (
                Request::Get { key, .. },
                Some(Response::Get {
                    value: Some((v, m)),
                    ..
                }),
            ) => {
                values.insert((key.clone(), *m), v.clone());
            }
            (
                Request::Cas { key, .. },
                Some(Response::Cas {
                    current: Some((v, m)),
                    ..
                }),
            ) => {
                values.insert((key.clone(), *m), v.clone());
            }
            (Request::Range { .. }, Some(Response::Range { kvs, .. })) => {
                for (key, value, m) in kvs {
                    values.insert((key.clone(), *m), value.clone());
                }
            }
            _ => {}
        }
    }
    for change in &truth.changes {
        if let Some(value) = &change.value {
            values.insert((change.key.clone(), change.revision), value.clone());
        }
    }
    let plain = |key: &str| key.starts_with("kv/") || key.starts_with("k8s/");
    // A timed-out write whose unique value is nowhere in the full committed history never
    // happened: dropping it spares the search (as etcd's robustness tests do).
    let committed: std::collections::HashSet<&str> = truth
        .changes
        .iter()
        .filter_map(|c| c.value.as_deref())
        .collect();
    let never_applied = |op: &Operation| {
        truth.base_revision <= 1
            && op.response.is_none()
            && match &op.request {
                Request::Put { value, .. } | Request::Cas { value, .. } => {
                    !committed.contains(value.as_str())
                }
                _ => false,
            }
    };
    let mut history = Vec::new();
    for op in ops {
        let (key, input, output) = match (&op.request, &op.response) {
            (_, Some(Response::Failed(_))) => continue,
            (Request::Put { key, value, .. }, response) => (
                key.clone(),
                KvInput::Put(value.clone()),
                response.as_ref().map(|_| KvOutput::Ok),
            ),
            (Request::Delete { key }, response) => (
                key.clone(),
                KvInput::Delete,
                response.as_ref().map(|_| KvOutput::Ok),
            ),
            (
                Request::Get {
                    key,
                    serializable: false,
                },
                Some(Response::Get { value, .. }),
            ) => (
                key.clone(),
                KvInput::Get,
                Some(KvOutput::Value(value.as_ref().map(|(v, _)| v.clone()))),
            ),
            (
                Request::Cas {
                    key,
                    expected,
                    value,
                },
                response,
            ) => {
                let expected_value = match *expected {
                    0 => Some(None),
                    revision => values.get(&(key.clone(), revision)).cloned().map(Some),
                };
                let input = |expected| KvInput::Cas {
                    expected,
                    value: value.clone(),
                };
                match (expected_value, response) {
                    (Some(expected), Some(Response::Cas { succeeded, .. })) => (
                        key.clone(),
                        input(expected),
                        Some(KvOutput::Cas(*succeeded)),
                    ),
                    (Some(expected), _) => (key.clone(), input(expected), None),
                    // The compared revision's value is unknown (compacted before anyone read
                    // it): keep what the operation certainly did, without its compare.
                    (
                        None,
                        Some(Response::Cas {
                            succeeded: true, ..
                        }),
                    ) => (key.clone(), KvInput::Put(value.clone()), Some(KvOutput::Ok)),
                    (None, Some(Response::Cas { current, .. })) => (
                        key.clone(),
                        KvInput::Get,
                        Some(KvOutput::Value(current.as_ref().map(|(v, _)| v.clone()))),
                    ),
                    (None, _) => (key.clone(), KvInput::Put(value.clone()), None),
                }
            }
            _ => continue,
        };
        if !plain(&key) || never_applied(op) {
            continue;
        }
        history.push(KvOperation::new(
            key, op.client, op.call, op.ret, input, output,
        ));
    }
    match linearizability::check_kv(&history) {
        linearizability::CheckResult::Ok => Vec::new(),
        unknown @ linearizability::CheckResult::Unknown { .. } => {
            // Too big to decide: not evidence of anything; the other checks still hold.
            println!("linearizability undecided (search budget exhausted): {unknown}");
            Vec::new()
        }
        illegal => vec![format!("not linearizable: {illegal}")],
    }
}
