//! Throwaway certificates for local clusters: a CA made on the spot and the member and client
//! certificates it signs. `keel up --tls` writes a set under its data dir; the TLS tests make
//! theirs (and bad ones: another CA's, expired) with it too; [`KubePki`] is the control
//! plane's set (cluster CA, api-server serving certificate, admin client certificate) and its
//! kubeconfig. Not meant for production PKI.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate with its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Whether an issued certificate is valid now or expired long ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Current,
    Expired,
}

/// A local certificate authority.
pub struct LocalCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl LocalCa {
    /// A new CA whose subject common name is `name`.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().context("cannot make a CA key")?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).context("cannot sign the CA certificate")?;
        Ok(Self { issuer })
    }

    /// The CA certificate (what `--trusted-ca-file` and `--cacert` take).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `common_name`, valid for the DNS names and IP addresses in `hosts`,
    /// usable both as a server and as a client certificate (members present theirs both ways
    /// on the peer links).
    pub fn issue(
        &self,
        common_name: &str,
        hosts: &[&str],
        validity: Validity,
    ) -> anyhow::Result<Issued> {
        self.issue_with_groups(common_name, &[], hosts, validity)
    }

    /// Like [`LocalCa::issue`], with one subject O (organization) per group: Kubernetes reads a
    /// client certificate's CN as the user and its O entries as the user's groups.
    pub fn issue_with_groups(
        &self,
        common_name: &str,
        groups: &[&str],
        hosts: &[&str],
        validity: Validity,
    ) -> anyhow::Result<Issued> {
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .context("bad certificate host name")?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if validity == Validity::Expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().context("cannot make a key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("cannot sign a certificate")?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Where `keel up --tls` keeps its certificates (under `<data-dir>/tls/`).
#[derive(Clone, Debug)]
pub struct LocalTlsFiles {
    pub ca_cert: PathBuf,
    pub member_cert: PathBuf,
    pub member_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl LocalTlsFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.crt"),
            member_cert: dir.join("member.crt"),
            member_key: dir.join("member.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        }
    }

    fn all(&self) -> [&Path; 5] {
        [
            &self.ca_cert,
            &self.member_cert,
            &self.member_key,
            &self.client_cert,
            &self.client_key,
        ]
    }

    /// Reuses the files in `dir` when they are all there; otherwise makes a new CA, one member
    /// certificate for every member (SAN localhost, 127.0.0.1) and a client certificate with
    /// CN root. The CA's key is not kept: the set is replaced as a whole if a file is lost.
    /// Returns the files and whether they were made now.
    pub fn ensure(dir: &Path) -> anyhow::Result<(Self, bool)> {
        let files = Self::in_dir(dir);
        if files.all().iter().all(|p| p.exists()) {
            return Ok((files, false));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let ca = LocalCa::new("keel local CA")?;
        let member = ca.issue(
            "keel member",
            &["localhost", "127.0.0.1"],
            Validity::Current,
        )?;
        let client = ca.issue("root", &["localhost", "127.0.0.1"], Validity::Current)?;
        write(&files.ca_cert, &ca.cert_pem(), false)?;
        write(&files.member_cert, &member.cert_pem, false)?;
        write(&files.member_key, &member.key_pem, true)?;
        write(&files.client_cert, &client.cert_pem, false)?;
        write(&files.client_key, &client.key_pem, true)?;
        Ok((files, true))
    }
}

/// Writes `contents` to `path`, readable by the owner only when `private`.
pub fn write(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The control plane's certificates under `<data-dir>/pki/`, as kubeadm lays them out: the
/// cluster CA, the api-servers' serving certificate, and the admin's client certificate
/// (O=system:masters) that `<data-dir>/kubeconfig` uses.
#[derive(Clone, Debug)]
pub struct KubePki {
    pub ca_cert: PathBuf,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
}

impl KubePki {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.crt"),
            apiserver_cert: dir.join("apiserver.crt"),
            apiserver_key: dir.join("apiserver.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
        }
    }

    fn all(&self) -> [&Path; 5] {
        [
            &self.ca_cert,
            &self.apiserver_cert,
            &self.apiserver_key,
            &self.admin_cert,
            &self.admin_key,
        ]
    }

    /// Reuses the files in `dir` when they are all there; otherwise makes the set, the serving
    /// certificate valid for `hosts` plus kube's service names. Returns whether it made them.
    pub fn ensure(dir: &Path, hosts: &[&str]) -> anyhow::Result<(Self, bool)> {
        let files = Self::in_dir(dir);
        if files.all().iter().all(|p| p.exists()) {
            return Ok((files, false));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let ca = LocalCa::new("keel-ca")?;
        let mut names = vec![
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
        ];
        names.extend(
            hosts
                .iter()
                .copied()
                .filter(|h| !names.contains(h))
                .collect::<Vec<_>>(),
        );
        let serving = ca.issue("kube-apiserver", &names, Validity::Current)?;
        let admin = ca.issue_with_groups("admin", &["system:masters"], &[], Validity::Current)?;
        write(&files.ca_cert, &ca.cert_pem(), false)?;
        write(&files.apiserver_cert, &serving.cert_pem, false)?;
        write(&files.apiserver_key, &serving.key_pem, true)?;
        write(&files.admin_cert, &admin.cert_pem, false)?;
        write(&files.admin_key, &admin.key_pem, true)?;
        Ok((files, true))
    }

    /// A kubeconfig (cluster `keel`, user `admin`, context `keel`) for `server`, with the
    /// certificates inlined so the file works wherever it is copied.
    pub fn kubeconfig(&self, server: &str) -> anyhow::Result<String> {
        use base64::Engine as _;
        let b64 = |path: &Path| -> anyhow::Result<String> {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
        };
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: keel\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: keel\n  context:\n    cluster: keel\n    user: admin\ncurrent-context: keel\n",
            ca = b64(&self.ca_cert)?,
            cert = b64(&self.admin_cert)?,
            key = b64(&self.admin_key)?,
        ))
    }
}
