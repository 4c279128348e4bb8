//! End-to-end: real 3-member clusters of `keel store` processes on loopback. Leader election,
//! writes through any member, SIGKILL of the leader without losing an acknowledged write, a
//! killed member catching up (also by snapshot once the leader purged its log). A damaged data
//! dir: see `damaged_data_dir.rs`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{Cluster, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_every_member_are_read_back_everywhere() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader().await;
    for (i, member) in cluster.members.iter().enumerate() {
        member
            .put(&format!("any/{i}"), &format!("from-{}", member.name))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "put via {} failed: {e}\n{}",
                    member.name,
                    cluster.dump_logs()
                )
            });
    }
    let expected: Vec<(String, String)> = (0..3)
        .map(|i| (format!("any/{i}"), format!("from-m{}", i + 1)))
        .collect();
    for member in &cluster.members {
        // Linearizable reads see every acknowledged write immediately, on every member.
        assert_eq!(
            member
                .get_prefix("any/", false)
                .await
                .expect("linearizable get"),
            expected
        );
    }
    for member in &cluster.members {
        wait_for(
            Duration::from_secs(5),
            "serializable reads to converge",
            || async { (member.get_prefix("any/", true).await.ok()? == expected).then_some(()) },
        )
        .await;
    }
}

/// Writes `count` keys round-robin through the running members, retrying each until it is
/// acknowledged; returns the acknowledged key -> value.
async fn write_keys(
    cluster: &Cluster,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> BTreeMap<String, String> {
    let mut acked = BTreeMap::new();
    for i in range {
        let key = format!("{prefix}{i:05}");
        let value = format!("v{i}");
        let running: Vec<_> = cluster.members.iter().filter(|m| m.is_running()).collect();
        wait_for(
            Duration::from_secs(20),
            "a write to be acknowledged",
            || async { running[i % running.len()].put(&key, &value).await.ok() },
        )
        .await;
        acked.insert(key, value);
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_sigkill_loses_no_acknowledged_write_and_the_member_catches_up() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let mut acked = write_keys(&cluster, "k/", 0..50).await;

    // Kill the leader while a client keeps writing through the others.
    cluster.members[leader].kill();
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader, "a new leader must take over");
    acked.extend(write_keys(&cluster, "k/", 50..100).await);

    let survivor = &cluster.members[new_leader];
    let read: BTreeMap<String, String> = survivor
        .get_prefix("k/", false)
        .await
        .expect("read")
        .into_iter()
        .collect();
    assert_eq!(
        read, acked,
        "every acknowledged write survives the leader's SIGKILL"
    );

    // The killed member rejoins from its data dir and catches up.
    cluster.members[leader].restart();
    let restarted = &cluster.members[leader];
    wait_for(
        Duration::from_secs(20),
        "the restarted member to catch up",
        || async {
            let read: BTreeMap<String, String> = restarted
                .get_prefix("k/", true)
                .await
                .ok()?
                .into_iter()
                .collect();
            (read == acked).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_a_purged_log_catches_up_by_snapshot() {
    // Snapshot every 20 entries and keep only 5 behind it, so a member down for 200 writes
    // can only catch up from a snapshot.
    let mut cluster = Cluster::start(
        3,
        &[
            "--snapshot-count",
            "20",
            "--experimental-snapshot-catchup-entries",
            "5",
        ],
    );
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let mut acked = write_keys(&cluster, "s/", 0..10).await;
    cluster.members[follower].kill();
    acked.extend(write_keys(&cluster, "s/", 10..210).await);
    // The leader purges behind its snapshots only when no replication is using those entries,
    // and looks again only when something happens: while the follower is down, a retry to it is
    // often in flight. So keep writing (under another prefix) until two purges have happened;
    // the second is far past anything the stopped member has.
    wait_for(
        Duration::from_secs(30),
        "the leader to purge its log behind a snapshot",
        || async {
            let _ = cluster.members[leader].put("p/tick", "1").await;
            (cluster.members[leader]
                .log()
                .matches("RaftLog purge upto")
                .count()
                >= 2)
                .then_some(())
        },
    )
    .await;
    cluster.members[follower].restart();
    let member = &cluster.members[follower];
    wait_for(
        Duration::from_secs(30),
        "the lagging member to install a snapshot",
        || async {
            let read: BTreeMap<String, String> = member
                .get_prefix("s/", true)
                .await
                .ok()?
                .into_iter()
                .collect();
            (read == acked).then_some(())
        },
    )
    .await;
    assert!(
        member.log().contains("installed snapshot from leader"),
        "catch-up must have used a snapshot:\n{}",
        member.log()
    );
    // And it keeps following: a new write is visible there too.
    cluster.members[leader]
        .put("s/after", "1")
        .await
        .expect("put");
    wait_for(
        Duration::from_secs(10),
        "the new write on the caught-up member",
        || async {
            member
                .get_prefix("s/after", true)
                .await
                .ok()
                .filter(|kvs| kvs.len() == 1)
        },
    )
    .await;
}

/// keel-client, the client the api-server uses: a watch through one member survives that
/// member's SIGKILL (it resumes on another member after its last delivered revision, so every
/// event arrives exactly once), and reads and writes fail over to the live members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_client_fails_over_and_its_watch_resumes_elsewhere() {
    use keel_client::{Client, Config, pb};

    let mut cluster = Cluster::start(3, &[]);
    cluster.leader().await;
    let endpoints: Vec<String> = cluster
        .members
        .iter()
        .map(|m| m.client_url.clone())
        .collect();
    let client = Client::connect(Config::new(endpoints))
        .await
        .expect("connect");
    let first = client.current_endpoint().expect("connected somewhere");
    let watched = cluster
        .members
        .iter()
        .position(|m| m.client_url == first)
        .expect("a member's URL");
    // The watch starts at an explicit revision: its task may create it after the first put.
    let start = client
        .range(pb::RangeRequest {
            key: b"resume/".to_vec(),
            ..Default::default()
        })
        .await
        .expect("range")
        .header
        .map_or(0, |h| h.revision);
    let mut events = client.watch(pb::WatchCreateRequest {
        key: b"resume/".to_vec(),
        range_end: keel_client::prefix_range_end(b"resume/"),
        start_revision: start + 1,
        ..Default::default()
    });
    let mut seen = Vec::new();
    let put = |i: usize| {
        let client = client.clone();
        async move {
            client
                .put(pb::PutRequest {
                    key: format!("resume/{i:03}").into_bytes(),
                    value: b"v".to_vec(),
                    ..Default::default()
                })
                .await
        }
    };
    let mut acked = Vec::new();
    put(0).await.expect("first put");
    acked.push("resume/000".to_string());
    next_event(&mut events, &mut seen).await;
    for i in 1..=40 {
        if i == 21 {
            cluster.members[watched].kill();
        }
        // A write racing the kill may fail ambiguously; the retry rule does not resend it,
        // so it may or may not be there. Acknowledged ones must be.
        if put(i).await.is_ok() {
            acked.push(format!("resume/{i:03}"));
        }
    }
    while !acked.iter().all(|k| seen.contains(k)) {
        next_event(&mut events, &mut seen).await;
    }
    let mut in_order = seen.clone();
    in_order.sort();
    in_order.dedup();
    assert_eq!(seen, in_order, "every event once, in order");
    assert!(acked.len() >= 39, "too many failed writes: {acked:?}");
    assert_ne!(client.current_endpoint().as_deref(), Some(first.as_str()));
}

/// Waits for the next response of a keel-client watch and records the keys of its events.
async fn next_event(events: &mut keel_client::watch::WatchStream, seen: &mut Vec<String>) {
    use futures::StreamExt;
    let resp = tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .expect("an event in time")
        .expect("the watch ended")
        .expect("the watch failed");
    for e in resp.events {
        if let Some(kv) = e.kv {
            seen.push(String::from_utf8_lossy(&kv.key).into_owned());
        }
    }
}
