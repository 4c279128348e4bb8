//! The MVCC store against etcd v3 semantics (etcd v3.4 `etcdserver/apply.go`, `lease/lessor.go`
//! and `mvcc`).
//!
//! - `model_equivalence`: a proptest property test. Random sequences of puts, deletes, txns
//!   (compares over keys and ranges, nested txns), compactions, lease grants, revokes and
//!   checkpoints, puts attached to leases, reads (historic revisions, limit, sort, filters,
//!   keys/count only), history reads (watchers catching up from random start revisions, paged),
//!   restarts and snapshot installs run against the store and against a reference model, a
//!   full copy of the key space per revision plus the events of each revision and the leases.
//!   Every response, every committed batch's events, every lease (with its keys) and every
//!   page of history must equal the model's, field by field.
//! - Example tests for etcd's edge cases.
//!
//! An empty store is at revision 1 (the first write is revision 2), as in etcd; so is the model.
//! Sorting by a target other than the key is stable: ties keep key order (etcd leaves ties in
//! an unspecified order, so this is one of the orders etcd may answer with).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use keel_proto::etcdserverpb::alarm_request::AlarmAction;
use keel_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::response_op::Response;
use keel_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, CompactionRequest, CompactionResponse,
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseCheckpoint, LeaseCheckpointRequest,
    LeaseCheckpointResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as Outcome;
use keel_proto::keelraft::{Command, CommandError, CommandResult};
use keel_proto::mvccpb::event::EventType;
use keel_proto::mvccpb::{Event, KeyValue};
use keel_store::StoreError;
use keel_store::mvcc::key_range::KeyRange;
use keel_store::mvcc::{Applied, LeaseInfo, Mvcc, RaftMeta, validate};
use proptest::prelude::*;
use tempfile::TempDir;

const MAX_TXN_OPS: usize = 128;
const CLUSTER_ID: u64 = 0x6b65656c;
/// etcd's MaxLeaseTTL (seconds).
const MAX_LEASE_TTL: i64 = 9_000_000_000;

// ---- the reference model -------------------------------------------------------------------

type Snapshot = BTreeMap<Vec<u8>, KeyValue>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelError {
    Compacted,
    Future,
    KeyNotFound,
    LeaseNotFound,
    LeaseExists,
    LeaseTtlTooLarge,
    NoSpace,
}

impl ModelError {
    fn store_error(self) -> StoreError {
        match self {
            Self::Compacted => StoreError::Compacted,
            Self::Future => StoreError::FutureRevision,
            Self::KeyNotFound => StoreError::KeyNotFound,
            Self::LeaseNotFound => StoreError::LeaseNotFound,
            Self::LeaseExists => StoreError::LeaseExists,
            Self::LeaseTtlTooLarge => StoreError::LeaseTtlTooLarge,
            Self::NoSpace => StoreError::NoSpace,
        }
    }
}

/// Whether a txn has a put in either branch, at any depth.
fn txn_has_put(txn: &TxnRequest) -> bool {
    txn.success
        .iter()
        .chain(&txn.failure)
        .any(|op| match &op.request {
            Some(Request::RequestPut(_)) => true,
            Some(Request::RequestTxn(inner)) => txn_has_put(inner),
            _ => false,
        })
}

/// The event etcd's watchers get for a put: the new value and the one it replaced, if any.
fn put_event(kv: KeyValue, prev_kv: Option<KeyValue>) -> Event {
    Event {
        r#type: EventType::Put as i32,
        kv: Some(kv),
        prev_kv,
    }
}

/// The event for a delete: a tombstone (the key and the deleting revision only) and the value
/// deleted.
fn delete_event(key: &[u8], revision: i64, prev_kv: Option<KeyValue>) -> Event {
    Event {
        r#type: EventType::Delete as i32,
        kv: Some(KeyValue {
            key: key.to_vec(),
            mod_revision: revision,
            ..Default::default()
        }),
        prev_kv,
    }
}

/// The main revision an event happened at.
fn event_revision(event: &Event) -> i64 {
    event.kv.as_ref().expect("event without a kv").mod_revision
}

/// etcd's range forms: `key` alone, `[key, range_end)`, and `range_end == "\0"` for every key
/// >= `key`.
fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    match end {
        [] => key == start,
        [0] => key >= start,
        _ => start <= key && key < end,
    }
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

fn error_outcome(err: StoreError) -> Outcome {
    Outcome::Error(CommandError {
        code: err.code() as i32,
        message: err.to_string(),
    })
}

/// etcd's applierV3backend.Range over the key space at one revision.
fn range_snapshot(snap: &Snapshot, req: &RangeRequest, header_revision: i64) -> RangeResponse {
    let mut kvs: Vec<KeyValue> = snap
        .values()
        .filter(|kv| in_range(&kv.key, &req.key, &req.range_end))
        .cloned()
        .collect();
    let count = kvs.len() as i64;
    if req.count_only {
        return RangeResponse {
            header: header(header_revision),
            kvs: Vec::new(),
            more: false,
            count,
        };
    }
    let filtered = req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    if req.sort_order == SortOrder::None as i32 && !filtered && req.limit > 0 {
        kvs.truncate(req.limit as usize + 1);
    }
    kvs.retain(|kv| {
        (req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
            && (req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
            && (req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision)
            && (req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision)
    });
    let target = req.sort_target;
    let mut order = req.sort_order;
    if target != SortTarget::Key as i32 && order == SortOrder::None as i32 {
        order = SortOrder::Ascend as i32;
    }
    let by_target = |a: &KeyValue, b: &KeyValue| match target {
        t if t == SortTarget::Version as i32 => a.version.cmp(&b.version),
        t if t == SortTarget::Create as i32 => a.create_revision.cmp(&b.create_revision),
        t if t == SortTarget::Mod as i32 => a.mod_revision.cmp(&b.mod_revision),
        t if t == SortTarget::Value as i32 => a.value.cmp(&b.value),
        _ => a.key.cmp(&b.key),
    };
    if order == SortOrder::Ascend as i32 {
        kvs.sort_by(by_target);
    } else if order == SortOrder::Descend as i32 {
        kvs.sort_by(|a, b| by_target(b, a));
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
    RangeResponse {
        header: header(header_revision),
        kvs,
        more,
        count,
    }
}

/// etcd's compareKV: the operand is the target union only when its kind matches the target.
fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let union = c.target_union.as_ref();
    let ordering = match c.target() {
        CompareTarget::Value => {
            let wanted: &[u8] = match union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(wanted)
        }
        CompareTarget::Version => kv.version.cmp(match union {
            Some(TargetUnion::Version(v)) => v,
            _ => &0,
        }),
        CompareTarget::Create => kv.create_revision.cmp(match union {
            Some(TargetUnion::CreateRevision(v)) => v,
            _ => &0,
        }),
        CompareTarget::Mod => kv.mod_revision.cmp(match union {
            Some(TargetUnion::ModRevision(v)) => v,
            _ => &0,
        }),
        CompareTarget::Lease => kv.lease.cmp(match union {
            Some(TargetUnion::Lease(v)) => v,
            _ => &0,
        }),
    };
    match c.result() {
        CompareResult::Equal => ordering.is_eq(),
        CompareResult::NotEqual => ordering.is_ne(),
        CompareResult::Greater => ordering.is_gt(),
        CompareResult::Less => ordering.is_lt(),
    }
}

fn branch(req: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &req.success
    } else {
        &req.failure
    }
}

/// A lease as the model keeps it: (granted TTL, checkpointed remaining TTL). Its keys are the
/// live keys whose `lease` is its id (a lease cannot go while keys are attached to it).
type ModelLease = (i64, i64);

/// The store as a list of full snapshots, one per revision, with the events of each revision.
#[derive(Debug)]
struct Model {
    /// `revs[r]` is the key space at revision `r`; an empty store is at revision 1, as in etcd
    /// (`revs[0]` and `revs[1]` are both empty).
    revs: Vec<Snapshot>,
    /// `events[r]`: the events of revision `r` in sub-revision order, each with the value it
    /// replaced or deleted as `prev_kv`.
    events: Vec<Vec<Event>>,
    compacted: i64,
    leases: BTreeMap<i64, ModelLease>,
    /// Raised alarms as (member, alarm type), in activation order.
    alarms: Vec<(u64, i32)>,
}

impl Model {
    fn new() -> Self {
        Self {
            revs: vec![Snapshot::new(), Snapshot::new()],
            events: vec![Vec::new(), Vec::new()],
            compacted: 0,
            leases: BTreeMap::new(),
            alarms: Vec::new(),
        }
    }

    /// `Mvcc::lease`: the lease with the keys attached to it now.
    fn lease(&self, id: i64) -> Option<LeaseInfo> {
        let (ttl, remaining_ttl) = *self.leases.get(&id)?;
        Some(LeaseInfo {
            id,
            ttl,
            remaining_ttl,
            keys: self
                .at(self.current())
                .values()
                .filter(|kv| kv.lease == id)
                .map(|kv| kv.key.clone())
                .collect(),
        })
    }

    /// `Mvcc::leases`: every lease in id order, without keys.
    fn leases(&self) -> Vec<LeaseInfo> {
        self.leases
            .iter()
            .map(|(&id, &(ttl, remaining_ttl))| LeaseInfo {
                id,
                ttl,
                remaining_ttl,
                keys: Default::default(),
            })
            .collect()
    }

    /// The events of revisions `from..=to`, in order.
    fn events_between(&self, from: i64, to: i64) -> Vec<Event> {
        (from.max(0)..=to)
            .flat_map(|rev| self.events[rev as usize].iter().cloned())
            .collect()
    }

    /// Whether the value written at `kv.mod_revision` is still stored: newer than the
    /// compaction, or the key's value at the compaction revision (what reads there see).
    fn still_stored(&self, kv: &KeyValue) -> bool {
        kv.mod_revision >= self.compacted
            || self
                .at(self.compacted)
                .get(&kv.key)
                .is_some_and(|at| at.mod_revision == kv.mod_revision)
    }

    /// What a watcher on `[key, range_end)` starting at `from` must replay: every event on
    /// those keys from revision `from` on (compacting at a revision keeps that revision's
    /// events, etcd PR #18274), each `prev_kv` dropped where that value was compacted away.
    fn history(&self, key: &[u8], range_end: &[u8], from: i64) -> Result<Vec<Event>, StoreError> {
        if from < self.compacted {
            return Err(StoreError::Compacted);
        }
        let mut events = self.events_between(from, self.current());
        events.retain(|ev| in_range(&ev.kv.as_ref().expect("kv").key, key, range_end));
        for ev in &mut events {
            if ev
                .prev_kv
                .as_ref()
                .is_some_and(|prev| !self.still_stored(prev))
            {
                ev.prev_kv = None;
            }
        }
        Ok(events)
    }

    fn current(&self) -> i64 {
        self.revs.len() as i64 - 1
    }

    fn at(&self, rev: i64) -> &Snapshot {
        &self.revs[rev as usize]
    }

    /// A Range outside any txn: `Mvcc::range`.
    fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        let current = self.current();
        let at = if req.revision <= 0 {
            current
        } else {
            req.revision
        };
        if at > current {
            return Err(StoreError::FutureRevision);
        }
        if at < self.compacted {
            return Err(StoreError::Compacted);
        }
        Ok(range_snapshot(self.at(at), req, current))
    }

    /// What applying `cmd` must answer; applies it to the model.
    fn apply(&mut self, cmd: &Command) -> CommandResult {
        let outcome = match self.apply_request(cmd) {
            Ok(outcome) => outcome,
            Err(err) => error_outcome(err.store_error()),
        };
        CommandResult {
            result: Some(outcome),
        }
    }

    fn apply_request(&mut self, cmd: &Command) -> Result<Outcome, ModelError> {
        let request = cmd.request.as_ref().expect("command without a request");
        // etcd's applierV3Capped: under NOSPACE, whatever adds data is refused.
        let nospace = self
            .alarms
            .iter()
            .any(|(_, a)| *a == AlarmType::Nospace as i32);
        let adds_data = match request {
            CommandRequest::Put(_) | CommandRequest::LeaseGrant(_) => true,
            CommandRequest::Txn(txn) => txn_has_put(txn),
            _ => false,
        };
        if nospace && adds_data {
            return Err(ModelError::NoSpace);
        }
        match request {
            // etcd's alarm store: ACTIVATE adds once, DEACTIVATE removes; each answers with the
            // alarm it touched.
            CommandRequest::Alarm(req) => {
                let alarm = (req.member_id, req.alarm);
                let member = AlarmMember {
                    member_id: req.member_id,
                    alarm: req.alarm,
                };
                let mut touched = Vec::new();
                match req.action() {
                    AlarmAction::Activate if req.alarm != AlarmType::None as i32 => {
                        if !self.alarms.contains(&alarm) {
                            self.alarms.push(alarm);
                        }
                        touched.push(member);
                    }
                    AlarmAction::Deactivate => {
                        if let Some(at) = self.alarms.iter().position(|a| *a == alarm) {
                            self.alarms.remove(at);
                            touched.push(member);
                        }
                    }
                    _ => {}
                }
                return Ok(Outcome::Alarm(AlarmResponse {
                    header: None,
                    alarms: touched,
                }));
            }
            CommandRequest::Compaction(req) => {
                if req.revision <= self.compacted {
                    return Err(ModelError::Compacted);
                }
                if req.revision > self.current() {
                    return Err(ModelError::Future);
                }
                self.compacted = req.revision;
                return Ok(Outcome::Compaction(CompactionResponse {
                    header: header(self.current()),
                }));
            }
            // etcd's lessor.Grant: no new revision.
            CommandRequest::LeaseGrant(req) => {
                if req.id == 0 {
                    return Err(ModelError::LeaseNotFound);
                }
                if req.ttl > MAX_LEASE_TTL {
                    return Err(ModelError::LeaseTtlTooLarge);
                }
                if self.leases.contains_key(&req.id) {
                    return Err(ModelError::LeaseExists);
                }
                self.leases.insert(req.id, (req.ttl, 0));
                return Ok(Outcome::LeaseGrant(LeaseGrantResponse {
                    header: header(self.current()),
                    id: req.id,
                    ttl: req.ttl,
                    error: String::new(),
                }));
            }
            // etcd's lessor.Checkpoint: unknown leases are ignored.
            CommandRequest::LeaseCheckpoint(req) => {
                for cp in &req.checkpoints {
                    if let Some(lease) = self.leases.get_mut(&cp.id) {
                        lease.1 = cp.remaining_ttl;
                    }
                }
                return Ok(Outcome::LeaseCheckpoint(LeaseCheckpointResponse {
                    header: header(self.current()),
                }));
            }
            _ => {}
        }
        let mut write = ModelWrite::new(self);
        let outcome = match request {
            CommandRequest::Put(req) => {
                // A plain Put checks the lease before the previous value (etcd's Put with
                // txn == nil); a txn checks them the other way round (checkRequestPut).
                write.check_lease(req)?;
                write.check_put(req)?;
                Outcome::Put(write.put(req))
            }
            CommandRequest::DeleteRange(req) => Outcome::DeleteRange(write.delete_range(req)),
            CommandRequest::Txn(req) => Outcome::Txn(write.txn(req)?),
            // etcd's lessor.Revoke: every attached key deleted in one txn (so one revision), in
            // key order; the header is the revision after it.
            CommandRequest::LeaseRevoke(req) => {
                if !self.leases.contains_key(&req.id) {
                    return Err(ModelError::LeaseNotFound);
                }
                let keys: Vec<Vec<u8>> = write
                    .work
                    .values()
                    .filter(|kv| kv.lease == req.id)
                    .map(|kv| kv.key.clone())
                    .collect();
                for key in keys {
                    write.delete_range(&DeleteRangeRequest {
                        key,
                        range_end: Vec::new(),
                        prev_kv: false,
                    });
                }
                Outcome::LeaseRevoke(LeaseRevokeResponse {
                    header: header(write.read_revision()),
                })
            }
            CommandRequest::Compaction(_)
            | CommandRequest::LeaseGrant(_)
            | CommandRequest::LeaseCheckpoint(_)
            | CommandRequest::Alarm(_)
            | CommandRequest::Auth(_) => unreachable!(),
        };
        if let Some((snapshot, events)) = write.finish() {
            self.revs.push(snapshot);
            self.events.push(events);
        }
        if let CommandRequest::LeaseRevoke(req) = request {
            self.leases.remove(&req.id);
        }
        Ok(outcome)
    }
}

/// One write request being applied to the model at revision `begin + 1`.
struct ModelWrite<'m> {
    model: &'m Model,
    begin: i64,
    work: Snapshot,
    changes: usize,
    events: Vec<Event>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Puts,
    Ranges,
}

impl<'m> ModelWrite<'m> {
    fn new(model: &'m Model) -> Self {
        let begin = model.current();
        Self {
            model,
            begin,
            work: model.at(begin).clone(),
            changes: 0,
            events: Vec::new(),
        }
    }

    fn finish(self) -> Option<(Snapshot, Vec<Event>)> {
        (self.changes > 0).then_some((self.work, self.events))
    }

    fn main(&self) -> i64 {
        self.begin + 1
    }

    /// etcd's storeTxnWrite reads: its own changes once it has made any.
    fn read_revision(&self) -> i64 {
        if self.changes > 0 {
            self.main()
        } else {
            self.begin
        }
    }

    fn before(&self) -> &Snapshot {
        self.model.at(self.begin)
    }

    /// etcd's checkRequestPut, against the state before the request.
    fn check_put(&self, req: &PutRequest) -> Result<(), ModelError> {
        if (req.ignore_value || req.ignore_lease) && !self.before().contains_key(&req.key) {
            return Err(ModelError::KeyNotFound);
        }
        self.check_lease(req)
    }

    /// etcd's lessor.Lookup: a put may only attach a key to a lease that exists.
    fn check_lease(&self, req: &PutRequest) -> Result<(), ModelError> {
        if req.lease != 0 && !self.model.leases.contains_key(&req.lease) {
            return Err(ModelError::LeaseNotFound);
        }
        Ok(())
    }

    fn put(&mut self, req: &PutRequest) -> PutResponse {
        let main = self.main();
        let prev = self.work.get(&req.key).cloned();
        let old = prev.clone().unwrap_or_default();
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: prev.as_ref().map_or(main, |p| p.create_revision),
            mod_revision: main,
            version: old.version + 1,
            value: if req.ignore_value {
                old.value
            } else {
                req.value.clone()
            },
            lease: if req.ignore_lease {
                old.lease
            } else {
                req.lease
            },
        };
        self.work.insert(req.key.clone(), kv.clone());
        self.changes += 1;
        self.events.push(put_event(kv, prev.clone()));
        PutResponse {
            header: header(main),
            prev_kv: if req.prev_kv { prev } else { None },
        }
    }

    fn delete_range(&mut self, req: &DeleteRangeRequest) -> DeleteRangeResponse {
        let doomed: Vec<KeyValue> = self
            .work
            .values()
            .filter(|kv| in_range(&kv.key, &req.key, &req.range_end))
            .cloned()
            .collect();
        let main = self.main();
        for kv in &doomed {
            self.work.remove(&kv.key);
            self.events
                .push(delete_event(&kv.key, main, Some(kv.clone())));
        }
        self.changes += doomed.len();
        DeleteRangeResponse {
            header: header(self.read_revision()),
            deleted: doomed.len() as i64,
            prev_kvs: if req.prev_kv { doomed } else { Vec::new() },
        }
    }

    /// A range inside a txn, after its revision was checked.
    fn range(&self, req: &RangeRequest) -> RangeResponse {
        let current = self.read_revision();
        let at = if req.revision <= 0 {
            current
        } else {
            req.revision
        };
        assert!(at <= current && at >= self.model.compacted);
        let snap = if at == self.main() {
            &self.work
        } else {
            self.model.at(at)
        };
        range_snapshot(snap, req, current)
    }

    fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse, ModelError> {
        let mut path = Vec::new();
        self.choose(req, &mut path);
        self.check(req, &path, &mut 0, Check::Puts)?;
        self.check(req, &path, &mut 0, Check::Ranges)?;
        let mut resp = self.apply_txn(req, &path, &mut 0);
        resp.header = header(self.read_revision());
        Ok(resp)
    }

    /// etcd's compareToPath: every compare (nested ones too) against the state before the txn.
    fn choose(&self, req: &TxnRequest, path: &mut Vec<bool>) {
        let succeeded = req.compare.iter().all(|c| self.compare(c));
        path.push(succeeded);
        for op in branch(req, succeeded) {
            if let Some(Request::RequestTxn(nested)) = &op.request {
                self.choose(nested, path);
            }
        }
    }

    /// etcd's applyCompare.
    fn compare(&self, c: &Compare) -> bool {
        let kvs: Vec<&KeyValue> = self
            .before()
            .values()
            .filter(|kv| in_range(&kv.key, &c.key, &c.range_end))
            .collect();
        if kvs.is_empty() {
            return c.target() != CompareTarget::Value && compare_kv(c, &KeyValue::default());
        }
        kvs.iter().all(|kv| compare_kv(c, kv))
    }

    /// etcd's checkRequests: first every put on the chosen path, then every range.
    fn check(
        &self,
        req: &TxnRequest,
        path: &[bool],
        pos: &mut usize,
        what: Check,
    ) -> Result<(), ModelError> {
        let succeeded = path[*pos];
        *pos += 1;
        for op in branch(req, succeeded) {
            match &op.request {
                Some(Request::RequestTxn(nested)) => self.check(nested, path, pos, what)?,
                Some(Request::RequestPut(put)) if what == Check::Puts => self.check_put(put)?,
                Some(Request::RequestRange(range)) if what == Check::Ranges => {
                    if range.revision == 0 {
                        continue;
                    }
                    if range.revision > self.begin {
                        return Err(ModelError::Future);
                    }
                    if range.revision < self.model.compacted {
                        return Err(ModelError::Compacted);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_txn(&mut self, req: &TxnRequest, path: &[bool], pos: &mut usize) -> TxnResponse {
        let succeeded = path[*pos];
        *pos += 1;
        let mut responses = Vec::new();
        for op in branch(req, succeeded) {
            let response = match &op.request {
                Some(Request::RequestRange(r)) => Some(Response::ResponseRange(self.range(r))),
                Some(Request::RequestPut(r)) => Some(Response::ResponsePut(self.put(r))),
                Some(Request::RequestDeleteRange(r)) => {
                    Some(Response::ResponseDeleteRange(self.delete_range(r)))
                }
                Some(Request::RequestTxn(r)) => {
                    Some(Response::ResponseTxn(self.apply_txn(r, path, pos)))
                }
                None => None,
            };
            responses.push(ResponseOp { response });
        }
        // etcd's newTxnResp gives every (nested) txn response an empty header; the top-level
        // one gets the revision afterwards.
        TxnResponse {
            header: Some(ResponseHeader::default()),
            succeeded,
            responses,
        }
    }
}

// ---- generated operations ------------------------------------------------------------------

const KEYS: &[&str] = &["a", "ab", "b", "ba", "c", "d", "e"];
const VALUES: &[&str] = &["", "v", "w", "x", "vw"];
/// Lease ids: the first three are granted (again and again, so duplicates happen), the last
/// one never is.
const LEASE_IDS: &[i64] = &[1, 2, i64::MAX, 99];

/// A lease for a put, revoke or checkpoint, picked when the command is built: three times in
/// four one granted now (if any), otherwise any of `LEASE_IDS` (granted or not).
#[derive(Clone, Copy, Debug)]
struct LeaseSel(u8);

impl LeaseSel {
    fn resolve(self, granted: &[i64]) -> i64 {
        let n = usize::from(self.0);
        if n % 4 != 0 && !granted.is_empty() {
            granted[n / 4 % granted.len()]
        } else {
            LEASE_IDS[n / 4 % LEASE_IDS.len()]
        }
    }
}

fn lease_sel() -> impl Strategy<Value = LeaseSel> {
    any::<u8>().prop_map(LeaseSel)
}

#[derive(Clone, Debug)]
enum KeySel {
    One(usize),
    Between(usize, usize),
    Prefix(usize),
    From(usize),
    All,
}

impl KeySel {
    fn resolve(&self) -> (Vec<u8>, Vec<u8>) {
        match *self {
            Self::One(k) => (KEYS[k].into(), Vec::new()),
            Self::Between(a, b) => (KEYS[a].into(), KEYS[b].into()),
            Self::Prefix(k) => (KEYS[k].into(), prefix_end(KEYS[k].as_bytes())),
            Self::From(k) => (KEYS[k].into(), vec![0]),
            Self::All => (vec![0], vec![0]),
        }
    }
}

/// etcd's GetPrefixRangeEnd.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn key_sel() -> impl Strategy<Value = KeySel> {
    let n = KEYS.len();
    prop_oneof![
        4 => (0..n).prop_map(KeySel::One),
        2 => (0..n, 0..n).prop_map(|(a, b)| KeySel::Between(a, b)),
        2 => (0..n).prop_map(KeySel::Prefix),
        1 => (0..n).prop_map(KeySel::From),
        1 => Just(KeySel::All),
    ]
}

/// Keys for reads: mostly several of them, so that limits, sorting and filters matter.
fn wide_key_sel() -> impl Strategy<Value = KeySel> {
    let n = KEYS.len();
    prop_oneof![
        2 => (0..n).prop_map(KeySel::One),
        3 => (0..n, 0..n).prop_map(|(a, b)| KeySel::Between(a.min(b), a.max(b))),
        1 => (0..n, 0..n).prop_map(|(a, b)| KeySel::Between(a, b)),
        2 => (0..n).prop_map(KeySel::Prefix),
        2 => (0..n).prop_map(KeySel::From),
        2 => Just(KeySel::All),
    ]
}

/// A revision relative to the store's current one: 0 (the latest) three times in eight, a
/// past revision (perhaps compacted) four times in eight, otherwise a future one.
fn resolve_rev(sel: u8, current: i64) -> i64 {
    match sel {
        0..96 => 0,
        96..224 => 1 + i64::from(sel) % current.max(1),
        _ => current + 1 + i64::from(sel % 2),
    }
}

#[derive(Clone, Debug)]
struct RangeSpec {
    keys: KeySel,
    rev: u8,
    limit: i64,
    sort_order: i32,
    sort_target: i32,
    keys_only: bool,
    count_only: bool,
    /// min/max mod, min/max create.
    filters: [Option<u8>; 4],
}

fn range_spec() -> impl Strategy<Value = RangeSpec> {
    (
        wide_key_sel(),
        any::<u8>(),
        prop_oneof![3 => Just(0i64), 2 => 1i64..4],
        prop_oneof![2 => Just(0i32), 1 => 1i32..3],
        prop_oneof![2 => Just(0i32), 1 => 1i32..5],
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        prop::array::uniform4(prop::option::weighted(0.15, any::<u8>())),
    )
        .prop_map(
            |(keys, rev, limit, sort_order, sort_target, keys_only, count_only, filters)| {
                RangeSpec {
                    keys,
                    rev,
                    limit,
                    sort_order,
                    sort_target,
                    keys_only,
                    count_only,
                    filters,
                }
            },
        )
}

impl RangeSpec {
    fn request(&self, current: i64) -> RangeRequest {
        let (key, range_end) = self.keys.resolve();
        let filter = |f: Option<u8>| f.map_or(0, |v| 1 + i64::from(v) % (current + 1));
        let req = RangeRequest {
            key,
            range_end,
            limit: self.limit,
            revision: resolve_rev(self.rev, current),
            sort_order: self.sort_order,
            sort_target: self.sort_target,
            serializable: false,
            keys_only: self.keys_only,
            count_only: self.count_only,
            min_mod_revision: filter(self.filters[0]),
            max_mod_revision: filter(self.filters[1]),
            min_create_revision: filter(self.filters[2]),
            max_create_revision: filter(self.filters[3]),
        };
        validate::check_range(&req).expect("generated an invalid range");
        req
    }
}

#[derive(Clone, Debug)]
struct PutSpec {
    key: usize,
    value: usize,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
    lease: Option<LeaseSel>,
}

fn put_spec() -> impl Strategy<Value = PutSpec> {
    (
        0..KEYS.len(),
        0..VALUES.len(),
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.4, lease_sel()),
    )
        .prop_map(
            |(key, value, prev_kv, ignore_value, ignore_lease, lease)| PutSpec {
                key,
                value,
                prev_kv,
                ignore_value,
                ignore_lease,
                lease,
            },
        )
}

impl PutSpec {
    /// The put while `granted` are the leases.
    fn request(&self, granted: &[i64]) -> PutRequest {
        let req = PutRequest {
            key: KEYS[self.key].into(),
            // ignore_value / ignore_lease forbid a value / lease (etcd's v3rpc checks).
            value: if self.ignore_value {
                Vec::new()
            } else {
                VALUES[self.value].into()
            },
            lease: match self.lease {
                Some(sel) if !self.ignore_lease => sel.resolve(granted),
                _ => 0,
            },
            prev_kv: self.prev_kv,
            ignore_value: self.ignore_value,
            ignore_lease: self.ignore_lease,
        };
        validate::check_put(&req).expect("generated an invalid put");
        req
    }
}

#[derive(Clone, Debug)]
struct DeleteSpec {
    keys: KeySel,
    prev_kv: bool,
}

fn delete_spec() -> impl Strategy<Value = DeleteSpec> {
    // Mostly single keys, so that the store does not empty out too often.
    let keys = prop_oneof![2 => (0..KEYS.len()).prop_map(KeySel::One), 1 => key_sel()];
    (keys, any::<bool>()).prop_map(|(keys, prev_kv)| DeleteSpec { keys, prev_kv })
}

impl DeleteSpec {
    fn request(&self) -> DeleteRangeRequest {
        let (key, range_end) = self.keys.resolve();
        DeleteRangeRequest {
            key,
            range_end,
            prev_kv: self.prev_kv,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum UnionKind {
    /// The union variant matching the target (what clients send).
    Matching,
    /// No operand at all.
    Missing,
    /// A variant of another kind: etcd then compares with the zero value.
    Other,
}

#[derive(Clone, Debug)]
struct CompareSpec {
    keys: KeySel,
    target: i32,
    result: i32,
    operand: u8,
    value: usize,
    union: UnionKind,
}

fn compare_spec() -> impl Strategy<Value = CompareSpec> {
    (
        prop_oneof![3 => (0..KEYS.len()).prop_map(KeySel::One), 1 => key_sel()],
        prop_oneof![3 => 0i32..4, 1 => Just(4i32)],
        0i32..4,
        any::<u8>(),
        0..VALUES.len(),
        prop_oneof![
            8 => Just(UnionKind::Matching),
            1 => Just(UnionKind::Missing),
            1 => Just(UnionKind::Other),
        ],
    )
        .prop_map(
            |(keys, target, result, operand, value, union)| CompareSpec {
                keys,
                target,
                result,
                operand,
                value,
                union,
            },
        )
}

impl CompareSpec {
    fn compare(&self, current: i64) -> Compare {
        let (key, range_end) = self.keys.resolve();
        let target = CompareTarget::try_from(self.target).expect("valid target");
        let n = i64::from(self.operand);
        let target_union = match self.union {
            UnionKind::Missing => None,
            UnionKind::Matching => Some(match target {
                CompareTarget::Version => TargetUnion::Version(n % 4),
                CompareTarget::Create => TargetUnion::CreateRevision(n % (current + 2)),
                CompareTarget::Mod => TargetUnion::ModRevision(n % (current + 2)),
                CompareTarget::Value => TargetUnion::Value(VALUES[self.value].into()),
                CompareTarget::Lease => TargetUnion::Lease(if n % 2 == 0 {
                    0
                } else {
                    LEASE_IDS[(n / 2) as usize % LEASE_IDS.len()]
                }),
            }),
            UnionKind::Other => {
                let m = 1 + n % (current + 1);
                Some(match target {
                    CompareTarget::Version => TargetUnion::CreateRevision(m),
                    CompareTarget::Create => TargetUnion::ModRevision(m),
                    CompareTarget::Mod => TargetUnion::Version(m),
                    CompareTarget::Value => TargetUnion::ModRevision(m),
                    CompareTarget::Lease => TargetUnion::Value(VALUES[self.value].into()),
                })
            }
        };
        Compare {
            result: self.result,
            target: self.target,
            key,
            range_end,
            target_union,
        }
    }
}

#[derive(Clone, Debug)]
enum TxnOp {
    Put(PutSpec),
    Delete(DeleteSpec),
    Range(RangeSpec),
    Txn(Box<TxnSpec>),
}

#[derive(Clone, Debug)]
struct TxnSpec {
    compare: Vec<CompareSpec>,
    success: Vec<TxnOp>,
    failure: Vec<TxnOp>,
}

fn txn_spec(depth: u32) -> BoxedStrategy<TxnSpec> {
    let leaf = prop_oneof![
        4 => put_spec().prop_map(TxnOp::Put),
        1 => delete_spec().prop_map(TxnOp::Delete),
        3 => range_spec().prop_map(TxnOp::Range),
    ];
    let op = if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            8 => leaf,
            2 => txn_spec(depth - 1).prop_map(|t| TxnOp::Txn(Box::new(t))),
        ]
        .boxed()
    };
    (
        prop::collection::vec(compare_spec(), 0..3),
        prop::collection::vec(op.clone(), 0..4),
        prop::collection::vec(op, 0..4),
    )
        .prop_map(|(compare, success, failure)| TxnSpec {
            compare,
            success,
            failure,
        })
        .boxed()
}

impl TxnSpec {
    fn request(&self, current: i64, granted: &[i64]) -> TxnRequest {
        let ops = |ops: &[TxnOp]| -> Vec<RequestOp> {
            ops.iter()
                .map(|op| RequestOp {
                    request: Some(match op {
                        TxnOp::Put(p) => Request::RequestPut(p.request(granted)),
                        TxnOp::Delete(d) => Request::RequestDeleteRange(d.request()),
                        TxnOp::Range(r) => {
                            let mut req = r.request(current);
                            // Mostly latest reads, so that fewer txns fail their range checks.
                            if r.rev % 2 == 0 {
                                req.revision = 0;
                            }
                            Request::RequestRange(req)
                        }
                        TxnOp::Txn(t) => Request::RequestTxn(t.request(current, granted)),
                    }),
                })
                .collect()
        };
        TxnRequest {
            compare: self.compare.iter().map(|c| c.compare(current)).collect(),
            success: ops(&self.success),
            failure: ops(&self.failure),
        }
    }
}

/// Makes a txn pass etcd's checkIntervals by dropping puts: every put kept writes a key that no
/// other put and no delete anywhere in the txn touches.
fn drop_conflicting_puts(req: &mut TxnRequest) {
    fn deletes(req: &TxnRequest, out: &mut Vec<(Vec<u8>, Vec<u8>)>) {
        for op in req.success.iter().chain(&req.failure) {
            match &op.request {
                Some(Request::RequestDeleteRange(d)) => {
                    out.push((d.key.clone(), d.range_end.clone()))
                }
                Some(Request::RequestTxn(nested)) => deletes(nested, out),
                _ => {}
            }
        }
    }
    fn strip(req: &mut TxnRequest, dels: &[(Vec<u8>, Vec<u8>)], puts: &mut HashSet<Vec<u8>>) {
        for ops in [&mut req.success, &mut req.failure] {
            ops.retain_mut(|op| match &mut op.request {
                Some(Request::RequestPut(p)) => {
                    !dels.iter().any(|(k, e)| in_range(&p.key, k, e)) && puts.insert(p.key.clone())
                }
                Some(Request::RequestTxn(nested)) => {
                    strip(nested, dels, puts);
                    true
                }
                _ => true,
            });
        }
    }
    let mut dels = Vec::new();
    deletes(req, &mut dels);
    strip(req, &dels, &mut HashSet::new());
}

#[derive(Clone, Debug)]
enum Write {
    Put(PutSpec),
    Delete(DeleteSpec),
    Txn(TxnSpec),
    Compact(u8),
    LeaseGrant {
        id: i64,
        ttl: i64,
    },
    /// None: lease 0.
    LeaseRevoke(Option<LeaseSel>),
    /// (lease, remaining TTL) pairs.
    LeaseCheckpoint(Vec<(Option<LeaseSel>, i64)>),
    /// Raise (true) or clear an alarm of member 1 or 2: NONE, NOSPACE or CORRUPT.
    Alarm {
        activate: bool,
        member: u64,
        alarm: i32,
    },
}

/// A lease id to grant: one of the grantable ones (often granted already), rarely 0 (refused
/// as etcd's NoLease).
fn grant_id() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => (0..LEASE_IDS.len() - 1).prop_map(|i| LEASE_IDS[i]),
        1 => Just(0i64),
    ]
}

/// A lease to revoke or checkpoint; rarely none (lease 0).
fn some_lease_sel() -> impl Strategy<Value = Option<LeaseSel>> {
    prop::option::weighted(0.95, lease_sel())
}

fn ttl() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => 1i64..100,
        1 => Just(MAX_LEASE_TTL),
        1 => Just(MAX_LEASE_TTL + 1),
        1 => Just(i64::MAX),
    ]
}

fn write_spec() -> impl Strategy<Value = Write> {
    prop_oneof![
        10 => put_spec().prop_map(Write::Put),
        2 => delete_spec().prop_map(Write::Delete),
        6 => txn_spec(2).prop_map(Write::Txn),
        1 => any::<u8>().prop_map(Write::Compact),
        6 => (grant_id(), ttl()).prop_map(|(id, ttl)| Write::LeaseGrant { id, ttl }),
        3 => some_lease_sel().prop_map(Write::LeaseRevoke),
        1 => prop::collection::vec((some_lease_sel(), 0i64..100), 0..4)
            .prop_map(Write::LeaseCheckpoint),
        1 => (any::<bool>(), 1u64..3, 0i32..3)
            .prop_map(|(activate, member, alarm)| Write::Alarm { activate, member, alarm }),
    ]
}

impl Write {
    /// The command for the store at revision `current` (a valid one, as the v3 API sends).
    fn command(&self, current: i64, granted: &[i64]) -> Command {
        let lease = |sel: &Option<LeaseSel>| sel.map_or(0, |sel| sel.resolve(granted));
        let request = match self {
            Self::Put(p) => CommandRequest::Put(p.request(granted)),
            Self::Delete(d) => CommandRequest::DeleteRange(d.request()),
            Self::Txn(t) => {
                let mut req = t.request(current, granted);
                if validate::check_txn(&req, MAX_TXN_OPS).is_err() {
                    drop_conflicting_puts(&mut req);
                }
                validate::check_txn(&req, MAX_TXN_OPS).expect("txn still invalid");
                CommandRequest::Txn(req)
            }
            Self::Compact(sel) => CommandRequest::Compaction(CompactionRequest {
                revision: i64::from(*sel) % (current + 2),
                physical: false,
            }),
            Self::LeaseGrant { id, ttl } => {
                CommandRequest::LeaseGrant(LeaseGrantRequest { ttl: *ttl, id: *id })
            }
            Self::LeaseRevoke(sel) => {
                CommandRequest::LeaseRevoke(LeaseRevokeRequest { id: lease(sel) })
            }
            Self::LeaseCheckpoint(checkpoints) => {
                CommandRequest::LeaseCheckpoint(LeaseCheckpointRequest {
                    checkpoints: checkpoints
                        .iter()
                        .map(|(sel, remaining_ttl)| LeaseCheckpoint {
                            id: lease(sel),
                            remaining_ttl: *remaining_ttl,
                        })
                        .collect(),
                })
            }
            Self::Alarm {
                activate,
                member,
                alarm,
            } => CommandRequest::Alarm(AlarmRequest {
                action: if *activate {
                    AlarmAction::Activate as i32
                } else {
                    AlarmAction::Deactivate as i32
                },
                member_id: *member,
                alarm: *alarm,
            }),
        };
        Command {
            auth_header: None,
            request: Some(request),
        }
    }
}

#[derive(Clone, Debug)]
struct WatchSpec {
    keys: KeySel,
    from: u8,
    /// `max_events` of each page (0: one revision a page).
    page: usize,
}

fn watch_spec() -> impl Strategy<Value = WatchSpec> {
    let n = KEYS.len();
    let keys = prop_oneof![
        3 => (0..n).prop_map(KeySel::One),
        2 => (0..n).prop_map(KeySel::Prefix),
        2 => (0..n).prop_map(KeySel::From),
        1 => (0..n, 0..n).prop_map(|(a, b)| KeySel::Between(a.min(b), a.max(b))),
        1 => Just(KeySel::All),
    ];
    let page = prop_oneof![1 => Just(0usize), 6 => 1usize..5];
    (keys, any::<u8>(), page).prop_map(|(keys, from, page)| WatchSpec { keys, from, page })
}

impl WatchSpec {
    /// The start revision: the compaction revision itself one time in eight, rarely a future
    /// one, otherwise anything from 0 to the next revision (so compacted ones too).
    fn from(&self, model: &Model) -> i64 {
        let current = model.current();
        match self.from {
            0..32 => model.compacted,
            32..40 => current + 2,
            sel => i64::from(sel) % (current + 2),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// One command in its own batch.
    Write(Write),
    /// Several commands applied in one batch (one backend transaction).
    Batch(Vec<Write>),
    Range(RangeSpec),
    /// A watcher catching up: history from a start revision, read page by page.
    Watch(WatchSpec),
    /// Close the store and open it again from its file.
    Reopen,
    /// Move to a new store installed from an image of this one; `dirty`: the new store first
    /// holds unrelated data of its own.
    Snapshot {
        dirty: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        18 => write_spec().prop_map(Op::Write),
        2 => prop::collection::vec(write_spec(), 2..5).prop_map(Op::Batch),
        12 => range_spec().prop_map(Op::Range),
        4 => watch_spec().prop_map(Op::Watch),
        1 => Just(Op::Reopen),
        1 => any::<bool>().prop_map(|dirty| Op::Snapshot { dirty }),
    ]
}

// ---- the store under test ------------------------------------------------------------------

struct Harness {
    dir: TempDir,
    path: PathBuf,
    mvcc: Option<Mvcc>,
    files: usize,
    applied: u64,
}

fn open(path: &Path) -> Mvcc {
    Mvcc::open(path).expect("open the state machine")
}

fn everything(revision: i64) -> RangeRequest {
    RangeRequest {
        key: vec![0],
        range_end: vec![0],
        revision,
        ..Default::default()
    }
}

/// What readers see of the leases: every lease, and each known id with its keys.
fn lease_state(mvcc: &Mvcc) -> (Vec<LeaseInfo>, Vec<Option<LeaseInfo>>) {
    let ids = LEASE_IDS.iter().chain(&[0, -1]);
    (mvcc.leases(), ids.map(|&id| mvcc.lease(id)).collect())
}

fn alarm_state(mvcc: &Mvcc) -> Vec<(u64, i32)> {
    mvcc.alarms()
        .iter()
        .map(|a| (a.member_id, a.alarm))
        .collect()
}

fn model_lease_state(model: &Model) -> (Vec<LeaseInfo>, Vec<Option<LeaseInfo>>) {
    let ids = LEASE_IDS.iter().chain(&[0, -1]);
    (model.leases(), ids.map(|&id| model.lease(id)).collect())
}

/// What `Mvcc::history` may scan for one page before it stops regardless of `max_events`.
const HISTORY_SCAN_BUDGET: usize = 1024;

/// Reads the history of `[key, range_end)` from `from` on page by page (at most `page` events
/// a page, give or take the rest of a revision), as a watcher catching up would, until the
/// page's `next` is past the current revision; the pages together must be the model's events.
fn check_history(
    mvcc: &Mvcc,
    model: &Model,
    (key, range_end): (&[u8], &[u8]),
    from: i64,
    page: usize,
) {
    let range = KeyRange::new(key, range_end);
    let what = format!("history of {key:?}..{range_end:?} from {from}, {page} a page");
    let want = match model.history(key, range_end, from) {
        Ok(want) => want,
        Err(err) => {
            let got = mvcc.history(&range, from, page);
            assert_eq!(got.map(|h| h.events).err(), Some(err), "{what}");
            return;
        }
    };
    let current = model.current();
    let mut got = Vec::new();
    let mut pos = from;
    loop {
        let h = mvcc
            .history(&range, pos, page)
            .unwrap_or_else(|err| panic!("{what}: page at {pos}: {err}"));
        assert_eq!(h.current, current, "{what}: current revision");
        // The page covers [pos, next): never a `next` before the start, even a future one.
        assert!(
            h.next >= pos,
            "{what}: next {} before the page at {pos}",
            h.next
        );
        // Whole revisions only, and nothing before the page's start or from `next` on.
        for ev in &h.events {
            let rev = event_revision(ev);
            assert!(
                pos <= rev && rev < h.next,
                "{what}: event at {rev} on a page [{pos}, {})",
                h.next
            );
        }
        if let Some(last) = h.events.last() {
            let last_rev = event_revision(last);
            let before = h.events.iter().filter(|ev| event_revision(ev) < last_rev);
            assert!(
                before.count() < page.max(1),
                "{what}: page at {pos} went on too long"
            );
        }
        let (next, len) = (h.next, h.events.len());
        got.extend(h.events);
        if next > current {
            break;
        }
        assert!(next > pos, "{what}: no progress at {pos}");
        // A page that ends early holds at least `page` events (unless it ran out of scan
        // budget, which only a larger history could make it do).
        let scannable: usize = (pos.max(0)..=current)
            .map(|rev| model.events[rev as usize].len())
            .sum();
        if scannable < HISTORY_SCAN_BUDGET {
            assert!(len >= page, "{what}: short page at {pos}");
        }
        pos = next;
    }
    assert_eq!(got, want, "{what}");
}

/// Everything the store answers about its history must be the model's.
fn check_all(mvcc: &Mvcc, model: &Model) {
    assert_eq!(mvcc.current_revision(), model.current(), "current revision");
    assert_eq!(mvcc.compact_revision(), model.compacted, "compact revision");
    for rev in model.compacted.max(1)..=model.current() {
        assert_eq!(
            mvcc.range(&everything(rev)),
            model.range(&everything(rev)),
            "at {rev}"
        );
    }
    assert_eq!(mvcc.range(&everything(0)), model.range(&everything(0)));
    if model.compacted > 1 {
        let below = everything(model.compacted - 1);
        assert_eq!(mvcc.range(&below), Err(StoreError::Compacted));
    }
    let future = everything(model.current() + 1);
    assert_eq!(mvcc.range(&future), Err(StoreError::FutureRevision));
    assert_eq!(lease_state(mvcc), model_lease_state(model), "leases");
    assert_eq!(alarm_state(mvcc), model.alarms, "alarms");
    // All of the history still stored, in one page and in pages of one.
    let all: (&[u8], &[u8]) = (&[0], &[0]);
    check_history(mvcc, model, all, model.compacted, usize::MAX);
    check_history(mvcc, model, all, model.compacted, 1);
    check_history(mvcc, model, all, model.compacted, 0);
    if model.compacted > 0 {
        check_history(mvcc, model, all, model.compacted - 1, 1);
    }
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state-0.redb");
        let mvcc = open(&path);
        assert_eq!(
            mvcc.init_cluster_id(CLUSTER_ID).expect("cluster id"),
            CLUSTER_ID
        );
        Self {
            dir,
            path,
            mvcc: Some(mvcc),
            files: 0,
            applied: 0,
        }
    }

    fn mvcc(&self) -> &Mvcc {
        self.mvcc.as_ref().expect("store is open")
    }

    fn next_meta(&mut self) -> RaftMeta {
        self.applied += 1;
        RaftMeta {
            applied_log_id: Some(self.applied.to_be_bytes().to_vec()),
            membership: Some(format!("membership {}", self.applied / 3).into_bytes()),
        }
    }

    /// Applies `writes` as one batch. Until the batch commits, readers must keep seeing the
    /// revision before it.
    fn apply(&mut self, model: &mut Model, writes: &[Write]) {
        let meta = self.next_meta();
        let mvcc = self.mvcc.as_ref().expect("store is open");
        let published = model.current();
        let compacted = model.compacted;
        let before = model.range(&everything(0));
        let mut batch = mvcc.begin_apply().expect("begin a batch");
        for write in writes {
            let granted: Vec<i64> = model.leases.keys().copied().collect();
            let cmd = write.command(model.current(), &granted);
            let got = batch.execute(&cmd).expect("execute");
            let want = model.apply(&cmd);
            assert_eq!(got, want, "applying {cmd:?}");
            if writes.len() > 1 {
                assert_eq!(
                    mvcc.current_revision(),
                    published,
                    "revision published early"
                );
                assert_eq!(mvcc.range(&everything(0)), before, "read during a batch");
            }
        }
        let Applied {
            events,
            revision,
            compacted: compaction,
        } = batch.commit(&meta).expect("commit");
        // Every event of every revision the batch created, in order.
        assert_eq!(
            events,
            model.events_between(published + 1, model.current()),
            "events of the batch {writes:?}"
        );
        assert_eq!(revision, model.current());
        assert_eq!(
            compaction,
            (model.compacted != compacted).then_some(model.compacted)
        );
        assert_eq!(mvcc.current_revision(), model.current());
        assert_eq!(mvcc.compact_revision(), model.compacted);
        assert_eq!(mvcc.raft_meta().expect("raft meta"), meta);
        assert_eq!(lease_state(mvcc), model_lease_state(model), "leases");
        assert_eq!(alarm_state(mvcc), model.alarms, "alarms");
    }

    fn reopen(&mut self, model: &Model) {
        let image = self.mvcc().export_image().expect("export");
        self.mvcc = None;
        self.mvcc = Some(open(&self.path));
        let mvcc = self.mvcc();
        assert_eq!(
            mvcc.export_image().expect("export"),
            image,
            "reopened store differs"
        );
        assert_eq!(mvcc.cluster_id(), CLUSTER_ID);
        check_all(mvcc, model);
    }

    fn snapshot(&mut self, model: &Model, dirty: bool) {
        let (image, meta) = self.mvcc().export_image().expect("export");
        self.files += 1;
        let path = self.dir.path().join(format!("state-{}.redb", self.files));
        let fresh = open(&path);
        if dirty {
            // Unrelated history: a compacted store further ahead than the image, with leases
            // of its own (one with keys).
            let mut batch = fresh.begin_apply().expect("begin");
            for id in [2, 5] {
                let cmd = Command {
                    auth_header: None,
                    request: Some(CommandRequest::LeaseGrant(LeaseGrantRequest {
                        ttl: 1000,
                        id,
                    })),
                };
                batch.execute(&cmd).expect("execute");
            }
            for (key, value, lease) in [("a", "old", 2), ("zz", "gone", 0), ("a", "older", 5)] {
                let cmd = Command {
                    auth_header: None,
                    request: Some(CommandRequest::Put(PutRequest {
                        key: key.into(),
                        value: value.into(),
                        lease,
                        ..Default::default()
                    })),
                };
                batch.execute(&cmd).expect("execute");
            }
            let compact = Command {
                auth_header: None,
                request: Some(CommandRequest::Compaction(CompactionRequest {
                    revision: 2,
                    physical: false,
                })),
            };
            batch.execute(&compact).expect("execute");
            batch.commit(&RaftMeta::default()).expect("commit");
            fresh.init_cluster_id(99).expect("cluster id");
        }
        fresh.install_image(&image, &meta).expect("install");
        assert_eq!(
            fresh.export_image().expect("export"),
            (image, meta),
            "installed image differs"
        );
        assert_eq!(fresh.cluster_id(), CLUSTER_ID);
        check_all(&fresh, model);
        self.mvcc = Some(fresh);
        self.path = path;
    }
}

fn run(ops: &[Op]) {
    let mut harness = Harness::new();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Write(write) => harness.apply(&mut model, std::slice::from_ref(write)),
            Op::Batch(writes) => harness.apply(&mut model, writes),
            Op::Range(spec) => {
                let req = spec.request(model.current());
                assert_eq!(
                    harness.mvcc().range(&req),
                    model.range(&req),
                    "range {req:?}"
                );
            }
            Op::Watch(spec) => {
                let (key, range_end) = spec.keys.resolve();
                let from = spec.from(&model);
                check_history(harness.mvcc(), &model, (&key, &range_end), from, spec.page);
            }
            Op::Reopen => harness.reopen(&model),
            Op::Snapshot { dirty } => harness.snapshot(&model, *dirty),
        }
    }
    check_all(harness.mvcc(), &model);
    // A watcher on everything from every start revision, in one page.
    let all: (&[u8], &[u8]) = (&[0], &[0]);
    for from in 0..=model.current() + 2 {
        check_history(harness.mvcc(), &model, all, from, usize::MAX);
    }
    harness.reopen(&model);
    harness.snapshot(&model, false);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    })]

    #[test]
    fn model_equivalence(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops);
    }
}

// ---- example tests -------------------------------------------------------------------------

struct Store {
    _dir: TempDir,
    mvcc: Mvcc,
    applied: u64,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mvcc = open(&dir.path().join("state.redb"));
        Self {
            _dir: dir,
            mvcc,
            applied: 0,
        }
    }

    fn apply(&mut self, request: CommandRequest) -> Outcome {
        self.apply_events(request).0
    }

    /// Applies one command in its own batch; the outcome and the batch's events.
    fn apply_events(&mut self, request: CommandRequest) -> (Outcome, Vec<Event>) {
        self.applied += 1;
        let mut batch = self.mvcc.begin_apply().expect("begin");
        let result = batch
            .execute(&Command {
                auth_header: None,
                request: Some(request),
            })
            .expect("execute");
        let applied = batch
            .commit(&RaftMeta {
                applied_log_id: Some(self.applied.to_be_bytes().to_vec()),
                membership: None,
            })
            .expect("commit");
        assert_eq!(applied.revision, self.mvcc.current_revision());
        (result.result.expect("a result"), applied.events)
    }

    /// Closes the store and opens it again from its file.
    fn reopen(self) -> Self {
        let Self {
            _dir,
            mvcc,
            applied,
        } = self;
        drop(mvcc);
        let mvcc = open(&_dir.path().join("state.redb"));
        Self {
            _dir,
            mvcc,
            applied,
        }
    }

    /// A new store installed from an image of this one.
    fn installed(&self) -> Self {
        let fresh = Self::new();
        let (image, meta) = self.mvcc.export_image().expect("export");
        fresh.mvcc.install_image(&image, &meta).expect("install");
        fresh
    }

    fn grant(&mut self, id: i64, ttl: i64) -> Outcome {
        self.apply(CommandRequest::LeaseGrant(LeaseGrantRequest { ttl, id }))
    }

    fn revoke(&mut self, id: i64) -> (Outcome, Vec<Event>) {
        self.apply_events(CommandRequest::LeaseRevoke(LeaseRevokeRequest { id }))
    }

    fn put_leased(&mut self, key: &str, value: &str, lease: i64) -> Outcome {
        self.apply(CommandRequest::Put(PutRequest {
            lease,
            ..put_req(key, value)
        }))
    }

    fn lease_keys(&self, id: i64) -> Option<Vec<&'static str>> {
        let lease = self.mvcc.lease(id)?;
        Some(
            lease
                .keys
                .iter()
                .map(|k| {
                    *KEYS_AND_MORE
                        .iter()
                        .find(|s| s.as_bytes() == k)
                        .expect("known key")
                })
                .collect(),
        )
    }

    /// Every event from `from` on, in pages of `page`.
    fn history(&self, from: i64, page: usize) -> Result<Vec<Event>, StoreError> {
        let range = KeyRange::new(&[0], &[0]);
        let mut events = Vec::new();
        let mut pos = from;
        loop {
            let h = self.mvcc.history(&range, pos, page)?;
            events.extend(h.events);
            if h.next > h.current {
                return Ok(events);
            }
            assert!(h.next > pos, "no progress at {pos}");
            pos = h.next;
        }
    }

    fn put(&mut self, key: &str, value: &str) -> PutResponse {
        match self.apply(CommandRequest::Put(put_req(key, value))) {
            Outcome::Put(resp) => resp,
            other => panic!("put failed: {other:?}"),
        }
    }

    fn delete(&mut self, key: &str, range_end: &str) -> DeleteRangeResponse {
        match self.apply(CommandRequest::DeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            prev_kv: true,
        })) {
            Outcome::DeleteRange(resp) => resp,
            other => panic!("delete failed: {other:?}"),
        }
    }

    fn txn(&mut self, req: TxnRequest) -> Outcome {
        validate::check_txn(&req, MAX_TXN_OPS).expect("valid txn");
        self.apply(CommandRequest::Txn(req))
    }

    fn compact(&mut self, revision: i64) -> Outcome {
        self.apply(CommandRequest::Compaction(CompactionRequest {
            revision,
            physical: false,
        }))
    }

    fn get(&self, key: &str, revision: i64) -> Result<RangeResponse, StoreError> {
        self.mvcc.range(&RangeRequest {
            key: key.into(),
            revision,
            ..Default::default()
        })
    }

    fn get_kv(&self, key: &str, revision: i64) -> Option<KeyValue> {
        let mut resp = self.get(key, revision).expect("range");
        assert!(resp.kvs.len() <= 1);
        resp.kvs.pop()
    }
}

/// Keys the example tests use.
const KEYS_AND_MORE: &[&str] = &["a", "b", "c", "d", "k", "x", "y", "z"];

fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(put_req(key, value))),
    }
}

fn delete_op(key: &str, range_end: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            prev_kv: false,
        })),
    }
}

fn range_op(req: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestRange(req)),
    }
}

fn txn_op(req: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestTxn(req)),
    }
}

fn compare(
    key: &str,
    target: CompareTarget,
    result: CompareResult,
    operand: TargetUnion,
) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.into(),
        range_end: Vec::new(),
        target_union: Some(operand),
    }
}

fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        create_revision: create,
        mod_revision: modified,
        version,
        value: value.into(),
        lease: 0,
    }
}

fn expect_txn(outcome: Outcome) -> TxnResponse {
    match outcome {
        Outcome::Txn(resp) => resp,
        other => panic!("txn failed: {other:?}"),
    }
}

fn expect_error(outcome: Outcome, message: &str) {
    match outcome {
        Outcome::Error(err) => assert_eq!(err.message, message),
        other => panic!("expected error {message:?}, got {other:?}"),
    }
}

#[test]
fn noop_writes_do_not_bump_the_revision() {
    let mut s = Store::new();
    // An empty store is at revision 1; the first write gets revision 2.
    assert_eq!(s.mvcc.current_revision(), 1);
    assert_eq!(s.put("a", "1").header, header(2));

    // Deleting nothing: answered at the current revision, no new revision.
    let resp = s.delete("zz", "");
    assert_eq!((resp.header, resp.deleted), (header(2), 0));
    let resp = s.delete("x", "z");
    assert_eq!((resp.header, resp.deleted), (header(2), 0));
    assert_eq!(s.mvcc.current_revision(), 2);

    // A read-only txn, and a txn whose chosen branch deletes nothing.
    let read_only = TxnRequest {
        compare: vec![compare(
            "a",
            CompareTarget::Value,
            CompareResult::Equal,
            TargetUnion::Value("1".into()),
        )],
        success: vec![range_op(RangeRequest {
            key: "a".into(),
            ..Default::default()
        })],
        failure: vec![put_op("b", "never")],
    };
    let resp = expect_txn(s.txn(read_only));
    assert!(resp.succeeded);
    assert_eq!(resp.header, header(2));
    let delete_nothing = TxnRequest {
        compare: vec![],
        success: vec![delete_op("q", ""), delete_op("r", "\0")],
        failure: vec![],
    };
    assert_eq!(expect_txn(s.txn(delete_nothing)).header, header(2));
    assert_eq!(s.mvcc.current_revision(), 2);

    // A failed compaction or put changes nothing either.
    expect_error(
        s.compact(6),
        "etcdserver: mvcc: required revision is a future revision",
    );
    assert_eq!(s.mvcc.current_revision(), 2);

    // The next write takes the very next revision.
    assert_eq!(s.put("b", "2").header, header(3));
}

#[test]
fn txn_changes_share_one_revision_with_increasing_sub_revisions() {
    let mut s = Store::new();
    s.put("a", "1");
    s.put("b", "2");
    let resp = expect_txn(s.txn(TxnRequest {
        compare: vec![],
        success: vec![
            put_op("c", "3"),
            delete_op("a", ""),
            put_op("d", "4"),
            range_op(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                ..Default::default()
            }),
            txn_op(TxnRequest {
                compare: vec![],
                success: vec![put_op("e", "5")],
                failure: vec![],
            }),
        ],
        failure: vec![],
    }));
    assert!(resp.succeeded);
    assert_eq!(resp.header, header(4));
    let Some(Response::ResponseRange(range)) = &resp.responses[3].response else {
        panic!("not a range response: {resp:?}");
    };
    // Reads inside the txn see its own earlier changes, at the txn's revision.
    assert_eq!(range.header, header(4));
    assert_eq!(
        range.kvs,
        vec![
            kv("b", "2", 3, 3, 1),
            kv("c", "3", 4, 4, 1),
            kv("d", "4", 4, 4, 1)
        ]
    );
    let Some(Response::ResponseTxn(nested)) = &resp.responses[4].response else {
        panic!("not a txn response: {resp:?}");
    };
    // etcd gives nested txn responses an empty header.
    assert_eq!(nested.header, Some(ResponseHeader::default()));
    let Some(Response::ResponsePut(put)) = &nested.responses[0].response else {
        panic!("not a put response: {nested:?}");
    };
    assert_eq!(put.header, header(4));

    let (image, _) = s.mvcc.export_image().expect("export");
    let at4: Vec<(i64, bool, Vec<u8>)> = image
        .records
        .iter()
        .filter(|r| r.main == 4)
        .map(|r| (r.sub, r.tombstone, r.kv.clone().unwrap_or_default().key))
        .collect();
    assert_eq!(
        at4,
        vec![
            (0, false, b"c".to_vec()),
            (1, true, b"a".to_vec()),
            (2, false, b"d".to_vec()),
            (3, false, b"e".to_vec()),
        ]
    );
    assert_eq!(s.mvcc.current_revision(), 4);
}

#[test]
fn version_and_create_revision_across_delete_and_recreate() {
    let mut s = Store::new();
    s.put("a", "1");
    let resp = s.put("a", "2");
    assert_eq!(resp.header, header(3));
    assert_eq!(s.get_kv("a", 0), Some(kv("a", "2", 2, 3, 2)));
    let resp = s.delete("a", "");
    assert_eq!(
        (resp.deleted, resp.prev_kvs),
        (1, vec![kv("a", "2", 2, 3, 2)])
    );
    assert_eq!(s.get_kv("a", 0), None);
    let resp = s.apply(CommandRequest::Put(PutRequest {
        prev_kv: true,
        ..put_req("a", "3")
    }));
    // A new generation: no previous value, version 1, a new create revision.
    assert_eq!(
        resp,
        Outcome::Put(PutResponse {
            header: header(5),
            prev_kv: None
        })
    );
    assert_eq!(s.get_kv("a", 0), Some(kv("a", "3", 5, 5, 1)));
    assert_eq!(s.get_kv("a", 1), None);
    assert_eq!(s.get_kv("a", 2), Some(kv("a", "1", 2, 2, 1)));
    assert_eq!(s.get_kv("a", 3), Some(kv("a", "2", 2, 3, 2)));
    assert_eq!(s.get_kv("a", 4), None);

    // Compares see a missing key as all zeroes (a value compare on it fails).
    let version_is = |v| {
        compare(
            "a",
            CompareTarget::Version,
            CompareResult::Equal,
            TargetUnion::Version(v),
        )
    };
    let created_at = |r| {
        compare(
            "a",
            CompareTarget::Create,
            CompareResult::Equal,
            TargetUnion::CreateRevision(r),
        )
    };
    let txn = |cmp: Compare| TxnRequest {
        compare: vec![cmp],
        success: vec![],
        failure: vec![],
    };
    assert!(expect_txn(s.txn(txn(version_is(1)))).succeeded);
    assert!(expect_txn(s.txn(txn(created_at(5)))).succeeded);
    s.delete("a", "");
    assert!(expect_txn(s.txn(txn(version_is(0)))).succeeded);
    assert!(expect_txn(s.txn(txn(created_at(0)))).succeeded);
    let value_empty = compare(
        "a",
        CompareTarget::Value,
        CompareResult::Equal,
        TargetUnion::Value(Vec::new()),
    );
    assert!(!expect_txn(s.txn(txn(value_empty))).succeeded);
    let value_not_x = compare(
        "a",
        CompareTarget::Value,
        CompareResult::NotEqual,
        TargetUnion::Value("x".into()),
    );
    assert!(!expect_txn(s.txn(txn(value_not_x))).succeeded);
}

#[test]
fn compaction_at_a_compacted_revision_fails() {
    let mut s = Store::new();
    for v in ["1", "2", "3"] {
        s.put("a", v);
    }
    assert_eq!(
        s.compact(3),
        Outcome::Compaction(CompactionResponse { header: header(4) })
    );
    let compacted = "etcdserver: mvcc: required revision has been compacted";
    match s.compact(3) {
        Outcome::Error(err) => {
            assert_eq!(err.message, compacted);
            assert_eq!(err.code, StoreError::Compacted.code() as i32);
        }
        other => panic!("second compaction at 3 succeeded: {other:?}"),
    }
    expect_error(s.compact(2), compacted);
    expect_error(
        s.compact(5),
        "etcdserver: mvcc: required revision is a future revision",
    );
    assert_eq!(s.get("a", 2), Err(StoreError::Compacted));
    assert_eq!(s.get_kv("a", 3), Some(kv("a", "2", 2, 3, 2)));
    assert_eq!(s.get("a", 5), Err(StoreError::FutureRevision));
    // A txn reading a compacted revision fails as a whole.
    let resp = s.txn(TxnRequest {
        compare: vec![],
        success: vec![
            put_op("b", "1"),
            range_op(RangeRequest {
                key: "a".into(),
                revision: 2,
                ..Default::default()
            }),
        ],
        failure: vec![],
    });
    expect_error(resp, compacted);
    assert_eq!(s.mvcc.current_revision(), 4);
    assert_eq!(
        s.compact(4),
        Outcome::Compaction(CompactionResponse { header: header(4) })
    );
    assert_eq!(s.get_kv("a", 4), Some(kv("a", "3", 2, 4, 3)));
}

#[test]
fn ignore_value_needs_an_existing_key() {
    let mut s = Store::new();
    let ignore = PutRequest {
        key: "a".into(),
        ignore_value: true,
        ..Default::default()
    };
    let not_found = "etcdserver: key not found";
    expect_error(s.apply(CommandRequest::Put(ignore.clone())), not_found);
    // In a txn the whole txn fails and nothing of it is applied.
    let txn = TxnRequest {
        compare: vec![],
        success: vec![
            put_op("b", "1"),
            RequestOp {
                request: Some(Request::RequestPut(ignore.clone())),
            },
        ],
        failure: vec![],
    };
    expect_error(s.txn(txn.clone()), not_found);
    assert_eq!(s.mvcc.current_revision(), 1);
    assert_eq!(s.get_kv("b", 0), None);

    s.put("a", "keep");
    let resp = s.apply(CommandRequest::Put(PutRequest {
        prev_kv: true,
        ..ignore.clone()
    }));
    assert_eq!(
        resp,
        Outcome::Put(PutResponse {
            header: header(3),
            prev_kv: Some(kv("a", "keep", 2, 2, 1)),
        })
    );
    assert_eq!(s.get_kv("a", 0), Some(kv("a", "keep", 2, 3, 2)));
    assert!(expect_txn(s.txn(txn)).succeeded);
    assert_eq!(s.get_kv("a", 0), Some(kv("a", "keep", 2, 4, 3)));

    // ignore_lease needs the key too; a lease that does not exist is refused.
    let ignore_lease = PutRequest {
        ignore_lease: true,
        ..put_req("zz", "v")
    };
    expect_error(s.apply(CommandRequest::Put(ignore_lease)), not_found);
    let leased = PutRequest {
        lease: 42,
        ..put_req("a", "v")
    };
    let lease_not_found = "etcdserver: requested lease not found";
    expect_error(s.apply(CommandRequest::Put(leased)), lease_not_found);
    // Both wrong: a plain put reports the lease (etcd's Put), a txn the key (checkRequestPut).
    let both = PutRequest {
        key: "zz".into(),
        ignore_value: true,
        lease: 42,
        ..Default::default()
    };
    expect_error(s.apply(CommandRequest::Put(both.clone())), lease_not_found);
    let txn = TxnRequest {
        compare: vec![],
        success: vec![RequestOp {
            request: Some(Request::RequestPut(both)),
        }],
        failure: vec![],
    };
    expect_error(s.txn(txn), not_found);
    assert_eq!(s.mvcc.current_revision(), 4);
}

#[test]
fn range_limit_sets_more_and_counts_everything() {
    let mut s = Store::new();
    for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        s.put(key, &format!("{}", 5 - i));
    }
    s.put("b", "9");
    let all = |limit: i64| RangeRequest {
        key: "a".into(),
        range_end: "z".into(),
        limit,
        ..Default::default()
    };
    let resp = s.mvcc.range(&all(2)).expect("range");
    assert_eq!(resp.kvs, vec![kv("a", "5", 2, 2, 1), kv("b", "9", 3, 7, 2)]);
    assert!(resp.more);
    assert_eq!(resp.count, 5);
    assert_eq!(resp.header, header(7));

    let resp = s.mvcc.range(&all(5)).expect("range");
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (5, false, 5));
    let resp = s.mvcc.range(&all(0)).expect("range");
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (5, false, 5));

    // Sorted: everything is sorted first, then truncated.
    let resp = s
        .mvcc
        .range(&RangeRequest {
            sort_order: SortOrder::Descend as i32,
            sort_target: SortTarget::Value as i32,
            ..all(2)
        })
        .expect("range");
    assert_eq!(resp.kvs, vec![kv("b", "9", 3, 7, 2), kv("a", "5", 2, 2, 1)]);
    assert!(resp.more);
    assert_eq!(resp.count, 5);

    // A sort target without an order sorts ascending, over the first limit+1 keys only.
    let resp = s
        .mvcc
        .range(&RangeRequest {
            sort_target: SortTarget::Value as i32,
            ..all(2)
        })
        .expect("range");
    assert_eq!(resp.kvs, vec![kv("c", "3", 4, 4, 1), kv("a", "5", 2, 2, 1)]);
    assert!(resp.more);

    // Filters: count is still every key in the range.
    let resp = s
        .mvcc
        .range(&RangeRequest {
            min_mod_revision: 4,
            ..all(2)
        })
        .expect("range");
    assert_eq!(
        resp.kvs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
        vec![b"b".to_vec(), b"c".to_vec()]
    );
    assert!(resp.more);
    assert_eq!(resp.count, 5);

    // Count only, keys only; a historic revision answers with the current header revision.
    let resp = s
        .mvcc
        .range(&RangeRequest {
            count_only: true,
            revision: 3,
            ..all(1)
        })
        .expect("range");
    assert_eq!(
        (resp.kvs.len(), resp.more, resp.count, resp.header),
        (0, false, 2, header(7))
    );
    let resp = s
        .mvcc
        .range(&RangeRequest {
            keys_only: true,
            ..all(1)
        })
        .expect("range");
    assert_eq!(resp.kvs, vec![kv("a", "", 2, 2, 1)]);
}

#[test]
fn txn_compares_see_the_state_before_the_txn() {
    let mut s = Store::new();
    s.put("a", "old");
    let value_is_old = compare(
        "a",
        CompareTarget::Value,
        CompareResult::Equal,
        TargetUnion::Value("old".into()),
    );
    let resp = expect_txn(s.txn(TxnRequest {
        compare: vec![],
        success: vec![
            put_op("a", "new"),
            txn_op(TxnRequest {
                compare: vec![value_is_old],
                success: vec![put_op("b", "saw old")],
                failure: vec![put_op("b", "saw new")],
            }),
        ],
        failure: vec![],
    }));
    assert_eq!(resp.header, header(3));
    let Some(Response::ResponseTxn(nested)) = &resp.responses[1].response else {
        panic!("not a txn response: {resp:?}");
    };
    assert!(nested.succeeded);
    assert_eq!(s.get_kv("b", 0), Some(kv("b", "saw old", 3, 3, 1)));
}

#[test]
fn compare_uses_the_operand_of_its_own_target_only() {
    let mut s = Store::new();
    s.put("a", "1");
    s.put("a", "2");
    // MOD compared with a Version operand: etcd compares mod_revision (3) with 0.
    let mismatched = compare(
        "a",
        CompareTarget::Mod,
        CompareResult::Greater,
        TargetUnion::Version(5),
    );
    let resp = expect_txn(s.txn(TxnRequest {
        compare: vec![mismatched],
        success: vec![],
        failure: vec![],
    }));
    assert!(resp.succeeded);
}

#[test]
fn txn_checks_puts_before_ranges() {
    let mut s = Store::new();
    s.put("a", "1");
    // etcd checks every put on the chosen path, then every range.
    let resp = s.txn(TxnRequest {
        compare: vec![],
        success: vec![
            range_op(RangeRequest {
                key: "a".into(),
                revision: 9,
                ..Default::default()
            }),
            RequestOp {
                request: Some(Request::RequestPut(PutRequest {
                    key: "missing".into(),
                    ignore_value: true,
                    ..Default::default()
                })),
            },
        ],
        failure: vec![],
    });
    expect_error(resp, "etcdserver: key not found");
}

#[test]
fn compaction_in_a_batch_does_not_disturb_readers_of_the_latest_revision() {
    let s = Store::new();
    let mut batch = s.mvcc.begin_apply().expect("begin");
    for cmd in [
        CommandRequest::Put(put_req("a", "1")),
        CommandRequest::Compaction(CompactionRequest {
            revision: 2,
            physical: false,
        }),
    ] {
        batch
            .execute(&Command {
                request: Some(cmd),
                auth_header: None,
            })
            .expect("execute");
        // Until the batch commits, readers see the empty store at revision 1.
        let resp = s
            .mvcc
            .range(&everything(0))
            .expect("latest read during a batch");
        assert_eq!((resp.header, resp.count), (header(1), 0));
    }
    batch.commit(&RaftMeta::default()).expect("commit");
    assert_eq!(s.get_kv("a", 0), Some(kv("a", "1", 2, 2, 1)));
    assert_eq!(s.mvcc.compact_revision(), 2);
}

#[test]
fn cluster_id_can_be_set_while_a_batch_is_applied() {
    let s = Store::new();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let mut batch = s.mvcc.begin_apply().expect("begin");
        let setter = scope.spawn(|| s.mvcc.init_cluster_id(7));
        std::thread::sleep(Duration::from_millis(50));
        let applier = scope.spawn(move || {
            let put = Command {
                auth_header: None,
                request: Some(CommandRequest::Put(put_req("a", "1"))),
            };
            let result = batch
                .execute(&put)
                .and_then(|_| batch.commit(&RaftMeta::default()));
            let _ = done_tx.send(result);
        });
        match done_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(result) => {
                result.expect("apply");
            }
            Err(_) => {
                eprintln!("deadlock: the batch cannot proceed while the cluster id is being set");
                std::process::abort();
            }
        }
        applier.join().expect("applier");
        assert_eq!(setter.join().expect("setter"), Ok(7));
    });
    assert_eq!(s.mvcc.cluster_id(), 7);
    assert_eq!(s.mvcc.current_revision(), 2);
}

fn kv_leased(
    key: &str,
    value: &str,
    create: i64,
    modified: i64,
    version: i64,
    lease: i64,
) -> KeyValue {
    KeyValue {
        lease,
        ..kv(key, value, create, modified, version)
    }
}

#[test]
fn lease_grant_checks_and_does_not_bump_the_revision() {
    let mut s = Store::new();
    s.put("a", "1");
    let not_found = "etcdserver: requested lease not found";
    expect_error(s.grant(0, 10), not_found);
    expect_error(
        s.grant(1, MAX_LEASE_TTL + 1),
        "etcdserver: too large lease TTL",
    );
    assert_eq!(
        s.grant(1, MAX_LEASE_TTL),
        Outcome::LeaseGrant(LeaseGrantResponse {
            header: header(2),
            id: 1,
            ttl: MAX_LEASE_TTL,
            error: String::new(),
        })
    );
    expect_error(s.grant(1, 5), "etcdserver: lease already exists");
    assert_eq!(s.mvcc.current_revision(), 2);
    // The codes the gRPC layer answers with are etcd's.
    assert_eq!(
        StoreError::LeaseExists.code(),
        tonic::Code::FailedPrecondition
    );
    assert_eq!(StoreError::LeaseTtlTooLarge.code(), tonic::Code::OutOfRange);
    assert_eq!(StoreError::LeaseNotFound.code(), tonic::Code::NotFound);

    // Checkpoints update known leases and ignore unknown ones.
    let resp = s.apply(CommandRequest::LeaseCheckpoint(LeaseCheckpointRequest {
        checkpoints: vec![
            LeaseCheckpoint {
                id: 1,
                remaining_ttl: 30,
            },
            LeaseCheckpoint {
                id: 8,
                remaining_ttl: 7,
            },
        ],
    }));
    assert_eq!(
        resp,
        Outcome::LeaseCheckpoint(LeaseCheckpointResponse { header: header(2) })
    );
    let lease = LeaseInfo {
        id: 1,
        ttl: MAX_LEASE_TTL,
        remaining_ttl: 30,
        keys: Default::default(),
    };
    assert_eq!(s.mvcc.lease(1), Some(lease.clone()));
    assert_eq!(s.mvcc.lease(8), None);
    assert_eq!(s.mvcc.leases(), vec![lease.clone()]);
    let s = s.reopen();
    assert_eq!(s.mvcc.leases(), vec![lease.clone()]);
    assert_eq!(s.installed().mvcc.leases(), vec![lease]);
    assert_eq!(s.mvcc.current_revision(), 2);
}

#[test]
fn keys_follow_their_lease_and_revoke_deletes_them_in_one_revision() {
    let mut s = Store::new();
    let not_found = "etcdserver: requested lease not found";
    expect_error(s.put_leased("a", "1", 1), not_found);
    s.grant(1, 60);
    s.grant(2, 60);
    for key in ["z", "b", "d", "a"] {
        assert!(matches!(s.put_leased(key, "1", 1), Outcome::Put(_)));
    }
    s.put("c", "plain");
    assert_eq!(s.lease_keys(1), Some(vec!["a", "b", "d", "z"]));
    // A put moves its key to the lease it names (or to none); ignore_lease keeps the lease;
    // a deleted key leaves its lease.
    s.put_leased("b", "2", 2);
    s.put("d", "2");
    let resp = s.apply(CommandRequest::Put(PutRequest {
        ignore_lease: true,
        ..put_req("a", "2")
    }));
    assert!(matches!(resp, Outcome::Put(_)));
    s.put_leased("c", "2", 1);
    s.delete("z", "");
    assert_eq!(s.lease_keys(1), Some(vec!["a", "c"]));
    assert_eq!(s.lease_keys(2), Some(vec!["b"]));
    assert_eq!(s.get_kv("a", 0), Some(kv_leased("a", "2", 5, 9, 2, 1)));
    assert_eq!(s.get_kv("d", 0), Some(kv("d", "2", 4, 8, 2)));
    let s2 = s.reopen();
    let mut s = s2;
    assert_eq!(s.lease_keys(1), Some(vec!["a", "c"]));
    assert_eq!(s.installed().lease_keys(2), Some(vec!["b"]));

    // Revoke: every attached key deleted at one revision, in key order, then the lease.
    assert_eq!(s.mvcc.current_revision(), 11);
    let (resp, events) = s.revoke(1);
    assert_eq!(
        resp,
        Outcome::LeaseRevoke(LeaseRevokeResponse { header: header(12) })
    );
    assert_eq!(
        events,
        vec![
            delete_event(b"a", 12, Some(kv_leased("a", "2", 5, 9, 2, 1))),
            delete_event(b"c", 12, Some(kv_leased("c", "2", 6, 10, 2, 1))),
        ]
    );
    assert_eq!(s.mvcc.lease(1), None);
    assert_eq!(s.get_kv("a", 0), None);
    assert_eq!(s.get_kv("c", 0), None);
    assert_eq!(s.get_kv("c", 11), Some(kv_leased("c", "2", 6, 10, 2, 1)));
    expect_error(s.revoke(1).0, not_found);
    expect_error(s.put_leased("a", "3", 1), not_found);
    // A lease without keys goes without a new revision.
    s.delete("b", "");
    let (resp, events) = s.revoke(2);
    assert_eq!(
        resp,
        Outcome::LeaseRevoke(LeaseRevokeResponse { header: header(13) })
    );
    assert!(events.is_empty());
    assert_eq!(s.mvcc.current_revision(), 13);
    assert!(s.mvcc.leases().is_empty());
    let s = s.reopen();
    assert!(s.mvcc.leases().is_empty());
    assert_eq!(
        s.history(12, 1).expect("history").first(),
        Some(&delete_event(
            b"a",
            12,
            Some(kv_leased("a", "2", 5, 9, 2, 1))
        ))
    );
}

#[test]
fn applied_events_carry_the_previous_values() {
    let mut s = Store::new();
    let (_, events) = s.apply_events(CommandRequest::Put(put_req("a", "1")));
    assert_eq!(events, vec![put_event(kv("a", "1", 2, 2, 1), None)]);
    // prev_kv is there whether the request asked for it or not.
    let (_, events) = s.apply_events(CommandRequest::Txn(TxnRequest {
        compare: vec![],
        success: vec![put_op("b", "1"), delete_op("a", ""), put_op("c", "1")],
        failure: vec![],
    }));
    assert_eq!(
        events,
        vec![
            put_event(kv("b", "1", 3, 3, 1), None),
            delete_event(b"a", 3, Some(kv("a", "1", 2, 2, 1))),
            put_event(kv("c", "1", 3, 3, 1), None),
        ]
    );
    // Several entries in one batch: every revision's events, in order.
    let mut batch = s.mvcc.begin_apply().expect("begin");
    for cmd in [
        CommandRequest::Put(put_req("b", "2")),
        CommandRequest::Compaction(CompactionRequest {
            revision: 3,
            physical: false,
        }),
        CommandRequest::DeleteRange(DeleteRangeRequest {
            key: "nothing".into(),
            range_end: Vec::new(),
            prev_kv: false,
        }),
        CommandRequest::DeleteRange(DeleteRangeRequest {
            key: "a".into(),
            range_end: "z".into(),
            prev_kv: false,
        }),
    ] {
        batch
            .execute(&Command {
                request: Some(cmd),
                auth_header: None,
            })
            .expect("execute");
    }
    let applied = batch.commit(&RaftMeta::default()).expect("commit");
    assert_eq!(
        applied.events,
        vec![
            put_event(kv("b", "2", 3, 4, 2), Some(kv("b", "1", 3, 3, 1))),
            delete_event(b"b", 5, Some(kv("b", "2", 3, 4, 2))),
            delete_event(b"c", 5, Some(kv("c", "1", 3, 3, 1))),
        ]
    );
    assert_eq!((applied.revision, applied.compacted), (5, Some(3)));
}

/// etcd issue #18089 (fixed by etcd PR #18274): a watcher starting at the compaction revision
/// must still get a DELETE made at that revision.
#[test]
fn history_from_the_compaction_revision_keeps_its_delete() {
    let mut s = Store::new();
    for v in ["v2", "v3", "v4"] {
        s.put("k", v);
    }
    s.delete("k", "");
    s.put("k", "v6");
    assert_eq!(s.mvcc.current_revision(), 6);
    s.compact(5);
    let want = vec![
        // The value the delete removed is compacted away.
        delete_event(b"k", 5, None),
        put_event(kv("k", "v6", 6, 6, 1), None),
    ];
    assert_eq!(s.history(5, 1), Ok(want.clone()));
    assert_eq!(s.history(4, 1), Err(StoreError::Compacted));
    assert_eq!(s.get_kv("k", 5), None);
    let s = s.reopen();
    assert_eq!(s.history(5, 10), Ok(want.clone()));
    let mut s = s.installed();
    assert_eq!(s.history(5, 10), Ok(want.clone()));
    // A later compaction drops the tombstone.
    s.put("x", "1");
    s.compact(6);
    assert_eq!(
        s.history(6, 10),
        Ok(vec![
            put_event(kv("k", "v6", 6, 6, 1), None),
            put_event(kv("x", "1", 7, 7, 1), None),
        ])
    );
    let (image, _) = s.mvcc.export_image().expect("export");
    assert!(image.records.iter().all(|r| r.main >= 6));
}

#[test]
fn history_pages_hold_whole_revisions() {
    let mut s = Store::new();
    s.put("a", "1");
    s.txn(TxnRequest {
        compare: vec![],
        success: vec![put_op("b", "1"), put_op("c", "1"), put_op("d", "1")],
        failure: vec![],
    });
    s.put("a", "2");
    let range = KeyRange::new(&[0], &[0]);
    let page = s.mvcc.history(&range, 2, 2).expect("history");
    // Revision 3 has three events: the page takes all of them.
    assert_eq!(page.events.len(), 4);
    assert_eq!((page.next, page.current), (4, 4));
    let page = s.mvcc.history(&range, page.next, 2).expect("history");
    assert_eq!(
        page.events,
        vec![put_event(
            kv("a", "2", 2, 4, 2),
            Some(kv("a", "1", 2, 2, 1))
        )]
    );
    assert_eq!(page.next, 5);
    // Only the keys asked for, but whole revisions still.
    let page = s
        .mvcc
        .history(&KeyRange::new(b"c", b""), 1, 1)
        .expect("history");
    assert_eq!(page.events, vec![put_event(kv("c", "1", 3, 3, 1), None)]);
    assert_eq!(page.next, 4);
    let page = s
        .mvcc
        .history(&KeyRange::new(b"c", b""), 4, 1)
        .expect("history");
    assert!(page.events.is_empty());
    assert_eq!(page.next, 5);
    // max_events 0: one revision a page, so paging still gets on.
    let page = s.mvcc.history(&range, 2, 0).expect("history");
    assert_eq!(page.events, vec![put_event(kv("a", "1", 2, 2, 1), None)]);
    assert_eq!(page.next, 3);
    let page = s.mvcc.history(&range, 3, 0).expect("history");
    assert_eq!((page.events.len(), page.next), (3, 4));
    // A start in the future: nothing yet, and nothing before the start to come back for.
    let page = s.mvcc.history(&range, 9, 2).expect("history");
    assert!(page.events.is_empty());
    assert_eq!((page.next, page.current), (9, 4));
}

/// Revisions reach readers only when their batch commits; leases do not wait: `Mvcc::lease`
/// and `Mvcc::leases` read the state the apply path changes in place, so a grant, revoke or
/// re-attachment shows while its batch is still open (and would stay if it never committed).
#[test]
#[ignore = "known issue: a batch's lease changes are visible before it commits"]
fn leases_are_published_with_their_batch() {
    let s = Store::new();
    let mut batch = s.mvcc.begin_apply().expect("begin");
    let grant = Command {
        auth_header: None,
        request: Some(CommandRequest::LeaseGrant(LeaseGrantRequest {
            ttl: 10,
            id: 1,
        })),
    };
    batch.execute(&grant).expect("execute");
    assert_eq!(
        s.mvcc.lease(1),
        None,
        "a lease shows before its batch commits"
    );
    batch.commit(&RaftMeta::default()).expect("commit");
    assert!(s.mvcc.lease(1).is_some());
}
