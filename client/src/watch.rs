//! A watch that survives the loss of its member.
//!
//! [`Client::watch`] runs the gRPC Watch stream in a task and hands the caller the
//! responses that carry events or progress. The task remembers the newest revision it has
//! passed on (an event's mod_revision, or a progress notification's header revision); when
//! the stream breaks it reconnects through the client's failover and creates the watch
//! again from the revision after that one, so no event is lost or delivered twice. A watch
//! whose start revision was compacted ends with [`Error::Compacted`], as clientv3 reports it.

use keel_proto::etcdserverpb as pb;
use pb::watch_client::WatchClient;
use pb::watch_request::RequestUnion;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{Client, Lease};
use crate::error::Error;
use crate::retry;

/// How many responses may wait for a slow consumer before the watch task waits too.
const BUFFER: usize = 256;

/// The responses of one watch: each with events or a progress notification.
pub type WatchStream = ReceiverStream<Result<pb::WatchResponse, Error>>;

/// Where a resumed watch starts again: after the newest revision already passed on.
pub fn resume_revision(create: &pb::WatchCreateRequest, last_seen: i64) -> i64 {
    if last_seen > 0 {
        last_seen + 1
    } else {
        create.start_revision
    }
}

/// The newest revision a response tells the consumer all events up to: the last event's
/// revision (a fragment may be followed by more events of that revision, so one less), or a
/// progress notification's header revision.
fn seen_in(resp: &pb::WatchResponse) -> Option<i64> {
    if let Some(last) = resp.events.last().and_then(|e| e.kv.as_ref()) {
        if resp.fragment {
            return Some(last.mod_revision - 1);
        }
        return Some(last.mod_revision);
    }
    (resp.events.is_empty() && !resp.created && !resp.canceled).then(|| header_revision(resp))
}

fn header_revision(resp: &pb::WatchResponse) -> i64 {
    resp.header.as_ref().map_or(0, |h| h.revision)
}

impl Client {
    /// Starts a watch; see the module documentation. Dropping the stream ends it.
    pub fn watch(&self, create: pb::WatchCreateRequest) -> WatchStream {
        let (tx, rx) = mpsc::channel(BUFFER);
        let client = self.clone();
        tokio::spawn(async move {
            let mut last_seen = 0i64;
            let mut attempt = 0u32;
            loop {
                let mut req = create.clone();
                req.start_revision = resume_revision(&create, last_seen);
                match run_once(&client, req, &tx, &mut last_seen, &mut attempt).await {
                    Outcome::ConsumerGone => return,
                    Outcome::Fatal(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Outcome::Broken(why, lease) => {
                        tracing::debug!(error = %why, resume_at = resume_revision(&create, last_seen), "store watch broken, resuming");
                        tokio::time::sleep(retry::backoff(attempt)).await;
                        attempt = attempt.saturating_add(1);
                        if let Some(lease) = lease {
                            // A failed dial is retried by the next round.
                            let _ = client.replace_after_failure(lease).await;
                        }
                    }
                }
            }
        });
        ReceiverStream::new(rx)
    }
}

enum Outcome {
    ConsumerGone,
    Fatal(Error),
    /// The stream broke; the channel it ran on, if it got one, is to be replaced.
    Broken(String, Option<Lease>),
}

async fn run_once(
    client: &Client,
    create: pb::WatchCreateRequest,
    tx: &mpsc::Sender<Result<pb::WatchResponse, Error>>,
    last_seen: &mut i64,
    attempt: &mut u32,
) -> Outcome {
    let lease = match client.channel().await {
        Ok(l) => l,
        Err(e) => return Outcome::Broken(e.to_string(), None),
    };
    let (req_tx, req_rx) = mpsc::channel(1);
    if req_tx
        .send(pb::WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await
        .is_err()
    {
        return Outcome::Broken("request channel closed".into(), None);
    }
    let mut grpc = WatchClient::new(lease.channel.clone()).max_decoding_message_size(usize::MAX);
    let mut stream = match grpc.watch(ReceiverStream::new(req_rx)).await {
        Ok(s) => s.into_inner(),
        Err(status) if status.code() == tonic::Code::Unavailable => {
            return Outcome::Broken(status.message().to_string(), Some(lease));
        }
        Err(status) => return Outcome::Fatal(Error::Status(status)),
    };
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = tx.closed() => return Outcome::ConsumerGone,
        };
        let resp = match next {
            None => return Outcome::Broken("stream ended".into(), Some(lease)),
            Some(Err(status)) if stream_broke(&status) => {
                return Outcome::Broken(status.message().to_string(), Some(lease));
            }
            Some(Err(status)) => return Outcome::Fatal(Error::Status(status)),
            Some(Ok(resp)) => resp,
        };
        if resp.canceled {
            if resp.compact_revision > 0 {
                return Outcome::Fatal(Error::Compacted {
                    compact_revision: resp.compact_revision,
                });
            }
            return Outcome::Fatal(Error::WatchCanceled(resp.cancel_reason));
        }
        if resp.created {
            *attempt = 0;
            continue;
        }
        if let Some(rev) = seen_in(&resp) {
            *last_seen = (*last_seen).max(rev);
        }
        // Keep the request side open for the life of the stream.
        let _ = &req_tx;
        if tx.send(Ok(resp)).await.is_err() {
            return Outcome::ConsumerGone;
        }
    }
}

/// Whether a watch stream failed because of its connection or member (resume elsewhere)
/// rather than because of the request.
fn stream_broke(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::mvccpb::{Event, KeyValue};

    fn resp(events: &[i64], header: i64, fragment: bool) -> pb::WatchResponse {
        pb::WatchResponse {
            header: Some(pb::ResponseHeader {
                revision: header,
                ..Default::default()
            }),
            events: events
                .iter()
                .map(|&r| Event {
                    kv: Some(KeyValue {
                        mod_revision: r,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            fragment,
            ..Default::default()
        }
    }

    #[test]
    fn resumes_after_the_newest_revision_passed_on() {
        let create = pb::WatchCreateRequest {
            start_revision: 7,
            ..Default::default()
        };
        assert_eq!(resume_revision(&create, 0), 7);
        assert_eq!(resume_revision(&create, 9), 10);
        assert_eq!(seen_in(&resp(&[8, 9], 9, false)), Some(9));
        // An event batch's header may be ahead of its events; only the events count.
        assert_eq!(seen_in(&resp(&[8, 9], 11, false)), Some(9));
        // A progress notification moves the resume point even without events.
        assert_eq!(seen_in(&resp(&[], 12, false)), Some(12));
        // A fragment may be followed by more events of its last revision.
        assert_eq!(seen_in(&resp(&[5, 6], 6, true)), Some(5));
    }
}
