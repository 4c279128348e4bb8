//! The record of everything the clients did: one entry per operation with its invoke and
//! complete times (monotonic, since the run started), what was asked and what came back, or
//! "indeterminate" when the outcome is unknown (a timeout or a lost connection: the write may
//! or may not have happened). Watchers record every response they got. The whole history is
//! written to a file so a failed run can be inspected.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Put {
        key: String,
        value: String,
        lease: i64,
    },
    Delete {
        key: String,
    },
    Get {
        key: String,
        serializable: bool,
    },
    /// Every key under `prefix`.
    Range {
        prefix: String,
        serializable: bool,
    },
    /// Put `value` if the key's mod_revision is `expected` (0: the key must be absent), as a
    /// Kubernetes update does; otherwise read the key.
    Cas {
        key: String,
        expected: i64,
        value: String,
    },
    LeaseGrant {
        ttl: i64,
    },
    LeaseRevoke {
        id: i64,
    },
}

/// A key as read: (value, mod_revision).
pub type ReadValue = Option<(String, i64)>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Put {
        revision: i64,
    },
    Delete {
        revision: i64,
        deleted: i64,
    },
    Get {
        revision: i64,
        value: ReadValue,
    },
    Range {
        revision: i64,
        kvs: Vec<(String, String, i64)>,
    },
    Cas {
        revision: i64,
        succeeded: bool,
        current: ReadValue,
    },
    LeaseGrant {
        id: i64,
    },
    LeaseRevoke {
        revision: i64,
    },
    /// A definite failure that changed nothing (a read that failed, a refused request).
    Failed(String),
}

impl Response {
    /// The header revision, for responses that carry one.
    pub fn revision(&self) -> Option<i64> {
        match self {
            Response::Put { revision }
            | Response::Delete { revision, .. }
            | Response::Get { revision, .. }
            | Response::Range { revision, .. }
            | Response::Cas { revision, .. }
            | Response::LeaseRevoke { revision } => Some(*revision),
            Response::LeaseGrant { .. } | Response::Failed(_) => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub client: usize,
    /// Nanoseconds since the run started.
    pub call: u64,
    /// `None`: the outcome is unknown.
    pub ret: Option<u64>,
    pub request: Request,
    /// `None` with `ret == None`: indeterminate.
    pub response: Option<Response>,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |ns: u64| ns as f64 / 1e6;
        match self.ret {
            Some(ret) => write!(
                f,
                "client {} [{:.3}ms..{:.3}ms] {:?} -> {:?}",
                self.client,
                ms(self.call),
                ms(ret),
                self.request,
                self.response
            ),
            None => write!(
                f,
                "client {} [{:.3}ms..?] {:?} -> indeterminate",
                self.client,
                ms(self.call),
                self.request
            ),
        }
    }
}

/// One event as a watcher received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedEvent {
    pub key: String,
    /// None: a delete.
    pub value: Option<String>,
    pub mod_revision: i64,
    /// The value before, when the watch asked for prev_kv (None: absent or not asked).
    pub prev_value: Option<String>,
}

/// Everything one watcher saw: its start, its filter, and its responses in order (one
/// `Vec` per response, so that atomicity can be checked).
#[derive(Clone, Debug)]
pub struct WatchRecord {
    pub watcher: usize,
    pub prefix: String,
    pub start_revision: i64,
    pub prev_kv: bool,
    /// etcd's event filters: puts (NOPUT) or deletes (NODELETE) are not sent.
    pub no_put: bool,
    pub no_delete: bool,
    pub responses: Vec<Vec<WatchedEvent>>,
    /// Times the stream broke and was resumed from the next revision.
    pub resumes: usize,
}

/// Shared by every client of a run.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    operations: Arc<Mutex<Vec<Operation>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            operations: Arc::default(),
        }
    }

    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Records a finished operation; `response: None` = indeterminate.
    pub fn record(&self, client: usize, call: u64, request: Request, response: Option<Response>) {
        let ret = response.as_ref().map(|_| self.now());
        self.operations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Operation {
                client,
                call,
                ret,
                request,
                response,
            });
    }

    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = self
            .operations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        ops.sort_by_key(|op| op.call);
        ops
    }
}

/// Writes the history (and the watchers' records) to `path`, one line per entry.
pub fn dump(path: &std::path::Path, ops: &[Operation], watches: &[WatchRecord]) {
    use std::io::Write;
    let Ok(mut file) = std::fs::File::create(path) else {
        eprintln!("cannot write the history to {}", path.display());
        return;
    };
    for (i, op) in ops.iter().enumerate() {
        let _ = writeln!(file, "#{i} {op}");
    }
    for w in watches {
        let _ = writeln!(
            file,
            "watcher {} prefix {:?} from {} prev_kv {} no_put {} no_delete {} resumes {}",
            w.watcher, w.prefix, w.start_revision, w.prev_kv, w.no_put, w.no_delete, w.resumes
        );
        for (i, response) in w.responses.iter().enumerate() {
            let _ = writeln!(file, "  response {i}: {response:?}");
        }
    }
}
