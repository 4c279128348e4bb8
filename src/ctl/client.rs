//! keelctl's connection to one endpoint: dialed through `keel-client` (endpoint parsing, TLS
//! with `--cacert`/`--cert`/`--key`, grpc-go's dial retry), carrying the command timeout and
//! the auth token, with failures turned into the messages and exit codes etcdctl prints
//! (`context deadline exceeded`, `etcdserver: ...`, or `rpc error: code = ... desc = ...`).

use std::future::Future;
use std::time::Duration;

use futures::future::select_ok;
use keel_proto::etcdserverpb::auth_client::AuthClient;
use keel_proto::etcdserverpb::cluster_client::ClusterClient;
use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::lease_client::LeaseClient;
use keel_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use keel_proto::etcdserverpb::watch_client::WatchClient;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The metadata key etcd reads a client's auth token from.
const TOKEN_METADATA_KEY: &str = "token";

use super::{CtlError, exit};

/// A connection to one endpoint plus the per-call timeout (`--command-timeout`) and, after
/// a login, the auth token every request carries.
#[derive(Clone)]
pub struct Conn {
    channel: Channel,
    command_timeout: Duration,
    token: Option<MetadataValue<Ascii>>,
}

impl Conn {
    pub fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone()).max_decoding_message_size(usize::MAX)
    }

    pub fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel.clone()).max_decoding_message_size(usize::MAX)
    }

    pub fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel.clone()).max_decoding_message_size(usize::MAX)
    }

    pub fn watch(&self) -> WatchClient<Channel> {
        WatchClient::new(self.channel.clone()).max_decoding_message_size(usize::MAX)
    }

    pub fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone()).max_decoding_message_size(usize::MAX)
    }

    pub fn auth(&self) -> AuthClient<Channel> {
        AuthClient::new(self.channel.clone())
    }

    /// This connection, its requests carrying `token` (from Authenticate).
    pub fn with_token(mut self, token: &str) -> Result<Self, CtlError> {
        let value = token
            .parse()
            .map_err(|_| CtlError::new(exit::ERROR, "the server returned an unusable token"))?;
        self.token = Some(value);
        Ok(self)
    }

    /// Wraps `msg` in a request carrying the command timeout as its gRPC deadline.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = self.stream_request(msg);
        req.set_timeout(self.command_timeout);
        req
    }

    /// Wraps `msg` (a long-lived stream: no deadline) with the auth token, if any.
    pub fn stream_request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(token) = &self.token {
            req.metadata_mut().insert(TOKEN_METADATA_KEY, token.clone());
        }
        req
    }

    /// Runs one RPC bounded by the command timeout, mapping failures as clientv3 does.
    pub async fn call<T, F>(&self, fut: F) -> Result<T, CtlError>
    where
        F: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let start = tokio::time::Instant::now();
        match tokio::time::timeout(self.command_timeout, fut).await {
            Err(_) => Err(CtlError::new(exit::ERROR, DEADLINE_EXCEEDED)),
            Ok(Err(status)) => {
                // clientv3's toErr: a canceled/expired call whose context has expired
                // reports the context's error. The server sees our deadline through the
                // grpc-timeout header and may answer just before our own timer fires.
                let expired = start.elapsed() + Duration::from_millis(50) >= self.command_timeout;
                let msg = match status.code() {
                    Code::Cancelled | Code::DeadlineExceeded if expired => {
                        DEADLINE_EXCEEDED.to_string()
                    }
                    _ => status_message(&status),
                };
                Err(CtlError::new(exit::ERROR, msg))
            }
            Ok(Ok(resp)) => Ok(resp.into_inner()),
        }
    }
}

/// etcdctl's `--cacert`, `--cert` and `--key`.
pub use keel_client::TlsFiles;
pub use keel_client::error::{DEADLINE_EXCEEDED, status_message};

/// etcdctl's exit code and message for a client error.
fn ctl_error(e: keel_client::Error) -> CtlError {
    use keel_client::Error;
    match e {
        Error::InvalidEndpoint(m) if m.starts_with("unix socket") => {
            CtlError::new(exit::BAD_FEATURE, m)
        }
        Error::InvalidEndpoint(_) | Error::Tls(_) | Error::NoEndpoints => {
            CtlError::new(exit::BAD_ARGS, e.to_string())
        }
        other => CtlError::new(exit::ERROR, other.to_string()),
    }
}

/// Dials one endpoint, giving up after `dial_timeout`.
pub async fn dial(
    ep: &str,
    dial_timeout: Duration,
    command_timeout: Duration,
    tls: &TlsFiles,
) -> Result<Conn, CtlError> {
    let channel = keel_client::endpoint::dial(ep, dial_timeout, tls)
        .await
        .map_err(ctl_error)?;
    Ok(Conn {
        channel,
        command_timeout,
        token: None,
    })
}

/// Dials all endpoints concurrently and keeps the first that answers (clientv3 likewise
/// fails over between `--endpoints`).
pub async fn dial_any(
    eps: &[String],
    dial_timeout: Duration,
    command_timeout: Duration,
    tls: &TlsFiles,
) -> Result<Conn, CtlError> {
    let mut futs = Vec::with_capacity(eps.len());
    for ep in eps {
        // Reject malformed endpoints and TLS files up front rather than hiding them behind
        // a timeout.
        keel_client::endpoint::check(ep, tls).map_err(ctl_error)?;
        futs.push(Box::pin(dial(ep, dial_timeout, command_timeout, tls)));
    }
    if futs.is_empty() {
        return Err(CtlError::new(exit::BAD_ARGS, "no endpoints given"));
    }
    select_ok(futs).await.map(|(conn, _rest)| conn)
}
