//! The watch hub (`WatchHub`) driven directly: no gRPC, no Raft. Batches are applied to a real
//! `Mvcc`, and each committed batch is handed to `WatchHub::notify`, as the state machine does.
//! Responses are read from the stream channels and decoded as ordinary `WatchResponse`s.
//!
//! - Example tests: ranges (one key, prefix, from-key) with NOPUT/NODELETE and prev_kv; replay
//!   from a past revision continuing live; future starts; cancel; `close_stream`; compacted
//!   starts; full streams falling back to replay; fragments; watch ids reused after a cancel;
//!   `resync_all`; progress (`notified_revision`, `progress_watchers`, `stream_synced`).
//! - `watchers_see_the_model_events`: a proptest property test. Random writes over a small key
//!   alphabet (puts, deletes, txns, compactions) in random batches, interleaved with random
//!   watchers (range, start revision: now, past, compacted or future, prev_kv, filters,
//!   fragments, channel capacity, shared streams), random draining, cancels and stream closes.
//!   At the end every watcher must have received exactly the reference model's events for its
//!   range from its start revision, in order, each revision in one (possibly fragmented)
//!   response; a watcher whose start was compacted only a cancel response.
//!
//! The `created` response is queued by the gRPC layer before `WatchHub::watch`, so it is not
//! checked here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RequestOp,
    TxnRequest, WatchResponse,
};
use keel_proto::keelraft::Command;
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as Outcome;
use keel_proto::mvccpb::event::EventType;
use keel_proto::mvccpb::{Event, KeyValue};
use keel_store::mvcc::key_range::KeyRange;
use keel_store::mvcc::{Applied, Mvcc, RaftMeta};
use keel_store::watch::hub::COMPACTED_REASON;
use keel_store::watch::{EncodedWatchResponse, StreamSender, WatchConfig, WatchHub, WatchSpec};
use proptest::prelude::*;
use prost::Message;
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

/// etcd's `ErrCompacted` text, as watchers see it in `cancel_reason`.
const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
/// How long a test waits for a response (or for replays to catch up) before failing.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test waits to be fairly sure that nothing more arrives.
const QUIET: Duration = Duration::from_millis(50);

// ---- the store and the hub -----------------------------------------------------------------

struct Store {
    _dir: TempDir,
    mvcc: Arc<Mvcc>,
    hub: Arc<WatchHub>,
    applied: u64,
}

impl Store {
    fn new(config: WatchConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mvcc = Arc::new(Mvcc::open(&dir.path().join("state.redb")).expect("open the store"));
        let hub = WatchHub::new(mvcc.clone(), 1, config);
        Self {
            _dir: dir,
            mvcc,
            hub,
            applied: 0,
        }
    }

    /// Executes `commands` as one batch and commits it, without telling the hub.
    fn commit(&mut self, commands: &[Command]) -> Applied {
        self.applied += 1;
        let mut batch = self.mvcc.begin_apply().expect("begin a batch");
        for command in commands {
            let result = batch.execute(command).expect("execute");
            assert!(
                !matches!(result.result, Some(Outcome::Error(_))),
                "{command:?} failed: {result:?}"
            );
        }
        let meta = RaftMeta {
            applied_log_id: Some(self.applied.to_be_bytes().to_vec()),
            membership: None,
        };
        batch.commit(&meta).expect("commit")
    }

    /// One batch committed and then notified, as the state machine applies it.
    fn apply(&mut self, commands: &[Command]) -> Applied {
        let applied = self.commit(commands);
        self.hub.notify(&applied);
        applied
    }

    /// A new stream with a channel of `capacity`.
    fn stream(&self, capacity: usize) -> (u64, StreamSender, Receiver) {
        let (sender, receiver) = mpsc::channel(capacity);
        (self.hub.new_stream(), sender, receiver)
    }
}

type Receiver = mpsc::Receiver<EncodedWatchResponse>;

fn command(request: CommandRequest) -> Command {
    Command {
        auth_header: None,
        request: Some(request),
    }
}

fn put(key: &str, value: &str) -> Command {
    command(CommandRequest::Put(put_request(key, value)))
}

fn put_request(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn delete(key: &[u8], range_end: &[u8]) -> Command {
    command(CommandRequest::DeleteRange(DeleteRangeRequest {
        key: key.to_vec(),
        range_end: range_end.to_vec(),
        prev_kv: false,
    }))
}

fn compact(revision: i64) -> Command {
    command(CommandRequest::Compaction(CompactionRequest {
        revision,
        physical: false,
    }))
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(put_request(key, value))),
    }
}

fn delete_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        })),
    }
}

fn txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> Command {
    command(CommandRequest::Txn(TxnRequest {
        compare,
        success,
        failure,
    }))
}

fn spec(watch_id: i64, range: KeyRange) -> WatchSpec {
    WatchSpec {
        watch_id,
        range,
        prev_kv: false,
        no_put: false,
        no_delete: false,
        progress_notify: false,
        fragment: false,
    }
}

fn key_range(key: &str, range_end: &str) -> KeyRange {
    KeyRange::new(key.as_bytes(), range_end.as_bytes())
}

/// A response as a client receives it.
fn decode(response: &EncodedWatchResponse) -> WatchResponse {
    WatchResponse::decode(response.encode_to_vec().as_slice()).expect("decodes as a WatchResponse")
}

fn revision(event: &Event) -> i64 {
    event.kv.as_ref().expect("event without a kv").mod_revision
}

fn key_of(event: &Event) -> &[u8] {
    &event.kv.as_ref().expect("event without a kv").key
}

fn is_put(event: &Event) -> bool {
    event.r#type == EventType::Put as i32
}

/// What a watcher of `spec` from revision `from` must get out of `events`.
fn wanted(spec: &WatchSpec, from: i64, events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|event| revision(event) >= from && spec.range.contains(key_of(event)))
        .filter(|event| {
            if is_put(event) {
                !spec.no_put
            } else {
                !spec.no_delete
            }
        })
        .map(|event| Event {
            prev_kv: if spec.prev_kv {
                event.prev_kv.clone()
            } else {
                None
            },
            ..event.clone()
        })
        .collect()
}

/// A short form of events for messages: (revision, key, put?).
fn brief(events: &[Event]) -> Vec<(i64, String, bool)> {
    events
        .iter()
        .map(|e| {
            let key = String::from_utf8_lossy(key_of(e)).into_owned();
            (revision(e), key, is_put(e))
        })
        .collect()
}

/// The next response; fails after `WAIT`.
async fn recv(rx: &mut Receiver) -> WatchResponse {
    let response = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a response in time")
        .expect("the stream is open");
    decode(&response)
}

/// Responses until they hold `count` events.
async fn recv_events(rx: &mut Receiver, count: usize) -> Vec<WatchResponse> {
    let mut responses = Vec::new();
    let mut got = 0;
    while got < count {
        let response = recv(rx).await;
        got += response.events.len();
        responses.push(response);
    }
    responses
}

fn events_of(responses: &[WatchResponse]) -> Vec<Event> {
    responses.iter().flat_map(|r| r.events.clone()).collect()
}

/// Nothing more arrives (within `QUIET`).
async fn assert_quiet(rx: &mut Receiver, what: &str) {
    tokio::time::sleep(QUIET).await;
    match rx.try_recv() {
        Err(TryRecvError::Empty) => {}
        Err(TryRecvError::Disconnected) => {}
        Ok(response) => panic!("{what}: unexpected {:?}", decode(&response)),
    }
}

/// Waits until a replay queued its first response on `rx`, and a little more: a replay with
/// more to send than the channel holds then waits for room.
async fn wait_blocked(rx: &Receiver) {
    let deadline = Instant::now() + WAIT;
    while rx.is_empty() {
        assert!(Instant::now() < deadline, "replay never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(QUIET).await;
}

/// Waits until the hub has no watcher replaying history.
async fn wait_synced(hub: &WatchHub) {
    let deadline = Instant::now() + WAIT;
    while hub.counts().1 > 0 {
        assert!(Instant::now() < deadline, "replays never caught up");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---- example tests -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_from_now_gets_the_matching_events_of_later_batches() {
    let mut s = Store::new(WatchConfig::default());
    s.apply(&[put("a", "0")]);
    s.apply(&[put("b", "0")]);
    let watchers = [
        WatchSpec {
            prev_kv: true,
            ..spec(1, key_range("a", ""))
        },
        spec(2, key_range("a", "b")), // prefix "a"
        WatchSpec {
            prev_kv: true,
            no_put: true,
            ..spec(3, key_range("b", "\0"))
        },
        WatchSpec {
            no_delete: true,
            ..spec(4, key_range("\0", "\0"))
        },
        spec(5, key_range("zz", "")),
    ];
    let mut receivers = Vec::new();
    for watcher in &watchers {
        let (stream, sender, receiver) = s.stream(64);
        s.hub.watch(stream, watcher.clone(), 0, sender);
        receivers.push(receiver);
    }
    assert_eq!(
        s.hub.counts(),
        (5, 0),
        "watchers from now are synced at once"
    );
    let batches = [
        vec![put("a", "1"), put("ab", "1")],
        vec![delete(b"a", b"")],
        vec![txn(
            Vec::new(),
            vec![put_op("b", "2"), delete_op("ab"), put_op("c", "1")],
            Vec::new(),
        )],
        vec![delete(b"a", b"\0")],
        vec![put("ba", "1")],
    ];
    let applied: Vec<Applied> = batches.iter().map(|batch| s.apply(batch)).collect();
    assert_eq!(applied.last().map(|a| a.revision), Some(9));

    let mut received = Vec::new();
    for (watcher, rx) in watchers.iter().zip(&mut receivers) {
        let mut got = Vec::new();
        for batch in &applied {
            let want = wanted(watcher, 0, &batch.events);
            if want.is_empty() {
                continue;
            }
            // One response per batch, with its revision in the header.
            let response = recv(rx).await;
            assert_eq!(response.watch_id, watcher.watch_id);
            assert_eq!(response.header.map(|h| h.revision), Some(batch.revision));
            assert!(!response.fragment && !response.canceled && !response.created);
            assert_eq!(response.events, want, "watcher {}", watcher.watch_id);
            got.extend(response.events);
        }
        assert_quiet(rx, &format!("watcher {}", watcher.watch_id)).await;
        // The reference selection above must not be vacuous: spell out what each one gets.
        let short = brief(&got);
        let expected: Vec<(i64, &str, bool)> = match watcher.watch_id {
            1 => vec![(4, "a", true), (6, "a", false)],
            2 => vec![
                (4, "a", true),
                (5, "ab", true),
                (6, "a", false),
                (7, "ab", false),
            ],
            3 => vec![(8, "b", false), (8, "c", false)],
            4 => vec![
                (4, "a", true),
                (5, "ab", true),
                (7, "b", true),
                (7, "c", true),
                (9, "ba", true),
            ],
            _ => Vec::new(),
        };
        let expected: Vec<(i64, String, bool)> = expected
            .into_iter()
            .map(|(r, k, p)| (r, k.to_string(), p))
            .collect();
        assert_eq!(short, expected, "watcher {}", watcher.watch_id);
        // prev_kv only for those who asked for it.
        for event in &got {
            let has_prev = event.prev_kv.is_some();
            assert_eq!(has_prev, watcher.prev_kv, "watcher {}", watcher.watch_id);
        }
        received.push(got);
    }
    // The prev_kvs: watcher 1 has "0" before the put at 4 and "1" before the delete at 6;
    // watcher 3 has the values deleted at 8.
    let values = |events: &[Event]| -> Vec<Vec<u8>> {
        events
            .iter()
            .map(|e| {
                e.prev_kv
                    .as_ref()
                    .map(|p| p.value.clone())
                    .unwrap_or_default()
            })
            .collect()
    };
    assert_eq!(values(&received[0]), vec![b"0".to_vec(), b"1".to_vec()]);
    assert_eq!(values(&received[2]), vec![b"2".to_vec(), b"1".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_from_the_past_replays_history_then_continues_live() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 2,
        ..WatchConfig::default()
    });
    let keys = ["a", "b", "c", "ab"];
    let mut all = Vec::new();
    for i in 0..20 {
        let key = keys[i % keys.len()];
        all.extend(s.apply(&[put(key, &format!("{i}"))]).events);
    }
    let everything = WatchSpec {
        prev_kv: true,
        ..spec(1, key_range("\0", "\0"))
    };
    let only_b = spec(2, key_range("b", ""));
    let (stream_all, sender, mut rx_all) = s.stream(4);
    s.hub.watch(stream_all, everything.clone(), 5, sender);
    let (stream, sender, mut rx_b) = s.stream(4);
    s.hub.watch(stream, only_b.clone(), 3, sender);
    // Nobody reads yet: a replay of more responses than the channel holds cannot be done.
    assert!(
        !s.hub.stream_synced(stream_all),
        "a watcher from the past replays first"
    );
    let want_all_count = wanted(&everything, 5, &all).len() + 30;
    let want_b_count = wanted(&only_b, 3, &all).len() + 10;
    // Readers run while the store keeps changing.
    let reader_all = tokio::spawn(async move { recv_events(&mut rx_all, want_all_count).await });
    let reader_b = tokio::spawn(async move { recv_events(&mut rx_b, want_b_count).await });
    for i in 0..30 {
        let key = ["b", "x", "y"][i % 3];
        all.extend(s.apply(&[put(key, &format!("live {i}"))]).events);
        tokio::task::yield_now().await;
    }
    let got_all = reader_all.await.expect("reader");
    let got_b = reader_b.await.expect("reader");
    let got = events_of(&got_all);
    assert_eq!(brief(&got), brief(&wanted(&everything, 5, &all)));
    assert_eq!(got, wanted(&everything, 5, &all), "no gap, no duplicate");
    assert_eq!(events_of(&got_b), wanted(&only_b, 3, &all));
    for response in got_all.iter().chain(&got_b) {
        let header = response.header.expect("header").revision;
        assert!(response.events.iter().all(|e| revision(e) <= header));
    }
    wait_synced(&s.hub).await;
    assert_eq!(s.hub.counts(), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn future_start_revision_delivers_nothing_before_it() {
    let mut s = Store::new(WatchConfig::default());
    s.apply(&[put("a", "0")]);
    let current = s.mvcc.current_revision();
    let (stream, sender, mut rx) = s.stream(8);
    let watcher = WatchSpec {
        prev_kv: true,
        ..spec(1, key_range("\0", "\0"))
    };
    s.hub.watch(stream, watcher, current + 3, sender);
    assert_eq!(s.hub.counts(), (1, 0));
    s.apply(&[put("a", "1")]);
    assert_quiet(&mut rx, "before the start revision").await;
    // One batch across the start revision: only its part from the start on.
    let applied = s.apply(&[put("b", "1"), put("a", "2"), put("c", "1")]);
    assert_eq!(applied.revision, current + 4);
    let response = recv(&mut rx).await;
    assert_eq!(brief(&response.events), brief(&applied.events[1..]));
    assert_eq!(response.events, applied.events[1..]);
    let later = s.apply(&[delete(b"a", b"")]);
    assert_eq!(recv(&mut rx).await.events, later.events);
    assert_quiet(&mut rx, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_delivery() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 1,
        ..WatchConfig::default()
    });
    // A synced watcher.
    let (stream, sender, mut rx) = s.stream(8);
    s.hub.watch(stream, spec(1, key_range("a", "")), 0, sender);
    let applied = s.apply(&[put("a", "1")]);
    let watcher = spec(1, key_range("a", ""));
    assert_eq!(
        recv(&mut rx).await.events,
        wanted(&watcher, 0, &applied.events)
    );
    assert!(s.hub.exists(stream, 1));
    assert!(s.hub.cancel(stream, 1));
    assert!(!s.hub.exists(stream, 1));
    assert!(!s.hub.cancel(stream, 1), "cancelling twice");
    s.apply(&[put("a", "2")]);
    assert_quiet(&mut rx, "after cancel").await;
    assert_eq!(s.hub.counts(), (0, 0));

    // A watcher replaying history, blocked on its full stream: once `cancel` returns, nothing
    // more of it is queued.
    for i in 0..5 {
        s.apply(&[put("b", &format!("{i}"))]);
    }
    let (stream, sender, mut rx) = s.stream(1);
    s.hub.watch(stream, spec(2, key_range("b", "")), 2, sender);
    wait_blocked(&rx).await;
    assert_eq!(s.hub.counts(), (0, 1));
    assert!(s.hub.cancel(stream, 2));
    let queued = rx.len();
    for _ in 0..queued {
        recv(&mut rx).await;
    }
    s.apply(&[put("b", "after")]);
    assert_quiet(&mut rx, "replay after cancel").await;
    assert_eq!(s.hub.counts(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_cancelled_watch_id_gets_only_the_new_watchers_events() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 1,
        ..WatchConfig::default()
    });
    let mut all = Vec::new();
    for i in 0..6 {
        all.extend(s.apply(&[put(["a", "b"][i % 2], &format!("{i}"))]).events);
    }
    let (stream, sender, mut rx) = s.stream(1);
    // The old watcher replays from 2 and blocks on its full stream...
    s.hub
        .watch(stream, spec(7, key_range("a", "")), 2, sender.clone());
    wait_blocked(&rx).await;
    // ...is cancelled, and the client makes a new one with the same id, on other keys.
    assert!(s.hub.cancel(stream, 7));
    let queued = rx.len();
    for _ in 0..queued {
        recv(&mut rx).await;
    }
    let fresh = spec(7, key_range("b", ""));
    s.hub.watch(stream, fresh.clone(), 2, sender);
    let want = wanted(&fresh, 2, &all);
    let got = events_of(&recv_events(&mut rx, want.len()).await);
    assert_eq!(brief(&got), brief(&want), "only the new watcher's events");
    assert_quiet(&mut rx, "after the new watcher caught up").await;
    wait_synced(&s.hub).await;
    assert_eq!(s.hub.counts(), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stream_removes_all_its_watchers() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 1,
        ..WatchConfig::default()
    });
    for i in 0..4 {
        s.apply(&[put("a", &format!("{i}"))]);
    }
    let (closing, sender, mut rx_closing) = s.stream(1);
    s.hub
        .watch(closing, spec(1, key_range("a", "")), 0, sender.clone());
    // Replays from 2 and blocks on the full stream.
    s.hub
        .watch(closing, spec(2, key_range("a", "")), 2, sender.clone());
    s.hub.watch(closing, spec(3, key_range("b", "")), 0, sender);
    let (other, sender, mut rx_other) = s.stream(8);
    s.hub.watch(other, spec(1, key_range("a", "")), 0, sender);
    wait_blocked(&rx_closing).await;
    assert_eq!(s.hub.counts(), (3, 1));
    s.hub.close_stream(closing);
    for id in 1..=3 {
        assert!(
            !s.hub.exists(closing, id),
            "watcher {id} of the closed stream"
        );
    }
    assert!(s.hub.exists(other, 1));
    assert_eq!(s.hub.counts(), (1, 0));
    let queued = rx_closing.len();
    for _ in 0..queued {
        recv(&mut rx_closing).await;
    }
    let applied = s.apply(&[put("a", "new"), put("b", "new")]);
    let want = wanted(&spec(1, key_range("a", "")), 0, &applied.events);
    assert_eq!(recv(&mut rx_other).await.events, want);
    assert_quiet(&mut rx_closing, "closed stream").await;
    assert_quiet(&mut rx_other, "other stream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_from_a_compacted_revision_is_cancelled_with_the_compaction() {
    let mut s = Store::new(WatchConfig::default());
    let mut all = Vec::new();
    for i in 0..5 {
        all.extend(s.apply(&[put(["a", "b"][i % 2], &format!("{i}"))]).events);
    }
    assert_eq!(s.mvcc.current_revision(), 6);
    s.apply(&[compact(5)]);
    assert_eq!(COMPACTED_REASON, COMPACTED);

    let (stream, sender, mut rx) = s.stream(8);
    s.hub
        .watch(stream, spec(1, key_range("\0", "\0")), 4, sender.clone());
    let response = recv(&mut rx).await;
    assert_eq!(response.watch_id, 1);
    assert!(response.canceled);
    assert!(!response.created && !response.fragment);
    assert_eq!(response.compact_revision, 5);
    assert_eq!(response.cancel_reason, COMPACTED);
    // As etcd: the cancel's header carries no revision.
    assert_eq!(response.header.map(|h| h.revision), Some(0));
    assert!(response.events.is_empty());
    assert_quiet(&mut rx, "after the compacted cancel").await;
    assert!(!s.hub.exists(stream, 1));
    assert_eq!(s.hub.counts(), (0, 0));

    // From the compaction revision itself: its history is still there.
    let from_compaction = spec(2, key_range("\0", "\0"));
    s.hub.watch(stream, from_compaction.clone(), 5, sender);
    all.extend(s.apply(&[put("c", "live")]).events);
    let want = wanted(&from_compaction, 5, &all);
    assert_eq!(want.len(), 3);
    let got = events_of(&recv_events(&mut rx, want.len()).await);
    assert_eq!(got, want);
    assert_quiet(&mut rx, "after catching up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_stream_never_blocks_notify_and_catches_up_exactly_once() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 3,
        ..WatchConfig::default()
    });
    let everything = WatchSpec {
        prev_kv: true,
        ..spec(1, key_range("\0", "\0"))
    };
    let (slow, sender, mut rx_slow) = s.stream(1);
    s.hub.watch(slow, everything.clone(), 0, sender);
    let (fast, sender, mut rx_fast) = s.stream(256);
    s.hub.watch(fast, everything.clone(), 0, sender);
    let mut all = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..30 {
        let applied = s.commit(&[put(["a", "b", "c"][i % 3], &format!("{i}"))]);
        let started = Instant::now();
        s.hub.notify(&applied);
        slowest = slowest.max(started.elapsed());
        all.extend(applied.events);
    }
    assert!(
        slowest < Duration::from_secs(1),
        "notify waited: {slowest:?}"
    );
    // The fast stream got every batch directly; the slow one fell back to replay, which waits
    // for room.
    assert_eq!(s.hub.counts(), (1, 1));
    let fast_responses = recv_events(&mut rx_fast, 30).await;
    assert_eq!(fast_responses.len(), 30);
    assert_eq!(events_of(&fast_responses), all);
    let got = events_of(&recv_events(&mut rx_slow, all.len()).await);
    assert_eq!(brief(&got), brief(&all));
    assert_eq!(got, all, "every event exactly once, in order");
    wait_synced(&s.hub).await;
    assert_eq!(s.hub.counts(), (2, 0));
    // Synced again: live events arrive directly.
    let applied = s.apply(&[put("d", "live")]);
    assert_eq!(recv(&mut rx_slow).await.events, applied.events);
    assert_quiet(&mut rx_slow, "slow").await;
}

/// A txn writing `count` keys with values of `size` bytes, in one revision.
fn big_txn(count: usize, size: usize) -> Command {
    let value = "x".repeat(size);
    let ops = (0..count)
        .map(|i| put_op(&format!("big/{i}"), &value))
        .collect();
    txn(Vec::new(), ops, Vec::new())
}

/// Checks a fragmented delivery: all but the last response are fragments; returns the events.
fn join_fragments(responses: &[WatchResponse]) -> Vec<Event> {
    let (last, rest) = responses.split_last().expect("responses");
    assert!(
        rest.iter().all(|r| r.fragment),
        "all but the last are fragments"
    );
    assert!(!last.fragment, "the last is not a fragment");
    events_of(responses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_split_a_big_batch() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 1000,
        max_response_bytes: 120,
    });
    let prefix = key_range("big/", "big0");
    let fragmented = WatchSpec {
        fragment: true,
        ..spec(1, prefix.clone())
    };
    let (stream, sender, mut rx) = s.stream(64);
    s.hub.watch(stream, fragmented.clone(), 0, sender.clone());
    s.hub
        .watch(stream, spec(2, prefix.clone()), 0, sender.clone());
    let applied = s.apply(&[big_txn(6, 40)]);
    assert_eq!(applied.events.len(), 6);
    let mut by_watcher: HashMap<i64, Vec<WatchResponse>> = HashMap::new();
    while by_watcher.get(&2).is_none_or(|r| r.is_empty())
        || by_watcher
            .get(&1)
            .is_none_or(|r| r.last().is_none_or(|r| r.fragment))
    {
        let response = recv(&mut rx).await;
        by_watcher
            .entry(response.watch_id)
            .or_default()
            .push(response);
    }
    let pieces = &by_watcher[&1];
    assert!(pieces.len() >= 3, "split into {} responses", pieces.len());
    assert_eq!(join_fragments(pieces), applied.events);
    for piece in pieces {
        assert!(
            piece.encoded_len() <= 120 + 64,
            "a fragment of {}",
            piece.encoded_len()
        );
    }
    let whole = &by_watcher[&2];
    assert_eq!(whole.len(), 1, "no fragments when not asked for");
    assert_eq!(whole[0].events, applied.events);
    assert_quiet(&mut rx, "live").await;

    // Replayed from the past: split the same way.
    s.hub.watch(
        stream,
        WatchSpec {
            watch_id: 3,
            ..fragmented.clone()
        },
        applied.revision,
        sender,
    );
    let mut pieces = Vec::new();
    while pieces.last().is_none_or(|r: &WatchResponse| r.fragment) {
        pieces.push(recv(&mut rx).await);
    }
    assert!(pieces.len() >= 3);
    assert_eq!(join_fragments(&pieces), applied.events);
    assert_quiet(&mut rx, "replay").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_are_never_cut_short_by_a_full_stream() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 1000,
        max_response_bytes: 120,
    });
    let fragmented = WatchSpec {
        fragment: true,
        ..spec(1, key_range("big/", "big0"))
    };
    // Room for two fragments of a batch that needs more.
    let (stream, sender, mut rx) = s.stream(2);
    s.hub.watch(stream, fragmented.clone(), 0, sender);
    let first = s.apply(&[big_txn(6, 40)]);
    let second = s.apply(&[big_txn(6, 40)]);
    let mut responses = Vec::new();
    let mut events = Vec::new();
    let both: Vec<Event> = first.events.iter().chain(&second.events).cloned().collect();
    let want = wanted(&fragmented, 0, &both);
    while events.len() < want.len() {
        let response = recv(&mut rx).await;
        events.extend(response.events.clone());
        responses.push(response);
    }
    assert_eq!(brief(&events), brief(&want), "every event once, in order");
    assert_eq!(events, want);
    // Joined, the fragments make whole responses, none of them cutting a revision in two.
    let mut joined: Vec<Vec<i64>> = vec![Vec::new()];
    for response in &responses {
        let last = joined.last_mut().expect("a response");
        last.extend(response.events.iter().map(revision));
        if !response.fragment {
            joined.push(Vec::new());
        }
    }
    assert_eq!(joined.pop(), Some(Vec::new()), "a fragment left dangling");
    for pair in joined.windows(2) {
        assert!(
            pair[0].last() < pair[1].first(),
            "a revision cut in two: {joined:?}"
        );
    }
    assert_quiet(&mut rx, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_all_replays_from_where_each_watcher_was() {
    let mut s = Store::new(WatchConfig::default());
    let (stream, sender, mut rx) = s.stream(8);
    s.hub.watch(stream, spec(1, key_range("a", "")), 0, sender);
    let first = s.apply(&[put("a", "1")]);
    assert_eq!(recv(&mut rx).await.events, first.events);
    // Written while the hub is not told (as when a snapshot replaces the store).
    let missed = s.commit(&[put("a", "2")]);
    s.hub.resync_all();
    let watcher = spec(1, key_range("a", ""));
    assert_eq!(
        recv(&mut rx).await.events,
        wanted(&watcher, 0, &missed.events)
    );
    wait_synced(&s.hub).await;
    let live = s.apply(&[put("a", "3")]);
    assert_eq!(
        recv(&mut rx).await.events,
        wanted(&watcher, 0, &live.events)
    );
    assert_quiet(&mut rx, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_follows_notify() {
    let mut s = Store::new(WatchConfig {
        catch_up_batch: 1,
        ..WatchConfig::default()
    });
    assert_eq!(s.hub.notified_revision(), s.mvcc.current_revision());
    for i in 0..3 {
        let applied = s.apply(&[put("a", &format!("{i}"))]);
        assert_eq!(s.hub.notified_revision(), applied.revision);
    }
    // A batch that writes no key (a lease grant) keeps the revision.
    let applied = s.apply(&[command(CommandRequest::LeaseGrant(LeaseGrantRequest {
        ttl: 10,
        id: 1,
    }))]);
    assert!(applied.events.is_empty());
    assert_eq!(s.hub.notified_revision(), 4);
    // Committed but not yet notified: not claimed.
    let pending = s.commit(&[put("b", "1")]);
    assert_eq!(s.hub.notified_revision(), 4);
    s.hub.notify(&pending);
    assert_eq!(s.hub.notified_revision(), 5);

    let (stream, sender, mut rx) = s.stream(1);
    let progress = WatchSpec {
        progress_notify: true,
        ..spec(1, key_range("a", ""))
    };
    s.hub.watch(stream, progress.clone(), 0, sender.clone());
    assert_eq!(s.hub.progress_watchers(stream), vec![1]);
    assert!(s.hub.stream_synced(stream));
    // A watcher still replaying: the stream is not synced, and it gets no progress.
    s.hub.watch(
        stream,
        WatchSpec {
            watch_id: 2,
            ..progress
        },
        2,
        sender,
    );
    wait_blocked(&rx).await;
    assert!(!s.hub.stream_synced(stream));
    assert_eq!(s.hub.progress_watchers(stream), vec![1]);
    let got = events_of(&recv_events(&mut rx, 3).await);
    assert_eq!(got.iter().map(revision).collect::<Vec<_>>(), vec![2, 3, 4]);
    wait_synced(&s.hub).await;
    assert!(s.hub.stream_synced(stream));
    let mut ids = s.hub.progress_watchers(stream);
    ids.sort();
    assert_eq!(ids, vec![1, 2]);
}

// ---- the reference model -------------------------------------------------------------------

type Snapshot = BTreeMap<Vec<u8>, KeyValue>;

const KEYS: &[&str] = &["a", "ab", "b", "ba", "c"];
const VALUES: &[&str] = &["v", "w", "a longer value, so that fragments happen"];

/// The store as one snapshot per revision plus the events of each revision (as in
/// `mvcc_model.rs`, without leases and reads).
struct Model {
    /// `revs[r]`: the key space at revision `r`; an empty store is at revision 1.
    revs: Vec<Snapshot>,
    /// `events[r]`: the events of revision `r`, each with the value it replaced as `prev_kv`.
    events: Vec<Vec<Event>>,
    compacted: i64,
    compactions: Vec<i64>,
}

impl Model {
    fn new() -> Self {
        Self {
            revs: vec![Snapshot::new(), Snapshot::new()],
            events: vec![Vec::new(), Vec::new()],
            compacted: 0,
            compactions: Vec::new(),
        }
    }

    fn current(&self) -> i64 {
        self.revs.len() as i64 - 1
    }

    fn at(&self, rev: i64) -> &Snapshot {
        &self.revs[rev as usize]
    }

    /// Whether the value written at `kv.mod_revision` is still stored after the last
    /// compaction: a replay may only show a `prev_kv` that is.
    fn still_stored(&self, kv: &KeyValue) -> bool {
        kv.mod_revision >= self.compacted
            || self
                .at(self.compacted)
                .get(&kv.key)
                .is_some_and(|at| at.mod_revision == kv.mod_revision)
    }

    /// The command for `write` against the model's current state, applied to the model;
    /// `None` when it would be refused (a compaction with nothing left to compact).
    fn command(&mut self, write: &Write) -> Option<Command> {
        let main = self.current() + 1;
        let mut work = self.at(self.current()).clone();
        let mut events = Vec::new();
        let command = match write {
            Write::Put(key, value) => {
                model_put(&mut work, &mut events, main, KEYS[*key], VALUES[*value]);
                put(KEYS[*key], VALUES[*value])
            }
            Write::Delete(keys) => {
                let (key, range_end) = keys.resolve();
                model_delete(
                    &mut work,
                    &mut events,
                    main,
                    &KeyRange::new(&key, &range_end),
                );
                delete(&key, &range_end)
            }
            Write::Txn {
                key,
                value,
                success,
                failure,
            } => {
                let holds = work
                    .get(KEYS[*key].as_bytes())
                    .is_some_and(|kv| kv.value == VALUES[*value].as_bytes());
                let success = distinct(success);
                let failure = distinct(failure);
                for op in if holds { &success } else { &failure } {
                    match *op {
                        TxnOp::Put(k, v) => {
                            model_put(&mut work, &mut events, main, KEYS[k], VALUES[v])
                        }
                        TxnOp::Delete(k) => {
                            let range = KeyRange::new(KEYS[k].as_bytes(), b"");
                            model_delete(&mut work, &mut events, main, &range);
                        }
                    }
                }
                let compare = Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Value as i32,
                    key: KEYS[*key].into(),
                    range_end: Vec::new(),
                    target_union: Some(TargetUnion::Value(VALUES[*value].into())),
                };
                let ops = |ops: &[TxnOp]| -> Vec<RequestOp> {
                    ops.iter()
                        .map(|op| match *op {
                            TxnOp::Put(k, v) => put_op(KEYS[k], VALUES[v]),
                            TxnOp::Delete(k) => delete_op(KEYS[k]),
                        })
                        .collect()
                };
                txn(vec![compare], ops(&success), ops(&failure))
            }
            Write::Compact(sel) => {
                let current = self.current();
                if current <= self.compacted {
                    return None;
                }
                let at = self.compacted + 1 + i64::from(*sel) % (current - self.compacted);
                self.compacted = at;
                self.compactions.push(at);
                return Some(compact(at));
            }
        };
        if !events.is_empty() {
            self.revs.push(work);
            self.events.push(events);
        }
        Some(command)
    }

    /// The events of revisions `from..=to`.
    fn events_between(&self, from: i64, to: i64) -> Vec<Event> {
        (from.max(0)..=to)
            .flat_map(|rev| self.events[rev as usize].iter().cloned())
            .collect()
    }
}

/// A txn's ops, one per key (etcd refuses a txn that writes a key twice).
fn distinct(ops: &[TxnOp]) -> Vec<TxnOp> {
    let mut seen = Vec::new();
    ops.iter()
        .filter(|op| {
            let key = match op {
                TxnOp::Put(k, _) | TxnOp::Delete(k) => *k,
            };
            let new = !seen.contains(&key);
            seen.push(key);
            new
        })
        .cloned()
        .collect()
}

fn model_put(work: &mut Snapshot, events: &mut Vec<Event>, main: i64, key: &str, value: &str) {
    let prev = work.get(key.as_bytes()).cloned();
    let kv = KeyValue {
        key: key.into(),
        create_revision: prev.as_ref().map_or(main, |p| p.create_revision),
        mod_revision: main,
        version: prev.as_ref().map_or(1, |p| p.version + 1),
        value: value.into(),
        lease: 0,
    };
    work.insert(key.into(), kv.clone());
    events.push(Event {
        r#type: EventType::Put as i32,
        kv: Some(kv),
        prev_kv: prev,
    });
}

fn model_delete(work: &mut Snapshot, events: &mut Vec<Event>, main: i64, range: &KeyRange) {
    let doomed: Vec<KeyValue> = work
        .values()
        .filter(|kv| range.contains(&kv.key))
        .cloned()
        .collect();
    for prev in doomed {
        work.remove(&prev.key);
        events.push(Event {
            r#type: EventType::Delete as i32,
            kv: Some(KeyValue {
                key: prev.key.clone(),
                mod_revision: main,
                ..Default::default()
            }),
            prev_kv: Some(prev),
        });
    }
}

// ---- generated operations ------------------------------------------------------------------

#[derive(Clone, Debug)]
enum KeySel {
    One(usize),
    Prefix(usize),
    From(usize),
    Between(usize, usize),
    All,
}

impl KeySel {
    fn resolve(&self) -> (Vec<u8>, Vec<u8>) {
        match *self {
            Self::One(k) => (KEYS[k].into(), Vec::new()),
            Self::Prefix(k) => {
                let mut end = KEYS[k].as_bytes().to_vec();
                *end.last_mut().expect("non-empty key") += 1;
                (KEYS[k].into(), end)
            }
            Self::From(k) => (KEYS[k].into(), vec![0]),
            Self::Between(a, b) => (KEYS[a].into(), KEYS[b].into()),
            Self::All => (vec![0], vec![0]),
        }
    }
}

fn key_sel() -> impl Strategy<Value = KeySel> {
    let n = KEYS.len();
    prop_oneof![
        3 => (0..n).prop_map(KeySel::One),
        2 => (0..n).prop_map(KeySel::Prefix),
        1 => (0..n).prop_map(KeySel::From),
        1 => (0..n, 0..n).prop_map(|(a, b)| KeySel::Between(a.min(b), a.max(b))),
        1 => Just(KeySel::All),
    ]
}

#[derive(Clone, Debug)]
enum TxnOp {
    Put(usize, usize),
    Delete(usize),
}

#[derive(Clone, Debug)]
enum Write {
    Put(usize, usize),
    Delete(KeySel),
    /// If `KEYS[key]` has `VALUES[value]` then `success` else `failure`.
    Txn {
        key: usize,
        value: usize,
        success: Vec<TxnOp>,
        failure: Vec<TxnOp>,
    },
    /// Compacts somewhere above the last compaction, up to the current revision.
    Compact(u8),
}

fn write() -> impl Strategy<Value = Write> {
    let (n, v) = (KEYS.len(), VALUES.len());
    let txn_op = prop_oneof![
        3 => (0..n, 0..v).prop_map(|(k, v)| TxnOp::Put(k, v)),
        1 => (0..n).prop_map(TxnOp::Delete),
    ];
    let ops = prop::collection::vec(txn_op, 0..4);
    let delete = prop_oneof![3 => (0..n).prop_map(KeySel::One), 1 => key_sel()];
    prop_oneof![
        12 => (0..n, 0..v).prop_map(|(k, v)| Write::Put(k, v)),
        3 => delete.prop_map(Write::Delete),
        4 => (0..n, 0..v, ops.clone(), ops).prop_map(|(key, value, success, failure)| {
            Write::Txn { key, value, success, failure }
        }),
        1 => any::<u8>().prop_map(Write::Compact),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Start {
    /// 0: from the next revision.
    Now,
    /// A revision not compacted, up to the current one.
    Past(u8),
    /// Below the compaction (a past one when nothing is compacted yet).
    Compacted(u8),
    /// After the current revision.
    Future(u8),
}

#[derive(Clone, Debug)]
struct WatchGen {
    keys: KeySel,
    start: Start,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    fragment: bool,
    /// Share an open stream (chosen by this) instead of opening one.
    stream: Option<u8>,
    /// The channel capacity of a new stream.
    capacity: usize,
}

fn watch_gen() -> impl Strategy<Value = WatchGen> {
    let start = prop_oneof![
        3 => Just(Start::Now),
        4 => any::<u8>().prop_map(Start::Past),
        1 => any::<u8>().prop_map(Start::Compacted),
        1 => any::<u8>().prop_map(Start::Future),
    ];
    (
        key_sel(),
        start,
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::option::weighted(0.3, any::<u8>()),
        1usize..=8,
    )
        .prop_map(
            |(keys, start, prev_kv, no_put, no_delete, fragment, stream, capacity)| WatchGen {
                keys,
                start,
                prev_kv,
                no_put,
                no_delete,
                fragment,
                stream,
                capacity,
            },
        )
}

#[derive(Clone, Debug)]
enum Step {
    /// Writes applied in one batch, then notified.
    Batch(Vec<Write>),
    Watch(WatchGen),
    /// Reads up to `max` responses (0: all there are) from a stream.
    Drain {
        stream: u8,
        max: u8,
    },
    /// Cancels a watcher.
    Cancel(u8),
    /// Closes a stream.
    Close(u8),
    /// Lets the replay tasks run a little.
    Pause,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        24 => prop::collection::vec(write(), 1..4).prop_map(Step::Batch),
        10 => watch_gen().prop_map(Step::Watch),
        12 => (any::<u8>(), 0u8..4).prop_map(|(stream, max)| Step::Drain { stream, max }),
        2 => any::<u8>().prop_map(Step::Cancel),
        1 => any::<u8>().prop_map(Step::Close),
        2 => Just(Step::Pause),
    ]
}

fn watch_config() -> impl Strategy<Value = WatchConfig> {
    (
        1usize..5,
        prop_oneof![1 => Just(1572864usize), 2 => 16usize..80],
    )
        .prop_map(|(catch_up_batch, max_response_bytes)| WatchConfig {
            catch_up_batch,
            max_response_bytes,
        })
}

// ---- the property test ---------------------------------------------------------------------

struct Stream {
    id: u64,
    sender: StreamSender,
    receiver: Receiver,
    closed: bool,
}

#[derive(Debug)]
struct Watched {
    stream: usize,
    spec: WatchSpec,
    /// The first revision it must see.
    start: i64,
    /// Its start was compacted when it was created.
    compacted_start: bool,
    /// Cancelled, or its stream closed, by the test: it may stop anywhere.
    stopped: bool,
    /// What `cancel` answered, when the test cancelled it.
    cancel_answer: Option<bool>,
    responses: Vec<WatchResponse>,
}

impl Watched {
    /// The model's events for it: its range and filters, from its start on.
    fn expected(&self, model: &Model) -> Vec<Event> {
        let events = model.events_between(self.start, model.current());
        wanted(&self.spec, self.start, &events)
    }
}

struct Run {
    store: Store,
    model: Model,
    streams: Vec<Stream>,
    watched: Vec<Watched>,
    /// Watcher index by watch id (ids are unique across streams here).
    by_id: HashMap<i64, usize>,
}

impl Run {
    fn drain(&mut self, stream: usize, max: usize) {
        let mut read = 0;
        while max == 0 || read < max {
            let Ok(response) = self.streams[stream].receiver.try_recv() else {
                break;
            };
            read += 1;
            let response = decode(&response);
            let index = *self
                .by_id
                .get(&response.watch_id)
                .unwrap_or_else(|| panic!("a response for an unknown watcher: {response:?}"));
            assert_eq!(
                self.watched[index].stream, stream,
                "a response on another watcher's stream"
            );
            self.watched[index].responses.push(response);
        }
    }

    fn drain_all(&mut self) {
        for stream in 0..self.streams.len() {
            self.drain(stream, 0);
        }
    }

    fn batch(&mut self, writes: &[Write]) {
        let before = self.model.current();
        let commands: Vec<Command> = writes
            .iter()
            .filter_map(|write| self.model.command(write))
            .collect();
        if commands.is_empty() {
            return;
        }
        let applied = self.store.commit(&commands);
        assert_eq!(
            applied.events,
            self.model.events_between(before + 1, self.model.current()),
            "the store's events differ from the model's for {writes:?}"
        );
        assert_eq!(applied.revision, self.model.current());
        self.store.hub.notify(&applied);
        assert_eq!(self.store.hub.notified_revision(), applied.revision);
    }

    fn watch(&mut self, watch: &WatchGen) {
        let open: Vec<usize> = (0..self.streams.len())
            .filter(|&s| !self.streams[s].closed)
            .collect();
        let stream = match watch.stream {
            Some(sel) if !open.is_empty() => open[usize::from(sel) % open.len()],
            _ => {
                let (id, sender, receiver) = self.store.stream(watch.capacity);
                self.streams.push(Stream {
                    id,
                    sender,
                    receiver,
                    closed: false,
                });
                self.streams.len() - 1
            }
        };
        let current = self.model.current();
        let compacted = self.model.compacted;
        let past = |sel: u8| {
            let lowest = compacted.max(1);
            lowest + i64::from(sel) % (current - lowest + 1)
        };
        let (argument, start, compacted_start) = match watch.start {
            Start::Now => (0, current + 1, false),
            Start::Past(sel) => (past(sel), past(sel), false),
            Start::Compacted(sel) if compacted > 1 => {
                let at = 1 + i64::from(sel) % (compacted - 1);
                (at, at, true)
            }
            Start::Compacted(sel) => (past(sel), past(sel), false),
            Start::Future(sel) => {
                let at = current + 1 + i64::from(sel % 3);
                (at, at, false)
            }
        };
        let watch_id = self.watched.len() as i64 + 1;
        let (key, range_end) = watch.keys.resolve();
        let spec = WatchSpec {
            watch_id,
            range: KeyRange::new(&key, &range_end),
            prev_kv: watch.prev_kv,
            no_put: watch.no_put,
            no_delete: watch.no_delete,
            progress_notify: false,
            fragment: watch.fragment,
        };
        let sender = self.streams[stream].sender.clone();
        self.store
            .hub
            .watch(self.streams[stream].id, spec.clone(), argument, sender);
        // (One from a compacted revision may be gone already.)
        assert!(compacted_start || self.store.hub.exists(self.streams[stream].id, watch_id));
        self.by_id.insert(watch_id, self.watched.len());
        self.watched.push(Watched {
            stream,
            spec,
            start,
            compacted_start,
            stopped: false,
            cancel_answer: None,
            responses: Vec::new(),
        });
    }

    fn cancel(&mut self, sel: u8) {
        let live: Vec<usize> = (0..self.watched.len())
            .filter(|&w| !self.watched[w].stopped)
            .collect();
        if live.is_empty() {
            return;
        }
        let watched = &mut self.watched[live[usize::from(sel) % live.len()]];
        let stream = self.streams[watched.stream].id;
        let answer = self.store.hub.cancel(stream, watched.spec.watch_id);
        assert!(!self.store.hub.exists(stream, watched.spec.watch_id));
        watched.stopped = true;
        watched.cancel_answer = Some(answer);
    }

    fn close(&mut self, sel: u8) {
        let open: Vec<usize> = (0..self.streams.len())
            .filter(|&s| !self.streams[s].closed)
            .collect();
        if open.is_empty() {
            return;
        }
        let stream = open[usize::from(sel) % open.len()];
        self.store.hub.close_stream(self.streams[stream].id);
        self.streams[stream].closed = true;
        for watched in self.watched.iter_mut().filter(|w| w.stream == stream) {
            assert!(
                !self
                    .store
                    .hub
                    .exists(self.streams[stream].id, watched.spec.watch_id)
            );
            watched.stopped = true;
        }
    }

    /// Drains every stream until no watcher is replaying any more (or `WAIT` passed), then
    /// once more. Enough: live batches are queued by `notify` itself, and a replay queues all
    /// it sends (a compaction cancel included) before it leaves the unsynced group.
    fn settle(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain_all();
            if self.store.hub.counts().1 == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.drain_all();
    }

    fn check(&self, watched: &Watched) {
        let model = &self.model;
        let spec = &watched.spec;
        let what = format!(
            "watcher {} on {:?} from {} (prev_kv {}, no_put {}, no_delete {}, fragment {}, \
             compacted start {}, stopped {})",
            spec.watch_id,
            spec.range,
            watched.start,
            spec.prev_kv,
            spec.no_put,
            spec.no_delete,
            spec.fragment,
            watched.compacted_start,
            watched.stopped
        );
        let responses = &watched.responses;
        // Fragments joined into the responses a client sees.
        let mut whole: Vec<Vec<Event>> = Vec::new();
        let mut pending: Vec<Event> = Vec::new();
        for (i, response) in responses.iter().enumerate() {
            assert_eq!(response.watch_id, spec.watch_id, "{what}");
            assert!(!response.created, "{what}: the hub never sends `created`");
            if response.canceled {
                assert_eq!(
                    i + 1,
                    responses.len(),
                    "{what}: a response after the cancel"
                );
                assert!(response.events.is_empty() && !response.fragment, "{what}");
                assert_eq!(response.cancel_reason, COMPACTED, "{what}");
                assert!(
                    model.compactions.contains(&response.compact_revision),
                    "{what}: compact_revision {} is no compaction of {:?}",
                    response.compact_revision,
                    model.compactions
                );
                continue;
            }
            assert!(
                !response.fragment || spec.fragment,
                "{what}: fragment not asked for"
            );
            let header = response.header.expect("a header").revision;
            for event in &response.events {
                assert!(
                    revision(event) <= header,
                    "{what}: an event after its header"
                );
            }
            pending.extend(response.events.iter().cloned());
            if !response.fragment {
                whole.push(std::mem::take(&mut pending));
            }
        }
        assert!(
            pending.is_empty() || watched.stopped,
            "{what}: its last fragments never came"
        );
        // Each revision in one response.
        let mut response_of: HashMap<i64, usize> = HashMap::new();
        for (i, events) in whole.iter().enumerate() {
            for event in events {
                let previous = response_of.insert(revision(event), i);
                assert!(
                    previous.is_none_or(|p| p == i),
                    "{what}: revision {} split over responses",
                    revision(event)
                );
            }
        }
        let got: Vec<Event> = whole.into_iter().flatten().chain(pending).collect();
        if watched.compacted_start {
            // Only a cancel (none at all when the test cancelled it first).
            let cancels = if watched.stopped { 0..=1 } else { 1..=1 };
            assert!(
                cancels.contains(&responses.len()),
                "{what}: only a cancel, got {responses:?}"
            );
            for response in responses {
                assert!(response.canceled, "{what}: not cancelled");
                assert!(
                    response.compact_revision > watched.start,
                    "{what}: compact_revision {}",
                    response.compact_revision
                );
            }
            return;
        }
        let want = watched.expected(model);
        let mismatch = format!("{what}:\n got  {:?}\n want {:?}", brief(&got), brief(&want));
        assert!(
            got.len() <= want.len(),
            "more events than the model's: {mismatch}"
        );
        for (got, want) in got.iter().zip(&want) {
            // A replay cannot show a previous value that compaction removed.
            let same = got == want
                || (got.r#type == want.r#type
                    && got.kv == want.kv
                    && got.prev_kv.is_none()
                    && want
                        .prev_kv
                        .as_ref()
                        .is_some_and(|p| !model.still_stored(p)));
            assert!(same, "got {got:?}, want {want:?}: {mismatch}");
        }
        if let Some(cancel) = responses.last().filter(|r| r.canceled) {
            // Fell behind and its next revision was compacted meanwhile.
            let next = watched.start.max(got.last().map_or(0, |e| revision(e) + 1));
            assert!(
                cancel.compact_revision > next,
                "{what}: cancelled with compact_revision {} though it was at {next}",
                cancel.compact_revision
            );
        } else {
            assert_ne!(
                watched.cancel_answer,
                Some(false),
                "{what}: cancel found no watcher, yet the hub never cancelled it"
            );
            if !watched.stopped {
                assert_eq!(got.len(), want.len(), "missing events: {mismatch}");
            }
        }
    }
}

fn run(config: WatchConfig, steps: &[Step]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let _enter = runtime.enter();
    let mut run = Run {
        store: Store::new(config),
        model: Model::new(),
        streams: Vec::new(),
        watched: Vec::new(),
        by_id: HashMap::new(),
    };
    for step in steps {
        match step {
            Step::Batch(writes) => run.batch(writes),
            Step::Watch(watch) => run.watch(watch),
            Step::Drain { stream, max } if !run.streams.is_empty() => {
                let stream = usize::from(*stream) % run.streams.len();
                run.drain(stream, usize::from(*max));
            }
            Step::Drain { .. } => {}
            Step::Cancel(sel) => run.cancel(*sel),
            Step::Close(sel) => run.close(*sel),
            Step::Pause => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    run.settle();
    for watched in &run.watched {
        run.check(watched);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })]

    /// Random writes and random watchers with random start revisions: every watcher sees
    /// exactly the model's event sequence.
    #[test]
    fn watchers_see_the_model_events(
        config in watch_config(),
        steps in prop::collection::vec(step(), 1..80),
    ) {
        run(config, &steps);
    }
}
