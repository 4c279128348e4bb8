//! `keel apiserver`: the Kubernetes API server on an etcd v3 store (Keel or etcd), with
//! kube-apiserver's flag names and defaults, mapped onto keel-control-plane's config.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use keel_control_plane::apiserver::{self, Config};

#[derive(Args, Debug, Clone)]
pub struct ApiServerArgs {
    /// List of etcd servers to connect with (scheme://ip:port), comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub etcd_servers: Vec<String>,
    /// SSL Certificate Authority file used to secure etcd communication.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// SSL certification file used to secure etcd communication.
    #[arg(long)]
    pub etcd_certfile: Option<PathBuf>,
    /// SSL key file used to secure etcd communication.
    #[arg(long)]
    pub etcd_keyfile: Option<PathBuf>,
    /// The prefix to prepend to all resource paths in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// The interval of compaction requests. If 0, the compaction request from apiserver is disabled.
    #[arg(long, default_value = "5m", value_parser = parse_duration_or_zero)]
    pub etcd_compaction_interval: Duration,
    /// The port on which to serve HTTPS with authentication and authorization.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The IP address on which to advertise the apiserver to members of the cluster.
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
    /// File containing the default x509 Certificate for HTTPS.
    #[arg(long, required = true)]
    pub tls_cert_file: PathBuf,
    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long, required = true)]
    pub tls_private_key_file: PathBuf,
    /// If set, any request presenting a client certificate signed by one of the authorities
    /// in the client-ca-file is authenticated with an identity corresponding to the CommonName
    /// of the client certificate.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// If set, the file that will be used to secure the secure port of the API server via token authentication.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Ordered list of plug-ins to do authorization on secure port (only RBAC, and Node,RBAC, are supported).
    #[arg(long, default_value = "RBAC", value_delimiter = ',')]
    pub authorization_mode: Vec<String>,
    /// The maximum number of non-mutating requests in flight at a given time.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// The maximum number of mutating requests in flight at a given time.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// Amount of time to retain events.
    #[arg(long, default_value = "1h", value_parser = crate::member::parse_duration)]
    pub event_ttl: Duration,
}

fn parse_duration_or_zero(value: &str) -> Result<Duration, String> {
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    crate::member::parse_duration(value)
}

impl ApiServerArgs {
    pub fn to_config(&self) -> anyhow::Result<Config> {
        for mode in &self.authorization_mode {
            if mode != "RBAC" && mode != "Node" {
                bail!("--authorization-mode: {mode} is not supported (RBAC and Node are)");
            }
        }
        let listen = SocketAddr::new(self.bind_address, self.secure_port);
        let advertise_ip =
            self.advertise_address
                .unwrap_or(if self.bind_address.is_unspecified() {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    self.bind_address
                });
        Ok(Config {
            etcd_servers: self.etcd_servers.clone(),
            etcd_tls: keel_client::TlsFiles {
                cacert: self.etcd_cafile.clone(),
                cert: self.etcd_certfile.clone(),
                key: self.etcd_keyfile.clone(),
            },
            etcd_prefix: self.etcd_prefix.clone(),
            listen,
            advertise: SocketAddr::new(advertise_ip, self.secure_port),
            tls_cert_file: self.tls_cert_file.clone(),
            tls_private_key_file: self.tls_private_key_file.clone(),
            client_ca_file: self.client_ca_file.clone(),
            token_auth_file: self.token_auth_file.clone(),
            max_requests_inflight: self.max_requests_inflight,
            max_mutating_requests_inflight: self.max_mutating_requests_inflight,
            compaction_interval: self.etcd_compaction_interval,
            event_ttl: self.event_ttl,
        })
    }
}

/// Runs the api-server until SIGINT/SIGTERM.
pub async fn run(args: ApiServerArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    tokio::select! {
        result = apiserver::run(config) => Ok(result?),
        _ = crate::member::shutdown_signal() => {
            tracing::info!("api-server stopping");
            Ok(())
        }
    }
}
