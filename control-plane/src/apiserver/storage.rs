//! Objects in the store, laid out and guarded exactly as kube-apiserver's etcd3 storage does
//! it (`k8s.io/apiserver/pkg/storage/etcd3/store.go`), through `keel-client` only, so the
//! same api-server runs on Keel or on etcd:
//! - keys `<prefix>/<resource>/<namespace>/<name>` (cluster-scoped: without the namespace);
//! - values: the object's JSON without `metadata.resourceVersion`, which is the key's
//!   mod_revision when read back (a list's resourceVersion is the header revision);
//! - create is `Txn(If mod_revision(key) == 0, Then Put)`; update and delete are
//!   `Txn(If mod_revision(key) == rv, Then Put|Delete, Else Get)`, so a lost race is a
//!   conflict, never a lost write;
//! - lists read one page at one revision, and the next page at that same revision.

use keel_client::pb::compare::{CompareResult, CompareTarget, TargetUnion};
use keel_client::pb::request_op::Request;
use keel_client::pb::response_op::Response;
use keel_client::pb::{self, Compare, RequestOp};
use keel_client::{Client, Error as ClientError};
use serde_json::Value;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// The object's mod_revision is not the one the caller read; carries the current object.
    #[error("conflict")]
    Conflict(Option<Box<Stored>>),
    /// The requested revision is older than the store's compacted revision.
    #[error("too old resource version: {requested} ({compacted})")]
    Compacted { requested: i64, compacted: i64 },
    /// A stored value that is not a JSON object (written by something else).
    #[error("stored value at {key} is not a JSON object: {why}")]
    Corrupt { key: String, why: String },
    /// The store did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

impl From<ClientError> for StorageError {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::DeadlineExceeded => StorageError::Timeout(e.to_string()),
            ClientError::Status(s) if s.code() == keel_client::tonic::Code::DeadlineExceeded => {
                StorageError::Timeout(e.to_string())
            }
            _ => StorageError::Store(e.to_string()),
        }
    }
}

/// An object as read from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The object, with `metadata.resourceVersion` set to `mod_revision`.
    pub object: Value,
    pub mod_revision: i64,
}

/// One page of a list.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Stored>,
    /// The revision the page was read at (the list's resourceVersion).
    pub revision: i64,
    /// The key to continue after, when more items remain.
    pub continue_after: Option<String>,
    /// How many items remain after this page (when known).
    pub remaining: Option<i64>,
}

/// The key-value store under one prefix.
#[derive(Clone)]
pub struct Storage {
    client: Client,
    prefix: String,
}

impl Storage {
    /// Objects under `prefix` (kube's `--etcd-prefix`, default `/registry`).
    pub fn new(client: Client, prefix: &str) -> Self {
        let prefix = format!("/{}", prefix.trim_matches('/'));
        Storage { client, prefix }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The prefix every key of `storage` (a resource's storage path) in `namespace` starts with,
    /// ending in `/`.
    pub fn collection(&self, storage: &str, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!("{}/{}/{}/", self.prefix, storage, ns),
            None => format!("{}/{}/", self.prefix, storage),
        }
    }

    /// The key of one object.
    pub fn key(&self, storage: &str, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.collection(storage, namespace), name)
    }

    /// The object at `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Stored>, StorageError> {
        let resp = self
            .client
            .range(pb::RangeRequest {
                key: key.as_bytes().to_vec(),
                ..Default::default()
            })
            .await?;
        resp.kvs.first().map(decode).transpose()
    }

    /// One page of the objects under `prefix`: at most `limit` (0: all), after
    /// `continue_after` (exclusive), at `revision` (0: the newest).
    pub async fn list(
        &self,
        prefix: &str,
        limit: i64,
        continue_after: Option<&str>,
        revision: i64,
    ) -> Result<Page, StorageError> {
        let start = match continue_after {
            Some(after) => format!("{after}\0"),
            None => prefix.to_string(),
        };
        let resp = self
            .client
            .range(pb::RangeRequest {
                key: start.into_bytes(),
                range_end: keel_client::prefix_range_end(prefix.as_bytes()),
                limit,
                revision,
                ..Default::default()
            })
            .await
            .map_err(|e| compacted_or(e, revision))?;
        let header_rev = resp.header.as_ref().map_or(0, |h| h.revision);
        let items = resp.kvs.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let continue_after = if resp.more {
            resp.kvs
                .last()
                .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        } else {
            None
        };
        let remaining = resp
            .more
            .then(|| resp.count - items.len() as i64)
            .filter(|n| *n > 0);
        Ok(Page {
            items,
            revision: if revision > 0 { revision } else { header_rev },
            continue_after,
            remaining,
        })
    }

    /// The store's newest revision (a linearizable read).
    pub async fn current_revision(&self) -> Result<i64, StorageError> {
        let resp = self
            .client
            .range(pb::RangeRequest {
                key: format!("{}/", self.prefix).into_bytes(),
                count_only: true,
                limit: 1,
                ..Default::default()
            })
            .await?;
        Ok(resp.header.map_or(0, |h| h.revision))
    }

    /// Creates `object` at `key` unless something is there; `lease` 0 for none.
    pub async fn create(
        &self,
        key: &str,
        object: &Value,
        lease: i64,
    ) -> Result<Stored, StorageError> {
        let value = encode(object)?;
        let resp = self
            .client
            .txn(pb::TxnRequest {
                compare: vec![mod_revision_is(key, 0)],
                success: vec![put(key, value.clone(), lease)],
                failure: vec![],
            })
            .await?;
        if !resp.succeeded {
            return Err(StorageError::AlreadyExists);
        }
        let rev = resp.header.map_or(0, |h| h.revision);
        Ok(with_revision(object.clone(), rev))
    }

    /// Replaces the object at `key` if its mod_revision is still `expected`.
    pub async fn update(
        &self,
        key: &str,
        object: &Value,
        expected: i64,
        lease: i64,
    ) -> Result<Stored, StorageError> {
        let value = encode(object)?;
        let resp = self
            .client
            .txn(pb::TxnRequest {
                compare: vec![mod_revision_is(key, expected)],
                success: vec![put(key, value, lease)],
                failure: vec![get(key)],
            })
            .await?;
        if !resp.succeeded {
            return Err(conflict_from(&resp)?);
        }
        let rev = resp.header.map_or(0, |h| h.revision);
        Ok(with_revision(object.clone(), rev))
    }

    /// Deletes the object at `key` if its mod_revision is still `expected`; returns what was
    /// deleted, with the revision of the deletion as its resourceVersion (as kube reports it).
    pub async fn delete(&self, key: &str, expected: i64) -> Result<Stored, StorageError> {
        let resp = self
            .client
            .txn(pb::TxnRequest {
                compare: vec![mod_revision_is(key, expected)],
                success: vec![RequestOp {
                    request: Some(Request::RequestDeleteRange(pb::DeleteRangeRequest {
                        key: key.as_bytes().to_vec(),
                        prev_kv: true,
                        ..Default::default()
                    })),
                }],
                failure: vec![get(key)],
            })
            .await?;
        if !resp.succeeded {
            return Err(conflict_from(&resp)?);
        }
        let rev = resp.header.as_ref().map_or(0, |h| h.revision);
        let prev = resp.responses.first().and_then(|r| match &r.response {
            Some(Response::ResponseDeleteRange(d)) => d.prev_kvs.first(),
            _ => None,
        });
        match prev {
            Some(kv) => {
                let mut stored = decode(kv)?;
                stored = with_revision(stored.object, rev);
                Ok(stored)
            }
            None => Err(StorageError::NotFound),
        }
    }

    /// kube-apiserver's compactor step (`etcd3/compact.go`): records `revision` under
    /// `compact_rev_key` if no other api-server did since `version`, and compacts the store to
    /// the revision recorded last time. Returns the key's new version and the revision to
    /// compact to next time. Several api-servers on one store thus compact once per interval.
    pub async fn compact_step(
        &self,
        version: i64,
        last_revision: i64,
    ) -> Result<(i64, i64), StorageError> {
        const KEY: &str = "compact_rev_key";
        let resp = self
            .client
            .txn(pb::TxnRequest {
                compare: vec![Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Version as i32,
                    key: KEY.as_bytes().to_vec(),
                    range_end: vec![],
                    target_union: Some(TargetUnion::Version(version)),
                }],
                success: vec![put(KEY, last_revision.to_string().into_bytes(), 0)],
                failure: vec![get(KEY)],
            })
            .await?;
        let current = resp.header.as_ref().map_or(0, |h| h.revision);
        if !resp.succeeded {
            let seen = resp
                .responses
                .first()
                .and_then(|r| match &r.response {
                    Some(Response::ResponseRange(g)) => g.kvs.first().map(|kv| kv.version),
                    _ => None,
                })
                .unwrap_or(0);
            return Ok((seen, current));
        }
        if last_revision > 0 {
            match self.client.compact(last_revision).await {
                Ok(_) => tracing::info!(revision = last_revision, "compacted the store"),
                // Another api-server (or an operator) compacted further already.
                Err(e) if is_compacted(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((version + 1, current))
    }
}

/// Whether the store refused a revision as compacted (etcd's `ErrCompacted`).
fn is_compacted(e: &ClientError) -> bool {
    e.to_string()
        .contains("required revision has been compacted")
}

/// A compaction error of a read at `revision`, or the client error as it is.
fn compacted_or(e: ClientError, revision: i64) -> StorageError {
    if is_compacted(&e) {
        StorageError::Compacted {
            requested: revision,
            compacted: 0,
        }
    } else {
        e.into()
    }
}

fn mod_revision_is(key: &str, rev: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Mod as i32,
        key: key.as_bytes().to_vec(),
        range_end: vec![],
        target_union: Some(TargetUnion::ModRevision(rev)),
    }
}

fn put(key: &str, value: Vec<u8>, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(pb::PutRequest {
            key: key.as_bytes().to_vec(),
            value,
            lease,
            ..Default::default()
        })),
    }
}

fn get(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestRange(pb::RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })),
    }
}

/// The conflict a failed guarded write met: the current object, or NotFound when the key is gone.
fn conflict_from(resp: &pb::TxnResponse) -> Result<StorageError, StorageError> {
    let current = resp.responses.first().and_then(|r| match &r.response {
        Some(Response::ResponseRange(g)) => g.kvs.first(),
        _ => None,
    });
    match current {
        None => Ok(StorageError::NotFound),
        Some(kv) => Ok(StorageError::Conflict(Some(Box::new(decode(kv)?)))),
    }
}

/// The stored form of an object: its JSON without resourceVersion.
pub fn encode(object: &Value) -> Result<Vec<u8>, StorageError> {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&object).map_err(|e| StorageError::Store(e.to_string()))
}

/// An object read back from a key-value pair, its resourceVersion the pair's mod_revision.
pub fn decode(kv: &keel_client::mvccpb::KeyValue) -> Result<Stored, StorageError> {
    let key = || String::from_utf8_lossy(&kv.key).into_owned();
    let object: Value = serde_json::from_slice(&kv.value).map_err(|e| StorageError::Corrupt {
        key: key(),
        why: e.to_string(),
    })?;
    if !object.is_object() {
        return Err(StorageError::Corrupt {
            key: key(),
            why: "not an object".into(),
        });
    }
    Ok(with_revision(object, kv.mod_revision))
}

/// `object` with `metadata.resourceVersion` set to `rev`.
pub fn with_revision(mut object: Value, rev: i64) -> Stored {
    if let Some(obj) = object.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
        }
    }
    Stored {
        object,
        mod_revision: rev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_values_carry_no_resource_version() {
        let obj = json!({"kind":"Pod","metadata":{"name":"web","resourceVersion":"7"}});
        let bytes = encode(&obj).unwrap_or_default();
        let back: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(back, json!({"kind":"Pod","metadata":{"name":"web"}}));
        let kv = keel_client::mvccpb::KeyValue {
            key: b"/registry/pods/default/web".to_vec(),
            value: bytes,
            mod_revision: 12,
            ..Default::default()
        };
        let stored = decode(&kv).ok();
        assert_eq!(
            stored.map(|s| s.object["metadata"]["resourceVersion"].clone()),
            Some(json!("12"))
        );
    }

    #[test]
    fn a_value_that_is_not_an_object_is_corrupt() {
        let kv = keel_client::mvccpb::KeyValue {
            key: b"/registry/pods/default/web".to_vec(),
            value: b"[1]".to_vec(),
            ..Default::default()
        };
        assert!(matches!(decode(&kv), Err(StorageError::Corrupt { .. })));
    }
}
