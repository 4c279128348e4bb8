//! The leases the state machine knows: each lease's granted and checkpointed TTL and the keys
//! attached to it. This is replicated state (changed only by applied commands); deciding when
//! a lease expires is the lessor's job on the leader (`crate::lease`).

use std::collections::{BTreeMap, BTreeSet};

/// One lease as the state machine sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseInfo {
    pub id: i64,
    /// The TTL granted, in seconds.
    pub ttl: i64,
    /// The remaining TTL at the last checkpoint, in seconds (0 = never checkpointed).
    pub remaining_ttl: i64,
    pub keys: BTreeSet<Vec<u8>>,
}

#[derive(Default, Debug)]
pub struct Leases {
    leases: BTreeMap<i64, LeaseInfo>,
}

impl Leases {
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    pub fn get(&self, id: i64) -> Option<&LeaseInfo> {
        self.leases.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &LeaseInfo> {
        self.leases.values()
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    pub fn grant(&mut self, id: i64, ttl: i64, remaining_ttl: i64) {
        let lease = self.leases.entry(id).or_default();
        lease.id = id;
        lease.ttl = ttl;
        lease.remaining_ttl = remaining_ttl;
    }

    /// Removes the lease; returns the keys that were attached to it.
    pub fn revoke(&mut self, id: i64) -> Option<BTreeSet<Vec<u8>>> {
        self.leases.remove(&id).map(|lease| lease.keys)
    }

    pub fn checkpoint(&mut self, id: i64, remaining_ttl: i64) -> bool {
        match self.leases.get_mut(&id) {
            Some(lease) => {
                lease.remaining_ttl = remaining_ttl;
                true
            }
            None => false,
        }
    }

    /// Moves `key` from lease `from` to lease `to` (0 = no lease).
    pub fn reattach(&mut self, key: &[u8], from: i64, to: i64) {
        if from == to {
            return;
        }
        if let Some(lease) = self.leases.get_mut(&from) {
            lease.keys.remove(key);
        }
        if let Some(lease) = self.leases.get_mut(&to) {
            lease.keys.insert(key.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_their_lease() {
        let mut leases = Leases::default();
        leases.grant(1, 10, 0);
        leases.grant(2, 20, 0);
        leases.reattach(b"a", 0, 1);
        leases.reattach(b"b", 0, 1);
        leases.reattach(b"b", 1, 2);
        assert_eq!(leases.get(1).map(|l| l.keys.len()), Some(1));
        assert!(leases.checkpoint(2, 15));
        assert_eq!(leases.get(2).map(|l| l.remaining_ttl), Some(15));
        let keys = leases.revoke(2).unwrap_or_default();
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec![b"b".to_vec()]);
        assert!(!leases.contains(2));
        assert!(!leases.checkpoint(2, 1));
    }
}
