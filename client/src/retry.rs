//! The one retry rule of the client, as clientv3 draws it (`retry_interceptor.go`,
//! `isSafeRetry`): a request that cannot change anything (a read, a lease keep-alive, a
//! member list) is retried on another endpoint whenever the member is unavailable; a request
//! that can (put, delete, txn, compact, lease grant/revoke) only when it provably never
//! reached a member, because the connection could not be made. A mutation that may have been
//! applied is reported to the caller, never sent twice.

use std::time::Duration;

use tonic::{Code, Status};

/// Whether sending a request twice is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and keep-alives: the same answer, or a newer one, either way harmless.
    Repeatable,
    /// Writes: a second copy could be applied after the first.
    NonRepeatable,
}

/// Whether a call that failed with `status` goes to another endpoint.
pub fn should_retry(status: &Status, kind: Idempotency) -> bool {
    if status.code() != Code::Unavailable {
        return false;
    }
    match kind {
        Idempotency::Repeatable => true,
        Idempotency::NonRepeatable => never_sent(status),
    }
}

/// Whether the failure happened while connecting, before any byte of the request left.
fn never_sent(status: &Status) -> bool {
    let msg = status.message();
    !msg.starts_with("etcdserver: ")
        && (msg.contains("tcp connect error")
            || msg.contains("error trying to connect")
            || msg.contains("Connection refused"))
}

/// The pause before attempt `attempt` (0-based): 25 ms doubling to at most 1 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25u64.saturating_mul(1u64 << attempt.min(6))).min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_on_any_unavailable_writes_only_when_never_sent() {
        let timeout = Status::unavailable("etcdserver: request timed out");
        let refused = Status::unavailable(
            "error trying to connect: tcp connect error: Connection refused (os error 111)",
        );
        let reset = Status::unavailable("transport error: connection reset");
        assert!(should_retry(&timeout, Idempotency::Repeatable));
        assert!(should_retry(&reset, Idempotency::Repeatable));
        assert!(!should_retry(&timeout, Idempotency::NonRepeatable));
        assert!(!should_retry(&reset, Idempotency::NonRepeatable));
        assert!(should_retry(&refused, Idempotency::NonRepeatable));
        let conflict =
            Status::failed_precondition("etcdserver: duplicate key given in txn request");
        assert!(!should_retry(&conflict, Idempotency::Repeatable));
    }

    #[test]
    fn backoff_doubles_to_a_second() {
        assert_eq!(backoff(0), Duration::from_millis(25));
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(5), Duration::from_millis(800));
        assert_eq!(backoff(6), Duration::from_secs(1));
        assert_eq!(backoff(60), Duration::from_secs(1));
    }
}
