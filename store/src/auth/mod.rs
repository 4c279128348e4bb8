//! etcd's authentication and authorization (`/etcdserverpb.Auth/*`).
//!
//! - [`apply`]: the replicated auth state (users, roles, the switch) and how each auth request
//!   changes it; run by the Raft state machine, so every member holds the same state.
//! - [`permissions`]: who may read or write which keys, and who is an administrator.
//! - [`tokens`]: the simple tokens logins hand out.
//!
//! [`Auth`] is what the request paths consult: the state as of the last applied batch (one
//! `Arc` behind a lock of its own, so checking a request never waits for the apply path) and
//! the token table. The gRPC service and the checks on every KV, Watch and Lease request are
//! in `server::auth`.

pub mod apply;
pub mod permissions;
pub mod tokens;

use std::sync::{Arc, RwLock};

use keel_proto::keelraft::AuthState;

pub use apply::{ROOT, TokenEffect};
pub use permissions::Access;
pub use tokens::Tokens;

#[derive(Default)]
pub struct Auth {
    state: RwLock<Arc<AuthState>>,
    pub tokens: Tokens,
}

impl Auth {
    /// The auth state as of the last applied batch.
    pub fn state(&self) -> Arc<AuthState> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes a new state (after the batch that made it has committed).
    pub fn publish(&self, state: Arc<AuthState>) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Carries out what applied auth requests asked of the token table.
    pub fn apply_token_effects(&self, effects: &[TokenEffect]) {
        for effect in effects {
            match effect {
                TokenEffect::None => {}
                TokenEffect::Issue { token, user } => {
                    self.tokens.issue(token.clone(), user.clone())
                }
                TokenEffect::RevokeUser(user) => self.tokens.revoke_user(user),
                TokenEffect::RevokeAll => self.tokens.revoke_all(),
            }
        }
    }
}
