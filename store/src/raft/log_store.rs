//! The Raft log and vote in raft-log: a chunked write-ahead log whose single flush thread
//! batches every pending write into one `fdatasync` (group commit), as etcd's WAL does.
//!
//! Durability rules this file keeps: `append` hands openraft's `IOFlushed` callback to a
//! synced flush, so openraft acknowledges nothing before its fdatasync; `save_vote` waits
//! for its own sync; truncations and commits ride along with the next synced flush, which
//! FIFO ordering makes safe. Records are length-prefixed protobuf, so a torn tail reads as
//! `UnexpectedEof` and raft-log truncates it on open instead of refusing to start.
//!
//! Before raft-log replays the log, [`check_chunks`] reads every chunk file once more to tell
//! a torn tail from damage. raft-log 0.4.6 cuts the last chunk at the first record it cannot
//! read whenever that read ends in `UnexpectedEof`, and a flipped bit in a record's length
//! field reads exactly so: every later record (acknowledged entries, votes) would be dropped
//! without a word. A torn write is a prefix of the last record, so nothing complete can follow
//! it; when a complete, checksummed record does follow the unreadable one, the log is damaged
//! and the member refuses to start, naming the file and offset. (A torn record whose payload —
//! a client's value — happens to contain a complete WAL record would also be refused: a false
//! alarm that costs a restart by hand, never data.)

use std::fmt::Debug;
use std::io::{self, Read};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use keel_proto::keelraft as pb;
use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use prost::Message;
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::codeq::{Decode, Encode};
use raft_log::{RaftLog, RaftWalTypes, WALRecord};

use super::codec;
use super::{Entry, LeaderId, LogId, TypeConfig, Vote};

/// raft-log's view of our types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalTypes;

impl raft_log::Types for WalTypes {
    type LogId = WalLogId;
    type LogPayload = WalBytes;
    type Vote = WalVote;
    type Callback = FlushCallback;
    type UserData = WalBytes;

    fn log_index(log_id: &WalLogId) -> u64 {
        log_id.0.index
    }

    fn payload_size(payload: &WalBytes) -> u64 {
        payload.0.len() as u64
    }
}

/// A log id, ordered as openraft orders it: (term, node id, index).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalLogId(pub LogId);

impl Encode for WalLogId {
    fn encode<W: io::Write>(&self, mut w: W) -> io::Result<usize> {
        Ok(Encode::encode(&self.0.leader_id.term, &mut w)?
            + Encode::encode(&self.0.leader_id.node_id, &mut w)?
            + Encode::encode(&self.0.index, &mut w)?)
    }
}

impl Decode for WalLogId {
    fn decode<R: io::Read>(mut r: R) -> io::Result<Self> {
        let term = <u64 as Decode>::decode(&mut r)?;
        let node_id = <u64 as Decode>::decode(&mut r)?;
        let index = <u64 as Decode>::decode(&mut r)?;
        Ok(Self(LogId::new(LeaderId { term, node_id }, index)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalVote(pub Vote);

impl PartialOrd for WalVote {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

impl Encode for WalVote {
    fn encode<W: io::Write>(&self, mut w: W) -> io::Result<usize> {
        Ok(Encode::encode(&self.0.leader_id.term, &mut w)?
            + Encode::encode(&self.0.leader_id.node_id, &mut w)?
            + Encode::encode(&self.0.committed, &mut w)?)
    }
}

impl Decode for WalVote {
    fn decode<R: io::Read>(mut r: R) -> io::Result<Self> {
        let term = <u64 as Decode>::decode(&mut r)?;
        let node_id = <u64 as Decode>::decode(&mut r)?;
        let committed = <bool as Decode>::decode(&mut r)?;
        Ok(Self(if committed {
            Vote::new_committed(term, node_id)
        } else {
            Vote::new(term, node_id)
        }))
    }
}

/// Length-prefixed protobuf bytes (an encoded `keelraft.Entry` or `keelraft.MemberIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalBytes(pub Vec<u8>);

impl Encode for WalBytes {
    fn encode<W: io::Write>(&self, w: W) -> io::Result<usize> {
        Encode::encode(&self.0, w)
    }
}

impl Decode for WalBytes {
    fn decode<R: io::Read>(r: R) -> io::Result<Self> {
        Ok(Self(<Vec<u8> as Decode>::decode(r)?))
    }
}

/// Completion of a flush, called on raft-log's flush thread after fdatasync.
pub enum FlushCallback {
    Raft(IOFlushed<TypeConfig>),
    Wait(tokio::sync::oneshot::Sender<io::Result<()>>),
}

impl raft_log::Callback for FlushCallback {
    fn send(self, res: io::Result<()>) {
        match self {
            Self::Raft(flushed) => flushed.io_completed(res),
            Self::Wait(tx) => {
                let _ = tx.send(res);
            }
        }
    }
}

/// openraft's log storage and log reader over one raft-log directory.
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<RwLock<RaftLog<WalTypes>>>,
}

/// How long the flush thread keeps collecting writes into one fdatasync after the first.
/// Writes that queued up while the previous fdatasync ran are all taken at once anyway (group
/// commit comes from the queue, not from waiting); raft-log's default of 1 ms added a whole
/// millisecond to every write of a lone client, on the leader and again on each follower.
const GROUP_COMMIT_WAIT: std::time::Duration = std::time::Duration::from_micros(50);

fn invalid(err: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err.to_string())
}

impl LogStore {
    /// Opens (creating if needed) the log in `dir`. A torn last record is truncated; any other
    /// damage fails with an error naming the chunk file and offset (see [`check_chunks`]).
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        check_chunks(dir)?;
        let mut config = raft_log::Config::new(dir.display().to_string());
        config.wal.flush_batch_wait = Some(GROUP_COMMIT_WAIT);
        let wal = RaftLog::open(Arc::new(config)).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot replay the Raft log in {}: {err}", dir.display()),
            )
        })?;
        Ok(Self {
            wal: Arc::new(RwLock::new(wal)),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, RaftLog<WalTypes>> {
        self.wal
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, RaftLog<WalTypes>> {
        self.wal
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when this log has ever stored a vote or an entry.
    pub fn has_state(&self) -> bool {
        let wal = self.read();
        let state = wal.log_state();
        state.vote().is_some() || state.last().is_some()
    }

    pub fn identity(&self) -> io::Result<Option<pb::MemberIdentity>> {
        let wal = self.read();
        match &wal.log_state().user_data {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                pb::MemberIdentity::decode(bytes.0.as_slice()).map_err(invalid)?,
            )),
        }
    }

    pub async fn save_identity(&self, identity: &pb::MemberIdentity) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut wal = self.write();
            wal.save_user_data(Some(WalBytes(identity.encode_to_vec())))?;
            wal.flush(true, Some(FlushCallback::Wait(tx)))?;
        }
        rx.await.map_err(io::Error::other)?
    }
}

/// One record as raft-log stores it (for [`check_chunks`]).
type StoredRecord = WALRecord<RaftWalTypes<WalTypes>>;

/// A reader that counts what it has read: the offset of the next record.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The chunk files of the log in `dir`, oldest first.
fn chunk_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut chunks = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Ok(id) = raft_log::chunked_wal::Config::parse_chunk_file_name(name) {
            chunks.push((id, entry.path()));
        }
    }
    chunks.sort();
    Ok(chunks.into_iter().map(|(_, path)| path).collect())
}

fn damaged(path: &Path, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("Raft log file {} is damaged: {detail}", path.display()),
    )
}

/// What one chunk file holds, read record by record as raft-log replays it.
#[derive(Debug)]
pub struct ChunkScan {
    /// The file's size in bytes.
    pub len: u64,
    /// Where each readable record ends (the next one starts there), in file order.
    pub record_ends: Vec<u64>,
    /// The offset of the first record that cannot be read, and why (reading stops there).
    pub unreadable: Option<(u64, io::Error)>,
}

/// Reads the chunk file at `path` record by record (also for tests and diagnostics that need
/// to know where the records of a WAL file lie).
pub fn scan_chunk(path: &Path) -> io::Result<ChunkScan> {
    let file = std::fs::File::open(path)
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
    let len = file.metadata()?.len();
    let mut reader = Counting {
        inner: io::BufReader::with_capacity(1 << 20, file),
        read: 0,
    };
    let mut scan = ChunkScan {
        len,
        record_ends: Vec::new(),
        unreadable: None,
    };
    while reader.read < len {
        let at = reader.read;
        match <StoredRecord as Decode>::decode(&mut reader) {
            Ok(_) => scan.record_ends.push(reader.read),
            Err(err) => {
                scan.unreadable = Some((at, err));
                break;
            }
        }
    }
    Ok(scan)
}

/// Reads every record of every chunk file in `dir`, and refuses a log that raft-log would
/// silently cut short: an unreadable record followed by a readable one is damage, not a torn
/// write (see the module docs). A torn (incomplete) last record is left for raft-log to
/// truncate; it was never synced, so never acknowledged.
pub fn check_chunks(dir: &Path) -> io::Result<()> {
    let chunks = chunk_files(dir)?;
    for (n, path) in chunks.iter().enumerate() {
        let Some((at, err)) = scan_chunk(path)?.unreadable else {
            continue;
        };
        if n + 1 < chunks.len() {
            return Err(damaged(
                path,
                format_args!(
                    "the record at offset {at} cannot be read ({err}), and it is not the newest chunk"
                ),
            ));
        }
        return check_tail(path, at, err);
    }
    Ok(())
}

/// The last chunk `path` has an unreadable record at `at`: a torn write, or damage?
fn check_tail(path: &Path, at: u64, err: io::Error) -> io::Result<()> {
    let bytes = std::fs::read(path)?;
    let tail = usize::try_from(at)
        .ok()
        .and_then(|at| bytes.get(at..))
        .unwrap_or_default();
    let follows = (1..tail.len()).find(|&skip| {
        let rest = &tail[skip..];
        // Every record starts with a big-endian u32 type in 0..=5: skip the rest cheaply.
        let plausible = rest.len() >= 4 && rest[..3] == [0, 0, 0] && rest[3] <= 5;
        plausible && <StoredRecord as Decode>::decode(rest).is_ok()
    });
    if let Some(skip) = follows {
        return Err(damaged(
            path,
            format_args!(
                "the record at offset {at} cannot be read ({err}) but a complete record follows at offset {}; this is not a torn write, and truncating here would lose acknowledged entries",
                at + skip as u64
            ),
        ));
    }
    let zeros = tail.iter().all(|&b| b == 0);
    if err.kind() == io::ErrorKind::UnexpectedEof || zeros {
        tracing::warn!(
            file = %path.display(),
            offset = at,
            bytes = tail.len(),
            "the last record of the Raft log is incomplete (a write torn by a crash, never acknowledged): it is dropped"
        );
        return Ok(());
    }
    Err(damaged(
        path,
        format_args!("its last record, at offset {at}, cannot be read ({err})"),
    ))
}

fn index_bounds(range: impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&n) => n.saturating_add(1),
        Bound::Excluded(&n) => n,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let (start, end) = index_bounds(range);
        let wal = self.read();
        wal.read(start, end)
            .map(|item| {
                let (_, payload) = item?;
                let entry = pb::Entry::decode(payload.0.as_slice()).map_err(invalid)?;
                codec::entry_from_pb(entry).map_err(invalid)
            })
            .collect()
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        Ok(self.read().log_state().vote().map(|v| v.0))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let wal = self.read();
        let state = wal.log_state();
        Ok(LogState {
            last_purged_log_id: state.purged().map(|id| id.0),
            last_log_id: state.last().map(|id| id.0),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut wal = self.write();
            wal.save_vote(WalVote(*vote))?;
            wal.flush(true, Some(FlushCallback::Wait(tx)))?;
        }
        rx.await.map_err(io::Error::other)?
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        let Some(committed) = committed else {
            return Ok(());
        };
        let mut wal = self.write();
        // raft-log refuses a commit beyond its last entry (possible around snapshot install).
        let last = wal.log_state().last().map(|id| id.0);
        if last.is_some_and(|last| committed.index <= last.index) {
            wal.commit(WalLogId(committed))?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.read().log_state().committed().map(|id| id.0))
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records = entries.into_iter().map(|entry| {
            let bytes = codec::entry_to_pb(&entry).encode_to_vec();
            (WalLogId(entry.log_id), WalBytes(bytes))
        });
        let mut wal = self.write();
        wal.append(records)?;
        wal.flush(true, Some(FlushCallback::Raft(callback)))?;
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let from = last_log_id.map_or(0, |id| id.index + 1);
        let mut wal = self.write();
        let next = wal.log_state().last().map_or(0, |id| id.0.index + 1);
        if from < next {
            wal.truncate(from)?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let mut wal = self.write();
        let next_unpurged = wal.log_state().purged().map_or(0, |id| id.0.index + 1);
        if log_id.index < next_unpurged {
            return Ok(());
        }
        wal.purge(WalLogId(log_id))?;
        wal.flush(true, None)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::keelraft::Command;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(
                LeaderId {
                    term: 1,
                    node_id: 1,
                },
                index,
            ),
            payload: openraft::EntryPayload::Normal(Command::default()),
        }
    }

    /// A log with an identity and entries 0..n, closed again; the path of its chunk file.
    async fn written_log(dir: &Path, n: u64) -> PathBuf {
        let mut log = LogStore::open(dir).unwrap();
        log.save_identity(&pb::MemberIdentity {
            member_id: 7,
            ..Default::default()
        })
        .await
        .unwrap();
        for index in 0..n {
            log.append([entry(index)], IOFlushed::noop()).await.unwrap();
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        log.write()
            .flush(true, Some(FlushCallback::Wait(tx)))
            .unwrap();
        rx.await.unwrap().unwrap();
        drop(log);
        let chunks = chunk_files(dir).unwrap();
        assert_eq!(chunks.len(), 1);
        chunks[0].clone()
    }

    async fn entries(dir: &Path) -> io::Result<Vec<u64>> {
        let mut log = LogStore::open(dir)?;
        let entries = log.try_get_log_entries(..).await?;
        Ok(entries.iter().map(|e| e.log_id.index).collect())
    }

    /// Where the record appending entry `index` starts and ends (type 1: raft-log's Append).
    fn append_record(path: &Path, index: usize) -> (u64, u64) {
        let scan = scan_chunk(path).unwrap();
        assert!(scan.unreadable.is_none());
        let bytes = std::fs::read(path).unwrap();
        let starts = std::iter::once(0).chain(scan.record_ends.iter().copied());
        let appends: Vec<(u64, u64)> = starts
            .zip(scan.record_ends.iter().copied())
            .filter(|&(start, _)| bytes[start as usize..start as usize + 4] == [0, 0, 0, 1])
            .collect();
        appends[index]
    }

    #[tokio::test]
    async fn a_torn_last_record_is_dropped_and_everything_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = written_log(dir.path(), 10).await;
        let (start, end) = append_record(&chunk, 9);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&chunk)
            .unwrap();
        file.set_len((start + end) / 2).unwrap();
        assert_eq!(
            entries(dir.path()).await.unwrap(),
            (0..9).collect::<Vec<_>>()
        );
        assert_eq!(
            LogStore::open(dir.path())
                .unwrap()
                .identity()
                .unwrap()
                .unwrap()
                .member_id,
            7
        );
    }

    #[tokio::test]
    async fn a_damaged_length_in_an_older_record_is_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = written_log(dir.path(), 10).await;
        // Entry 3's payload length (after the record type and the log id): made huge, the
        // record reads as cut short, which raft-log alone would truncate with all after it.
        let (start, _) = append_record(&chunk, 3);
        let mut bytes = std::fs::read(&chunk).unwrap();
        bytes[start as usize + 4 + 24] ^= 0x7f;
        std::fs::write(&chunk, &bytes).unwrap();
        let err = entries(dir.path()).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&chunk.display().to_string()) && message.contains("not a torn write"),
            "{message}"
        );
        assert_eq!(
            std::fs::read(&chunk).unwrap(),
            bytes,
            "the file is left as it was"
        );
    }

    #[tokio::test]
    async fn a_flipped_byte_in_an_older_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = written_log(dir.path(), 10).await;
        let (start, end) = append_record(&chunk, 5);
        let mut bytes = std::fs::read(&chunk).unwrap();
        bytes[((start + end) / 2) as usize] ^= 0x01;
        std::fs::write(&chunk, &bytes).unwrap();
        let message = entries(dir.path()).await.unwrap_err().to_string();
        assert!(
            message.contains(&chunk.display().to_string()) && message.contains("checksum"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_flipped_byte_in_the_last_complete_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = written_log(dir.path(), 4).await;
        let (start, end) = append_record(&chunk, 3);
        let mut bytes = std::fs::read(&chunk).unwrap();
        bytes[((start + end) / 2) as usize] ^= 0x01;
        std::fs::write(&chunk, &bytes).unwrap();
        let message = entries(dir.path()).await.unwrap_err().to_string();
        assert!(message.contains("checksum"), "{message}");
    }
}
