//! The HTTPS listener: rustls with the serving certificate (`--tls-cert-file`,
//! `--tls-private-key-file`), asking for client certificates signed by `--client-ca-file`
//! without requiring them (tokens and anonymous health checks come without one), HTTP/2 and
//! HTTP/1.1 by ALPN as kube-apiserver offers them. Each connection is served on its own task;
//! a failed handshake is logged with the remote address and does not disturb anyone else.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

use super::ApiServer;
use super::handler;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the listener cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{flag} {path}: {why}")]
    File {
        flag: &'static str,
        path: String,
        why: String,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn file_error(flag: &'static str, path: &Path, why: impl ToString) -> ServeError {
    ServeError::File {
        flag,
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// The server's rustls configuration.
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error("--tls-cert-file", cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error("--tls-cert-file", cert, e))?;
    if certs.is_empty() {
        return Err(file_error(
            "--tls-cert-file",
            cert,
            "no certificate in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_error("--tls-private-key-file", key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .map_err(|e| file_error("--client-ca-file", ca, e))?;
            for c in cas {
                let c = c.map_err(|e| file_error("--client-ca-file", ca, e))?;
                roots
                    .add(c)
                    .map_err(|e| file_error("--client-ca-file", ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| file_error("--client-ca-file", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds the listener (so the caller knows the port is taken before serving starts).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}

/// Serves connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, server: ApiServer) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(remote = %remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(remote = %remote, "TLS handshake timed out");
                    return;
                }
            };
            let peer_cert: Option<Arc<Vec<u8>>> = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| Arc::new(c.as_ref().to_vec()));
            let service = service_fn(move |req| {
                let server = server.clone();
                let peer_cert = peer_cert.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        handler::handle(server, peer_cert.as_deref().map(Vec::as_slice), req).await,
                    )
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(remote = %remote, error = %e, "connection ended");
            }
        });
    }
}
