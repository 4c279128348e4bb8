//! Compaction of old revisions, as kube-apiserver's compactor does it
//! (`storage/etcd3/compact.go`): every `--etcd-compaction-interval` (5 min) each api-server
//! tries to record the current revision under `compact_rev_key`, guarded by the key's
//! version, and the one that wins compacts to the revision recorded one interval earlier.
//! Several api-servers on one store therefore compact once per interval, never racing, and
//! watchers always have at least one interval of history to resume from.

use std::time::Duration;

use crate::apiserver::storage::Storage;

pub async fn run(storage: Storage, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut version = 0i64;
    let mut last_revision = 0i64;
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match storage.compact_step(version, last_revision).await {
            Ok((v, rev)) => {
                version = v;
                last_revision = rev;
            }
            Err(e) => tracing::warn!(error = %e, "compaction failed; will try again next interval"),
        }
    }
}
