//! `txn`: etcdctl's transaction syntax read from stdin, and the command itself.
//!
//! Input is three sections, each terminated by an empty line: compares
//! (`mod("key1") > "0"`, `value("k") = "v"`, `create("k") = "0"`, `version("k") != "3"`,
//! `lease("k") = "694d..."`; targets `ver|version`, `c|create`, `m|mod`, `val|value`,
//! `lease`; ops `=`, `!=`, `>`, `<`), then success and failure requests (`put k v`,
//! `get k --prefix`, `del k`, with the same flags as the top-level commands). With
//! `-i/--interactive` each section is announced by a prompt on stdout. Parsing follows
//! etcdctl v3.4's `txn_command.go` (`fmt.Sscanf(.., "%q) %s %q", ..)` for compares,
//! `argify` for request lines) including its error messages and exit codes.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStringExt as _;

use clap::{Parser, Subcommand};
use keel_proto::etcdserverpb::{Compare, RequestOp, TxnRequest, compare, request_op};

use super::{CtlError, Ctx, DelArgs, GetArgs, PutArgs, TxnArgs, emit, exit, gofmt, kv};

/// One request line inside a txn, parsed with the top-level commands' flag definitions
/// (as etcdctl reuses its cobra commands); global flags are not accepted there.
#[derive(Parser, Debug)]
#[command(
    no_binary_name = true,
    disable_help_subcommand = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct TxnLine {
    #[command(subcommand)]
    op: TxnOp,
}

#[derive(Subcommand, Debug)]
enum TxnOp {
    Put(PutArgs),
    Get(GetArgs),
    Del(DelArgs),
}

fn invalid_input(msg: String) -> CtlError {
    CtlError::new(exit::INVALID_INPUT, msg)
}

/// Reads one `\n`-terminated line like Go's `bufio.Reader.ReadString('\n')`: hitting the
/// end of input before a newline is an `EOF` error, as in etcdctl.
fn read_line(r: &mut dyn BufRead) -> Result<Vec<u8>, CtlError> {
    let mut buf = Vec::new();
    match r.read_until(b'\n', &mut buf) {
        Ok(_) if buf.ends_with(b"\n") => Ok(buf),
        Ok(_) => Err(invalid_input("EOF".to_string())),
        Err(e) => Err(invalid_input(e.to_string())),
    }
}

/// Reads the three sections of a txn from `input`, printing the interactive prompts to
/// `prompt` when `interactive`.
pub fn read_txn(
    input: &mut dyn BufRead,
    interactive: bool,
    prompt: &mut dyn Write,
) -> Result<TxnRequest, CtlError> {
    let mut say = |s: &str| {
        if interactive {
            let _ = writeln!(prompt, "{s}");
            let _ = prompt.flush();
        }
    };
    say("compares:");
    let mut compares = Vec::new();
    loop {
        let line = read_line(input)?;
        let line = String::from_utf8_lossy(&line);
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        compares.push(parse_compare(line)?);
    }
    say("success requests (get, put, del):");
    let success = read_ops(input)?;
    say("failure requests (get, put, del):");
    let failure = read_ops(input)?;
    Ok(TxnRequest {
        compare: compares,
        success,
        failure,
    })
}

fn read_ops(input: &mut dyn BufRead) -> Result<Vec<RequestOp>, CtlError> {
    let mut ops = Vec::new();
    loop {
        let line = read_line(input)?;
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(ops);
        }
        ops.push(parse_request(line)?);
    }
}

/// A minimal `fmt.Sscanf` input cursor for the `"%q) %s %q"` format.
struct Scan<'a> {
    rest: &'a str,
}

impl<'a> Scan<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', '\r', '\n']);
    }

    /// `%q`: a double-quoted (escapes allowed) or back-quoted Go string.
    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.skip_space();
        let mut chars = self.rest.char_indices();
        let (_, q) = chars.next()?;
        let end = match q {
            '`' => self.rest[1..].find('`').map(|i| i + 2)?,
            '"' => {
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i + 1);
                        break;
                    }
                }
                end?
            }
            _ => return None,
        };
        let lit = &self.rest[..end];
        let v = gofmt::unquote(lit).ok()?;
        self.rest = &self.rest[end..];
        Some(v)
    }

    /// A space in the format: one or more spaces in the input, or the end of the input.
    fn space(&mut self) -> bool {
        if self.rest.is_empty() {
            return true;
        }
        let trimmed = self
            .rest
            .trim_start_matches(|c: char| c.is_whitespace() && c != '\n');
        let matched = trimmed.len() < self.rest.len();
        self.rest = trimmed;
        matched
    }

    /// A literal character of the format.
    fn literal(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// `%s`: a run of non-space characters.
    fn token(&mut self) -> Option<&'a str> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace())
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let t = &self.rest[..end];
        self.rest = &self.rest[end..];
        Some(t)
    }
}

/// etcdctl's `parseCompare`.
pub fn parse_compare(line: &str) -> Result<Compare, CtlError> {
    let Some((target, rest)) = line.split_once('(') else {
        return Err(invalid_input(format!("malformed comparison: {line}")));
    };
    let mut scan = Scan { rest };
    let mut key = Vec::new();
    let mut op = "";
    let mut val = Vec::new();
    let mut n = 0;
    if let Some(k) = scan.quoted() {
        key = k;
        n = 1;
        if scan.literal(')')
            && scan.space()
            && let Some(o) = scan.token()
        {
            op = o;
            n = 2;
            if scan.space()
                && let Some(v) = scan.quoted()
            {
                val = v;
                n = 3;
            }
        }
    }
    if n != 3 {
        return Err(invalid_input(format!(
            "malformed comparison: {line}; got {target}({}) {op} {}",
            gofmt::quote(&key),
            gofmt::quote(&val)
        )));
    }

    let bad_value = || invalid_input(format!("invalid txn compare request: {line}"));
    let int = |base: u32| -> Result<i64, CtlError> {
        let s = std::str::from_utf8(&val).map_err(|_| bad_value())?;
        gofmt::parse_int(s, base).map_err(|_| bad_value())
    };
    let (target, union) = match target {
        "ver" | "version" => (
            compare::CompareTarget::Version,
            compare::TargetUnion::Version(int(10)?),
        ),
        "c" | "create" => (
            compare::CompareTarget::Create,
            compare::TargetUnion::CreateRevision(int(10)?),
        ),
        "m" | "mod" => (
            compare::CompareTarget::Mod,
            compare::TargetUnion::ModRevision(int(10)?),
        ),
        "val" | "value" => (
            compare::CompareTarget::Value,
            compare::TargetUnion::Value(val.clone()),
        ),
        "lease" => (
            compare::CompareTarget::Lease,
            compare::TargetUnion::Lease(int(16)?),
        ),
        other => {
            return Err(invalid_input(format!(
                "malformed comparison: {line} (unknown target {other})"
            )));
        }
    };
    // clientv3.Compare accepts exactly these operators (etcdctl panics on others).
    let result = match op {
        "=" => compare::CompareResult::Equal,
        "!=" => compare::CompareResult::NotEqual,
        ">" => compare::CompareResult::Greater,
        "<" => compare::CompareResult::Less,
        other => {
            return Err(invalid_input(format!(
                "invalid txn compare request: {line} (unknown result op {other:?})"
            )));
        }
    };
    Ok(Compare {
        result: result as i32,
        target: target as i32,
        key,
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

/// etcdctl's `argify`: splits a request line into words, honouring `"double quoted"`
/// (Go escapes) and `'single quoted'` words. Works on bytes: unquoted words keep
/// arbitrary (non-UTF-8) bytes, as in Go.
pub fn argify(line: &[u8]) -> Result<Vec<Vec<u8>>, CtlError> {
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r');
    let n = line.len();
    let mut args = Vec::new();
    let mut i = 0;
    while i < n {
        match line[i] {
            b'"' => {
                let mut j = i + 1;
                let mut close = None;
                while j < n {
                    match line[j] {
                        b'\\' if j + 1 < n => j += 2,
                        b'\\' => break,
                        b'"' => {
                            close = Some(j);
                            break;
                        }
                        _ => j += 1,
                    }
                }
                match close {
                    Some(j) => {
                        let lit = String::from_utf8_lossy(&line[i..=j]);
                        let v = gofmt::unquote(&lit).map_err(|e| invalid_input(e.to_string()))?;
                        args.push(v);
                        i = j + 1;
                    }
                    None => i += 1,
                }
            }
            b'\'' => match line[i + 1..].iter().position(|&c| c == b'\'') {
                Some(off) => {
                    args.push(line[i + 1..i + 1 + off].to_vec());
                    i += off + 2;
                }
                None => i += 1,
            },
            c if is_space(c) => i += 1,
            _ => {
                let mut j = i;
                while j < n && !is_space(line[j]) {
                    j += 1;
                }
                args.push(line[i..j].to_vec());
                i = j;
            }
        }
    }
    Ok(args)
}

/// etcdctl's `parseRequestUnion`: one `get`/`put`/`del` line.
pub fn parse_request(raw: &[u8]) -> Result<RequestOp, CtlError> {
    let line = String::from_utf8_lossy(raw);
    let args = argify(raw)?;
    if args.len() < 2 {
        return Err(invalid_input(format!(
            "invalid txn compare request: {line}"
        )));
    }
    let args = args.into_iter().map(OsString::from_vec);
    let parsed = TxnLine::try_parse_from(args)
        .map_err(|_| invalid_input(format!("invalid txn request: {line}")))?;
    let request = match parsed.op {
        TxnOp::Put(a) => request_op::Request::RequestPut(kv::put_request(&a, None)?),
        TxnOp::Get(a) => request_op::Request::RequestRange(kv::range_request(&a)?),
        TxnOp::Del(a) => request_op::Request::RequestDeleteRange(kv::delete_request(&a)?),
    };
    Ok(RequestOp {
        request: Some(request),
    })
}

pub async fn txn(ctx: &Ctx, a: &TxnArgs) -> Result<(), CtlError> {
    if !a.args.is_empty() {
        return Err(CtlError::new(
            exit::BAD_ARGS,
            "txn command does not accept argument",
        ));
    }
    let req = {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut stdout = std::io::stdout();
        read_txn(&mut input, a.interactive, &mut stdout)?
    };
    let conn = ctx.connect().await?;
    let mut kv = conn.kv();
    let resp = conn.call(kv.txn(conn.request(req))).await?;
    emit(&ctx.printer().txn(&resp)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<TxnRequest, CtlError> {
        let mut r = input.as_bytes();
        let mut out = Vec::new();
        read_txn(&mut r, false, &mut out)
    }

    #[test]
    fn parses_the_etcdctl_example() {
        let t = parse(
            "mod(\"key1\") > \"0\"\n\nput key1 \"overwrote-key1\"\n\nput key1 \"created-key1\"\nput key2 \"some extra key\"\n\n",
        );
        let t = t.ok();
        assert_eq!(t.as_ref().map(|t| t.compare.len()), Some(1));
        assert_eq!(t.as_ref().map(|t| t.success.len()), Some(1));
        assert_eq!(t.as_ref().map(|t| t.failure.len()), Some(2));
        let c = t.as_ref().map(|t| t.compare[0].clone());
        assert_eq!(
            c,
            Some(Compare {
                result: compare::CompareResult::Greater as i32,
                target: compare::CompareTarget::Mod as i32,
                key: b"key1".to_vec(),
                range_end: vec![],
                target_union: Some(compare::TargetUnion::ModRevision(0)),
            })
        );
        match t.and_then(|t| t.failure[1].request.clone()) {
            Some(request_op::Request::RequestPut(p)) => {
                assert_eq!(p.key, b"key2");
                assert_eq!(p.value, b"some extra key");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn compare_targets_and_errors() {
        let c = parse_compare("lease(\"k\") = \"694d\"").ok();
        assert_eq!(
            c.and_then(|c| c.target_union),
            Some(compare::TargetUnion::Lease(0x694d))
        );
        let c = parse_compare("val(\"k\") != \"v w\"").ok();
        assert_eq!(
            c.and_then(|c| c.target_union),
            Some(compare::TargetUnion::Value(b"v w".to_vec()))
        );
        assert_eq!(
            parse_compare("bogus").err().map(|e| e.message),
            Some("malformed comparison: bogus".to_string())
        );
        assert_eq!(
            parse_compare("mod(a) > \"1\"").err().map(|e| e.message),
            Some("malformed comparison: mod(a) > \"1\"; got mod(\"\")  \"\"".to_string())
        );
        assert_eq!(
            parse_compare("mod(\"a\")>\"1\"").err().map(|e| e.message),
            Some("malformed comparison: mod(\"a\")>\"1\"; got mod(\"a\")  \"\"".to_string())
        );
        assert_eq!(
            parse_compare("mod(\"a\") >\"1\"").err().map(|e| e.message),
            Some("malformed comparison: mod(\"a\") >\"1\"; got mod(\"a\") >\"1\" \"\"".to_string())
        );
        assert!(parse_compare("mod(\"a\")  >   \"1\"  trailing").is_ok());
        assert_eq!(
            parse_compare("foo(\"a\") > \"1\"").err().map(|e| e.message),
            Some("malformed comparison: foo(\"a\") > \"1\" (unknown target foo)".to_string())
        );
        assert_eq!(
            parse_compare("mod(\"a\") > \"x\"").err().map(|e| e.message),
            Some("invalid txn compare request: mod(\"a\") > \"x\"".to_string())
        );
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            argify(b"put k 'a b' \"c\\\"d\" e\"f \"\\xff\"").ok(),
            Some(vec![
                b"put".to_vec(),
                b"k".to_vec(),
                b"a b".to_vec(),
                b"c\"d".to_vec(),
                b"e\"f".to_vec(),
                vec![0xff],
            ])
        );
        assert_eq!(
            parse_request(b"frob a").err().map(|e| e.message),
            Some("invalid txn request: frob a".to_string())
        );
        assert_eq!(
            parse_request(b"put").err().map(|e| e.message),
            Some("invalid txn compare request: put".to_string())
        );
        assert_eq!(
            parse_request(b"get a -w json").err().map(|e| e.code),
            Some(exit::INVALID_INPUT)
        );
        match parse_request(b"get k --prefix")
            .ok()
            .and_then(|r| r.request)
        {
            Some(request_op::Request::RequestRange(r)) => assert_eq!(r.range_end, b"l"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_request(b"put a").err().map(|e| e.code),
            Some(exit::BAD_ARGS)
        );
    }

    #[test]
    fn unterminated_input_is_eof() {
        assert_eq!(
            parse("\nput a b\n").err().map(|e| (e.code, e.message)),
            Some((exit::INVALID_INPUT, "EOF".to_string()))
        );
        assert_eq!(parse("\n\n\n").ok().map(|t| t.success.len()), Some(0));
    }
}
