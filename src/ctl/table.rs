//! ASCII tables exactly as etcdctl's `-w table` renders them with
//! `github.com/olekukonko/tablewriter` (the revision vendored by etcd v3.4): upper-cased,
//! centred headers; right-aligned cells (etcdctl sets `ALIGN_RIGHT`); cells wider than 30
//! columns that contain spaces are word-wrapped with tablewriter's minimum-raggedness
//! algorithm, at the column width known when the row is appended.

/// tablewriter's `MAX_ROW_WIDTH`.
const MAX_COL_WIDTH: usize = 30;
/// tablewriter's `defaultPenalty` for over-long lines while wrapping.
const DEFAULT_PENALTY: i64 = 100_000;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Renders `headers` and `rows` as etcdctl's table printer does (trailing newline included).
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut cs: Vec<usize> = Vec::with_capacity(headers.len());
    for h in headers {
        cs.push(width(h).min(MAX_COL_WIDTH));
    }
    // Each appended row becomes, per column, the lines of its (possibly wrapped) cell.
    let mut parsed: Vec<Vec<Vec<String>>> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut cells = Vec::with_capacity(row.len());
        for (i, cell) in row.iter().enumerate() {
            if i >= cs.len() {
                cs.push(0);
            }
            let w = width(cell).min(MAX_COL_WIDTH);
            if cs[i] < w || cs[i] == 0 {
                cs[i] = w;
            }
            let lines = wrap_string(cell, cs[i]);
            let max = lines.iter().map(|l| width(l)).max().unwrap_or(0);
            if max > cs[i] {
                cs[i] = max;
            }
            cells.push(lines);
        }
        parsed.push(cells);
    }

    let mut out = String::new();
    line(&mut out, &cs);
    out.push('|');
    for (i, w) in cs.iter().enumerate() {
        let h = headers.get(i).map(|h| title(h)).unwrap_or_default();
        out.push(' ');
        out.push_str(&pad_center(&h, *w));
        out.push_str(" |");
    }
    out.push('\n');
    line(&mut out, &cs);
    for cells in &parsed {
        let height = cells.iter().map(Vec::len).max().unwrap_or(0);
        for x in 0..height {
            for (y, w) in cs.iter().enumerate() {
                out.push_str("| ");
                let s = cells
                    .get(y)
                    .and_then(|c| c.get(x))
                    .map(String::as_str)
                    .unwrap_or("  ");
                out.push_str(&pad_left(s, *w));
                out.push(' ');
            }
            out.push_str("|\n");
        }
    }
    line(&mut out, &cs);
    out
}

fn line(out: &mut String, cs: &[usize]) {
    out.push('+');
    for w in cs {
        out.push_str(&"-".repeat(w + 2));
        out.push('+');
    }
    out.push('\n');
}

/// tablewriter's `Title`: `_` and `.` become spaces, trimmed, upper-cased.
fn title(h: &str) -> String {
    let t = h.replace(['_', '.'], " ");
    let t = t.trim();
    if t.is_empty() && !h.is_empty() {
        return " ".to_string();
    }
    t.to_uppercase()
}

fn pad_center(s: &str, w: usize) -> String {
    let gap = w.saturating_sub(width(s));
    let left = gap / 2;
    format!("{}{}{}", " ".repeat(left), s, " ".repeat(gap - left))
}

fn pad_left(s: &str, w: usize) -> String {
    let gap = w.saturating_sub(width(s));
    format!("{}{}", " ".repeat(gap), s)
}

/// tablewriter's `WrapString`: split on single spaces (newlines count as spaces) and wrap
/// to `lim` (raised to the longest word).
fn wrap_string(s: &str, lim: usize) -> Vec<String> {
    let replaced = s.replace('\n', " ");
    let words: Vec<&str> = replaced.split(' ').collect();
    let lim = words.iter().map(|w| width(w)).fold(lim, usize::max);
    wrap_words(&words, 1, lim as i64, DEFAULT_PENALTY)
        .into_iter()
        .map(|ws| ws.join(" "))
        .collect()
}

/// tablewriter's `WrapWords`: minimum-raggedness line breaking.
fn wrap_words<'a>(words: &[&'a str], spc: i64, lim: i64, pen: i64) -> Vec<Vec<&'a str>> {
    let n = words.len();
    if n == 0 {
        return vec![vec![]];
    }
    let mut length = vec![vec![0i64; n]; n];
    for i in 0..n {
        length[i][i] = width(words[i]) as i64;
        for j in i + 1..n {
            length[i][j] = length[i][j - 1] + spc + width(words[j]) as i64;
        }
    }
    let mut nbrk = vec![0usize; n];
    let mut cost = vec![i64::from(i32::MAX); n];
    for i in (0..n).rev() {
        if length[i][n - 1] <= lim {
            cost[i] = 0;
            nbrk[i] = n;
        } else {
            for j in i + 1..n {
                let d = lim - length[i][j - 1];
                let mut c = d * d + cost[j];
                if length[i][j - 1] > lim {
                    c += pen;
                }
                if c < cost[i] {
                    cost[i] = c;
                    nbrk[i] = j;
                }
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        let next = nbrk[i].max(i + 1);
        lines.push(words[i..next].to_vec());
        i = next;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_etcdctl() {
        let out = render(
            &["endpoint", "health", "took", "error"],
            &[
                vec![
                    "127.0.0.1:12379".into(),
                    "true".into(),
                    "2.603549ms".into(),
                    "".into(),
                ],
                vec![
                    "127.0.0.1:1".into(),
                    "false".into(),
                    "1.001155337s".into(),
                    "context deadline exceeded".into(),
                ],
            ],
        );
        let want = "\
+-----------------+--------+--------------+---------------------------+
|    ENDPOINT     | HEALTH |     TOOK     |           ERROR           |
+-----------------+--------+--------------+---------------------------+
| 127.0.0.1:12379 |   true |   2.603549ms |                           |
|     127.0.0.1:1 |  false | 1.001155337s | context deadline exceeded |
+-----------------+--------+--------------+---------------------------+
";
        assert_eq!(out, want);
    }

    #[test]
    fn wraps_long_cells_with_spaces() {
        let out = render(
            &["error"],
            &[vec![
                "rpc error: code = Unavailable desc = connection refused".into(),
            ]],
        );
        for l in out.lines() {
            assert!(l.len() <= 34, "{l}");
        }
        assert!(out.lines().count() > 5);
    }
}
