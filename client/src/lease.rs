//! Keeping a lease alive from the background: [`Client::keep_alive`] renews a lease every
//! third of its TTL over the LeaseKeepAlive stream, reconnecting through the client's failover
//! when the stream breaks, until the returned [`KeepAlive`] is dropped or the lease is gone.

use std::time::Duration;

use keel_proto::etcdserverpb as pb;
use pb::lease_client::LeaseClient;
use tokio::sync::watch;
use tokio_stream::StreamExt;

use crate::client::Client;
use crate::retry;

/// Renews its lease while it lives; dropping it stops the renewals (the lease then expires
/// after its TTL unless revoked).
pub struct KeepAlive {
    task: tokio::task::JoinHandle<()>,
    ttl: watch::Receiver<i64>,
}

impl KeepAlive {
    /// The TTL the store reported at the last renewal; 0 once the lease is gone.
    pub fn ttl(&self) -> i64 {
        *self.ttl.borrow()
    }

    /// Waits until the store reports the lease gone (expired or revoked).
    pub async fn lost(&mut self) {
        while *self.ttl.borrow_and_update() > 0 {
            if self.ttl.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The pause between renewals of a lease with `ttl` seconds (clientv3: a third of it).
pub fn renew_interval(ttl_seconds: i64) -> Duration {
    Duration::from_millis((ttl_seconds.max(1) as u64) * 1000 / 3).max(Duration::from_millis(100))
}

impl Client {
    /// Renews lease `id` (granted with `ttl_seconds`) until the handle is dropped.
    pub fn keep_alive(&self, id: i64, ttl_seconds: i64) -> KeepAlive {
        let (ttl_tx, ttl_rx) = watch::channel(ttl_seconds);
        let client = self.clone();
        let task = tokio::spawn(async move {
            let mut attempt = 0u32;
            loop {
                let lease = match client.channel().await {
                    Ok(l) => l,
                    Err(_) => {
                        tokio::time::sleep(retry::backoff(attempt)).await;
                        attempt = attempt.saturating_add(1);
                        continue;
                    }
                };
                let (req_tx, req_rx) = tokio::sync::mpsc::channel(1);
                let mut grpc = LeaseClient::new(lease.channel.clone());
                let stream = grpc
                    .lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(req_rx))
                    .await;
                let mut stream = match stream {
                    Ok(s) => s.into_inner(),
                    Err(status) => {
                        tracing::debug!(lease = id, error = %status.message(), "lease keep-alive failed to start");
                        tokio::time::sleep(retry::backoff(attempt)).await;
                        attempt = attempt.saturating_add(1);
                        let _ = client.replace_after_failure(lease).await;
                        continue;
                    }
                };
                loop {
                    if req_tx.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
                        break;
                    }
                    match stream.next().await {
                        Some(Ok(resp)) => {
                            attempt = 0;
                            let _ = ttl_tx.send(resp.ttl.max(0));
                            if resp.ttl <= 0 {
                                tracing::debug!(lease = id, "lease gone: keep-alive stops");
                                return;
                            }
                            tokio::time::sleep(renew_interval(resp.ttl)).await;
                        }
                        Some(Err(status)) => {
                            tracing::debug!(lease = id, error = %status.message(), "lease keep-alive broken");
                            break;
                        }
                        None => break,
                    }
                }
                tokio::time::sleep(retry::backoff(attempt)).await;
                attempt = attempt.saturating_add(1);
                let _ = client.replace_after_failure(lease).await;
            }
        });
        KeepAlive { task, ttl: ttl_rx }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_every_third_of_the_ttl() {
        assert_eq!(renew_interval(30), Duration::from_secs(10));
        assert_eq!(renew_interval(0), Duration::from_millis(333));
        assert_eq!(renew_interval(3600), Duration::from_secs(1200));
    }
}
