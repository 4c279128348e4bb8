//! `member list`: the cluster's members as etcdctl v3.4 prints them (simple rows
//! `id, started|unstarted, name, peer urls, client urls, is learner`, a table, json or
//! fields).

use keel_proto::etcdserverpb::MemberListRequest;

use super::{CtlError, Ctx, emit};

pub async fn list(ctx: &Ctx) -> Result<(), CtlError> {
    let conn = ctx.connect().await?;
    let mut c = conn.cluster();
    let resp = conn
        .call(c.member_list(conn.request(MemberListRequest::default())))
        .await?;
    emit(&ctx.printer().member_list(&resp)?);
    Ok(())
}
