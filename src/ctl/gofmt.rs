//! Go-compatible text formatting and parsing used by `keelctl` so that its output is
//! byte-for-byte what etcdctl (a Go program) prints: `strconv.Quote` (`%q`),
//! `strconv.Unquote`, `strconv.ParseInt` and its error messages, `time.Duration`'s
//! `String()` and `time.ParseDuration`, go-humanize's `Bytes`, and `encoding/json` string
//! escaping.

use std::fmt::Write as _;
use std::time::Duration;

/// Go's `strconv.Quote` (what `fmt`'s `%q` prints for a string) applied to raw bytes.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (ch, len) = match decode_utf8(rest) {
            Some((c, l)) => (Some(c), l),
            None => (None, 1),
        };
        match ch {
            None => {
                let _ = write!(out, "\\x{:02x}", rest[0]);
            }
            Some(c) => push_quoted_char(&mut out, c),
        }
        rest = &rest[len..];
    }
    out.push('"');
    out
}

fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_go_printable(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers, punctuation,
/// symbols and the ASCII space.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Format characters (Cf) and other invisible code points Go treats as non-printable.
    !matches!(u, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff
        | 0xfdd0..=0xfdef | 0xfffe | 0xffff)
}

/// Decodes one UTF-8 scalar from the front of `b`; `None` if the first byte does not
/// start a valid sequence (Go then treats that byte as `utf8.RuneError` of width 1).
fn decode_utf8(b: &[u8]) -> Option<(char, usize)> {
    let len = match b.first()? {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let chunk = b.get(..len)?;
    let s = std::str::from_utf8(chunk).ok()?;
    s.chars().next().map(|c| (c, len))
}

/// The error `strconv.Unquote` returns: Go prints it as `invalid syntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError;

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid syntax")
    }
}

impl std::error::Error for SyntaxError {}

/// Go's `strconv.Unquote` for a double-quoted or back-quoted literal (including its
/// quotes). Escapes may produce arbitrary bytes (`\xff`), hence the `Vec<u8>`.
pub fn unquote(s: &str) -> Result<Vec<u8>, SyntaxError> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(SyntaxError);
    }
    let (first, last) = (b[0], b[b.len() - 1]);
    if first != last {
        return Err(SyntaxError);
    }
    let inner = &s[1..s.len() - 1];
    match first {
        b'`' => {
            if inner.contains('`') {
                return Err(SyntaxError);
            }
            Ok(inner.replace('\r', "").into_bytes())
        }
        b'"' => unquote_double(inner),
        _ => Err(SyntaxError),
    }
}

fn unquote_double(inner: &str) -> Result<Vec<u8>, SyntaxError> {
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return Err(SyntaxError),
            '\\' => {
                let e = chars.next().ok_or(SyntaxError)?;
                match e {
                    'a' => out.push(0x07),
                    'b' => out.push(0x08),
                    'f' => out.push(0x0c),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(0x0b),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    'x' => {
                        let v = take_digits(&mut chars, 2, 16)?;
                        out.push(v as u8);
                    }
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let v = take_digits(&mut chars, n, 16)?;
                        let ch = char::from_u32(v).ok_or(SyntaxError)?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).ok_or(SyntaxError)?;
                        for _ in 0..2 {
                            let d = chars
                                .next()
                                .and_then(|d| d.to_digit(8))
                                .ok_or(SyntaxError)?;
                            v = v * 8 + d;
                        }
                        if v > 255 {
                            return Err(SyntaxError);
                        }
                        out.push(v as u8);
                    }
                    _ => return Err(SyntaxError),
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(out)
}

fn take_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    n: usize,
    radix: u32,
) -> Result<u32, SyntaxError> {
    let mut v: u32 = 0;
    for _ in 0..n {
        let d = chars
            .next()
            .and_then(|c| c.to_digit(radix))
            .ok_or(SyntaxError)?;
        v = v
            .checked_mul(radix)
            .and_then(|v| v.checked_add(d))
            .ok_or(SyntaxError)?;
    }
    Ok(v)
}

/// Go's `strconv.ParseInt(s, base, 64)`; the error is Go's message, e.g.
/// `strconv.ParseInt: parsing "zz": invalid syntax`.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    let syntax = || {
        format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            quote(s.as_bytes())
        )
    };
    let range = || {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            quote(s.as_bytes())
        )
    };
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(syntax());
    }
    let mut v: u128 = 0;
    let mut overflow = false;
    for c in digits.chars() {
        let d = c.to_digit(base).ok_or_else(syntax)?;
        v = v * u128::from(base) + u128::from(d);
        if v > 1u128 << 64 {
            overflow = true;
            v = 1u128 << 64;
        }
    }
    let limit: u128 = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
    if overflow || v > limit {
        return Err(range());
    }
    let v = v as i128;
    Ok((if neg { -v } else { v }) as i64)
}

/// Go's `time.Duration.String()`, e.g. `1.234567ms`, `853.2µs`, `1m0.5s`.
pub fn duration_string(d: Duration) -> String {
    let u = d.as_nanos().min(u128::from(u64::MAX)) as u64;
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (int, frac) = fmt_frac(u, prec);
        return format!("{int}{frac}{unit}");
    }
    let (secs, frac) = fmt_frac(u, 9);
    let mut out = String::new();
    let mins = secs / 60;
    if mins > 0 {
        let hours = mins / 60;
        if hours > 0 {
            let _ = write!(out, "{hours}h");
        }
        let _ = write!(out, "{}m", mins % 60);
    }
    let _ = write!(out, "{}{frac}s", secs % 60);
    out
}

/// Splits `v` into `v / 10^prec` and the `.fraction` with trailing zeros dropped (no dot
/// when the fraction is zero), as Go's `fmtFrac` does.
fn fmt_frac(v: u64, prec: u32) -> (u64, String) {
    if prec == 0 {
        return (v, String::new());
    }
    let p = 10u64.pow(prec);
    let frac = v % p;
    if frac == 0 {
        return (v / p, String::new());
    }
    let digits = format!("{:0width$}", frac, width = prec as usize);
    (v / p, format!(".{}", digits.trim_end_matches('0')))
}

/// Go's `time.ParseDuration` (non-negative durations only), e.g. `2s`, `500ms`, `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("time: invalid duration {}", quote(s.as_bytes()));
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    quote(s.as_bytes())
                ));
            }
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit.as_bytes()),
                    quote(s.as_bytes())
                ));
            }
        };
        total += value * nanos_per;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(err());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// go-humanize's `Bytes` (SI units): `20 kB`, `1.5 MB`, `9 B`.
pub fn humanize_bytes(s: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if s < 10 {
        return format!("{s} B");
    }
    let base = 1000f64;
    let e = ((s as f64).ln() / base.ln()).floor();
    let idx = (e as usize).min(SIZES.len() - 1);
    let val = ((s as f64) / base.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{} {}", go_fixed(val, 1), SIZES[idx])
    } else {
        format!("{} {}", go_fixed(val, 0), SIZES[idx])
    }
}

/// `fmt.Sprintf("%.Nf", v)`: Go rounds the exact binary value half-to-even, as Rust does.
fn go_fixed(v: f64, prec: usize) -> String {
    format!("{v:.prec$}")
}

/// Appends `s` as a JSON string the way Go's `encoding/json` does (HTML-safe: `<`, `>`
/// and `&` become `\u003c`, `\u003e`, `\u0026`; U+2028/U+2029 are escaped too).
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(duration_string(Duration::from_nanos(0)), "0s");
        assert_eq!(duration_string(Duration::from_nanos(500)), "500ns");
        assert_eq!(duration_string(Duration::from_nanos(853_200)), "853.2µs");
        assert_eq!(
            duration_string(Duration::from_nanos(1_094_584)),
            "1.094584ms"
        );
        assert_eq!(duration_string(Duration::from_nanos(2_000_000)), "2ms");
        assert_eq!(
            duration_string(Duration::from_nanos(1_000_598_167)),
            "1.000598167s"
        );
        assert_eq!(duration_string(Duration::from_millis(60_500)), "1m0.5s");
        assert_eq!(duration_string(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("300us"), Ok(Duration::from_micros(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn humanize_matches_go_humanize() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(24576), "25 kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5 MB");
        assert_eq!(humanize_bytes(999), "999 B");
    }

    #[test]
    fn parse_int_messages() {
        assert_eq!(parse_int("ff", 16), Ok(255));
        assert_eq!(parse_int("-10", 10), Ok(-10));
        assert_eq!(
            parse_int("zz", 16),
            Err("strconv.ParseInt: parsing \"zz\": invalid syntax".to_string())
        );
        assert_eq!(
            parse_int("99999999999999999999", 10),
            Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range".into())
        );
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
    }

    #[test]
    fn quote_and_unquote() {
        assert_eq!(quote(b"foo"), "\"foo\"");
        assert_eq!(quote(b"a\"b\\\n\x01\xff"), "\"a\\\"b\\\\\\n\\x01\\xff\"");
        assert_eq!(quote("é".as_bytes()), "\"é\"");
        assert_eq!(
            unquote("\"a\\\"b\\x41\\u00e9\""),
            Ok(b"a\"bA\xc3\xa9".to_vec())
        );
        assert_eq!(unquote("`raw\\n`"), Ok(b"raw\\n".to_vec()));
        assert_eq!(unquote("\"bad\\q\""), Err(SyntaxError));
    }

    #[test]
    fn json_strings_are_html_safe() {
        let mut s = String::new();
        push_json_string(&mut s, "<a&b>\"\\\n\u{1}");
        assert_eq!(s, "\"\\u003ca\\u0026b\\u003e\\\"\\\\\\n\\u0001\"");
    }
}
