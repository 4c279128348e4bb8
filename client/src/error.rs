//! The client's typed errors, and how clientv3 renders a failed call (`etcdserver: ...`,
//! `context deadline exceeded`, or grpc-go's `rpc error: code = ... desc = ...`), so that
//! every caller reports store failures in the words etcd users know.

use tonic::{Code, Status};

/// What clientv3 reports when a dial or a call runs out of time.
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `--endpoints` entry that cannot be dialed as written.
    #[error("{0}")]
    InvalidEndpoint(String),
    /// A TLS file that cannot be read or used.
    #[error("{0}")]
    Tls(String),
    /// No endpoint was given.
    #[error("no endpoints given")]
    NoEndpoints,
    /// The dial or the call ran out of time.
    #[error("{DEADLINE_EXCEEDED}")]
    DeadlineExceeded,
    /// The server answered with a gRPC error.
    #[error("{}", status_message(.0))]
    Status(Status),
    /// A watch was cancelled because its start revision was compacted.
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted { compact_revision: i64 },
    /// The server closed a watch for another reason.
    #[error("watch canceled: {0}")]
    WatchCanceled(String),
}

impl Error {
    /// The gRPC status behind this error, if the server sent one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Status(s) => Some(s),
            _ => None,
        }
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Self {
        Error::Status(s)
    }
}

/// What etcdctl prints for a failed call: clientv3 maps known etcd server errors
/// (all `etcdserver: ...`) to their text, deadline/cancel to the context error, and
/// prints any other gRPC status as Go's grpc `status.Error` formats it.
pub fn status_message(status: &Status) -> String {
    let msg = status.message();
    if msg.starts_with("etcdserver: ") {
        return msg.to_string();
    }
    match status.code() {
        Code::DeadlineExceeded => DEADLINE_EXCEEDED.to_string(),
        code => format!("rpc error: code = {} desc = {}", go_code_name(code), msg),
    }
}

/// grpc-go's `codes.Code.String()`.
pub fn go_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// An error with the errors behind it (a TLS failure reads only "transport error" otherwise).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_follow_clientv3() {
        let s = Status::new(
            Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted",
        );
        assert_eq!(
            status_message(&s),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let s = Status::new(Code::Unimplemented, "unknown service");
        assert_eq!(
            status_message(&s),
            "rpc error: code = Unimplemented desc = unknown service"
        );
        let s = Status::new(Code::DeadlineExceeded, "timeout expired");
        assert_eq!(status_message(&s), DEADLINE_EXCEEDED);
    }
}
