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

/// A raw HTTP/2 connection to `member`'s client port, its driver running on a task that
/// returns how the connection ended.
async fn raw_http2(
    member: &support::Member,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    h2::PingPong,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let addr = member.client_url.trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (send, mut connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    let pings = connection.ping_pong().expect("ping_pong");
    (send, pings, tokio::spawn(connection))
}

/// Sends a PING and waits for its PONG.
async fn ping(pings: &mut h2::PingPong) -> Result<(), h2::Error> {
    pings.ping(h2::Ping::opaque()).await.map(|_pong| ())
}

/// Pings back to back until the member sends the connection away; how it ended.
async fn pinged_away(
    pings: &mut h2::PingPong,
    connection: tokio::task::JoinHandle<Result<(), h2::Error>>,
) -> h2::Error {
    for _ in 0..3 {
        ping(pings).await.expect("a pong before the GOAWAY");
    }
    // The ping that trips the policy may be answered or not: the GOAWAY can overtake it.
    let _ = ping(pings).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the member closes the connection")
        .expect("driver task");
    ended.expect_err("the connection ends with an error")
}

/// etcd's keepalive enforcement: with no stream open a client may not ping at all, and with
/// one open not more often than --grpc-keepalive-min-time; the third strike gets GOAWAY
/// ENHANCE_YOUR_CALM ("too_many_pings") and the connection closes. Everyone else is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_ping_too_often_are_sent_away() {
    let cluster = Cluster::start(1, &["--grpc-keepalive-min-time", "300ms"]);
    cluster.leader().await;
    let member = &cluster.members[0];

    // Idle: the fourth ping ends the connection.
    let (_send, mut pings, connection) = raw_http2(member).await;
    let err = pinged_away(&mut pings, connection).await;
    assert!(err.is_go_away() && err.is_remote(), "{err:?}");
    assert_eq!(err.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{err:?}");
    assert!(
        member
            .log()
            .contains("client pinged more often than --grpc-keepalive-min-time")
    );

    // A stream open (a watch): pings at twice the minimum time are fine, back-to-back ones
    // are not.
    let (send, mut pings, connection) = raw_http2(member).await;
    let mut send = send.ready().await.expect("ready");
    let watch = http::Request::post(format!("{}/etcdserverpb.Watch/Watch", member.client_url))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request");
    let (_response, _request_body) = send.send_request(watch, false).expect("open a stream");
    for _ in 0..6 {
        ping(&mut pings)
            .await
            .expect("pings at twice the minimum time are answered");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(!connection.is_finished(), "the connection stays open");
    let err = pinged_away(&mut pings, connection).await;
    assert_eq!(err.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{err:?}");

    // The member still serves well-behaved clients.
    member.put("after", "pings").await.expect("put");
}
