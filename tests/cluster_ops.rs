//! End-to-end cluster operations on real `keel store` processes: growing and shrinking a
//! loaded cluster (learner, snapshot catch-up, promote, remove) without losing an acknowledged
//! write, leadership moves and member updates, backup and restore into a new cluster, the
//! space quota and its recovery, and auto-compaction.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keel_proto::etcdserverpb::alarm_request::AlarmAction;
use keel_proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, DefragmentRequest, DeleteRangeRequest,
    MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest,
    MemberUpdateRequest, MoveLeaderRequest, PutRequest, RangeRequest, SnapshotRequest,
    StatusRequest,
};
use support::{Cluster, Member, prefix_range, wait_for};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

/// Writes `load/<n>` continuously through whichever of `endpoints` answers, and returns the
/// keys whose puts were acknowledged.
fn start_writer(endpoints: Vec<String>, stop: Arc<AtomicBool>) -> JoinHandle<(Vec<String>, usize)> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut failed = 0;
        let mut n = 0usize;
        let mut target = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("load/{n:06}");
            let endpoint = endpoints[target % endpoints.len()].clone();
            let result = async {
                let channel = tonic::transport::Channel::from_shared(endpoint)
                    .ok()?
                    .connect_timeout(Duration::from_millis(300))
                    .timeout(Duration::from_secs(5))
                    .connect()
                    .await
                    .ok()?;
                keel_proto::etcdserverpb::kv_client::KvClient::new(channel)
                    .put(PutRequest {
                        key: key.clone().into_bytes(),
                        value: b"v".to_vec(),
                        ..Default::default()
                    })
                    .await
                    .ok()
            }
            .await;
            match result {
                Some(_) => {
                    acked.push(key);
                    n += 1;
                }
                None => {
                    failed += 1;
                    target += 1; // try the next member
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        (acked, failed)
    })
}

async fn member_ids(member: &Member) -> Vec<(u64, String, bool)> {
    let mut cluster = member.cluster().await.expect("connect");
    let list = cluster
        .member_list(MemberListRequest { linearizable: true })
        .await
        .expect("member list")
        .into_inner();
    list.members
        .into_iter()
        .map(|m| (m.id, m.name, m.is_learner))
        .collect()
}

async fn own_id(member: &Member) -> u64 {
    wait_for(WAIT, "member status", || member.status()).await.0
}

/// Waits until every running member has applied the same revision and their HashKV at it
/// agree; returns that revision.
async fn converged_hash(members: &[&Member]) -> (i64, u32) {
    wait_for(
        WAIT,
        "members converging on one revision and hash",
        || async {
            let mut revisions = Vec::new();
            for m in members {
                revisions.push(m.revision().await?);
            }
            let revision = revisions[0];
            if revisions.iter().any(|r| *r != revision) {
                return None;
            }
            let mut hashes = Vec::new();
            for m in members {
                hashes.push(m.hash_kv(revision).await.ok()?);
            }
            assert!(
                hashes.iter().all(|h| *h == hashes[0]),
                "HashKV at {revision} differs between members: {hashes:?}"
            );
            Some((revision, hashes[0].0))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_joins_a_loaded_cluster_by_snapshot_is_promoted_and_a_member_is_removed() {
    // Small snapshot thresholds: the log the learner needs is purged long before it starts.
    let args = [
        "--snapshot-count",
        "50",
        "--experimental-snapshot-catchup-entries",
        "5",
    ];
    let mut cluster = Cluster::start(3, &args);
    cluster.leader().await;
    let stop = Arc::new(AtomicBool::new(false));
    let endpoints: Vec<String> = cluster
        .members
        .iter()
        .map(|m| m.client_url.clone())
        .collect();
    let writer = start_writer(endpoints, stop.clone());
    wait_for(WAIT, "the writer to put 300 keys", || async {
        let n = cluster.members[0]
            .get_prefix("load/", true)
            .await
            .ok()?
            .len();
        (n >= 300).then_some(())
    })
    .await;

    // Add a learner and start it with the values `member add` printed.
    let mut learner = cluster.plan_member("m4", &args);
    let mut admin = cluster.members[0].cluster().await.expect("connect");
    let added = admin
        .member_add(MemberAddRequest {
            peer_urls: vec![learner.peer_url.clone()],
            is_learner: true,
        })
        .await
        .expect("member add")
        .into_inner();
    let learner_id = added.member.expect("added member").id;
    assert!(
        added
            .members
            .iter()
            .any(|m| m.id == learner_id && m.is_learner)
    );
    // Promoting a learner that has not even started is refused, as etcd does.
    let early = admin
        .member_promote(MemberPromoteRequest { id: learner_id })
        .await
        .expect_err("promote before catching up");
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        early.message(),
        "etcdserver: can only promote a learner member which is in sync with leader"
    );
    learner.start();

    // It catches up by snapshot, answers serializable reads and refuses the rest.
    wait_for(WAIT, "the learner to install a snapshot", || async {
        learner
            .log()
            .contains("installed snapshot from leader")
            .then_some(())
    })
    .await;
    wait_for(WAIT, "the learner to hold the load", || async {
        let n = learner.get_prefix("load/", true).await.ok()?.len();
        (n >= 300).then_some(())
    })
    .await;
    let refused = learner
        .put("on-learner", "x")
        .await
        .expect_err("put on a learner");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        refused.message(),
        "etcdserver: rpc not supported for learner"
    );
    let refused = learner
        .get_prefix("load/", false)
        .await
        .expect_err("linearizable read on a learner");
    assert_eq!(
        refused.message(),
        "etcdserver: rpc not supported for learner"
    );
    let status = learner
        .maintenance()
        .await
        .expect("connect")
        .status(StatusRequest {})
        .await
        .expect("status on a learner")
        .into_inner();
    assert!(status.is_learner);

    // Promote (retrying while it is still behind), then remove a follower.
    wait_for(WAIT, "the learner to be promoted", || async {
        let mut admin = cluster.members[0].cluster().await?;
        match admin
            .member_promote(MemberPromoteRequest { id: learner_id })
            .await
        {
            Ok(_) => Some(()),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => None,
            Err(status) => panic!("promote failed: {status:?}"),
        }
    })
    .await;
    let leader = cluster.leader().await;
    let victim = (0..3).find(|i| *i != leader).expect("a follower");
    let victim_id = own_id(&cluster.members[victim]).await;
    let mut admin = cluster.members[leader].cluster().await.expect("connect");
    let removed = admin
        .member_remove(MemberRemoveRequest { id: victim_id })
        .await
        .expect("member remove")
        .into_inner();
    assert!(removed.members.iter().all(|m| m.id != victim_id));
    assert_eq!(removed.members.len(), 3);
    assert!(removed.members.iter().all(|m| !m.is_learner));

    // The removed member stops by itself and says why.
    wait_for(WAIT, "the removed member to stop", || {
        let exited = cluster.members[victim].exited();
        async move { exited }
    })
    .await;
    assert!(
        cluster.members[victim]
            .log()
            .contains("the member has been permanently removed from the cluster"),
        "{}",
        cluster.members[victim].log()
    );

    // Keep writing a little with the new membership, then stop and check every acked write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = writer.await.expect("writer");
    let remaining: Vec<&Member> = cluster
        .members
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, m)| m)
        .chain(std::iter::once(&learner))
        .collect();
    let stored: std::collections::HashSet<String> = remaining[0]
        .get_prefix("load/", false)
        .await
        .expect("linearizable read")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost (of {}; {} failed): {:?}",
        lost.len(),
        acked.len(),
        failed,
        &lost[..lost.len().min(10)]
    );
    let (revision, _) = converged_hash(&remaining).await;
    assert!(revision > 300);
    assert_eq!(member_ids(remaining[0]).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_and_the_leader_itself_can_be_removed() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let follower_id = own_id(&cluster.members[follower]).await;

    // MoveLeader is for the leader only, and only to a voter.
    let mut on_follower = cluster.members[follower]
        .maintenance()
        .await
        .expect("connect");
    let refused = on_follower
        .move_leader(MoveLeaderRequest {
            target_id: follower_id,
        })
        .await
        .expect_err("move-leader on a follower");
    assert_eq!(refused.message(), "etcdserver: not leader");
    let mut on_leader = cluster.members[leader]
        .maintenance()
        .await
        .expect("connect");
    let refused = on_leader
        .move_leader(MoveLeaderRequest { target_id: 42 })
        .await
        .expect_err("move-leader to a stranger");
    assert_eq!(refused.message(), "etcdserver: bad leader transferee");
    on_leader
        .move_leader(MoveLeaderRequest {
            target_id: follower_id,
        })
        .await
        .expect("move-leader");
    assert_eq!(cluster.leader().await, follower);

    // MemberUpdate: the new peer URLs are listed; another member's URLs are refused.
    let mut admin = cluster.members[follower].cluster().await.expect("connect");
    let other = (follower + 1) % 3;
    let other_id = own_id(&cluster.members[other]).await;
    let taken = admin
        .member_update(MemberUpdateRequest {
            id: other_id,
            peer_urls: vec![cluster.members[follower].peer_url.clone()],
        })
        .await
        .expect_err("update to a used peer URL");
    assert_eq!(taken.message(), "etcdserver: Peer URLs already exists");
    let missing = admin
        .member_remove(MemberRemoveRequest { id: 42 })
        .await
        .expect_err("remove a stranger");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert_eq!(missing.message(), "etcdserver: member not found");

    // Removing the leader: leadership moves first, the old leader stops, the rest go on.
    let removed = admin
        .member_remove(MemberRemoveRequest { id: follower_id })
        .await
        .expect("remove the leader")
        .into_inner();
    assert_eq!(removed.members.len(), 2);
    wait_for(WAIT, "the removed leader to stop", || {
        let exited = cluster.members[follower].exited();
        async move { exited }
    })
    .await;
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, follower);
    cluster.members[new_leader]
        .put("after-removal", "ok")
        .await
        .expect("write after removing the leader");
    // Restarted, the removed member refuses to serve again.
    cluster.members[follower].restart();
    wait_for(WAIT, "the restarted removed member to refuse", || {
        let exited = cluster.members[follower].exited();
        async move { exited }
    })
    .await;
}

/// Streams a snapshot from `member` into a file in `dir`.
async fn save_snapshot(member: &Member, path: &std::path::Path) {
    let mut client = member.maintenance().await.expect("connect");
    let mut stream = client
        .snapshot(SnapshotRequest {})
        .await
        .expect("snapshot")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.expect("snapshot chunk") {
        bytes.extend_from_slice(&chunk.blob);
    }
    std::fs::write(path, bytes).expect("write snapshot");
}

fn keel(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .env("KEEL_LOG", "warn")
        .output()
        .expect("run keel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_restores_into_a_new_cluster_with_identical_hashkv() {
    let source = Cluster::start(3, &[]);
    let leader = source.leader().await;
    let m = &source.members[leader];
    for i in 0..50 {
        m.put(&format!("k/{i:02}"), &format!("v{i}"))
            .await
            .expect("put");
    }
    for i in 0..10 {
        m.put(&format!("k/{i:02}"), "updated")
            .await
            .expect("update");
    }
    let mut kv = m.kv().await.expect("connect");
    kv.delete_range(DeleteRangeRequest {
        key: b"k/4".to_vec(),
        range_end: b"k/5".to_vec(),
        ..Default::default()
    })
    .await
    .expect("delete");
    let path = source.dir().join("backup.db");
    save_snapshot(m, &path).await;
    let revision = m.revision().await.expect("revision");
    let (source_hash, _) = m.hash_kv(revision).await.expect("hashkv");

    // `snapshot status` reports the revision and the hash HashKV gives for it.
    let status = keel(&["snapshot", "status", path.to_str().expect("utf-8 path")]);
    assert!(status.status.success(), "{status:?}");
    let line = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        line.starts_with(&format!("{source_hash:x}, {revision}, ")),
        "{line} (want hash {source_hash:x} at {revision})"
    );

    // Damaged files are refused and restore nothing.
    let bytes = std::fs::read(&path).expect("read snapshot");
    let truncated = source.dir().join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).expect("write");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    let corrupted = source.dir().join("corrupted.db");
    std::fs::write(&corrupted, &flipped).expect("write");
    for (file, message) in [(&truncated, "truncated"), (&corrupted, "checksum")] {
        let dir = source.dir().join("refused");
        let out = keel(&[
            "snapshot",
            "restore",
            file.to_str().expect("utf-8"),
            "--data-dir",
            dir.to_str().expect("utf-8"),
        ]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{out:?}"
        );
        assert!(!dir.exists(), "a refused restore left {dir:?} behind");
    }

    // Restore three members of a brand-new cluster from the file.
    let mut restored = Cluster::plan(3, &[]);
    let initial_cluster = restored.initial_cluster();
    for member in &restored.members {
        let out = keel(&[
            "snapshot",
            "restore",
            path.to_str().expect("utf-8"),
            "--name",
            &member.name,
            "--data-dir",
            member.data_dir.to_str().expect("utf-8"),
            "--initial-cluster",
            &initial_cluster,
            "--initial-advertise-peer-urls",
            &member.peer_url,
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    for member in &mut restored.members {
        member.start();
    }
    let new_leader = restored.leader().await;
    for member in &restored.members {
        let (hash, _) = wait_for(WAIT, "HashKV on the restored member", || async {
            member.hash_kv(revision).await.ok()
        })
        .await;
        assert_eq!(hash, source_hash, "HashKV at {revision} on {}", member.name);
        assert_eq!(
            member.get_prefix("k/", true).await.expect("read"),
            m.get_prefix("k/", true).await.expect("read")
        );
    }
    let old = source.members[leader].status().await.expect("status");
    let mut source_kv = source.members[leader].kv().await.expect("connect");
    let source_cluster = source_kv
        .range(RangeRequest {
            key: b"k".to_vec(),
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner()
        .header
        .expect("header")
        .cluster_id;
    let mut restored_kv = restored.members[new_leader].kv().await.expect("connect");
    let header = restored_kv
        .put(PutRequest {
            key: b"after-restore".to_vec(),
            value: b"ok".to_vec(),
            ..Default::default()
        })
        .await
        .expect("write on the restored cluster")
        .into_inner()
        .header
        .expect("header");
    assert_ne!(
        header.cluster_id, source_cluster,
        "the restored cluster has a new id"
    );
    assert_eq!(header.revision, revision + 1);
    assert_ne!(old.0, own_id(&restored.members[0]).await);
}

async fn alarms(member: &Member) -> Vec<(u64, i32)> {
    let mut client = member.maintenance().await.expect("connect");
    client
        .alarm(AlarmRequest {
            action: AlarmAction::Get as i32,
            member_id: 0,
            alarm: AlarmType::None as i32,
        })
        .await
        .expect("alarm list")
        .into_inner()
        .alarms
        .into_iter()
        .map(|a| (a.member_id, a.alarm))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_alarm_refuses_writes_until_compaction_defrag_and_disarm() {
    let quota = 4 * 1024 * 1024;
    let cluster = Cluster::start(3, &["--quota-backend-bytes", &quota.to_string()]);
    let leader = cluster.leader().await;
    let m = &cluster.members[leader];
    let value = "x".repeat(64 * 1024);
    let mut written = 0;
    let refused = loop {
        match m.put(&format!("big/{written:04}"), &value).await {
            Ok(_) => written += 1,
            Err(status) => break status,
        }
        assert!(written < 1000, "the quota never took effect");
    };
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        refused.message(),
        "etcdserver: mvcc: database space exceeded"
    );

    // The alarm is cluster-wide: every member lists it and refuses writes; reads still work.
    for member in &cluster.members {
        let raised = wait_for(WAIT, "the NOSPACE alarm on every member", || async {
            let a = alarms(member).await;
            (!a.is_empty()).then_some(a)
        })
        .await;
        assert!(
            raised
                .iter()
                .all(|(_, alarm)| *alarm == AlarmType::Nospace as i32)
        );
        let err = member
            .put("small", "1")
            .await
            .expect_err("write under NOSPACE");
        assert_eq!(err.message(), "etcdserver: mvcc: database space exceeded");
        assert_eq!(
            member.get_prefix("big/", true).await.expect("read").len(),
            written
        );
    }

    // Recovery: delete, compact, defragment every member, disarm.
    let mut kv = m.kv().await.expect("connect");
    let (key, range_end) = prefix_range("big/");
    let deleted = kv
        .delete_range(DeleteRangeRequest {
            key,
            range_end,
            ..Default::default()
        })
        .await
        .expect("delete under NOSPACE")
        .into_inner();
    let revision = deleted.header.expect("header").revision;
    kv.compact(CompactionRequest {
        revision,
        physical: true,
    })
    .await
    .expect("compact under NOSPACE");
    for member in &cluster.members {
        // The compaction entry follows the delete and keeps its revision: wait for the
        // member's compacted revision, not its current one.
        wait_for(WAIT, "the compaction everywhere", || async {
            let (_hash, compacted) = member.hash_kv(0).await.ok()?;
            (compacted >= revision).then_some(())
        })
        .await;
        let mut maintenance = member.maintenance().await.expect("connect");
        maintenance
            .defragment(DefragmentRequest {})
            .await
            .expect("defragment");
        let size = maintenance
            .status(StatusRequest {})
            .await
            .expect("status")
            .into_inner()
            .db_size;
        assert!(
            size < quota as i64 / 2,
            "{} is still {size} bytes after defragment",
            member.name
        );
    }
    let mut maintenance = m.maintenance().await.expect("connect");
    for (member_id, alarm) in alarms(m).await {
        maintenance
            .alarm(AlarmRequest {
                action: AlarmAction::Deactivate as i32,
                member_id,
                alarm,
            })
            .await
            .expect("disarm");
    }
    for member in &cluster.members {
        wait_for(WAIT, "the alarm to clear everywhere", || async {
            alarms(member).await.is_empty().then_some(())
        })
        .await;
    }
    m.put("small", "1").await.expect("write after recovery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_auto_compaction_drops_old_history() {
    let cluster = Cluster::start(
        1,
        &[
            "--auto-compaction-mode",
            "periodic",
            "--auto-compaction-retention",
            "1s",
        ],
    );
    cluster.leader().await;
    let m = &cluster.members[0];
    let first = m.put("key", "v0").await.expect("put");
    for i in 1..5 {
        m.put("key", &format!("v{i}")).await.expect("put");
    }
    wait_for(WAIT, "auto compaction past the first write", || async {
        let mut kv = m.kv().await?;
        let old = kv
            .range(RangeRequest {
                key: b"key".to_vec(),
                revision: first,
                ..Default::default()
            })
            .await;
        match old {
            Err(status) if status.code() == tonic::Code::OutOfRange => Some(()),
            _ => {
                // Keep the revision moving so that there is something to compact.
                m.put("tick", "t").await.ok()?;
                None
            }
        }
    })
    .await;
    assert!(m.log().contains("auto compaction done"), "{}", m.log());
}

/// A voter removal runs in two Raft entries (joint, then uniform). Another membership change
/// racing in between used to flatten the joint config itself, keeping the removed voter as a
/// learner (a CI run caught `member remove` failing this way while a member published its
/// attributes). Here member updates of a learner race ten add/remove rounds of a voter that
/// never starts; every removal must leave it out of the cluster entirely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_voter_never_stays_behind_when_member_changes_race() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let mut admin = cluster.members[leader].cluster().await.expect("connect");
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let learner = admin
        .member_add(MemberAddRequest {
            peer_urls: vec![url(support::free_port())],
            is_learner: true,
        })
        .await
        .expect("add a learner")
        .into_inner()
        .member
        .expect("the added learner")
        .id;

    let stop = Arc::new(AtomicBool::new(false));
    let racers: Vec<JoinHandle<usize>> = (0..4)
        .map(|_| {
            let mut client = admin.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut updates = 0;
                while !stop.load(Ordering::Relaxed) {
                    let update = MemberUpdateRequest {
                        id: learner,
                        peer_urls: vec![url(support::free_port())],
                    };
                    if client.member_update(update).await.is_ok() {
                        updates += 1;
                    }
                }
                updates
            })
        })
        .collect();

    for round in 0..10 {
        let ghost = admin
            .member_add(MemberAddRequest {
                peer_urls: vec![url(support::free_port())],
                is_learner: false,
            })
            .await
            .unwrap_or_else(|status| panic!("round {round}: add a voter: {status:?}"))
            .into_inner()
            .member
            .expect("the added voter")
            .id;
        let members = admin
            .member_remove(MemberRemoveRequest { id: ghost })
            .await
            .unwrap_or_else(|status| panic!("round {round}: remove the voter: {status:?}"))
            .into_inner()
            .members;
        assert!(
            members.iter().all(|m| m.id != ghost),
            "round {round}: the removed voter is still listed: {members:?}"
        );
        assert_eq!(members.len(), 4, "round {round}: {members:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut updates = 0;
    for racer in racers {
        updates += racer.await.expect("racer");
    }
    assert!(updates > 0, "no member update ran alongside the removals");
}
