//! Keel's wire API, generated from `proto/`.
//!
//! `etcdserverpb`, `mvccpb` and `authpb` are wire-compatible with etcd v3 (same packages,
//! method paths and field numbers), so etcd clients talk to Keel unchanged. `keelraft` is
//! Keel's own member-to-member protocol and the encoding of what it stores on disk.

#![allow(clippy::all, clippy::pedantic)]

pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

pub mod authpb {
    tonic::include_proto!("authpb");
}

pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

pub mod keelraft {
    tonic::include_proto!("keelraft");
}

mod display;

pub use prost;
pub use tonic;
