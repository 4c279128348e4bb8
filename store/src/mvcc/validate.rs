//! The checks etcd makes on a request before proposing it (`v3rpc/key.go`): they need no state,
//! so a bad request is refused with etcd's error and never reaches the Raft log.

use std::collections::HashSet;

use keel_proto::etcdserverpb::request_op::Request;
use keel_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use super::key_range::KeyRange;
use crate::error::{Result, StoreError};

pub fn check_range(req: &RangeRequest) -> Result<()> {
    if req.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    let valid_order = (0..=2).contains(&req.sort_order);
    let valid_target = (0..=4).contains(&req.sort_target);
    if !valid_order || !valid_target {
        return Err(StoreError::InvalidSortOption);
    }
    Ok(())
}

pub fn check_put(req: &PutRequest) -> Result<()> {
    if req.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(StoreError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(StoreError::LeaseProvided);
    }
    Ok(())
}

pub fn check_delete(req: &DeleteRangeRequest) -> Result<()> {
    if req.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

/// etcd's checkTxnRequest followed by checkIntervals on both branches.
pub fn check_txn(req: &TxnRequest, max_txn_ops: usize) -> Result<()> {
    check_txn_ops(req, max_txn_ops)?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

fn check_txn_ops(req: &TxnRequest, max_txn_ops: usize) -> Result<()> {
    let ops = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len());
    if ops > max_txn_ops {
        return Err(StoreError::TooManyOps);
    }
    if req.compare.iter().any(|c| c.key.is_empty()) {
        return Err(StoreError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) => check_range(r)?,
            Some(Request::RequestPut(r)) => check_put(r)?,
            Some(Request::RequestDeleteRange(r)) => check_delete(r)?,
            Some(Request::RequestTxn(r)) => check_txn_ops(r, max_txn_ops)?,
            None => return Err(StoreError::KeyNotFound),
        }
    }
    Ok(())
}

/// The keys put and the ranges deleted by one branch (and the nested txns in it).
#[derive(Default)]
struct Writes {
    puts: HashSet<Vec<u8>>,
    deletes: Vec<KeyRange>,
}

impl Writes {
    fn deletes_key(&self, key: &[u8]) -> bool {
        self.deletes.iter().any(|range| range.contains(key))
    }
}

/// etcd's checkIntervals: no key may be put twice, or put and deleted, by one txn branch.
/// The two branches of a nested txn exclude each other, so they may put the same key.
fn check_intervals(ops: &[RequestOp]) -> Result<Writes> {
    let mut writes = Writes::default();
    for op in ops {
        if let Some(Request::RequestDeleteRange(del)) = &op.request {
            writes.deletes.push(KeyRange::new(&del.key, &del.range_end));
        }
    }
    for op in ops {
        let Some(Request::RequestTxn(nested)) = &op.request else {
            continue;
        };
        let then = check_intervals(&nested.success)?;
        let otherwise = check_intervals(&nested.failure)?;
        for key in &then.puts {
            if writes.puts.contains(key) || writes.deletes_key(key) {
                return Err(StoreError::DuplicateKey);
            }
        }
        for key in &otherwise.puts {
            let clash = writes.puts.contains(key) && !then.puts.contains(key);
            if clash || writes.deletes_key(key) {
                return Err(StoreError::DuplicateKey);
            }
        }
        writes.puts.extend(then.puts);
        writes.puts.extend(otherwise.puts);
        writes.deletes.extend(then.deletes);
        writes.deletes.extend(otherwise.deletes);
    }
    for op in ops {
        let Some(Request::RequestPut(put)) = &op.request else {
            continue;
        };
        if writes.puts.contains(&put.key) || writes.deletes_key(&put.key) {
            return Err(StoreError::DuplicateKey);
        }
        writes.puts.insert(put.key.clone());
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.into(),
                ..Default::default()
            })),
        }
    }

    fn del(key: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: key.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    #[test]
    fn duplicate_puts_and_put_delete_overlaps_are_refused() {
        let dup = txn(vec![put("a"), put("a")], vec![]);
        assert_eq!(check_txn(&dup, 128), Err(StoreError::DuplicateKey));
        let overlap = txn(vec![del("a", "c"), put("b")], vec![]);
        assert_eq!(check_txn(&overlap, 128), Err(StoreError::DuplicateKey));
        let fine = txn(vec![put("a")], vec![put("a")]);
        assert_eq!(check_txn(&fine, 128), Ok(()));
        let nested_branches = txn(
            vec![RequestOp {
                request: Some(Request::RequestTxn(txn(vec![put("x")], vec![put("x")]))),
            }],
            vec![],
        );
        assert_eq!(check_txn(&nested_branches, 128), Ok(()));
        let nested_clash = txn(
            vec![
                put("x"),
                RequestOp {
                    request: Some(Request::RequestTxn(txn(vec![put("x")], vec![]))),
                },
            ],
            vec![],
        );
        assert_eq!(check_txn(&nested_clash, 128), Err(StoreError::DuplicateKey));
    }

    #[test]
    fn limits() {
        let many = txn((0..129).map(|i| put(&format!("k{i}"))).collect(), vec![]);
        assert_eq!(check_txn(&many, 128), Err(StoreError::TooManyOps));
        assert_eq!(
            check_txn(&txn(vec![put("")], vec![]), 128),
            Err(StoreError::EmptyKey)
        );
    }
}
