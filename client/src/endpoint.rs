//! One endpoint: how an `--endpoints` entry (`host:port`, `http://…`, `https://…`) becomes a
//! URI, how TLS files (etcdctl's `--cacert`/`--cert`/`--key`, kube-apiserver's
//! `--etcd-cafile`/`-certfile`/`-keyfile`) become a TLS configuration, and how a channel to
//! one endpoint is dialed, retrying a refused connection until the dial deadline as grpc-go does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{Error, error_chain};

/// The CA file, and optionally the client certificate and key, for TLS endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether any TLS file was given: endpoints without a scheme are then dialed over TLS.
    pub fn given(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// The TLS configuration these files make (read now, so that a bad file is reported
    /// before any dial).
    pub fn client_config(&self) -> Result<ClientTlsConfig, Error> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| Error::Tls(format!("open {}: {}", path.display(), e)))
        };
        let Some(cacert) = &self.cacert else {
            return Err(Error::Tls(
                "TLS needs a CA file (--cacert); the system's CA certificates are not read".into(),
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
                return Err(Error::Tls("--cert and --key must be given together".into()));
            }
        }
        Ok(config)
    }
}

/// Turns an endpoint entry into the URI tonic dials; a bare `host:port` is https when TLS
/// files are given, as in etcdctl.
pub fn endpoint_uri(ep: &str, tls: bool) -> Result<String, Error> {
    let ep = ep.trim();
    if ep.is_empty() {
        return Err(Error::InvalidEndpoint("empty endpoint".into()));
    }
    if ep.starts_with("unix://") || ep.starts_with("unixs://") {
        return Err(Error::InvalidEndpoint(format!(
            "unix socket endpoints are not supported ({ep})"
        )));
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

/// Checks an endpoint and the TLS files it needs without dialing, so that configuration
/// errors are reported as such rather than hidden behind a dial timeout.
pub fn check(ep: &str, tls: &TlsFiles) -> Result<(), Error> {
    if endpoint_uri(ep, tls.given())?.starts_with("https://") {
        tls.client_config()?;
    }
    Ok(())
}

/// Dials one endpoint, giving up after `dial_timeout`.
pub async fn dial(ep: &str, dial_timeout: Duration, tls: &TlsFiles) -> Result<Channel, Error> {
    let uri = endpoint_uri(ep, tls.given())?;
    let mut endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| Error::InvalidEndpoint(format!("invalid endpoint {ep:?}: {e}")))?
        .connect_timeout(dial_timeout)
        .tcp_nodelay(true)
        // etcdctl asks for 2 s, which grpc-go raises to its 10 s floor: slower than the
        // members' --grpc-keepalive-min-time (5 s), so a long watch is never sent away.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(6))
        .keep_alive_while_idle(false);
    if uri.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls.client_config()?)
            .map_err(|e| Error::Tls(format!("{ep}: {e}")))?;
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
    tokio::time::timeout(dial_timeout, attempts)
        .await
        .map_err(|_| Error::DeadlineExceeded)
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
        assert!(endpoint_uri("unix://x", false).is_err());
        assert!(endpoint_uri(" ", false).is_err());
    }

    #[test]
    fn tls_needs_a_ca_and_a_whole_identity() {
        let no_ca = TlsFiles {
            cert: Some("c".into()),
            ..Default::default()
        };
        assert!(matches!(no_ca.client_config(), Err(Error::Tls(_))));
        let missing = TlsFiles {
            cacert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let err = missing.client_config().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("open /nonexistent/ca.pem")));
    }
}
