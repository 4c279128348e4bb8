//! `snapshot save <file>`, as etcdctl v3.4's `snapshot_command.go` and its snapshot
//! manager's `Save`:
//!
//! - exactly one endpoint (`snapshot must be requested to one selected node, not multiple
//!   [<eps>]`);
//! - the Maintenance `Snapshot` stream's blobs are written, in order and untouched, to
//!   `<file>.part` (mode 0600), which is fsynced and renamed to `<file>`; the server
//!   defines the file's format, so nothing here looks inside it;
//! - `Snapshot saved at <file>` on stdout; every failure exits with code 5 (etcdctl's
//!   `ExitInterrupted`) and removes `<file>.part`;
//! - no time limit unless `--command-timeout` is given (as etcdctl).
//!
//! Progress goes to stderr only: a line rewritten in place (`\r`) while receiving when
//! stderr is a terminal, otherwise just the final `Received snapshot: ...` line. (etcdctl
//! writes zap log lines there instead.) The total comes from the stream's
//! `remaining_bytes`.

use std::io::{IsTerminal as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::SnapshotRequest;
use tokio::io::AsyncWriteExt as _;

use super::client::{self, DEADLINE_EXCEEDED};
use super::output::Printed;
use super::{CtlError, Ctx, SnapshotSaveArgs, emit, exit, gofmt};

/// How often the terminal progress line is rewritten at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

pub async fn save(ctx: &Ctx, a: &SnapshotSaveArgs) -> Result<(), CtlError> {
    let [path] = a.args.as_slice() else {
        return Err(CtlError::new(
            exit::BAD_ARGS,
            "snapshot save expects one argument",
        ));
    };
    let ep = match ctx.endpoints.as_slice() {
        [ep] => ep.clone(),
        eps => {
            return Err(CtlError::new(
                exit::INTERRUPTED,
                format!(
                    "snapshot must be requested to one selected node, not multiple [{}]",
                    eps.join(" ")
                ),
            ));
        }
    };
    let mut part = path.clone();
    part.push(".part");
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let fut = fetch(ctx, &ep, Path::new(path), Path::new(&part), &mut progress);
    let res = if ctx.command_timeout_set {
        match tokio::time::timeout(ctx.command_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(DEADLINE_EXCEEDED.to_string()),
        }
    } else {
        fut.await
    };
    if let Err(e) = res {
        progress.abandon();
        // etcdctl's deferred `os.RemoveAll(partpath)` (a file; never a directory here).
        if std::fs::symlink_metadata(&part).is_ok_and(|m| !m.is_dir()) {
            let _ = std::fs::remove_file(&part);
        }
        return Err(CtlError::new(exit::INTERRUPTED, e));
    }
    let mut out = b"Snapshot saved at ".to_vec();
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
    emit(&Printed::from(out));
    Ok(())
}

/// Streams the snapshot into `part`, then fsyncs it and renames it to `path`. Errors are
/// the messages etcdctl prints.
async fn fetch(
    ctx: &Ctx,
    ep: &str,
    path: &Path,
    part: &Path,
    progress: &mut Progress,
) -> Result<(), String> {
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(part)
        .await
        .map_err(|e| {
            format!(
                "could not open {} ({})",
                part.display(),
                path_error("open", part, &e)
            )
        })?;

    let conn = client::dial(ep, ctx.dial_timeout, ctx.command_timeout, &ctx.tls)
        .await
        .map_err(|e| e.message)?;
    let conn = ctx.log_in(conn).await.map_err(|e| e.message)?;
    // No gRPC deadline on the request: `--command-timeout`, when given, bounds the whole
    // save (see `save`), so that running out of time always reads as etcdctl's message.
    let req = conn.stream_request(SnapshotRequest {});
    let mut m = conn.maintenance();
    let mut stream = m
        .snapshot(req)
        .await
        .map_err(|s| client::status_message(&s))?
        .into_inner();
    let mut remaining = 0u64;
    let mut messages = 0u64;
    while let Some(msg) = stream
        .message()
        .await
        .map_err(|s| client::status_message(&s))?
    {
        f.write_all(&msg.blob)
            .await
            .map_err(|e| path_error("write", part, &e))?;
        remaining = msg.remaining_bytes;
        messages += 1;
        progress.update(msg.blob.len() as u64, remaining);
    }
    // Not etcdctl's checks, but a cut or empty stream must not become a saved snapshot.
    if messages == 0 {
        return Err("snapshot stream ended early: no data received".to_string());
    }
    if remaining != 0 {
        return Err(format!(
            "snapshot stream ended early: {remaining} bytes missing"
        ));
    }
    f.flush().await.map_err(|e| path_error("write", part, &e))?;
    f.sync_all()
        .await
        .map_err(|e| path_error("sync", part, &e))?;
    drop(f);
    progress.finish(ep);

    rename(part, path).map_err(|e| {
        format!(
            "could not rename {} to {} ({e})",
            part.display(),
            path.display()
        )
    })
}

/// Go's `os.Rename`, including its refusal to replace a directory (`file exists`).
fn rename(from: &Path, to: &Path) -> Result<(), String> {
    let link_err = |errno: String| format!("rename {} {}: {errno}", from.display(), to.display());
    if std::fs::metadata(to).is_ok_and(|m| m.is_dir()) {
        return Err(link_err("file exists".to_string()));
    }
    std::fs::rename(from, to).map_err(|e| link_err(go_errno_text(&e)))
}

/// Go's `*os.PathError` text: `<op> <path>: <errno text>`.
fn path_error(op: &str, path: &Path, e: &std::io::Error) -> String {
    format!("{op} {}: {}", path.display(), go_errno_text(e))
}

/// Go's `syscall.Errno` text for an OS error: the C library's message with a lower-case
/// first letter (`no such file or directory`), which is how Go's table is built.
fn go_errno_text(e: &std::io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = std::io::Error::from_raw_os_error(code).to_string();
    let suffix = format!(" (os error {code})");
    let text = text.strip_suffix(&suffix).unwrap_or(&text);
    lower_first(text)
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Progress on stderr (see the module doc).
struct Progress {
    tty: bool,
    received: u64,
    total: u64,
    started: Instant,
    last_draw: Option<Instant>,
    /// Width of the last line drawn in place (to blank out leftovers).
    drawn: usize,
}

impl Progress {
    fn new(tty: bool) -> Self {
        Progress {
            tty,
            received: 0,
            total: 0,
            started: Instant::now(),
            last_draw: None,
            drawn: 0,
        }
    }

    fn update(&mut self, n: u64, remaining: u64) {
        self.received += n;
        self.total = self.total.max(self.received + remaining);
        if !self.tty {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < PROGRESS_EVERY)
        {
            return;
        }
        self.last_draw = Some(now);
        let line = progress_line(self.received, self.total);
        self.draw(&line, false);
    }

    fn draw(&mut self, line: &str, end: bool) {
        let pad = self.drawn.saturating_sub(line.chars().count());
        let mut s = format!("\r{line}{}", " ".repeat(pad));
        if end {
            s.push('\n');
            self.drawn = 0;
        } else {
            self.drawn = line.chars().count();
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(s.as_bytes());
        let _ = err.flush();
    }

    fn finish(&mut self, ep: &str) {
        let line = finished_line(self.received, ep, self.started.elapsed());
        if self.tty && self.last_draw.is_some() {
            self.draw(&line, true);
        } else {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }

    /// Ends a progress line left in place, so that an error starts on its own line.
    fn abandon(&mut self) {
        if self.tty && self.drawn > 0 {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\n");
            self.drawn = 0;
        }
    }
}

/// `Receiving snapshot: 1.2 MB / 3.4 MB (35%)`.
fn progress_line(received: u64, total: u64) -> String {
    let pct = (received.saturating_mul(100))
        .checked_div(total)
        .unwrap_or(100)
        .min(100);
    format!(
        "Receiving snapshot: {} / {} ({pct}%)",
        gofmt::humanize_bytes(received),
        gofmt::humanize_bytes(total)
    )
}

/// `Received snapshot: 352 kB (352288 bytes) from 127.0.0.1:2379 in 6.1ms`.
fn finished_line(received: u64, ep: &str, took: Duration) -> String {
    format!(
        "Received snapshot: {} ({received} bytes) from {ep} in {}",
        gofmt::humanize_bytes(received),
        gofmt::duration_string(took)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_are_gos() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(go_errno_text(&e), "no such file or directory");
        assert_eq!(
            path_error("open", Path::new("/nonexist/x.db.part"), &e),
            "open /nonexist/x.db.part: no such file or directory"
        );
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(go_errno_text(&e), "permission denied");
    }

    #[test]
    fn rename_refuses_directories_like_go() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("no temporary directory")
        };
        let from = dir.path().join("x.part");
        let to = dir.path().join("d");
        let _ = std::fs::write(&from, b"x");
        let _ = std::fs::create_dir(&to);
        assert_eq!(
            rename(&from, &to),
            Err(format!(
                "rename {} {}: file exists",
                from.display(),
                to.display()
            ))
        );
        let file = dir.path().join("x.db");
        assert_eq!(rename(&from, &file), Ok(()));
        assert_eq!(std::fs::read(&file).ok(), Some(b"x".to_vec()));
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_line(1_200_000, 3_400_000),
            "Receiving snapshot: 1.2 MB / 3.4 MB (35%)"
        );
        assert_eq!(progress_line(0, 0), "Receiving snapshot: 0 B / 0 B (100%)");
        assert_eq!(
            finished_line(352_288, "127.0.0.1:2379", Duration::from_millis(6)),
            "Received snapshot: 352 kB (352288 bytes) from 127.0.0.1:2379 in 6ms"
        );
    }
}
