//! `defrag` and `move-leader`, as etcdctl v3.4's `defrag_command.go` and
//! `move_leader_command.go`:
//!
//! - defrag: a Maintenance `Defragment` call per endpoint of `--endpoints` (or, with
//!   `--cluster`, of every member's client URLs), one after the other; each prints
//!   `Finished defragmenting etcd member[<ep>]` on stdout or
//!   `Failed to defragment etcd member[<ep>] (<err>)` on stderr, and any failure makes the
//!   exit code 1. (`--data-dir`, etcdctl's offline bbolt defragmentation, does not apply to
//!   Keel's storage and is refused.)
//! - move-leader `<hex id>`: asks each of `--endpoints` in turn for its status until one
//!   is the leader (any failure ends the command), then sends `MoveLeader` to that
//!   endpoint and prints `Leadership transferred from <leader> to <target>`; if no
//!   endpoint given is the leader: `no leader endpoint given at [<eps>]` (exit code 128).

use keel_proto::etcdserverpb::{DefragmentRequest, MoveLeaderRequest, StatusRequest};

use super::endpoint;
use super::member::parse_uint;
use super::output::Printed;
use super::{CtlError, Ctx, DefragArgs, MoveLeaderArgs, emit, exit};

pub async fn defrag(ctx: &Ctx, a: &DefragArgs) -> Result<(), CtlError> {
    if !a.data_dir.is_empty() {
        return Err(CtlError::new(
            exit::BAD_FEATURE,
            format!(
                "defrag --data-dir is not supported by keelctl: Keel's data directory is not a bbolt database ({})",
                a.data_dir
            ),
        ));
    }
    let eps = endpoint::endpoints(ctx, a.cluster).await?;
    let mut failures = 0;
    for ep in &eps {
        let res = async {
            let conn = endpoint::dial(ctx, ep).await?;
            let mut m = conn.maintenance();
            conn.call(m.defragment(conn.request(DefragmentRequest {})))
                .await
        }
        .await;
        match res {
            Ok(_) => emit(&Printed::from(
                format!("Finished defragmenting etcd member[{ep}]\n").into_bytes(),
            )),
            Err(e) => {
                emit(&Printed {
                    stdout: Vec::new(),
                    stderr: format!("Failed to defragment etcd member[{ep}] ({})\n", e.message),
                });
                failures += 1;
            }
        }
    }
    if failures != 0 {
        return Err(CtlError::silent(exit::ERROR));
    }
    Ok(())
}

pub async fn move_leader(ctx: &Ctx, a: &MoveLeaderArgs) -> Result<(), CtlError> {
    let [arg] = a.args.as_slice() else {
        return Err(CtlError::new(
            exit::BAD_ARGS,
            "move-leader command needs 1 argument",
        ));
    };
    let target = parse_uint(arg, 16).map_err(|e| CtlError::new(exit::BAD_ARGS, e))?;

    let mut leader = None;
    for ep in &ctx.endpoints {
        let conn = endpoint::dial(ctx, ep).await?;
        let mut m = conn.maintenance();
        let st = conn.call(m.status(conn.request(StatusRequest {}))).await?;
        let member_id = st.header.map(|h| h.member_id).unwrap_or(0);
        if member_id == st.leader {
            leader = Some((conn, st.leader));
            break;
        }
    }
    let Some((conn, leader_id)) = leader else {
        return Err(CtlError::new(
            exit::BAD_ARGS,
            format!("no leader endpoint given at [{}]", ctx.endpoints.join(" ")),
        ));
    };
    let mut m = conn.maintenance();
    let resp = conn
        .call(m.move_leader(conn.request(MoveLeaderRequest { target_id: target })))
        .await?;
    emit(&ctx.printer().move_leader(leader_id, target, &resp)?);
    Ok(())
}
