//! The MVCC key-value store: etcd's Range/Put/DeleteRange/Txn/Compact over the redb backend and
//! the in-memory index.
//!
//! Reads run concurrently with the apply path. The invariant that makes this safe: `State`
//! (index, current and compacted revision) is only changed under its write lock, `current` is
//! published only after the backend commit that wrote it, and a reader opens its backend read
//! transaction while it still holds the read lock. So every revision a reader selects (<= the
//! published `current`, >= `compacted`) is present in the snapshot it reads values from.
//! A compaction removes values, so it is published (index compacted, `compacted` raised)
//! together with `current`, under the write lock held across the commit that removed them:
//! readers never see a compacted revision above the published one, nor an index entry whose
//! value is gone from their snapshot.
//!
//! Writes come only from the Raft state machine, in log order, through an [`ApplyBatch`]: one
//! redb write transaction for a batch of entries, committed together with the applied log id.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use keel_proto::etcdserverpb::alarm_request::AlarmAction;
use keel_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::response_op::Response;
use keel_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, CompactionRequest, CompactionResponse,
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseCheckpointRequest,
    LeaseCheckpointResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader,
    ResponseOp, TxnRequest, TxnResponse,
};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{
    AuthApplied, AuthState, Command, CommandError, CommandResult, LeaseRecord, RevisionRecord,
    StateMachineImage,
};
use keel_proto::mvccpb::event::EventType;
use keel_proto::mvccpb::{Event, KeyValue};
use prost::Message;
use redb::{ReadableTable, Table};

use super::index::Index;
use super::key_range::KeyRange;
use super::leases::{LeaseInfo, Leases};
use super::revision::Revision;
use crate::auth::{Auth, TokenEffect};
use crate::backend::{self, Backend, KV, LEASES, META};
use crate::error::{Result, StoreError};

/// The Raft bookkeeping stored with the data: opaque encoded blobs (see `raft::codec`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftMeta {
    pub applied_log_id: Option<Vec<u8>>,
    pub membership: Option<Vec<u8>>,
}

/// etcd's largest lease TTL (seconds).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// What a committed batch changed: every event in revision order, for the watch hub.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Events of every revision the batch created, in order; each carries its `prev_kv` when
    /// the previous value is known.
    pub events: Vec<Event>,
    /// The store's revision after the batch.
    pub revision: i64,
    /// The compaction the batch ran, if any.
    pub compacted: Option<i64>,
}

/// A stretch of history read for a catching-up watcher.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Events with revisions in `[from, next)`, in order, whole revisions only.
    pub events: Vec<Event>,
    /// Where to continue: everything before it has been read.
    pub next: i64,
    /// The store's revision when this was read.
    pub current: i64,
}

#[derive(Default)]
struct State {
    index: Index,
    leases: Leases,
    /// The newest committed main revision.
    current: i64,
    /// Reads below this revision fail with "compacted".
    compacted: i64,
    cluster_id: u64,
    /// Raised alarms, replicated (etcd's alarm store).
    alarms: Vec<AlarmMember>,
}

pub struct Mvcc {
    pub(super) backend: Backend,
    state: RwLock<State>,
    /// Users, roles and tokens: replicated with the data, consulted by every request.
    pub auth: Auth,
}

impl Mvcc {
    /// Opens the state-machine file at `path` and rebuilds the index from it.
    pub fn open(path: &Path) -> Result<Self> {
        let backend = Backend::open(path)?;
        let state = load_state(&backend)?;
        let auth = Auth::default();
        auth.publish(Arc::new(read_auth(
            &backend.begin_read()?.open_table(META)?,
        )?));
        tracing::info!(
            path = %path.display(),
            revision = state.current,
            compacted = state.compacted,
            keys = state.index.key_count(),
            "opened state machine"
        );
        Ok(Self {
            backend,
            state: RwLock::new(state),
            auth,
        })
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn current_revision(&self) -> i64 {
        self.read_state().current
    }

    pub fn compact_revision(&self) -> i64 {
        self.read_state().compacted
    }

    pub fn cluster_id(&self) -> u64 {
        self.read_state().cluster_id
    }

    pub fn db_size(&self) -> u64 {
        self.backend.file_size()
    }

    /// Raised alarms, in activation order.
    pub fn alarms(&self) -> Vec<AlarmMember> {
        self.read_state().alarms.clone()
    }

    /// True while a NOSPACE alarm is raised: writes that add data are refused.
    pub fn space_exhausted(&self) -> bool {
        has_nospace(&self.read_state().alarms)
    }

    /// Records the cluster id when this data dir is first bootstrapped; keeps an existing one.
    pub fn init_cluster_id(&self, cluster_id: u64) -> Result<u64> {
        // The backend write transaction first, then the state lock, as on the apply path (an
        // apply batch holds the write transaction while it takes the lock).
        let txn = self.backend.begin_write()?;
        let mut state = self.write_state();
        if state.cluster_id != 0 {
            return Ok(state.cluster_id);
        }
        txn.open_table(META)?.insert(
            backend::meta::CLUSTER_ID,
            cluster_id.to_be_bytes().as_slice(),
        )?;
        txn.commit()?;
        state.cluster_id = cluster_id;
        Ok(cluster_id)
    }

    /// Makes everything applied so far durable in the state-machine file.
    pub fn persist(&self) -> Result<()> {
        self.backend.persist()
    }

    /// The Raft state that the stored data corresponds to.
    pub fn raft_meta(&self) -> Result<RaftMeta> {
        let txn = self.backend.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(RaftMeta {
            applied_log_id: backend::read_bytes(&meta, backend::meta::APPLIED_LOG_ID)?,
            membership: backend::read_bytes(&meta, backend::meta::MEMBERSHIP)?,
        })
    }

    /// etcd's Range, at the latest committed revision or at `req.revision`.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let state = self.read_state();
        let plan = plan_range(&state.index, req, state.current, state.compacted)?;
        let txn = self.backend.begin_read()?;
        drop(state);
        let table = txn.open_table(KV)?;
        finish_range(&table, req, plan)
    }

    /// A read transaction with the current and compacted revisions it is consistent with.
    pub(super) fn read_view(&self) -> Result<(redb::ReadTransaction, i64, i64)> {
        let state = self.read_state();
        let txn = self.backend.begin_read()?;
        Ok((txn, state.current, state.compacted))
    }

    /// One lease with its attached keys.
    pub fn lease(&self, id: i64) -> Option<LeaseInfo> {
        self.read_state().leases.get(id).cloned()
    }

    /// Every lease, without its keys.
    /// How many leases exist.
    pub fn lease_count(&self) -> usize {
        self.read_state().leases.len()
    }

    pub fn leases(&self) -> Vec<LeaseInfo> {
        self.read_state()
            .leases
            .iter()
            .map(|lease| LeaseInfo {
                keys: Default::default(),
                ..lease.clone()
            })
            .collect()
    }

    /// Events on keys in `range` from revision `from` on, in revision order: what a watcher
    /// that starts in the past must replay. Reads whole revisions until about `max_events`
    /// events (or a bounded amount of history) have been gathered; `History::next` says where
    /// to continue. Fails with `Compacted` when `from` is below the compaction revision.
    pub fn history(&self, range: &KeyRange, from: i64, max_events: usize) -> Result<History> {
        let state = self.read_state();
        if from < state.compacted {
            return Err(StoreError::Compacted);
        }
        let current = state.current;
        let txn = self.backend.begin_read()?;
        let table = txn.open_table(KV)?;
        let max_scanned = max_events.saturating_mul(8).max(1024);
        let mut events = Vec::new();
        // Never before `from`: a start in the future has nothing to read up to itself.
        let mut next = (current + 1).max(from);
        let mut last_main = None;
        let start = Revision::new(from.max(1), 0).to_key();
        for (scanned, entry) in table.range(start..)?.enumerate() {
            let (key, value) = entry?;
            let rev = Revision::from_key(key.value());
            if rev.main > current {
                break;
            }
            let budget_spent = events.len() >= max_events || scanned >= max_scanned;
            // At least one whole revision a page, so that paging always makes progress.
            if budget_spent && last_main.is_some_and(|main| main != rev.main) {
                next = rev.main;
                break;
            }
            last_main = Some(rev.main);
            let kv = KeyValue::decode(value.value())?;
            if !range.contains(&kv.key) {
                continue;
            }
            let prev_kv = match state.index.previous(&kv.key, rev) {
                Some(prev) => Some(read_kv(&table, prev)?),
                None => None,
            };
            let kind = if kv.version == 0 {
                EventType::Delete
            } else {
                EventType::Put
            };
            events.push(Event {
                r#type: kind as i32,
                kv: Some(kv),
                prev_kv,
            });
        }
        Ok(History {
            events,
            next,
            current,
        })
    }

    /// Starts applying a batch of Raft entries; see [`ApplyBatch`].
    pub fn begin_apply(&self) -> Result<ApplyBatch<'_>> {
        let txn = self.backend.begin_write()?;
        let state = self.read_state();
        Ok(ApplyBatch {
            mvcc: self,
            current: state.current,
            compacted: state.compacted,
            compaction: None,
            events: Vec::new(),
            auth: None,
            token_effects: Vec::new(),
            txn,
        })
    }

    /// A consistent image of everything stored, with the Raft state it corresponds to.
    pub fn export_image(&self) -> Result<(StateMachineImage, RaftMeta)> {
        let (txn, meta) = self.pin_image()?;
        Ok((image_of(&txn)?, meta))
    }

    /// A read transaction pinned at the current state, with the Raft state it corresponds to:
    /// a snapshot whose image is read later, if at all ([`image_of`]). Cheap to take; it keeps
    /// the pages it sees from being reused until dropped.
    pub fn pin_image(&self) -> Result<(redb::ReadTransaction, RaftMeta)> {
        let txn = self.backend.begin_read()?;
        let meta_table = txn.open_table(META)?;
        let meta = RaftMeta {
            applied_log_id: backend::read_bytes(&meta_table, backend::meta::APPLIED_LOG_ID)?,
            membership: backend::read_bytes(&meta_table, backend::meta::MEMBERSHIP)?,
        };
        drop(meta_table);
        Ok((txn, meta))
    }

    /// Replaces everything stored with `image` (a snapshot from the leader), durably, in one
    /// transaction together with the Raft state it corresponds to.
    pub fn install_image(&self, image: &StateMachineImage, meta: &RaftMeta) -> Result<()> {
        let txn = self.backend.begin_write()?;
        txn.delete_table(KV)?;
        txn.delete_table(LEASES)?;
        let mut index = Index::default();
        let mut leases = Leases::default();
        {
            let mut lease_table = txn.open_table(LEASES)?;
            for record in &image.leases {
                lease_table.insert(record.id, record.encode_to_vec().as_slice())?;
                leases.grant(record.id, record.ttl, record.remaining_ttl);
            }
            let mut kv_table = txn.open_table(KV)?;
            let mut live_leases = std::collections::HashMap::new();
            for record in &image.records {
                let kv = record.kv.clone().unwrap_or_default();
                let rev = Revision::new(record.main, record.sub);
                kv_table.insert(rev.to_key(), kv.encode_to_vec().as_slice())?;
                index.record(&kv.key, rev, record.tombstone);
                live_leases.insert(kv.key, kv.lease);
            }
            for (key, lease) in live_leases {
                leases.reattach(&key, 0, lease);
            }
            let mut meta_table = txn.open_table(META)?;
            write_counters(
                &mut meta_table,
                image.current_revision,
                image.compact_revision,
            )?;
            meta_table.insert(
                backend::meta::CLUSTER_ID,
                image.cluster_id.to_be_bytes().as_slice(),
            )?;
            write_alarms(&mut meta_table, &image.alarms)?;
            write_auth(&mut meta_table, &image.auth.clone().unwrap_or_default())?;
            write_raft_meta(&mut meta_table, meta)?;
        }
        let mut state = self.write_state();
        txn.commit()?;
        *state = State {
            index,
            leases,
            current: image.current_revision.max(1),
            compacted: image.compact_revision,
            cluster_id: image.cluster_id,
            alarms: image.alarms.clone(),
        };
        self.auth
            .publish(Arc::new(image.auth.clone().unwrap_or_default()));
        self.auth.apply_token_effects(&[TokenEffect::RevokeAll]);
        tracing::info!(
            revision = state.current,
            keys = state.index.key_count(),
            "installed state machine snapshot"
        );
        Ok(())
    }
}

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("meta value is not a u64".into()))?;
    Ok(u64::from_be_bytes(arr))
}

/// Everything `txn` sees, as a snapshot image.
pub fn image_of(txn: &redb::ReadTransaction) -> Result<StateMachineImage> {
    let meta_table = txn.open_table(META)?;
    let kv_table = txn.open_table(KV)?;
    let mut records = Vec::new();
    for entry in kv_table.iter()? {
        let (key, value) = entry?;
        let rev = Revision::from_key(key.value());
        let kv = KeyValue::decode(value.value())?;
        records.push(RevisionRecord {
            main: rev.main,
            sub: rev.sub,
            tombstone: kv.version == 0,
            kv: Some(kv),
        });
    }
    let cluster_id = match backend::read_bytes(&meta_table, backend::meta::CLUSTER_ID)? {
        Some(bytes) => decode_u64(&bytes)?,
        None => 0,
    };
    let mut leases = Vec::new();
    for entry in txn.open_table(LEASES)?.iter()? {
        let (_, value) = entry?;
        leases.push(LeaseRecord::decode(value.value())?);
    }
    let image = StateMachineImage {
        current_revision: backend::read_i64(&meta_table, backend::meta::CURRENT_REVISION)?,
        compact_revision: backend::read_i64(&meta_table, backend::meta::COMPACT_REVISION)?,
        records,
        cluster_id,
        leases,
        alarms: read_alarms(&meta_table)?,
        auth: Some(read_auth(&meta_table)?),
    };
    Ok(image)
}

/// The fields of a stored `mvccpb.KeyValue` that rebuilding the index needs: decoding only
/// these skips the value (field 5) without copying it, which is most of a record's bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct IndexedFields {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(int64, tag = "4")]
    version: i64,
    #[prost(int64, tag = "6")]
    lease: i64,
}

fn load_state(backend: &Backend) -> Result<State> {
    let txn = backend.begin_read()?;
    let meta = txn.open_table(META)?;
    let kv_table = txn.open_table(KV)?;
    let mut state = State {
        // An empty store is at revision 1, as in etcd: the first write gets revision 2.
        current: backend::read_i64(&meta, backend::meta::CURRENT_REVISION)?.max(1),
        compacted: backend::read_i64(&meta, backend::meta::COMPACT_REVISION)?,
        cluster_id: match backend::read_bytes(&meta, backend::meta::CLUSTER_ID)? {
            Some(bytes) => decode_u64(&bytes)?,
            None => 0,
        },
        index: Index::default(),
        leases: Leases::default(),
        alarms: read_alarms(&meta)?,
    };
    let lease_table = txn.open_table(LEASES)?;
    for entry in lease_table.iter()? {
        let (_, value) = entry?;
        let record = LeaseRecord::decode(value.value())
            .map_err(|err| StoreError::Corrupt(format!("lease record: {err}")))?;
        state
            .leases
            .grant(record.id, record.ttl, record.remaining_ttl);
    }
    // The lease of each key's newest revision; only keys that ever had one are tracked.
    let mut live_leases = std::collections::HashMap::new();
    for entry in kv_table.iter()? {
        let (key, value) = entry?;
        let rev = Revision::from_key(key.value());
        let kv = IndexedFields::decode(value.value()).map_err(|err| {
            StoreError::Corrupt(format!("kv record at revision {}: {err}", rev.main))
        })?;
        state.index.record(&kv.key, rev, kv.version == 0);
        if kv.lease != 0 || live_leases.contains_key(&kv.key) {
            live_leases.insert(kv.key, kv.lease);
        }
    }
    for (key, lease) in live_leases {
        state.leases.reattach(&key, 0, lease);
    }
    Ok(state)
}

fn write_counters(meta: &mut Table<&str, &[u8]>, current: i64, compacted: i64) -> Result<()> {
    meta.insert(
        backend::meta::CURRENT_REVISION,
        current.to_be_bytes().as_slice(),
    )?;
    meta.insert(
        backend::meta::COMPACT_REVISION,
        compacted.to_be_bytes().as_slice(),
    )?;
    Ok(())
}

fn read_alarms<T: ReadableTable<&'static str, &'static [u8]>>(
    meta: &T,
) -> Result<Vec<AlarmMember>> {
    match backend::read_bytes(meta, backend::meta::ALARMS)? {
        Some(bytes) => Ok(AlarmResponse::decode(bytes.as_slice())?.alarms),
        None => Ok(Vec::new()),
    }
}

fn read_auth<T: ReadableTable<&'static str, &'static [u8]>>(meta: &T) -> Result<AuthState> {
    match backend::read_bytes(meta, backend::meta::AUTH)? {
        Some(bytes) => AuthState::decode(bytes.as_slice())
            .map_err(|err| StoreError::Corrupt(format!("auth state: {err}"))),
        None => Ok(AuthState::default()),
    }
}

fn write_auth(meta: &mut Table<&str, &[u8]>, auth: &AuthState) -> Result<()> {
    meta.insert(backend::meta::AUTH, auth.encode_to_vec().as_slice())?;
    Ok(())
}

fn write_alarms(meta: &mut Table<&str, &[u8]>, alarms: &[AlarmMember]) -> Result<()> {
    let encoded = AlarmResponse {
        header: None,
        alarms: alarms.to_vec(),
    }
    .encode_to_vec();
    meta.insert(backend::meta::ALARMS, encoded.as_slice())?;
    Ok(())
}

fn has_nospace(alarms: &[AlarmMember]) -> bool {
    alarms.iter().any(|a| a.alarm == AlarmType::Nospace as i32)
}

/// Whether a request adds data, which a NOSPACE alarm forbids (etcd's `applierV3Capped`: puts,
/// txns containing a put, lease grants). Deletes, compaction and reads still work.
pub fn adds_data(request: &CommandRequest) -> bool {
    fn txn_puts(txn: &TxnRequest) -> bool {
        txn.success
            .iter()
            .chain(&txn.failure)
            .any(|op| match &op.request {
                Some(Request::RequestPut(_)) => true,
                Some(Request::RequestTxn(inner)) => txn_puts(inner),
                _ => false,
            })
    }
    match request {
        CommandRequest::Put(_) | CommandRequest::LeaseGrant(_) => true,
        CommandRequest::Txn(txn) => txn_puts(txn),
        _ => false,
    }
}

/// etcd's alarm store applied: ACTIVATE adds (once), DEACTIVATE removes; both answer with the
/// alarm they touched, GET with the alarms of the requested type (NONE: all).
fn apply_alarm(alarms: &mut Vec<AlarmMember>, req: &AlarmRequest) -> AlarmResponse {
    let wanted = AlarmMember {
        member_id: req.member_id,
        alarm: req.alarm,
    };
    let mut touched = Vec::new();
    match req.action() {
        AlarmAction::Activate if req.alarm != AlarmType::None as i32 => {
            if !alarms.contains(&wanted) {
                alarms.push(wanted);
            }
            touched.push(wanted);
        }
        AlarmAction::Deactivate => {
            if let Some(at) = alarms.iter().position(|a| *a == wanted) {
                touched.push(alarms.remove(at));
            }
        }
        AlarmAction::Get => touched = alarms_of_type(alarms, req.alarm),
        AlarmAction::Activate => {}
    }
    AlarmResponse {
        header: None,
        alarms: touched,
    }
}

/// The alarms of one type (`NONE`: every alarm).
pub fn alarms_of_type(alarms: &[AlarmMember], alarm: i32) -> Vec<AlarmMember> {
    alarms
        .iter()
        .filter(|a| alarm == AlarmType::None as i32 || a.alarm == alarm)
        .cloned()
        .collect()
}

fn write_raft_meta(meta_table: &mut Table<&str, &[u8]>, meta: &RaftMeta) -> Result<()> {
    if let Some(applied) = &meta.applied_log_id {
        meta_table.insert(backend::meta::APPLIED_LOG_ID, applied.as_slice())?;
    }
    if let Some(membership) = &meta.membership {
        meta_table.insert(backend::meta::MEMBERSHIP, membership.as_slice())?;
    }
    Ok(())
}

// ---- the read path -----------------------------------------------------------------------

/// What a Range selected from the index, before values are read from the backend.
struct RangePlan {
    revisions: Vec<Revision>,
    /// The header revision: the store's revision as the read saw it.
    header_revision: i64,
}

/// Validates the read revision and selects the revisions to read, in key order.
/// `current` is the newest revision visible to this read (inside a txn: the txn's own).
fn plan_range(
    index: &Index,
    req: &RangeRequest,
    current: i64,
    compacted: i64,
) -> Result<RangePlan> {
    let at = if req.revision <= 0 {
        current
    } else {
        req.revision
    };
    if at > current {
        return Err(StoreError::FutureRevision);
    }
    if at < compacted {
        return Err(StoreError::Compacted);
    }
    let range = KeyRange::new(&req.key, &req.range_end);
    Ok(RangePlan {
        revisions: index.visible_at(&range, at).map(|(_, rev)| rev).collect(),
        header_revision: current,
    })
}

fn has_revision_filters(req: &RangeRequest) -> bool {
    req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0
}

/// Reads the planned values and applies etcd's limit/filter/sort/keys-only rules
/// (etcd `applierV3backend.Range`).
fn finish_range<T: ReadableTable<u128, &'static [u8]>>(
    table: &T,
    req: &RangeRequest,
    plan: RangePlan,
) -> Result<RangeResponse> {
    let count = plan.revisions.len() as i64;
    let header = Some(ResponseHeader {
        revision: plan.header_revision,
        ..Default::default()
    });
    if req.count_only {
        return Ok(RangeResponse {
            header,
            kvs: Vec::new(),
            more: false,
            count,
        });
    }
    let sort_order = req.sort_order();
    let mut fetch = req.limit;
    if sort_order != SortOrder::None || has_revision_filters(req) {
        fetch = 0; // fetch everything; filter, sort and truncate afterwards
    }
    if fetch > 0 {
        fetch = fetch.saturating_add(1); // one extra to know whether there are more
    }
    let take = match usize::try_from(fetch) {
        Ok(fetch) if fetch > 0 => fetch.min(plan.revisions.len()),
        _ => plan.revisions.len(),
    };
    let mut kvs = Vec::with_capacity(take);
    for rev in &plan.revisions[..take] {
        kvs.push(read_kv(table, *rev)?);
    }
    kvs.retain(|kv| {
        !((req.min_mod_revision != 0 && kv.mod_revision < req.min_mod_revision)
            || (req.max_mod_revision != 0 && kv.mod_revision > req.max_mod_revision)
            || (req.min_create_revision != 0 && kv.create_revision < req.min_create_revision)
            || (req.max_create_revision != 0 && kv.create_revision > req.max_create_revision))
    });
    let target = req.sort_target();
    let effective_order = match (target, sort_order) {
        (SortTarget::Key, SortOrder::Ascend) => SortOrder::None, // already in key order
        (t, SortOrder::None) if t != SortTarget::Key => SortOrder::Ascend,
        (_, order) => order,
    };
    if effective_order != SortOrder::None {
        let cmp = |a: &KeyValue, b: &KeyValue| -> Ordering {
            match target {
                SortTarget::Key => a.key.cmp(&b.key),
                SortTarget::Version => a.version.cmp(&b.version),
                SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                SortTarget::Value => a.value.cmp(&b.value),
            }
        };
        if effective_order == SortOrder::Descend {
            kvs.sort_by(|a, b| cmp(b, a));
        } else {
            kvs.sort_by(cmp);
        }
    }
    let mut more = false;
    if req.limit > 0 && kvs.len() > req.limit as usize {
        kvs.truncate(req.limit as usize);
        more = true;
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header,
        kvs,
        more,
        count,
    })
}

fn read_kv<T: ReadableTable<u128, &'static [u8]>>(table: &T, rev: Revision) -> Result<KeyValue> {
    let guard = table.get(rev.to_key())?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "index refers to revision {}/{} which is not stored",
            rev.main, rev.sub
        ))
    })?;
    Ok(KeyValue::decode(guard.value())?)
}

// ---- the apply path ----------------------------------------------------------------------

/// A batch of Raft entries being applied in one backend transaction. Commands are executed in
/// order with [`ApplyBatch::execute`]; [`ApplyBatch::commit`] makes their effects and the applied
/// log id durable together, then publishes the new revision to readers.
pub struct ApplyBatch<'a> {
    mvcc: &'a Mvcc,
    txn: redb::WriteTransaction,
    current: i64,
    compacted: i64,
    /// A compaction executed in this batch, published to readers by `commit`.
    compaction: Option<i64>,
    /// Events of the changes made so far, in revision order.
    events: Vec<Event>,
    /// The auth state as changed by this batch, published by `commit`.
    auth: Option<AuthState>,
    /// What this batch's logins and user changes ask of the token table, done by `commit`.
    token_effects: Vec<TokenEffect>,
}

impl ApplyBatch<'_> {
    /// Executes one command. Request-level failures (e.g. a compacted revision) are part of the
    /// result, as in etcd, and change nothing; `Err` means the backend itself failed.
    pub fn execute(&mut self, command: &Command) -> Result<CommandResult> {
        let outcome = match self.execute_request(command) {
            Ok(outcome) => outcome,
            Err(err @ (StoreError::Storage(_) | StoreError::Corrupt(_))) => return Err(err),
            Err(err) => CommandOutcome::Error(CommandError {
                code: err.code() as i32,
                message: err.to_string(),
            }),
        };
        Ok(CommandResult {
            result: Some(outcome),
        })
    }

    fn execute_request(&mut self, command: &Command) -> Result<CommandOutcome> {
        let Some(request) = &command.request else {
            return Err(StoreError::Corrupt("command without a request".into()));
        };
        if let Some(header) = &command.auth_header {
            // Checked against an auth state that has changed since (etcd's ErrAuthOldRevision).
            let auth = self.auth_state();
            if auth.enabled && header.auth_revision < auth.revision {
                return Err(StoreError::AuthOldRevision);
            }
        }
        if let CommandRequest::Auth(auth_command) = request {
            let Some(auth_request) = &auth_command.request else {
                return Err(StoreError::Corrupt("auth command without a request".into()));
            };
            let mut auth = self.auth_state().as_ref().clone();
            let effect = crate::auth::apply::apply(&mut auth, auth_request)?;
            write_auth(&mut self.txn.open_table(META)?, &auth)?;
            let auth_revision = auth.revision;
            self.auth = Some(auth);
            self.token_effects.push(effect);
            return Ok(CommandOutcome::Auth(AuthApplied { auth_revision }));
        }
        let mut guard = self.mvcc.write_state();
        let state = &mut *guard;
        if has_nospace(&state.alarms) && adds_data(request) {
            return Err(StoreError::NoSpace);
        }

        let mut table = self.txn.open_table(KV)?;
        let mut writer = Writer {
            index: &mut state.index,
            leases: &mut state.leases,
            table: &mut table,
            events: &mut self.events,
            begin: self.current,
            compacted: self.compacted,
            sub: 0,
        };
        let outcome = match request {
            CommandRequest::Put(req) => {
                // etcd's Put checks the lease before the previous value (a txn's checkRequestPut
                // checks them the other way round).
                writer.check_lease(req)?;
                writer.check_put(req)?;
                CommandOutcome::Put(writer.put(req)?)
            }
            CommandRequest::DeleteRange(req) => {
                CommandOutcome::DeleteRange(writer.delete_range(req)?)
            }
            CommandRequest::Txn(req) => CommandOutcome::Txn(writer.txn(req)?),
            CommandRequest::Compaction(req) => {
                let resp = writer.compact(req)?;
                self.compacted = req.revision;
                self.compaction = Some(req.revision);
                CommandOutcome::Compaction(resp)
            }
            CommandRequest::LeaseGrant(req) => {
                let mut lease_table = self.txn.open_table(LEASES)?;
                CommandOutcome::LeaseGrant(writer.lease_grant(req, &mut lease_table)?)
            }
            CommandRequest::LeaseRevoke(req) => {
                let mut lease_table = self.txn.open_table(LEASES)?;
                CommandOutcome::LeaseRevoke(writer.lease_revoke(req, &mut lease_table)?)
            }
            CommandRequest::LeaseCheckpoint(req) => {
                let mut lease_table = self.txn.open_table(LEASES)?;
                CommandOutcome::LeaseCheckpoint(writer.lease_checkpoint(req, &mut lease_table)?)
            }
            CommandRequest::Alarm(req) => {
                let response = apply_alarm(&mut state.alarms, req);
                write_alarms(&mut self.txn.open_table(META)?, &state.alarms)?;
                CommandOutcome::Alarm(response)
            }
            CommandRequest::Auth(_) => {
                return Err(StoreError::Corrupt(
                    "auth command reached the KV path".into(),
                ));
            }
        };
        if writer.sub > 0 {
            self.current += 1;
        }
        Ok(outcome)
    }

    /// The auth state this batch's commands see: the published one plus this batch's changes.
    fn auth_state(&self) -> Arc<AuthState> {
        match &self.auth {
            Some(auth) => Arc::new(auth.clone()),
            None => self.mvcc.auth.state(),
        }
    }

    /// Commits the batch together with the Raft state it brings the store to, then publishes
    /// its revision (and compaction, if it ran one) to readers. Returns what changed.
    pub fn commit(self, meta: &RaftMeta) -> Result<Applied> {
        {
            let mut meta_table = self.txn.open_table(META)?;
            write_counters(&mut meta_table, self.current, self.compacted)?;
            write_raft_meta(&mut meta_table, meta)?;
        }
        // A membership change is rare and worth having on disk at once; everything else is
        // made durable by the Raft log first (see `backend`).
        let durable = meta.membership.is_some();
        match self.compaction {
            None => {
                self.mvcc.backend.commit_apply(self.txn, durable)?;
                self.mvcc.write_state().current = self.current;
            }
            Some(at) => {
                // The commit removes values: readers wait, and then see the compacted index,
                // the compaction and the new revision together (see the module docs).
                let mut state = self.mvcc.write_state();
                self.mvcc.backend.commit_apply(self.txn, true)?;
                state.index.compact(at);
                state.compacted = at;
                state.current = self.current;
            }
        }
        if let Some(auth) = self.auth {
            self.mvcc.auth.publish(Arc::new(auth));
        }
        self.mvcc.auth.apply_token_effects(&self.token_effects);
        Ok(Applied {
            events: self.events,
            revision: self.current,
            compacted: self.compaction,
        })
    }
}

/// Executes one write request (possibly a txn) at main revision `begin + 1`.
struct Writer<'s, 't, 'tx> {
    index: &'s mut Index,
    leases: &'s mut Leases,
    table: &'t mut Table<'tx, u128, &'static [u8]>,
    events: &'s mut Vec<Event>,
    /// The store's revision before this request.
    begin: i64,
    compacted: i64,
    /// Changes made so far; each takes the next sub revision.
    sub: i64,
}

impl Writer<'_, '_, '_> {
    fn main(&self) -> i64 {
        self.begin + 1
    }

    /// The revision reads inside this request see: its own changes once it has made any.
    fn read_revision(&self) -> i64 {
        if self.sub > 0 {
            self.main()
        } else {
            self.begin
        }
    }

    fn header(revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            revision,
            ..Default::default()
        })
    }

    fn live_kv(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        match self.index.live(key) {
            Some(rev) => Ok(Some(read_kv(&*self.table, rev)?)),
            None => Ok(None),
        }
    }

    fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let plan = plan_range(self.index, req, self.read_revision(), self.compacted)?;
        finish_range(&*self.table, req, plan)
    }

    /// etcd's checkRequestPut: what a put needs from the current state.
    fn check_put(&self, req: &PutRequest) -> Result<()> {
        if (req.ignore_value || req.ignore_lease) && self.index.live(&req.key).is_none() {
            return Err(StoreError::KeyNotFound);
        }
        self.check_lease(req)
    }

    fn check_lease(&self, req: &PutRequest) -> Result<()> {
        if req.lease != 0 && !req.ignore_lease && !self.leases.contains(req.lease) {
            return Err(StoreError::LeaseNotFound);
        }
        Ok(())
    }

    fn put(&mut self, req: &PutRequest) -> Result<PutResponse> {
        let prev = self.live_kv(&req.key)?;
        let main = self.main();
        let rev = Revision::new(main, self.sub);
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: prev.as_ref().map_or(main, |p| p.create_revision),
            mod_revision: main,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            value: match (&prev, req.ignore_value) {
                (Some(p), true) => p.value.clone(),
                _ => req.value.clone(),
            },
            lease: match (&prev, req.ignore_lease) {
                (Some(p), true) => p.lease,
                _ => req.lease,
            },
        };
        self.table
            .insert(rev.to_key(), kv.encode_to_vec().as_slice())?;
        self.index.record(&req.key, rev, false);
        self.leases
            .reattach(&req.key, prev.as_ref().map_or(0, |p| p.lease), kv.lease);
        self.sub += 1;
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev.clone(),
        });
        Ok(PutResponse {
            header: Self::header(main),
            prev_kv: if req.prev_kv { prev } else { None },
        })
    }

    fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let range = KeyRange::new(&req.key, &req.range_end);
        let at = self.read_revision();
        let doomed: Vec<(Vec<u8>, Revision)> = self
            .index
            .visible_at(&range, at)
            .map(|(key, rev)| (key.to_vec(), rev))
            .collect();
        let mut prev_kvs = Vec::new();
        let main = self.main();
        for (key, live) in &doomed {
            let prev = read_kv(&*self.table, *live)?;
            let rev = Revision::new(main, self.sub);
            let tombstone = KeyValue {
                key: key.clone(),
                mod_revision: main,
                ..Default::default()
            };
            self.table
                .insert(rev.to_key(), tombstone.encode_to_vec().as_slice())?;
            self.index.record(key, rev, true);
            self.leases.reattach(key, prev.lease, 0);
            self.sub += 1;
            if req.prev_kv {
                prev_kvs.push(prev.clone());
            }
            self.events.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(tombstone),
                prev_kv: Some(prev),
            });
        }
        Ok(DeleteRangeResponse {
            header: Self::header(if self.sub > 0 { main } else { self.begin }),
            deleted: doomed.len() as i64,
            prev_kvs,
        })
    }

    fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse> {
        // As etcd: choose every branch (nested ones too) and check the chosen ops against the
        // state before the txn, so a failing check changes nothing.
        let path = self.choose_path(req)?;
        self.check_path(req, &path)?;
        let mut steps = path.into_iter();
        let mut resp = self.apply_path(req, &mut steps)?;
        resp.header = Self::header(self.read_revision());
        Ok(resp)
    }

    /// Compare results for this txn and every nested txn on the chosen branches, depth first.
    fn choose_path(&self, req: &TxnRequest) -> Result<Vec<bool>> {
        let mut path = Vec::new();
        self.choose_into(req, &mut path)?;
        Ok(path)
    }

    fn choose_into(&self, req: &TxnRequest, path: &mut Vec<bool>) -> Result<()> {
        let mut succeeded = true;
        for cmp in &req.compare {
            if !self.compare(cmp)? {
                succeeded = false;
                break;
            }
        }
        path.push(succeeded);
        let branch = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        for op in branch {
            if let Some(Request::RequestTxn(nested)) = &op.request {
                self.choose_into(nested, path)?;
            }
        }
        Ok(())
    }

    /// etcd's applyCompare.
    fn compare(&self, cmp: &Compare) -> Result<bool> {
        let range = KeyRange::new(&cmp.key, &cmp.range_end);
        let revs: Vec<Revision> = self
            .index
            .visible_at(&range, self.read_revision())
            .map(|(_, rev)| rev)
            .collect();
        if revs.is_empty() {
            if cmp.target() == CompareTarget::Value {
                return Ok(false);
            }
            return Ok(compare_kv(cmp, &KeyValue::default()));
        }
        for rev in revs {
            if !compare_kv(cmp, &read_kv(&*self.table, rev)?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// etcd's checkRequests: first every put on the chosen path, then every range, so the
    /// error a txn fails with is etcd's.
    fn check_path(&self, req: &TxnRequest, path: &[bool]) -> Result<()> {
        self.check_ops(req, &mut path.iter().copied(), Check::Puts)?;
        self.check_ops(req, &mut path.iter().copied(), Check::Ranges)
    }

    fn check_ops(
        &self,
        req: &TxnRequest,
        steps: &mut impl Iterator<Item = bool>,
        check: Check,
    ) -> Result<()> {
        let succeeded = steps.next().unwrap_or(false);
        let branch = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        for op in branch {
            match &op.request {
                Some(Request::RequestPut(put)) if check == Check::Puts => self.check_put(put)?,
                Some(Request::RequestRange(range)) if check == Check::Ranges => {
                    if range.revision > self.begin {
                        return Err(StoreError::FutureRevision);
                    }
                    if range.revision > 0 && range.revision < self.compacted {
                        return Err(StoreError::Compacted);
                    }
                }
                Some(Request::RequestTxn(nested)) => self.check_ops(nested, steps, check)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_path(
        &mut self,
        req: &TxnRequest,
        steps: &mut impl Iterator<Item = bool>,
    ) -> Result<TxnResponse> {
        let succeeded = steps.next().unwrap_or(false);
        let branch = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        let mut responses = Vec::with_capacity(branch.len());
        for op in branch {
            let response = match &op.request {
                Some(Request::RequestRange(r)) => Some(Response::ResponseRange(self.range(r)?)),
                Some(Request::RequestPut(r)) => Some(Response::ResponsePut(self.put(r)?)),
                Some(Request::RequestDeleteRange(r)) => {
                    Some(Response::ResponseDeleteRange(self.delete_range(r)?))
                }
                Some(Request::RequestTxn(r)) => {
                    Some(Response::ResponseTxn(self.apply_path(r, steps)?))
                }
                None => None,
            };
            responses.push(ResponseOp { response });
        }
        // etcd gives every txn response an empty header; the top-level one gets its revision
        // afterwards.
        Ok(TxnResponse {
            header: Some(ResponseHeader::default()),
            succeeded,
            responses,
        })
    }

    fn compact(&mut self, req: &CompactionRequest) -> Result<CompactionResponse> {
        if req.revision <= self.compacted {
            return Err(StoreError::Compacted);
        }
        if req.revision > self.begin {
            return Err(StoreError::FutureRevision);
        }
        // The index itself is compacted when the batch commits (see `ApplyBatch::commit`).
        let dropped = self.index.compactable(req.revision);
        for rev in &dropped {
            self.table.remove(rev.to_key())?;
        }
        tracing::info!(
            revision = req.revision,
            dropped = dropped.len(),
            "compaction done"
        );
        Ok(CompactionResponse {
            header: Self::header(self.begin),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Puts,
    Ranges,
}

impl Writer<'_, '_, '_> {
    fn lease_grant(
        &mut self,
        req: &LeaseGrantRequest,
        table: &mut Table<i64, &[u8]>,
    ) -> Result<LeaseGrantResponse> {
        if req.id == 0 {
            return Err(StoreError::LeaseNotFound);
        }
        if req.ttl > MAX_LEASE_TTL {
            return Err(StoreError::LeaseTtlTooLarge);
        }
        if self.leases.contains(req.id) {
            return Err(StoreError::LeaseExists);
        }
        let record = LeaseRecord {
            id: req.id,
            ttl: req.ttl,
            remaining_ttl: 0,
        };
        table.insert(req.id, record.encode_to_vec().as_slice())?;
        self.leases.grant(req.id, req.ttl, 0);
        Ok(LeaseGrantResponse {
            header: Self::header(self.begin),
            id: req.id,
            ttl: req.ttl,
            error: String::new(),
        })
    }

    /// Deletes every key attached to the lease in one revision, then the lease.
    fn lease_revoke(
        &mut self,
        req: &LeaseRevokeRequest,
        table: &mut Table<i64, &[u8]>,
    ) -> Result<LeaseRevokeResponse> {
        let Some(keys) = self.leases.get(req.id).map(|lease| lease.keys.clone()) else {
            return Err(StoreError::LeaseNotFound);
        };
        for key in keys {
            self.delete_range(&DeleteRangeRequest {
                key,
                range_end: Vec::new(),
                prev_kv: false,
            })?;
        }
        self.leases.revoke(req.id);
        table.remove(req.id)?;
        Ok(LeaseRevokeResponse {
            header: Self::header(self.read_revision()),
        })
    }

    /// Records the leader's view of remaining TTLs, so a new leader resumes from them.
    fn lease_checkpoint(
        &mut self,
        req: &LeaseCheckpointRequest,
        table: &mut Table<i64, &[u8]>,
    ) -> Result<LeaseCheckpointResponse> {
        for checkpoint in &req.checkpoints {
            if !self
                .leases
                .checkpoint(checkpoint.id, checkpoint.remaining_ttl)
            {
                continue;
            }
            let ttl = self.leases.get(checkpoint.id).map_or(0, |lease| lease.ttl);
            let record = LeaseRecord {
                id: checkpoint.id,
                ttl,
                remaining_ttl: checkpoint.remaining_ttl,
            };
            table.insert(checkpoint.id, record.encode_to_vec().as_slice())?;
        }
        Ok(LeaseCheckpointResponse {
            header: Self::header(self.begin),
        })
    }
}

/// etcd's compareKV.
fn compare_kv(cmp: &Compare, kv: &KeyValue) -> bool {
    let ordering = match cmp.target() {
        CompareTarget::Value => {
            let wanted: &[u8] = match &cmp.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(wanted)
        }
        CompareTarget::Create => kv.create_revision.cmp(&target_int(cmp)),
        CompareTarget::Mod => kv.mod_revision.cmp(&target_int(cmp)),
        CompareTarget::Version => kv.version.cmp(&target_int(cmp)),
        CompareTarget::Lease => kv.lease.cmp(&target_int(cmp)),
    };
    match cmp.result() {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

/// The integer operand of a compare; as in etcd, only the union variant of the compare's own
/// target counts (any other is taken as 0).
fn target_int(cmp: &Compare) -> i64 {
    match (cmp.target(), &cmp.target_union) {
        (CompareTarget::Version, Some(TargetUnion::Version(v)))
        | (CompareTarget::Create, Some(TargetUnion::CreateRevision(v)))
        | (CompareTarget::Mod, Some(TargetUnion::ModRevision(v)))
        | (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => *v,
        _ => 0,
    }
}
