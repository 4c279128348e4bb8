//! Who may do what: etcd's authorization rules over the replicated auth state.
//!
//! A user's permissions are the union of its roles' key permissions; each is READ, WRITE or
//! READWRITE on a single key (`range_end` empty), a range `[key, range_end)` or everything from
//! `key` on (`range_end` = `"\0"`). A request is allowed when the union of the user's intervals
//! of the needed kind covers its whole key range — several permissions may cover one request
//! together, as etcd's merged range permissions do. The `root` role may do everything.

use std::cmp::Ordering;

use keel_proto::authpb::permission::Type as PermType;
use keel_proto::keelraft::AuthState;

use super::apply::{ROOT, user};
use crate::error::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Is `name` an administrator (holds the root role)?
pub fn check_admin(state: &AuthState, name: &str) -> Result<(), StoreError> {
    let user = user(state, name).ok_or(StoreError::PermissionDenied)?;
    if user.roles.iter().any(|r| r == ROOT) {
        Ok(())
    } else {
        Err(StoreError::PermissionDenied)
    }
}

/// May `name` read (or write) every key of `[key, range_end)` in etcd's range encoding?
pub fn check(
    state: &AuthState,
    name: &str,
    access: Access,
    key: &[u8],
    range_end: &[u8],
) -> Result<(), StoreError> {
    let user = user(state, name).ok_or(StoreError::PermissionDenied)?;
    if user.roles.iter().any(|r| r == ROOT) {
        return Ok(());
    }
    let mut granted: Vec<Interval> = user
        .roles
        .iter()
        .filter_map(|role| super::apply::role(state, role))
        .flat_map(|role| role.key_permission.iter())
        .filter(|perm| allows(perm.perm_type, access))
        .map(|perm| Interval::of(&perm.key, &perm.range_end))
        .collect();
    granted.sort_by(|a, b| a.start.cmp(&b.start));
    if Interval::of(key, range_end).covered_by(&granted) {
        Ok(())
    } else {
        Err(StoreError::PermissionDenied)
    }
}

fn allows(perm_type: i32, access: Access) -> bool {
    match PermType::try_from(perm_type) {
        Ok(PermType::Readwrite) => true,
        Ok(PermType::Read) => access == Access::Read,
        Ok(PermType::Write) => access == Access::Write,
        Err(_) => false,
    }
}

/// The end of a half-open key interval: a key, or past every key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Key(Vec<u8>),
    Unbounded,
}

impl PartialOrd for End {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for End {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (End::Key(a), End::Key(b)) => a.cmp(b),
            (End::Key(_), End::Unbounded) => Ordering::Less,
            (End::Unbounded, End::Key(_)) => Ordering::Greater,
            (End::Unbounded, End::Unbounded) => Ordering::Equal,
        }
    }
}

#[derive(Clone, Debug)]
struct Interval {
    start: Vec<u8>,
    end: End,
}

impl Interval {
    /// etcd's encoding: empty end = the single key, `"\0"` = from `key` on. An end at or before
    /// `key` names no range; it is treated as the single key, the least it could mean.
    fn of(key: &[u8], range_end: &[u8]) -> Self {
        let single = || {
            let mut next = key.to_vec();
            next.push(0);
            End::Key(next)
        };
        let end = match range_end {
            [] => single(),
            [0] => End::Unbounded,
            end if end <= key => single(),
            end => End::Key(end.to_vec()),
        };
        Interval {
            start: key.to_vec(),
            end,
        }
    }

    /// Do the intervals (sorted by start) cover this one without a gap?
    fn covered_by(&self, sorted: &[Interval]) -> bool {
        let mut reached = End::Key(self.start.clone());
        for interval in sorted {
            if End::Key(interval.start.clone()) > reached {
                break;
            }
            if interval.end > reached {
                reached = interval.end.clone();
            }
            if reached >= self.end {
                return true;
            }
        }
        reached >= self.end
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::authpb::{Permission, Role, User};

    use super::*;

    fn state(perms: &[(PermType, &[u8], &[u8])]) -> AuthState {
        AuthState {
            enabled: true,
            revision: 1,
            users: vec![
                User {
                    name: b"alice".to_vec(),
                    roles: vec!["dev".into()],
                    ..Default::default()
                },
                User {
                    name: b"root".to_vec(),
                    roles: vec!["root".into()],
                    ..Default::default()
                },
            ],
            roles: vec![Role {
                name: b"dev".to_vec(),
                key_permission: perms
                    .iter()
                    .map(|(t, key, end)| Permission {
                        perm_type: *t as i32,
                        key: key.to_vec(),
                        range_end: end.to_vec(),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn single_keys_ranges_and_prefixes() {
        let s = state(&[
            (PermType::Read, b"k", b""),
            (PermType::Readwrite, b"app/", b"app0"),
            (PermType::Write, b"z", b"\0"),
        ]);
        let ok = |access, key: &[u8], end: &[u8]| check(&s, "alice", access, key, end).is_ok();
        assert!(ok(Access::Read, b"k", b""));
        assert!(!ok(Access::Write, b"k", b""));
        assert!(
            !ok(Access::Read, b"k", b"l"),
            "a range is more than the one key"
        );
        assert!(ok(Access::Write, b"app/x", b""));
        assert!(ok(Access::Read, b"app/", b"app0"));
        assert!(!ok(Access::Read, b"app/", b"app1"));
        assert!(ok(Access::Write, b"zzz", b"\0"));
        assert!(!ok(Access::Read, b"zzz", b""));
        assert!(!ok(Access::Read, b"", b"\0"));
        assert!(check(&s, "nobody", Access::Read, b"k", b"").is_err());
        assert!(check(&s, "root", Access::Write, b"", b"\0").is_ok());
        assert!(check_admin(&s, "root").is_ok());
        assert_eq!(check_admin(&s, "alice"), Err(StoreError::PermissionDenied));
    }

    #[test]
    fn adjacent_permissions_cover_a_range_together() {
        let s = state(&[(PermType::Read, b"a", b"c"), (PermType::Read, b"c", b"e")]);
        assert!(check(&s, "alice", Access::Read, b"b", b"d").is_ok());
        assert!(check(&s, "alice", Access::Read, b"a", b"e").is_ok());
        assert!(check(&s, "alice", Access::Read, b"a", b"f").is_err());
        let gap = state(&[(PermType::Read, b"a", b"c"), (PermType::Read, b"d", b"e")]);
        assert!(check(&gap, "alice", Access::Read, b"b", b"d").is_err());
    }
}
