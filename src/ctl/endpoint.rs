//! `endpoint status`, `endpoint health` and `endpoint hashkv`, per endpoint of
//! `--endpoints` or, with `--cluster`, of every member's client URLs (etcdctl v3.4's
//! `ep_command.go`).
//!
//! - status: a Maintenance `Status` call per endpoint; failures are reported on stderr as
//!   `Failed to get the status of endpoint <ep> (<err>)`, the others are printed, and the
//!   exit code is 1 if any failed.
//! - health: a linearizable `Get("health")` per endpoint, timed (`took`); any unhealthy
//!   endpoint ends with `Error: unhealthy cluster` and exit code 1. (Like etcdctl v3.4,
//!   and unlike v3.5+, no alarm check: `Alarm` is a raft proposal.)
//! - hashkv: a Maintenance `HashKV` call per endpoint (`--rev`: the revision to hash up
//!   to, 0 for all); failures are reported on stderr as
//!   `Failed to get the hash of endpoint <ep> (<err>)`, the others are printed (endpoint
//!   and hash), and the last failure ends the command as its error (exit code 1).

use std::time::Instant;

use futures::future::join_all;
use keel_proto::etcdserverpb::{
    HashKvRequest, HashKvResponse, MemberListRequest, RangeRequest, StatusRequest, StatusResponse,
};

use super::client::{self, Conn};
use super::output::{EpHashKv, EpHealth, EpStatus};
use super::{CtlError, Ctx, EndpointArgs, EndpointHashKvArgs, emit, exit, gofmt};

/// etcdctl's `endpointsFromCluster`: `--endpoints`, or with `--cluster` the client URLs
/// of every member.
pub async fn endpoints(ctx: &Ctx, cluster: bool) -> Result<Vec<String>, CtlError> {
    if !cluster {
        return Ok(ctx.endpoints.clone());
    }
    let fetch = async {
        let conn = ctx.connect().await?;
        let mut c = conn.cluster();
        conn.call(c.member_list(conn.request(MemberListRequest::default())))
            .await
    };
    let members = fetch.await.map_err(|e| {
        CtlError::new(
            exit::ERROR,
            format!(
                "failed to fetch endpoints from etcd cluster member list: {}",
                e.message
            ),
        )
    })?;
    Ok(members
        .members
        .into_iter()
        .flat_map(|m| m.client_urls)
        .collect())
}

/// Dials one endpoint (not any of `--endpoints`).
pub async fn dial(ctx: &Ctx, ep: &str) -> Result<Conn, CtlError> {
    let conn = client::dial(ep, ctx.dial_timeout, ctx.command_timeout, &ctx.tls).await?;
    ctx.log_in(conn).await
}

async fn status_of(ctx: &Ctx, ep: &str) -> Result<StatusResponse, CtlError> {
    let conn = dial(ctx, ep).await?;
    let mut m = conn.maintenance();
    conn.call(m.status(conn.request(StatusRequest {}))).await
}

pub async fn status(ctx: &Ctx, a: &EndpointArgs) -> Result<(), CtlError> {
    let eps = endpoints(ctx, a.cluster).await?;
    let results = join_all(eps.iter().map(|ep| status_of(ctx, ep))).await;
    let mut list = Vec::new();
    let mut failed = false;
    for (ep, res) in eps.into_iter().zip(results) {
        match res {
            Ok(resp) => list.push(EpStatus { ep, resp }),
            Err(e) => {
                failed = true;
                eprintln!("Failed to get the status of endpoint {ep} ({})", e.message);
            }
        }
    }
    emit(&ctx.printer().endpoint_status(&list)?);
    if failed {
        return Err(CtlError::silent(exit::ERROR));
    }
    Ok(())
}

async fn health_of(ctx: &Ctx, ep: &str) -> EpHealth {
    let mut h = EpHealth {
        ep: ep.to_string(),
        health: false,
        took: String::new(),
        error: String::new(),
    };
    let dial_start = Instant::now();
    let conn = match dial(ctx, ep).await {
        Ok(c) => c,
        Err(e) => {
            h.took = gofmt::duration_string(dial_start.elapsed());
            h.error = e.message;
            return h;
        }
    };
    let mut kv = conn.kv();
    let start = Instant::now();
    let got = conn
        .call(kv.range(conn.request(RangeRequest {
            key: b"health".to_vec(),
            ..Default::default()
        })))
        .await;
    h.took = gofmt::duration_string(start.elapsed());
    match got {
        Ok(_) => h.health = true,
        // Permission denied still means the request went through consensus.
        Err(e) if e.message == "etcdserver: permission denied" => h.health = true,
        Err(e) => h.error = e.message,
    }
    h
}

pub async fn health(ctx: &Ctx, a: &EndpointArgs) -> Result<(), CtlError> {
    let eps = endpoints(ctx, a.cluster).await?;
    let list = join_all(eps.iter().map(|ep| health_of(ctx, ep))).await;
    emit(&ctx.printer().endpoint_health(&list)?);
    if list.iter().any(|h| !h.error.is_empty()) {
        return Err(CtlError::new(exit::ERROR, "unhealthy cluster"));
    }
    Ok(())
}

async fn hashkv_of(ctx: &Ctx, ep: &str, rev: i64) -> Result<HashKvResponse, CtlError> {
    let conn = dial(ctx, ep).await?;
    let mut m = conn.maintenance();
    conn.call(m.hash_kv(conn.request(HashKvRequest { revision: rev })))
        .await
}

pub async fn hashkv(ctx: &Ctx, a: &EndpointHashKvArgs) -> Result<(), CtlError> {
    let eps = endpoints(ctx, a.cluster).await?;
    let results = join_all(eps.iter().map(|ep| hashkv_of(ctx, ep, a.rev))).await;
    let mut list = Vec::new();
    let mut last_err = None;
    for (ep, res) in eps.into_iter().zip(results) {
        match res {
            Ok(resp) => list.push(EpHashKv { ep, resp }),
            Err(e) => {
                eprintln!("Failed to get the hash of endpoint {ep} ({})", e.message);
                last_err = Some(e);
            }
        }
    }
    emit(&ctx.printer().endpoint_hashkv(&list)?);
    match last_err {
        Some(e) => Err(CtlError::new(exit::ERROR, e.message)),
        None => Ok(()),
    }
}
