//! `keel`: run one store member (`keel store`) or a local 3-member cluster (`keel up`).

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: on the write path (a request, its Raft entry, the
/// replication and apply buffers, the response) glibc's allocator took about 13% of the
/// leader's CPU under 256 writers, with fragmentation on top (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keel",
    version,
    about = "Keel: an etcd-compatible, Raft-replicated store and a Kubernetes control plane on it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one store member (etcd's flags).
    Store(Box<keel::member::StoreArgs>),
    /// Run the Kubernetes API server on an etcd v3 store (kube-apiserver's flags).
    Apiserver(Box<keel::apiserver::ApiServerArgs>),
    /// Run a local 3-member cluster (m1, m2, m3) as child processes.
    Up(keel::up::UpArgs),
    /// Inspect a snapshot file or restore a new cluster's member from it.
    #[command(subcommand)]
    Snapshot(keel::snapshot::SnapshotCommand),
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("KEEL_LOG").unwrap_or_else(|_| {
                EnvFilter::new("info,openraft=warn,h2=warn,tower=warn,hyper=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Store(args) => keel::member::run(*args).await,
            Command::Apiserver(args) => keel::apiserver::run(*args).await,
            Command::Up(args) => keel::up::run(args).await,
            Command::Snapshot(command) => keel::snapshot::run(command).await,
        }
    })
}
