//! End-to-end leases on real 3-member clusters (50 ms heartbeat, 500 ms election timeout, so
//! etcd's minimum TTL is ceil(1.5 * 500 ms) = 1 s): grant, attach keys, time-to-live with keys,
//! revoke (all keys gone in one revision on every member); expiry (never early, keys gone on
//! every member in the same revision); keepalive through a follower; a leader SIGKILLed
//! mid-TTL (the new leader resumes from the checkpointed TTL: not early, not much late); and
//! leases surviving member restarts.

mod support;

use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseLeasesRequest,
    LeaseRevokeRequest, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, RangeRequest,
};
use support::{Cluster, Member, wait_for};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// The test clusters' election timeout.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// etcd's minimum TTL for them: ceil((3 * 10 ticks / 2) * 50 ms) = ceil(0.75 s).
const MIN_TTL: i64 = 1;

/// The tests that measure expiry times run one at a time: on a small shared machine, several
/// clusters electing at once would blur the measurement.
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn grant(member: &Member, ttl: i64, id: i64) -> Result<LeaseGrantResponse, tonic::Status> {
    let mut client = member
        .lease()
        .await
        .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
    Ok(client
        .lease_grant(LeaseGrantRequest { ttl, id })
        .await?
        .into_inner())
}

async fn put(member: &Member, key: &str, lease: i64) -> Result<i64, tonic::Status> {
    member.put_with_lease(key, "v", lease).await
}

/// Every member dropped the keys no earlier than `earliest` and no later than `latest`; times are
/// printed relative to `kept_sent`, the last keepalive.
fn assert_expired_between(
    cluster: &Cluster,
    gone_at: &[Instant],
    kept_sent: Instant,
    earliest: Instant,
    latest: Instant,
) {
    for at in gone_at {
        eprintln!("expired {:?} after the last keepalive", *at - kept_sent);
        assert!(
            *at >= earliest,
            "expired early: {:?} after the last keepalive\n{}",
            *at - kept_sent,
            cluster.dump_logs()
        );
        assert!(
            *at <= latest,
            "expired late: {:?} after the last keepalive\n{}",
            *at - kept_sent,
            cluster.dump_logs()
        );
    }
}

async fn time_to_live(
    member: &Member,
    id: i64,
    keys: bool,
) -> Result<LeaseTimeToLiveResponse, tonic::Status> {
    let mut client = member
        .lease()
        .await
        .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
    Ok(client
        .lease_time_to_live(LeaseTimeToLiveRequest { id, keys })
        .await?
        .into_inner())
}

async fn lease_ids(member: &Member) -> Result<Vec<i64>, tonic::Status> {
    let mut client = member
        .lease()
        .await
        .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
    let response = client
        .lease_leases(LeaseLeasesRequest {})
        .await?
        .into_inner();
    Ok(response.leases.into_iter().map(|l| l.id).collect())
}

/// One keepalive on a fresh stream: the TTL answered.
async fn keep_alive_once(member: &Member, id: i64) -> Result<i64, tonic::Status> {
    let mut client = member
        .lease()
        .await
        .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
    let requests = tokio_stream::iter([LeaseKeepAliveRequest { id }]);
    let mut answers = client.lease_keep_alive(requests).await?.into_inner();
    let answer = answers
        .next()
        .await
        .ok_or_else(|| tonic::Status::unknown("keepalive stream ended without an answer"))??;
    assert_eq!(answer.id, id);
    Ok(answer.ttl)
}

/// (header revision, keys under `prefix`) read on this member only, at `revision` (0 = now).
async fn local_keys(
    member: &Member,
    prefix: &str,
    revision: i64,
) -> Result<(i64, Vec<String>), tonic::Status> {
    let mut kv = member
        .kv()
        .await
        .ok_or_else(|| tonic::Status::unavailable("cannot connect"))?;
    let (key, range_end) = support::prefix_range(prefix);
    let response = kv
        .range(RangeRequest {
            key,
            range_end,
            revision,
            serializable: true,
            keys_only: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok((
        response.header.map_or(0, |h| h.revision),
        response
            .kvs
            .into_iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect(),
    ))
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// Checks that on every running member the keys `gone` under `prefix` existed at revision
/// `revision - 1` and were all deleted by revision `revision`: one revision, the same
/// everywhere.
async fn assert_deleted_in_one_revision(
    cluster: &Cluster,
    prefix: &str,
    gone: &[&str],
    revision: i64,
) {
    for member in cluster.members.iter().filter(|m| m.is_running()) {
        let (_, before) = local_keys(member, prefix, revision - 1)
            .await
            .expect("range before the revoke");
        for key in gone {
            assert!(
                before.contains(&key.to_string()),
                "{}: {key} missing at revision {} ({before:?})",
                member.name,
                revision - 1
            );
        }
        let (_, after) = local_keys(member, prefix, revision)
            .await
            .expect("range at the revoke");
        for key in gone {
            assert!(
                !after.contains(&key.to_string()),
                "{}: {key} still there at revision {revision}",
                member.name
            );
        }
    }
}

/// Polls every running member until none shows any key under `prefix`; returns when each
/// member first showed none, and the revision the members converged on.
async fn wait_until_gone(
    cluster: &Cluster,
    prefix: &str,
    timeout: Duration,
) -> (Vec<Instant>, i64) {
    let running: Vec<&Member> = cluster.members.iter().filter(|m| m.is_running()).collect();
    let mut gone_at: Vec<Option<Instant>> = vec![None; running.len()];
    // A member counts as "gone" only once it had the keys: a follower that has not applied
    // the puts yet would otherwise look expired at once.
    let mut had_keys = vec![false; running.len()];
    let deadline = Instant::now() + timeout;
    while gone_at.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "keys under {prefix} never vanished everywhere\n{}",
            cluster.dump_logs()
        );
        for (i, member) in running.iter().enumerate() {
            if gone_at[i].is_some() {
                continue;
            }
            if let Ok((_, keys)) = local_keys(member, prefix, 0).await {
                if !keys.is_empty() {
                    had_keys[i] = true;
                } else if had_keys[i] {
                    gone_at[i] = Some(Instant::now());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut revisions = Vec::new();
    for member in &running {
        let (revision, _) = local_keys(member, prefix, 0).await.expect("range");
        revisions.push(revision);
    }
    assert!(
        revisions.windows(2).all(|w| w[0] == w[1]),
        "members disagree on the revision: {revisions:?}"
    );
    (gone_at.into_iter().flatten().collect(), revisions[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_attach_inspect_and_revoke_everywhere() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let f1 = &cluster.members[(leader + 1) % 3];
    let f2 = &cluster.members[(leader + 2) % 3];
    let leader = &cluster.members[leader];

    // ID 0: the server picks a positive id.
    let granted = grant(f1, 60, 0).await.expect("grant via a follower");
    let id = granted.id;
    assert!(id > 0, "generated id {id}");
    assert_eq!(granted.ttl, 60);
    assert!(granted.header.is_some());

    // A TTL below the minimum is raised to it; an explicit id is kept; a duplicate refused.
    let floored = grant(leader, 0, 0x1234).await.expect("grant with ttl 0");
    assert_eq!((floored.id, floored.ttl), (0x1234, MIN_TTL));
    grant(f2, 60, 0x4321).await.expect("grant with an id");
    let duplicate = grant(f1, 60, 0x4321).await.expect_err("duplicate id");
    assert_eq!(duplicate.code(), tonic::Code::FailedPrecondition);
    assert_eq!(duplicate.message(), "etcdserver: lease already exists");
    let too_long = grant(f1, 9_000_000_001, 0)
        .await
        .expect_err("ttl too large");
    assert_eq!(too_long.code(), tonic::Code::OutOfRange);
    assert_eq!(too_long.message(), "etcdserver: too large lease TTL");

    put(f1, "l/a", id).await.expect("put with lease via f1");
    put(f2, "l/b", id).await.expect("put with lease via f2");
    put(leader, "l/c", 0).await.expect("put without lease");
    let unknown = put(f1, "l/x", 0x7777).await.expect_err("unknown lease");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert_eq!(unknown.message(), "etcdserver: requested lease not found");

    for member in &cluster.members {
        let ttl = time_to_live(member, id, true).await.expect("timetolive");
        assert_eq!(ttl.id, id);
        assert_eq!(ttl.granted_ttl, 60);
        assert!((55..=60).contains(&ttl.ttl), "remaining {}", ttl.ttl);
        assert_eq!(ttl.keys, vec![b"l/a".to_vec(), b"l/b".to_vec()]);
        assert!(ttl.header.is_some());
        let without_keys = time_to_live(member, id, false).await.expect("timetolive");
        assert!(without_keys.keys.is_empty());
        let ids = lease_ids(member).await.expect("leases");
        assert!(ids.contains(&id) && ids.contains(&0x4321), "{ids:?}");
    }

    let mut client = f2.lease().await.expect("lease client");
    let revoked = client
        .lease_revoke(LeaseRevokeRequest { id })
        .await
        .expect("revoke via a follower")
        .into_inner();
    let revision = revoked.header.expect("header").revision;
    for member in &cluster.members {
        wait_for(
            Duration::from_secs(5),
            "the revoke to be applied",
            || async {
                (local_keys(member, "l/", 0).await.ok()?.1 == strings(&["l/c"])).then_some(())
            },
        )
        .await;
    }
    assert_deleted_in_one_revision(&cluster, "l/", &["l/a", "l/b"], revision).await;

    for member in &cluster.members {
        let ttl = time_to_live(member, id, true).await.expect("timetolive");
        assert_eq!((ttl.id, ttl.ttl), (id, -1));
        assert_eq!(keep_alive_once(member, id).await.expect("keepalive"), 0);
        assert!(!lease_ids(member).await.expect("leases").contains(&id));
    }
    let again = client
        .lease_revoke(LeaseRevokeRequest { id })
        .await
        .expect_err("revoking twice");
    assert_eq!(again.code(), tonic::Code::NotFound);
    let reused = put(f1, "l/y", id)
        .await
        .expect_err("put with a revoked lease");
    assert_eq!(reused.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_vanishes_everywhere_in_one_revision() {
    let _timing = TIMING.lock().await;
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let follower = &cluster.members[(leader + 1) % 3];
    const TTL: i64 = 3;

    let sent = Instant::now();
    let granted = grant(follower, TTL, 0).await.expect("grant");
    let answered = Instant::now();
    assert_eq!(granted.ttl, TTL);
    put(follower, "e/1", granted.id).await.expect("put");
    put(&cluster.members[leader], "e/2", granted.id)
        .await
        .expect("put");
    let ttl = time_to_live(follower, granted.id, true).await.expect("ttl");
    assert!((1..=TTL).contains(&ttl.ttl), "remaining {}", ttl.ttl);

    let (gone_at, revision) = wait_until_gone(&cluster, "e/", Duration::from_secs(15)).await;
    let ttl = Duration::from_secs(TTL as u64);
    for at in &gone_at {
        eprintln!("expired {:?} after the grant", *at - sent);
        // Never early: not before TTL from the grant was sent...
        assert!(
            *at >= sent + ttl,
            "expired {:?} after the grant",
            *at - sent
        );
        // ...and on time: at worst one election (up to 4 election timeouts on a loaded
        // machine) plus the new leader's extension (one), plus polling.
        assert!(
            *at <= answered + ttl + 5 * ELECTION_TIMEOUT + Duration::from_secs(1),
            "expired only {:?} after the grant\n{}",
            *at - sent,
            cluster.dump_logs()
        );
    }
    assert_deleted_in_one_revision(&cluster, "e/", &["e/1", "e/2"], revision).await;
    for member in &cluster.members {
        assert_eq!(
            time_to_live(member, granted.id, false)
                .await
                .expect("ttl")
                .ttl,
            -1
        );
    }
    assert!(
        cluster.members[leader]
            .log()
            .contains("lease expired: revoked"),
        "the leader logs the revocation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_keeps_a_lease_alive_past_its_ttl() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let follower = &cluster.members[(leader + 1) % 3];
    const TTL: i64 = 2;

    let granted = grant(&cluster.members[leader], TTL, 0)
        .await
        .expect("grant");
    put(follower, "k/1", granted.id).await.expect("put");

    // One stream through a follower, a keepalive every 500 ms for 3 TTLs.
    let mut client = follower.lease().await.expect("lease client");
    let (requests, outbound) = tokio::sync::mpsc::channel(4);
    let mut answers = client
        .lease_keep_alive(ReceiverStream::new(outbound))
        .await
        .expect("keepalive stream")
        .into_inner();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3 * TTL as u64) {
        requests
            .send(LeaseKeepAliveRequest { id: granted.id })
            .await
            .expect("send keepalive");
        let answer = answers
            .next()
            .await
            .expect("an answer")
            .expect("keepalive ok");
        assert_eq!((answer.id, answer.ttl), (granted.id, TTL));
        assert!(answer.header.is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for member in &cluster.members {
        assert_eq!(
            local_keys(member, "k/", 0).await.expect("range").1,
            strings(&["k/1"]),
            "{} lost the key of a lease kept alive",
            member.name
        );
    }
    // Through the leader too, and an unknown lease answers TTL 0.
    let last_sent = Instant::now();
    assert_eq!(
        keep_alive_once(&cluster.members[leader], granted.id)
            .await
            .expect("keepalive via the leader"),
        TTL
    );
    assert_eq!(
        keep_alive_once(follower, 0x5555).await.expect("keepalive"),
        0
    );

    drop(requests);
    let (gone_at, _) = wait_until_gone(&cluster, "k/", Duration::from_secs(15)).await;
    for at in gone_at {
        assert!(
            at >= last_sent + Duration::from_secs(TTL as u64),
            "expired early"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_still_expires_on_time_after_the_leader_is_sigkilled() {
    let _timing = TIMING.lock().await;
    let checkpoint_interval = Duration::from_millis(500);
    let mut cluster = Cluster::start(3, &["--experimental-lease-checkpoint-interval", "500ms"]);
    let leader = cluster.leader().await;
    let f1 = (leader + 1) % 3;
    let f2 = (leader + 2) % 3;
    const TTL: u64 = 10;

    let granted = grant(&cluster.members[f1], TTL as i64, 0)
        .await
        .expect("grant");
    put(&cluster.members[f1], "s/1", granted.id)
        .await
        .expect("put");
    put(&cluster.members[f2], "s/2", granted.id)
        .await
        .expect("put");
    // Let checkpoints store a remaining TTL below the granted one.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The last keepalive: the lease must live TTL from it, whoever leads.
    let kept_sent = Instant::now();
    let ttl = keep_alive_once(&cluster.members[f2], granted.id)
        .await
        .expect("keepalive");
    let kept_answered = Instant::now();
    assert_eq!(ttl, TTL as i64);

    // Mid-TTL (several checkpoints later), the leader dies without a word.
    tokio::time::sleep(Duration::from_secs(TTL / 2)).await;
    cluster.members[leader].kill();
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);

    let (gone_at, revision) = wait_until_gone(&cluster, "s/", Duration::from_secs(30)).await;
    let ttl = Duration::from_secs(TTL);
    // Late by at most: noticing the dead leader and electing another (openraft waits a
    // random 1-2 election timeouts, and a split vote costs another round: 4 in all), the
    // checkpoint's age (one interval) and its rounding up to whole seconds, the new leader's
    // extension (one election timeout, in the bound itself), and polling.
    let margin = 4 * ELECTION_TIMEOUT
        + checkpoint_interval
        + Duration::from_secs(1)
        + Duration::from_millis(500);
    assert_expired_between(
        &cluster,
        &gone_at,
        kept_sent,
        kept_sent + ttl,
        kept_answered + ttl + ELECTION_TIMEOUT + margin,
    );
    assert_deleted_in_one_revision(&cluster, "s/", &["s/1", "s/2"], revision).await;
    assert!(
        cluster.members[new_leader]
            .log()
            .contains("lessor promoted"),
        "the new leader logs its promotion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_just_before_the_leader_dies_is_not_lost() {
    let _timing = TIMING.lock().await;
    let mut cluster = Cluster::start(3, &["--experimental-lease-checkpoint-interval", "500ms"]);
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    const TTL: u64 = 10;

    let granted = grant(&cluster.members[follower], TTL as i64, 0)
        .await
        .expect("grant");
    put(&cluster.members[follower], "p/1", granted.id)
        .await
        .expect("put");
    // Half the TTL: the checkpoints now say about 5 s remain.
    tokio::time::sleep(Duration::from_secs(TTL / 2)).await;
    let kept_sent = Instant::now();
    assert_eq!(
        keep_alive_once(&cluster.members[follower], granted.id)
            .await
            .expect("keepalive"),
        TTL as i64
    );
    let kept_answered = Instant::now();
    // Before a new checkpoint is taken (none is until a whole second has passed), the leader
    // dies: the new leader must resume from the full TTL, since the keepalive reset the
    // stored remaining TTL, not from the ~5 s checkpointed before it.
    cluster.members[leader].kill();

    let (gone_at, _) = wait_until_gone(&cluster, "p/", Duration::from_secs(30)).await;
    // Late by the election (up to 4 election timeouts, as above), the new leader's extension
    // (one) and polling.
    let latest =
        kept_answered + Duration::from_secs(TTL) + 5 * ELECTION_TIMEOUT + Duration::from_secs(1);
    assert_expired_between(
        &cluster,
        &gone_at,
        kept_sent,
        kept_sent + Duration::from_secs(TTL),
        latest,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_member_and_cluster_restarts() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let granted = grant(&cluster.members[leader], 120, 0)
        .await
        .expect("grant");
    put(&cluster.members[leader], "r/1", granted.id)
        .await
        .expect("put");

    // A follower restarts from its data dir.
    cluster.members[follower].restart();
    let restarted = &cluster.members[follower];
    let ids = wait_for(Duration::from_secs(20), "the restarted member", || async {
        lease_ids(restarted).await.ok()
    })
    .await;
    assert!(ids.contains(&granted.id), "{ids:?}");
    let ttl = time_to_live(restarted, granted.id, true)
        .await
        .expect("timetolive via the restarted member");
    assert_eq!(ttl.granted_ttl, 120);
    assert_eq!(ttl.keys, vec![b"r/1".to_vec()]);

    // The whole cluster restarts: the new leader resumes the lease.
    for member in &mut cluster.members {
        member.kill();
    }
    for member in &mut cluster.members {
        member.restart();
    }
    let leader = cluster.leader().await;
    let ttl = wait_for(
        Duration::from_secs(20),
        "timetolive after restart",
        || async {
            time_to_live(&cluster.members[leader], granted.id, true)
                .await
                .ok()
        },
    )
    .await;
    assert_eq!(ttl.granted_ttl, 120);
    assert!((1..=120).contains(&ttl.ttl), "remaining {}", ttl.ttl);
    assert_eq!(ttl.keys, vec![b"r/1".to_vec()]);
    for member in &cluster.members {
        assert_eq!(
            keep_alive_once(member, granted.id)
                .await
                .expect("keepalive"),
            120
        );
        assert_eq!(
            local_keys(member, "r/", 0).await.expect("range").1,
            strings(&["r/1"])
        );
    }
}
