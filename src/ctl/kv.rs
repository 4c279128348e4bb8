//! `get`, `put`, `del` and `compaction`, plus the request builders shared with `txn`.
//!
//! Argument checks, their messages and exit codes, and the way flags become request
//! fields follow etcdctl v3.4's `get_command.go`, `put_command.go`, `del_command.go`,
//! `compaction_command.go` and clientv3's `OpOption`s (`WithPrefix`, `WithFromKey`,
//! `WithSort`, ...).

use std::os::unix::ffi::OsStrExt as _;

use keel_proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, range_request,
};

use super::output::OutputFormat;
use super::{CompactionArgs, CtlError, Ctx, DelArgs, GetArgs, PutArgs, emit, exit, gofmt};

/// clientv3's `getPrefix` (one copy, in keel-client).
pub use keel_client::prefix_range_end;

fn bad_args(msg: &str) -> CtlError {
    CtlError::new(exit::BAD_ARGS, msg)
}

/// etcdctl's `getGetOp`: the `RangeRequest` for `get` arguments and flags.
pub fn range_request(a: &GetArgs) -> Result<RangeRequest, CtlError> {
    let Some(key_arg) = a.args.first() else {
        return Err(bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    };
    if a.prefix && a.from_key {
        return Err(bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    if a.keys_only && a.count_only {
        return Err(bad_args(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one",
        ));
    }
    let mut req = RangeRequest::default();
    match a.consistency.as_str() {
        "s" => req.serializable = true,
        "l" => {}
        other => {
            return Err(CtlError::new(
                exit::BAD_FEATURE,
                format!(
                    "unknown consistency flag {}",
                    gofmt::quote(other.as_bytes())
                ),
            ));
        }
    }
    let mut key = key_arg.as_bytes().to_vec();
    if let Some(end) = a.args.get(1) {
        if a.prefix || a.from_key {
            return Err(bad_args(
                "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
            ));
        }
        req.range_end = end.as_bytes().to_vec();
    }
    req.limit = a.limit;
    if a.rev > 0 {
        req.revision = a.rev;
    }

    let order = match a.order.to_uppercase().as_str() {
        "ASCEND" => range_request::SortOrder::Ascend,
        "DESCEND" => range_request::SortOrder::Descend,
        "" => range_request::SortOrder::None,
        _ => {
            return Err(CtlError::new(
                exit::BAD_FEATURE,
                format!("bad sort order {}", a.order),
            ));
        }
    };
    let target = match a.sort_by.to_uppercase().as_str() {
        "CREATE" => range_request::SortTarget::Create,
        "KEY" | "" => range_request::SortTarget::Key,
        "MODIFY" => range_request::SortTarget::Mod,
        "VALUE" => range_request::SortTarget::Value,
        "VERSION" => range_request::SortTarget::Version,
        _ => {
            return Err(CtlError::new(
                exit::BAD_FEATURE,
                format!("bad sort target {}", a.sort_by),
            ));
        }
    };
    // clientv3.WithSort: keys already come back in ascending key order, so that order is
    // sent as "no sort" (the server can then apply the limit without a full scan).
    let order =
        if target == range_request::SortTarget::Key && order == range_request::SortOrder::Ascend {
            range_request::SortOrder::None
        } else {
            order
        };
    req.sort_order = order as i32;
    req.sort_target = target as i32;

    if a.prefix {
        if key.is_empty() {
            key = vec![0];
            req.range_end = vec![0];
        } else {
            req.range_end = prefix_range_end(&key);
        }
    }
    if a.from_key {
        if key.is_empty() {
            key = vec![0];
        }
        req.range_end = vec![0];
    }
    req.key = key;
    req.keys_only = a.keys_only;
    req.count_only = a.count_only;
    Ok(req)
}

/// etcdctl's `getPutOp`. `stdin` supplies the value when only a key is given (etcdctl
/// reads all of stdin; inside `txn` there is no stdin left, so `None`).
pub fn put_request(
    a: &PutArgs,
    stdin: Option<&mut dyn std::io::Read>,
) -> Result<PutRequest, CtlError> {
    const NEEDS: &str = "put command needs 1 argument and input from stdin or 2 arguments";
    let Some(key) = a.args.first() else {
        return Err(bad_args(NEEDS));
    };
    if a.ignore_value && a.args.len() > 1 {
        return Err(bad_args(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let mut value = Vec::new();
    if !a.ignore_value {
        if let Some(v) = a.args.get(1) {
            value = v.as_bytes().to_vec();
        } else {
            let Some(stdin) = stdin else {
                return Err(bad_args(NEEDS));
            };
            if stdin.read_to_end(&mut value).is_err() || value.is_empty() {
                return Err(bad_args(NEEDS));
            }
        }
    }
    let lease = gofmt::parse_int(&a.lease, 16).map_err(|e| {
        CtlError::new(
            exit::BAD_ARGS,
            format!("bad lease ID ({e}), expecting ID in Hex"),
        )
    })?;
    Ok(PutRequest {
        key: key.as_bytes().to_vec(),
        value,
        lease,
        prev_kv: a.prev_kv,
        ignore_value: a.ignore_value,
        ignore_lease: a.ignore_lease,
    })
}

/// etcdctl's `getDelOp`.
pub fn delete_request(a: &DelArgs) -> Result<DeleteRangeRequest, CtlError> {
    if a.args.is_empty() || a.args.len() > 2 {
        return Err(bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    if a.prefix && a.from_key {
        return Err(bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let mut req = DeleteRangeRequest::default();
    let mut key = a.args[0].as_bytes().to_vec();
    if let Some(end) = a.args.get(1) {
        if a.prefix || a.from_key {
            return Err(bad_args(
                "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
            ));
        }
        req.range_end = end.as_bytes().to_vec();
    }
    if a.prefix {
        if key.is_empty() {
            key = vec![0];
            req.range_end = vec![0];
        } else {
            req.range_end = prefix_range_end(&key);
        }
    }
    req.prev_kv = a.prev_kv;
    if a.from_key {
        if key.is_empty() {
            key = vec![0];
        }
        req.range_end = vec![0];
    }
    req.key = key;
    Ok(req)
}

pub async fn get(ctx: &Ctx, a: &GetArgs) -> Result<(), CtlError> {
    let req = range_request(a)?;
    let conn = ctx.connect().await?;
    let mut kv = conn.kv();
    let resp = conn.call(kv.range(conn.request(req))).await?;

    let mut printer = ctx.printer();
    if a.count_only && !matches!(ctx.format, OutputFormat::Fields | OutputFormat::Json) {
        // etcdctl v3.5+ accepts only fields here; keelctl also allows json.
        return Err(bad_args("--count-only is only for `--write-out=fields`"));
    }
    if a.print_value_only {
        if ctx.format != OutputFormat::Simple {
            return Err(bad_args(
                "print-value-only is only for `--write-out=simple`",
            ));
        }
        printer.value_only = true;
    }
    emit(&printer.get(&resp)?);
    Ok(())
}

pub async fn put(ctx: &Ctx, a: &PutArgs) -> Result<(), CtlError> {
    let mut stdin = std::io::stdin();
    let req = put_request(a, Some(&mut stdin))?;
    let conn = ctx.connect().await?;
    let mut kv = conn.kv();
    let resp = conn.call(kv.put(conn.request(req))).await?;
    emit(&ctx.printer().put(&resp)?);
    Ok(())
}

pub async fn del(ctx: &Ctx, a: &DelArgs) -> Result<(), CtlError> {
    let req = delete_request(a)?;
    let conn = ctx.connect().await?;
    let mut kv = conn.kv();
    let resp = conn.call(kv.delete_range(conn.request(req))).await?;
    emit(&ctx.printer().del(&resp)?);
    Ok(())
}

pub async fn compaction(ctx: &Ctx, a: &CompactionArgs) -> Result<(), CtlError> {
    if a.args.len() != 1 {
        return Err(bad_args("compaction command needs 1 argument"));
    }
    let rev = gofmt::parse_int(&a.args[0], 10).map_err(|e| CtlError::new(exit::ERROR, e))?;
    let conn = ctx.connect().await?;
    let mut kv = conn.kv();
    let req = CompactionRequest {
        revision: rev,
        physical: a.physical,
    };
    conn.call(kv.compact(conn.request(req))).await?;
    emit(&format!("compacted revision {rev}\n").into_bytes().into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_args(args: &[&str]) -> GetArgs {
        GetArgs {
            args: args.iter().map(|s| s.into()).collect(),
            consistency: "l".into(),
            ..Default::default()
        }
    }

    #[test]
    fn get_prefix_and_from_key() {
        let mut a = get_args(&["k"]);
        a.prefix = true;
        let r = range_request(&a).ok();
        assert_eq!(r.as_ref().map(|r| r.range_end.clone()), Some(b"l".to_vec()));

        let mut a = get_args(&[""]);
        a.prefix = true;
        let r = range_request(&a).ok();
        assert_eq!(
            r.as_ref().map(|r| (r.key.clone(), r.range_end.clone())),
            Some((vec![0], vec![0]))
        );

        let mut a = get_args(&["k"]);
        a.from_key = true;
        let r = range_request(&a).ok();
        assert_eq!(
            r.as_ref().map(|r| (r.key.clone(), r.range_end.clone())),
            Some((b"k".to_vec(), vec![0]))
        );
    }

    #[test]
    fn get_sort_key_ascend_is_none() {
        let mut a = get_args(&["k"]);
        a.order = "ascend".into();
        let r = range_request(&a).ok();
        assert_eq!(r.map(|r| r.sort_order), Some(0));
        let mut a = get_args(&["k"]);
        a.order = "DESCEND".into();
        a.sort_by = "modify".into();
        let r = range_request(&a).ok();
        assert_eq!(r.map(|r| (r.sort_order, r.sort_target)), Some((2, 3)));
    }

    #[test]
    fn argument_errors_match_etcdctl() {
        let e = range_request(&get_args(&[])).err();
        assert_eq!(e.map(|e| e.code), Some(exit::BAD_ARGS));
        let mut a = get_args(&["a", "b"]);
        a.prefix = true;
        assert!(range_request(&a).is_err());
        let p = PutArgs {
            args: vec!["k".into()],
            lease: "zz".into(),
            ..Default::default()
        };
        let mut input: &[u8] = b"v";
        let e = put_request(&p, Some(&mut input)).err();
        assert_eq!(
            e.map(|e| e.message),
            Some("bad lease ID (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex".into())
        );
    }
}
