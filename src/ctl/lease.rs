//! `lease grant|revoke|timetolive|list|keep-alive`, as etcdctl v3.4's
//! `lease_command.go` (argument checks, messages, exit codes) and clientv3's lessor.
//!
//! - `grant TTL`: `lease <id> granted with TTL(<ttl>s)`; failures are
//!   `failed to grant lease (<err>)`.
//! - `revoke ID`: `lease <id> revoked`; failures are `failed to revoke lease (<err>)`.
//! - `timetolive ID [--keys]`: `lease <id> granted with TTL(..s), remaining(..s)`
//!   (`, attached keys([k1 k2])` with `--keys`), or `lease <id> already expired`.
//! - `list`: `found N leases` and one id per line.
//! - `keep-alive ID [--once]`: renews the lease every TTL/3 and prints
//!   `lease <id> keepalived with TTL(<ttl>)` per renewal, until the lease is gone
//!   (`lease <id> expired or revoked.`); with `--once`, a single renewal.
//!
//! Lease IDs are read and printed in hex (`%016x`); errors from `timetolive`, `list` and
//! `keep-alive` exit with code 2 (etcdctl's `ExitBadConnection`).

use std::time::Duration;

use keel_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest,
    LeaseRevokeRequest, LeaseTimeToLiveRequest,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Status, Streaming};

use super::client::{self, Conn};
use super::output::{OutputFormat, lease_hex};
use super::watch::halts;
use super::{
    CtlError, Ctx, LeaseGrantArgs, LeaseKeepAliveArgs, LeaseRevokeArgs, LeaseTimeToLiveArgs, emit,
    exit, gofmt,
};

/// What clientv3 reports for a keep-alive answered with TTL <= 0.
const ERR_LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";

/// etcdctl's `leaseFromArgs`: a lease ID in hex.
pub fn lease_from_arg(arg: &str) -> Result<i64, CtlError> {
    gofmt::parse_int(arg, 16).map_err(|e| {
        CtlError::new(
            exit::BAD_ARGS,
            format!("bad lease ID arg ({e}), expecting ID in Hex"),
        )
    })
}

/// The single `<leaseID>` argument, with etcdctl's message when there is not exactly one.
fn one_lease_arg(args: &[String], missing: &str) -> Result<i64, CtlError> {
    match args {
        [id] => lease_from_arg(id),
        _ => Err(CtlError::new(exit::BAD_ARGS, missing)),
    }
}

fn bad_connection(e: CtlError) -> CtlError {
    CtlError::new(exit::BAD_CONNECTION, e.message)
}

pub async fn grant(ctx: &Ctx, a: &LeaseGrantArgs) -> Result<(), CtlError> {
    let [ttl] = a.args.as_slice() else {
        return Err(CtlError::new(
            exit::BAD_ARGS,
            "lease grant command needs TTL argument",
        ));
    };
    let ttl = gofmt::parse_int(ttl, 10)
        .map_err(|e| CtlError::new(exit::BAD_ARGS, format!("bad TTL ({e})")))?;
    let call = async {
        let conn = ctx.connect().await?;
        let mut c = conn.lease();
        let req = LeaseGrantRequest { ttl, id: 0 };
        conn.call(c.lease_grant(conn.request(req))).await
    };
    let resp = call.await.map_err(|e| {
        CtlError::new(
            exit::ERROR,
            format!("failed to grant lease ({})", e.message),
        )
    })?;
    emit(&ctx.printer().lease_grant(&resp)?);
    Ok(())
}

pub async fn revoke(ctx: &Ctx, a: &LeaseRevokeArgs) -> Result<(), CtlError> {
    let id = one_lease_arg(&a.args, "lease revoke command needs 1 argument")?;
    let call = async {
        let conn = ctx.connect().await?;
        let mut c = conn.lease();
        conn.call(c.lease_revoke(conn.request(LeaseRevokeRequest { id })))
            .await
    };
    let resp = call.await.map_err(|e| {
        CtlError::new(
            exit::ERROR,
            format!("failed to revoke lease ({})", e.message),
        )
    })?;
    emit(&ctx.printer().lease_revoke(id, &resp)?);
    Ok(())
}

pub async fn time_to_live(ctx: &Ctx, a: &LeaseTimeToLiveArgs) -> Result<(), CtlError> {
    let id = one_lease_arg(
        &a.args,
        "lease timetolive command needs lease ID as argument",
    )?;
    let call = async {
        let conn = ctx.connect().await?;
        let mut c = conn.lease();
        let req = LeaseTimeToLiveRequest { id, keys: a.keys };
        conn.call(c.lease_time_to_live(conn.request(req))).await
    };
    let resp = call.await.map_err(bad_connection)?;
    emit(&ctx.printer().lease_time_to_live(&resp, a.keys)?);
    Ok(())
}

pub async fn list(ctx: &Ctx) -> Result<(), CtlError> {
    let call = async {
        let conn = ctx.connect().await?;
        let mut c = conn.lease();
        conn.call(c.lease_leases(conn.request(LeaseLeasesRequest {})))
            .await
    };
    let resp = call.await.map_err(bad_connection)?;
    emit(&ctx.printer().lease_list(&resp)?);
    Ok(())
}

pub async fn keep_alive(ctx: &Ctx, a: &LeaseKeepAliveArgs) -> Result<(), CtlError> {
    let id = one_lease_arg(
        &a.args,
        "lease keep-alive command needs lease ID as argument",
    )?;
    let conn = ctx.connect().await.map_err(bad_connection)?;
    if a.once {
        let resp = keep_alive_once(&conn, id, ctx.command_timeout)
            .await
            .map_err(bad_connection)?;
        emit(&ctx.printer().lease_keep_alive(&resp)?);
        return Ok(());
    }
    // clientv3 gives the first renewal the dial timeout plus a second to arrive.
    let first_timeout = if ctx.dial_timeout.is_zero() {
        Duration::from_secs(5)
    } else {
        ctx.dial_timeout + Duration::from_secs(1)
    };
    let printer = ctx.printer();
    keep_alive_loop(&conn, id, first_timeout, |resp| {
        emit(&printer.lease_keep_alive(resp)?);
        Ok(())
    })
    .await?;
    if ctx.format == OutputFormat::Simple {
        emit(
            &format!("lease {} expired or revoked.\n", lease_hex(id))
                .into_bytes()
                .into(),
        );
    }
    Ok(())
}

/// A `LeaseKeepAlive` stream whose first request is already queued (a gRPC server may
/// hold its response headers back until it answers).
async fn open_stream(
    conn: &Conn,
    id: i64,
) -> Result<
    (
        mpsc::UnboundedSender<LeaseKeepAliveRequest>,
        Streaming<LeaseKeepAliveResponse>,
    ),
    Status,
> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(LeaseKeepAliveRequest { id });
    let resp = conn
        .lease()
        .lease_keep_alive(conn.stream_request(UnboundedReceiverStream::new(rx)))
        .await?;
    Ok((tx, resp.into_inner()))
}

/// clientv3's `KeepAliveOnce`, bounded by `timeout` (keelctl's command timeout): one
/// renewal on its own stream, retried while the server is unavailable.
async fn keep_alive_once(
    conn: &Conn,
    id: i64,
    timeout: Duration,
) -> Result<LeaseKeepAliveResponse, CtlError> {
    let attempt = async {
        loop {
            let result = async {
                let (_tx, mut rx) = open_stream(conn, id).await?;
                rx.message().await?.ok_or_else(|| Status::unknown("EOF"))
            }
            .await;
            match result {
                Ok(resp) if resp.ttl <= 0 => {
                    return Err(CtlError::new(exit::ERROR, ERR_LEASE_NOT_FOUND));
                }
                Ok(resp) => return Ok(resp),
                Err(s) if halts(&s) => {
                    return Err(CtlError::new(exit::ERROR, client::status_message(&s)));
                }
                Err(s) => {
                    tracing::debug!(error = %s, "keep-alive failed, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(CtlError::new(exit::ERROR, client::DEADLINE_EXCEEDED)))
}

/// clientv3's `KeepAlive` for one lease: sends a renewal whenever one is due (checked
/// every 500ms; due at once, then TTL/3 after each answer), hands every answer with a
/// positive TTL to `on_resp`, and returns when the lease is gone: an answer with TTL <= 0,
/// no answer before the deadline (`first_timeout` at first, then the last TTL), or a
/// halting stream error. Transient stream errors reopen the stream after 500ms.
async fn keep_alive_loop(
    conn: &Conn,
    id: i64,
    first_timeout: Duration,
    mut on_resp: impl FnMut(&LeaseKeepAliveResponse) -> Result<(), CtlError>,
) -> Result<(), CtlError> {
    const TICK: Duration = Duration::from_millis(500);
    const SLACK: Duration = Duration::from_millis(50);
    let mut deadline = Instant::now() + first_timeout;
    let mut next_keep_alive = Instant::now();
    loop {
        // The first request of a (re)opened stream is the one that is due now.
        let opened = tokio::time::timeout_at(deadline, open_stream(conn, id)).await;
        let (tx, mut rx) = match opened {
            Err(_) => return Ok(()),
            Ok(Err(s)) if halts(&s) => return Ok(()),
            Ok(Err(s)) => {
                tracing::debug!(error = %s, "keep-alive stream failed, retrying");
                tokio::time::sleep(TICK).await;
                continue;
            }
            Ok(Ok(stream)) => stream,
        };
        let mut tick = tokio::time::interval_at(Instant::now() + TICK, TICK);
        let broken = loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = Instant::now();
                    if now > deadline {
                        return Ok(());
                    }
                    // Due renewals go out on the tick they fall due at (clientv3's loop drifts
                    // by its own latency, which makes it send them there too).
                    if next_keep_alive < now + SLACK
                        && tx.send(LeaseKeepAliveRequest { id }).is_err()
                    {
                        break true;
                    }
                }
                msg = rx.message() => match msg {
                    Ok(Some(resp)) => {
                        if resp.id != id {
                            continue;
                        }
                        if resp.ttl <= 0 {
                            return Ok(());
                        }
                        let now = Instant::now();
                        let ttl = Duration::from_secs(resp.ttl.unsigned_abs());
                        next_keep_alive = now + ttl / 3;
                        deadline = now + ttl;
                        on_resp(&resp)?;
                    }
                    Ok(None) => return Ok(()),
                    Err(s) if halts(&s) => return Ok(()),
                    Err(s) => {
                        tracing::debug!(error = %s, "keep-alive stream failed, retrying");
                        break true;
                    }
                },
            }
        };
        if broken {
            tokio::time::sleep(TICK).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_are_hex() {
        assert_eq!(
            lease_from_arg("694d7a2d6b0e8c0a").ok(),
            Some(0x694d7a2d6b0e8c0a)
        );
        assert_eq!(
            lease_from_arg("zz").err().map(|e| (e.code, e.message)),
            Some((
                exit::BAD_ARGS,
                r#"bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex"#
                    .into()
            ))
        );
        assert_eq!(
            one_lease_arg(&[], "needs 1").err().map(|e| e.message),
            Some("needs 1".into())
        );
        assert_eq!(lease_hex(0x1234), "0000000000001234");
        assert_eq!(lease_hex(-5), "-000000000000005");
    }
}
