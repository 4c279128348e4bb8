//! etcd's "simple" tokens: opaque random strings handed out by Authenticate, each naming one
//! user, valid for `--auth-token-ttl` after its last use (etcd: 300 s).
//!
//! A login is replicated through Raft and every member records the token when it applies it,
//! so a client may use its token with any member. Tokens live in memory only, as etcd's do:
//! after a restart a token is back only if its login is among the entries the member re-applies
//! from its log; otherwise clients log in again ("invalid auth token" makes clientv3 do so).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// etcd's default `--auth-token-ttl`.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

pub struct Tokens {
    ttl: Mutex<Duration>,
    /// token -> (user, expiry).
    issued: Mutex<HashMap<String, (String, Instant)>>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            ttl: Mutex::new(DEFAULT_TOKEN_TTL),
            issued: Mutex::default(),
        }
    }
}

impl Tokens {
    pub fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner()) = ttl;
    }

    fn ttl(&self) -> Duration {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn issued(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.issued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a token (expired ones are dropped on the way: logins are rare).
    pub fn issue(&self, token: String, user: String) {
        let now = Instant::now();
        let expiry = now + self.ttl();
        let mut issued = self.issued();
        issued.retain(|_, (_, expires)| *expires > now);
        issued.insert(token, (user, expiry));
    }

    /// The user a live token names; using it extends its life by the TTL.
    pub fn user_of(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let ttl = self.ttl();
        let mut issued = self.issued();
        let (user, expires) = issued.get_mut(token)?;
        if *expires <= now {
            issued.remove(token);
            return None;
        }
        *expires = now + ttl;
        Some(user.clone())
    }

    pub fn revoke_user(&self, user: &str) {
        self.issued().retain(|_, (owner, _)| owner != user);
    }

    pub fn revoke_all(&self) {
        self.issued().clear();
    }
}

/// A new token: 32 random letters and digits (190 bits).
pub fn new_token() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_user_until_revoked_or_expired() {
        let tokens = Tokens::default();
        tokens.issue("t1".into(), "alice".into());
        tokens.issue("t2".into(), "bob".into());
        assert_eq!(tokens.user_of("t1").as_deref(), Some("alice"));
        assert_eq!(tokens.user_of("nope"), None);
        tokens.revoke_user("alice");
        assert_eq!(tokens.user_of("t1"), None);
        assert_eq!(tokens.user_of("t2").as_deref(), Some("bob"));
        tokens.set_ttl(Duration::ZERO);
        tokens.issue("t3".into(), "carol".into());
        assert_eq!(tokens.user_of("t3"), None, "expired at once");
        tokens.revoke_all();
        assert_eq!(tokens.user_of("t2"), None);
        let a = new_token().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_token().unwrap());
    }
}
