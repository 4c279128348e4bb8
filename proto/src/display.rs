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
            // Never the hashes or tokens it carries.
            Some(command::Request::Auth(auth)) => write!(f, "auth({})", auth_kind(auth)),
            None => write!(f, "empty"),
        }
    }
}

fn auth_kind(auth: &crate::keelraft::AuthCommand) -> &'static str {
    use crate::keelraft::auth_command::Request;
    match &auth.request {
        Some(Request::Enable(_)) => "enable",
        Some(Request::Disable(_)) => "disable",
        Some(Request::Authenticate(_)) => "authenticate",
        Some(Request::UserAdd(_)) => "user_add",
        Some(Request::UserDelete(_)) => "user_delete",
        Some(Request::UserChangePassword(_)) => "user_change_password",
        Some(Request::UserGrantRole(_)) => "user_grant_role",
        Some(Request::UserRevokeRole(_)) => "user_revoke_role",
        Some(Request::RoleAdd(_)) => "role_add",
        Some(Request::RoleDelete(_)) => "role_delete",
        Some(Request::RoleGrantPermission(_)) => "role_grant_permission",
        Some(Request::RoleRevokePermission(_)) => "role_revoke_permission",
        None => "empty",
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name, self.peer_urls.join(","))
    }
}
