//! [`Client`]: one logical connection to a set of etcd v3 endpoints.
//!
//! It keeps one gRPC channel to the member it last reached. A call that fails in a way the
//! [`retry`](crate::retry) rule allows is sent again, after a backoff, on a channel to
//! another endpoint, until the request timeout runs out; every other failure goes back to
//! the caller. All endpoints are dialed at once when a new channel is needed and the first
//! to answer wins (clientv3's balancer does the same), preferring the ones that did not fail last.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::select_ok;
use keel_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::maintenance_client::MaintenanceClient;
use tonic::transport::Channel;

use crate::endpoint::{self, TlsFiles};
use crate::error::Error;
use crate::retry::{self, Idempotency};

/// How to reach the store.
#[derive(Clone, Debug)]
pub struct Config {
    /// `host:port` or URLs; a bare `host:port` is TLS when `tls` has files.
    pub endpoints: Vec<String>,
    pub tls: TlsFiles,
    /// How long one dial may take (clientv3's DialTimeout).
    pub dial_timeout: Duration,
    /// How long one call may take, retries included.
    pub request_timeout: Duration,
}

impl Config {
    pub fn new(endpoints: Vec<String>) -> Self {
        Config {
            endpoints,
            tls: TlsFiles::default(),
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A cheap-to-clone handle on the connection to the store.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    current: Mutex<Option<Current>>,
}

#[derive(Clone)]
struct Current {
    endpoint: usize,
    channel: Channel,
    /// Bumped on every new channel, so that a failure on an old one does not drop a new one.
    generation: u64,
}

/// A channel handed to one attempt of a call.
#[derive(Clone)]
pub struct Lease {
    pub channel: Channel,
    generation: u64,
}

impl Client {
    /// Checks the configuration and dials the first endpoint that answers.
    pub async fn connect(config: Config) -> Result<Client, Error> {
        if config.endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        for ep in &config.endpoints {
            endpoint::check(ep, &config.tls)?;
        }
        let client = Client {
            inner: Arc::new(Inner {
                config,
                current: Mutex::new(None),
            }),
        };
        client.channel().await?;
        Ok(client)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The endpoint the client is connected to now, if any.
    pub fn current_endpoint(&self) -> Option<String> {
        let current = self.lock().clone()?;
        self.inner.config.endpoints.get(current.endpoint).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        // A poisoned lock only means a panic elsewhere mid-assignment of a clone-able value.
        self.inner.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current channel, dialing one if there is none.
    pub async fn channel(&self) -> Result<Lease, Error> {
        if let Some(c) = self.lock().clone() {
            return Ok(Lease {
                channel: c.channel,
                generation: c.generation,
            });
        }
        self.redial(None).await
    }

    /// Drops the channel of `failed` (if it is still the current one) and dials again,
    /// trying the other endpoints before the one that failed.
    async fn redial(&self, failed: Option<u64>) -> Result<Lease, Error> {
        let (skip, generation) = {
            let mut current = self.lock();
            match (&*current, failed) {
                (Some(c), Some(g)) if c.generation != g => {
                    // Someone else already moved on: use their channel.
                    return Ok(Lease {
                        channel: c.channel.clone(),
                        generation: c.generation,
                    });
                }
                (Some(c), _) => {
                    let out = (Some(c.endpoint), c.generation + 1);
                    *current = None;
                    out
                }
                (None, _) => (None, failed.map_or(0, |g| g + 1)),
            }
        };
        let config = &self.inner.config;
        let others: Vec<usize> = (0..config.endpoints.len())
            .filter(|i| Some(*i) != skip || config.endpoints.len() == 1)
            .collect();
        let (endpoint, channel) = match self.dial_any(&others).await {
            Ok(found) => found,
            Err(_) if skip.is_some() && config.endpoints.len() > 1 => {
                let all: Vec<usize> = (0..config.endpoints.len()).collect();
                self.dial_any(&all).await?
            }
            Err(e) => return Err(e),
        };
        tracing::debug!(endpoint = %config.endpoints[endpoint], "connected to the store");
        let mut current = self.lock();
        *current = Some(Current {
            endpoint,
            channel: channel.clone(),
            generation,
        });
        Ok(Lease {
            channel,
            generation,
        })
    }

    /// Gives up the channel `failed` ran on (a broken stream) and returns a new one.
    pub async fn replace_after_failure(&self, failed: Lease) -> Result<Lease, Error> {
        self.redial(Some(failed.generation)).await
    }

    async fn dial_any(&self, which: &[usize]) -> Result<(usize, Channel), Error> {
        let config = &self.inner.config;
        let dials = which.iter().map(|&i| {
            Box::pin(async move {
                endpoint::dial(&config.endpoints[i], config.dial_timeout, &config.tls)
                    .await
                    .map(|c| (i, c))
            })
        });
        let dials: Vec<_> = dials.collect();
        if dials.is_empty() {
            return Err(Error::NoEndpoints);
        }
        select_ok(dials).await.map(|(found, _rest)| found)
    }

    /// Runs `op` on the current channel, following the retry rule until the request timeout.
    pub async fn call<T, F, Fut>(&self, kind: Idempotency, mut op: F) -> Result<T, Error>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let timeout = self.inner.config.request_timeout;
        let attempts = async {
            let mut attempt = 0u32;
            let mut lease = self.channel().await?;
            loop {
                match op(lease.channel.clone()).await {
                    Ok(resp) => return Ok(resp.into_inner()),
                    Err(status) if retry::should_retry(&status, kind) => {
                        tracing::debug!(error = %status.message(), attempt, "store call failed, trying another endpoint");
                        tokio::time::sleep(retry::backoff(attempt)).await;
                        attempt += 1;
                        lease = match self.redial(Some(lease.generation)).await {
                            Ok(l) => l,
                            // Dial failures are retried like the call itself, until the deadline.
                            Err(Error::DeadlineExceeded) => continue,
                            Err(e) => return Err(e),
                        };
                    }
                    Err(status) => return Err(Error::Status(status)),
                }
            }
        };
        tokio::time::timeout(timeout, attempts)
            .await
            .unwrap_or(Err(Error::DeadlineExceeded))
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.inner.config.request_timeout);
        req
    }

    pub async fn range(&self, req: pb::RangeRequest) -> Result<pb::RangeResponse, Error> {
        self.call(Idempotency::Repeatable, |ch| {
            let req = self.request(req.clone());
            async move { kv(ch).range(req).await }
        })
        .await
    }

    pub async fn put(&self, req: pb::PutRequest) -> Result<pb::PutResponse, Error> {
        self.call(Idempotency::NonRepeatable, |ch| {
            let req = self.request(req.clone());
            async move { kv(ch).put(req).await }
        })
        .await
    }

    pub async fn delete_range(
        &self,
        req: pb::DeleteRangeRequest,
    ) -> Result<pb::DeleteRangeResponse, Error> {
        self.call(Idempotency::NonRepeatable, |ch| {
            let req = self.request(req.clone());
            async move { kv(ch).delete_range(req).await }
        })
        .await
    }

    /// A transaction; one with only reads in it counts as repeatable.
    pub async fn txn(&self, req: pb::TxnRequest) -> Result<pb::TxnResponse, Error> {
        let kind = if txn_is_read_only(&req) {
            Idempotency::Repeatable
        } else {
            Idempotency::NonRepeatable
        };
        self.call(kind, |ch| {
            let req = self.request(req.clone());
            async move { kv(ch).txn(req).await }
        })
        .await
    }

    pub async fn compact(&self, revision: i64) -> Result<pb::CompactionResponse, Error> {
        self.call(Idempotency::NonRepeatable, |ch| {
            let req = self.request(pb::CompactionRequest {
                revision,
                physical: false,
            });
            async move { kv(ch).compact(req).await }
        })
        .await
    }

    pub async fn lease_grant(&self, ttl_seconds: i64) -> Result<pb::LeaseGrantResponse, Error> {
        self.call(Idempotency::NonRepeatable, |ch| {
            let req = self.request(pb::LeaseGrantRequest {
                ttl: ttl_seconds,
                id: 0,
            });
            async move { LeaseClient::new(ch).lease_grant(req).await }
        })
        .await
    }

    pub async fn lease_revoke(&self, id: i64) -> Result<pb::LeaseRevokeResponse, Error> {
        self.call(Idempotency::NonRepeatable, |ch| {
            let req = self.request(pb::LeaseRevokeRequest { id });
            async move { LeaseClient::new(ch).lease_revoke(req).await }
        })
        .await
    }

    /// The status of the member the client is connected to.
    pub async fn status(&self) -> Result<pb::StatusResponse, Error> {
        self.call(Idempotency::Repeatable, |ch| {
            let req = self.request(pb::StatusRequest {});
            async move { MaintenanceClient::new(ch).status(req).await }
        })
        .await
    }
}

fn kv(channel: Channel) -> KvClient<Channel> {
    KvClient::new(channel).max_decoding_message_size(usize::MAX)
}

/// Whether a transaction (all its branches, nested ones included) only reads.
fn txn_is_read_only(req: &pb::TxnRequest) -> bool {
    use pb::request_op::Request;
    req.success
        .iter()
        .chain(&req.failure)
        .all(|op| match &op.request {
            Some(Request::RequestRange(_)) | None => true,
            Some(Request::RequestTxn(inner)) => txn_is_read_only(inner),
            Some(Request::RequestPut(_)) | Some(Request::RequestDeleteRange(_)) => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::RequestOp;
    use pb::request_op::Request;

    fn op(r: Request) -> RequestOp {
        RequestOp { request: Some(r) }
    }

    #[test]
    fn only_reads_make_a_read_only_txn() {
        let get = op(Request::RequestRange(pb::RangeRequest::default()));
        let put = op(Request::RequestPut(pb::PutRequest::default()));
        let read = pb::TxnRequest {
            success: vec![get.clone()],
            failure: vec![get.clone()],
            ..Default::default()
        };
        assert!(txn_is_read_only(&read));
        let nested_write = pb::TxnRequest {
            success: vec![get.clone()],
            failure: vec![op(Request::RequestTxn(pb::TxnRequest {
                success: vec![put.clone()],
                ..Default::default()
            }))],
            ..Default::default()
        };
        assert!(!txn_is_read_only(&nested_write));
    }
}
