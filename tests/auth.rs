//! End-to-end auth on a 3-member cluster through the gRPC API (etcdctl's view of the same is
//! in tests/compat/etcdctl.sh): a token from one member works on every member; users, roles
//! and the switch survive a restart of the whole cluster; a lease revoke needs write access to
//! every key it would delete.

mod support;

use std::time::Duration;

use keel_proto::authpb::{Permission, permission};
use keel_proto::etcdserverpb::auth_client::AuthClient;
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::lease_client::LeaseClient;
use keel_proto::etcdserverpb::*;
use support::{Cluster, Member, wait_for};
use tonic::transport::Channel;
use tonic::{Code, Request};

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("token", token.parse().expect("ascii token"));
    request
}

async fn auth(member: &Member) -> AuthClient<Channel> {
    AuthClient::new(member.channel().await.expect("connect"))
}

async fn kv(member: &Member) -> KvClient<Channel> {
    KvClient::new(member.channel().await.expect("connect"))
}

async fn login(member: &Member, name: &str, password: &str) -> Result<String, tonic::Status> {
    Ok(auth(member)
        .await
        .authenticate(AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        })
        .await?
        .into_inner()
        .token)
}

/// Reads `app/x` on `member` with `token`.
async fn read_app_x(member: &Member, token: &str) -> Result<RangeResponse, tonic::Status> {
    let request = RangeRequest {
        key: b"app/x".to_vec(),
        ..Default::default()
    };
    Ok(kv(member)
        .await
        .range(with_token(request, token))
        .await?
        .into_inner())
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

/// root (root role) and alice (readwrite on the prefix `app/`), then auth on.
async fn set_up_users(member: &Member) {
    let mut admin = auth(member).await;
    admin
        .role_add(AuthRoleAddRequest { name: "dev".into() })
        .await
        .unwrap();
    admin
        .role_grant_permission(AuthRoleGrantPermissionRequest {
            name: "dev".into(),
            perm: Some(Permission {
                perm_type: permission::Type::Readwrite as i32,
                key: b"app/".to_vec(),
                range_end: b"app0".to_vec(),
            }),
        })
        .await
        .unwrap();
    for (name, password, role) in [("root", "rootpw", "root"), ("alice", "secret", "dev")] {
        admin
            .user_add(AuthUserAddRequest {
                name: name.into(),
                password: password.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        admin
            .user_grant_role(AuthUserGrantRoleRequest {
                user: name.into(),
                role: role.into(),
            })
            .await
            .unwrap();
    }
    admin.auth_enable(AuthEnableRequest {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_work_on_every_member_and_auth_survives_a_cluster_restart() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.leader().await;
    set_up_users(&cluster.members[0]).await;

    // A login on one member; its token is good on the others at once.
    let token = login(&cluster.members[1], "alice", "secret").await.unwrap();
    for member in &cluster.members {
        kv(member)
            .await
            .put(with_token(put("app/x", &member.name), &token))
            .await
            .unwrap_or_else(|e| panic!("alice's token on {}: {e}", member.name));
        let denied = kv(member)
            .await
            .put(with_token(put("other", "1"), &token))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(denied.message(), "etcdserver: permission denied");
    }
    let wrong = login(&cluster.members[2], "alice", "nope")
        .await
        .unwrap_err();
    assert_eq!(
        wrong.message(),
        "etcdserver: authentication failed, invalid user ID or password"
    );
    let anonymous = kv(&cluster.members[2])
        .await
        .range(RangeRequest {
            key: b"app/x".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.message(), "etcdserver: user name is empty");

    for member in &mut cluster.members {
        member.restart();
    }
    cluster.leader().await;
    // Users, roles and the switch are in the data. Tokens live in memory (a login whose entry
    // is re-applied from the log's tail at start comes back, as in etcd), so only an unknown
    // token is sure to be refused.
    let stale = wait_for(Duration::from_secs(10), "a member answering", || async {
        match read_app_x(&cluster.members[0], "not-a-token").await {
            Err(status) if status.code() == Code::Unavailable => None,
            other => Some(other),
        }
    })
    .await
    .unwrap_err();
    assert_eq!(stale.code(), Code::Unauthenticated);
    assert_eq!(stale.message(), "etcdserver: invalid auth token");
    let token = login(&cluster.members[0], "alice", "secret").await.unwrap();
    let read = read_app_x(&cluster.members[2], &token).await.unwrap();
    assert_eq!(read.kvs.len(), 1);
    let status = auth(&cluster.members[1])
        .await
        .auth_status(AuthStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_lease_needs_write_access_to_its_keys() {
    let cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    set_up_users(&cluster.members[0]).await;
    let member = &cluster.members[0];
    let root = login(member, "root", "rootpw").await.unwrap();
    let alice = login(member, "alice", "secret").await.unwrap();
    let mut lease = LeaseClient::new(member.channel().await.unwrap());
    let granted = lease
        .lease_grant(with_token(
            LeaseGrantRequest {
                ttl: 100,
                ..Default::default()
            },
            &alice,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut attached = put("app/a", "1");
    attached.lease = granted.id;
    kv(member)
        .await
        .put(with_token(attached, &alice))
        .await
        .unwrap();
    let mut outside = put("secret", "1");
    outside.lease = granted.id;
    kv(member)
        .await
        .put(with_token(outside, &root))
        .await
        .unwrap();

    let denied = lease
        .lease_revoke(with_token(LeaseRevokeRequest { id: granted.id }, &alice))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    lease
        .lease_revoke(with_token(LeaseRevokeRequest { id: granted.id }, &root))
        .await
        .unwrap();
    let bad = lease
        .lease_grant(with_token(
            LeaseGrantRequest {
                ttl: 100,
                ..Default::default()
            },
            "not-a-token",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.message(), "etcdserver: invalid auth token");
}
