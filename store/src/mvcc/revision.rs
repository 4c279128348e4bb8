//! A revision: etcd's (main, sub) pair. `main` counts write transactions, `sub` orders the
//! changes inside one. In the backend a revision is one ordered `u128` key, so a scan of the
//! kv table is a scan of history in commit order.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub fn new(main: i64, sub: i64) -> Self {
        Self { main, sub }
    }

    /// The backend key: big-endian main in the high half, sub in the low half.
    pub fn to_key(self) -> u128 {
        ((self.main as u64 as u128) << 64) | (self.sub as u64 as u128)
    }

    pub fn from_key(key: u128) -> Self {
        Self {
            main: (key >> 64) as u64 as i64,
            sub: key as u64 as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_is_revision_order() {
        let a = Revision::new(1, 5);
        let b = Revision::new(2, 0);
        let c = Revision::new(2, 1);
        assert!(a.to_key() < b.to_key() && b.to_key() < c.to_key());
        for r in [a, b, c] {
            assert_eq!(Revision::from_key(r.to_key()), r);
        }
    }
}
