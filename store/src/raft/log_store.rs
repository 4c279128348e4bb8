//! The Raft log and vote in raft-log: a chunked write-ahead log whose single flush thread
//! batches every pending write into one `fdatasync` (group commit), as etcd's WAL does.
//!
//! Durability rules this file keeps: `append` hands openraft's `IOFlushed` callback to a
//! synced flush, so openraft acknowledges nothing before its fdatasync; `save_vote` waits
//! for its own sync; truncations and commits ride along with the next synced flush, which
//! FIFO ordering makes safe. Records are length-prefixed protobuf, so a torn tail reads as
//! `UnexpectedEof` and raft-log truncates it on open instead of refusing to start.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use keel_proto::keelraft as pb;
use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use prost::Message;
use raft_log::RaftLog;
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::codeq::{Decode, Encode};

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
    /// damage fails with an error naming the chunk file and offset.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut config = raft_log::Config::new(dir.display().to_string());
        config.wal.flush_batch_wait = Some(GROUP_COMMIT_WAIT);
        let wal = RaftLog::open(Arc::new(config))?;
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
