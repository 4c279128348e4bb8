//! The tree of key histories: the in-memory index from key to the revisions holding its values,
//! rebuilt from the backend when a member opens its data dir (as etcd rebuilds its `treeIndex`).

use std::collections::BTreeMap;

use super::key_index::KeyHistory;
use super::key_range::KeyRange;
use super::revision::Revision;

#[derive(Default, Debug)]
pub struct Index {
    keys: BTreeMap<Vec<u8>, KeyHistory>,
}

impl Index {
    pub fn record(&mut self, key: &[u8], rev: Revision, tombstone: bool) {
        match self.keys.get_mut(key) {
            Some(history) => history.record(rev, tombstone),
            None => {
                let mut history = KeyHistory::default();
                history.record(rev, tombstone);
                self.keys.insert(key.to_vec(), history);
            }
        }
    }

    /// (key, revision) of every key in `range` that exists at main revision `at`, in key order.
    pub fn visible_at<'a>(
        &'a self,
        range: &KeyRange,
        at: i64,
    ) -> impl Iterator<Item = (&'a [u8], Revision)> + 'a {
        let iter = range
            .bounds()
            .map(|bounds| self.keys.range::<[u8], _>(bounds));
        iter.into_iter()
            .flatten()
            .filter_map(move |(key, history)| Some((key.as_slice(), history.visible_at(at)?)))
    }

    /// The put `rev` replaced or deleted, if still stored.
    pub fn previous(&self, key: &[u8], rev: Revision) -> Option<Revision> {
        self.keys.get(key)?.previous(rev)
    }

    /// The live revision of one key, if it exists now.
    pub fn live(&self, key: &[u8]) -> Option<Revision> {
        self.keys.get(key)?.live()
    }

    /// The revisions whose values compacting at `at` makes unreachable, without compacting.
    pub fn compactable(&self, at: i64) -> Vec<Revision> {
        self.keys
            .values()
            .flat_map(|history| history.compactable(at))
            .collect()
    }

    /// Compacts every key's history at `at`; returns the revisions whose values can be deleted.
    pub fn compact(&mut self, at: i64) -> Vec<Revision> {
        let mut dropped = Vec::new();
        self.keys.retain(|_, history| {
            dropped.extend(history.compact(at));
            !history.is_empty()
        });
        dropped
    }

    pub fn clear(&mut self) {
        self.keys.clear();
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}
