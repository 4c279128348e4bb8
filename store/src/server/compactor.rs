//! Automatic compaction (etcd's `--auto-compaction-mode` / `--auto-compaction-retention`),
//! run by the leader only: a compaction is an ordinary replicated request, so every member
//! drops the same history.
//!
//! - periodic: keep the history of the last `retention`. The revision is sampled every
//!   `retention / 10` (at most hourly, as etcd); each check compacts to the newest sample that
//!   is at least `retention` old.
//! - revision: every 5 minutes (etcd's interval), compact to `current - retention`.
//!
//! The decisions are a small pure state machine ([`Compactor`]) so they are tested without
//! clocks; [`run`] feeds it the time and the store's revision.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::CompactionRequest;
use keel_proto::keelraft::command::Request as CommandRequest;

use super::member::{Leader, Member};
use crate::config::AutoCompaction;

/// etcd checks revision-mode retention every 5 minutes.
const REVISION_CHECK_INTERVAL: Duration = Duration::from_secs(300);
/// Periodic mode samples at most this far apart.
const MAX_SAMPLE_INTERVAL: Duration = Duration::from_secs(3600);

/// What to compact to, given the revisions seen over time.
#[derive(Debug)]
pub struct Compactor {
    mode: AutoCompaction,
    /// (when, revision) samples, oldest first (periodic mode).
    samples: VecDeque<(Instant, i64)>,
    /// The last revision compacted to (never asked again).
    last: i64,
}

impl Compactor {
    pub fn new(mode: AutoCompaction) -> Self {
        Self {
            mode,
            samples: VecDeque::new(),
            last: 0,
        }
    }

    /// How often [`Compactor::tick`] should run; `None` when auto-compaction is off.
    pub fn interval(&self) -> Option<Duration> {
        match self.mode {
            AutoCompaction::Off => None,
            AutoCompaction::Periodic(retention) => {
                Some((retention / 10).clamp(Duration::from_millis(100), MAX_SAMPLE_INTERVAL))
            }
            AutoCompaction::Revision(_) => Some(REVISION_CHECK_INTERVAL),
        }
    }

    /// Forgets what was sampled (leadership was lost: a new leader starts over, as etcd's).
    pub fn reset(&mut self) {
        self.samples.clear();
    }

    /// Records `revision` at `now`; returns the revision to compact to, if any.
    pub fn tick(&mut self, now: Instant, revision: i64) -> Option<i64> {
        let target = match self.mode {
            AutoCompaction::Off => None,
            AutoCompaction::Revision(keep) => Some(revision - keep),
            AutoCompaction::Periodic(retention) => {
                self.samples.push_back((now, revision));
                let mut newest_old_enough = None;
                while let Some(&sample) = self.samples.front() {
                    if now.saturating_duration_since(sample.0) < retention {
                        break;
                    }
                    newest_old_enough = Some(sample);
                    self.samples.pop_front();
                }
                // Keep it: until a newer sample is old enough, it is still the answer.
                if let Some(sample) = newest_old_enough {
                    self.samples.push_front(sample);
                }
                newest_old_enough.map(|(_, rev)| rev)
            }
        }?;
        if target <= self.last || target <= 1 {
            return None;
        }
        self.last = target;
        Some(target)
    }
}

/// Runs auto-compaction while this member is the leader.
pub async fn run(member: Arc<Member>) {
    let mut compactor = Compactor::new(member.config.auto_compaction);
    let Some(interval) = compactor.interval() else {
        return;
    };
    tracing::info!(mode = ?member.config.auto_compaction, ?interval, "auto compaction enabled");
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !matches!(member.leader(None), Leader::Me) {
            compactor.reset();
            continue;
        }
        let Some(revision) = compactor.tick(Instant::now(), member.mvcc.current_revision()) else {
            continue;
        };
        if revision <= member.mvcc.compact_revision() {
            continue;
        }
        let request = CommandRequest::Compaction(CompactionRequest {
            revision,
            physical: false,
        });
        match member.propose_request(request).await {
            Ok(_) => tracing::info!(revision, "auto compaction done"),
            Err(status) => {
                tracing::warn!(revision, error = %status.message(), "auto compaction failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_compacts_to_the_revision_one_retention_ago() {
        let retention = Duration::from_secs(10);
        let mut c = Compactor::new(AutoCompaction::Periodic(retention));
        assert_eq!(c.interval(), Some(Duration::from_secs(1)));
        let start = Instant::now();
        // One sample a second, revision = 100 + seconds.
        let mut compacted = Vec::new();
        for s in 0..25u64 {
            if let Some(rev) = c.tick(start + Duration::from_secs(s), 100 + s as i64) {
                compacted.push((s, rev));
            }
        }
        // Nothing before one retention has passed; then each time the revision of 10 s ago.
        assert_eq!(compacted.first(), Some(&(10, 100)));
        assert_eq!(compacted.last(), Some(&(24, 114)));
        assert!(compacted.windows(2).all(|w| w[0].1 < w[1].1));
    }

    #[test]
    fn revision_mode_keeps_the_last_n_revisions_and_never_repeats() {
        let mut c = Compactor::new(AutoCompaction::Revision(1000));
        let now = Instant::now();
        assert_eq!(c.tick(now, 500), None);
        assert_eq!(c.tick(now, 1500), Some(500));
        assert_eq!(c.tick(now, 1500), None);
        assert_eq!(c.tick(now, 2600), Some(1600));
    }

    #[test]
    fn off_never_compacts_and_reset_starts_over() {
        let mut off = Compactor::new(AutoCompaction::Off);
        assert_eq!(off.interval(), None);
        assert_eq!(off.tick(Instant::now(), 10_000), None);
        let retention = Duration::from_secs(10);
        let mut c = Compactor::new(AutoCompaction::Periodic(retention));
        let start = Instant::now();
        c.tick(start, 100);
        c.reset();
        assert_eq!(c.tick(start + retention, 200), None);
    }
}
