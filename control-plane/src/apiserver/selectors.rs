//! Label and field selectors, parsed and matched as kube-apiserver does.
//!
//! List and watch requests carry `labelSelector` and `fieldSelector` query parameters, and
//! Deployments and ReplicaSets carry a `metav1.LabelSelector` in their spec. Clients (kubectl,
//! client-go informers, controllers) depend on the exact grammar and on the error texts kube
//! puts in a `400 BadRequest` Status, so this module is a faithful port of
//! `k8s.io/apimachinery/pkg/labels/selector.go` (its byte lexer and recursive-descent
//! `Parse`, `NewRequirement`'s validation, `LabelSelectorAsSelector`) and of
//! `k8s.io/apimachinery/pkg/fields/selector.go` (`ParseSelector` with its `\,` `\=` `\\`
//! escapes), as of Kubernetes 1.35. The Go code's quirks are kept on purpose: requirements are
//! sorted by key, `in`/`notin` values are a sorted set, `x in ()` means `x in ("")`, a NUL
//! byte ends the input the way Go's `read()` returning 0 does, and error texts are built the
//! way `field.Error` and `utilerrors.Aggregate` render them (`<nil>: Invalid value: "k": ...`,
//! `[e1, e2]` for several). Everything here works on untrusted input and never panics.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// How a label requirement relates its key to its values (`k8s.io/apimachinery/pkg/selection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LabelOp {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement of a label selector: `key op values`.
#[derive(Clone, Debug, PartialEq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
    /// Sorted and deduplicated when parsed from a string; as given when built from JSON.
    values: Vec<String>,
}

/// A parsed label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`, and `==`, `>`/`<` as kube
/// has them). The default value selects everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    /// AND of all requirements, sorted by key (as kube sorts them).
    requirements: Vec<LabelRequirement>,
    /// `labels.Nothing()`: what a missing (null) `metav1.LabelSelector` selects.
    nothing: bool,
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter. Err carries kube-apiserver's message text
    /// (what kube puts in the Status message for a bad labelSelector), e.g.
    /// `unable to parse requirement: found '', expected: '('` or
    /// `found ',', expected: !, identifier, or 'end of string'`.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut parser = Parser::new(s);
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// The selector that matches no labels at all (kube's `labels.Nothing()`).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Whether the selector does not restrict anything (it matches every object).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_lookup(|key| labels.get(key).map(String::as_str))
    }

    /// The same test on an object's `metadata.labels` taken from a JSON object (missing labels
    /// = empty map; label values that are not strings are ignored).
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.matches_lookup(|key| labels.and_then(|l| l.get(key)).and_then(Value::as_str))
    }

    /// Runs every requirement against a label lookup.
    fn matches_lookup<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(lookup(&r.key)))
    }
}

impl LabelRequirement {
    /// Whether the requirement holds given the label's value (None = the label is absent).
    fn matches(&self, value: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            LabelOp::In | LabelOp::Equals | LabelOp::DoubleEquals => value.is_some_and(has),
            LabelOp::NotIn | LabelOp::NotEquals => !value.is_some_and(has),
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => self.compares(value),
        }
    }

    /// The `gt`/`lt` test: both the label and the single required value must be integers.
    fn compares(&self, value: Option<&str>) -> bool {
        let Some(label) = value.and_then(|v| v.parse::<i64>().ok()) else {
            return false;
        };
        let Some(bound) = single_integer(&self.values) else {
            return false;
        };
        match self.op {
            LabelOp::GreaterThan => label > bound,
            _ => label < bound,
        }
    }
}

/// The one value of a `gt`/`lt` requirement as an integer.
fn single_integer(values: &[String]) -> Option<i64> {
    match values {
        [only] => only.parse().ok(),
        _ => None,
    }
}

impl fmt::Display for LabelSelector {
    /// kube's `Selector.String()`: `a=b,c in (d,e),!f`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LabelRequirement {
    /// kube's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == LabelOp::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            LabelOp::Exists | LabelOp::DoesNotExist => return Ok(()),
            LabelOp::Equals => "=",
            LabelOp::DoubleEquals => "==",
            LabelOp::NotEquals => "!=",
            LabelOp::In => " in ",
            LabelOp::NotIn => " notin ",
            LabelOp::GreaterThan => ">",
            LabelOp::LessThan => "<",
        };
        let set = matches!(self.op, LabelOp::In | LabelOp::NotIn);
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(op)?;
        if set {
            f.write_str("(")?;
        }
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Turns a `metav1.LabelSelector` JSON value (`{matchLabels, matchExpressions}`) into a
/// LabelSelector, as kube's `LabelSelectorAsSelector` does: null selects nothing, `{}` selects
/// everything, an unknown operator is `"Foo" is not a valid label selector operator`, and bad
/// keys or values get `NewRequirement`'s messages (`key: Invalid value: ...`).
pub fn from_label_selector_json(v: &Value) -> Result<LabelSelector, String> {
    let obj = match v {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(obj) => obj,
        other => return Err(json_type_error("", other, "v1.LabelSelector")),
    };
    let mut requirements = Vec::new();
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            for (key, value) in labels {
                let value = json_str(value, "matchLabels", "string")?;
                let values = vec![value.to_string()];
                requirements.push(new_requirement(key, LabelOp::Equals, values)?);
            }
        }
        Some(other) => return Err(json_type_error("matchLabels", other, "map[string]string")),
    }
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for expr in exprs {
                requirements.push(expression_requirement(expr)?);
            }
        }
        Some(other) => {
            let go_type = "[]v1.LabelSelectorRequirement";
            return Err(json_type_error("matchExpressions", other, go_type));
        }
    }
    requirements.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(LabelSelector {
        requirements,
        nothing: false,
    })
}

/// One `matchExpressions` entry (`{key, operator, values}`) as a requirement; a null entry
/// is an empty one (whose operator "" is then refused), as Go's decoder leaves it.
fn expression_requirement(expr: &Value) -> Result<LabelRequirement, String> {
    let empty = serde_json::Map::new();
    let fields = match expr {
        Value::Object(fields) => fields,
        Value::Null => &empty,
        other => {
            let go_type = "v1.LabelSelectorRequirement";
            return Err(json_type_error("matchExpressions", other, go_type));
        }
    };
    let text = |name: &str| match fields.get(name) {
        None => Ok(""),
        Some(v) => json_str(v, &format!("matchExpressions.{name}"), "string"),
    };
    let key = text("key")?;
    let operator = text("operator")?;
    let op = match operator {
        "In" => LabelOp::In,
        "NotIn" => LabelOp::NotIn,
        "Exists" => LabelOp::Exists,
        "DoesNotExist" => LabelOp::DoesNotExist,
        other => {
            return Err(format!(
                "{} is not a valid label selector operator",
                go_quote(other)
            ));
        }
    };
    let mut values = Vec::new();
    match fields.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                values.push(json_str(item, "matchExpressions.values", "string")?.to_string());
            }
        }
        Some(other) => {
            return Err(json_type_error(
                "matchExpressions.values",
                other,
                "[]string",
            ));
        }
    }
    new_requirement(key, op, values)
}

/// A JSON string's text ("" for null, which Go's decoder leaves as the zero value), or Go's
/// decoding error for anything else.
fn json_str<'a>(v: &'a Value, field: &str, go_type: &str) -> Result<&'a str, String> {
    match v {
        Value::Null => Ok(""),
        Value::String(s) => Ok(s),
        other => Err(json_type_error(field, other, go_type)),
    }
}

/// encoding/json's text for a value of the wrong JSON type.
fn json_type_error(field: &str, v: &Value, go_type: &str) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if field.is_empty() {
        format!("json: cannot unmarshal {kind} into Go value of type {go_type}")
    } else {
        format!(
            "json: cannot unmarshal {kind} into Go struct field LabelSelector.{field} of type {go_type}"
        )
    }
}

/// kube's `NewRequirement`: validates the key, the value count for the operator, and each
/// value, and reports every problem at once (paths `key`, `values`, `values[i]`,
/// `values[i][key]`), as one error or `[e1, e2, ...]`.
fn new_requirement(
    key: &str,
    op: LabelOp,
    values: Vec<String>,
) -> Result<LabelRequirement, String> {
    let mut errs = Vec::new();
    let key_errs = label_key_errors(key);
    if !key_errs.is_empty() {
        errs.push(invalid("key", &go_quote(key), &key_errs.join("; ")));
    }
    let count_problem = match op {
        LabelOp::In | LabelOp::NotIn if values.is_empty() => {
            Some("for 'in', 'notin' operators, values set can't be empty")
        }
        LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::NotEquals if values.len() != 1 => {
            Some("exact-match compatibility requires one single value")
        }
        LabelOp::Exists | LabelOp::DoesNotExist if !values.is_empty() => {
            Some("values set must be empty for exists and does not exist")
        }
        LabelOp::GreaterThan | LabelOp::LessThan if values.len() != 1 => {
            Some("for 'Gt', 'Lt' operators, exactly one value is required")
        }
        _ => None,
    };
    if let Some(detail) = count_problem {
        errs.push(invalid("values", &go_json_strings(&values), detail));
    }
    if matches!(op, LabelOp::GreaterThan | LabelOp::LessThan) {
        for (i, v) in values.iter().enumerate() {
            if v.parse::<i64>().is_err() {
                let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                errs.push(invalid(&format!("values[{i}]"), &go_quote(v), detail));
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let value_errs = label_value_errors(v);
        if !value_errs.is_empty() {
            let path = format!("values[{i}][{key}]");
            errs.push(invalid(&path, &go_quote(v), &value_errs.join("; ")));
        }
    }
    if errs.is_empty() {
        Ok(LabelRequirement {
            key: key.to_string(),
            op,
            values,
        })
    } else {
        Err(aggregate(errs))
    }
}

/// `field.Invalid(path, value, detail).Error()`; `bad_value` is already rendered.
fn invalid(path: &str, bad_value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {bad_value}: {detail}")
}

/// `utilerrors.NewAggregate(...).Error()`: one message as is, several (deduplicated) as
/// `[a, b]`.
fn aggregate(errs: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for e in errs {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    match unique.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// The label selector lexer (a byte lexer, like Go's)
// ---------------------------------------------------------------------------------------------

/// The lexer's tokens (`labels.Token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// The token a literal stands for, if it is an operator or keyword (`string2token`).
fn keyword(literal: &str) -> Option<Token> {
    Some(match literal {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

/// Space, tab, carriage return and newline separate tokens.
fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

/// Characters that make up operators and punctuation.
fn is_special_symbol(ch: u8) -> bool {
    matches!(ch, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a selector into tokens. Every token boundary falls on an ASCII byte, so literals
/// are always whole UTF-8 slices of the input.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next byte, or 0 at the end (a NUL byte in the input reads the same, as in Go).
    fn read(&mut self) -> u8 {
        match self.s.as_bytes().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    /// Steps back over the byte just read.
    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// The input between two byte offsets (always on character boundaries here).
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.s.get(start..end).unwrap_or("")
    }

    /// An identifier, or the keyword `in` / `notin`.
    fn scan_id_or_keyword(&mut self) -> (Token, &'a str) {
        let start = self.pos;
        let end = loop {
            let at = self.pos;
            let ch = self.read();
            if ch == 0 {
                break at;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break at;
            }
        };
        let literal = self.slice(start, end);
        match keyword(literal) {
            Some(tok) => (tok, literal),
            None => (Token::Identifier, literal),
        }
    }

    /// The longest operator made of special symbols (`!=` rather than `!`).
    fn scan_special_symbol(&mut self) -> (Token, &'a str) {
        let start = self.pos;
        let mut last: Option<(Token, &'a str)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special_symbol(ch) {
                self.unread();
                break;
            }
            let buffer = self.slice(start, self.pos);
            match keyword(buffer) {
                Some(tok) => last = Some((tok, buffer)),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        last.unwrap_or((Token::Error, ""))
    }

    /// The next token; whitespace before it is skipped.
    fn lex(&mut self) -> (Token, &'a str) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, "");
        }
        self.unread();
        if is_special_symbol(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The label selector parser
// ---------------------------------------------------------------------------------------------

/// Where the parser is: `in`/`notin` are operators after a key but plain identifiers where a
/// key or value is expected (`in in (in)` is valid).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// kube's recursive-descent parser over the scanned tokens.
struct Parser<'a> {
    items: Vec<(Token, &'a str)>,
    position: usize,
}

impl<'a> Parser<'a> {
    /// Scans the whole input up to (and including) the end-of-string token.
    fn new(s: &'a str) -> Parser<'a> {
        let mut lexer = Lexer { s, pos: 0 };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            items.push(item);
            if item.0 == Token::EndOfString {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    /// The current token, without moving on.
    fn lookahead(&self, context: Context) -> (Token, &'a str) {
        let (tok, lit) = self
            .items
            .get(self.position)
            .copied()
            .unwrap_or((Token::EndOfString, ""));
        match (context, tok) {
            (Context::Values, Token::In | Token::NotIn) => (Token::Identifier, lit),
            _ => (tok, lit),
        }
    }

    /// The current token, moving past it.
    fn consume(&mut self, context: Context) -> (Token, &'a str) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    /// `<selector> ::= <requirement> | <requirement> "," <selector>` (or nothing at all).
    fn parse(&mut self) -> Result<Vec<LabelRequirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    /// `<requirement> ::= [!] KEY [ <set-based-restriction> | <exact-match-restriction> ]`.
    fn parse_requirement(&mut self) -> Result<LabelRequirement, String> {
        let (key, unary) = self.parse_key_and_infer_operator()?;
        if let Some(op) = unary {
            return new_requirement(key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            LabelOp::In | LabelOp::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(key, op, values.into_iter().collect())
    }

    /// The key, and `Exists`/`DoesNotExist` when no binary operator follows (`!` always
    /// makes it `DoesNotExist`).
    fn parse_key_and_infer_operator(&mut self) -> Result<(&'a str, Option<LabelOp>), String> {
        let (mut tok, mut literal) = self.consume(Context::Values);
        let negated = tok == Token::DoesNotExist;
        if negated {
            (tok, literal) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let errs = label_key_errors(literal);
        if !errs.is_empty() {
            return Err(invalid("<nil>", &go_quote(literal), &errs.join("; ")));
        }
        if negated {
            return Ok((literal, Some(LabelOp::DoesNotExist)));
        }
        let (next, _) = self.lookahead(Context::Values);
        let exists = matches!(next, Token::EndOfString | Token::Comma);
        Ok((literal, exists.then_some(LabelOp::Exists)))
    }

    /// One of the binary operators `in notin = == != > <`.
    fn parse_operator(&mut self) -> Result<LabelOp, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => LabelOp::In,
            Token::Equals => LabelOp::Equals,
            Token::DoubleEquals => LabelOp::DoubleEquals,
            Token::GreaterThan => LabelOp::GreaterThan,
            Token::LessThan => LabelOp::LessThan,
            Token::NotIn => LabelOp::NotIn,
            Token::NotEquals => LabelOp::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    /// `<value-set> ::= "(" <values> ")"`; `()` is the set holding "".
    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (close, _) = self.consume(Context::Values);
                if close != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    /// A comma-separated list of (possibly empty) values, up to but not including `)`.
    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut set = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    set.insert(lit.to_string());
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => {}
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{next_lit}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        set.insert(String::new());
                        return Ok(set);
                    }
                    if next == Token::Comma {
                        set.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<`; nothing there means "".
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::EndOfString | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(BTreeSet::from([lit.to_string()]))
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Label key and value validation (k8s.io/apimachinery/pkg/api/validate/content)
// ---------------------------------------------------------------------------------------------

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
     and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of \
     alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
     character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower \
     case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
     character";
const LABEL_NAME_MAX_LEN: usize = 63;
const LABEL_VALUE_MAX_LEN: usize = 63;
const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;

/// `content.RegexError`: the message, the examples and the regex, worded as kube words them
/// (including its doubled space before each `or`).
fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{example}', "));
    }
    out.push_str(&format!("regex used for validation is '{re}')"));
    out
}

/// `content.MaxLenError`.
fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} bytes")
}

/// `content.IsLabelKey`: `[prefix/]name`, prefix a DNS subdomain, name a 63-byte label name.
fn label_key_errors(key: &str) -> Vec<String> {
    let key_regex_error = || {
        regex_error(
            LABEL_KEY_ERR_MSG,
            LABEL_KEY_FMT,
            &["MyName", "my.name", "123-abc"],
        )
    };
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                let prefix_errs = dns1123_subdomain_errors(prefix);
                errs.extend(prefix_errs.into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            return vec![format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                key_regex_error()
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > LABEL_NAME_MAX_LEN {
        errs.push(format!("name part {}", max_len_error(LABEL_NAME_MAX_LEN)));
    }
    if !is_label_name(name) {
        errs.push(format!("name part {}", key_regex_error()));
    }
    errs
}

/// `content.IsLabelValue`: empty, or a label name of at most 63 bytes.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LEN {
        errs.push(max_len_error(LABEL_VALUE_MAX_LEN));
    }
    if !value.is_empty() && !is_label_name(value) {
        let examples = ["MyValue", "my_value", "12345"];
        errs.push(regex_error(LABEL_VALUE_ERR_MSG, LABEL_VALUE_FMT, &examples));
    }
    errs
}

/// `content.IsDNS1123Subdomain`: dot-separated lowercase RFC 1123 labels, at most 253 bytes.
fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if !value.split('.').all(is_dns1123_label) {
        let examples = ["example.com"];
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &examples,
        ));
    }
    errs
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`.
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`.
fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

// ---------------------------------------------------------------------------------------------
// Go's renderings of bad values in field errors
// ---------------------------------------------------------------------------------------------

/// Go's `%q` (`strconv.Quote`) of a string: printable characters as is, `"` and `\` escaped,
/// control characters as `\n`, `\x01`, `\u200b` and so on.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: not a control, not a space other than U+0020,
/// not a common format character, not private use. (Go also rejects unassigned code points,
/// which would need Unicode tables.)
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format = matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    );
    let private_or_nonchar = matches!(
        c,
        '\u{e000}'..='\u{f8ff}' | '\u{fffe}' | '\u{ffff}' | '\u{f0000}'..='\u{10ffff}'
    );
    !c.is_control() && !c.is_whitespace() && !format && !private_or_nonchar
}

/// Go's `json.Marshal` of a `[]string` as `field.Error` shows it; empty renders as `null`
/// because kube's callers pass a nil slice there.
fn go_json_strings(values: &[String]) -> String {
    if values.is_empty() {
        return "null".to_string();
    }
    let items: Vec<String> = values.iter().map(|v| go_json_string(v)).collect();
    format!("[{}]", items.join(","))
}

/// Go's `json.Marshal` of a string (HTML-safe: `<`, `>`, `&` become `\u003c` ...).
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// How a field requirement relates the field to its value (`=` and `==` are the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Equals,
    NotEquals,
}

/// One term of a field selector: `field=value` or `field!=value` (value unescaped).
#[derive(Clone, Debug, PartialEq)]
struct FieldRequirement {
    field: String,
    op: FieldOp,
    value: String,
}

/// A parsed field selector (`metadata.name=web,spec.nodeName!=n1`, `==` too, with kube's
/// escaping rules `\,` `\=` `\\` in values). The default value selects everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    /// AND of all terms, in kube's order (terms sorted as written).
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter with kube's messages for invalid selectors
    /// (`invalid selector: 'x'; can't understand 'x'`, `invalid field selector: invalid escape
    /// sequence: \a`, `invalid field selector: unescaped character in value: 61`).
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut terms = split_terms(s);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, raw)) = split_term(term) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            };
            requirements.push(FieldRequirement {
                field: field.to_string(),
                op,
                value: unescape_value(raw)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The field names it mentions, for checking them against what a resource supports.
    pub fn fields(&self) -> Vec<&str> {
        self.requirements.iter().map(|r| r.field.as_str()).collect()
    }

    /// Whether the object passes: `get(field)` returns the object's value of that field
    /// (None = field absent, which kube compares as "").
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = get(&r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals => actual == r.value,
                FieldOp::NotEquals => actual != r.value,
            }
        })
    }

    /// The value required by the first `=`/`==` requirement on `field`, if any (kube's
    /// `RequiresExactMatch`; the api-server uses it to narrow e.g. spec.nodeName watches).
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.op == FieldOp::Equals && r.field == field)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// kube's `Selector.String()`: `a=b,c!=d`, values as they are (not re-escaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", r.field, r.value)?;
        }
        Ok(())
    }
}

/// Splits a field selector on commas that are not escaped; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(selector.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    terms.push(selector.get(start..).unwrap_or(""));
    terms
}

/// Splits a term at the first operator (`!=`, then `==`, then `=` at each position); the
/// field part has no escaping, the value part comes back still escaped.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    const OPERATORS: [(&str, FieldOp); 3] = [
        ("!=", FieldOp::NotEquals),
        ("==", FieldOp::Equals),
        ("=", FieldOp::Equals),
    ];
    for (i, _) in term.char_indices() {
        let rest = term.get(i..).unwrap_or("");
        for (text, op) in OPERATORS {
            if let Some(value) = rest.strip_prefix(text) {
                return Some((term.get(..i).unwrap_or(""), op, value));
            }
        }
    }
    None
}

/// kube's `UnescapeValue`: `\\`, `\,` and `\=` stand for themselves; any other escape, a
/// trailing `\`, or a bare `,`/`=` is an error.
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// The value of a dotted field path (`metadata.name`, `spec.nodeName`, `status.phase`,
/// `involvedObject.kind`, `type`) in a JSON object, rendered as kube's field sets render it
/// (strings as is, booleans `true`/`false`, numbers in decimal). None when absent, null, or
/// not a scalar.
pub fn field_value(obj: &Value, path: &str) -> Option<String> {
    let mut current = obj;
    for segment in path.split('.') {
        current = current.as_object()?.get(segment)?;
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// kube-apiserver's error text when a field selector names a field a built-in resource does
/// not support (the resource's field label conversion function): for
/// `kubectl get pods --field-selector foo=bar` the Status message is
/// `field label not supported: foo`.
pub fn unsupported_field_message(field: &str) -> String {
    format!("field label not supported: {field}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse_ok(s: &str) -> LabelSelector {
        match LabelSelector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?} should parse, got {e}"),
        }
    }

    fn parse_err(s: &str) -> String {
        match LabelSelector::parse(s) {
            Ok(sel) => panic!("{s:?} should fail, got {sel:?}"),
            Err(e) => e,
        }
    }

    fn req(key: &str, op: LabelOp, values: &[&str]) -> LabelRequirement {
        LabelRequirement {
            key: key.to_string(),
            op,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn reqs(s: &str) -> Vec<LabelRequirement> {
        parse_ok(s).requirements
    }

    const KEY_REGEX: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must \
         start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
         '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_REGEX: &str = "a valid label must be an empty string or consist of alphanumeric \
         characters, '-', '_' or '.', and must start and end with an alphanumeric character \
         (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
         '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn lexer_tokens() {
        let cases = [
            ("", Token::EndOfString, ""),
            (",", Token::Comma, ","),
            ("notin", Token::NotIn, "notin"),
            ("in", Token::In, "in"),
            ("=", Token::Equals, "="),
            ("==", Token::DoubleEquals, "=="),
            (">", Token::GreaterThan, ">"),
            ("<", Token::LessThan, "<"),
            ("!", Token::DoesNotExist, "!"),
            ("!=", Token::NotEquals, "!="),
            ("(", Token::OpenPar, "("),
            (")", Token::ClosedPar, ")"),
            ("~", Token::Identifier, "~"),
            ("||", Token::Identifier, "||"),
        ];
        for (s, tok, lit) in cases {
            let mut lexer = Lexer { s, pos: 0 };
            assert_eq!(lexer.lex(), (tok, lit), "{s:?}");
        }
    }

    #[test]
    fn lexer_sequences() {
        use Token::*;
        let cases: [(&str, &[Token]); 6] = [
            (
                "key in ( value )",
                &[Identifier, In, OpenPar, Identifier, ClosedPar],
            ),
            ("!key", &[DoesNotExist, Identifier]),
            (
                "x in (),y",
                &[Identifier, In, OpenPar, ClosedPar, Comma, Identifier],
            ),
            (
                "== != (), = notin",
                &[
                    DoubleEquals,
                    NotEquals,
                    OpenPar,
                    ClosedPar,
                    Comma,
                    Equals,
                    NotIn,
                ],
            ),
            ("key>2", &[Identifier, GreaterThan, Identifier]),
            ("a!==b", &[Identifier, NotEquals, Equals, Identifier]),
        ];
        for (s, want) in cases {
            let parser = Parser::new(s);
            let got: Vec<Token> = parser.items.iter().map(|i| i.0).collect();
            let mut want = want.to_vec();
            want.push(EndOfString);
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn parses_every_operator() {
        use LabelOp::*;
        assert_eq!(reqs("a=b"), [req("a", Equals, &["b"])]);
        assert_eq!(reqs("a==b"), [req("a", DoubleEquals, &["b"])]);
        assert_eq!(reqs("a!=b"), [req("a", NotEquals, &["b"])]);
        assert_eq!(reqs("a in (c,b)"), [req("a", In, &["b", "c"])]);
        assert_eq!(reqs("a notin (b)"), [req("a", NotIn, &["b"])]);
        assert_eq!(reqs("a"), [req("a", Exists, &[])]);
        assert_eq!(reqs("!a"), [req("a", DoesNotExist, &[])]);
        assert_eq!(reqs("a>1"), [req("a", GreaterThan, &["1"])]);
        assert_eq!(reqs("a<10"), [req("a", LessThan, &["10"])]);
    }

    #[test]
    fn parses_like_upstream_set_selector_tests() {
        use LabelOp::*;
        assert!(parse_ok("").is_empty());
        assert!(parse_ok("  \t").is_empty());
        assert_eq!(reqs("\rx"), [req("x", Exists, &[])]);
        assert_eq!(
            reqs("this-is-a-dns.domain.com/key-with-dash"),
            [req("this-is-a-dns.domain.com/key-with-dash", Exists, &[])]
        );
        assert_eq!(
            reqs("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)"),
            [req(
                "0.1.2.domain/99",
                NotIn,
                &["10.10.100.1", "tick.tack.clock"]
            )]
        );
        assert_eq!(reqs("foo  in\t (abc)"), [req("foo", In, &["abc"])]);
        assert_eq!(reqs("x notin\n (abc)"), [req("x", NotIn, &["abc"])]);
        assert_eq!(reqs("x in (abc,)"), [req("x", In, &["", "abc"])]);
        assert_eq!(reqs("x in (abc,abc)"), [req("x", In, &["abc"])]);
        assert_eq!(reqs("x in ()"), [req("x", In, &[""])]);
        assert_eq!(reqs("x in (a,,)"), [req("x", In, &["", "a"])]);
        assert_eq!(reqs("x in (a,,,,,,)"), [req("x", In, &["", "a"])]);
        assert_eq!(reqs("x in (a,,a,,a,,a,,)"), [req("x", In, &["", "a"])]);
        assert_eq!(reqs("x in (a,,b)"), [req("x", In, &["", "a", "b"])]);
        assert_eq!(reqs("x notin ( )"), [req("x", NotIn, &[""])]);
        assert_eq!(reqs("x notin (, a)"), [req("x", NotIn, &["", "a"])]);
        assert_eq!(
            reqs("a in (x,y,notin, z,in)"),
            [req("a", In, &["in", "notin", "x", "y", "z"])]
        );
        assert_eq!(reqs("a "), [req("a", Exists, &[])]);
        assert_eq!(reqs("x="), [req("x", Equals, &[""])]);
        assert_eq!(
            reqs("x= ,z= "),
            [req("x", Equals, &[""]), req("z", Equals, &[""])]
        );
        assert_eq!(reqs("notin=in"), [req("notin", Equals, &["in"])]);
        assert_eq!(reqs("in in (in)"), [req("in", In, &["in"])]);
        assert_eq!(
            reqs("x notin (abc,,def),bar,z in (),w"),
            [
                req("bar", Exists, &[]),
                req("w", Exists, &[]),
                req("x", NotIn, &["", "abc", "def"]),
                req("z", In, &[""]),
            ]
        );
    }

    #[test]
    fn sorts_requirements_by_key_and_restrings() {
        assert_eq!(parse_ok("x=a,a=x"), parse_ok("a=x,x=a"));
        let cases = [
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("x!=a,y=b", "x!=a,y=b"),
            ("x=", "x="),
            ("x= ", "x="),
            ("!x", "!x"),
            ("x>1,z<5", "x>1,z<5"),
            ("x==a", "x==a"),
            ("z in (b,a),y notin (c)", "y notin (c),z in (a,b)"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_ok(input).to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn lexer_and_parser_error_messages() {
        let cases = [
            ("x==a==b", "found '==', expected: ',' or 'end of string'"),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            ("x,,y", "found ',', expected: identifier after ','"),
            (
                ",x,y",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            ("a in (xyz),", "found '', expected: identifier after ','"),
            (
                "a in (xyz)b notin ()",
                "found 'b', expected: ',' or 'end of string'",
            ),
            (
                "(",
                "found '(', expected: !, identifier, or 'end of string'",
            ),
            (
                "x nott in (y)",
                "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a (",
                "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a in",
                "unable to parse requirement: found '' expected: '('",
            ),
            (
                "a notin(",
                "unable to parse requirement: found '', expected: ',', ')' or identifier",
            ),
            (
                "a in (xyz abc)",
                "unable to parse requirement: found 'abc', expected: ',' or ')'",
            ),
            (
                "a in (x,=)",
                "unable to parse requirement: found '=', expected: ',', or identifier",
            ),
            (
                "a=(b",
                "unable to parse requirement: found '(', expected: identifier",
            ),
            (
                "!",
                "unable to parse requirement: found '', expected: identifier",
            ),
            (
                "!=a",
                "found '!=', expected: !, identifier, or 'end of string'",
            ),
            (
                "!!a",
                "unable to parse requirement: found '!', expected: identifier",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_err(input), want, "{input:?}");
        }
    }

    #[test]
    fn key_validation_messages() {
        assert_eq!(
            parse_err("-a"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"-a\": name part {KEY_REGEX}"
            )
        );
        let long = "a".repeat(64);
        assert_eq!(
            parse_err(&long),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 bytes"
            )
        );
        assert_eq!(
            parse_err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        );
        assert_eq!(
            parse_err("Example.com/a"),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a \
             lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
             or '.', and must start and end with an alphanumeric character (e.g. 'example.com', \
             regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            parse_err("a/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; name part {KEY_REGEX}"
            )
        );
        assert_eq!(
            parse_err("a/b/c"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key {KEY_REGEX} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )
        );
        assert_eq!(
            parse_err("a\"b"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a\\\"b\": name part {KEY_REGEX}"
            )
        );
        assert!(
            parse_ok("app.kubernetes.io/name=web")
                .matches(&labels(&[("app.kubernetes.io/name", "web")]))
        );
    }

    #[test]
    fn value_validation_messages() {
        // `|` is no operator: `a||y` is one value.
        assert_eq!(
            parse_err("x=a||y=b"),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {VALUE_REGEX}"
            )
        );
        assert_eq!(
            parse_err("a=-b"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-b\": {VALUE_REGEX}"
            )
        );
        let long = "v".repeat(64);
        assert_eq!(
            parse_err(&format!("a in (ok,{long})")),
            format!(
                "unable to parse requirement: values[1][a]: Invalid value: \"{long}\": must be no more than 63 bytes"
            )
        );
        assert_eq!(
            parse_err("a in (z,a.b/c)"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"a.b/c\": {VALUE_REGEX}"
            )
        );
    }

    #[test]
    fn gt_lt_need_integers() {
        assert_eq!(
            parse_err("x<a"),
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' \
             operators, the value must be an integer"
        );
        assert_eq!(
            parse_err("x>"),
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' \
             operators, the value must be an integer"
        );
        assert_eq!(
            parse_err("x>-1"),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"-1\": {VALUE_REGEX}"
            )
        );
        assert_eq!(
            parse_err("x>-a"),
            format!(
                "unable to parse requirement: [values[0]: Invalid value: \"-a\": for 'Gt', 'Lt' \
                 operators, the value must be an integer, values[0][x]: Invalid value: \"-a\": \
                 {VALUE_REGEX}]"
            )
        );
        let sel = parse_ok("x>1,y<5");
        assert!(sel.matches(&labels(&[("x", "2"), ("y", "4")])));
        assert!(!sel.matches(&labels(&[("x", "1"), ("y", "4")])));
        assert!(!sel.matches(&labels(&[("x", "2"), ("y", "5")])));
        assert!(!sel.matches(&labels(&[("x", "two"), ("y", "4")])));
        assert!(!sel.matches(&labels(&[("y", "4")])));
    }

    #[test]
    fn matching_like_upstream() {
        let yes = |s: &str, l: &[(&str, &str)]| assert!(parse_ok(s).matches(&labels(l)), "{s}");
        let no = |s: &str, l: &[(&str, &str)]| assert!(!parse_ok(s).matches(&labels(l)), "{s}");
        yes("", &[("x", "y")]);
        yes("x=y", &[("x", "y")]);
        yes("x==y", &[("x", "y")]);
        yes("x=y,z=w", &[("x", "y"), ("z", "w")]);
        yes("x!=y,z!=w", &[("x", "z"), ("z", "a")]);
        yes("x!=y", &[]);
        yes("notin=in", &[("notin", "in")]);
        yes("x", &[("x", "z")]);
        yes("!x", &[("y", "z")]);
        yes("x in (a,b)", &[("x", "b")]);
        yes("x notin (a,b)", &[("x", "c")]);
        yes("x notin (a,b)", &[]);
        yes("x in ()", &[("x", "")]);
        yes("x=", &[("x", "")]);
        no("x=z", &[]);
        no("x=y", &[("x", "z")]);
        no("x=y,z=w", &[("x", "w"), ("z", "w")]);
        no("x!=y,z!=w", &[("x", "z"), ("z", "w")]);
        no("x", &[("y", "z")]);
        no("!x", &[("x", "z")]);
        no("x in (a,b)", &[("x", "c")]);
        no("x in (a,b)", &[]);
        no("x notin (a,b)", &[("x", "a")]);
        no("x=", &[]);
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let sel = parse_ok("app=web,!canary");
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web", "n": 1}}});
        assert!(sel.matches_object(&pod));
        let canary = json!({"metadata": {"labels": {"app": "web", "canary": "true"}}});
        assert!(!sel.matches_object(&canary));
        assert!(!sel.matches_object(&json!({"metadata": {"name": "p"}})));
        assert!(parse_ok("!app").matches_object(&json!({})));
        assert!(parse_ok("").matches_object(&json!("not an object")));
    }

    #[test]
    fn nul_byte_ends_input_like_go() {
        assert_eq!(reqs("a,b\0,c=d"), reqs("a,b,c=d"));
        // A NUL right after a token is swallowed as its terminator; at a token's start it
        // is the end of the input.
        assert_eq!(reqs("a,\0b"), reqs("a,b"));
        assert_eq!(
            parse_err("a, \0b"),
            "found '', expected: identifier after ','"
        );
        assert_eq!(reqs("a\0"), reqs("a"));
    }

    #[test]
    fn non_ascii_never_panics() {
        assert_eq!(
            parse_err("ключ=v"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"ключ\": name part {KEY_REGEX}"
            )
        );
        assert_eq!(
            parse_err("k in (a\u{1}b)"),
            format!(
                "unable to parse requirement: values[0][k]: Invalid value: \"a\\x01b\": {VALUE_REGEX}"
            )
        );
        assert_eq!(go_quote("a\u{200b}é\u{e000}"), "\"a\\u200bé\\ue000\"");
        assert_eq!(go_quote("\u{10ffff}"), "\"\\U0010ffff\"");
        for s in [
            "é(",
            "(é",
            "!é",
            "é in (é",
            "a=é,",
            "\u{7f}",
            "((((",
            "))",
            "a<>b",
        ] {
            let _ = LabelSelector::parse(s);
            let _ = FieldSelector::parse(s);
        }
    }

    #[test]
    fn label_selector_json() {
        let sel = match from_label_selector_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "zone", "operator": "Exists"}
            ]
        })) {
            Ok(sel) => sel,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            sel.to_string(),
            "app=web,!canary,env notin (dev),tier in (be,fe),zone"
        );
        let good = labels(&[("app", "web"), ("tier", "fe"), ("zone", "z1")]);
        assert!(sel.matches(&good));
        let mut bad = good.clone();
        bad.insert("canary".to_string(), "1".to_string());
        assert!(!sel.matches(&bad));

        let null_value = from_label_selector_json(&json!({"matchLabels": {"a": null}}));
        assert_eq!(null_value.map(|s| s.to_string()), Ok("a=".to_string()));
        let everything = from_label_selector_json(&json!({}));
        assert_eq!(everything.as_ref().map(LabelSelector::is_empty), Ok(true));
        let nothing = from_label_selector_json(&Value::Null);
        assert_eq!(nothing, Ok(LabelSelector::nothing()));
        let nothing = LabelSelector::nothing();
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(&BTreeMap::new()));
        assert!(!nothing.matches_object(&json!({})));
    }

    #[test]
    fn label_selector_json_errors() {
        let err = |v: Value| match from_label_selector_json(&v) {
            Ok(sel) => panic!("{v} should fail, got {sel:?}"),
            Err(e) => e,
        };
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a"}]})),
            "\"\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [null]})),
            "\"\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": 3}]})),
            "json: cannot unmarshal number into Go struct field LabelSelector.matchExpressions.values of type []string"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["<x>"]}]})
            ),
            format!(
                "[values: Invalid value: [\"\\u003cx\\u003e\"]: values set must be empty for \
                 exists and does not exist, values[0][a]: Invalid value: \"<x>\": {VALUE_REGEX}]"
            )
        );
        assert_eq!(
            err(json!({"matchLabels": {"-a": "b"}})),
            format!("key: Invalid value: \"-a\": name part {KEY_REGEX}")
        );
        assert_eq!(
            err(json!({"matchLabels": {"a": "b c"}})),
            format!("values[0][a]: Invalid value: \"b c\": {VALUE_REGEX}")
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "", "operator": "NotIn", "values": ["x y"]}]})),
            format!(
                "[key: Invalid value: \"\": name part must be non-empty; name part {KEY_REGEX}, \
                 values[0][]: Invalid value: \"x y\": {VALUE_REGEX}]"
            )
        );
        assert_eq!(
            err(json!({"matchLabels": {"a": 1}})),
            "json: cannot unmarshal number into Go struct field LabelSelector.matchLabels of type string"
        );
        assert_eq!(
            err(json!([])),
            "json: cannot unmarshal array into Go value of type v1.LabelSelector"
        );
    }

    #[test]
    fn new_requirement_count_checks() {
        let values = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            new_requirement("a", LabelOp::Equals, values(&["x", "y"])),
            Err("values: Invalid value: [\"x\",\"y\"]: exact-match compatibility requires one single value".to_string())
        );
        assert_eq!(
            new_requirement("a", LabelOp::GreaterThan, Vec::new()),
            Err("values: Invalid value: null: for 'Gt', 'Lt' operators, exactly one value is required".to_string())
        );
    }

    fn fsel(s: &str) -> FieldSelector {
        match FieldSelector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?} should parse, got {e}"),
        }
    }

    fn freq(field: &str, op: FieldOp, value: &str) -> FieldRequirement {
        FieldRequirement {
            field: field.to_string(),
            op,
            value: value.to_string(),
        }
    }

    #[test]
    fn field_selector_parses_terms() {
        use FieldOp::*;
        assert!(fsel("").is_empty());
        assert!(fsel(",,").is_empty());
        assert_eq!(
            fsel("spec.nodeName!=n1,metadata.name=web").requirements,
            [
                freq("metadata.name", Equals, "web"),
                freq("spec.nodeName", NotEquals, "n1")
            ]
        );
        assert_eq!(fsel("a==b").requirements, [freq("a", Equals, "b")]);
        assert_eq!(fsel("a=").requirements, [freq("a", Equals, "")]);
        assert_eq!(fsel("a!b=c").requirements, [freq("a!b", Equals, "c")]);
        assert_eq!(fsel("a =b").requirements, [freq("a ", Equals, "b")]);
        assert_eq!(fsel("함=수,목=록").fields(), ["목", "함"]);
        assert_eq!(fsel("b=1,a=2,").fields(), ["a", "b"]);
        assert_eq!(fsel("a==b,c!=d").to_string(), "a=b,c!=d");
    }

    #[test]
    fn field_selector_escapes() {
        use FieldOp::*;
        // Terms are sorted as written, so `k2=...` comes before `k=\...` ('2' < '=').
        assert_eq!(
            fsel(r"k=\,,k2=v2").requirements,
            [freq("k2", Equals, "v2"), freq("k", Equals, ",")]
        );
        assert_eq!(
            fsel(r"k=\\,k2=v2").requirements,
            [freq("k2", Equals, "v2"), freq("k", Equals, "\\")]
        );
        assert_eq!(
            fsel(r"k=\\\,,k2=v2").requirements,
            [freq("k2", Equals, "v2"), freq("k", Equals, "\\,")]
        );
        assert_eq!(fsel(r"k=a\=b").requirements, [freq("k", Equals, "a=b")]);
        assert_eq!(fsel(r"k!=\=").requirements, [freq("k", NotEquals, "=")]);
    }

    #[test]
    fn field_selector_errors() {
        let err = |s: &str| match FieldSelector::parse(s) {
            Ok(sel) => panic!("{s:?} should fail, got {sel:?}"),
            Err(e) => e,
        };
        assert_eq!(
            err("foo"),
            "invalid selector: 'foo'; can't understand 'foo'"
        );
        assert_eq!(
            err("b=1,a"),
            "invalid selector: 'b=1,a'; can't understand 'a'"
        );
        assert_eq!(
            err(r"k=\a\b\"),
            r"invalid field selector: invalid escape sequence: \a"
        );
        assert_eq!(
            err(r"k=\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            err(r"k=\\\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            err("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err("a==="),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err(r"k=\é"),
            r"invalid field selector: invalid escape sequence: \é"
        );
    }

    #[test]
    fn field_selector_matching_and_exact() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "n1", "hostNetwork": true},
            "status": {"phase": "Running"}
        });
        let get = |f: &str| field_value(&pod, f);
        assert!(fsel("metadata.name=web,spec.nodeName!=n2").matches(&get));
        assert!(!fsel("metadata.name=web,spec.nodeName!=n1").matches(&get));
        assert!(fsel("spec.hostNetwork=true").matches(&get));
        assert!(fsel("status.podIP=").matches(&get));
        assert!(!fsel("status.podIP!=").matches(&get));
        assert!(fsel("").matches(&get));

        let sel = fsel("spec.nodeName!=a,spec.nodeName==n1,metadata.name=x");
        assert_eq!(sel.exact("spec.nodeName"), Some("n1"));
        assert_eq!(sel.exact("metadata.name"), Some("x"));
        assert_eq!(fsel("spec.nodeName!=a").exact("spec.nodeName"), None);
        assert_eq!(sel.exact("status.phase"), None);
    }

    #[test]
    fn field_values() {
        let obj = json!({
            "type": "Warning",
            "count": 3,
            "ratio": 1.5,
            "spec": {"unschedulable": false, "list": [1], "nothing": null},
            "involvedObject": {"kind": "Pod"}
        });
        assert_eq!(field_value(&obj, "type").as_deref(), Some("Warning"));
        assert_eq!(field_value(&obj, "count").as_deref(), Some("3"));
        assert_eq!(field_value(&obj, "ratio").as_deref(), Some("1.5"));
        assert_eq!(
            field_value(&obj, "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(
            field_value(&obj, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        assert_eq!(field_value(&obj, "spec.list"), None);
        assert_eq!(field_value(&obj, "spec.nothing"), None);
        assert_eq!(field_value(&obj, "spec"), None);
        assert_eq!(field_value(&obj, "type.sub"), None);
        assert_eq!(field_value(&obj, "missing.path"), None);
        assert_eq!(field_value(&obj, ""), None);
    }

    #[test]
    fn unsupported_field_text() {
        assert_eq!(
            unsupported_field_message("spec.foo"),
            "field label not supported: spec.foo"
        );
    }
}
