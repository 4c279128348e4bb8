//! The checks every run ends with, each returning the violations it found (empty: passed)
//! with the operations involved as evidence:
//!
//! - `writes`: every acknowledged write is in the committed history at the revision it was
//!   acknowledged with (no lost write), every committed value was written by some client
//!   request (no phantom), and none was applied twice;
//! - `reads`: every read (linearizable or serializable) returned the committed state at the
//!   revision it reported;
//! - `client_revisions`: the revisions a client sees on linearizable requests never go back;
//! - `linearizability`: the per-key history is linearizable (see `linearizability`);
//! - `watch`: each watcher's events are exactly the committed changes under its prefix from its
//!   start revision on — ordered, unique, nothing missing, revisions never split across
//!   responses (atomic), prev_kv as committed — across the resumes after broken streams;
//! - `leases`: no key of a live lease vanished, no key of a revoked or expired lease remains.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::history::{Operation, Request, Response, WatchRecord, WatchedEvent};
use super::truth::Truth;

pub type Violations = Vec<String>;

/// Acknowledged writes are committed as acknowledged; committed values come from requests.
pub fn writes(ops: &[Operation], truth: &Truth) -> Violations {
    let mut violations = Vec::new();
    let mut requested: HashMap<&str, Vec<&Operation>> = HashMap::new();
    for op in ops {
        let value = match &op.request {
            Request::Put { value, .. } | Request::Cas { value, .. } => value.as_str(),
            _ => continue,
        };
        requested.entry(value).or_default().push(op);
        let committed_at = |key: &str, revision: i64| {
            truth
                .changes_of(key)
                .any(|c| c.revision == revision && c.value.as_deref() == Some(value))
        };
        let in_history = |revision: i64| revision > truth.base_revision;
        match (&op.request, &op.response) {
            (Request::Put { key, .. }, Some(Response::Put { revision }))
                if in_history(*revision) && !committed_at(key, *revision) =>
            {
                violations.push(format!(
                    "lost write: {op} is not in the committed history at revision {revision} (committed changes of {key:?}: {:?})",
                    truth.changes_of(key).collect::<Vec<_>>()
                ));
            }
            (
                Request::Cas { key, .. },
                Some(Response::Cas {
                    revision,
                    succeeded: true,
                    ..
                }),
            ) if in_history(*revision) && !committed_at(key, *revision) => {
                violations.push(format!(
                    "lost write: {op} succeeded but is not committed at revision {revision}"
                ));
            }
            _ => {}
        }
    }
    for (key, revision) in ops
        .iter()
        .filter_map(|op| match (&op.request, &op.response) {
            (Request::Delete { key }, Some(Response::Delete { revision, deleted }))
                if *deleted > 0 =>
            {
                Some((key, *revision))
            }
            _ => None,
        })
    {
        if revision > truth.base_revision
            && !truth
                .changes_of(key)
                .any(|c| c.revision == revision && c.value.is_none())
        {
            violations.push(format!(
                "lost delete: {key:?} deleted at {revision} is not in the committed history"
            ));
        }
    }
    let mut seen = HashSet::new();
    for change in &truth.changes {
        let Some(value) = &change.value else { continue };
        if !seen.insert(value.as_str()) {
            violations.push(format!(
                "duplicated write: value {value:?} committed more than once (again at {})",
                change.revision
            ));
        }
        if !requested.contains_key(value.as_str()) {
            violations.push(format!(
                "phantom write: {:?}={value:?} at revision {} was never requested",
                change.key, change.revision
            ));
        }
    }
    violations
}

/// Every read returned the committed state at its revision.
pub fn reads(ops: &[Operation], truth: &Truth) -> Violations {
    let mut violations = Vec::new();
    for op in ops {
        match (&op.request, &op.response) {
            (Request::Get { key, .. }, Some(Response::Get { revision, value })) => {
                if let Some(committed) = truth.value_at(key, *revision)
                    && committed != *value
                {
                    violations.push(format!(
                        "stale or wrong read: {op}; committed at {revision}: {committed:?}"
                    ));
                }
            }
            (
                Request::Cas { key, .. },
                Some(Response::Cas {
                    revision,
                    succeeded: false,
                    current,
                }),
            ) => {
                if let Some(committed) = truth.value_at(key, *revision)
                    && committed != *current
                {
                    violations.push(format!(
                        "wrong read in a failed CAS: {op}; committed at {revision}: {committed:?}"
                    ));
                }
            }
            (Request::Range { prefix, .. }, Some(Response::Range { revision, kvs })) => {
                if *revision < truth.base_revision {
                    continue;
                }
                let committed: Vec<(String, String, i64)> = truth
                    .keys_with_prefix(prefix)
                    .into_iter()
                    .filter_map(|key| {
                        let (value, mod_revision) = truth.value_at(&key, *revision)??;
                        Some((key, value, mod_revision))
                    })
                    .collect();
                if committed != *kvs {
                    violations.push(format!(
                        "stale or wrong range: {op}; committed at {revision}: {committed:?}"
                    ));
                }
            }
            _ => {}
        }
    }
    violations
}

/// Linearizable responses of one client never report a revision older than an earlier one.
pub fn client_revisions(ops: &[Operation]) -> Violations {
    let mut last: BTreeMap<usize, (i64, &Operation)> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut by_completion: Vec<&Operation> = ops.iter().filter(|op| op.ret.is_some()).collect();
    by_completion.sort_by_key(|op| op.ret);
    for op in by_completion {
        let serializable = matches!(
            op.request,
            Request::Get {
                serializable: true,
                ..
            } | Request::Range {
                serializable: true,
                ..
            }
        );
        let Some(revision) = op.response.as_ref().and_then(Response::revision) else {
            continue;
        };
        if serializable {
            continue;
        }
        if let Some((previous, before)) = last.get(&op.client)
            && revision < *previous
        {
            violations.push(format!(
                "revision went backwards for client {}: {before} then {op}",
                op.client
            ));
        }
        last.insert(op.client, (revision, op));
    }
    violations
}

/// Each watcher saw exactly the committed changes under its prefix, from its start revision to
/// the last revision it reports, in order, once each, revisions whole, prev_kv as committed.
/// `complete`: the watcher was given time to catch up to `truth.last_revision`.
pub fn watch(record: &WatchRecord, truth: &Truth, complete: bool) -> Violations {
    let mut violations = Vec::new();
    let w = record.watcher;
    let got: Vec<&WatchedEvent> = record.responses.iter().flatten().collect();
    // Atomic: a revision never spans two responses.
    let mut revision_response: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, response) in record.responses.iter().enumerate() {
        for event in response {
            if let Some(first) = revision_response.insert(event.mod_revision, i)
                && first != i
            {
                violations.push(format!(
                    "watcher {w}: revision {} split across responses {first} and {i}",
                    event.mod_revision
                ));
            }
        }
    }
    let from = record.start_revision.max(truth.base_revision + 1);
    let until = if complete {
        truth.last_revision
    } else {
        got.last().map_or(0, |e| e.mod_revision)
    };
    let expected: Vec<WatchedEvent> = truth
        .changes
        .iter()
        .filter(|c| c.key.starts_with(&record.prefix) && c.revision >= from && c.revision <= until)
        .filter(|c| !(record.no_put && c.value.is_some() || record.no_delete && c.value.is_none()))
        .map(|c| WatchedEvent {
            key: c.key.clone(),
            value: c.value.clone(),
            mod_revision: c.revision,
            prev_value: if record.prev_kv {
                truth
                    .value_before(&c.key, c.revision)
                    .flatten()
                    .map(|(value, _)| value)
            } else {
                None
            },
        })
        .collect();
    let got: Vec<WatchedEvent> = got
        .into_iter()
        .filter(|e| e.mod_revision >= from)
        .cloned()
        .collect();
    if got != expected {
        let first_difference = got
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(expected.len()));
        let show = |events: &[WatchedEvent]| {
            events
                .iter()
                .skip(first_difference.saturating_sub(2))
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
        };
        let kind = if got.len() > expected.len() {
            "duplicated or extra events"
        } else if got.len() < expected.len() {
            "missing events (a gap)"
        } else {
            "different events"
        };
        violations.push(format!(
            "watcher {w} ({:?} from {}, prev_kv {}, no_put {}, no_delete {}, {} resumes): {kind}: got {} events, committed {}; first difference at #{first_difference}: got {:?}, committed {:?}",
            record.prefix,
            record.start_revision,
            record.prev_kv,
            record.no_put,
            record.no_delete,
            record.resumes,
            got.len(),
            expected.len(),
            show(&got),
            show(&expected)
        ));
    }
    violations
}

/// What the lease clients knew at the end.
#[derive(Clone, Debug)]
pub struct LeaseOutcome {
    pub id: i64,
    /// Kept alive for the whole run and never revoked: must still exist.
    pub kept_alive: bool,
    /// Still alive at the end according to the cluster (TimeToLive).
    pub alive_at_end: bool,
}

/// No key of a live lease vanished; no key of a gone lease remains (`final_kvs`: key ->
/// lease at the end).
pub fn leases(
    outcomes: &[LeaseOutcome],
    truth: &Truth,
    final_kvs: &BTreeMap<String, i64>,
) -> Violations {
    let mut violations = Vec::new();
    for lease in outcomes {
        if lease.kept_alive {
            if !lease.alive_at_end {
                violations.push(format!(
                    "lease {:x} was kept alive but is gone at the end",
                    lease.id
                ));
            }
            for change in &truth.changes {
                if change.value.is_none()
                    && lease_of(truth, &change.key, change.revision - 1) == Some(lease.id)
                {
                    violations.push(format!(
                        "key {:?} of the live lease {:x} vanished at revision {}",
                        change.key, lease.id, change.revision
                    ));
                }
            }
        }
        if !lease.alive_at_end {
            for (key, id) in final_kvs {
                if *id == lease.id {
                    violations.push(format!(
                        "key {key:?} of the revoked or expired lease {:x} remains",
                        lease.id
                    ));
                }
            }
        }
    }
    violations
}

/// The lease the key was attached to at `revision` (from the committed history).
fn lease_of(truth: &Truth, key: &str, revision: i64) -> Option<i64> {
    let mut lease = truth.base.get(key).map(|(_, _, lease)| *lease);
    for change in truth.changes_of(key) {
        if change.revision > revision {
            break;
        }
        lease = change.value.as_ref().map(|_| change.lease);
    }
    lease.filter(|id| *id != 0)
}

#[cfg(test)]
mod tests {
    //! Each check must catch a deliberately broken history.
    use super::super::truth::Change;
    use super::*;

    fn op(client: usize, call: u64, ret: u64, request: Request, response: Response) -> Operation {
        Operation {
            client,
            call,
            ret: Some(ret),
            request,
            response: Some(response),
        }
    }

    fn put(key: &str, value: &str) -> Request {
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
        }
    }

    fn get(key: &str) -> Request {
        Request::Get {
            key: key.into(),
            serializable: false,
        }
    }

    fn change(revision: i64, key: &str, value: Option<&str>) -> Change {
        Change {
            revision,
            key: key.into(),
            value: value.map(str::to_string),
            lease: 0,
        }
    }

    fn truth(changes: Vec<Change>) -> Truth {
        let last = changes.last().map_or(1, |c| c.revision);
        Truth::new(1, BTreeMap::new(), changes, last)
    }

    #[test]
    fn a_lost_write_is_caught() {
        let t = truth(vec![change(2, "k", Some("a"))]);
        let ops = vec![
            op(0, 0, 1, put("k", "a"), Response::Put { revision: 2 }),
            op(0, 2, 3, put("k", "b"), Response::Put { revision: 3 }),
        ];
        let found = writes(&ops, &t);
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("lost write") && v.contains("\"b\"")),
            "{found:?}"
        );
        assert!(writes(&ops[..1], &t).is_empty());
    }

    #[test]
    fn a_phantom_or_duplicated_write_is_caught() {
        let t = truth(vec![
            change(2, "k", Some("a")),
            change(3, "k", Some("a")),
            change(4, "k", Some("zz")),
        ]);
        let ops = vec![op(0, 0, 1, put("k", "a"), Response::Put { revision: 2 })];
        let found = writes(&ops, &t);
        assert!(
            found.iter().any(|v| v.starts_with("duplicated write")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|v| v.starts_with("phantom write")),
            "{found:?}"
        );
    }

    #[test]
    fn a_stale_read_is_caught() {
        let t = truth(vec![change(2, "k", Some("a")), change(3, "k", Some("b"))]);
        let fresh = op(
            1,
            4,
            5,
            get("k"),
            Response::Get {
                revision: 3,
                value: Some(("b".into(), 3)),
            },
        );
        // Claims revision 3 but returns the value of revision 2.
        let stale = op(
            1,
            6,
            7,
            get("k"),
            Response::Get {
                revision: 3,
                value: Some(("a".into(), 2)),
            },
        );
        assert!(reads(std::slice::from_ref(&fresh), &t).is_empty());
        assert_eq!(reads(&[stale], &t).len(), 1);
        // A read reporting an older revision than the client saw before.
        let older = op(
            1,
            8,
            9,
            get("k"),
            Response::Get {
                revision: 2,
                value: Some(("a".into(), 2)),
            },
        );
        assert_eq!(client_revisions(&[fresh, older]).len(), 1);
    }

    #[test]
    fn a_wrong_range_is_caught() {
        let t = truth(vec![
            change(2, "p/a", Some("1")),
            change(3, "p/b", Some("2")),
        ]);
        let range = |kvs: Vec<(String, String, i64)>| {
            op(
                0,
                0,
                1,
                Request::Range {
                    prefix: "p/".into(),
                    serializable: true,
                },
                Response::Range { revision: 3, kvs },
            )
        };
        let right = vec![("p/a".into(), "1".into(), 2), ("p/b".into(), "2".into(), 3)];
        assert!(reads(&[range(right)], &t).is_empty());
        assert_eq!(
            reads(&[range(vec![("p/a".into(), "1".into(), 2)])], &t).len(),
            1
        );
    }

    fn watched(key: &str, value: &str, revision: i64) -> WatchedEvent {
        WatchedEvent {
            key: key.into(),
            value: Some(value.into()),
            mod_revision: revision,
            prev_value: None,
        }
    }

    fn record(responses: Vec<Vec<WatchedEvent>>) -> WatchRecord {
        WatchRecord {
            watcher: 0,
            prefix: "k".into(),
            start_revision: 2,
            prev_kv: false,
            no_put: false,
            no_delete: false,
            responses,
            resumes: 0,
        }
    }

    #[test]
    fn a_duplicated_watch_event_is_caught() {
        let t = truth(vec![change(2, "k", Some("a")), change(3, "k", Some("b"))]);
        let good = record(vec![vec![watched("k", "a", 2)], vec![watched("k", "b", 3)]]);
        assert!(watch(&good, &t, true).is_empty());
        let duplicated = record(vec![
            vec![watched("k", "a", 2)],
            vec![watched("k", "a", 2), watched("k", "b", 3)],
        ]);
        let found = watch(&duplicated, &t, true);
        assert!(
            found
                .iter()
                .any(|v| v.contains("split across") || v.contains("duplicated")),
            "{found:?}"
        );
    }

    #[test]
    fn a_gap_in_watch_events_is_caught() {
        let t = truth(vec![
            change(2, "k", Some("a")),
            change(3, "k", Some("b")),
            change(4, "k", Some("c")),
        ]);
        let gap = record(vec![vec![watched("k", "a", 2)], vec![watched("k", "c", 4)]]);
        let found = watch(&gap, &t, true);
        assert!(
            found.iter().any(|v| v.contains("missing events")),
            "{found:?}"
        );
        // Cut short at the end: caught only when the watcher was given time to catch up.
        let short = record(vec![vec![watched("k", "a", 2)]]);
        assert!(watch(&short, &t, false).is_empty());
        assert!(!watch(&short, &t, true).is_empty());
    }

    #[test]
    fn a_wrong_prev_kv_is_caught() {
        let t = truth(vec![change(2, "k", Some("a")), change(3, "k", Some("b"))]);
        let mut with_prev = record(vec![vec![watched("k", "a", 2)], vec![watched("k", "b", 3)]]);
        with_prev.prev_kv = true;
        with_prev.responses[1][0].prev_value = Some("a".into());
        assert!(watch(&with_prev, &t, true).is_empty());
        with_prev.responses[1][0].prev_value = Some("x".into());
        assert!(!watch(&with_prev, &t, true).is_empty());
    }

    #[test]
    fn a_filtered_event_that_was_sent_is_caught() {
        let t = truth(vec![change(2, "k", Some("a")), change(3, "k", None)]);
        let deleted = WatchedEvent {
            key: "k".into(),
            value: None,
            mod_revision: 3,
            prev_value: None,
        };
        let mut no_delete = record(vec![vec![watched("k", "a", 2)]]);
        no_delete.no_delete = true;
        assert!(watch(&no_delete, &t, true).is_empty());
        no_delete.responses.push(vec![deleted.clone()]);
        assert!(!watch(&no_delete, &t, true).is_empty());
        let mut no_put = record(vec![vec![deleted]]);
        no_put.no_put = true;
        assert!(watch(&no_put, &t, true).is_empty());
        no_put.responses.insert(0, vec![watched("k", "a", 2)]);
        assert!(!watch(&no_put, &t, true).is_empty());
    }

    #[test]
    fn lease_violations_are_caught() {
        let mut leased = change(2, "lease/1", Some("v"));
        leased.lease = 7;
        let t = truth(vec![leased, change(3, "lease/1", None)]);
        let live = LeaseOutcome {
            id: 7,
            kept_alive: true,
            alive_at_end: true,
        };
        let found = leases(&[live], &t, &BTreeMap::new());
        assert!(found.iter().any(|v| v.contains("vanished")), "{found:?}");
        let gone = LeaseOutcome {
            id: 9,
            kept_alive: false,
            alive_at_end: false,
        };
        let remains = BTreeMap::from([("lease/2".to_string(), 9)]);
        assert_eq!(leases(&[gone], &truth(vec![]), &remains).len(), 1);
    }
}
