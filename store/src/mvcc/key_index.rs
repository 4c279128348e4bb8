//! One key's history: every revision at which the key was written, oldest first, each marked
//! as a put or a tombstone (delete). A run of puts ended by a tombstone is one *generation*.
//!
//! The values live in the backend under their revision; this index only answers "which
//! revision of this key is visible at revision R?" and "which revisions does compacting at R
//! make unreachable?". Versions and create revisions are stored in each KeyValue itself.

use super::revision::Revision;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyHistory {
    /// (revision, is_tombstone), strictly increasing by revision.
    entries: Vec<(Revision, bool)>,
}

impl KeyHistory {
    /// Records a put or a tombstone at `rev`, which must be newer than every recorded one.
    pub fn record(&mut self, rev: Revision, tombstone: bool) {
        debug_assert!(self.entries.last().is_none_or(|(last, _)| *last < rev));
        self.entries.push((rev, tombstone));
    }

    /// The revision holding the key's value as of main revision `at`, or None if the key did
    /// not exist then (never written, deleted, or compacted away).
    pub fn visible_at(&self, at: i64) -> Option<Revision> {
        let n = self.entries.partition_point(|(rev, _)| rev.main <= at);
        let (rev, tombstone) = *self.entries.get(n.checked_sub(1)?)?;
        (!tombstone).then_some(rev)
    }

    /// The latest live revision, if the key currently exists.
    pub fn live(&self) -> Option<Revision> {
        match self.entries.last() {
            Some((rev, false)) => Some(*rev),
            _ => None,
        }
    }

    /// The put just before `rev` in the same generation (the value `rev` replaced or deleted),
    /// if it is still stored.
    pub fn previous(&self, rev: Revision) -> Option<Revision> {
        let n = self.entries.partition_point(|(r, _)| *r < rev);
        match self.entries.get(n.checked_sub(1)?)? {
            (prev, false) => Some(*prev),
            (_, true) => None,
        }
    }

    /// Every recorded revision with main revision greater than `after`, oldest first.
    pub fn since(&self, after: i64) -> impl Iterator<Item = (Revision, bool)> + '_ {
        let n = self.entries.partition_point(|(rev, _)| rev.main <= after);
        self.entries[n..].iter().copied()
    }

    /// How many of the oldest entries no read at a revision >= `at` can reach: every revision
    /// older than the one visible at `at`, and that one too when it is a tombstone older than
    /// `at`. A tombstone made at `at` itself stays, so that a watcher starting at the
    /// compaction revision still gets its DELETE event (etcd issue #18089, PR #18274).
    fn compactable_len(&self, at: i64) -> usize {
        let n = self.entries.partition_point(|(rev, _)| rev.main <= at);
        match n.checked_sub(1).map(|last| self.entries[last]) {
            None => 0,
            Some((rev, true)) if rev.main < at => n,
            Some(_) => n - 1,
        }
    }

    /// The revisions [`KeyHistory::compact`] at `at` would drop, oldest first.
    pub fn compactable(&self, at: i64) -> impl Iterator<Item = Revision> + '_ {
        self.entries[..self.compactable_len(at)]
            .iter()
            .map(|(rev, _)| *rev)
    }

    /// Drops what no read at a revision >= `at` can reach (see `compactable_len`). Returns the
    /// dropped revisions so the caller can delete their values.
    pub fn compact(&mut self, at: i64) -> Vec<Revision> {
        let len = self.compactable_len(at);
        self.entries.drain(..len).map(|(rev, _)| rev).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    #[test]
    fn visibility_follows_generations() {
        let mut h = KeyHistory::default();
        h.record(rev(2), false);
        h.record(rev(4), false);
        h.record(rev(6), true);
        h.record(rev(8), false);
        assert_eq!(h.visible_at(1), None);
        assert_eq!(h.visible_at(3), Some(rev(2)));
        assert_eq!(h.visible_at(5), Some(rev(4)));
        assert_eq!(h.visible_at(7), None);
        assert_eq!(h.visible_at(9), Some(rev(8)));
        assert_eq!(h.live(), Some(rev(8)));
    }

    #[test]
    fn compaction_keeps_the_visible_revision() {
        let mut h = KeyHistory::default();
        h.record(rev(2), false);
        h.record(rev(4), false);
        h.record(rev(6), true);
        h.record(rev(8), false);
        assert_eq!(
            h.compactable(7).collect::<Vec<_>>(),
            vec![rev(2), rev(4), rev(6)]
        );
        assert_eq!(h.compact(5), vec![rev(2)]);
        assert_eq!(h.visible_at(5), Some(rev(4)));
        assert_eq!(h.compact(7), vec![rev(4), rev(6)]);
        assert_eq!(h.visible_at(7), None);
        assert_eq!(h.visible_at(8), Some(rev(8)));
        assert_eq!(h.compact(100), vec![]);
        h.record(rev(10), true);
        // A tombstone at the compaction revision itself stays until a later compaction.
        assert_eq!(h.compact(10), vec![rev(8)]);
        assert_eq!(h.visible_at(10), None);
        assert_eq!(h.compact(11), vec![rev(10)]);
        assert!(h.is_empty());
    }
}
