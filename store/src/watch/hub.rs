//! The watcher registry and fan-out (etcd's watchable store: synced and unsynced watchers).
//!
//! - A *synced* watcher is at the head: each applied batch is matched against it by `notify`
//!   (called by the state machine, in apply order, after the batch is durable and visible) and
//!   its events are pushed, without waiting, into the bounded channel of its gRPC stream.
//! - An *unsynced* watcher is behind: a task of its own replays history from the backend
//!   (`Mvcc::history`) and then joins the synced group.
//!
//! No gap, no duplicate: every synced watcher remembers the first revision it has not been sent
//! (`next_revision`), `notify` delivers only events at or above it, and an unsynced watcher
//! joins under the registry lock only once its replay reached the published revision, so every
//! later batch is notified to it exactly once. A stream whose channel is full never blocks apply
//! or other watchers: its watcher falls back to replay from the first revision it missed (a
//! batch's responses, fragments included, are queued all or none, so the replay repeats
//! nothing). A watcher whose start revision was compacted is cancelled with `compact_revision`,
//! as in etcd.
//!
//! Nothing after a cancel: a replay task waits for room in the channel first, then queues its
//! response under the registry lock only if its own registration (a token, so a cancelled
//! watcher's task never serves a new one that reused the watch id) is still there. Once `cancel`
//! or `close_stream` returns, nothing more of those watchers is queued.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keel_proto::etcdserverpb::{ResponseHeader, WatchResponse};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::encoded::{EncodedBatch, EncodedWatchResponse, Selection};
use crate::error::StoreError;
use crate::mvcc::key_range::KeyRange;
use crate::mvcc::{Applied, Mvcc};

/// What a watcher asked for (a `WatchCreateRequest`, validated).
#[derive(Clone, Debug)]
pub struct WatchSpec {
    pub watch_id: i64,
    pub range: KeyRange,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    pub progress_notify: bool,
    pub fragment: bool,
}

/// Limits of the hub.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Events read from the backend per replay step.
    pub catch_up_batch: usize,
    /// Responses larger than this are split when the watcher asked for fragments.
    pub max_response_bytes: usize,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            catch_up_batch: 1000,
            max_response_bytes: 1572864,
        }
    }
}

/// The outbound half of one gRPC watch stream.
pub type StreamSender = mpsc::Sender<EncodedWatchResponse>;

type WatcherId = (u64, i64);

struct Synced {
    spec: Arc<WatchSpec>,
    next_revision: i64,
    sender: StreamSender,
}

#[derive(Default)]
struct Registry {
    synced: HashMap<WatcherId, Synced>,
    /// Watchers replaying history, with the token of their replay task; removing one (or
    /// replacing it, when a new watcher reuses the id) tells that task to stop.
    unsynced: HashMap<WatcherId, u64>,
    last_token: u64,
}

impl Registry {
    /// Registers `id` as replaying; returns the token of its replay task.
    fn start_replay(&mut self, id: WatcherId) -> u64 {
        self.last_token += 1;
        self.unsynced.insert(id, self.last_token);
        self.last_token
    }

    /// Whether the replay task holding `token` still serves `id`.
    fn replaying(&self, id: &WatcherId, token: u64) -> bool {
        self.unsynced.get(id) == Some(&token)
    }

    /// Ends the registration of the replay task holding `token`, if it still has it.
    fn stop_replay(&mut self, id: &WatcherId, token: u64) -> bool {
        let replaying = self.replaying(id, token);
        if replaying {
            self.unsynced.remove(id);
        }
        replaying
    }
}

pub struct WatchHub {
    mvcc: Arc<Mvcc>,
    member_id: u64,
    raft_term: AtomicU64,
    /// The newest revision whose events have been handed to every synced watcher.
    notified: AtomicI64,
    next_stream: AtomicU64,
    config: WatchConfig,
    registry: Mutex<Registry>,
}

pub const COMPACTED_REASON: &str = "etcdserver: mvcc: required revision has been compacted";

impl WatchHub {
    pub fn new(mvcc: Arc<Mvcc>, member_id: u64, config: WatchConfig) -> Arc<Self> {
        Arc::new(Self {
            notified: AtomicI64::new(mvcc.current_revision()),
            mvcc,
            member_id,
            raft_term: AtomicU64::new(0),
            next_stream: AtomicU64::new(1),
            config,
            registry: Mutex::new(Registry::default()),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_raft_term(&self, term: u64) {
        self.raft_term.store(term, Ordering::Relaxed);
    }

    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.mvcc.cluster_id(),
            member_id: self.member_id,
            revision,
            raft_term: self.raft_term.load(Ordering::Relaxed),
        }
    }

    pub fn current_revision(&self) -> i64 {
        self.mvcc.current_revision()
    }

    /// The revision a progress notification may claim: every event up to it has been queued
    /// to every synced watcher, ahead of the notification.
    pub fn notified_revision(&self) -> i64 {
        self.notified.load(Ordering::Acquire)
    }

    /// A fresh id for a new gRPC stream.
    pub fn new_stream(&self) -> u64 {
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// (synced, unsynced) watcher counts.
    pub fn counts(&self) -> (usize, usize) {
        let registry = self.registry();
        (registry.synced.len(), registry.unsynced.len())
    }

    /// How many watchers `stream` has.
    pub fn stream_watchers(&self, stream: u64) -> usize {
        let registry = self.registry();
        let on_stream = |(s, _): &&WatcherId| *s == stream;
        registry.synced.keys().filter(on_stream).count()
            + registry.unsynced.keys().filter(on_stream).count()
    }

    /// Whether `watch_id` is in use on `stream`.
    pub fn exists(&self, stream: u64, watch_id: i64) -> bool {
        let registry = self.registry();
        let id = (stream, watch_id);
        registry.synced.contains_key(&id) || registry.unsynced.contains_key(&id)
    }

    /// Registers a watcher from `start_revision` (0 = from now). The caller has already queued
    /// the `created` response on `sender`, so it precedes every event.
    pub fn watch(
        self: &Arc<Self>,
        stream: u64,
        spec: WatchSpec,
        start_revision: i64,
        sender: StreamSender,
    ) {
        let id = (stream, spec.watch_id);
        let spec = Arc::new(spec);
        let mut registry = self.registry();
        let current = self.mvcc.current_revision();
        if start_revision <= 0 || start_revision > current {
            // From now, or a future revision: at the head already.
            let next_revision = if start_revision <= 0 {
                current + 1
            } else {
                start_revision
            };
            registry.synced.insert(
                id,
                Synced {
                    spec,
                    next_revision,
                    sender,
                },
            );
            return;
        }
        let token = registry.start_replay(id);
        drop(registry);
        tokio::spawn(
            self.clone()
                .catch_up(id, token, spec, start_revision, sender),
        );
    }

    /// Removes a watcher; true if it existed.
    pub fn cancel(&self, stream: u64, watch_id: i64) -> bool {
        let mut registry = self.registry();
        let id = (stream, watch_id);
        registry.synced.remove(&id).is_some() | registry.unsynced.remove(&id).is_some()
    }

    /// Removes every watcher of a stream that ended.
    pub fn close_stream(&self, stream: u64) {
        let mut registry = self.registry();
        registry.synced.retain(|(s, _), _| *s != stream);
        registry.unsynced.retain(|(s, _), _| *s != stream);
    }

    /// True when every watcher of `stream` is synced (etcd answers progress requests then).
    pub fn stream_synced(&self, stream: u64) -> bool {
        !self.registry().unsynced.keys().any(|(s, _)| *s == stream)
    }

    /// Synced watchers of `stream` that asked for progress notifications.
    pub fn progress_watchers(&self, stream: u64) -> Vec<i64> {
        self.registry()
            .synced
            .iter()
            .filter(|((s, _), w)| *s == stream && w.spec.progress_notify)
            .map(|((_, watch_id), _)| *watch_id)
            .collect()
    }

    /// Fans one applied batch out to the synced watchers. Never waits: a watcher whose stream
    /// is full falls back to replay.
    pub fn notify(self: &Arc<Self>, applied: &Applied) {
        let mut registry = self.registry();
        if applied.events.is_empty() {
            self.notified.store(applied.revision, Ordering::Release);
            return;
        }
        let batch = EncodedBatch::new(&applied.events);
        let header = self.header(applied.revision);
        let mut fallen_behind = Vec::new();
        let mut closed = Vec::new();
        let mut matched = Vec::new();
        for (id, watcher) in registry.synced.iter_mut() {
            let from = watcher.next_revision;
            if applied.revision < from {
                continue;
            }
            watcher.next_revision = applied.revision + 1;
            let spec = &watcher.spec;
            let selection = Selection {
                prev_kv: spec.prev_kv,
                no_put: spec.no_put,
                no_delete: spec.no_delete,
                from_revision: from,
            };
            matched.clear();
            matched.extend(batch.events.iter().enumerate().filter_map(|(i, event)| {
                let key = event
                    .kv
                    .as_ref()
                    .map(|kv| kv.key.as_slice())
                    .unwrap_or_default();
                (selection.wants(event) && spec.range.contains(key)).then_some(i)
            }));
            if matched.is_empty() {
                continue;
            }
            let limit = if spec.fragment {
                self.config.max_response_bytes
            } else {
                usize::MAX
            };
            let chunks = batch.chunks(&matched, spec.prev_kv, limit);
            let last = chunks.len().saturating_sub(1);
            // Room for every fragment, or none is sent: the replay starts over at `from`.
            let permits = match watcher.sender.try_reserve_many(chunks.len()) {
                Ok(permits) => permits,
                Err(TrySendError::Full(())) => {
                    fallen_behind.push((*id, from));
                    continue;
                }
                Err(TrySendError::Closed(())) => {
                    closed.push(*id);
                    continue;
                }
            };
            for ((i, events), permit) in chunks.into_iter().enumerate().zip(permits) {
                permit.send(EncodedWatchResponse {
                    head: WatchResponse {
                        header: Some(header),
                        watch_id: spec.watch_id,
                        fragment: i < last,
                        ..Default::default()
                    },
                    events,
                });
            }
        }
        self.notified.store(applied.revision, Ordering::Release);
        for id in closed {
            registry.synced.remove(&id);
        }
        for (id, from) in fallen_behind {
            if let Some(watcher) = registry.synced.remove(&id) {
                let token = registry.start_replay(id);
                tokio::spawn(
                    self.clone()
                        .catch_up(id, token, watcher.spec, from, watcher.sender),
                );
            }
        }
    }

    /// After a snapshot replaced the store: every synced watcher replays from where it was.
    pub fn resync_all(self: &Arc<Self>) {
        let mut registry = self.registry();
        let watchers: Vec<(WatcherId, Synced)> = registry.synced.drain().collect();
        for (id, watcher) in watchers {
            let token = registry.start_replay(id);
            tokio::spawn(self.clone().catch_up(
                id,
                token,
                watcher.spec,
                watcher.next_revision,
                watcher.sender,
            ));
        }
    }

    /// Replays history from `next` for an unsynced watcher, then joins the synced group.
    async fn catch_up(
        self: Arc<Self>,
        id: WatcherId,
        token: u64,
        spec: Arc<WatchSpec>,
        mut next: i64,
        sender: StreamSender,
    ) {
        loop {
            if !self.registry().replaying(&id, token) {
                return; // cancelled
            }
            let history = match self
                .mvcc
                .history(&spec.range, next, self.config.catch_up_batch)
            {
                Ok(history) => history,
                Err(err) => {
                    let compacted = matches!(err, StoreError::Compacted);
                    if !compacted {
                        tracing::warn!(%err, watch_id = spec.watch_id, "watch replay failed");
                    }
                    // etcd's cancel response carries no revision in its header.
                    let response = WatchResponse {
                        header: Some(self.header(0)),
                        watch_id: spec.watch_id,
                        canceled: true,
                        compact_revision: if compacted {
                            self.mvcc.compact_revision()
                        } else {
                            0
                        },
                        cancel_reason: err.to_string(),
                        ..Default::default()
                    };
                    let response = EncodedWatchResponse::new(response);
                    self.send_replayed(id, token, &sender, response, true).await;
                    return;
                }
            };
            let selection = Selection {
                prev_kv: spec.prev_kv,
                no_put: spec.no_put,
                no_delete: spec.no_delete,
                from_revision: next,
            };
            let matched: Vec<usize> = history
                .events
                .iter()
                .enumerate()
                .filter_map(|(i, event)| selection.wants(event).then_some(i))
                .collect();
            if !matched.is_empty() {
                let batch = EncodedBatch::new(&history.events);
                let limit = if spec.fragment {
                    self.config.max_response_bytes
                } else {
                    usize::MAX
                };
                let chunks = batch.chunks(&matched, spec.prev_kv, limit);
                let last = chunks.len().saturating_sub(1);
                for (i, events) in chunks.into_iter().enumerate() {
                    let response = EncodedWatchResponse {
                        head: WatchResponse {
                            header: Some(self.header(history.current)),
                            watch_id: spec.watch_id,
                            fragment: i < last,
                            ..Default::default()
                        },
                        events,
                    };
                    if !self
                        .send_replayed(id, token, &sender, response, false)
                        .await
                    {
                        return;
                    }
                }
            }
            next = history.next;
            if next > history.current {
                let mut registry = self.registry();
                if !registry.replaying(&id, token) {
                    return;
                }
                if next > self.mvcc.current_revision() {
                    registry.unsynced.remove(&id);
                    registry.synced.insert(
                        id,
                        Synced {
                            spec,
                            next_revision: next,
                            sender,
                        },
                    );
                    return;
                }
            }
        }
    }

    /// Queues a replayed response once there is room, unless the watcher was cancelled (or its
    /// stream closed) meanwhile: checked under the registry lock, so nothing of a watcher is
    /// queued after `cancel` returned. `last` ends the watcher's registration with it. False
    /// when the watcher is gone.
    async fn send_replayed(
        &self,
        id: WatcherId,
        token: u64,
        sender: &StreamSender,
        response: EncodedWatchResponse,
        last: bool,
    ) -> bool {
        let Ok(permit) = sender.reserve().await else {
            self.registry().stop_replay(&id, token);
            return false;
        };
        let mut registry = self.registry();
        let replaying = if last {
            registry.stop_replay(&id, token)
        } else {
            registry.replaying(&id, token)
        };
        if replaying {
            permit.send(response);
        }
        replaying
    }
}
