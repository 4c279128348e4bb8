//! The leader's lease expiry queue: pure bookkeeping with the clock passed in, so every rule
//! (promotion with extension, renewal, expiry with retry, revoke rate limit, checkpoints) is
//! tested without sleeping. etcd keeps the same state in `lessor.go` (`leaseMap`, the expiry
//! heap and the checkpoint heap); [`crate::lease::Lessor`] wraps this in a lock and drives it.
//!
//! Only a primary (the Raft leader's) queue holds anything: a follower's queue is empty and
//! answers `NotPrimary`, since expiry is decided by the leader alone.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A lease as the state machine stores it: what promotion loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredLease {
    pub id: i64,
    /// The TTL granted, in seconds.
    pub ttl: i64,
    /// The remaining TTL at the last applied checkpoint, in seconds (0 = none).
    pub remaining_ttl: i64,
}

impl StoredLease {
    /// The TTL a new leader starts the lease from.
    fn effective_ttl(&self) -> i64 {
        if self.remaining_ttl > 0 {
            self.remaining_ttl
        } else {
            self.ttl
        }
    }
}

/// The queue's tunables.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// How often the remaining TTLs are checkpointed through Raft.
    pub checkpoint_interval: Duration,
    /// When an expired lease is handed out again if its revocation has not been applied
    /// (etcd: 3 s).
    pub revoke_retry: Duration,
    /// Most expired leases handed out for revocation per second (etcd: 1000).
    pub revoke_rate: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval: Duration::from_secs(300),
            revoke_retry: Duration::from_secs(3),
            revoke_rate: 1000,
        }
    }
}

/// The outcome of a keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    NotPrimary,
    NotFound,
    /// Past its expiry: its revocation is (or will shortly be) under way.
    Expired,
    /// Expires `ttl` seconds from now. `clear_checkpoint`: a checkpointed remaining TTL is
    /// stored for it and must be reset, or a new leader would resume from the stale value.
    Renewed {
        ttl: i64,
        clear_checkpoint: bool,
    },
}

/// The outcome of a time-to-live lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remaining {
    NotPrimary,
    NotFound,
    Alive { remaining: Duration, ttl: i64 },
}

#[derive(Debug)]
struct Entry {
    ttl: i64,
    /// The remaining TTL of the last applied checkpoint (0 = none).
    checkpointed: i64,
    expiry: Instant,
    /// Expired and handed out for revocation; `expiry` then is when to hand it out again.
    revoking: bool,
}

/// Limits how many expired leases are handed out per half second (etcd's lessor runs every
/// 500 ms with a limit of half the per-second rate).
#[derive(Debug)]
struct RevokeLimiter {
    per_window: usize,
    window: Duration,
    start: Option<Instant>,
    used: usize,
}

impl RevokeLimiter {
    fn new(rate: usize) -> Self {
        Self {
            per_window: (rate / 2).max(1),
            window: Duration::from_millis(500),
            start: None,
            used: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        match self.start {
            Some(start) if now < start + self.window => {}
            _ => {
                self.start = Some(now);
                self.used = 0;
            }
        }
    }

    fn budget(&mut self, now: Instant) -> usize {
        self.roll(now);
        self.per_window.saturating_sub(self.used)
    }

    fn spend(&mut self, count: usize) {
        self.used += count;
    }

    /// When the budget is refilled, if it is spent now.
    fn refill_at(&self, now: Instant) -> Option<Instant> {
        let start = self.start?;
        let end = start + self.window;
        (now < end && self.used >= self.per_window).then_some(end)
    }
}

/// `now + duration`, saturating far in the future instead of overflowing.
fn later(now: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(duration)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

fn seconds(secs: i64) -> Duration {
    Duration::from_secs(secs.max(0) as u64)
}

/// Whole seconds, rounded up: a checkpoint must never shorten a lease.
fn ceil_secs(duration: Duration) -> i64 {
    let whole = duration.as_secs() as i64;
    if duration.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    }
}

#[derive(Debug)]
pub struct LeaseQueue {
    config: QueueConfig,
    primary: bool,
    leases: HashMap<i64, Entry>,
    /// (expiry, id) for every lease in `leases`.
    by_expiry: BTreeSet<(Instant, i64)>,
    next_checkpoint: Option<Instant>,
    limiter: RevokeLimiter,
}

impl LeaseQueue {
    pub fn new(config: QueueConfig) -> Self {
        let limiter = RevokeLimiter::new(config.revoke_rate);
        Self {
            config,
            primary: false,
            leases: HashMap::new(),
            by_expiry: BTreeSet::new(),
            next_checkpoint: None,
            limiter,
        }
    }

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    fn insert(&mut self, id: i64, ttl: i64, checkpointed: i64, expiry: Instant) {
        if let Some(old) = self.leases.insert(
            id,
            Entry {
                ttl,
                checkpointed,
                expiry,
                revoking: false,
            },
        ) {
            self.by_expiry.remove(&(old.expiry, id));
        }
        self.by_expiry.insert((expiry, id));
    }

    fn reschedule(&mut self, id: i64, expiry: Instant) {
        if let Some(entry) = self.leases.get_mut(&id) {
            self.by_expiry.remove(&(entry.expiry, id));
            entry.expiry = expiry;
            self.by_expiry.insert((expiry, id));
        }
    }

    /// Becomes the primary (etcd's Promote): every stored lease expires its (checkpointed)
    /// remaining TTL plus `extend` from now, so a new leader never expires a lease before the
    /// old one would have. When very many leases would expire together, later ones are spread
    /// out so that the revoke rate limit does not leave piled-up leases unrevoked (and clients
    /// get time to reconnect and renew).
    pub fn promote(
        &mut self,
        now: Instant,
        leases: impl IntoIterator<Item = StoredLease>,
        extend: Duration,
    ) {
        self.primary = true;
        self.leases.clear();
        self.by_expiry.clear();
        for lease in leases {
            let expiry = later(now, extend.saturating_add(seconds(lease.effective_ttl())));
            self.insert(lease.id, lease.ttl, lease.remaining_ttl, expiry);
        }
        self.next_checkpoint = Some(later(now, self.config.checkpoint_interval));
        self.spread_pile_up(now);
    }

    /// etcd's overlap adjustment in Promote: at most 3/4 of the revoke rate expire per second.
    fn spread_pile_up(&mut self, now: Instant) {
        let rate = self.config.revoke_rate.max(1);
        if self.leases.len() < rate {
            return;
        }
        let target = ((3 * rate) / 4).max(1);
        let order: Vec<(Instant, i64)> = self.by_expiry.iter().copied().collect();
        let Some(first) = order.first() else {
            return;
        };
        let mut base = first.0.saturating_duration_since(now);
        let mut next_window = base + Duration::from_secs(1);
        let mut expires = 0usize;
        for (expiry, id) in order {
            let remaining = expiry.saturating_duration_since(now);
            if remaining > next_window {
                base = remaining;
                next_window = base + Duration::from_secs(1);
                expires = 1;
                continue;
            }
            expires += 1;
            if expires <= target {
                continue;
            }
            let rate_delay = expires as f64 / target as f64 - (remaining - base).as_secs_f64();
            // Never move a lease earlier than its promoted expiry.
            let delay = Duration::from_secs_f64(rate_delay.max(0.0));
            next_window = base + delay;
            self.reschedule(id, later(expiry, delay));
        }
    }

    /// Stops being the primary (etcd's Demote): the queue is dropped.
    pub fn demote(&mut self) {
        self.primary = false;
        self.leases.clear();
        self.by_expiry.clear();
        self.next_checkpoint = None;
    }

    /// A grant was applied: the lease expires `ttl` from now.
    pub fn granted(&mut self, now: Instant, id: i64, ttl: i64) {
        if self.primary && !self.leases.contains_key(&id) {
            self.insert(id, ttl, 0, later(now, seconds(ttl)));
        }
    }

    /// A revoke was applied.
    pub fn revoked(&mut self, id: i64) {
        if let Some(entry) = self.leases.remove(&id) {
            self.by_expiry.remove(&(entry.expiry, id));
        }
    }

    /// A checkpoint was applied for `id`.
    pub fn checkpointed(&mut self, id: i64, remaining_ttl: i64) {
        if let Some(entry) = self.leases.get_mut(&id) {
            entry.checkpointed = remaining_ttl;
        }
    }

    /// Re-reads the stored leases (after a snapshot was installed): leases no longer stored are
    /// dropped, new ones start from their stored TTL, known ones keep their expiry.
    pub fn resync(&mut self, now: Instant, leases: impl IntoIterator<Item = StoredLease>) {
        if !self.primary {
            return;
        }
        let stored: HashMap<i64, StoredLease> = leases.into_iter().map(|l| (l.id, l)).collect();
        let gone: Vec<i64> = self
            .leases
            .keys()
            .filter(|id| !stored.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            self.revoked(id);
        }
        for lease in stored.values() {
            match self.leases.get_mut(&lease.id) {
                Some(entry) => {
                    entry.ttl = lease.ttl;
                    entry.checkpointed = lease.remaining_ttl;
                }
                None => self.insert(
                    lease.id,
                    lease.ttl,
                    lease.remaining_ttl,
                    later(now, seconds(lease.effective_ttl())),
                ),
            }
        }
    }

    /// A keepalive: the lease now expires its full TTL from `now`.
    pub fn renew(&mut self, now: Instant, id: i64) -> Renewal {
        if !self.primary {
            return Renewal::NotPrimary;
        }
        let Some(entry) = self.leases.get(&id) else {
            return Renewal::NotFound;
        };
        if entry.revoking || entry.expiry <= now {
            return Renewal::Expired;
        }
        let (ttl, clear_checkpoint) = (entry.ttl, entry.checkpointed > 0);
        self.reschedule(id, later(now, seconds(ttl)));
        Renewal::Renewed {
            ttl,
            clear_checkpoint,
        }
    }

    pub fn remaining(&self, now: Instant, id: i64) -> Remaining {
        if !self.primary {
            return Remaining::NotPrimary;
        }
        match self.leases.get(&id) {
            None => Remaining::NotFound,
            Some(entry) => Remaining::Alive {
                remaining: if entry.revoking {
                    Duration::ZERO
                } else {
                    entry.expiry.saturating_duration_since(now)
                },
                ttl: entry.ttl,
            },
        }
    }

    /// Hands out expired leases for revocation, earliest first, within the rate limit. Each is
    /// handed out again after the retry interval until its revocation is applied.
    pub fn expired(&mut self, now: Instant) -> Vec<i64> {
        if !self.primary {
            return Vec::new();
        }
        let budget = self.limiter.budget(now);
        let mut out = Vec::new();
        while out.len() < budget {
            let Some(&(expiry, id)) = self.by_expiry.first() else {
                break;
            };
            if expiry > now {
                break;
            }
            if let Some(entry) = self.leases.get_mut(&id) {
                entry.revoking = true;
            }
            self.reschedule(id, later(now, self.config.revoke_retry));
            out.push(id);
        }
        self.limiter.spend(out.len());
        out
    }

    /// True (once per interval) when the remaining TTLs are due to be checkpointed.
    pub fn checkpoint_due(&mut self, now: Instant) -> bool {
        match self.next_checkpoint {
            Some(at) if self.primary && at <= now => {
                self.next_checkpoint = Some(later(now, self.config.checkpoint_interval));
                true
            }
            _ => false,
        }
    }

    /// (id, remaining TTL in whole seconds rounded up) of every live lease whose remaining TTL
    /// is below what a new leader would resume from, by id. Leases at or past their expiry are
    /// left to revocation.
    pub fn checkpoints(&self, now: Instant) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self
            .leases
            .iter()
            .filter(|(_, entry)| !entry.revoking && entry.expiry > now)
            .filter_map(|(id, entry)| {
                let remaining = ceil_secs(entry.expiry.saturating_duration_since(now));
                let resume_from = if entry.checkpointed > 0 {
                    entry.checkpointed
                } else {
                    entry.ttl
                };
                (remaining < resume_from).then_some((*id, remaining))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// When there is next something to do: an expiry (or the revoke budget's refill when it
    /// is spent) or a checkpoint. `None` when not primary.
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        if !self.primary {
            return None;
        }
        let expiry = self.by_expiry.first().map(|(at, _)| *at);
        let expiry = match expiry {
            Some(at) if at <= now => Some(self.limiter.refill_at(now).unwrap_or(at)),
            other => other,
        };
        match (expiry, self.next_checkpoint) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTEND: Duration = Duration::from_millis(1000);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    fn lease(id: i64, ttl: i64, remaining_ttl: i64) -> StoredLease {
        StoredLease {
            id,
            ttl,
            remaining_ttl,
        }
    }

    fn primary(t0: Instant, leases: &[StoredLease]) -> LeaseQueue {
        let mut queue = LeaseQueue::new(QueueConfig {
            checkpoint_interval: secs(5),
            ..QueueConfig::default()
        });
        queue.promote(t0, leases.iter().copied(), EXTEND);
        queue
    }

    #[test]
    fn a_follower_queue_holds_nothing() {
        let t0 = Instant::now();
        let mut queue = LeaseQueue::new(QueueConfig::default());
        queue.granted(t0, 1, 10);
        assert!(queue.is_empty());
        assert_eq!(queue.renew(t0, 1), Renewal::NotPrimary);
        assert_eq!(queue.remaining(t0, 1), Remaining::NotPrimary);
        assert!(queue.expired(t0 + secs(100)).is_empty());
        assert_eq!(queue.next_wakeup(t0), None);
        assert!(!queue.checkpoint_due(t0 + secs(1000)));
    }

    #[test]
    fn promotion_extends_by_the_election_timeout_and_resumes_from_checkpoints() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[lease(1, 10, 0), lease(2, 10, 4)]);
        // Lease 2 was checkpointed at 4 s remaining: it resumes from 4 s, plus the extension.
        assert!(queue.expired(t0 + secs(5) - ms(1)).is_empty());
        assert_eq!(queue.expired(t0 + secs(5)), vec![2]);
        queue.revoked(2);
        // Lease 1 never was: its full TTL plus the extension, never earlier.
        assert!(queue.expired(t0 + secs(11) - ms(1)).is_empty());
        assert_eq!(queue.expired(t0 + secs(11)), vec![1]);
    }

    #[test]
    fn demotion_drops_the_queue() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[lease(1, 10, 0)]);
        queue.demote();
        assert!(!queue.is_primary());
        assert!(queue.is_empty());
        assert!(queue.expired(t0 + secs(60)).is_empty());
        assert_eq!(queue.renew(t0, 1), Renewal::NotPrimary);
    }

    #[test]
    fn renewal_pushes_expiry_a_full_ttl_from_now() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[]);
        queue.granted(t0, 7, 5);
        assert_eq!(
            queue.remaining(t0 + secs(2), 7),
            Remaining::Alive {
                remaining: secs(3),
                ttl: 5
            }
        );
        assert_eq!(
            queue.renew(t0 + secs(4), 7),
            Renewal::Renewed {
                ttl: 5,
                clear_checkpoint: false
            }
        );
        assert!(queue.expired(t0 + secs(9) - ms(1)).is_empty());
        assert_eq!(queue.next_wakeup(t0 + secs(4)), Some(t0 + secs(5)));
        assert_eq!(queue.expired(t0 + secs(9)), vec![7]);
        assert_eq!(queue.renew(t0 + secs(9), 7), Renewal::Expired);
        assert_eq!(queue.renew(t0, 8), Renewal::NotFound);
    }

    #[test]
    fn a_granted_lease_already_known_keeps_its_expiry() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[lease(1, 10, 0)]);
        queue.granted(t0 + secs(5), 1, 10);
        assert_eq!(queue.expired(t0 + secs(11)), vec![1]);
    }

    #[test]
    fn an_unrevoked_lease_is_handed_out_again_after_the_retry_interval() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[]);
        queue.granted(t0, 1, 2);
        assert_eq!(queue.expired(t0 + secs(2)), vec![1]);
        assert_eq!(
            queue.remaining(t0 + secs(2), 1),
            Remaining::Alive {
                remaining: Duration::ZERO,
                ttl: 2
            }
        );
        // Not again before the retry interval...
        assert!(queue.expired(t0 + secs(4)).is_empty());
        // ...but again after it, until the revoke is applied.
        assert_eq!(queue.expired(t0 + secs(5)), vec![1]);
        queue.revoked(1);
        assert!(queue.expired(t0 + secs(60)).is_empty());
        assert_eq!(queue.remaining(t0, 1), Remaining::NotFound);
    }

    #[test]
    fn expired_leases_come_out_earliest_first_within_the_rate_limit() {
        let t0 = Instant::now();
        let mut queue = LeaseQueue::new(QueueConfig {
            revoke_rate: 10,
            ..QueueConfig::default()
        });
        queue.promote(t0, [], EXTEND);
        for id in 1..=12 {
            queue.granted(t0 + ms(id as u64), id, 1);
        }
        let at = t0 + secs(2);
        assert_eq!(queue.expired(at), vec![1, 2, 3, 4, 5]);
        assert!(queue.expired(at + ms(100)).is_empty());
        // The budget is spent: the next wakeup is its refill, not a busy loop.
        assert_eq!(queue.next_wakeup(at + ms(100)), Some(at + ms(500)));
        assert_eq!(queue.expired(at + ms(500)), vec![6, 7, 8, 9, 10]);
        assert_eq!(queue.expired(at + ms(1000)), vec![11, 12]);
    }

    #[test]
    fn promotion_spreads_a_pile_up_without_moving_any_lease_earlier() {
        let t0 = Instant::now();
        let leases: Vec<StoredLease> = (1..=40).map(|id| lease(id, 10, 0)).collect();
        let mut queue = LeaseQueue::new(QueueConfig {
            revoke_rate: 20,
            ..QueueConfig::default()
        });
        queue.promote(t0, leases, EXTEND);
        let due = t0 + secs(11);
        // Nothing before the promoted expiry; at it, only the first 3/4 of the rate (15).
        assert!(queue.expired(due - ms(1)).is_empty());
        let mut total = 0;
        let mut at = due;
        let mut per_second = Vec::new();
        while total < 40 {
            let mut this_second = 0;
            for step in 0..2 {
                let n = queue.expired(at + ms(500 * step)).len();
                this_second += n;
            }
            per_second.push(this_second);
            total += this_second;
            at += secs(1);
            assert!(at < due + secs(10), "leases never all expired");
        }
        assert_eq!(per_second[0], 15);
        assert!(per_second.iter().all(|n| *n <= 20));
    }

    #[test]
    fn checkpoints_carry_the_changed_remaining_ttls_rounded_up() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[]);
        queue.granted(t0, 1, 10);
        queue.granted(t0, 2, 100);
        assert!(!queue.checkpoint_due(t0 + secs(4)));
        let at = t0 + secs(5) + ms(300);
        assert!(queue.checkpoint_due(at));
        assert!(!queue.checkpoint_due(at));
        // 4.7 s and 94.7 s remain: rounded up, never shortening a lease.
        assert_eq!(queue.checkpoints(at), vec![(1, 5), (2, 95)]);
        queue.checkpointed(1, 5);
        queue.checkpointed(2, 95);
        // Unchanged since: nothing to checkpoint.
        assert!(queue.checkpoints(at).is_empty());
        // A renewal of a checkpointed lease asks for the stored remaining TTL to be reset.
        assert_eq!(
            queue.renew(at, 2),
            Renewal::Renewed {
                ttl: 100,
                clear_checkpoint: true
            }
        );
        queue.checkpointed(2, 0);
        assert_eq!(
            queue.renew(at + secs(1), 2),
            Renewal::Renewed {
                ttl: 100,
                clear_checkpoint: false
            }
        );
        assert_eq!(queue.next_wakeup(at), Some(t0 + secs(10)));
    }

    #[test]
    fn leases_past_expiry_are_not_checkpointed() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[]);
        queue.granted(t0, 1, 2);
        assert!(queue.checkpoints(t0 + secs(2)).is_empty());
        queue.expired(t0 + secs(2));
        assert!(queue.checkpoints(t0 + secs(2) + ms(1)).is_empty());
    }

    #[test]
    fn resync_follows_the_stored_leases() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[lease(1, 10, 0), lease(2, 10, 0)]);
        queue.resync(t0 + secs(3), [lease(2, 10, 6), lease(3, 20, 0)]);
        assert_eq!(queue.remaining(t0, 1), Remaining::NotFound);
        // A known lease keeps its expiry; a new one starts now.
        assert_eq!(
            queue.remaining(t0 + secs(3), 2),
            Remaining::Alive {
                remaining: secs(8),
                ttl: 10
            }
        );
        assert_eq!(
            queue.remaining(t0 + secs(3), 3),
            Remaining::Alive {
                remaining: secs(20),
                ttl: 20
            }
        );
    }

    #[test]
    fn huge_ttls_do_not_overflow() {
        let t0 = Instant::now();
        let mut queue = primary(t0, &[lease(1, 9_000_000_000, 0)]);
        queue.granted(t0, 2, i64::MAX);
        assert!(queue.expired(t0 + secs(3600)).is_empty());
        assert!(matches!(
            queue.renew(t0, 2),
            Renewal::Renewed { ttl: i64::MAX, .. }
        ));
    }
}
