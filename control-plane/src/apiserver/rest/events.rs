//! The lease events are written with, as kube-apiserver's `leaseManager` does it: events
//! expire with a lease of `--event-ttl` (1 h), and one lease is shared by all events written
//! within a minute of its grant, so a busy cluster grants one lease a minute, not one per event.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::apiserver::storage::{Storage, StorageError};

/// How long one lease is reused for new events (kube's `leaseReuseDurationSeconds`).
const REUSE: Duration = Duration::from_secs(60);

/// The current events lease.
pub struct LeaseCache {
    ttl: Duration,
    current: Mutex<Option<(i64, Instant)>>,
}

/// Whether a lease granted at `granted` may still be used at `now`.
pub fn reusable(granted: Instant, now: Instant) -> bool {
    now.saturating_duration_since(granted) < REUSE
}

impl LeaseCache {
    pub fn new(ttl: Duration) -> Self {
        LeaseCache {
            ttl,
            current: Mutex::new(None),
        }
    }

    /// The lease id to write an event with at `now`, granting a new one when needed. The
    /// lease lives `ttl` plus the reuse window, so the last event written with it still lives `ttl`.
    pub async fn lease(&self, storage: &Storage, now: Instant) -> Result<i64, StorageError> {
        let mut current = self.current.lock().await;
        if let Some((id, granted)) = *current
            && reusable(granted, now)
        {
            return Ok(id);
        }
        let ttl = (self.ttl + REUSE).as_secs() as i64;
        let resp = storage.client().lease_grant(ttl).await?;
        *current = Some((resp.id, now));
        Ok(resp.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_serves_a_minute_of_events() {
        let t0 = Instant::now();
        assert!(reusable(t0, t0 + Duration::from_secs(59)));
        assert!(!reusable(t0, t0 + Duration::from_secs(60)));
    }
}
