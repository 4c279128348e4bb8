//! `keelctl`: an etcdctl-v3.4-compatible command line client.
//!
//! This module holds the clap command definitions (same command names, flags, defaults
//! and `ETCDCTL_*` environment variables as etcdctl v3.4) and the dispatch to the command
//! implementations:
//!
//! - [`kv`]: `get`, `put`, `del`, `compaction`;
//! - [`txn`]: `txn` and its stdin syntax parser;
//! - [`watch`]: `watch`, including its interactive and exec forms;
//! - [`lease`]: `lease grant|revoke|timetolive|list|keep-alive`;
//! - [`endpoint`]: `endpoint status`, `endpoint health` and `endpoint hashkv`;
//! - [`member`]: `member add|remove|update|promote|list`;
//! - [`alarm`]: `alarm list|disarm`;
//! - [`auth`]: `auth enable|disable|status`, `user ...`, `role ...` and the `--user` login;
//! - [`maintenance`]: `defrag` and `move-leader`;
//! - [`snapshot`]: `snapshot save`;
//! - [`output`], [`table`], [`gofmt`]: etcdctl's simple/json/table/fields printers and
//!   the Go formatting they rely on;
//! - [`client`]: dialing endpoints and mapping gRPC errors to etcdctl's messages.
//!
//! Failures are reported as [`CtlError`]s carrying etcdctl's exit codes; the binary prints
//! them as `Error: <message>` on stderr.

pub mod alarm;
pub mod auth;
pub mod client;
pub mod endpoint;
pub mod gofmt;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod member;
pub mod output;
pub mod snapshot;
pub mod table;
pub mod txn;
pub mod watch;

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use client::Conn;
use output::{OutputFormat, Printed, Printer};

/// etcdctl's exit codes (`ctlv3/command/error.go`).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const BAD_CONNECTION: i32 = 2;
    pub const INVALID_INPUT: i32 = 3;
    pub const BAD_FEATURE: i32 = 4;
    pub const INTERRUPTED: i32 = 5;
    pub const IO: i32 = 6;
    pub const BAD_ARGS: i32 = 128;
}

/// A command failure: the message etcdctl prints after `Error: ` and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    pub code: i32,
    pub message: String,
    /// Exit with `code` without printing `Error: ...` (etcdctl's bare `os.Exit`, e.g.
    /// after `endpoint status` already reported the failed endpoints).
    pub silent: bool,
}

impl CtlError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CtlError {
            code,
            message: message.into(),
            silent: false,
        }
    }

    pub fn silent(code: i32) -> Self {
        CtlError {
            code,
            message: String::new(),
            silent: true,
        }
    }
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CtlError {}

/// The exit code for an error returned by [`run`]: a [`CtlError`]'s code, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<CtlError>()
        .map(|e| e.code)
        .unwrap_or(exit::ERROR)
}

/// What the binary should print on stderr for an error returned by [`run`] (`None`: print
/// nothing, just exit with [`exit_code`]).
pub fn error_message(err: &anyhow::Error) -> Option<String> {
    match err.downcast_ref::<CtlError>() {
        Some(e) if e.silent => None,
        Some(e) => Some(format!("Error: {}", e.message)),
        None => Some(format!("Error: {err:#}")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    gofmt::parse_duration(s)
}

/// A simple command line client for Keel (etcd v3 API), output-compatible with etcdctl v3.4.
#[derive(Parser, Debug)]
#[command(name = "keelctl", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// etcdctl's global flags (also read from `ETCDCTL_*` environment variables).
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// gRPC endpoints (comma-separated; `host:port` or `http://host:port`)
    #[arg(
        long,
        global = true,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,

    /// set the output format (fields, json, protobuf, simple, table)
    #[arg(
        short = 'w',
        long = "write-out",
        global = true,
        env = "ETCDCTL_WRITE_OUT",
        default_value = "simple"
    )]
    pub write_out: OutputFormat,

    /// dial timeout for client connections
    #[arg(long, global = true, env = "ETCDCTL_DIAL_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub dial_timeout: Duration,

    // No clap default: `snapshot save` is unbounded unless this is given, as in etcdctl.
    /// timeout for short running command (excluding dial timeout) [default: 5s]
    #[arg(long, global = true, env = "ETCDCTL_COMMAND_TIMEOUT", value_parser = parse_duration)]
    pub command_timeout: Option<Duration>,

    /// print byte strings as hex encoded strings
    #[arg(long, global = true, env = "ETCDCTL_HEX", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub hex: bool,

    /// username[:password] for authentication (prompt if password is not supplied)
    #[arg(long, global = true, env = "ETCDCTL_USER")]
    pub user: Option<String>,

    /// password for authentication (if this option is used, --user option shouldn't include password)
    #[arg(long, global = true, env = "ETCDCTL_PASSWORD")]
    pub password: Option<String>,

    /// verify certificates of TLS-enabled secure servers using this CA bundle
    #[arg(long, global = true, env = "ETCDCTL_CACERT")]
    pub cacert: Option<PathBuf>,

    /// identify secure client using this TLS certificate file
    #[arg(long, global = true, env = "ETCDCTL_CERT")]
    pub cert: Option<PathBuf>,

    /// identify secure client using this TLS key file
    #[arg(long, global = true, env = "ETCDCTL_KEY")]
    pub key: Option<PathBuf>,
}

/// The etcdctl commands keelctl implements.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Gets the key or a range of keys
    Get(GetArgs),
    /// Puts the given key into the store
    Put(PutArgs),
    /// Removes the specified key or range of keys [key, range_end)
    Del(DelArgs),
    /// Txn processes all the requests in one transaction
    Txn(TxnArgs),
    /// Compacts the event history in etcd
    Compaction(CompactionArgs),
    /// Watches events stream on keys or prefixes
    Watch(WatchArgs),
    /// Lease related commands
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Endpoint related commands
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Membership related commands
    #[command(subcommand)]
    Member(MemberCommand),
    /// Alarm related commands
    #[command(subcommand)]
    Alarm(AlarmCommand),
    /// Defragments the storage of the etcd members with given endpoints
    Defrag(DefragArgs),
    /// Transfers leadership to another etcd cluster member.
    MoveLeader(MoveLeaderArgs),
    /// Manages etcd node snapshots
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Enable or disable authentication
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// User related commands
    #[command(subcommand)]
    User(auth::UserCommand),
    /// Role related commands
    #[command(subcommand)]
    Role(auth::RoleCommand),
    /// Prints the version of keelctl
    Version,
}

/// `get [options] <key> [range_end]`
#[derive(Args, Debug, Clone, Default)]
pub struct GetArgs {
    /// <key> [range_end]
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,

    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: String,

    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "", hide_default_value = true)]
    pub order: String,

    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long = "sort-by", default_value = "", hide_default_value = true)]
    pub sort_by: String,

    /// Maximum number of results
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub limit: i64,

    /// Get keys with matching prefix
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub prefix: bool,

    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub from_key: bool,

    /// Specify the kv revision
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub rev: i64,

    /// Get only the keys
    #[arg(long = "keys-only", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub keys_only: bool,

    /// Get only the count (etcdctl v3.5+; printed with -w fields or json)
    #[arg(long = "count-only", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub count_only: bool,

    /// Only write values when using the "simple" output format
    #[arg(long = "print-value-only", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub print_value_only: bool,
}

/// `put [options] <key> <value>` (value read from stdin when omitted)
#[derive(Args, Debug, Clone, Default)]
pub struct PutArgs {
    /// <key> [value]
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,

    /// lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: String,

    /// return the previous key-value pair before modification
    #[arg(long = "prev-kv", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub prev_kv: bool,

    /// updates the key using its current value
    #[arg(long = "ignore-value", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub ignore_value: bool,

    /// updates the key using its current lease
    #[arg(long = "ignore-lease", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub ignore_lease: bool,
}

/// `del [options] <key> [range_end]`
#[derive(Args, Debug, Clone, Default)]
pub struct DelArgs {
    /// <key> [range_end]
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,

    /// delete keys with matching prefix
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub prefix: bool,

    /// return deleted key-value pairs
    #[arg(long = "prev-kv", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub prev_kv: bool,

    /// delete keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub from_key: bool,
}

/// `txn [options]` (requests read from stdin)
#[derive(Args, Debug, Clone, Default)]
pub struct TxnArgs {
    /// (txn takes no arguments; accepted only to report etcdctl's error)
    #[arg(hide = true)]
    pub args: Vec<String>,

    /// Input transaction in interactive mode
    #[arg(short = 'i', long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub interactive: bool,
}

/// `compaction [options] <revision>`
#[derive(Args, Debug, Clone, Default)]
pub struct CompactionArgs {
    /// <revision>
    #[arg(value_name = "REVISION", allow_negative_numbers = true)]
    pub args: Vec<String>,

    /// 'true' to wait for compaction to physically remove all old revisions
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub physical: bool,
}

/// `watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]`
#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// [key or prefix] [range_end]
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,

    /// command run for every event (after `--`), with `ETCD_WATCH_*` set
    #[arg(last = true, value_name = "EXEC")]
    pub exec: Option<Vec<OsString>>,

    /// Interactive mode
    #[arg(short = 'i', long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub interactive: bool,

    /// Watch on a prefix if prefix is set
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub prefix: bool,

    /// Revision to start watching
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub rev: i64,

    /// get the previous key-value pair before the event happens
    #[arg(long = "prev-kv", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub prev_kv: bool,

    /// get periodic watch progress notification from server (etcdctl v3.5+)
    #[arg(long = "progress-notify", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", action = ArgAction::Set)]
    pub progress_notify: bool,
}

/// `lease <subcommand>`
#[derive(Subcommand, Debug)]
pub enum LeaseCommand {
    /// Creates leases
    Grant(LeaseGrantArgs),
    /// Revokes leases
    Revoke(LeaseRevokeArgs),
    /// Get lease information
    Timetolive(LeaseTimeToLiveArgs),
    /// List all active leases
    List,
    /// Keeps leases alive (renew)
    KeepAlive(LeaseKeepAliveArgs),
}

/// `lease grant <ttl>`
#[derive(Args, Debug, Clone, Default)]
pub struct LeaseGrantArgs {
    /// <ttl> (seconds)
    #[arg(value_name = "TTL")]
    pub args: Vec<String>,
}

/// `lease revoke <leaseID>`
#[derive(Args, Debug, Clone, Default)]
pub struct LeaseRevokeArgs {
    /// <leaseID> (hex)
    #[arg(value_name = "LEASE_ID")]
    pub args: Vec<String>,
}

/// `lease timetolive [options] <leaseID>`
#[derive(Args, Debug, Clone, Default)]
pub struct LeaseTimeToLiveArgs {
    /// <leaseID> (hex)
    #[arg(value_name = "LEASE_ID")]
    pub args: Vec<String>,

    /// Get keys attached to this lease
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub keys: bool,
}

/// `lease keep-alive [options] <leaseID>`
#[derive(Args, Debug, Clone, Default)]
pub struct LeaseKeepAliveArgs {
    /// <leaseID> (hex)
    #[arg(value_name = "LEASE_ID")]
    pub args: Vec<String>,

    /// Resets the keep-alive time to its original value and exits immediately
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub once: bool,
}

/// `endpoint <subcommand>`
#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Checks the healthiness of endpoints specified in `--endpoints` flag
    Health(EndpointArgs),
    /// Prints out the status of endpoints specified in `--endpoints` flag
    Status(EndpointArgs),
    /// Prints the KV history hash for each endpoint in --endpoints
    Hashkv(EndpointHashKvArgs),
}

/// Flags shared by the `endpoint` subcommands.
#[derive(Args, Debug, Clone, Default)]
pub struct EndpointArgs {
    /// use all endpoints from the cluster member list
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub cluster: bool,
}

/// `endpoint hashkv [--rev N]`
#[derive(Args, Debug, Clone, Default)]
pub struct EndpointHashKvArgs {
    /// (ignored, as etcdctl ignores them)
    #[arg(hide = true)]
    pub args: Vec<String>,

    /// use all endpoints from the cluster member list
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub cluster: bool,

    /// maximum revision to hash (default: all revisions)
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub rev: i64,
}

/// `member <subcommand>`
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Adds a member into the cluster
    Add(MemberAddArgs),
    /// Removes a member from the cluster
    Remove(MemberIdArgs),
    /// Updates a member in the cluster
    Update(MemberUpdateArgs),
    /// Lists all members in the cluster
    List,
    /// Promotes a non-voting member in the cluster
    Promote(MemberIdArgs),
}

/// `member add <memberName> [options]`
#[derive(Args, Debug, Clone, Default)]
pub struct MemberAddArgs {
    /// <memberName>
    #[arg(value_name = "MEMBER_NAME")]
    pub args: Vec<String>,

    /// comma separated peer URLs for the new member.
    #[arg(long = "peer-urls", default_value = "", hide_default_value = true)]
    pub peer_urls: String,

    /// indicates if the new member is raft learner
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub learner: bool,
}

/// `member remove|promote <memberID>`
#[derive(Args, Debug, Clone, Default)]
pub struct MemberIdArgs {
    /// <memberID> (hex)
    #[arg(value_name = "MEMBER_ID")]
    pub args: Vec<String>,
}

/// `member update <memberID> [options]`
#[derive(Args, Debug, Clone, Default)]
pub struct MemberUpdateArgs {
    /// <memberID> (hex)
    #[arg(value_name = "MEMBER_ID")]
    pub args: Vec<String>,

    /// comma separated peer URLs for the updated member.
    #[arg(long = "peer-urls", default_value = "", hide_default_value = true)]
    pub peer_urls: String,
}

/// `alarm <subcommand>`
#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    /// Disarms all alarms
    Disarm(NoArgs),
    /// Lists all alarms
    List(NoArgs),
}

/// A command that takes no arguments (any given are accepted only to report etcdctl's
/// error).
#[derive(Args, Debug, Clone, Default)]
pub struct NoArgs {
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `defrag [options]`
#[derive(Args, Debug, Clone, Default)]
pub struct DefragArgs {
    /// (ignored, as etcdctl ignores them)
    #[arg(hide = true)]
    pub args: Vec<String>,

    /// use all endpoints from the cluster member list
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", action = ArgAction::Set)]
    pub cluster: bool,

    /// Optional. If present, defragments a data directory not in use by etcd (not supported
    /// by keelctl: Keel's data directory is not a bbolt file).
    #[arg(long = "data-dir", default_value = "", hide_default_value = true)]
    pub data_dir: String,
}

/// `move-leader <transferee-member-id>`
#[derive(Args, Debug, Clone, Default)]
pub struct MoveLeaderArgs {
    /// <transferee-member-id> (hex)
    #[arg(value_name = "TRANSFEREE_ID")]
    pub args: Vec<String>,
}

/// `snapshot <subcommand>`
#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Stores an etcd node backend snapshot to a given file
    Save(SnapshotSaveArgs),
}

/// `snapshot save <filename>`
#[derive(Args, Debug, Clone, Default)]
pub struct SnapshotSaveArgs {
    /// <filename>
    #[arg(value_name = "FILENAME")]
    pub args: Vec<OsString>,
}

/// Settings every command needs, from the global flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub endpoints: Vec<String>,
    pub format: OutputFormat,
    pub hex: bool,
    pub dial_timeout: Duration,
    pub command_timeout: Duration,
    /// Whether `--command-timeout` (or `ETCDCTL_COMMAND_TIMEOUT`) was given.
    pub command_timeout_set: bool,
    /// `--user` and `--password`: log in after connecting.
    pub user: Option<String>,
    pub password: Option<String>,
    /// `--cacert`, `--cert`, `--key`.
    pub tls: client::TlsFiles,
}

/// etcdctl's default `--command-timeout`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

impl Ctx {
    pub fn new(g: &GlobalArgs) -> Self {
        Ctx {
            endpoints: g
                .endpoints
                .iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
            format: g.write_out,
            hex: g.hex,
            dial_timeout: g.dial_timeout,
            command_timeout: g.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            command_timeout_set: g.command_timeout.is_some(),
            user: g.user.clone(),
            password: g.password.clone(),
            tls: client::TlsFiles {
                cacert: g.cacert.clone(),
                cert: g.cert.clone(),
                key: g.key.clone(),
            },
        }
    }

    pub fn printer(&self) -> Printer {
        Printer::new(self.format, self.hex)
    }

    /// Connects to the first reachable endpoint of `--endpoints`.
    pub async fn connect(&self) -> Result<Conn, CtlError> {
        let conn = client::dial_any(
            &self.endpoints,
            self.dial_timeout,
            self.command_timeout,
            &self.tls,
        )
        .await?;
        self.log_in(conn).await
    }

    /// With `--user`, authenticates on `conn` so that its requests carry the token.
    pub async fn log_in(&self, conn: Conn) -> Result<Conn, CtlError> {
        match &self.user {
            None => Ok(conn),
            Some(user) => {
                let token = auth::login(&conn, user, self.password.as_deref()).await?;
                conn.with_token(&token)
            }
        }
    }
}

/// Writes a printer's output (stdout errors such as a closed pipe are ignored, as the
/// process is about to exit anyway).
pub fn emit(p: &Printed) {
    if !p.stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&p.stdout);
        let _ = out.flush();
    }
    if !p.stderr.is_empty() {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(p.stderr.as_bytes());
        let _ = err.flush();
    }
}

/// Runs one parsed `keelctl` invocation on a fresh single-threaded runtime.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(cli))
}

/// Runs one parsed `keelctl` invocation on the caller's runtime.
pub async fn run_async(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::new(&cli.global);
    match cli.command {
        Command::Get(a) => kv::get(&ctx, &a).await?,
        Command::Put(a) => kv::put(&ctx, &a).await?,
        Command::Del(a) => kv::del(&ctx, &a).await?,
        Command::Txn(a) => txn::txn(&ctx, &a).await?,
        Command::Compaction(a) => kv::compaction(&ctx, &a).await?,
        Command::Watch(a) => watch::watch(&ctx, &a).await?,
        Command::Lease(LeaseCommand::Grant(a)) => lease::grant(&ctx, &a).await?,
        Command::Lease(LeaseCommand::Revoke(a)) => lease::revoke(&ctx, &a).await?,
        Command::Lease(LeaseCommand::Timetolive(a)) => lease::time_to_live(&ctx, &a).await?,
        Command::Lease(LeaseCommand::List) => lease::list(&ctx).await?,
        Command::Lease(LeaseCommand::KeepAlive(a)) => lease::keep_alive(&ctx, &a).await?,
        Command::Endpoint(EndpointCommand::Health(a)) => endpoint::health(&ctx, &a).await?,
        Command::Endpoint(EndpointCommand::Status(a)) => endpoint::status(&ctx, &a).await?,
        Command::Endpoint(EndpointCommand::Hashkv(a)) => endpoint::hashkv(&ctx, &a).await?,
        Command::Member(MemberCommand::Add(a)) => member::add(&ctx, &a).await?,
        Command::Member(MemberCommand::Remove(a)) => member::remove(&ctx, &a).await?,
        Command::Member(MemberCommand::Update(a)) => member::update(&ctx, &a).await?,
        Command::Member(MemberCommand::List) => member::list(&ctx).await?,
        Command::Member(MemberCommand::Promote(a)) => member::promote(&ctx, &a).await?,
        Command::Alarm(AlarmCommand::List(a)) => alarm::list(&ctx, &a).await?,
        Command::Alarm(AlarmCommand::Disarm(a)) => alarm::disarm(&ctx, &a).await?,
        Command::Defrag(a) => maintenance::defrag(&ctx, &a).await?,
        Command::MoveLeader(a) => maintenance::move_leader(&ctx, &a).await?,
        Command::Snapshot(SnapshotCommand::Save(a)) => snapshot::save(&ctx, &a).await?,
        Command::Auth(c) => auth::auth(&ctx, &c).await?,
        Command::User(c) => auth::user(&ctx, &c).await?,
        Command::Role(c) => auth::role(&ctx, &c).await?,
        Command::Version => {
            let text = format!(
                "keelctl version: {}\nAPI version: 3.4\n",
                env!("CARGO_PKG_VERSION")
            );
            emit(&Printed::from(text.into_bytes()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn watch_and_lease_parse() {
        let cli = Cli::try_parse_from([
            "keelctl", "watch", "foo", "--prefix", "--rev", "3", "--", "echo", "--prefix",
        ])
        .ok();
        match cli.map(|c| c.command) {
            Some(Command::Watch(w)) => {
                assert!(w.prefix && !w.interactive);
                assert_eq!(w.rev, 3);
                assert_eq!(w.args, vec![OsString::from("foo")]);
                assert_eq!(
                    w.exec,
                    Some(vec![OsString::from("echo"), OsString::from("--prefix")])
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from(["keelctl", "watch", "-i"]).ok();
        assert!(matches!(cli.map(|c| c.command), Some(Command::Watch(w)) if w.interactive));
        let cli = Cli::try_parse_from(["keelctl", "lease", "keep-alive", "--once", "abc"]).ok();
        assert!(matches!(
            cli.map(|c| c.command),
            Some(Command::Lease(LeaseCommand::KeepAlive(k))) if k.once && k.args == ["abc"]
        ));
    }

    #[test]
    fn global_flags_work_anywhere() {
        let cli = Cli::try_parse_from([
            "keelctl",
            "get",
            "foo",
            "--prefix",
            "-w",
            "json",
            "--endpoints",
            "a:1,b:2",
        ])
        .ok();
        let cli = cli.as_ref();
        assert_eq!(cli.map(|c| c.global.write_out), Some(OutputFormat::Json));
        assert_eq!(
            cli.map(|c| c.global.endpoints.clone()),
            Some(vec!["a:1".to_string(), "b:2".to_string()])
        );
        match cli.map(|c| &c.command) {
            Some(Command::Get(g)) => {
                assert!(g.prefix);
                assert_eq!(g.args, vec![OsString::from("foo")]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn cluster_commands_parse() {
        let cli = Cli::try_parse_from([
            "keelctl",
            "member",
            "add",
            "e4",
            "--peer-urls=http://a:1,http://b:2",
            "--learner",
        ])
        .ok();
        assert!(matches!(
            cli.map(|c| c.command),
            Some(Command::Member(MemberCommand::Add(a)))
                if a.learner && a.args == ["e4"] && a.peer_urls == "http://a:1,http://b:2"
        ));
        let cli =
            Cli::try_parse_from(["keelctl", "endpoint", "hashkv", "--rev", "3", "--cluster"]).ok();
        assert!(matches!(
            cli.map(|c| c.command),
            Some(Command::Endpoint(EndpointCommand::Hashkv(h))) if h.rev == 3 && h.cluster
        ));
        let cli = Cli::try_parse_from(["keelctl", "alarm", "disarm", "x"]).ok();
        assert!(matches!(
            cli.map(|c| c.command),
            Some(Command::Alarm(AlarmCommand::Disarm(a))) if a.args == ["x"]
        ));
    }

    #[test]
    fn command_timeout_default_and_explicit() {
        let Ok(cli) = Cli::try_parse_from(["keelctl", "snapshot", "save", "x.db"]) else {
            panic!("snapshot save does not parse")
        };
        let ctx = Ctx::new(&cli.global);
        assert_eq!(ctx.command_timeout, DEFAULT_COMMAND_TIMEOUT);
        assert!(!ctx.command_timeout_set);
        let Ok(cli) =
            Cli::try_parse_from(["keelctl", "--command-timeout", "1m", "move-leader", "1"])
        else {
            panic!("move-leader does not parse")
        };
        let ctx = Ctx::new(&cli.global);
        assert_eq!(ctx.command_timeout, Duration::from_secs(60));
        assert!(ctx.command_timeout_set);
    }
}
