//! TLS for a member, as etcd does it: an `https://` listen URL is served with the side's
//! certificate (`--cert-file`/`--key-file` for clients, `--peer-cert-file`/`--peer-key-file`
//! for peers), `--client-cert-auth`/`--peer-client-cert-auth` require a certificate signed by
//! the side's trusted CA from everyone who connects, and an `https://` peer URL is dialed with
//! the peer CA and this member's peer certificate as its client identity.
//!
//! The TLS handshake of an incoming connection is done here rather than by tonic, on its own
//! task per connection: tonic logs a failed handshake only at debug level and without the
//! remote address, while etcd logs every refused connection (`rejected connection`, with the
//! remote address and the reason) and goes on serving everyone else. The finished TLS stream
//! is handed to tonic, which still sees the client's certificates (`Request::peer_certs`).
//!
//! With `--client-cert-auth`, etcd takes the common name of the client certificate as the user
//! for authorization; [`common_name_of`] reads it (a small DER walk that never panics on a
//! hostile certificate).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::config::{MemberConfig, TlsInfo};

/// An accepted connection after its TLS handshake.
pub type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// How long a connection may take to finish its TLS handshake (Go's crypto/tls has no limit of
/// its own; etcd's HTTP server reads requests within minutes). A silent client is cut off and
/// logged after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most handshakes in progress on one listener; further connections wait in the kernel's
/// accept queue.
const MAX_PENDING_HANDSHAKES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {flag} {}: {reason}", path.display())]
    File {
        flag: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Config(String),
}

/// Which of a member's two TLS configurations: the one for clients or the one for peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Peer,
}

impl Side {
    /// etcd's flag for `name` on this side (`cert-file` -> `--cert-file` / `--peer-cert-file`).
    fn flag(self, name: &str) -> String {
        match self {
            Side::Client => format!("--{name}"),
            Side::Peer => format!("--peer-{name}"),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// True for an `https://` URL.
pub fn is_https(url: &str) -> bool {
    url.starts_with("https://")
}

/// Checks at start-up that every `https://` listen URL can be served and that `https://` peers
/// can be dialed, so that a missing or broken file is reported before anything else happens.
pub fn validate(config: &MemberConfig) -> Result<(), TlsError> {
    for url in config.listen_client_urls.iter().filter(|u| is_https(u)) {
        server_config(&config.client_tls, Side::Client, url)?;
    }
    for url in config.listen_peer_urls.iter().filter(|u| is_https(u)) {
        server_config(&config.peer_tls, Side::Peer, url)?;
    }
    let dials_https = config
        .initial_cluster
        .iter()
        .flat_map(|(_, urls)| urls)
        .any(|u| is_https(u));
    if dials_https && peer_client_config(&config.peer_tls)?.is_none() {
        return Err(TlsError::Config(
            "--peer-trusted-ca-file must be provided to connect to https peer urls".into(),
        ));
    }
    Ok(())
}

/// The rustls configuration for an `https://` listener on `side`.
pub fn server_config(info: &TlsInfo, side: Side, url: &str) -> Result<Arc<ServerConfig>, TlsError> {
    let (Some(cert_file), Some(key_file)) = (&info.cert_file, &info.key_file) else {
        // etcd: "TLS key/cert (--cert-file, --key-file) must be provided for client url %s
        // with HTTPS scheme".
        return Err(TlsError::Config(format!(
            "TLS key/cert ({}, {}) must be provided for {} url {url} with HTTPS scheme",
            side.flag("cert-file"),
            side.flag("key-file"),
            side.kind()
        )));
    };
    let certs = load_certs(&side.flag("cert-file"), cert_file)?;
    let key = load_key(&side.flag("key-file"), key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if info.client_cert_auth {
        let Some(ca_file) = &info.trusted_ca_file else {
            return Err(TlsError::Config(format!(
                "{} requires {}",
                side.flag("client-cert-auth"),
                side.flag("trusted-ca-file")
            )));
        };
        let roots = root_store(&side.flag("trusted-ca-file"), ca_file)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::Config(format!("{}: {e}", ca_file.display())))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        // As etcd: a trusted CA without client-cert-auth does not ask for client certificates.
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        TlsError::Config(format!(
            "{} / {}: {e}",
            cert_file.display(),
            key_file.display()
        ))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// How this member dials `https://` peers: the peer CA verifies the other member's server
/// certificate, and this member's peer certificate is its client identity. `None` when no
/// `--peer-trusted-ca-file` is given (an https peer URL then cannot be dialed).
pub fn peer_client_config(info: &TlsInfo) -> Result<Option<ClientTlsConfig>, TlsError> {
    let Some(ca_file) = &info.trusted_ca_file else {
        return Ok(None);
    };
    let ca_flag = Side::Peer.flag("trusted-ca-file");
    // Parsed here for a clear error; tonic parses the PEM again.
    root_store(&ca_flag, ca_file)?;
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&ca_flag, ca_file)?));
    match (&info.cert_file, &info.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let cert_flag = Side::Peer.flag("cert-file");
            let key_flag = Side::Peer.flag("key-file");
            load_certs(&cert_flag, cert_file)?;
            load_key(&key_flag, key_file)?;
            config = config.identity(Identity::from_pem(
                read(&cert_flag, cert_file)?,
                read(&key_flag, key_file)?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(TlsError::Config(
                "--peer-cert-file and --peer-key-file must be given together".into(),
            ));
        }
    }
    Ok(Some(config))
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        flag: flag.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn file_error(flag: &str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        flag: flag.to_string(),
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn load_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(flag, path, e))?;
    if certs.is_empty() {
        return Err(file_error(flag, path, "no PEM certificate found"));
    }
    Ok(certs)
}

fn load_key(flag: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(flag, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            file_error(flag, path, "no PEM private key found")
        }
        other => file_error(flag, path, other),
    })
}

fn root_store(flag: &str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(flag, path)? {
        roots
            .add(cert)
            .map_err(|e| file_error(flag, path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Accepts connections on `listener` and does each one's TLS handshake on its own task,
/// yielding the connections whose handshake succeeded. A refused handshake is logged as etcd
/// logs it (`rejected connection`, remote address and reason) and never stops the loop. The
/// loop ends when the returned stream is dropped (the server stopped).
pub fn accept(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    url: String,
) -> impl futures::Stream<Item = io::Result<TlsStream>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), url, tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    url: String,
    tx: tokio::sync::mpsc::Sender<io::Result<TlsStream>>,
) {
    let pending = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // E.g. out of file descriptors: wait a little rather than spin.
                tracing::warn!(listener = %url, error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let Ok(permit) = pending.clone().acquire_owned().await else {
            return;
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            drop(permit);
            match handshake {
                Ok(Ok(tls)) => {
                    let _ = tx.send(Ok(tls)).await;
                }
                Ok(Err(err)) if closed_early(&err) => {
                    // A client that gave up (e.g. dialed several members and kept another).
                    tracing::debug!(remote_addr = %remote, listener = %url, error = %err, "connection closed during the TLS handshake");
                }
                Ok(Err(err)) => log_rejected(remote, &url, &handshake_error(&err)),
                Err(_) => log_rejected(remote, &url, "TLS handshake timed out"),
            }
        });
    }
}

fn log_rejected(remote: SocketAddr, url: &str, reason: &str) {
    tracing::warn!(remote_addr = %remote, listener = %url, error = %reason, "rejected connection");
}

/// True when the client went away in the handshake without TLS saying why.
fn closed_early(err: &io::Error) -> bool {
    let from_tls = err
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>());
    !from_tls
        && matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe
        )
}

/// The reason a handshake failed, in words a person can act on.
fn handshake_error(err: &io::Error) -> String {
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            // Go's crypto/tls says the same of a plaintext client.
            "tls: first record does not look like a TLS handshake".into()
        }
        Some(rustls::Error::NoCertificatesPresented) => {
            "tls: client didn't provide a certificate".into()
        }
        _ => err.to_string(),
    }
}

/// The common name of the client certificate a request came with (etcd's user for a request
/// under `--client-cert-auth`), `None` without TLS, without a client certificate or without a
/// readable common name.
pub fn common_name_of<T>(request: &tonic::Request<T>) -> Option<String> {
    let certs = request.peer_certs()?;
    common_name(certs.first()?.as_ref())
}

// ---- a minimal DER walk to the subject's common name ----------------------------------------

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version` in TBSCertificate.
const VERSION_TAG: u8 = 0xa0;
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];

/// Splits one DER element off `input`: (tag, contents, rest). `None` on anything malformed,
/// including forms DER does not allow (indefinite lengths) and tags Keel never needs to read.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the fields read here
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((tag, contents, rest))
}

/// Reads one element that must carry `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// The subject common name of a DER certificate (the last one, as Go's `pkix.Name` keeps it).
pub fn common_name(der: &[u8]) -> Option<String> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut fields = tbs;
    if fields.first() == Some(&VERSION_TAG) {
        fields = element(fields)?.2;
    }
    let (_, _serial, fields) = element(fields)?;
    let (_signature_algorithm, fields) = expect(fields, SEQUENCE)?;
    let (_issuer, fields) = expect(fields, SEQUENCE)?;
    let (_validity, fields) = expect(fields, SEQUENCE)?;
    let (mut subject, _) = expect(fields, SEQUENCE)?;
    let mut common_name = None;
    while !subject.is_empty() {
        let (mut rdn, rest) = expect(subject, SET)?;
        subject = rest;
        while !rdn.is_empty() {
            let (attribute, rest) = expect(rdn, SEQUENCE)?;
            rdn = rest;
            let (oid, value) = expect(attribute, OID)?;
            if oid == COMMON_NAME_OID {
                let (tag, contents, _) = element(value)?;
                common_name = Some(directory_string(tag, contents)?);
            }
        }
    }
    common_name
}

/// A DirectoryString (or IA5String) as text.
fn directory_string(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, TeletexString (read as UTF-8, as Go does)
        0x0c | 0x13 | 0x16 | 0x14 => String::from_utf8(contents.to_vec()).ok(),
        // BMPString: UTF-16 big endian
        0x1e => {
            if !contents.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = contents
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with_cn(cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "keel");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_the_subject_common_name() {
        assert_eq!(common_name(&cert_with_cn("root")), Some("root".into()));
        assert_eq!(common_name(&cert_with_cn("über")), Some("über".into()));
    }

    #[test]
    fn no_common_name_is_none() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        assert_eq!(common_name(&der), None);
    }

    #[test]
    fn hostile_input_never_panics() {
        let good = cert_with_cn("root");
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30]), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(common_name(&[0x30, 0x80, 0x00, 0x00]), None);
        assert_eq!(common_name(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
        // Every truncation and every single-byte change of a real certificate.
        for len in 0..good.len() {
            let _ = common_name(&good[..len]);
        }
        for i in 0..good.len() {
            for value in [0x00, 0x1f, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x84, 0xff] {
                let mut bad = good.clone();
                bad[i] = value;
                let _ = common_name(&bad);
            }
        }
    }

    #[test]
    fn bmp_strings_decode() {
        assert_eq!(
            directory_string(0x1e, &[0, b'a', 0, b'b']),
            Some("ab".into())
        );
        assert_eq!(directory_string(0x1e, &[0, b'a', 0]), None);
        assert_eq!(directory_string(0x02, b"x"), None);
    }

    /// A CA, and a certificate it signed for `cn` (SAN localhost), all PEM: (ca, cert, key).
    fn ca_and_leaf(cn: &str) -> (String, String, String) {
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    }

    /// The whole path: a client certificate presented in the handshake done by [`accept`]
    /// reaches tonic's `Request::peer_certs`, and [`common_name_of`] reads its CN.
    #[tokio::test]
    async fn common_name_of_a_client_certificate_through_accept() {
        use futures::StreamExt;
        use tonic::transport::server::Connected;

        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = ca_and_leaf("alice");
        let file = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        };
        let info = TlsInfo {
            cert_file: Some(file("leaf.crt", &cert)),
            key_file: Some(file("leaf.key", &key)),
            trusted_ca_file: Some(file("ca.crt", &ca)),
            client_cert_auth: true,
        };
        let config = server_config(&info, Side::Client, "https://localhost:0").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = Box::pin(accept(listener, config, "https://test".into()));

        let client = tokio::spawn(async move {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap();
            let tcp = TcpStream::connect(address).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .unwrap()
        });
        let stream = incoming.next().await.unwrap().unwrap();
        let mut request = tonic::Request::new(());
        request.extensions_mut().insert(stream.connect_info());
        assert_eq!(common_name_of(&request), Some("alice".into()));
        assert_eq!(common_name_of(&tonic::Request::new(())), None);
        drop(client.await.unwrap());
    }

    #[test]
    fn missing_files_are_named() {
        let info = TlsInfo {
            cert_file: Some("/nonexistent/member.crt".into()),
            key_file: Some("/nonexistent/member.key".into()),
            ..TlsInfo::default()
        };
        let err = server_config(&info, Side::Peer, "https://127.0.0.1:2380")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--peer-cert-file /nonexistent/member.crt"),
            "{err}"
        );
        let err = server_config(&TlsInfo::default(), Side::Client, "https://127.0.0.1:2379")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"
        );
    }
}
