//! `watch`: streams the events on a key, range or prefix, as etcdctl v3.4's
//! `watch_command.go` does, on one bidirectional `Watch` stream.
//!
//! - `watch [--prefix] [--rev N] [--prev-kv] [--progress-notify] KEY [RANGE_END]`: prints
//!   every response with etcdctl's watch printer until the server cancels the watch, then
//!   fails with `watch is canceled by the server` (exit code 5). A canceled response
//!   (e.g. a compacted start revision) is reported first on stderr as
//!   `watch was canceled (<reason>)`; progress notifications as `progress notify: <rev>`.
//! - `watch KEY -- CMD ARGS...`: also runs `CMD` for every event, with `ETCD_WATCH_REVISION`,
//!   `ETCD_WATCH_EVENT_TYPE`, `ETCD_WATCH_KEY` and `ETCD_WATCH_VALUE` set (Go-quoted); a
//!   failing command ends keelctl with `command [..] error (..)` and exit code 1.
//! - `watch -i`: reads `watch [flags] KEY [RANGE_END] [-- CMD..]` and `progress` lines
//!   from stdin (split as etcdctl's `Argify`, flags parsed as pflag would), each `watch`
//!   adding a watch to the stream; invalid lines are reported on stderr and skipped; the
//!   end of stdin ends keelctl (`Error reading watch request line: EOF`, exit code 3).
//! - `ETCDCTL_WATCH_KEY` / `ETCDCTL_WATCH_RANGE_END` supply the key and range end.
//!
//! The client side follows clientv3's watcher: creates are sent one at a time (a
//! `created` response belongs to the oldest outstanding create), `created` responses are
//! not shown, progress responses with watch id -1 go to every watch, and a stream broken
//! by an `Unavailable`/`Internal` error is reopened and every watch resumed after the last
//! revision it saw. Other stream errors close every watch with that error.
//!
//! `--progress-notify` is etcdctl v3.5's flag (v3.4 lacks it); as in v3.5 it applies to
//! the command line's watch and, in interactive mode, to every watch (lines may name it,
//! but, as in etcdctl, without effect).

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead as _, Write as _};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use keel_proto::etcdserverpb::{
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
    watch_request,
};
use keel_proto::mvccpb::Event;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status, Streaming};

use super::client::{self, Conn};
use super::output::{Printer, WatchResp};
use super::{CtlError, Ctx, WatchArgs, emit, exit, gofmt, kv, txn};

const ERR_BAD_ARGS_NUM: &str = "bad number of arguments";
const ERR_BAD_ARGS_NUM_CONFLICT_ENV: &str =
    "bad number of arguments (found conflicting environment key)";
const ERR_BAD_ARGS_NUM_SEPARATOR: &str =
    "bad number of arguments (found separator --, but no commands)";
const ERR_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const ERR_FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";
const ERR_NO_LEADER: &str = "etcdserver: no leader";

/// One watch: the create request and the command to run for each of its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchSpec {
    pub create: WatchCreateRequest,
    pub exec: Vec<OsString>,
}

/// The watch options etcdctl keeps in globals (`watchPrefix`, `watchRev`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchFlags {
    pub prefix: bool,
    pub rev: i64,
    pub prev_kv: bool,
    pub progress_notify: bool,
}

fn bad_args(msg: impl Into<String>) -> CtlError {
    CtlError::new(exit::BAD_ARGS, msg)
}

/// etcdctl's `getWatchChan`: the create request for `KEY [RANGE_END]` (further
/// arguments are ignored, as in etcdctl).
pub fn create_request(args: &[Vec<u8>], f: &WatchFlags) -> Result<WatchCreateRequest, String> {
    let Some(key) = args.first() else {
        return Err(ERR_BAD_ARGS_NUM.to_string());
    };
    let mut req = WatchCreateRequest {
        key: key.clone(),
        start_revision: f.rev,
        prev_kv: f.prev_kv,
        progress_notify: f.progress_notify,
        ..Default::default()
    };
    if args.len() == 2 {
        if f.prefix {
            return Err("`range_end` and `--prefix` are mutually exclusive".to_string());
        }
        req.range_end = args[1].clone();
    }
    if f.prefix {
        // clientv3.WithPrefix: an empty prefix watches every key.
        if req.key.is_empty() {
            req.key = vec![0];
            req.range_end = vec![0];
        } else {
            req.range_end = kv::prefix_range_end(&req.key);
        }
    }
    Ok(req)
}

/// `ETCDCTL_WATCH_KEY` and `ETCDCTL_WATCH_RANGE_END` as the arguments they stand for.
fn env_args(env_key: &[u8], env_range: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    if !env_key.is_empty() {
        v.push(env_key.to_vec());
        if !env_range.is_empty() {
            v.push(env_range.to_vec());
        }
    }
    v
}

/// etcdctl's check that `ETCDCTL_WATCH_RANGE_END` comes with `ETCDCTL_WATCH_KEY`.
pub fn check_env(env_key: &[u8], env_range: &[u8]) -> Result<(), CtlError> {
    if env_key.is_empty() && !env_range.is_empty() {
        return Err(bad_args(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
            gofmt::quote(env_range)
        )));
    }
    Ok(())
}

/// etcdctl's `parseWatchArgs` and `getWatchChan` for the command line (not interactive).
pub fn spec_from_args(
    a: &WatchArgs,
    env_key: &[u8],
    env_range: &[u8],
) -> Result<WatchSpec, CtlError> {
    let exec = a.exec.clone();
    let positional: Vec<Vec<u8>> = a.args.iter().map(|s| s.as_bytes().to_vec()).collect();
    if exec.as_ref().is_some_and(|e| e.is_empty()) {
        return Err(bad_args(ERR_BAD_ARGS_NUM_SEPARATOR));
    }
    if exec.is_none() && positional.is_empty() && env_key.is_empty() {
        return Err(bad_args(ERR_BAD_ARGS_NUM));
    }
    if !env_key.is_empty() && !positional.is_empty() {
        return Err(bad_args(ERR_BAD_ARGS_NUM_CONFLICT_ENV));
    }
    let mut args = env_args(env_key, env_range);
    args.extend(positional);
    let flags = WatchFlags {
        prefix: a.prefix,
        rev: a.rev,
        prev_kv: a.prev_kv,
        progress_notify: a.progress_notify,
    };
    let create = create_request(&args, &flags).map_err(bad_args)?;
    Ok(WatchSpec {
        create,
        exec: exec.unwrap_or_default(),
    })
}

/// What one line of interactive input asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum LineCmd {
    Watch(WatchSpec),
    Progress,
    /// A message for stderr (newline included); the session goes on.
    Invalid(Vec<u8>),
}

fn invalid(line: &[u8], sep: &str, why: &str) -> LineCmd {
    let mut m = format!("Invalid command{sep}").into_bytes();
    m.extend_from_slice(line);
    m.extend_from_slice(format!(" ({why})\n").as_bytes());
    LineCmd::Invalid(m)
}

/// Parses one interactive line (without its `\n`) as etcdctl's `watchInteractiveFunc`:
/// errors are the ones etcdctl exits on; lines it merely complains about are
/// [`LineCmd::Invalid`]. `progress_notify` is the command line's `--progress-notify`.
pub fn parse_line(
    line: &[u8],
    env_key: &[u8],
    env_range: &[u8],
    progress_notify: bool,
) -> Result<LineCmd, CtlError> {
    let args = txn::argify(line)?;
    let Some(first) = args.first() else {
        return Ok(invalid(line, ": ", "watch and progress supported"));
    };
    match first.as_slice() {
        b"watch" => {}
        b"progress" => return Ok(LineCmd::Progress),
        _ => return Ok(invalid(line, " ", "only support watch")),
    }
    if args.len() < 2 && env_key.is_empty() {
        return Ok(invalid(line, " ", "command type or key is not provided"));
    }
    // parseWatchArgs, interactive.
    let words = &args[1..];
    let sep = words.iter().position(|w| w == b"--");
    if sep.is_some_and(|i| i + 1 == words.len()) {
        return Err(bad_args(ERR_BAD_ARGS_NUM_SEPARATOR));
    }
    let (mut flags, mut positional) = parse_flags(words).map_err(bad_args)?;
    if sep.is_none() {
        if env_key.is_empty() && positional.is_empty() {
            return Err(bad_args(ERR_BAD_ARGS_NUM));
        }
        if !env_key.is_empty() && !positional.is_empty() {
            return Err(bad_args(ERR_BAD_ARGS_NUM_CONFLICT_ENV));
        }
    }
    let exec: Vec<Vec<u8>> = match sep {
        Some(i) => words[i + 1..].to_vec(),
        None => Vec::new(),
    };
    let mut watch_args = env_args(env_key, env_range);
    watch_args.append(&mut positional);
    if let Some(first_exec) = exec.first()
        && let Some(end) = watch_args.iter().rposition(|w| w == first_exec)
    {
        watch_args.truncate(end);
    }
    flags.progress_notify = progress_notify;
    match create_request(&watch_args, &flags) {
        Ok(create) => Ok(LineCmd::Watch(WatchSpec {
            create,
            exec: exec.into_iter().map(OsString::from_vec).collect(),
        })),
        Err(why) => Ok(invalid(line, " ", &why)),
    }
}

/// The flags of etcdctl's watch command as pflag parses them (interspersed with
/// arguments; `--` ends them). Returns the flags and the remaining arguments (including
/// those after `--`), or pflag's error message.
pub fn parse_flags(words: &[Vec<u8>]) -> Result<(WatchFlags, Vec<Vec<u8>>), String> {
    let mut f = WatchFlags::default();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        if w.len() < 2 || w[0] != b'-' {
            rest.push(w.clone());
            continue;
        }
        if w[1] == b'-' {
            if w.len() == 2 {
                rest.extend_from_slice(&words[i..]);
                break;
            }
            let s = String::from_utf8_lossy(w).into_owned();
            let body = &s[2..];
            if body.starts_with('-') || body.starts_with('=') {
                return Err(format!("bad flag syntax: {s}"));
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let is_bool = match name {
                "interactive" | "prefix" | "prev-kv" | "progress-notify" => true,
                "rev" => false,
                "help" => return Err("pflag: help requested".to_string()),
                _ => return Err(format!("unknown flag: --{name}")),
            };
            let value = match inline {
                Some(v) => v,
                None if is_bool => "true".to_string(),
                None => match words.get(i) {
                    Some(v) => {
                        i += 1;
                        String::from_utf8_lossy(v).into_owned()
                    }
                    None => return Err(format!("flag needs an argument: {s}")),
                },
            };
            set_flag(&mut f, name, &value)?;
        } else {
            // Shorthands: only `-i` (a bool) exists.
            let s = String::from_utf8_lossy(w).into_owned();
            let mut shorts = &s[1..];
            while let Some(c) = shorts.chars().next() {
                let after = &shorts[c.len_utf8()..];
                match c {
                    'i' => {
                        if let Some(v) = after.strip_prefix('=').filter(|v| !v.is_empty()) {
                            set_flag(&mut f, "interactive", v)?;
                            shorts = "";
                        } else {
                            shorts = after;
                        }
                    }
                    'h' => return Err("pflag: help requested".to_string()),
                    _ => {
                        return Err(format!(
                            "unknown shorthand flag: {} in -{shorts}",
                            go_quote_rune(c)
                        ));
                    }
                }
            }
        }
    }
    Ok((f, rest))
}

fn set_flag(f: &mut WatchFlags, name: &str, value: &str) -> Result<(), String> {
    let flag_name = if name == "interactive" {
        "-i, --interactive".to_string()
    } else {
        format!("--{name}")
    };
    let wrap = |e: String| {
        format!(
            "invalid argument {} for {} flag: {e}",
            gofmt::quote(value.as_bytes()),
            gofmt::quote(flag_name.as_bytes())
        )
    };
    match name {
        "rev" => f.rev = parse_int_base0(value).map_err(wrap)?,
        _ => {
            let b = parse_bool(value).map_err(wrap)?;
            match name {
                "prefix" => f.prefix = b,
                "prev-kv" => f.prev_kv = b,
                "progress-notify" => f.progress_notify = b,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            gofmt::quote(s.as_bytes())
        )),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` (base from the prefix: `0x`, `0o`, `0b`, `0`).
fn parse_int_base0(s: &str) -> Result<i64, String> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'+' | b'-') => s.split_at(1),
        _ => ("", s),
    };
    let lower = body.to_ascii_lowercase();
    let (base, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    // Base 0 allows underscores between digits.
    let digits = if digits.contains('_') && !digits.starts_with('_') && !digits.ends_with('_') {
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    gofmt::parse_int(&format!("{sign}{digits}"), base).map_err(|e| {
        let kind = if e.ends_with("value out of range") {
            "value out of range"
        } else {
            "invalid syntax"
        };
        format!(
            "strconv.ParseInt: parsing {}: {kind}",
            gofmt::quote(s.as_bytes())
        )
    })
}

/// Go's `%q` of a rune.
fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '\\' => "'\\\\'".to_string(),
        c if c.is_ascii_graphic() || c == ' ' || (!c.is_ascii() && !c.is_control()) => {
            format!("'{c}'")
        }
        c if (c as u32) < 0x80 => format!("'\\x{:02x}'", c as u32),
        c => format!("'\\u{:04x}'", c as u32),
    }
}

// ---------------------------------------------------------------- the command

/// `keelctl watch`.
pub async fn watch(ctx: &Ctx, a: &WatchArgs) -> Result<(), CtlError> {
    let env_key = std::env::var_os("ETCDCTL_WATCH_KEY").unwrap_or_default();
    let env_range = std::env::var_os("ETCDCTL_WATCH_RANGE_END").unwrap_or_default();
    let (env_key, env_range) = (env_key.as_bytes(), env_range.as_bytes());
    check_env(env_key, env_range)?;
    let printer = ctx.printer();

    if a.interactive {
        let conn = ctx.connect().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        spawn_stdin_reader(tx, env_key.to_vec(), env_range.to_vec(), a.progress_notify);
        let mut w = Watcher::new(conn, printer, true);
        return w.run(Some(rx)).await;
    }

    let mut a = a.clone();
    if a.exec.is_none() && separator_ends_command_line() {
        a.exec = Some(Vec::new());
    }
    let spec = spec_from_args(&a, env_key, env_range)?;
    let conn = ctx.connect().await?;
    let mut w = Watcher::new(conn, printer, false);
    w.add(spec);
    w.run(None).await
}

/// Whether the process's command line ends with a `--` after `watch` (clap drops a
/// trailing `--`; etcdctl, which also looks at `os.Args` for it, rejects it).
fn separator_ends_command_line() -> bool {
    let raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    raw.last().is_some_and(|a| a == "--") && raw.iter().any(|a| a == "watch")
}

/// A request from the interactive reader.
enum Cmd {
    Watch(WatchSpec),
    Progress,
}

/// Reads interactive lines on a plain thread (a blocked read must not hold up the exit)
/// and hands the parsed commands, or the error that ends the session, to the watcher.
fn spawn_stdin_reader(
    tx: mpsc::UnboundedSender<Result<Cmd, CtlError>>,
    env_key: Vec<u8>,
    env_range: Vec<u8>,
    progress_notify: bool,
) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = Vec::new();
            let read = input.read_until(b'\n', &mut line);
            let fail = |msg: String| {
                let _ = tx.send(Err(CtlError::new(
                    exit::INVALID_INPUT,
                    format!("Error reading watch request line: {msg}"),
                )));
            };
            match read {
                Ok(_) if line.ends_with(b"\n") => {
                    line.pop();
                }
                Ok(_) => return fail("EOF".to_string()),
                Err(e) => return fail(e.to_string()),
            }
            let cmd = match parse_line(&line, &env_key, &env_range, progress_notify) {
                Ok(LineCmd::Invalid(msg)) => {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(&msg);
                    let _ = err.flush();
                    continue;
                }
                Ok(LineCmd::Watch(spec)) => Ok(Cmd::Watch(spec)),
                Ok(LineCmd::Progress) => Ok(Cmd::Progress),
                Err(e) => Err(e),
            };
            let fatal = cmd.is_err();
            if tx.send(cmd).is_err() || fatal {
                return;
            }
        }
    });
}

/// One watch on the stream.
struct Sub {
    /// The create request; its start revision is advanced past what was delivered, so
    /// that a resumed watch continues where it stopped.
    create: WatchCreateRequest,
    /// The watch's printer task.
    out: mpsc::UnboundedSender<WatchResp>,
    /// The server's watch id, once created.
    id: Option<i64>,
}

struct Stream {
    tx: mpsc::UnboundedSender<WatchRequest>,
    rx: Streaming<WatchResponse>,
}

/// clientv3's watch stream: all watches of one keelctl process share it.
struct Watcher {
    conn: Conn,
    printer: Printer,
    interactive: bool,
    subs: HashMap<u64, Sub>,
    next_key: u64,
    by_id: HashMap<i64, u64>,
    /// Watches waiting for their create request to be sent, oldest first.
    pending: VecDeque<u64>,
    /// The watch whose create was sent and is waiting for `created`.
    in_flight: Option<u64>,
    stream: Option<Stream>,
    /// A fragmented response being reassembled.
    fragment: Option<WatchResponse>,
    canceled_ids: HashSet<i64>,
    retry_at: Option<Instant>,
    backoff: Duration,
    tasks: JoinSet<Result<(), CtlError>>,
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

fn request(u: watch_request::RequestUnion) -> WatchRequest {
    WatchRequest {
        request_union: Some(u),
    }
}

/// clientv3's `isHaltErr` (plus its special case for a lost leader): everything but
/// `Unavailable` and `Internal` ends the stream for good. A connection lost under the
/// stream (which tonic reports as `Unknown` with the transport error as its source;
/// grpc-go as `Unavailable`) is transient too.
pub fn halts(status: &Status) -> bool {
    if status.message() == ERR_NO_LEADER {
        return true;
    }
    let transient = matches!(status.code(), Code::Unavailable | Code::Internal)
        || std::error::Error::source(status).is_some();
    !transient
}

impl Watcher {
    fn new(conn: Conn, printer: Printer, interactive: bool) -> Self {
        Watcher {
            conn,
            printer,
            interactive,
            subs: HashMap::new(),
            next_key: 0,
            by_id: HashMap::new(),
            pending: VecDeque::new(),
            in_flight: None,
            stream: None,
            fragment: None,
            canceled_ids: HashSet::new(),
            retry_at: None,
            backoff: MIN_BACKOFF,
            tasks: JoinSet::new(),
        }
    }

    /// Adds a watch (its create request goes out when the stream is free).
    fn add(&mut self, spec: WatchSpec) {
        let (tx, rx) = mpsc::unbounded_channel();
        let key = self.next_key;
        self.next_key += 1;
        self.subs.insert(
            key,
            Sub {
                create: spec.create,
                out: tx,
                id: None,
            },
        );
        self.pending.push_back(key);
        self.tasks.spawn(print_watch(rx, self.printer, spec.exec));
        if self.stream.is_some() && self.in_flight.is_none() {
            self.send_next_create();
        }
    }

    async fn run(
        &mut self,
        mut cmds: Option<mpsc::UnboundedReceiver<Result<Cmd, CtlError>>>,
    ) -> Result<(), CtlError> {
        loop {
            if !self.interactive && self.subs.is_empty() && self.tasks.is_empty() {
                return Err(CtlError::new(
                    exit::INTERRUPTED,
                    "watch is canceled by the server",
                ));
            }
            if self.stream.is_none()
                && !self.pending.is_empty()
                && self.retry_at.is_none_or(|t| t <= Instant::now())
            {
                self.open().await;
                continue;
            }
            let retry_at = self.retry_at;
            tokio::select! {
                Some(done) = self.tasks.join_next() => match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(e) => return Err(CtlError::new(exit::ERROR, e.to_string())),
                },
                cmd = recv_cmd(&mut cmds) => match cmd {
                    Some(Ok(Cmd::Watch(spec))) => self.add(spec),
                    Some(Ok(Cmd::Progress)) => self.send(request(
                        watch_request::RequestUnion::ProgressRequest(WatchProgressRequest {}),
                    )),
                    Some(Err(e)) => return Err(e),
                    None => cmds = None,
                },
                msg = next_message(&mut self.stream) => match msg {
                    Ok(Some(resp)) => self.on_response(resp),
                    // grpc-go reports a stream the server ended as io.EOF, a halting error.
                    Ok(None) => self.close_all("EOF".to_string()),
                    Err(status) => self.stream_failed(&status),
                },
                _ = sleep_until(retry_at), if retry_at.is_some() && self.stream.is_none() => {
                    self.retry_at = None;
                }
            }
        }
    }

    /// Opens the stream with the oldest pending create as its first message.
    async fn open(&mut self) {
        let Some(key) = self.pending.pop_front() else {
            return;
        };
        let Some(sub) = self.subs.get(&key) else {
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(request(watch_request::RequestUnion::CreateRequest(
            sub.create.clone(),
        )));
        self.in_flight = Some(key);
        let mut req = self.conn.stream_request(UnboundedReceiverStream::new(rx));
        // clientv3.WithRequireLeader, as etcdctl watches with it.
        req.metadata_mut()
            .insert("hasleader", MetadataValue::from_static("true"));
        match self.conn.watch().watch(req).await {
            Ok(resp) => {
                self.stream = Some(Stream {
                    tx,
                    rx: resp.into_inner(),
                });
            }
            Err(status) => self.stream_failed(&status),
        }
    }

    fn send(&mut self, req: WatchRequest) {
        if let Some(s) = &self.stream
            && s.tx.send(req).is_err()
        {
            self.stream_failed(&Status::unavailable("watch stream closed"));
        }
    }

    fn send_next_create(&mut self) {
        while let Some(key) = self.pending.pop_front() {
            if let Some(sub) = self.subs.get(&key) {
                let create = sub.create.clone();
                self.in_flight = Some(key);
                self.send(request(watch_request::RequestUnion::CreateRequest(create)));
                return;
            }
        }
    }

    fn stream_failed(&mut self, status: &Status) {
        if halts(status) {
            self.close_all(client::status_message(status));
            return;
        }
        tracing::debug!(error = %status, "watch stream failed, resuming");
        // Resume every watch on a new stream, in creation order.
        self.stream = None;
        self.fragment = None;
        self.by_id.clear();
        self.in_flight = None;
        let mut keys: Vec<u64> = self.subs.keys().copied().collect();
        keys.sort_unstable();
        for k in &keys {
            if let Some(sub) = self.subs.get_mut(k) {
                sub.id = None;
            }
        }
        self.pending = keys.into();
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Ends the stream and every watch on it with `err` (clientv3's `closeErr`).
    fn close_all(&mut self, err: String) {
        self.stream = None;
        self.fragment = None;
        self.by_id.clear();
        self.pending.clear();
        self.in_flight = None;
        for (_, sub) in self.subs.drain() {
            let _ = sub.out.send(closed_response(err.clone()));
        }
    }

    fn on_response(&mut self, resp: WatchResponse) {
        self.backoff = MIN_BACKOFF;
        // Reassemble fragments (clientv3 does; etcdctl never asks for them).
        let resp = match self.fragment.take() {
            Some(mut cur) if cur.watch_id == resp.watch_id && !resp.created && !resp.canceled => {
                cur.events.extend(resp.events);
                cur.fragment = resp.fragment;
                cur
            }
            _ => resp,
        };
        if resp.fragment && !resp.created && !resp.canceled {
            self.fragment = Some(resp);
            return;
        }

        if resp.created {
            self.on_created(&resp);
            self.send_next_create();
            return;
        }
        if resp.canceled && resp.compact_revision == 0 {
            // The server dropped the watch: close it (as clientv3 v3.5+ does).
            if let Some(key) = self.by_id.remove(&resp.watch_id) {
                self.subs.remove(&key);
            }
            return;
        }

        let wr = to_watch_resp(&resp);
        if wr.is_progress_notify() && resp.watch_id == -1 {
            for sub in self.subs.values_mut().filter(|s| s.id.is_some()) {
                advance(&mut sub.create, &wr);
                let _ = sub.out.send(wr.clone());
            }
            return;
        }
        let Some(&key) = self.by_id.get(&resp.watch_id) else {
            // A response for a watch we do not know: cancel it once, as clientv3 does.
            if self.canceled_ids.insert(resp.watch_id) {
                self.send(request(watch_request::RequestUnion::CancelRequest(
                    WatchCancelRequest {
                        watch_id: resp.watch_id,
                    },
                )));
            }
            return;
        };
        let done = wr.compact_revision != 0 || wr.canceled;
        if let Some(sub) = self.subs.get_mut(&key) {
            advance(&mut sub.create, &wr);
            let _ = sub.out.send(wr);
        }
        if done {
            self.by_id.remove(&resp.watch_id);
            self.subs.remove(&key);
        }
    }

    fn on_created(&mut self, resp: &WatchResponse) {
        let Some(key) = self.in_flight.take() else {
            return;
        };
        if resp.watch_id == -1 || (resp.canceled && !resp.cancel_reason.is_empty()) {
            // The create failed: clientv3 closes that watch with the reason.
            if let Some(sub) = self.subs.remove(&key) {
                let _ = sub.out.send(closed_response(resp.cancel_reason.clone()));
            }
            return;
        }
        if let Some(sub) = self.subs.get_mut(&key) {
            sub.id = Some(resp.watch_id);
            if sub.create.start_revision == 0 {
                // A watch from "now" resumes after the revision it was created at.
                let rev = resp.header.map(|h| h.revision).unwrap_or(0);
                if rev > 0 {
                    sub.create.start_revision = rev + 1;
                }
            }
            self.by_id.insert(resp.watch_id, key);
        }
    }
}

/// Moves a watch's resume point past what `wr` delivered.
fn advance(create: &mut WatchCreateRequest, wr: &WatchResp) {
    let last_event = wr
        .events
        .as_ref()
        .and_then(|e| e.last())
        .and_then(|e| e.kv.as_ref())
        .map(|kv| kv.mod_revision);
    let next = match last_event {
        Some(rev) => rev + 1,
        None if wr.header.revision > 0 => wr.header.revision + 1,
        None => return,
    };
    if next > create.start_revision {
        create.start_revision = next;
    }
}

fn to_watch_resp(r: &WatchResponse) -> WatchResp {
    WatchResp {
        header: r.header.unwrap_or_default(),
        events: Some(r.events.clone()),
        compact_revision: r.compact_revision,
        canceled: r.canceled,
        created: r.created,
        cancel_reason: r.cancel_reason.clone(),
        close_err: None,
    }
}

/// The response clientv3 makes up for a watch it closes with an error.
fn closed_response(err: String) -> WatchResp {
    WatchResp {
        canceled: true,
        close_err: Some(err),
        ..Default::default()
    }
}

/// clientv3's `WatchResponse.Err()` text.
pub fn watch_err(r: &WatchResp) -> String {
    if let Some(e) = &r.close_err {
        return e.clone();
    }
    if r.compact_revision != 0 {
        return ERR_COMPACTED.to_string();
    }
    if r.canceled && !r.cancel_reason.is_empty() {
        return client::status_message(&Status::new(
            Code::FailedPrecondition,
            r.cancel_reason.clone(),
        ));
    }
    ERR_FUTURE_REV.to_string()
}

async fn recv_cmd(
    cmds: &mut Option<mpsc::UnboundedReceiver<Result<Cmd, CtlError>>>,
) -> Option<Result<Cmd, CtlError>> {
    match cmds {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_message(stream: &mut Option<Stream>) -> Result<Option<WatchResponse>, Status> {
    match stream {
        Some(s) => s.rx.message().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// etcdctl's `printWatchCh` for one watch.
async fn print_watch(
    mut rx: mpsc::UnboundedReceiver<WatchResp>,
    printer: Printer,
    exec: Vec<OsString>,
) -> Result<(), CtlError> {
    while let Some(r) = rx.recv().await {
        if r.canceled {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "watch was canceled ({})", watch_err(&r));
            let _ = err.flush();
        }
        if r.is_progress_notify() {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "progress notify: {}", r.header.revision);
            let _ = out.flush();
        }
        emit(&printer.watch(&r)?);
        if !exec.is_empty() {
            for ev in r.events.iter().flatten() {
                run_exec(&exec, r.header.revision, ev).await?;
            }
        }
    }
    Ok(())
}

/// Runs the `--` command for one event; a failure ends keelctl as etcdctl's `os.Exit(1)`.
async fn run_exec(exec: &[OsString], rev: i64, ev: &Event) -> Result<(), CtlError> {
    let kv = ev.kv.clone().unwrap_or_default();
    let event_type = match keel_proto::mvccpb::event::EventType::try_from(ev.r#type) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => ev.r#type.to_string(),
    };
    let Some((name, args)) = exec.split_first() else {
        return Ok(());
    };
    let result = match resolve_program(name) {
        Err(e) => Err(e),
        Ok(program) => {
            let status = tokio::process::Command::new(&program)
                .args(args)
                .env("ETCD_WATCH_REVISION", rev.to_string())
                .env("ETCD_WATCH_EVENT_TYPE", gofmt::quote(event_type.as_bytes()))
                .env(
                    "ETCD_WATCH_KEY",
                    OsString::from_vec(gofmt::quote(&kv.key).into_bytes()),
                )
                .env(
                    "ETCD_WATCH_VALUE",
                    OsString::from_vec(gofmt::quote(&kv.value).into_bytes()),
                )
                .stdin(Stdio::null())
                .status()
                .await;
            match status {
                Ok(st) if st.success() => Ok(()),
                Ok(st) => Err(go_exit_error(st)),
                Err(e) => Err(format!(
                    "fork/exec {}: {}",
                    program.to_string_lossy(),
                    go_errno(&e)
                )),
            }
        }
    };
    let Err(why) = result else {
        return Ok(());
    };
    let quoted: Vec<String> = exec.iter().map(|a| gofmt::quote(a.as_bytes())).collect();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "command [{}] error ({why})", quoted.join(" "));
    let _ = err.flush();
    Err(CtlError::silent(exit::ERROR))
}

/// Go's `exec.LookPath` for names without a slash.
fn resolve_program(name: &OsString) -> Result<PathBuf, String> {
    if name.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(name);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(format!(
        "exec: {}: executable file not found in $PATH",
        gofmt::quote(name.as_bytes())
    ))
}

/// Go's `*exec.ExitError` text: `exit status N` or `signal: killed`.
fn go_exit_error(st: std::process::ExitStatus) -> String {
    if let Some(code) = st.code() {
        return format!("exit status {code}");
    }
    let sig = st.signal().unwrap_or(0);
    let name = match sig {
        1 => "hangup".to_string(),
        2 => "interrupt".to_string(),
        3 => "quit".to_string(),
        4 => "illegal instruction".to_string(),
        5 => "trace/breakpoint trap".to_string(),
        6 => "aborted".to_string(),
        7 => "bus error".to_string(),
        8 => "floating point exception".to_string(),
        9 => "killed".to_string(),
        10 => "user defined signal 1".to_string(),
        11 => "segmentation fault".to_string(),
        12 => "user defined signal 2".to_string(),
        13 => "broken pipe".to_string(),
        14 => "alarm clock".to_string(),
        15 => "terminated".to_string(),
        n => format!("signal {n}"),
    };
    let core = if st.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {name}{core}")
}

/// Go's `syscall.Errno` text (the C library's message, lower-cased as Go spells it).
fn go_errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let desc = nix::errno::Errno::from_raw(n).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => desc.to_string(),
            }
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn watch_line(line: &str) -> Option<WatchSpec> {
        match parse_line(line.as_bytes(), b"", b"", false) {
            Ok(LineCmd::Watch(spec)) => Some(spec),
            _ => None,
        }
    }

    fn invalid_text(line: &str) -> Option<String> {
        match parse_line(line.as_bytes(), b"", b"", false) {
            Ok(LineCmd::Invalid(m)) => Some(String::from_utf8_lossy(&m).into_owned()),
            _ => None,
        }
    }

    fn fatal(line: &str) -> Option<(i32, String)> {
        parse_line(line.as_bytes(), b"", b"", false)
            .err()
            .map(|e| (e.code, e.message))
    }

    #[test]
    fn interactive_watch_lines() {
        let s = watch_line("watch foo");
        assert_eq!(
            s.as_ref().map(|s| s.create.key.clone()),
            Some(b"foo".to_vec())
        );
        assert_eq!(s.map(|s| s.create.range_end), Some(Vec::new()));

        let s = watch_line("watch --prefix foo --rev 3");
        assert_eq!(
            s.map(|s| (s.create.key, s.create.range_end, s.create.start_revision)),
            Some((b"foo".to_vec(), b"fop".to_vec(), 3))
        );

        let s = watch_line("watch --prev-kv --rev=0x10 a b");
        assert_eq!(
            s.map(|s| (
                s.create.range_end,
                s.create.start_revision,
                s.create.prev_kv
            )),
            Some((b"b".to_vec(), 16, true))
        );

        let s = watch_line(r#"watch "a b" -- echo 'x y'"#);
        assert_eq!(
            s.map(|s| (s.create.key, s.exec)),
            Some((
                b"a b".to_vec(),
                vec![OsString::from("echo"), OsString::from("x y")]
            ))
        );

        let s = watch_line("watch --prefix ''");
        assert_eq!(
            s.map(|s| (s.create.key, s.create.range_end)),
            Some((vec![0], vec![0]))
        );
        assert!(matches!(
            parse_line(b"progress", b"", b"", false),
            Ok(LineCmd::Progress)
        ));
    }

    #[test]
    fn interactive_complaints_match_etcdctl() {
        assert_eq!(
            invalid_text("").as_deref(),
            Some("Invalid command:  (watch and progress supported)\n")
        );
        assert_eq!(
            invalid_text("foo bar").as_deref(),
            Some("Invalid command foo bar (only support watch)\n")
        );
        assert_eq!(
            invalid_text("watch").as_deref(),
            Some("Invalid command watch (command type or key is not provided)\n")
        );
        assert_eq!(
            invalid_text("watch --prefix a b").as_deref(),
            Some(
                "Invalid command watch --prefix a b (`range_end` and `--prefix` are mutually exclusive)\n"
            )
        );
        assert_eq!(
            invalid_text("watch -- echo hi").as_deref(),
            Some("Invalid command watch -- echo hi (bad number of arguments)\n")
        );
    }

    #[test]
    fn interactive_fatal_errors_match_etcdctl() {
        assert_eq!(
            fatal("watch --foo w"),
            Some((exit::BAD_ARGS, "unknown flag: --foo".into()))
        );
        assert_eq!(
            fatal("watch --rev x w"),
            Some((
                exit::BAD_ARGS,
                r#"invalid argument "x" for "--rev" flag: strconv.ParseInt: parsing "x": invalid syntax"#
                    .into()
            ))
        );
        assert_eq!(
            fatal("watch --rev"),
            Some((exit::BAD_ARGS, "flag needs an argument: --rev".into()))
        );
        assert_eq!(
            fatal("watch w --"),
            Some((exit::BAD_ARGS, ERR_BAD_ARGS_NUM_SEPARATOR.into()))
        );
        assert_eq!(
            fatal("watch --prefix"),
            Some((exit::BAD_ARGS, ERR_BAD_ARGS_NUM.into()))
        );
        assert_eq!(
            fatal("watch -ix w"),
            Some((exit::BAD_ARGS, "unknown shorthand flag: 'x' in -x".into()))
        );
        assert_eq!(
            fatal("watch --prefix=maybe w"),
            Some((
                exit::BAD_ARGS,
                r#"invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax"#
                    .into()
            ))
        );
        assert_eq!(
            fatal(r#"watch "unterminated\"#).map(|e| e.0),
            None,
            "an unterminated quote is skipped by argify, not an error"
        );
    }

    #[test]
    fn interactive_env_key() {
        let r = parse_line(b"watch", b"k", b"", false);
        assert!(matches!(r, Ok(LineCmd::Watch(ref s)) if s.create.key == b"k"));
        let r = parse_line(b"watch k2", b"k", b"", false).err();
        assert_eq!(
            r.map(|e| e.message),
            Some(ERR_BAD_ARGS_NUM_CONFLICT_ENV.into())
        );
        let r = parse_line(b"watch -- echo", b"k", b"z", true);
        assert!(matches!(
            r,
            Ok(LineCmd::Watch(ref s)) if s.create.key == b"k" && s.create.range_end == b"z"
                && s.create.progress_notify && s.exec == vec![OsString::from("echo")]
        ));
    }

    #[test]
    fn pflag_parsing() {
        let (f, rest) = parse_flags(&words(&["a", "--prefix", "b", "-i", "--", "--rev", "x"]))
            .unwrap_or_default();
        assert!(f.prefix);
        assert_eq!(rest, words(&["a", "b", "--rev", "x"]));
        let (f, rest) = parse_flags(&words(&["--prefix", "false", "-"])).unwrap_or_default();
        assert!(f.prefix);
        assert_eq!(rest, words(&["false", "-"]));
        assert_eq!(parse_int_base0("-0b101"), Ok(-5));
        assert_eq!(parse_int_base0("017"), Ok(15));
        assert_eq!(parse_int_base0("1_000"), Ok(1000));
        assert!(
            parse_int_base0("99999999999999999999")
                .err()
                .is_some_and(|e| e.ends_with("value out of range"))
        );
    }

    #[test]
    fn command_line_args() {
        let a = |args: &[&str], exec: Option<&[&str]>| WatchArgs {
            args: args.iter().map(OsString::from).collect(),
            exec: exec.map(|e| e.iter().map(OsString::from).collect()),
            ..Default::default()
        };
        let err = |r: Result<WatchSpec, CtlError>| r.err().map(|e| (e.code, e.message));
        assert_eq!(
            err(spec_from_args(&a(&[], None), b"", b"")),
            Some((exit::BAD_ARGS, ERR_BAD_ARGS_NUM.into()))
        );
        assert_eq!(
            err(spec_from_args(&a(&["k"], Some(&[])), b"", b"")),
            Some((exit::BAD_ARGS, ERR_BAD_ARGS_NUM_SEPARATOR.into()))
        );
        assert_eq!(
            err(spec_from_args(&a(&[], Some(&["echo"])), b"", b"")),
            Some((exit::BAD_ARGS, ERR_BAD_ARGS_NUM.into()))
        );
        assert_eq!(
            err(spec_from_args(&a(&["k"], None), b"e", b"")),
            Some((exit::BAD_ARGS, ERR_BAD_ARGS_NUM_CONFLICT_ENV.into()))
        );
        let s = spec_from_args(&a(&[], Some(&["echo", "hi"])), b"e", b"f").ok();
        assert_eq!(
            s.map(|s| (s.create.key, s.create.range_end, s.exec.len())),
            Some((b"e".to_vec(), b"f".to_vec(), 2))
        );
        let mut p = a(&["k", "z"], None);
        p.prefix = true;
        assert_eq!(
            err(spec_from_args(&p, b"", b"")),
            Some((
                exit::BAD_ARGS,
                "`range_end` and `--prefix` are mutually exclusive".into()
            ))
        );
        assert_eq!(
            check_env(b"", b"w").err().map(|e| e.message),
            Some(r#"ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END="w""#.into())
        );
    }

    #[test]
    fn cancel_messages() {
        let mut r = WatchResp {
            canceled: true,
            compact_revision: 5,
            ..Default::default()
        };
        assert_eq!(watch_err(&r), ERR_COMPACTED);
        r.compact_revision = 0;
        assert_eq!(watch_err(&r), ERR_FUTURE_REV);
        r.cancel_reason = "etcdserver: permission denied".into();
        assert_eq!(watch_err(&r), "etcdserver: permission denied");
        r.close_err = Some("mvcc: watcher range is empty".into());
        assert_eq!(watch_err(&r), "mvcc: watcher range is empty");
    }

    #[test]
    fn resume_point_follows_deliveries() {
        let mut c = WatchCreateRequest::default();
        let mut wr = WatchResp {
            events: Some(vec![Event {
                kv: Some(keel_proto::mvccpb::KeyValue {
                    mod_revision: 7,
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        wr.header.revision = 9;
        advance(&mut c, &wr);
        assert_eq!(c.start_revision, 8);
        wr.events = Some(Vec::new());
        advance(&mut c, &wr);
        assert_eq!(c.start_revision, 10);
    }

    #[test]
    fn go_error_texts() {
        assert_eq!(go_quote_rune('x'), "'x'".to_string());
        assert_eq!(
            resolve_program(&OsString::from("surely-not-a-command-xyz")).err(),
            Some(r#"exec: "surely-not-a-command-xyz": executable file not found in $PATH"#.into())
        );
    }
}
