//! Applying the replicated auth requests to the auth state, with etcd's rules (`auth/store.go`):
//! `root` must exist and hold the `root` role before auth is enabled; while it is enabled root
//! can neither be deleted nor lose that role; passwords arrive already hashed.
//!
//! Pure and deterministic: every member applies the same commands to the same state and gets
//! the same result, so this runs inside the Raft state machine.

use keel_proto::authpb::{Permission, Role, User, UserAddOptions};
use keel_proto::keelraft::AuthState;
use keel_proto::keelraft::auth_command::Request as AuthRequest;

use crate::error::StoreError;

/// The user and the role that may do everything.
pub const ROOT: &str = "root";

/// What applying one command asks of the member beyond the state change itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenEffect {
    None,
    /// A login: record this token for this user.
    Issue {
        token: String,
        user: String,
    },
    /// Tokens of this user stop working (deleted, or password changed).
    RevokeUser(String),
    /// Auth was disabled: every token stops working.
    RevokeAll,
}

/// Applies `request` to `state`. On error the state is unchanged. Every successful change
/// except a login bumps the auth revision.
pub fn apply(state: &mut AuthState, request: &AuthRequest) -> Result<TokenEffect, StoreError> {
    let mut next = state.clone();
    let effect = apply_to(&mut next, request)?;
    if !matches!(request, AuthRequest::Authenticate(_)) {
        next.revision += 1;
    }
    *state = next;
    Ok(effect)
}

fn apply_to(state: &mut AuthState, request: &AuthRequest) -> Result<TokenEffect, StoreError> {
    match request {
        AuthRequest::Enable(_) => {
            if state.enabled {
                return Ok(TokenEffect::None);
            }
            let root = user(state, ROOT).ok_or(StoreError::RootUserNotExist)?;
            if !root.roles.iter().any(|r| r == ROOT) {
                return Err(StoreError::RootRoleNotExist);
            }
            state.enabled = true;
            Ok(TokenEffect::None)
        }
        AuthRequest::Disable(_) => {
            state.enabled = false;
            Ok(TokenEffect::RevokeAll)
        }
        AuthRequest::Authenticate(login) => {
            if !state.enabled {
                return Err(StoreError::AuthNotEnabled);
            }
            if user(state, &login.name).is_none() {
                return Err(StoreError::AuthFailed);
            }
            Ok(TokenEffect::Issue {
                token: login.simple_token.clone(),
                user: login.name.clone(),
            })
        }
        AuthRequest::UserAdd(req) => {
            if req.name.is_empty() {
                return Err(StoreError::UserEmpty);
            }
            let at = match position(&state.users, |u| &u.name, &req.name) {
                Ok(_) => return Err(StoreError::UserAlreadyExist),
                Err(at) => at,
            };
            let no_password = req.options.as_ref().is_some_and(|o| o.no_password);
            state.users.insert(
                at,
                User {
                    name: req.name.as_bytes().to_vec(),
                    password: if no_password {
                        Vec::new()
                    } else {
                        req.hashed_password.as_bytes().to_vec()
                    },
                    roles: Vec::new(),
                    options: Some(UserAddOptions { no_password }),
                },
            );
            Ok(TokenEffect::None)
        }
        AuthRequest::UserDelete(req) => {
            if state.enabled && req.name == ROOT {
                return Err(StoreError::InvalidAuthMgmt);
            }
            let at = position(&state.users, |u| &u.name, &req.name)
                .map_err(|_| StoreError::UserNotFound)?;
            state.users.remove(at);
            Ok(TokenEffect::RevokeUser(req.name.clone()))
        }
        AuthRequest::UserChangePassword(req) => {
            let user = user_mut(state, &req.name).ok_or(StoreError::UserNotFound)?;
            if user.options.as_ref().is_some_and(|o| o.no_password) {
                return Err(StoreError::AuthFailed);
            }
            user.password = req.hashed_password.as_bytes().to_vec();
            Ok(TokenEffect::RevokeUser(req.name.clone()))
        }
        AuthRequest::UserGrantRole(req) => {
            if req.role != ROOT && role(state, &req.role).is_none() {
                return Err(StoreError::RoleNotFound);
            }
            let user = user_mut(state, &req.user).ok_or(StoreError::UserNotFound)?;
            if let Err(at) = user.roles.binary_search(&req.role) {
                user.roles.insert(at, req.role.clone());
            }
            Ok(TokenEffect::None)
        }
        AuthRequest::UserRevokeRole(req) => {
            if state.enabled && req.name == ROOT && req.role == ROOT {
                return Err(StoreError::InvalidAuthMgmt);
            }
            let user = user_mut(state, &req.name).ok_or(StoreError::UserNotFound)?;
            let at = user
                .roles
                .iter()
                .position(|r| *r == req.role)
                .ok_or(StoreError::RoleNotGranted)?;
            user.roles.remove(at);
            Ok(TokenEffect::None)
        }
        AuthRequest::RoleAdd(req) => {
            if req.name.is_empty() {
                return Err(StoreError::RoleEmpty);
            }
            match position(&state.roles, |r| &r.name, &req.name) {
                Ok(_) => Err(StoreError::RoleAlreadyExist),
                Err(at) => {
                    state.roles.insert(
                        at,
                        Role {
                            name: req.name.as_bytes().to_vec(),
                            key_permission: Vec::new(),
                        },
                    );
                    Ok(TokenEffect::None)
                }
            }
        }
        AuthRequest::RoleDelete(req) => {
            if state.enabled && req.role == ROOT {
                return Err(StoreError::InvalidAuthMgmt);
            }
            let at = position(&state.roles, |r| &r.name, &req.role)
                .map_err(|_| StoreError::RoleNotFound)?;
            state.roles.remove(at);
            // As etcd: the role is revoked from every user holding it.
            for user in &mut state.users {
                user.roles.retain(|r| *r != req.role);
            }
            Ok(TokenEffect::None)
        }
        AuthRequest::RoleGrantPermission(req) => {
            let perm = req.perm.as_ref().ok_or(StoreError::PermissionNotGiven)?;
            let role = role_mut(state, &req.name).ok_or(StoreError::RoleNotFound)?;
            let same_range = |p: &Permission| p.key == perm.key && p.range_end == perm.range_end;
            match role.key_permission.iter_mut().find(|p| same_range(p)) {
                Some(existing) => existing.perm_type = perm.perm_type,
                None => {
                    role.key_permission.push(perm.clone());
                    role.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
                }
            }
            Ok(TokenEffect::None)
        }
        AuthRequest::RoleRevokePermission(req) => {
            let role = role_mut(state, &req.role).ok_or(StoreError::RoleNotFound)?;
            let at = role
                .key_permission
                .iter()
                .position(|p| p.key == req.key && p.range_end == req.range_end)
                .ok_or(StoreError::PermissionNotGranted)?;
            role.key_permission.remove(at);
            Ok(TokenEffect::None)
        }
    }
}

/// Where `name` is (or would go) in a list kept sorted by name.
fn position<T>(items: &[T], name_of: impl Fn(&T) -> &Vec<u8>, name: &str) -> Result<usize, usize> {
    items.binary_search_by(|item| name_of(item).as_slice().cmp(name.as_bytes()))
}

pub fn user<'a>(state: &'a AuthState, name: &str) -> Option<&'a User> {
    let at = position(&state.users, |u| &u.name, name).ok()?;
    state.users.get(at)
}

fn user_mut<'a>(state: &'a mut AuthState, name: &str) -> Option<&'a mut User> {
    let at = position(&state.users, |u| &u.name, name).ok()?;
    state.users.get_mut(at)
}

pub fn role<'a>(state: &'a AuthState, name: &str) -> Option<&'a Role> {
    let at = position(&state.roles, |r| &r.name, name).ok()?;
    state.roles.get(at)
}

fn role_mut<'a>(state: &'a mut AuthState, name: &str) -> Option<&'a mut Role> {
    let at = position(&state.roles, |r| &r.name, name).ok()?;
    state.roles.get_mut(at)
}

#[cfg(test)]
mod tests {
    use keel_proto::etcdserverpb::*;
    use keel_proto::keelraft::AuthenticateCommand;

    use super::*;

    fn add_user(name: &str) -> AuthRequest {
        AuthRequest::UserAdd(AuthUserAddRequest {
            name: name.into(),
            hashed_password: "hash".into(),
            ..Default::default()
        })
    }

    fn grant(user: &str, role: &str) -> AuthRequest {
        AuthRequest::UserGrantRole(AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        })
    }

    #[test]
    fn enabling_needs_root_with_the_root_role() {
        let mut state = AuthState::default();
        let enable = AuthRequest::Enable(AuthEnableRequest {});
        assert_eq!(
            apply(&mut state, &enable),
            Err(StoreError::RootUserNotExist)
        );
        apply(&mut state, &add_user(ROOT)).unwrap();
        assert_eq!(
            apply(&mut state, &enable),
            Err(StoreError::RootRoleNotExist)
        );
        // The root role need not be created first (etcd's special case).
        apply(&mut state, &grant(ROOT, ROOT)).unwrap();
        apply(&mut state, &enable).unwrap();
        assert!(state.enabled);
        assert_eq!(state.revision, 3);
        let delete_root = AuthRequest::UserDelete(AuthUserDeleteRequest { name: ROOT.into() });
        assert_eq!(
            apply(&mut state, &delete_root),
            Err(StoreError::InvalidAuthMgmt)
        );
        let revoke_root = AuthRequest::UserRevokeRole(AuthUserRevokeRoleRequest {
            name: ROOT.into(),
            role: ROOT.into(),
        });
        assert_eq!(
            apply(&mut state, &revoke_root),
            Err(StoreError::InvalidAuthMgmt)
        );
        assert_eq!(state.revision, 3, "refused changes leave the state alone");
    }

    #[test]
    fn users_and_roles_follow_etcds_rules() {
        let mut state = AuthState::default();
        apply(&mut state, &add_user("alice")).unwrap();
        assert_eq!(
            apply(&mut state, &add_user("alice")),
            Err(StoreError::UserAlreadyExist)
        );
        assert_eq!(apply(&mut state, &add_user("")), Err(StoreError::UserEmpty));
        assert_eq!(
            apply(&mut state, &grant("alice", "dev")),
            Err(StoreError::RoleNotFound)
        );
        let add_role = AuthRequest::RoleAdd(AuthRoleAddRequest { name: "dev".into() });
        apply(&mut state, &add_role).unwrap();
        assert_eq!(
            apply(&mut state, &add_role),
            Err(StoreError::RoleAlreadyExist)
        );
        assert_eq!(
            apply(&mut state, &grant("bob", "dev")),
            Err(StoreError::UserNotFound)
        );
        apply(&mut state, &grant("alice", "dev")).unwrap();
        let perm = Permission {
            perm_type: 0,
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
        };
        let grant_perm = AuthRequest::RoleGrantPermission(AuthRoleGrantPermissionRequest {
            name: "dev".into(),
            perm: Some(perm.clone()),
        });
        apply(&mut state, &grant_perm).unwrap();
        apply(&mut state, &grant_perm).unwrap();
        assert_eq!(role(&state, "dev").unwrap().key_permission, vec![perm]);
        let revoke = AuthRequest::RoleRevokePermission(AuthRoleRevokePermissionRequest {
            role: "dev".into(),
            key: b"a".to_vec(),
            range_end: b"c".to_vec(),
        });
        assert_eq!(
            apply(&mut state, &revoke),
            Err(StoreError::PermissionNotGranted)
        );
        let delete_role = AuthRequest::RoleDelete(AuthRoleDeleteRequest { role: "dev".into() });
        apply(&mut state, &delete_role).unwrap();
        assert!(user(&state, "alice").unwrap().roles.is_empty());
        let login = AuthRequest::Authenticate(AuthenticateCommand {
            name: "alice".into(),
            simple_token: "t".into(),
        });
        assert_eq!(apply(&mut state, &login), Err(StoreError::AuthNotEnabled));
    }
}
