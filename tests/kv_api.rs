//! End-to-end: the KV API's limits and errors over real gRPC, with etcd's codes and strings,
//! and the response header every response carries.

mod support;

use keel_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use support::Cluster;
use tonic::Code;

fn put_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            ..Default::default()
        })),
    }
}

fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, message: &str) {
    match result {
        Ok(ok) => panic!("expected {code:?} {message:?}, got {ok:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            assert_eq!(status.message(), message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_errors_match_etcd() {
    let cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    let mut kv = cluster.members[0].kv().await.expect("connect");

    assert_status(
        kv.put(PutRequest::default()).await,
        Code::InvalidArgument,
        "etcdserver: key is not provided",
    );
    assert_status(
        kv.range(RangeRequest::default()).await,
        Code::InvalidArgument,
        "etcdserver: key is not provided",
    );
    assert_status(
        kv.delete_range(DeleteRangeRequest::default()).await,
        Code::InvalidArgument,
        "etcdserver: key is not provided",
    );
    let too_many = TxnRequest {
        success: (0..129).map(|i| put_op(&format!("k{i}"))).collect(),
        ..Default::default()
    };
    assert_status(
        kv.txn(too_many).await,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
    let duplicate = TxnRequest {
        success: vec![put_op("same"), put_op("same")],
        ..Default::default()
    };
    assert_status(
        kv.txn(duplicate).await,
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    );
    let large = PutRequest {
        key: b"big".to_vec(),
        value: vec![b'x'; 1572864],
        ..Default::default()
    };
    assert_status(
        kv.put(large).await,
        Code::InvalidArgument,
        "etcdserver: request is too large",
    );
    assert_status(
        kv.put(PutRequest {
            key: b"nokey".to_vec(),
            ignore_value: true,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "etcdserver: key not found",
    );
    assert_status(
        kv.put(PutRequest {
            key: b"leased".to_vec(),
            lease: 42,
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );

    // Nothing above changed anything: the store is still at its first revision.
    let before = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(before.count, 0);
    let start_revision = before.header.expect("header").revision;

    for i in 0..3 {
        kv.put(PutRequest {
            key: b"k".to_vec(),
            value: format!("v{i}").into_bytes(),
            ..Default::default()
        })
        .await
        .expect("put");
    }
    let current = start_revision + 3;
    kv.compact(CompactionRequest {
        revision: current - 1,
        physical: true,
    })
    .await
    .expect("compact");
    assert_status(
        kv.range(RangeRequest {
            key: b"k".to_vec(),
            revision: current - 2,
            ..Default::default()
        })
        .await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
    );
    assert_status(
        kv.range(RangeRequest {
            key: b"k".to_vec(),
            revision: current + 1,
            ..Default::default()
        })
        .await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
    );
    assert_status(
        kv.compact(CompactionRequest {
            revision: current - 1,
            physical: false,
        })
        .await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
    );
    let at_compaction = kv
        .range(RangeRequest {
            key: b"k".to_vec(),
            revision: current - 1,
            ..Default::default()
        })
        .await
        .expect("the compaction revision itself stays readable")
        .into_inner();
    assert_eq!(at_compaction.kvs[0].value, b"v1");

    // Extreme limits are no limit at all, never an overflow.
    for limit in [i64::MAX, -1] {
        let all = kv
            .range(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                limit,
                ..Default::default()
            })
            .await
            .expect("range with an extreme limit")
            .into_inner();
        assert_eq!((all.kvs.len(), all.more, all.count), (1, false, 1));
    }

    // A txn whose compare reads the value, over gRPC.
    let txn = kv
        .txn(TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Equal as i32,
                target: CompareTarget::Value as i32,
                key: b"k".to_vec(),
                target_union: Some(TargetUnion::Value(b"v2".to_vec())),
                range_end: vec![],
            }],
            success: vec![put_op("txn-ok")],
            failure: vec![put_op("txn-failed")],
        })
        .await
        .expect("txn")
        .into_inner();
    assert!(txn.succeeded);

    // Every response carries a complete header.
    let header = txn.header.expect("header");
    assert_ne!(header.cluster_id, 0);
    assert_ne!(header.member_id, 0);
    assert_ne!(header.raft_term, 0);
    assert_eq!(header.revision, current + 1);
}
