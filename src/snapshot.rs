//! `keel snapshot status|restore`: inspect a backup file and seed a new cluster's member from
//! it (etcdctl 3.4's `snapshot status|restore`, offline, on the machine of the member).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use keel_store::config::{ClusterState, MemberConfig, parse_initial_cluster};
use keel_store::snapshot_file;

use crate::ctl::{gofmt, table};

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Gets backend snapshot status of a given file.
    Status(StatusArgs),
    /// Restores a member's data dir from a backend snapshot (a new cluster).
    Restore(RestoreArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The snapshot file.
    pub file: PathBuf,
    /// Output format: simple, json or table (etcdctl's --write-out).
    #[arg(short = 'w', long = "write-out", default_value = "simple", value_parser = ["simple", "json", "table"])]
    pub write_out: String,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The snapshot file.
    pub file: PathBuf,
    /// Path to the data directory [default: ${name}.etcd].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Human-readable name for this member.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Initial cluster configuration for restore bootstrap.
    #[arg(long, default_value = "default=http://localhost:2380")]
    pub initial_cluster: String,
    /// Initial cluster token for the etcd cluster during restore bootstrap.
    #[arg(long, default_value = "etcd-cluster")]
    pub initial_cluster_token: String,
    /// List of this member's peer URLs to advertise to the rest of the cluster.
    #[arg(long, default_value = "http://localhost:2380", value_delimiter = ',')]
    pub initial_advertise_peer_urls: Vec<String>,
}

pub async fn run(command: SnapshotCommand) -> anyhow::Result<()> {
    match command {
        SnapshotCommand::Status(args) => status(&args),
        SnapshotCommand::Restore(args) => restore(&args).await,
    }
}

fn read(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read snapshot file {}", file.display()))
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let bytes = read(&args.file)?;
    let s = snapshot_file::status(&bytes)
        .with_context(|| format!("snapshot file {}", args.file.display()))?;
    let text = match args.write_out.as_str() {
        "json" => format!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}\n",
            s.hash, s.revision, s.total_keys, s.total_size
        ),
        "table" => table::render(
            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
            &[vec![
                format!("{:x}", s.hash),
                s.revision.to_string(),
                s.total_keys.to_string(),
                gofmt::humanize_bytes(s.total_size),
            ]],
        ),
        _ => format!(
            "{:x}, {}, {}, {}\n",
            s.hash,
            s.revision,
            s.total_keys,
            gofmt::humanize_bytes(s.total_size)
        ),
    };
    print!("{text}");
    Ok(())
}

async fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", args.name)));
    let mut config = MemberConfig::new(args.name.clone(), data_dir.clone());
    config.initial_cluster =
        parse_initial_cluster(&args.initial_cluster).context("bad --initial-cluster")?;
    config.initial_cluster_token = args.initial_cluster_token.clone();
    config.initial_advertise_peer_urls = args.initial_advertise_peer_urls.clone();
    config.initial_cluster_state = ClusterState::New;
    eprintln!(
        "restoring snapshot {} into {}",
        args.file.display(),
        data_dir.display()
    );
    let bytes = read(&args.file)?;
    let restored = keel_store::server::restore::restore(&bytes, &config)
        .await
        .with_context(|| format!("cannot restore {}", args.file.display()))?;
    eprintln!(
        "restored {} stored revisions at revision {} into {} (member {:x}, new cluster {:x})",
        restored.keys,
        restored.revision,
        data_dir.display(),
        restored.member_id,
        restored.cluster_id
    );
    Ok(())
}
