//! The load a run puts on the cluster while faults are injected, from several concurrent
//! clients, every operation recorded (see `history`):
//!
//! - KV clients: puts of unique values, deletes, linearizable and serializable gets and
//!   ranges, and compare-and-swap updates on mod_revision, on a small key space (contention);
//! - a Kubernetes-shaped client: lists (ranges) of `k8s/` and updates each object with a
//!   compare on the mod_revision it listed, while a watcher follows the prefix;
//! - a lease client: short leases left to expire, leases revoked, and one long lease kept
//!   alive for the whole run, each with keys attached;
//! - watchers started at random past revisions, with and without prev_kv, resumed on another
//!   member from the next revision whenever their stream breaks.
//!
//! Each client sends each request to a member it picks at random (dead, paused or partitioned
//! members included): a failed connection is a definite failure, any other failure of a write
//! is recorded as indeterminate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use keel_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::lease_client::LeaseClient;
use keel_proto::etcdserverpb::request_op::Request as OpRequest;
use keel_proto::etcdserverpb::response_op::Response as OpResponse;
use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_create_request::FilterType;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest,
    WatchProgressRequest, WatchRequest,
};
use keel_proto::mvccpb::event::EventType;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::Rng;
use super::checks::LeaseOutcome;
use super::history::{ReadValue, Recorder, Request, Response, WatchRecord, WatchedEvent};

/// How long one request may take before it counts as indeterminate.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
pub const KV_KEYS: usize = 8;
pub const K8S_OBJECTS: usize = 4;

/// Lazily connected channels to every member's client URL.
#[derive(Clone)]
pub struct Endpoints {
    channels: Vec<Channel>,
}

impl Endpoints {
    pub fn new(client_urls: &[String]) -> Self {
        let channels = client_urls
            .iter()
            .filter_map(|url| {
                Some(
                    Channel::from_shared(url.clone())
                        .ok()?
                        .connect_timeout(Duration::from_millis(300))
                        .timeout(REQUEST_TIMEOUT)
                        .connect_lazy(),
                )
            })
            .collect();
        Self { channels }
    }

    fn pick(&self, rng: &mut Rng) -> Channel {
        self.channels[rng.below(self.channels.len())].clone()
    }
}

/// Was the request never sent (so it certainly changed nothing)?
fn not_sent(status: &tonic::Status) -> bool {
    let detail = format!("{status:?}");
    status.code() == tonic::Code::Unavailable
        && (detail.contains("tcp connect error") || detail.contains("Connection refused"))
}

fn read_value(kvs: &[keel_proto::mvccpb::KeyValue]) -> ReadValue {
    kvs.first().map(|kv| {
        (
            String::from_utf8_lossy(&kv.value).into_owned(),
            kv.mod_revision,
        )
    })
}

fn revision_of(header: Option<keel_proto::etcdserverpb::ResponseHeader>) -> i64 {
    header.map_or(0, |h| h.revision)
}

/// `(key, range_end)` of every key under `prefix` (`""`: every key).
fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        return (vec![0], vec![0]);
    }
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (prefix.as_bytes().to_vec(), end)
}

/// Sends one request and turns the reply into a `Response` (`None`: indeterminate).
async fn execute(channel: Channel, request: &Request) -> Option<Response> {
    let mut kv = KvClient::new(channel.clone());
    let failed = |status: tonic::Status, write: bool| {
        if write && !not_sent(&status) {
            None
        } else {
            Some(Response::Failed(status.message().to_string()))
        }
    };
    match request {
        Request::Put { key, value, lease } => match kv
            .put(PutRequest {
                key: key.clone().into_bytes(),
                value: value.clone().into_bytes(),
                lease: *lease,
                ..Default::default()
            })
            .await
        {
            Ok(r) => Some(Response::Put {
                revision: revision_of(r.into_inner().header),
            }),
            Err(status) => failed(status, true),
        },
        Request::Delete { key } => match kv
            .delete_range(DeleteRangeRequest {
                key: key.clone().into_bytes(),
                ..Default::default()
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                Some(Response::Delete {
                    revision: revision_of(r.header),
                    deleted: r.deleted,
                })
            }
            Err(status) => failed(status, true),
        },
        Request::Get { key, serializable } => match kv
            .range(RangeRequest {
                key: key.clone().into_bytes(),
                serializable: *serializable,
                ..Default::default()
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                Some(Response::Get {
                    value: read_value(&r.kvs),
                    revision: revision_of(r.header),
                })
            }
            Err(status) => failed(status, false),
        },
        Request::Range {
            prefix,
            serializable,
        } => match kv
            .range(RangeRequest {
                key: prefix_range(prefix).0,
                range_end: prefix_range(prefix).1,
                serializable: *serializable,
                ..Default::default()
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                Some(Response::Range {
                    revision: revision_of(r.header),
                    kvs: r
                        .kvs
                        .iter()
                        .map(|kv| {
                            (
                                String::from_utf8_lossy(&kv.key).into_owned(),
                                String::from_utf8_lossy(&kv.value).into_owned(),
                                kv.mod_revision,
                            )
                        })
                        .collect(),
                })
            }
            Err(status) => failed(status, false),
        },
        Request::Cas {
            key,
            expected,
            value,
        } => {
            let key_bytes = key.clone().into_bytes();
            let txn = TxnRequest {
                compare: vec![Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Mod as i32,
                    key: key_bytes.clone(),
                    target_union: Some(TargetUnion::ModRevision(*expected)),
                    ..Default::default()
                }],
                success: vec![RequestOp {
                    request: Some(OpRequest::RequestPut(PutRequest {
                        key: key_bytes.clone(),
                        value: value.clone().into_bytes(),
                        ..Default::default()
                    })),
                }],
                failure: vec![RequestOp {
                    request: Some(OpRequest::RequestRange(RangeRequest {
                        key: key_bytes,
                        ..Default::default()
                    })),
                }],
            };
            match kv.txn(txn).await {
                Ok(r) => {
                    let r = r.into_inner();
                    let current = match r.responses.first().and_then(|op| op.response.as_ref()) {
                        Some(OpResponse::ResponseRange(range)) => read_value(&range.kvs),
                        _ => None,
                    };
                    Some(Response::Cas {
                        revision: revision_of(r.header),
                        succeeded: r.succeeded,
                        current,
                    })
                }
                Err(status) => failed(status, true),
            }
        }
        Request::LeaseGrant { ttl } => match LeaseClient::new(channel)
            .lease_grant(LeaseGrantRequest { ttl: *ttl, id: 0 })
            .await
        {
            Ok(r) => Some(Response::LeaseGrant {
                id: r.into_inner().id,
            }),
            Err(status) => failed(status, true),
        },
        Request::LeaseRevoke { id } => match LeaseClient::new(channel)
            .lease_revoke(LeaseRevokeRequest { id: *id })
            .await
        {
            Ok(r) => Some(Response::LeaseRevoke {
                revision: revision_of(r.into_inner().header),
            }),
            Err(status) => failed(status, true),
        },
    }
}

/// Runs `request` on a random member and records it.
async fn run(
    recorder: &Recorder,
    endpoints: &Endpoints,
    rng: &mut Rng,
    client: usize,
    request: Request,
) -> Option<Response> {
    let call = recorder.now();
    let response = tokio::time::timeout(REQUEST_TIMEOUT, execute(endpoints.pick(rng), &request))
        .await
        .unwrap_or(None);
    let failed = !matches!(response, Some(ref r) if !matches!(r, Response::Failed(_)));
    recorder.record(client, call, request, response.clone());
    if failed {
        // Do not spin on a dead member: a real client backs off too.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    response
}

/// A KV client: random reads, writes and CAS updates on `kv/0..KV_KEYS`.
pub fn kv_client(
    client: usize,
    seed: u64,
    recorder: Recorder,
    endpoints: Endpoints,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = Rng::new(seed);
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("kv/{}", rng.below(KV_KEYS));
            let value = format!("c{client}-{n}");
            let request = match rng.below(100) {
                0..=34 => Request::Put {
                    key,
                    value,
                    lease: 0,
                },
                35..=44 => Request::Delete { key },
                45..=69 => Request::Get {
                    key,
                    serializable: rng.below(4) == 0,
                },
                70..=79 => Request::Range {
                    prefix: "kv/".into(),
                    serializable: rng.below(3) == 0,
                },
                _ => {
                    // Read, then update with a compare on what was read.
                    let read = run(
                        &recorder,
                        &endpoints,
                        &mut rng,
                        client,
                        Request::Get {
                            key: key.clone(),
                            serializable: false,
                        },
                    )
                    .await;
                    let expected = match read {
                        Some(Response::Get { value, .. }) => value.map_or(0, |(_, m)| m),
                        _ => continue,
                    };
                    Request::Cas {
                        key,
                        expected,
                        value,
                    }
                }
            };
            run(&recorder, &endpoints, &mut rng, client, request).await;
        }
    })
}

/// The Kubernetes shape: list `k8s/`, update an object with a compare on its listed
/// mod_revision (creating it when absent).
pub fn k8s_client(
    client: usize,
    seed: u64,
    recorder: Recorder,
    endpoints: Endpoints,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = Rng::new(seed);
        let mut listed: Vec<(String, String, i64)> = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            if listed.is_empty() || rng.below(100) < 40 {
                let list = run(
                    &recorder,
                    &endpoints,
                    &mut rng,
                    client,
                    Request::Range {
                        prefix: "k8s/".into(),
                        serializable: false,
                    },
                )
                .await;
                if let Some(Response::Range { kvs, .. }) = list {
                    listed = kvs;
                }
                if listed.is_empty() && rng.below(2) == 0 {
                    continue;
                }
            }
            let object = format!("k8s/obj{}", rng.below(K8S_OBJECTS));
            let expected = listed
                .iter()
                .find(|(key, _, _)| *key == object)
                .map_or(0, |(_, _, m)| *m);
            let response = run(
                &recorder,
                &endpoints,
                &mut rng,
                client,
                Request::Cas {
                    key: object.clone(),
                    expected,
                    value: format!("c{client}-{n}"),
                },
            )
            .await;
            if let Some(Response::Cas {
                revision,
                succeeded: true,
                ..
            }) = response
            {
                listed.retain(|(key, _, _)| *key != object);
                listed.push((object, String::new(), revision));
            }
        }
    })
}

/// Leases granted by the lease client, and what happened to them.
#[derive(Default)]
pub struct LeaseBook {
    pub outcomes: std::sync::Mutex<Vec<(i64, bool)>>, // (id, kept alive for the run)
}

/// Grants short leases (left to expire or revoked) and one long lease kept alive, attaching
/// keys to each under `lease/<id>/`.
pub fn lease_client(
    client: usize,
    seed: u64,
    recorder: Recorder,
    endpoints: Endpoints,
    stop: Arc<AtomicBool>,
    book: Arc<LeaseBook>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = Rng::new(seed);
        let mut n = 0u64;
        // The long lease: granted until it works, kept alive until the end.
        let long = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if let Some(Response::LeaseGrant { id }) = run(
                &recorder,
                &endpoints,
                &mut rng,
                client,
                Request::LeaseGrant { ttl: 60 },
            )
            .await
            {
                break id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        book.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((long, true));
        let keeper = keep_alive(long, endpoints.clone(), stop.clone(), seed ^ 0x5eed);
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            // A short lease, a few keys, then revoke it or let it expire.
            let Some(Response::LeaseGrant { id }) = run(
                &recorder,
                &endpoints,
                &mut rng,
                client,
                Request::LeaseGrant { ttl: 3 },
            )
            .await
            else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            book.outcomes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((id, false));
            for k in 0..2 {
                for (lease, prefix) in [(id, id), (long, long)] {
                    let request = Request::Put {
                        key: format!("lease/{prefix:x}/{k}"),
                        value: format!("c{client}-{n}-{k}-{lease:x}"),
                        lease,
                    };
                    run(&recorder, &endpoints, &mut rng, client, request).await;
                }
            }
            if rng.below(2) == 0 {
                run(
                    &recorder,
                    &endpoints,
                    &mut rng,
                    client,
                    Request::LeaseRevoke { id },
                )
                .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        keeper.abort();
    })
}

/// Keeps `id` alive through any member until `stop`.
fn keep_alive(id: i64, endpoints: Endpoints, stop: Arc<AtomicBool>, seed: u64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = Rng::new(seed);
        while !stop.load(Ordering::Relaxed) {
            let mut client = LeaseClient::new(endpoints.pick(&mut rng));
            let once = tokio_stream::iter([LeaseKeepAliveRequest { id }]);
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let mut stream = client.lease_keep_alive(once).await.ok()?.into_inner();
                stream.message().await.ok()?
            })
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Asks the cluster which of `book`'s leases are alive now.
pub async fn lease_outcomes(book: &LeaseBook, endpoints: &Endpoints) -> Vec<LeaseOutcome> {
    let leases = book
        .outcomes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut rng = Rng::new(1);
    let mut outcomes = Vec::new();
    for (id, kept_alive) in leases {
        let mut alive = None;
        for _ in 0..20 {
            let mut client = LeaseClient::new(endpoints.pick(&mut rng));
            if let Ok(r) = client
                .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false })
                .await
            {
                // -1: not found (revoked, or expired and revoked). An expired lease whose
                // revocation is still on its way still exists, and so may its keys.
                alive = Some(r.into_inner().ttl != -1);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        outcomes.push(LeaseOutcome {
            id,
            kept_alive,
            alive_at_end: alive.unwrap_or(true),
        });
    }
    outcomes
}

/// One watcher: from `start_revision` on `prefix`, resumed from the next revision on another
/// member when its stream breaks, until `stop` and then until it has seen `caught_up_to`
/// (set by the run once the final revision is known; 0: not yet).
pub struct Watcher {
    pub record: Arc<std::sync::Mutex<WatchRecord>>,
    pub task: JoinHandle<()>,
}

/// etcd's watch filters, as a watcher was created with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filters {
    pub no_put: bool,
    pub no_delete: bool,
}

/// What a watcher watches.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    pub id: usize,
    /// `""`: every key.
    pub prefix: String,
    pub start_revision: i64,
    pub prev_kv: bool,
    pub filters: Filters,
}

pub fn watcher(spec: WatchSpec, endpoints: Endpoints, done: Arc<AtomicI64>, seed: u64) -> Watcher {
    let WatchSpec {
        id,
        prefix,
        start_revision,
        prev_kv,
        filters,
    } = spec;
    let record = Arc::new(std::sync::Mutex::new(WatchRecord {
        watcher: id,
        prefix: prefix.clone(),
        start_revision,
        prev_kv,
        no_put: filters.no_put,
        no_delete: filters.no_delete,
        responses: Vec::new(),
        resumes: 0,
    }));
    let shared = record.clone();
    let task = tokio::spawn(async move {
        let mut rng = Rng::new(seed);
        let mut next = start_revision;
        loop {
            let target = done.load(Ordering::Relaxed);
            if target != 0 && next > target {
                return;
            }
            let mut client = WatchClient::new(endpoints.pick(&mut rng));
            let create = WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                    key: prefix_range(&prefix).0,
                    range_end: prefix_range(&prefix).1,
                    start_revision: next,
                    prev_kv,
                    filters: [
                        (filters.no_put, FilterType::Noput),
                        (filters.no_delete, FilterType::Nodelete),
                    ]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, filter)| *filter as i32)
                    .collect(),
                    ..Default::default()
                })),
            };
            // Keep the request stream open: closing it would end the watch.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            if tx.send(create).await.is_err() {
                return;
            }
            let stream = client
                .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await;
            if let Ok(stream) = stream {
                let mut stream = stream.into_inner();
                loop {
                    let target = done.load(Ordering::Relaxed);
                    if target != 0 && next > target {
                        return;
                    }
                    let message =
                        tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
                    let response = match message {
                        Ok(Ok(Some(response))) => response,
                        Ok(_) => break, // broken: resume elsewhere
                        Err(_) => {
                            // Quiet: ask how far this watch has got (answered once synced).
                            let progress = WatchRequest {
                                request_union: Some(RequestUnion::ProgressRequest(
                                    WatchProgressRequest {},
                                )),
                            };
                            if tx.send(progress).await.is_err() {
                                break;
                            }
                            continue;
                        }
                    };
                    if response.canceled {
                        if response.compact_revision > next {
                            // Compacted away while disconnected: the rest is still checked.
                            next = response.compact_revision;
                        }
                        break;
                    }
                    let events: Vec<WatchedEvent> = response
                        .events
                        .iter()
                        .filter_map(|e| {
                            let kv = e.kv.as_ref()?;
                            Some(WatchedEvent {
                                key: String::from_utf8_lossy(&kv.key).into_owned(),
                                value: (e.r#type == EventType::Put as i32)
                                    .then(|| String::from_utf8_lossy(&kv.value).into_owned()),
                                mod_revision: kv.mod_revision,
                                prev_value: e
                                    .prev_kv
                                    .as_ref()
                                    .map(|p| String::from_utf8_lossy(&p.value).into_owned()),
                            })
                        })
                        .collect();
                    if let Some(last) = events.last() {
                        next = last.mod_revision + 1;
                    }
                    if !events.is_empty() {
                        shared
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .responses
                            .push(events);
                    }
                    // Progress (an empty response with a header) also moves `next` on.
                    if response.events.is_empty()
                        && let Some(h) = response.header
                        && !response.created
                    {
                        next = next.max(h.revision + 1);
                    }
                }
            }
            shared.lock().unwrap_or_else(|p| p.into_inner()).resumes += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Watcher { record, task }
}
