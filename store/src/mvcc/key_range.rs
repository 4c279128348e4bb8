//! The key ranges of etcd requests: `key` alone, `[key, range_end)`, and `range_end == "\0"`
//! meaning every key >= `key`. (A `key` of "\0" with `range_end` "\0" is therefore everything.)

use std::ops::Bound;

/// (start, end) bounds over keys, as `BTreeMap::range` takes them.
pub type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    Single(Vec<u8>),
    Between(Vec<u8>, Vec<u8>),
    From(Vec<u8>),
}

impl KeyRange {
    pub fn new(key: &[u8], range_end: &[u8]) -> Self {
        match range_end {
            [] => Self::Single(key.to_vec()),
            [0] => Self::From(key.to_vec()),
            end => Self::Between(key.to_vec(), end.to_vec()),
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            Self::Single(k) => k == key,
            Self::Between(start, end) => start.as_slice() <= key && key < end.as_slice(),
            Self::From(start) => start.as_slice() <= key,
        }
    }

    /// Bounds for a BTreeMap range; None when the range is empty (end <= start).
    pub fn bounds(&self) -> Option<KeyBounds<'_>> {
        match self {
            Self::Single(k) => Some((Bound::Included(k), Bound::Included(k))),
            Self::Between(start, end) if start < end => {
                Some((Bound::Included(start), Bound::Excluded(end)))
            }
            Self::Between(..) => None,
            Self::From(start) => Some((Bound::Included(start), Bound::Unbounded)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert!(KeyRange::new(b"a", b"").contains(b"a"));
        assert!(!KeyRange::new(b"a", b"").contains(b"ab"));
        assert!(KeyRange::new(b"a", b"b").contains(b"ab"));
        assert!(!KeyRange::new(b"a", b"b").contains(b"b"));
        assert!(KeyRange::new(b"a", b"\0").contains(b"zzz"));
        assert!(KeyRange::new(b"b", b"a").bounds().is_none());
    }
}
