//! LIST, as kube-apiserver answers it: label and field selectors, paging with `limit` and
//! `continue` (kube's token: base64url of `{"v":"meta.k8s.io/v1","rv":<rev>,"start":<key>}`,
//! so every page is read at the first page's revision), `resourceVersion` +
//! `resourceVersionMatch` (unset: the newest; `0`: any; `Exact`: that revision;
//! `NotOlderThan`: at least it), 410 Expired for a compacted revision, and Tables for kubectl.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Response, StatusCode, header};
use serde_json::{Value, json};

use super::Ctx;
use crate::apiserver::respond::{self, Body, Shape};
use crate::apiserver::selectors::{self, FieldSelector, LabelSelector};
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::{StorageError, Stored};
use crate::apiserver::table;

/// kube's message for a continue token whose revision was compacted.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The selectors of a list or watch, checked against what the resource supports.
#[derive(Clone)]
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_query(cx: &Ctx<'_>) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(cx.query.get("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(cx.query.get("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        for f in fields.fields() {
            if !cx.resource.selectable(f) {
                return Err(ApiError::bad_request(selectors::unsupported_field_message(
                    f,
                )));
            }
        }
        Ok(Filter { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj) && self.fields.matches(&|f| selectors::field_value(obj, f))
    }
}

/// A decoded continue token.
#[derive(Debug, PartialEq)]
pub struct Continue {
    pub revision: i64,
    /// The last key returned, relative to the list's prefix.
    pub after: String,
}

pub fn encode_continue(revision: i64, after_relative: &str) -> String {
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": revision, "start": format!("{after_relative}\u{0}")});
    URL_SAFE_NO_PAD.encode(token.to_string())
}

pub fn decode_continue(token: &str) -> Result<Continue, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("illegal base64 data"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let revision = v.get("rv").and_then(Value::as_i64).unwrap_or(0);
    let start = v.get("start").and_then(Value::as_str).unwrap_or("");
    if revision <= 0 || start.is_empty() || start.contains("..") || start.starts_with('/') {
        return Err(bad("invalid start"));
    }
    Ok(Continue {
        revision,
        after: start.trim_end_matches('\u{0}').to_string(),
    })
}

/// The revision a list without a continue token reads at (0: the newest).
pub fn list_revision(cx: &Ctx<'_>) -> Result<i64, ApiError> {
    let rv = cx.query.get("resourceVersion").unwrap_or("");
    let parse = || {
        rv.parse::<i64>()
            .ok()
            .filter(|r| *r >= 0)
            .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
    };
    match cx.query.get("resourceVersionMatch").unwrap_or("") {
        "" | "NotOlderThan" => {
            if !rv.is_empty() {
                parse()?;
            }
            Ok(0)
        }
        "Exact" => {
            let r = parse()?;
            if r == 0 {
                return Err(ApiError::bad_request(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
            Ok(r)
        }
        other => Err(ApiError::bad_request(format!(
            "invalid resourceVersionMatch: {other:?}; supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}

/// One page of matching objects, read until `limit` matches (0: all) or the end.
pub struct Listed {
    pub items: Vec<Stored>,
    pub revision: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

pub async fn read_list(cx: &Ctx<'_>, filter: &Filter) -> Result<Listed, ApiError> {
    let limit = match cx.query.get("limit") {
        None | Some("") => 0,
        Some(l) => l.parse::<i64>().ok().filter(|l| *l >= 0).unwrap_or(0),
    };
    let prefix = cx.collection();
    let (mut revision, mut after) = match cx.query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let c = decode_continue(token)?;
            (c.revision, Some(format!("{prefix}{}", c.after)))
        }
        None => (list_revision(cx)?, None),
    };
    let from_continue = after.is_some();
    let mut items = Vec::new();
    loop {
        // With selectors, read more than asked so that a page fills up (kube does the same).
        let missing = limit - items.len() as i64;
        let want = match (limit, filter.is_empty()) {
            (0, _) => 0,
            (_, true) => missing,
            (_, false) => missing.max(limit),
        };
        let page = match cx
            .server
            .storage()
            .list(&prefix, want, after.as_deref(), revision)
            .await
        {
            Ok(p) => p,
            Err(StorageError::Compacted { .. }) if from_continue => {
                return Err(ApiError::expired(CONTINUE_EXPIRED));
            }
            Err(StorageError::Compacted { requested, .. }) => {
                return Err(ApiError::too_old_resource_version(requested, 0));
            }
            Err(e) => return Err(cx.storage_error(e, "")),
        };
        revision = page.revision;
        let read = page.items.len();
        let mut used = 0;
        for stored in page.items {
            used += 1;
            if filter.matches(&stored.object) {
                items.push(stored);
                if limit > 0 && items.len() as i64 == limit {
                    break;
                }
            }
        }
        let full = limit > 0 && items.len() as i64 == limit;
        if full {
            let more = used < read || page.continue_after.is_some();
            let continue_token = more
                .then(|| items.last().map(|s| object_key(cx, &s.object)))
                .flatten()
                .map(|k| encode_continue(revision, k.strip_prefix(&prefix).unwrap_or(&k)));
            let remaining = if filter.is_empty() && continue_token.is_some() {
                page.remaining
            } else {
                None
            };
            return Ok(Listed {
                items,
                revision,
                continue_token,
                remaining,
            });
        }
        match page.continue_after {
            Some(k) => after = Some(k),
            None => {
                return Ok(Listed {
                    items,
                    revision,
                    continue_token: None,
                    remaining: None,
                });
            }
        }
    }
}

/// The store key of a listed object (its namespace from its metadata).
fn object_key(cx: &Ctx<'_>, obj: &Value) -> String {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    cx.server.storage().key(
        cx.resource.storage,
        if cx.resource.namespaced { ns } else { None },
        name,
    )
}

pub async fn list(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(cx)?;
    let listed = read_list(cx, &filter).await?;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        meta["continue"] = json!(token);
    }
    if let Some(n) = listed.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    let objects: Vec<Value> = listed.items.into_iter().map(|s| s.object).collect();
    if respond::shape(cx.header(header::ACCEPT)) == Shape::Table {
        let include = cx.table_include()?;
        let t = table::table(
            cx.resource.plural,
            &objects,
            super::now().as_second(),
            include,
            meta,
        );
        return Ok(respond::json(StatusCode::OK, &t));
    }
    // kube's typed lists carry no kind/apiVersion on their items.
    let items: Vec<Value> = objects
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    let list = json!({
        "kind": format!("{}List", cx.resource.kind),
        "apiVersion": cx.resource.api_version(),
        "metadata": meta,
        "items": items,
    });
    Ok(respond::json(StatusCode::OK, &list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_refuse_garbage() {
        let t = encode_continue(42, "default/web");
        assert_eq!(
            decode_continue(&t).ok(),
            Some(Continue {
                revision: 42,
                after: "default/web".into()
            })
        );
        assert!(decode_continue("!!!").is_err());
        let escape = URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":3,"start":"../x"}"#);
        assert!(decode_continue(&escape).is_err());
    }
}
