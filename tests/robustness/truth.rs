//! The committed history a run is checked against: every revision from the start (or from the
//! compaction revision, whose state is read with a Range) to the end, as a fresh watcher on one
//! member replays it after the run; that all members hold the same history is checked
//! separately (HashKV), so one member's history stands for the cluster's.
//!
//! It answers "what was the value of key K at revision R", which every read, write and watch
//! event of the run is held to.

use std::collections::BTreeMap;

use super::history::ReadValue;

/// One committed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub revision: i64,
    pub key: String,
    /// None: deleted.
    pub value: Option<String>,
    pub lease: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Truth {
    /// The revision whose state `base` is; history is known after it.
    pub base_revision: i64,
    /// key -> (value, mod_revision, lease) at `base_revision`.
    pub base: BTreeMap<String, (String, i64, i64)>,
    /// Changes after `base_revision`, in revision order.
    pub changes: Vec<Change>,
    /// The store's revision at the end.
    pub last_revision: i64,
    /// key -> indices into `changes`.
    by_key: BTreeMap<String, Vec<usize>>,
}

impl Truth {
    pub fn new(
        base_revision: i64,
        base: BTreeMap<String, (String, i64, i64)>,
        changes: Vec<Change>,
        last_revision: i64,
    ) -> Self {
        let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, change) in changes.iter().enumerate() {
            by_key.entry(change.key.clone()).or_default().push(i);
        }
        Self {
            base_revision,
            base,
            changes,
            last_revision,
            by_key,
        }
    }

    /// The key at `revision`: `None` when the history does not reach back that far.
    pub fn value_at(&self, key: &str, revision: i64) -> Option<ReadValue> {
        if revision < self.base_revision {
            return None;
        }
        let mut value = self
            .base
            .get(key)
            .map(|(value, mod_revision, _)| (value.clone(), *mod_revision));
        for &i in self.by_key.get(key).map(Vec::as_slice).unwrap_or(&[]) {
            let change = &self.changes[i];
            if change.revision > revision {
                break;
            }
            value = change.value.clone().map(|v| (v, change.revision));
        }
        Some(value)
    }

    /// Every key that ever existed under `prefix`, from the base and the changes.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .base
            .keys()
            .chain(self.by_key.keys())
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The changes to `key` (in order).
    pub fn changes_of(&self, key: &str) -> impl Iterator<Item = &Change> {
        self.by_key
            .get(key)
            .into_iter()
            .flatten()
            .map(|&i| &self.changes[i])
    }

    /// The value `key` had just before `revision` (what a watch event's prev_kv carries).
    pub fn value_before(&self, key: &str, revision: i64) -> Option<ReadValue> {
        self.value_at(key, revision - 1)
    }
}
