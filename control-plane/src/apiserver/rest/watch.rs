//! WATCH over HTTP, as kube-apiserver streams it: newline-delimited JSON
//! `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`.
//!
//! - `resourceVersion` unset or `0`: the current objects first, as ADDED, then changes;
//!   a revision N: the changes after N; `sendInitialEvents=true` (with
//!   `resourceVersionMatch=NotOlderThan`): the current objects, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end: "true"` at their revision, then changes (kube-rs's streaming list);
//! - selectors filter as kube's cacher does: an object that starts matching arrives as ADDED,
//!   one that stops matching as DELETED (its last matching state at the new revision);
//! - a compacted start revision ends the stream with an ERROR event carrying 410 Expired;
//! - `timeoutSeconds` ends it cleanly (kube's default: a random 30–60 minutes);
//! - with a Table Accept header each object is a one-row Table, with columns on the first only.
//!
//! Each HTTP watch is one store watch on the collection's prefix with prev_kv and progress
//! notifications; a slow client only fills its own bounded channel and is then cut off, so
//! it never holds up the store or other watchers.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use keel_client::mvccpb::{Event, event::EventType};
use keel_client::pb;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Ctx;
use super::list::Filter;
use crate::apiserver::resources::Resource;
use crate::apiserver::respond::{self, Body, Shape};
use crate::apiserver::status::ApiError;
use crate::apiserver::storage::{self, Storage, StorageError};
use crate::apiserver::table::{self, IncludeObject};

/// Events that may wait for a slow client before its watch is closed.
const CLIENT_BUFFER: usize = 1024;

/// How a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Send the current state first; then, if `end_bookmark`, the initial-events-end bookmark.
    WithState { end_bookmark: bool },
    /// Changes after this revision only.
    After(i64),
}

/// Reads the start of a watch from its query.
pub fn start_of(
    rv: &str,
    send_initial: Option<&str>,
    rv_match: &str,
    bookmarks: bool,
) -> Result<Start, ApiError> {
    match send_initial {
        Some("true") => {
            if rv_match != "NotOlderThan" {
                return Err(ApiError::invalid_list_options(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if !bookmarks {
                return Err(ApiError::invalid_list_options(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks to true",
                ));
            }
            return Ok(Start::WithState { end_bookmark: true });
        }
        Some("false") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid sendInitialEvents value {other:?}"
            )));
        }
    }
    if !rv_match.is_empty() && send_initial.is_none() {
        return Err(ApiError::invalid_list_options(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    match rv {
        "" | "0" if send_initial != Some("false") => Ok(Start::WithState {
            end_bookmark: false,
        }),
        "" | "0" => Ok(Start::After(0)),
        n => n
            .parse::<i64>()
            .ok()
            .filter(|r| *r > 0)
            .map(Start::After)
            .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}"))),
    }
}

/// The type and object of the HTTP event for a store event, after filtering; None when the
/// client is not to hear of it.
pub fn translate(
    ev: &Event,
    filter: &Filter,
) -> Result<Option<(&'static str, Value)>, StorageError> {
    let Some(kv) = &ev.kv else {
        return Ok(None);
    };
    let prev = ev.prev_kv.as_ref().map(storage::decode).transpose()?;
    let prev_matches = prev.as_ref().is_some_and(|p| filter.matches(&p.object));
    if ev.r#type == EventType::Delete as i32 {
        return Ok(match prev {
            Some(p) if prev_matches => Some((
                "DELETED",
                storage::with_revision(p.object, kv.mod_revision).object,
            )),
            _ => None,
        });
    }
    let cur = storage::decode(kv)?;
    let cur_matches = filter.matches(&cur.object);
    let created = prev.is_none() || kv.create_revision == kv.mod_revision;
    Ok(match (created, prev_matches, cur_matches) {
        (true, _, true) => Some(("ADDED", cur.object)),
        (false, true, true) => Some(("MODIFIED", cur.object)),
        (false, false, true) => Some(("ADDED", cur.object)),
        (false, true, false) => prev.map(|p| {
            (
                "DELETED",
                storage::with_revision(p.object, kv.mod_revision).object,
            )
        }),
        _ => None,
    })
}

/// A BOOKMARK's object at `revision`.
pub fn bookmark(r: &Resource, revision: i64, initial_events_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": revision.to_string(), "creationTimestamp": null});
    if initial_events_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta})
}

/// How events are written for one client.
#[derive(Clone)]
struct Encoder {
    resource: &'static Resource,
    table: Option<IncludeObject>,
    headers_sent: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, object: Value) -> Bytes {
        let object = match (self.table, kind) {
            (Some(include), "ADDED" | "MODIFIED" | "DELETED") => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut t = table::table(
                    self.resource.plural,
                    std::slice::from_ref(&object),
                    super::now().as_second(),
                    include,
                    json!({"resourceVersion": rv}),
                );
                if self.headers_sent {
                    t["columnDefinitions"] = Value::Null;
                }
                self.headers_sent = true;
                t
            }
            _ => object,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

/// kube's default watch timeout: a random time between 30 and 60 minutes.
fn default_timeout() -> Duration {
    let spread = super::random()
        .map(|b| u64::from(b[0]) * 1800 / 255)
        .unwrap_or(0);
    Duration::from_secs(1800 + spread)
}

pub async fn watch(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(cx)?;
    let bookmarks = cx.query.flag("allowWatchBookmarks");
    let start = start_of(
        cx.query.get("resourceVersion").unwrap_or(""),
        cx.query.get("sendInitialEvents"),
        cx.query.get("resourceVersionMatch").unwrap_or(""),
        bookmarks,
    )?;
    let timeout = match cx.query.get("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => default_timeout(),
    };
    let table = match respond::shape(cx.header(header::ACCEPT)) {
        Shape::Table => Some(cx.table_include()?),
        Shape::Object => None,
    };
    let encoder = Encoder {
        resource: cx.resource,
        table,
        headers_sent: false,
    };
    let prefix = cx.collection();
    let storage = cx.server.storage().clone();
    // The initial state is read before the response starts, so a failing store is a Status answer.
    let (initial, from) = match start {
        Start::After(rev) => (Vec::new(), rev),
        Start::WithState { .. } => {
            let page = storage
                .list(&prefix, 0, None, 0)
                .await
                .map_err(|e| cx.storage_error(e, ""))?;
            let items = page
                .items
                .into_iter()
                .filter(|s| filter.matches(&s.object))
                .map(|s| s.object)
                .collect();
            (items, page.revision)
        }
    };
    let end_bookmark = matches!(start, Start::WithState { end_bookmark: true });
    let (tx, rx) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
    let resource = cx.resource;
    tokio::spawn(async move {
        let run = stream_events(
            storage,
            prefix,
            filter,
            encoder,
            initial,
            from,
            end_bookmark,
            bookmarks,
            resource,
            tx,
        );
        // The watch ends at its timeout; the client then starts another (as with kube).
        let _ = tokio::time::timeout(timeout, run).await;
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
async fn stream_events(
    storage: Storage,
    prefix: String,
    filter: Filter,
    mut encoder: Encoder,
    initial: Vec<Value>,
    from: i64,
    end_bookmark: bool,
    bookmarks: bool,
    resource: &'static Resource,
    tx: mpsc::Sender<Bytes>,
) {
    // A full client buffer means the client does not keep up: it is cut off and relists.
    let send = |tx: &mpsc::Sender<Bytes>, b: Bytes| tx.try_send(b).is_ok();
    for obj in initial {
        if !send(&tx, encoder.line("ADDED", obj)) {
            return;
        }
    }
    if end_bookmark
        && !send(
            &tx,
            encoder.line("BOOKMARK", bookmark(resource, from, true)),
        )
    {
        return;
    }
    let mut events = storage.client().watch(pb::WatchCreateRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: keel_client::prefix_range_end(prefix.as_bytes()),
        start_revision: if from > 0 { from + 1 } else { 0 },
        prev_kv: true,
        progress_notify: true,
        ..Default::default()
    });
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            _ = tx.closed() => return,
        };
        let resp = match next {
            None => return,
            Some(Ok(resp)) => resp,
            Some(Err(keel_client::Error::Compacted { compact_revision })) => {
                let status = ApiError::too_old_resource_version(from, compact_revision).to_status();
                let _ = send(&tx, encoder.line("ERROR", status));
                return;
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, prefix = %prefix, "store watch failed");
                let status = ApiError::internal(e.to_string()).to_status();
                let _ = send(&tx, encoder.line("ERROR", status));
                return;
            }
        };
        if resp.events.is_empty() {
            let rev = resp.header.as_ref().map_or(0, |h| h.revision);
            if bookmarks
                && rev > 0
                && !send(
                    &tx,
                    encoder.line("BOOKMARK", bookmark(resource, rev, false)),
                )
            {
                return;
            }
            continue;
        }
        for ev in &resp.events {
            match translate(ev, &filter) {
                Ok(Some((kind, obj))) => {
                    if !send(&tx, encoder.line(kind, obj)) {
                        tracing::info!(prefix = %prefix, "watcher too slow, closing its watch");
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an undecodable stored object"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_follow_kubes_rules() {
        assert_eq!(
            start_of("", None, "", false).ok(),
            Some(Start::WithState {
                end_bookmark: false
            })
        );
        assert_eq!(
            start_of("0", None, "", false).ok(),
            Some(Start::WithState {
                end_bookmark: false
            })
        );
        assert_eq!(start_of("15", None, "", false).ok(), Some(Start::After(15)));
        assert_eq!(
            start_of("", Some("true"), "NotOlderThan", true).ok(),
            Some(Start::WithState { end_bookmark: true })
        );
        assert!(start_of("", Some("true"), "", true).is_err());
        assert!(start_of("abc", None, "", false).is_err());
        assert!(start_of("5", None, "Exact", false).is_err());
    }
}
