//! `etcdserverpb.Watch`: the bidirectional watch stream.
//!
//! The service is written out here instead of generated, for one reason: its responses are
//! `EncodedWatchResponse`s, whose events were encoded once for every watcher they go to (see
//! `watch::encoded`); the wire format is exactly etcd's `WatchResponse`. Per stream, one task
//! reads create/cancel/progress requests; responses from every watcher of the stream share one
//! bounded channel, so a stalled client costs a bounded buffer and never blocks apply.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use keel_proto::etcdserverpb::watch_create_request::FilterType;
use keel_proto::etcdserverpb::watch_request::RequestUnion;
use keel_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Caller, Credentials};
use super::member::Member;
use crate::auth::Access;
use crate::error::StoreError;
use crate::mvcc::key_range::KeyRange;
use crate::watch::{EncodedWatchResponse, StreamSender, WatchHub, WatchSpec};

/// Responses buffered per stream before its watchers fall back to replay.
const STREAM_BUFFER: usize = 1024;

/// The `etcdserverpb.Watch` gRPC service.
#[derive(Clone)]
pub struct WatchServer {
    member: Arc<Member>,
    max_decoding: usize,
}

impl WatchServer {
    pub fn new(member: Arc<Member>, max_decoding: usize) -> Self {
        Self {
            member,
            max_decoding,
        }
    }
}

impl NamedService for WatchServer {
    const NAME: &'static str = "etcdserverpb.Watch";
}

type ResponseStream = futures::stream::BoxStream<'static, Result<EncodedWatchResponse, Status>>;

struct WatchMethod(Arc<Member>);

impl StreamingService<WatchRequest> for WatchMethod {
    type Response = EncodedWatchResponse;
    type ResponseStream = ResponseStream;
    type Future = BoxFuture<Response<ResponseStream>, Status>;

    fn call(&mut self, request: Request<Streaming<WatchRequest>>) -> Self::Future {
        let member = self.0.clone();
        // Who is watching is settled when the stream opens (its token or certificate); each
        // watcher's range is checked against the auth state when it is created.
        let credentials = Credentials::of(&member, &request);
        Box::pin(async move {
            let caller = match credentials {
                Ok(credentials) => credentials.resolve(&member).await.map(|c| c.user),
                Err(err) => Err(err),
            };
            Ok(Response::new(open_stream(
                member,
                caller,
                request.into_inner(),
            )))
        })
    }
}

impl<B> Service<http::Request<B>> for WatchServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let member = self.member.clone();
        let max_decoding = self.max_decoding;
        if request.uri().path() != "/etcdserverpb.Watch/Watch" {
            return Box::pin(
                async move { Ok(Status::unimplemented("unknown method").into_http()) },
            );
        }
        Box::pin(async move {
            let codec = tonic_prost::ProstCodec::<EncodedWatchResponse, WatchRequest>::default();
            let mut grpc = Grpc::new(codec).apply_max_message_size_config(Some(max_decoding), None);
            Ok(grpc.streaming(WatchMethod(member), request).await)
        })
    }
}

/// Starts serving one client stream: a task reads its requests; the returned stream carries
/// every response of every watcher on it.
fn open_stream(
    member: Arc<Member>,
    caller: Result<Option<String>, StoreError>,
    requests: Streaming<WatchRequest>,
) -> ResponseStream {
    let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
    let hub = member.watch_hub.clone();
    let stream = hub.new_stream();
    let progress_interval = member.config.watch_progress_notify_interval;
    tokio::spawn(serve_requests(
        member,
        caller,
        stream,
        requests,
        sender,
        progress_interval,
    ));
    ReceiverStream::new(receiver).map(Ok).boxed()
}

async fn serve_requests(
    member: Arc<Member>,
    caller: Result<Option<String>, StoreError>,
    stream: u64,
    mut requests: Streaming<WatchRequest>,
    sender: StreamSender,
    progress_interval: Duration,
) {
    let hub = member.watch_hub.clone();
    let max_watchers = member.config.max_watchers_per_stream;
    // Watchers created on this stream, counted again from the hub at the limit (the server
    // also ends watchers itself, e.g. on compaction).
    let mut watchers = 0usize;
    let mut next_watch_id = 0i64;
    let mut progress = tokio::time::interval(progress_interval);
    progress.tick().await;
    loop {
        let request = tokio::select! {
            request = requests.message() => request,
            _ = progress.tick() => {
                send_progress_notifications(&hub, stream, &sender);
                continue;
            }
            _ = sender.closed() => break,
        };
        let Ok(Some(request)) = request else {
            break;
        };
        let reply = match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => {
                if watchers >= max_watchers {
                    watchers = hub.stream_watchers(stream);
                }
                let refusal = if !watch_permitted(&member, &caller, &create) {
                    // etcd's answer, reason text included (a gRPC status rendered by Go).
                    Some(PERMISSION_DENIED_REASON.to_string())
                } else if watchers >= max_watchers {
                    tracing::warn!(
                        stream,
                        max_watchers,
                        "refused a watcher: the stream is at --max-watchers-per-stream"
                    );
                    Some(StoreError::TooManyRequests.to_string())
                } else {
                    None
                };
                match refusal {
                    None => {
                        watchers += 1;
                        create_watcher(&hub, stream, create, &sender, &mut next_watch_id)
                    }
                    Some(reason) => Some(WatchResponse {
                        header: Some(hub.header(hub.current_revision())),
                        watch_id: create.watch_id,
                        created: true,
                        canceled: true,
                        cancel_reason: reason,
                        ..Default::default()
                    }),
                }
            }
            Some(RequestUnion::CancelRequest(cancel)) => {
                if !hub.cancel(stream, cancel.watch_id) {
                    continue; // etcd ignores cancelling an unknown watcher
                }
                watchers = watchers.saturating_sub(1);
                Some(WatchResponse {
                    header: Some(hub.header(hub.current_revision())),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..Default::default()
                })
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                // As etcd: answered only when every watcher of the stream is at the head.
                hub.stream_synced(stream).then(|| WatchResponse {
                    header: Some(hub.header(hub.notified_revision())),
                    watch_id: -1,
                    ..Default::default()
                })
            }
            None => None,
        };
        if let Some(reply) = reply
            && sender.send(EncodedWatchResponse::new(reply)).await.is_err()
        {
            break;
        }
    }
    hub.close_stream(stream);
}

/// What etcd puts in a refused watcher's cancel reason.
const PERMISSION_DENIED_REASON: &str =
    "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/// May the stream's caller watch the range `create` asks for?
fn watch_permitted(
    member: &Member,
    caller: &Result<Option<String>, StoreError>,
    create: &WatchCreateRequest,
) -> bool {
    let state = member.mvcc.auth.state();
    if !state.enabled {
        return true;
    }
    let Ok(user) = caller.clone() else {
        return false;
    };
    Caller { user, state }
        .check(Access::Read, &create.key, &create.range_end)
        .is_ok()
}

/// Validates and registers a watcher. Its `created` response is queued before it can receive
/// events; the return value is only for refusals.
fn create_watcher(
    hub: &Arc<WatchHub>,
    stream: u64,
    create: WatchCreateRequest,
    sender: &StreamSender,
    next_watch_id: &mut i64,
) -> Option<WatchResponse> {
    let header = Some(hub.header(hub.current_revision()));
    let watch_id = if create.watch_id == 0 {
        while hub.exists(stream, *next_watch_id) {
            *next_watch_id += 1;
        }
        let id = *next_watch_id;
        *next_watch_id += 1;
        id
    } else {
        create.watch_id
    };
    // As etcd's mvcc watchStream.Watch: refused watchers get id -1.
    let refuse = |reason: &str| {
        Some(WatchResponse {
            header,
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason.to_string(),
            ..Default::default()
        })
    };
    let inverted = !create.range_end.is_empty()
        && create.range_end != [0]
        && create.key.as_slice() >= create.range_end.as_slice();
    if inverted {
        return refuse("mvcc: watcher range is empty");
    }
    if hub.exists(stream, watch_id) {
        return refuse("mvcc: duplicate watch ID provided on the WatchStream");
    }
    let spec = WatchSpec {
        watch_id,
        range: KeyRange::new(&create.key, &create.range_end),
        prev_kv: create.prev_kv,
        no_put: create.filters.contains(&(FilterType::Noput as i32)),
        no_delete: create.filters.contains(&(FilterType::Nodelete as i32)),
        progress_notify: create.progress_notify,
        fragment: create.fragment,
    };
    let created = WatchResponse {
        header,
        watch_id,
        created: true,
        ..Default::default()
    };
    if sender.try_send(EncodedWatchResponse::new(created)).is_err() {
        return None; // the stream is gone or hopelessly behind
    }
    hub.watch(stream, spec, create.start_revision, sender.clone());
    None
}

/// etcd's progress_notify: synced watchers that asked for it hear the current revision
/// periodically, so they know they missed nothing.
fn send_progress_notifications(hub: &WatchHub, stream: u64, sender: &StreamSender) {
    let revision = hub.notified_revision();
    for watch_id in hub.progress_watchers(stream) {
        let response = WatchResponse {
            header: Some(hub.header(revision)),
            watch_id,
            ..Default::default()
        };
        let _ = sender.try_send(EncodedWatchResponse::new(response));
    }
}
