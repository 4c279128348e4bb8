//! End-to-end: what a member does with a data dir damaged on disk. Real `keel store`
//! processes (SIGKILLed, their files then cut or altered, restarted with the same flags) show
//! the three outcomes a consensus store may have: a torn WAL tail (the only damage a crash
//! makes) is dropped and everything acknowledged is still there; any other damage to the WAL or
//! the state machine file makes the member refuse to start, naming the file and the problem,
//! with a non-zero exit and without ever serving; and a data dir that has served is never
//! silently reinitialised as a new member. A refused member of a 3-member cluster leaves the
//! other two serving.
//!
//! Each case starts its own cluster on free ports in a temp dir; the damage is done with plain
//! file operations, at record boundaries found with `keel_store::raft::log_store::scan_chunk`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_store::raft::log_store::{LogStore, scan_chunk};
use support::{Cluster, Member};

const KEYS: usize = 20;

/// Puts `k/00..k/NN` through `member`, each acknowledged; the expected contents.
async fn write_keys(member: &Member, tag: &str) -> Vec<(String, String)> {
    let mut expected = Vec::new();
    for i in 0..KEYS {
        let (key, value) = (format!("k/{i:02}"), format!("{tag}-{i}"));
        member.put(&key, &value).await.expect("acknowledged put");
        expected.push((key, value));
    }
    expected
}

/// The newest chunk file of `member`'s WAL.
fn newest_wal_file(member: &Member) -> PathBuf {
    let dir = member.data_dir.join("member/wal");
    let mut chunks: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("wal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    chunks.sort();
    chunks.pop().expect("a wal file")
}

/// (start, end) of every record of `path`, and whether each is an Append (raft-log type 1).
fn records(path: &Path) -> Vec<(usize, usize, bool)> {
    let scan = scan_chunk(path).expect("scan");
    assert!(
        scan.unreadable.is_none(),
        "the WAL was fine before the test damaged it"
    );
    let bytes = std::fs::read(path).expect("read wal");
    let mut start = 0;
    scan.record_ends
        .iter()
        .map(|&end| {
            let end = end as usize;
            let record = (start, end, bytes[start..start + 4] == [0, 0, 0, 1]);
            start = end;
            record
        })
        .collect()
}

/// The Append record in the middle of the file: fully written, with records after it.
fn middle_append(path: &Path) -> (usize, usize) {
    let appends: Vec<_> = records(path).into_iter().filter(|r| r.2).collect();
    assert!(appends.len() >= 10, "enough entries: {appends:?}");
    let (start, end, _) = appends[appends.len() / 2];
    (start, end)
}

fn flip(path: &Path, at: usize, mask: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at] ^= mask;
    std::fs::write(path, &bytes).expect("write");
    bytes
}

/// Starts `member` (same flags as at bootstrap, so it could reinitialise if it wanted to) and
/// waits for it to exit by itself; its log. Fails if it is still running after 30 s.
async fn refused_start(member: &mut Member) -> String {
    let before = member.log().len();
    member.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = member.exited() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the member did not refuse to start:\n{}",
            member.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = member.log()[before..].to_string();
    assert!(
        !status.success(),
        "exit status {status:?} must be non-zero:\n{log}"
    );
    assert!(
        !log.contains("serving clients") && !log.contains("serving peers"),
        "a refused member must never serve:\n{log}"
    );
    log
}

/// A crash in the middle of a write leaves a prefix of a record that was never synced, so
/// never acknowledged: here the first half of a copy of the last record, appended after the
/// SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_wal_tail_is_dropped_and_every_acknowledged_put_survives() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    let expected = write_keys(&cluster.members[0], "v").await;
    cluster.members[0].kill();
    let wal = newest_wal_file(&cluster.members[0]);
    let (start, end, _) = *records(&wal).last().expect("records");
    let mut bytes = std::fs::read(&wal).expect("read wal");
    let torn = bytes[start..(start + end) / 2].to_vec();
    bytes.extend_from_slice(&torn);
    std::fs::write(&wal, &bytes).expect("append a torn record");

    cluster.members[0].start();
    cluster.leader().await;
    let member = &cluster.members[0];
    assert_eq!(
        member.get_prefix("k/", false).await.expect("get"),
        expected,
        "exactly the acknowledged puts: none lost, none invented\n{}",
        member.log()
    );
    assert!(member.log().contains("is incomplete"), "{}", member.log());
    member
        .put("after", "1")
        .await
        .expect("it takes writes again");
}

/// The last record itself cut in half: it was synced and acknowledged, but nothing in the file
/// tells this apart from a torn write (etcd's WAL repair makes the same call). A single member
/// loses that one entry and keeps everything before it; it invents nothing, and starts. In a
/// cluster the entry is still on the others (`a_follower_with_a_torn_wal_tail_catches_up`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_last_wal_record_loses_only_that_entry_on_a_single_member() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    let expected = write_keys(&cluster.members[0], "v").await;
    cluster.members[0].kill();
    let wal = newest_wal_file(&cluster.members[0]);
    let (start, end, is_append) = *records(&wal).last().expect("records");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .expect("open wal");
    file.set_len(((start + end) / 2) as u64)
        .expect("cut the last record");
    drop(file);

    cluster.members[0].start();
    cluster.leader().await;
    let member = &cluster.members[0];
    let found = member.get_prefix("k/", false).await.expect("get");
    // The last record is the last put's entry, or bookkeeping after it (a commit mark). A lost
    // entry may still be in the state machine file (applied, written, only not fsynced: a
    // SIGKILL does not lose the page cache), so the last put is either gone or kept whole.
    let lost_one = &expected[..KEYS - 1];
    assert!(
        found == expected || (is_append && found == lost_one),
        "kept {found:?}\n{}",
        member.log()
    );
    member
        .put("after", "1")
        .await
        .expect("it takes writes again");
    // The new write is applied, not skipped as already applied, and survives a restart.
    cluster.members[0].restart();
    cluster.leader().await;
    let member = &cluster.members[0];
    assert_eq!(
        member.get_prefix("after", false).await.expect("get"),
        [("after".to_string(), "1".to_string())],
        "{}",
        member.log()
    );
    assert_eq!(member.get_prefix("k/", false).await.expect("get"), found);
}

/// A follower whose last (acknowledged) WAL record is cut in half gets it back from the leader
/// and takes later entries. Without openraft's `allow_log_reversion` it restarted one entry
/// short and stalled there: the leader kept sending `prev_log_id` = the lost entry, the follower
/// answered `Conflict` every time, and the leader never moved its progress for that follower
/// back below what the follower once acknowledged (Raft assumes an acknowledged entry stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_torn_wal_tail_catches_up() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let expected = write_keys(&cluster.members[leader], "v").await;
    cluster.members[follower].kill();
    let wal = newest_wal_file(&cluster.members[follower]);
    let (start, end, _) = *records(&wal).last().expect("records");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .expect("open wal");
    file.set_len(((start + end) / 2) as u64)
        .expect("cut the last record");
    drop(file);

    cluster.members[follower].start();
    // The cut entry was acknowledged by this follower, so the leader does not resend it by
    // itself; the next append finds the gap (prev log id mismatch) and fills it.
    let mut expected = expected;
    cluster.members[leader]
        .put("k/zz", "after")
        .await
        .expect("a put after the restart");
    expected.push(("k/zz".to_string(), "after".to_string()));
    let member = &cluster.members[follower];
    let deadline = Instant::now() + Duration::from_secs(20);
    while member.get_prefix("k/", true).await.ok().as_ref() != Some(&expected) {
        assert!(
            Instant::now() < deadline,
            "the follower did not catch up: {:?}\n{}",
            member.get_prefix("k/", true).await,
            cluster.dump_logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_an_older_wal_record_is_refused_naming_the_file() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    write_keys(&cluster.members[0], "v").await;
    cluster.members[0].kill();
    let wal = newest_wal_file(&cluster.members[0]);
    let (start, end) = middle_append(&wal);
    let damaged = flip(&wal, (start + end) / 2, 0x10);

    refused_naming_the_wal(&mut cluster.members[0], &wal, &damaged, "checksum mismatch").await;
}

/// Starting `member` is refused with an error naming `wal` and `problem`; the file is as the
/// test left it (`damaged`).
async fn refused_naming_the_wal(member: &mut Member, wal: &Path, damaged: &[u8], problem: &str) {
    let log = refused_start(member).await;
    assert!(
        log.contains(&wal.display().to_string()) && log.contains(problem),
        "the error must name the file and the problem:\n{log}"
    );
    assert_eq!(
        std::fs::read(wal).expect("read"),
        damaged,
        "the WAL is left as it was"
    );
}

/// Starting `member` is refused with an error naming its state machine file.
async fn refused_naming_the_db(member: &mut Member) {
    let log = refused_start(member).await;
    assert!(
        log.contains("member/snap/db"),
        "the error must name the file: {log}"
    );
}

/// raft-log alone would read this as a torn tail and truncate the log there, losing every
/// acknowledged entry after it (see `raft::log_store`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_length_in_an_older_wal_record_is_refused_not_truncated() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    write_keys(&cluster.members[0], "v").await;
    cluster.members[0].kill();
    let wal = newest_wal_file(&cluster.members[0]);
    let (start, _) = middle_append(&wal);
    // The payload length follows the record type (4 bytes) and the log id (3 x u64).
    let damaged = flip(&wal, start + 4 + 24, 0x7f);

    refused_naming_the_wal(&mut cluster.members[0], &wal, &damaged, "not a torn write").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_damaged_wal_is_refused_and_the_others_keep_serving() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    write_keys(&cluster.members[leader], "v").await;
    // A quorum acknowledged the writes; this follower may not have them yet.
    let written = cluster.members[leader].revision().await.expect("revision");
    support::wait_for(
        Duration::from_secs(10),
        "the follower has every write",
        || async { (cluster.members[follower].revision().await? >= written).then_some(()) },
    )
    .await;
    cluster.members[follower].kill();
    let wal = newest_wal_file(&cluster.members[follower]);
    let (start, end) = middle_append(&wal);
    flip(&wal, (start + end) / 2, 0x10);

    let log = refused_start(&mut cluster.members[follower]).await;
    assert!(log.contains(&wal.display().to_string()), "{log}");
    cluster.members[leader]
        .put("still", "serving")
        .await
        .expect("two of three members still make a quorum");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_whose_wal_is_gone_is_not_reinitialised() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    write_keys(&cluster.members[0], "v").await;
    cluster.members[0].kill();
    let wal_dir = cluster.members[0].data_dir.join("member/wal");
    std::fs::remove_dir_all(&wal_dir).expect("remove the wal");

    let log = refused_start(&mut cluster.members[0]).await;
    assert!(
        log.contains("member/wal") && log.contains("refusing to start as a new member"),
        "{log}"
    );
    let log = LogStore::open(&wal_dir).expect("the new, empty log");
    assert_eq!(
        log.identity().expect("identity"),
        None,
        "no new identity written"
    );
    drop(log);
    refused_start(&mut cluster.members[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_refuses_to_start_without_its_state_machine_file() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    cluster.members[0].put("a", "1").await.expect("put");
    cluster.members[0].kill();
    let db = cluster.members[0].data_dir.join("member/snap/db");
    std::fs::remove_file(&db).expect("remove db");
    let log = refused_start(&mut cluster.members[0]).await;
    assert!(
        log.contains("state machine file is missing") && log.contains("member/snap/db"),
        "the error must name the file and the problem: {log}"
    );
    assert!(!db.exists(), "it must not create an empty state machine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_refuses_to_start_on_an_overwritten_state_machine_file() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    cluster.members[0].put("a", "1").await.expect("put");
    cluster.members[0].kill();
    let db = cluster.members[0].data_dir.join("member/snap/db");
    std::fs::write(
        &db,
        b"this is not a redb file at all, it has been overwritten",
    )
    .expect("damage db");
    refused_naming_the_db(&mut cluster.members[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_refuses_to_start_on_a_truncated_state_machine_file() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    write_keys(&cluster.members[0], "v").await;
    cluster.members[0].kill();
    let db = cluster.members[0].data_dir.join("member/snap/db");
    let len = std::fs::metadata(&db).expect("db").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open db");
    file.set_len(len / 2).expect("truncate db");
    drop(file);
    refused_naming_the_db(&mut cluster.members[0]).await;
}

/// Bytes flipped where the keys are stored (found by their value; the member is stopped cleanly
/// first, so that its latest batches are in the file): redb's page checksums must catch it when
/// the member rebuilds its index at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_refuses_to_start_on_flipped_bytes_in_its_state_machine_file() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.leader().await;
    write_keys(&cluster.members[0], "marker-value").await;
    cluster.members[0].stop();
    let db = cluster.members[0].data_dir.join("member/snap/db");
    let mut bytes = std::fs::read(&db).expect("read db");
    let needle = b"marker-value-1";
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at)
        .collect();
    assert!(!hits.is_empty(), "the value is stored in the file");
    for at in hits {
        bytes[at] ^= 0x20;
    }
    std::fs::write(&db, &bytes).expect("damage db");
    refused_naming_the_db(&mut cluster.members[0]).await;
}
