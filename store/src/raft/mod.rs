//! openraft wiring: the type configuration and the three adaptors openraft needs.
//!
//! - `codec`: openraft's types <-> Keel's protobuf messages (wire and disk).
//! - `log_store`: the Raft log and vote in raft-log (a WAL with group-commit fdatasync).
//! - `state_machine`: applies committed commands to the MVCC store; builds/installs snapshots.
//! - `network`: the tonic client side of the peer transport.
//!
//! The replicated command is the etcd request itself (`keelraft.Command`) and the response is
//! what applying it produced (`keelraft.CommandResult`), as etcd does with its raft requests.

pub mod codec;
pub mod log_store;
pub mod network;
pub mod state_machine;

use keel_proto::keelraft::{Command, CommandResult, Node};

openraft::declare_raft_types!(
    /// Keel's openraft type configuration.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = Node,
);

pub type NodeId = u64;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type Membership = openraft::Membership<NodeId, Node>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;
/// A snapshot: pinned in the state-machine file, or received encoded (see `state_machine`).
pub type SnapshotData = state_machine::SnapshotImage;
pub type Raft = openraft::Raft<TypeConfig, state_machine::StateMachine>;
pub type LeaderId = openraft::impls::leader_id_adv::LeaderId<u64, NodeId>;
