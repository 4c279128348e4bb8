//! Who is asking: kube-apiserver's authenticators in its order. A client certificate
//! verified against `--client-ca-file` names the user by its subject CN and the groups by
//! its O entries; a bearer token is looked up in `--token-auth-file` (kube's CSV:
//! `token,user,uid,"group1,group2"`). Everyone authenticated is also in
//! `system:authenticated`; a request with neither is `system:anonymous` in
//! `system:unauthenticated`, which the authorizer lets read only health and version paths.
//! A bearer token that is present but unknown is refused (401), never treated as anonymous.

use std::collections::HashMap;
use std::path::Path;

/// An authenticated (or anonymous) user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

pub const ANONYMOUS: &str = "system:anonymous";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const MASTERS: &str = "system:masters";

impl User {
    pub fn anonymous() -> User {
        User {
            name: ANONYMOUS.into(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.into()],
        }
    }

    fn authenticated(name: String, uid: String, mut groups: Vec<String>) -> User {
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.into());
        }
        User { name, uid, groups }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS
    }
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {why}")]
    Line {
        path: String,
        line: usize,
        why: String,
    },
}

/// The static tokens of `--token-auth-file`.
#[derive(Clone, Debug, Default)]
pub struct Tokens(HashMap<String, User>);

impl Tokens {
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Tokens::parse(&text).map_err(|(line, why)| TokenFileError::Line {
            path: path.display().to_string(),
            line,
            why,
        })
    }

    /// kube's token file: one `token,user,uid[,"groups"]` per line; blank lines are skipped.
    pub fn parse(text: &str) -> Result<Tokens, (usize, String)> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = csv_fields(line);
            if fields.len() < 3 {
                return Err((
                    i + 1,
                    format!("token file has {} fields, need at least 3", fields.len()),
                ));
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let user = User::authenticated(fields[1].clone(), fields[2].clone(), groups);
            if map.insert(fields[0].clone(), user).is_some() {
                return Err((i + 1, "duplicate token".into()));
            }
        }
        Ok(Tokens(map))
    }

    pub fn lookup(&self, token: &str) -> Option<&User> {
        self.0.get(token)
    }
}

/// The fields of one CSV line, with `"..."` quoting (`""` inside is a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The user a verified client certificate (DER) names: CN the user, each O a group.
pub fn user_from_certificate(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(str::to_string)
        .collect();
    Some(User::authenticated(name, String::new(), groups))
}

/// The outcome of authenticating one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    User(User),
    /// Credentials were presented and are not valid: 401.
    Refused,
}

/// Authenticates a request from its verified peer certificate and `Authorization` header.
pub fn authenticate(
    peer_cert: Option<&[u8]>,
    authorization: Option<&str>,
    tokens: &Tokens,
) -> Outcome {
    if let Some(user) = peer_cert.and_then(user_from_certificate) {
        return Outcome::User(user);
    }
    match authorization {
        None => Outcome::User(User::anonymous()),
        Some(header) => {
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .map(str::trim);
            match token.and_then(|t| tokens.lookup(t)) {
                Some(user) => Outcome::User(user.clone()),
                None => Outcome::Refused,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_are_kubes_csv() {
        let tokens =
            Tokens::parse("abc,alice,1001,\"dev,ops\"\n\ndef,bob,1002\n").unwrap_or_default();
        let alice = tokens.lookup("abc").cloned();
        assert_eq!(
            alice.map(|u| u.groups),
            Some(vec!["dev".into(), "ops".into(), AUTHENTICATED.into()])
        );
        assert_eq!(tokens.lookup("def").map(|u| u.name.as_str()), Some("bob"));
        assert!(Tokens::parse("onlytoken,user\n").is_err());
        assert!(Tokens::parse("a,b,c\na,d,e\n").is_err());
    }

    #[test]
    fn unknown_tokens_are_refused_and_no_credentials_is_anonymous() {
        let tokens = Tokens::parse("abc,alice,1").unwrap_or_default();
        assert_eq!(
            authenticate(None, Some("Bearer nope"), &tokens),
            Outcome::Refused
        );
        assert_eq!(
            authenticate(None, Some("Basic xyz"), &tokens),
            Outcome::Refused
        );
        assert_eq!(
            authenticate(None, None, &tokens),
            Outcome::User(User::anonymous())
        );
        match authenticate(None, Some("Bearer abc"), &tokens) {
            Outcome::User(u) => assert_eq!(u.name, "alice"),
            Outcome::Refused => panic!("alice refused"),
        }
    }
}
