//! `keel-client`: the etcd v3 client every part of Keel that talks to a store uses (keelctl,
//! the api-server, the tests).
//!
//! It speaks only the etcd v3 gRPC API (`etcdserverpb`), so whatever is built on it runs
//! unchanged on real etcd. Its parts, one concept each:
//! - [`endpoint`]: parsing `--endpoints` entries and dialing one of them (plain or TLS);
//! - [`error`]: the typed errors, and clientv3's rendering of gRPC failures;
//! - [`retry`]: the one rule for which failures are retried on another endpoint;
//! - [`client`]: [`Client`], a connection to a set of endpoints that fails over between them;
//! - [`watch`]: a watch that resumes after its last revision on another member;
//! - [`lease`]: lease grant, revoke and a background keep-alive.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod lease;
pub mod retry;
pub mod watch;

pub use client::{Client, Config};
pub use endpoint::TlsFiles;
pub use error::Error;
pub use keel_proto::etcdserverpb as pb;
pub use keel_proto::mvccpb;
pub use keel_proto::tonic;

/// The end of the range holding every key that starts with `prefix` (clientv3's
/// `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented, or `\0`
/// (every key) when there is none.
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_follow_clientv3() {
        assert_eq!(
            prefix_range_end(b"/registry/pods/"),
            b"/registry/pods0".to_vec()
        );
        assert_eq!(prefix_range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_range_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_range_end(b""), vec![0]);
    }
}
