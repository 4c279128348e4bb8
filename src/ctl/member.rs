//! `member add|remove|update|promote|list`, as etcdctl v3.4's `member_command.go` and
//! clientv3's cluster API:
//!
//! - `list`: the cluster's members (simple rows `id, started|unstarted, name, peer urls,
//!   client urls, is learner`, a table, json or fields).
//! - `add <name> --peer-urls=<urls> [--learner]`: `Member <id> added to cluster <cid>`;
//!   the simple format adds the `ETCD_NAME`/`ETCD_INITIAL_CLUSTER`/... settings to start
//!   the new member with.
//! - `remove|promote <hex id>`, `update <hex id> --peer-urls=<urls>`:
//!   `Member <id> removed from|promoted in|updated in cluster <cid>`.
//!
//! Member ids are read as Go's `strconv.ParseUint(id, 16, 64)` does (its errors quoted in
//! etcdctl's `bad member ID arg (...)`), and peer URLs are checked before any request as
//! clientv3 does with `types.NewURLs` (Go's `url.Parse`, scheme, `host:port`, no path).

use keel_proto::etcdserverpb::{
    MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest,
    MemberUpdateRequest,
};

use super::gofmt::quote;
use super::{CtlError, Ctx, MemberAddArgs, MemberIdArgs, MemberUpdateArgs, emit, exit};

pub async fn list(ctx: &Ctx) -> Result<(), CtlError> {
    let conn = ctx.connect().await?;
    let mut c = conn.cluster();
    let resp = conn
        .call(c.member_list(conn.request(MemberListRequest::default())))
        .await?;
    emit(&ctx.printer().member_list(&resp)?);
    Ok(())
}

pub async fn add(ctx: &Ctx, a: &MemberAddArgs) -> Result<(), CtlError> {
    let name = match a.args.as_slice() {
        [] => return Err(CtlError::new(exit::BAD_ARGS, "member name not provided")),
        [name] => name,
        args => return Err(CtlError::new(exit::BAD_ARGS, too_many_args(args))),
    };
    let urls = peer_urls_arg(&a.peer_urls)?;
    let conn = ctx.connect().await?;
    let mut c = conn.cluster();
    let resp = conn
        .call(c.member_add(conn.request(MemberAddRequest {
            peer_urls: urls,
            is_learner: a.learner,
        })))
        .await?;
    emit(&ctx.printer().member_add(&resp, name, &a.peer_urls)?);
    Ok(())
}

/// `--peer-urls`, split and checked as etcdctl's client library does before sending.
fn peer_urls_arg(peer_urls: &str) -> Result<Vec<String>, CtlError> {
    if peer_urls.is_empty() {
        return Err(CtlError::new(
            exit::BAD_ARGS,
            "member peer urls not provided",
        ));
    }
    let urls: Vec<String> = peer_urls.split(',').map(str::to_string).collect();
    check_peer_urls(&urls).map_err(|e| CtlError::new(exit::ERROR, e))?;
    Ok(urls)
}

/// etcdctl's error for extra `member add` arguments, pointing at URLs given as arguments.
fn too_many_args(args: &[String]) -> String {
    let mut ev = String::from("too many arguments");
    for s in args {
        if s.to_lowercase().starts_with("http") {
            ev.push_str(&format!(", did you mean --peer-urls={s}"));
        }
    }
    ev
}

pub async fn remove(ctx: &Ctx, a: &MemberIdArgs) -> Result<(), CtlError> {
    let id = one_member_id(&a.args)?;
    let conn = ctx.connect().await?;
    let mut c = conn.cluster();
    let resp = conn
        .call(c.member_remove(conn.request(MemberRemoveRequest { id })))
        .await?;
    emit(&ctx.printer().member_remove(id, &resp)?);
    Ok(())
}

pub async fn update(ctx: &Ctx, a: &MemberUpdateArgs) -> Result<(), CtlError> {
    let id = one_member_id(&a.args)?;
    let urls = peer_urls_arg(&a.peer_urls)?;
    let conn = ctx.connect().await?;
    let mut c = conn.cluster();
    let resp = conn
        .call(c.member_update(conn.request(MemberUpdateRequest {
            id,
            peer_urls: urls,
        })))
        .await?;
    emit(&ctx.printer().member_update(id, &resp)?);
    Ok(())
}

pub async fn promote(ctx: &Ctx, a: &MemberIdArgs) -> Result<(), CtlError> {
    let id = one_member_id(&a.args)?;
    let conn = ctx.connect().await?;
    let mut c = conn.cluster();
    let resp = conn
        .call(c.member_promote(conn.request(MemberPromoteRequest { id })))
        .await?;
    emit(&ctx.printer().member_promote(id, &resp)?);
    Ok(())
}

/// The single `<memberID>` argument of `remove`, `update` and `promote`.
fn one_member_id(args: &[String]) -> Result<u64, CtlError> {
    let [arg] = args else {
        return Err(CtlError::new(exit::BAD_ARGS, "member ID is not provided"));
    };
    parse_uint(arg, 16).map_err(|e| {
        CtlError::new(
            exit::BAD_ARGS,
            format!("bad member ID arg ({e}), expecting ID in Hex"),
        )
    })
}

/// Go's `strconv.ParseUint(s, base, 64)` for `2 <= base <= 36`; the error is Go's
/// message, e.g. `strconv.ParseUint: parsing "zz": invalid syntax` (digits are read left
/// to right, so an overflow is reported even if an invalid digit follows).
pub fn parse_uint(s: &str, base: u32) -> Result<u64, String> {
    let err = |what: &str| format!("strconv.ParseUint: parsing {}: {what}", quote(s.as_bytes()));
    if s.is_empty() {
        return Err(err("invalid syntax"));
    }
    let mut n: u64 = 0;
    for c in s.bytes() {
        let d = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return Err(err("invalid syntax")),
        };
        if d >= base {
            return Err(err("invalid syntax"));
        }
        n = n
            .checked_mul(u64::from(base))
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or_else(|| err("value out of range"))?;
    }
    Ok(n)
}

/// clientv3's fail-fast check of peer URLs (etcd's `types.NewURLs`): each, trimmed, must
/// parse as Go's `url.Parse` does, have an http/https/unix/unixs scheme, a `host:port`
/// and no path. The error is the message etcdctl prints.
pub fn check_peer_urls(urls: &[String]) -> Result<(), String> {
    if urls.is_empty() {
        return Err("no valid URLs given".to_string());
    }
    for raw in urls {
        let input = raw.trim();
        let u = go_url::parse(input)?;
        if !matches!(u.scheme.as_str(), "http" | "https" | "unix" | "unixs") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {input}"
            ));
        }
        if !go_url::split_host_port_ok(&u.host) {
            return Err(format!(
                "URL address does not have the form \"host:port\": {input}"
            ));
        }
        if !u.path.is_empty() {
            return Err(format!("URL must not contain a path: {input}"));
        }
    }
    Ok(())
}

/// The parts of Go's `net/url.Parse` and `net.SplitHostPort` that `types.NewURLs` relies
/// on, with Go's error messages (`parse "<url>": <reason>`).
mod go_url {
    use super::quote;

    /// What `types.NewURLs` looks at in a parsed URL.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub struct Url {
        /// Lower-cased.
        pub scheme: String,
        /// Unescaped.
        pub host: String,
        /// Unescaped.
        pub path: String,
    }

    /// Go's `url.Parse`.
    pub fn parse(raw: &str) -> Result<Url, String> {
        let (u, frag) = match raw.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (raw, None),
        };
        let url = parse_no_frag(u).map_err(|e| format!("parse {}: {e}", quote(u.as_bytes())))?;
        if let Some(f) = frag {
            unescape(f, Mode::Fragment)
                .map_err(|e| format!("parse {}: {e}", quote(raw.as_bytes())))?;
        }
        Ok(url)
    }

    fn parse_no_frag(raw: &str) -> Result<Url, String> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err("net/url: invalid control character in URL".to_string());
        }
        let mut url = Url::default();
        if raw == "*" {
            url.path = "*".to_string();
            return Ok(url);
        }
        let (scheme, rest) = get_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        let mut rest = rest;
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            rest = &rest[..rest.len() - 1];
        } else if let Some((r, _query)) = rest.split_once('?') {
            rest = r;
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                // A rootless path: opaque, no host and no path.
                return Ok(url);
            }
            let segment = rest.split_once('/').map_or(rest, |(seg, _)| seg);
            if segment.contains(':') {
                return Err("first path segment in URL cannot contain colon".to_string());
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let after = &rest[2..];
            let (authority, path) = match after.find('/') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            url.host = parse_authority(authority)?;
            rest = path;
        }
        url.path = unescape(rest, Mode::Path)?;
        Ok(url)
    }

    /// Go's `getScheme`.
    fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
        for (i, c) in raw.bytes().enumerate() {
            match c {
                b'a'..=b'z' | b'A'..=b'Z' => {}
                b'0'..=b'9' | b'+' | b'-' | b'.' => {
                    if i == 0 {
                        return Ok(("", raw));
                    }
                }
                b':' => {
                    if i == 0 {
                        return Err("missing protocol scheme".to_string());
                    }
                    return Ok((&raw[..i], &raw[i + 1..]));
                }
                _ => return Ok(("", raw)),
            }
        }
        Ok(("", raw))
    }

    /// Go's `parseAuthority`: returns the unescaped host.
    fn parse_authority(authority: &str) -> Result<String, String> {
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let host = parse_host(host)?;
        if let Some(ui) = userinfo {
            if !valid_userinfo(ui) {
                return Err("net/url: invalid userinfo".to_string());
            }
            match ui.split_once(':') {
                None => {
                    unescape(ui, Mode::UserPassword)?;
                }
                Some((user, pass)) => {
                    unescape(user, Mode::UserPassword)?;
                    unescape(pass, Mode::UserPassword)?;
                }
            }
        }
        Ok(host)
    }

    fn valid_userinfo(s: &str) -> bool {
        s.chars().all(|r| {
            r.is_ascii_alphanumeric()
                || matches!(
                    r,
                    '-' | '.'
                        | '_'
                        | ':'
                        | '~'
                        | '!'
                        | '$'
                        | '&'
                        | '\''
                        | '('
                        | ')'
                        | '*'
                        | '+'
                        | ','
                        | ';'
                        | '='
                        | '%'
                        | '@'
                )
        })
    }

    /// Go's `parseHost`.
    fn parse_host(host: &str) -> Result<String, String> {
        if host.starts_with('[') {
            let Some(i) = host.rfind(']') else {
                return Err("missing ']' in host".to_string());
            };
            let colon_port = &host[i + 1..];
            if !valid_optional_port(colon_port) {
                return Err(format!(
                    "invalid port {} after host",
                    quote(colon_port.as_bytes())
                ));
            }
            if let Some(zone) = host[..i].find("%25") {
                let h1 = unescape(&host[..zone], Mode::Host)?;
                let h2 = unescape(&host[zone..i], Mode::Zone)?;
                let h3 = unescape(&host[i..], Mode::Host)?;
                return Ok(h1 + &h2 + &h3);
            }
        } else if let Some(i) = host.rfind(':') {
            let colon_port = &host[i..];
            if !valid_optional_port(colon_port) {
                return Err(format!(
                    "invalid port {} after host",
                    quote(colon_port.as_bytes())
                ));
            }
        }
        unescape(host, Mode::Host)
    }

    fn valid_optional_port(port: &str) -> bool {
        if port.is_empty() {
            return true;
        }
        match port.strip_prefix(':') {
            Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
            None => false,
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Path,
        UserPassword,
        Host,
        Zone,
        Fragment,
    }

    fn is_hex(c: u8) -> bool {
        c.is_ascii_hexdigit()
    }

    fn unhex(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0,
        }
    }

    /// Go's `shouldEscape` for the modes used here (only consulted for host and zone).
    fn should_escape(c: u8) -> bool {
        if c.is_ascii_alphanumeric() {
            return false;
        }
        !matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
        )
    }

    /// Go's `unescape`: `%XX` escapes decoded; the errors are Go's `EscapeError` and
    /// `InvalidHostError` messages.
    fn unescape(s: &str, mode: Mode) -> Result<String, String> {
        let b = s.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    if i + 2 >= b.len() || !is_hex(b[i + 1]) || !is_hex(b[i + 2]) {
                        let end = (i + 3).min(b.len());
                        return Err(format!("invalid URL escape {}", quote(&b[i..end])));
                    }
                    let v = unhex(b[i + 1]) << 4 | unhex(b[i + 2]);
                    if mode == Mode::Host && unhex(b[i + 1]) < 8 && &b[i..i + 3] != b"%25" {
                        return Err(format!("invalid URL escape {}", quote(&b[i..i + 3])));
                    }
                    if mode == Mode::Zone && &b[i..i + 3] != b"%25" && v != b' ' && should_escape(v)
                    {
                        return Err(format!("invalid URL escape {}", quote(&b[i..i + 3])));
                    }
                    out.push(v);
                    i += 3;
                }
                c => {
                    if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c) {
                        return Err(format!("invalid character {} in host name", quote(&[c])));
                    }
                    out.push(c);
                    i += 1;
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Whether Go's `net.SplitHostPort` accepts `hostport`.
    pub fn split_host_port_ok(hostport: &str) -> bool {
        let b = hostport.as_bytes();
        let Some(i) = hostport.rfind(':') else {
            return false;
        };
        let (j, k);
        if b.first() == Some(&b'[') {
            let Some(end) = hostport.find(']') else {
                return false;
            };
            if end + 1 != i {
                return false;
            }
            j = 1;
            k = end + 1;
        } else {
            if hostport[..i].contains(':') {
                return false;
            }
            j = 0;
            k = 0;
        }
        !hostport[j..].contains('[') && !hostport[k..].contains(']')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_parse_like_go() {
        assert_eq!(parse_uint("6561cc1108e8b92a", 16), Ok(0x6561cc1108e8b92a));
        assert_eq!(parse_uint("FFFFFFFFFFFFFFFF", 16), Ok(u64::MAX));
        for (arg, why) in [
            ("zz", "invalid syntax"),
            ("", "invalid syntax"),
            ("+1", "invalid syntax"),
            ("0x1", "invalid syntax"),
            ("1_0", "invalid syntax"),
            ("1ffffffffffffffff", "value out of range"),
            ("1ffffffffffffffffzz", "value out of range"),
        ] {
            assert_eq!(
                parse_uint(arg, 16),
                Err(format!(
                    "strconv.ParseUint: parsing {}: {why}",
                    quote(arg.as_bytes())
                )),
                "{arg}"
            );
        }
        assert_eq!(
            one_member_id(&["zz".to_string()]).map_err(|e| (e.code, e.message)),
            Err((
                exit::BAD_ARGS,
                "bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex".to_string()
            ))
        );
        assert_eq!(
            one_member_id(&[]).map_err(|e| e.message),
            Err("member ID is not provided".to_string())
        );
    }

    #[test]
    fn too_many_add_args_hint_at_peer_urls() {
        let args = ["a", "http://x:1", "HTTPS://y:2"].map(String::from);
        assert_eq!(
            too_many_args(&args),
            "too many arguments, did you mean --peer-urls=http://x:1, did you mean --peer-urls=HTTPS://y:2"
        );
        assert_eq!(
            too_many_args(&["a".into(), "b".into()]),
            "too many arguments"
        );
    }

    /// The messages etcdctl v3.4 printed for these `--peer-urls` values.
    #[test]
    fn peer_urls_are_checked_like_clientv3() {
        let cases = [
            ("http://127.0.0.1:2380", ""),
            ("HTTP://a:1", ""),
            ("http://a:1?q=1", ""),
            ("http://a:1#f", ""),
            ("http://[::1]:1", ""),
            (" http://a:1 ", ""),
            (
                "127.0.0.1:1",
                "parse \"127.0.0.1:1\": first path segment in URL cannot contain colon",
            ),
            (
                "localhost:1",
                "URL scheme must be http, https, unix, or unixs: localhost:1",
            ),
            (
                "http://a",
                "URL address does not have the form \"host:port\": http://a",
            ),
            ("http://a:1/x", "URL must not contain a path: http://a:1/x"),
            ("http://a:1/", "URL must not contain a path: http://a:1/"),
            (
                "http://a:b",
                "parse \"http://a:b\": invalid port \":b\" after host",
            ),
            (
                "http://a b:1",
                "parse \"http://a b:1\": invalid character \" \" in host name",
            ),
            (
                "http://%zz:1",
                "parse \"http://%zz:1\": invalid URL escape \"%zz\"",
            ),
            (":x", "parse \":x\": missing protocol scheme"),
            (
                "HTTP://a:1x",
                "parse \"HTTP://a:1x\": invalid port \":1x\" after host",
            ),
            (
                "1http://a:1",
                "parse \"1http://a:1\": first path segment in URL cannot contain colon",
            ),
            (
                "h%:x",
                "parse \"h%:x\": first path segment in URL cannot contain colon",
            ),
            (
                "http://[::1:1",
                "parse \"http://[::1:1\": missing ']' in host",
            ),
            (
                "http://user@a:1/",
                "URL must not contain a path: http://user@a:1/",
            ),
            (
                "http:a:1",
                "URL address does not have the form \"host:port\": http:a:1",
            ),
            (
                "http:///",
                "URL address does not have the form \"host:port\": http:///",
            ),
            (
                "unix://b",
                "URL address does not have the form \"host:port\": unix://b",
            ),
            (
                "http://a:1:2",
                "URL address does not have the form \"host:port\": http://a:1:2",
            ),
            (" http://a:1/ ", "URL must not contain a path: http://a:1/"),
            ("", "URL scheme must be http, https, unix, or unixs: "),
        ];
        for (url, want) in cases {
            let got = check_peer_urls(&[url.to_string()])
                .err()
                .unwrap_or_default();
            assert_eq!(got, want, "{url:?}");
        }
    }
}
