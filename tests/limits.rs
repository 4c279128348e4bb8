//! End-to-end: the limits that protect a member, set low with their flags. Over a limit the
//! request gets etcd's "too many requests" (ResourceExhausted) or, for HTTP/2 streams, waits
//! for one to close; nothing else on the member is disturbed.

mod support;

use std::time::Duration;

use keel_proto::etcdserverpb::lease_client::LeaseClient;
use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::*;
use support::Cluster;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

fn create(key: &str) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: key.into(),
            ..Default::default()
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_per_stream_and_leases_are_capped_with_etcds_error() {
    let cluster = Cluster::start(1, &["--max-watchers-per-stream", "2", "--max-leases", "3"]);
    cluster.leader().await;
    let member = &cluster.members[0];

    // Watchers: the third on one stream is created and canceled; after a cancel there is room.
    let (requests, rx) = mpsc::channel(8);
    let mut responses = WatchClient::new(member.channel().await.unwrap())
        .watch(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut next = async || responses.message().await.unwrap().expect("a response");
    for key in ["a", "b"] {
        requests.send(create(key)).await.unwrap();
        let created = next().await;
        assert!(created.created && !created.canceled, "{created:?}");
    }
    requests.send(create("c")).await.unwrap();
    let refused = next().await;
    assert!(refused.created && refused.canceled, "{refused:?}");
    assert_eq!(refused.cancel_reason, "etcdserver: too many requests");
    requests
        .send(WatchRequest {
            request_union: Some(RequestUnion::CancelRequest(WatchCancelRequest {
                watch_id: 0,
            })),
        })
        .await
        .unwrap();
    assert!(next().await.canceled);
    requests.send(create("c")).await.unwrap();
    let created = next().await;
    assert!(created.created && !created.canceled, "{created:?}");

    // Leases: the fourth grant is refused until one is revoked.
    let mut lease = LeaseClient::new(member.channel().await.unwrap());
    let grant = || LeaseGrantRequest {
        ttl: 60,
        ..Default::default()
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(lease.lease_grant(grant()).await.unwrap().into_inner().id);
    }
    let over = lease.lease_grant(grant()).await.unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted);
    assert_eq!(over.message(), "etcdserver: too many requests");
    lease
        .lease_revoke(LeaseRevokeRequest { id: ids[0] })
        .await
        .unwrap();
    lease.lease_grant(grant()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gets_no_more_streams_than_max_concurrent_streams() {
    let cluster = Cluster::start(1, &["--max-concurrent-streams", "2"]);
    cluster.leader().await;
    let member = &cluster.members[0];
    let channel = member.channel().await.unwrap();
    // Two long-lived watch streams take the connection's two streams.
    let mut open = Vec::new();
    for key in ["a", "b"] {
        let (requests, rx) = mpsc::channel(1);
        requests.send(create(key)).await.unwrap();
        let mut responses = WatchClient::new(channel.clone())
            .watch(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        assert!(responses.message().await.unwrap().unwrap().created);
        open.push((requests, responses));
    }
    // A third request on the same connection waits for a free stream...
    let mut kv = keel_proto::etcdserverpb::kv_client::KvClient::new(channel.clone());
    let range = || RangeRequest {
        key: b"a".to_vec(),
        ..Default::default()
    };
    let waited = tokio::time::timeout(Duration::from_millis(500), kv.range(range())).await;
    assert!(waited.is_err(), "a third stream was opened: {waited:?}");
    // ...while another connection is served, and it proceeds once a stream closes.
    let mut other = member.kv().await.unwrap();
    other.range(range()).await.unwrap();
    open.pop();
    tokio::time::timeout(Duration::from_secs(10), kv.range(range()))
        .await
        .expect("served once a stream closed")
        .unwrap();
}
