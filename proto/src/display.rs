//! Short human-readable forms of the messages that appear in Raft logs (openraft requires
//! `Display` for application data); values are summarised by size, never printed.

use std::fmt;

use crate::keelraft::{Command, Node, command};

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            Some(command::Request::Put(put)) => write!(
                f,
                "put({:?}, {} bytes)",
                String::from_utf8_lossy(&put.key),
                put.value.len()
            ),
            Some(command::Request::DeleteRange(del)) => write!(
                f,
                "delete_range({:?}, {:?})",
                String::from_utf8_lossy(&del.key),
                String::from_utf8_lossy(&del.range_end)
            ),
            Some(command::Request::Txn(txn)) => write!(
                f,
                "txn({} compares, {} success, {} failure)",
                txn.compare.len(),
                txn.success.len(),
                txn.failure.len()
            ),
            Some(command::Request::Compaction(c)) => write!(f, "compact({})", c.revision),
            Some(command::Request::LeaseGrant(g)) => {
                write!(f, "lease_grant({:x}, {}s)", g.id, g.ttl)
            }
            Some(command::Request::LeaseRevoke(r)) => write!(f, "lease_revoke({:x})", r.id),
            Some(command::Request::LeaseCheckpoint(c)) => {
                write!(f, "lease_checkpoint({} leases)", c.checkpoints.len())
            }
            Some(command::Request::Alarm(a)) => write!(
                f,
                "alarm(action {}, member {:x}, alarm {})",
                a.action, a.member_id, a.alarm
            ),
            None => write!(f, "empty"),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name, self.peer_urls.join(","))
    }
}
