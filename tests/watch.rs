//! End-to-end watch tests against real clusters: the stream protocol over raw gRPC (created
//! first, replay, filters, prev_kv, progress, cancel, compaction), and a watch that spans a
//! leader SIGKILL: the client resumes on another member from its last revision + 1 and sees
//! every event exactly once, in order.

mod support;

use std::time::Duration;

use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_create_request::FilterType;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::{
    CompactionRequest, WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest,
    WatchResponse,
};
use keel_proto::mvccpb::event::EventType;
use support::{Cluster, Member, wait_for};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

struct Watch {
    requests: mpsc::Sender<WatchRequest>,
    responses: tonic::Streaming<WatchResponse>,
}

impl Watch {
    async fn open(member: &Member) -> Result<Watch, tonic::Status> {
        let mut client = WatchClient::connect(member.client_url.clone())
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let (requests, receiver) = mpsc::channel(16);
        let responses = client
            .watch(ReceiverStream::new(receiver))
            .await?
            .into_inner();
        Ok(Watch {
            requests,
            responses,
        })
    }

    async fn send(&self, request: RequestUnion) {
        self.requests
            .send(WatchRequest {
                request_union: Some(request),
            })
            .await
            .expect("send watch request");
    }

    async fn create(&self, create: WatchCreateRequest) {
        self.send(RequestUnion::CreateRequest(create)).await;
    }

    async fn next(&mut self) -> WatchResponse {
        tokio::time::timeout(Duration::from_secs(10), self.responses.message())
            .await
            .expect("a watch response within 10s")
            .expect("stream ok")
            .expect("stream open")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_protocol_matches_etcd() {
    let cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    let member = &cluster.members[0];
    let r1 = member.put("p/a", "1").await.expect("put");
    member.put("p/b", "2").await.expect("put");
    member.put("p/a", "3").await.expect("put");
    member.put("other", "x").await.expect("put");

    let mut watch = Watch::open(member).await.expect("open");
    let (key, range_end) = support::prefix_range("p/");
    // Replay from the first revision with prev_kv; NODELETE filter.
    watch
        .create(WatchCreateRequest {
            key: key.clone(),
            range_end: range_end.clone(),
            start_revision: r1,
            prev_kv: true,
            filters: vec![FilterType::Nodelete as i32],
            ..Default::default()
        })
        .await;
    let created = watch.next().await;
    assert!(created.created && !created.canceled, "{created:?}");
    assert_eq!(
        created.watch_id, 0,
        "server-assigned ids start at 0 as in etcd"
    );
    let mut replayed = Vec::new();
    while replayed.len() < 3 {
        let response = watch.next().await;
        assert_eq!(response.watch_id, 0);
        replayed.extend(response.events);
    }
    let values: Vec<(String, String, Option<String>)> = replayed
        .iter()
        .map(|e| {
            let kv = e.kv.clone().unwrap_or_default();
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
                e.prev_kv
                    .as_ref()
                    .map(|p| String::from_utf8_lossy(&p.value).into_owned()),
            )
        })
        .collect();
    assert_eq!(
        values,
        vec![
            ("p/a".into(), "1".into(), None),
            ("p/b".into(), "2".into(), None),
            ("p/a".into(), "3".into(), Some("1".into())),
        ]
    );

    // Live events follow without a gap; the delete is filtered out, the next put is not.
    let mut kv = member.kv().await.expect("kv");
    kv.delete_range(keel_proto::etcdserverpb::DeleteRangeRequest {
        key: b"p/b".to_vec(),
        ..Default::default()
    })
    .await
    .expect("delete");
    let r_put = member.put("p/c", "4").await.expect("put");
    let live = watch.next().await;
    assert_eq!(live.events.len(), 1, "{live:?}");
    assert_eq!(live.events[0].r#type, EventType::Put as i32);
    assert_eq!(
        live.events[0].kv.as_ref().map(|kv| kv.mod_revision),
        Some(r_put)
    );

    // A client-chosen id, then a progress request (all watchers synced: watch_id -1).
    watch
        .create(WatchCreateRequest {
            key: b"p/z".to_vec(),
            watch_id: 42,
            ..Default::default()
        })
        .await;
    let created = watch.next().await;
    assert_eq!((created.watch_id, created.created), (42, true));
    watch
        .send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
        .await;
    let progress = watch.next().await;
    assert_eq!(progress.watch_id, -1);
    assert_eq!(progress.header.map(|h| h.revision), Some(r_put));

    // Cancel.
    watch
        .send(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 42,
        }))
        .await;
    let canceled = watch.next().await;
    assert_eq!((canceled.watch_id, canceled.canceled), (42, true));

    // A watcher from a compacted revision is cancelled with the compact revision.
    kv.compact(CompactionRequest {
        revision: r_put,
        physical: true,
    })
    .await
    .expect("compact");
    watch
        .create(WatchCreateRequest {
            key: key.clone(),
            range_end: range_end.clone(),
            start_revision: r1,
            ..Default::default()
        })
        .await;
    let created = watch.next().await;
    assert!(created.created);
    let canceled = watch.next().await;
    assert!(canceled.canceled, "{canceled:?}");
    assert_eq!(canceled.compact_revision, r_put);
    assert_eq!(
        canceled.cancel_reason,
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(
        canceled.header.map(|h| h.revision),
        Some(0),
        "as etcd: no revision"
    );

    // An inverted range is refused as etcd refuses it.
    watch
        .create(WatchCreateRequest {
            key: b"b".to_vec(),
            range_end: b"a".to_vec(),
            ..Default::default()
        })
        .await;
    let refused = watch.next().await;
    assert_eq!(
        (refused.watch_id, refused.created, refused.canceled),
        (-1, true, true)
    );
    assert_eq!(refused.cancel_reason, "mvcc: watcher range is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_spanning_a_leader_sigkill_sees_every_event_exactly_once() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let (key, range_end) = support::prefix_range("w/");
    let start = cluster.members[leader]
        .put("w/start", "0")
        .await
        .expect("put");

    // The watcher is attached to the leader, which is about to die.
    let mut watch = Watch::open(&cluster.members[leader]).await.expect("open");
    watch
        .create(WatchCreateRequest {
            key: key.clone(),
            range_end: range_end.clone(),
            start_revision: start,
            ..Default::default()
        })
        .await;
    assert!(watch.next().await.created);

    // Writes through the followers; the leader is killed after a third of them.
    let total = 60;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let mut written = vec![start];
    for i in 0..total {
        if i == total / 3 {
            cluster.members[leader].kill();
        }
        let via = &cluster.members[followers[i % 2]];
        let revision = wait_for(Duration::from_secs(20), "an acknowledged write", || async {
            via.put(&format!("w/{i:03}"), &i.to_string()).await.ok()
        })
        .await;
        written.push(revision);
    }

    // Read what the first stream delivered until it broke, then resume elsewhere.
    let mut seen: Vec<i64> = Vec::new();
    while let Ok(Ok(Some(response))) =
        tokio::time::timeout(Duration::from_secs(5), watch.responses.message()).await
    {
        seen.extend(
            response
                .events
                .iter()
                .filter_map(|e| e.kv.as_ref().map(|kv| kv.mod_revision)),
        );
    }
    let resume_from = seen.last().map_or(start, |r| r + 1);
    let mut watch = Watch::open(&cluster.members[followers[0]])
        .await
        .expect("reopen");
    watch
        .create(WatchCreateRequest {
            key,
            range_end,
            start_revision: resume_from,
            ..Default::default()
        })
        .await;
    assert!(watch.next().await.created);
    while seen.len() < written.len() {
        let response = watch.next().await;
        seen.extend(
            response
                .events
                .iter()
                .filter_map(|e| e.kv.as_ref().map(|kv| kv.mod_revision)),
        );
    }
    assert_eq!(seen, written, "every write exactly once, in revision order");
}
