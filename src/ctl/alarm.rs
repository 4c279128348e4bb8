//! `alarm list` and `alarm disarm`, as etcdctl v3.4's `alarm_command.go` and clientv3's
//! `AlarmList`/`AlarmDisarm`:
//!
//! - list: one Maintenance `Alarm(GET)` call; each alarm printed as
//!   `memberID:<id> alarm:<TYPE> ` (simple), or as the response in json/fields/protobuf.
//! - disarm: lists the alarms, then deactivates each one with its own
//!   `Alarm(DEACTIVATE, member, type)` call and prints the alarms those calls returned
//!   (clientv3 collects them in a response without a header).
//!
//! Neither takes arguments (`alarm <cmd> command accepts no arguments`, exit code 128).

use keel_proto::etcdserverpb::{AlarmRequest, AlarmResponse, AlarmType, alarm_request};

use super::client::Conn;
use super::{CtlError, Ctx, NoArgs, emit, exit};

fn no_args(a: &NoArgs, cmd: &str) -> Result<(), CtlError> {
    if a.args.is_empty() {
        Ok(())
    } else {
        Err(CtlError::new(
            exit::BAD_ARGS,
            format!("alarm {cmd} command accepts no arguments"),
        ))
    }
}

async fn alarm_list(conn: &Conn) -> Result<AlarmResponse, CtlError> {
    let mut m = conn.maintenance();
    conn.call(m.alarm(conn.request(AlarmRequest {
        action: alarm_request::AlarmAction::Get as i32,
        member_id: 0,
        alarm: AlarmType::None as i32,
    })))
    .await
}

pub async fn list(ctx: &Ctx, a: &NoArgs) -> Result<(), CtlError> {
    no_args(a, "list")?;
    let conn = ctx.connect().await?;
    let resp = alarm_list(&conn).await?;
    emit(&ctx.printer().alarm(&resp)?);
    Ok(())
}

pub async fn disarm(ctx: &Ctx, a: &NoArgs) -> Result<(), CtlError> {
    no_args(a, "disarm")?;
    let conn = ctx.connect().await?;
    let listed = alarm_list(&conn).await?;
    let mut out = AlarmResponse::default();
    for am in &listed.alarms {
        let mut m = conn.maintenance();
        let resp = conn
            .call(m.alarm(conn.request(AlarmRequest {
                action: alarm_request::AlarmAction::Deactivate as i32,
                member_id: am.member_id,
                alarm: am.alarm,
            })))
            .await?;
        out.alarms.extend(resp.alarms);
    }
    emit(&ctx.printer().alarm(&out)?);
    Ok(())
}
