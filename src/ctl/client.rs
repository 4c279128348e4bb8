//! Connecting to etcd-compatible endpoints over gRPC (TLS with `--cacert`/`--cert`/`--key`
//! as etcdctl does) and turning transport and gRPC failures into the messages etcdctl prints
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
use std::path::{Path, PathBuf};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

/// The metadata key etcd reads a client's auth token from.
const TOKEN_METADATA_KEY: &str = "token";

use super::{CtlError, exit};

/// What clientv3 reports when a dial or a call runs out of time.
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

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
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether any TLS flag was given: endpoints without a scheme are then dialed over TLS.
    pub fn given(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// The TLS configuration these files make (read now, so that a bad file is reported
    /// before any dial).
    pub fn client_config(&self) -> Result<ClientTlsConfig, CtlError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| {
                CtlError::new(exit::BAD_ARGS, format!("open {}: {}", path.display(), e))
            })
        };
        let Some(cacert) = &self.cacert else {
            return Err(CtlError::new(
                exit::BAD_ARGS,
                "TLS needs --cacert (keelctl does not read the system's CA certificates)",
            ));
        };
        let mut config =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(cacert)?));
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => {
                return Err(CtlError::new(
                    exit::BAD_ARGS,
                    "--cert and --key must be given together",
                ));
            }
        }
        Ok(config)
    }
}

/// Turns an `--endpoints` entry (`host:port`, `http://host:port`, `https://host:port`) into a
/// URI tonic dials; a bare `host:port` is https when TLS flags are given, as in etcdctl.
pub fn endpoint_uri(ep: &str, tls: bool) -> Result<String, CtlError> {
    let ep = ep.trim();
    if ep.is_empty() {
        return Err(CtlError::new(exit::BAD_ARGS, "empty endpoint"));
    }
    if ep.starts_with("unix://") || ep.starts_with("unixs://") {
        return Err(CtlError::new(
            exit::BAD_FEATURE,
            format!("unix socket endpoints are not supported by keelctl ({ep})"),
        ));
    }
    let uri = if ep.starts_with("http://") || ep.starts_with("https://") {
        ep.to_string()
    } else if tls {
        format!("https://{ep}")
    } else {
        format!("http://{ep}")
    };
    Ok(uri)
}

/// Dials one endpoint, giving up after `dial_timeout`.
pub async fn dial(
    ep: &str,
    dial_timeout: Duration,
    command_timeout: Duration,
    tls: &TlsFiles,
) -> Result<Conn, CtlError> {
    let uri = endpoint_uri(ep, tls.given())?;
    let mut endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| CtlError::new(exit::BAD_ARGS, format!("invalid endpoint {ep:?}: {e}")))?
        .connect_timeout(dial_timeout)
        .tcp_nodelay(true)
        // etcdctl asks for 2 s, which grpc-go raises to its 10 s floor: slower than the
        // members' --grpc-keepalive-min-time (5 s), so a long watch is never sent away.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(6));
    if uri.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls.client_config()?)
            .map_err(|e| CtlError::new(exit::BAD_ARGS, format!("{ep}: {e}")))?;
    }
    // Like grpc-go, keep retrying a refused or failed connection until the dial deadline.
    let attempts = async {
        let mut backoff = Duration::from_millis(50);
        loop {
            match endpoint.connect().await {
                Ok(channel) => return channel,
                Err(e) => {
                    tracing::debug!(endpoint = %uri, error = %error_chain(&e), "dial failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    };
    match tokio::time::timeout(dial_timeout, attempts).await {
        Ok(channel) => Ok(Conn {
            channel,
            command_timeout,
            token: None,
        }),
        Err(_) => Err(CtlError::new(exit::ERROR, DEADLINE_EXCEEDED)),
    }
}

/// An error with the errors behind it (a TLS failure reads only "transport error" otherwise).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
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
        if endpoint_uri(ep, tls.given())?.starts_with("https://") {
            tls.client_config()?;
        }
        futs.push(Box::pin(dial(ep, dial_timeout, command_timeout, tls)));
    }
    if futs.is_empty() {
        return Err(CtlError::new(exit::BAD_ARGS, "no endpoints given"));
    }
    select_ok(futs).await.map(|(conn, _rest)| conn)
}

/// What etcdctl prints for a failed call: clientv3 maps known etcd server errors
/// (all `etcdserver: ...`) to their text, deadline/cancel to the context error, and
/// prints any other gRPC status as Go's grpc `status.Error` formats it.
pub fn status_message(status: &Status) -> String {
    let msg = status.message();
    if msg.starts_with("etcdserver: ") {
        return msg.to_string();
    }
    match status.code() {
        Code::DeadlineExceeded => DEADLINE_EXCEEDED.to_string(),
        code => format!("rpc error: code = {} desc = {}", go_code_name(code), msg),
    }
}

/// grpc-go's `codes.Code.String()`.
fn go_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_bare_and_http() {
        assert_eq!(
            endpoint_uri("127.0.0.1:2379", false).ok(),
            Some("http://127.0.0.1:2379".into())
        );
        assert_eq!(
            endpoint_uri("http://127.0.0.1:2379", true).ok(),
            Some("http://127.0.0.1:2379".into())
        );
        assert_eq!(
            endpoint_uri("https://127.0.0.1:2379", false).ok(),
            Some("https://127.0.0.1:2379".into())
        );
        assert_eq!(
            endpoint_uri("127.0.0.1:2379", true).ok(),
            Some("https://127.0.0.1:2379".into())
        );
    }

    #[test]
    fn status_messages_follow_clientv3() {
        let s = Status::new(
            Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted",
        );
        assert_eq!(
            status_message(&s),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let s = Status::new(Code::Unimplemented, "unknown service");
        assert_eq!(
            status_message(&s),
            "rpc error: code = Unimplemented desc = unknown service"
        );
        let s = Status::new(Code::DeadlineExceeded, "timeout expired");
        assert_eq!(status_message(&s), DEADLINE_EXCEEDED);
    }
}
