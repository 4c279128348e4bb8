//! The store's typed errors and their mapping onto etcd's gRPC codes and message strings.
//!
//! Every error a client can see carries exactly the text etcd sends (`rpctypes/error.go`), because
//! etcd clients match on those strings. Internal failures (disk, corruption, Raft) are their own
//! variants so the server can log them and answer `Unavailable`/`Internal` without leaking detail.

use tonic::Code;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: invalid sort option")]
    InvalidSortOption,
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: rpc not supported for learner")]
    NotSupportedForLearner,
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    #[error("etcdserver: not leader")]
    NotLeader,
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    MemberNotEnoughStarted,
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("etcdserver: permission not given")]
    PermissionNotGiven,
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    #[error("etcdserver: revision of auth store is old")]
    AuthOldRevision,
    /// The backend file could not be read or written.
    #[error("storage error: {0}")]
    Storage(String),
    /// Stored data failed to decode: the data dir is damaged.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A gRPC status decided elsewhere (e.g. by the leader a request was forwarded to).
    #[error("{message}")]
    Remote { code: i32, message: String },
}

impl StoreError {
    /// The gRPC code etcd answers with for this error.
    pub fn code(&self) -> Code {
        match self {
            Self::EmptyKey
            | Self::TooManyOps
            | Self::DuplicateKey
            | Self::RequestTooLarge
            | Self::ValueProvided
            | Self::LeaseProvided
            | Self::KeyNotFound
            | Self::InvalidSortOption => Code::InvalidArgument,
            Self::Compacted | Self::FutureRevision | Self::LeaseTtlTooLarge => Code::OutOfRange,
            Self::LeaseExists => Code::FailedPrecondition,
            Self::LeaseNotFound => Code::NotFound,
            Self::NoLeader | Self::LeaderChanged | Self::Timeout => Code::Unavailable,
            Self::NotSupportedForLearner
            | Self::NotLeader
            | Self::BadLeaderTransferee
            | Self::PeerUrlExists
            | Self::MemberNotLearner
            | Self::LearnerNotReady
            | Self::MemberNotEnoughStarted => Code::FailedPrecondition,
            Self::NoSpace | Self::TooManyRequests => Code::ResourceExhausted,
            Self::RootUserNotExist
            | Self::RootRoleNotExist
            | Self::UserAlreadyExist
            | Self::UserNotFound
            | Self::RoleAlreadyExist
            | Self::RoleNotFound
            | Self::RoleNotGranted
            | Self::PermissionNotGranted
            | Self::AuthNotEnabled => Code::FailedPrecondition,
            Self::UserEmpty
            | Self::RoleEmpty
            | Self::AuthFailed
            | Self::PermissionNotGiven
            | Self::InvalidAuthMgmt
            | Self::AuthOldRevision => Code::InvalidArgument,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::InvalidAuthToken => Code::Unauthenticated,
            Self::MemberNotFound => Code::NotFound,
            Self::MemberBadUrls => Code::InvalidArgument,
            Self::Storage(_) | Self::Corrupt(_) => Code::Internal,
            Self::Remote { code, .. } => Code::from_i32(*code),
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        tonic::Status::new(self.code(), self.to_string())
    }

    /// Rebuilds an error from a status carried in a `CommandResult` or a forwarded reply.
    pub fn from_code_and_message(code: i32, message: String) -> Self {
        Self::Remote { code, message }
    }
}

impl From<StoreError> for tonic::Status {
    fn from(err: StoreError) -> Self {
        err.to_status()
    }
}

macro_rules! storage_error_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StoreError {
            fn from(err: $ty) -> Self {
                StoreError::Storage(err.to_string())
            }
        }
    )*};
}

storage_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error
);

impl From<prost::DecodeError> for StoreError {
    fn from(err: prost::DecodeError) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
