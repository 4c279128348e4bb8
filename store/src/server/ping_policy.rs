//! etcd's keepalive enforcement (`--grpc-keepalive-min-time`) on client connections: a client
//! that pings more often than the policy allows is sent GOAWAY `ENHANCE_YOUR_CALM`
//! "too_many_pings" and disconnected, as grpc-go's server does for etcd.
//!
//! hyper answers HTTP/2 PINGs itself and has no ping policy, so the policy sits below it: each
//! accepted connection is wrapped in [`PingGuarded`], which follows the HTTP/2 frame headers in
//! both directions without copying or buffering anything (payloads are skipped by length). It
//! keeps grpc-go's rules (`http2_server.go`, `handlePing`):
//! - a PING sooner than the minimum time after the previous one is a strike; with no stream
//!   open the minimum is two hours (etcd sets `PermitWithoutStream: false`);
//! - the server sending HEADERS or DATA clears the strikes at the next PING, so pings a client
//!   sends to measure bandwidth while it receives data never count;
//! - the third strike closes the connection, after a GOAWAY the client can read.
//!
//! Peer connections are not policed (etcd's peer transport is not gRPC either).

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// grpc-go's `maxPingStrikes`: the connection closes on the strike after this many.
const MAX_PING_STRIKES: u32 = 2;
/// grpc-go's minimum ping interval while no stream is open and pings without streams are not
/// permitted (its `defaultPingTimeout`).
const IDLE_MIN_TIME: Duration = Duration::from_secs(2 * 3600);
/// The HTTP/2 client connection preface, which precedes the client's first frame.
const CLIENT_PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const PING: u8 = 0x6;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const GOAWAY: u8 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;
const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// One HTTP/2 frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    kind: u8,
    flags: u8,
    stream: u32,
}

/// Where a byte stream stands in its HTTP/2 frames: how much payload (or preface) is left to
/// skip, and the part of the next frame header read so far.
#[derive(Debug)]
struct FrameCursor {
    skip: usize,
    header: [u8; FRAME_HEADER_LEN],
    filled: usize,
}

impl FrameCursor {
    fn new(skip: usize) -> Self {
        FrameCursor {
            skip,
            header: [0; FRAME_HEADER_LEN],
            filled: 0,
        }
    }

    /// Follows `bytes`, calling `on_frame` with each frame header completed in them.
    fn feed(&mut self, mut bytes: &[u8], mut on_frame: impl FnMut(FrameHeader)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let skipped = self.skip.min(bytes.len());
                self.skip -= skipped;
                bytes = &bytes[skipped..];
                continue;
            }
            let taken = (FRAME_HEADER_LEN - self.filled).min(bytes.len());
            self.header[self.filled..self.filled + taken].copy_from_slice(&bytes[..taken]);
            self.filled += taken;
            bytes = &bytes[taken..];
            if self.filled == FRAME_HEADER_LEN {
                self.filled = 0;
                let h = &self.header;
                self.skip = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                on_frame(FrameHeader {
                    kind: h[3],
                    flags: h[4],
                    stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                });
            }
        }
    }

    /// True between two frames, where another frame may be written.
    fn at_boundary(&self) -> bool {
        self.skip == 0 && self.filled == 0
    }
}

/// grpc-go's ping strike counting for one connection.
#[derive(Debug)]
struct PingPolicy {
    min_time: Duration,
    open_streams: HashSet<u32>,
    last_client_stream: u32,
    last_ping: Option<Instant>,
    strikes: u32,
    reset_strikes: bool,
}

impl PingPolicy {
    fn new(min_time: Duration) -> Self {
        PingPolicy {
            min_time,
            open_streams: HashSet::new(),
            last_client_stream: 0,
            last_ping: None,
            strikes: 0,
            reset_strikes: false,
        }
    }

    fn on_incoming(&mut self, frame: FrameHeader, now: Instant) {
        match frame.kind {
            HEADERS if frame.stream > self.last_client_stream => {
                self.last_client_stream = frame.stream;
                self.open_streams.insert(frame.stream);
            }
            RST_STREAM => {
                self.open_streams.remove(&frame.stream);
            }
            PING if frame.flags & ACK == 0 => self.on_ping(now),
            _ => {}
        }
    }

    fn on_outgoing(&mut self, frame: FrameHeader) {
        match frame.kind {
            DATA | HEADERS => {
                self.reset_strikes = true;
                if frame.flags & END_STREAM != 0 {
                    self.open_streams.remove(&frame.stream);
                }
            }
            RST_STREAM => {
                self.open_streams.remove(&frame.stream);
            }
            _ => {}
        }
    }

    fn on_ping(&mut self, now: Instant) {
        let last = self.last_ping.replace(now);
        if std::mem::take(&mut self.reset_strikes) {
            self.strikes = 0;
            return;
        }
        let min_time = if self.open_streams.is_empty() {
            IDLE_MIN_TIME
        } else {
            self.min_time
        };
        if last.is_some_and(|last| now < last + min_time) {
            self.strikes += 1;
        }
    }

    fn tripped(&self) -> bool {
        self.strikes > MAX_PING_STRIKES
    }

    /// The GOAWAY frame grpc-go sends: no stream after the last one the client opened will be
    /// processed, code ENHANCE_YOUR_CALM, debug data "too_many_pings".
    fn goaway(&self) -> Vec<u8> {
        let length = 8 + TOO_MANY_PINGS.len();
        let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + length);
        frame.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(&[GOAWAY, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&self.last_client_stream.to_be_bytes());
        frame.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
        frame.extend_from_slice(TOO_MANY_PINGS);
        frame
    }
}

/// What the connection is doing about a client that broke the policy.
#[derive(Debug)]
enum Closing {
    No,
    /// The GOAWAY still being written, and how much of it is out.
    SendingGoaway(Vec<u8>, usize),
    Closed,
}

/// A client connection under etcd's keepalive enforcement policy; a pass-through when the
/// policy is off (`--grpc-keepalive-min-time 0`, and peer connections).
#[derive(Debug)]
pub struct PingGuarded<IO> {
    inner: IO,
    guard: Option<Guard>,
}

#[derive(Debug)]
struct Guard {
    incoming: FrameCursor,
    outgoing: FrameCursor,
    policy: PingPolicy,
    closing: Closing,
    remote: String,
    listener: String,
}

impl<IO> PingGuarded<IO> {
    /// Wraps a connection accepted on `listener` from `remote` (named in the log line);
    /// `min_time` `None` disables the policy.
    pub fn new(
        inner: IO,
        min_time: Option<Duration>,
        remote: io::Result<SocketAddr>,
        listener: &str,
    ) -> Self {
        let guard = min_time.map(|min_time| Guard {
            incoming: FrameCursor::new(CLIENT_PREFACE_LEN),
            outgoing: FrameCursor::new(0),
            policy: PingPolicy::new(min_time),
            closing: Closing::No,
            remote: remote.map_or_else(|_| "unknown".into(), |addr| addr.to_string()),
            listener: listener.to_string(),
        });
        PingGuarded { inner, guard }
    }
}

fn too_many_pings() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "got too many pings from the client",
    )
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for PingGuarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(guard) = &mut this.guard else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        loop {
            match &mut guard.closing {
                Closing::No => break,
                Closing::Closed => return Poll::Ready(Err(too_many_pings())),
                Closing::SendingGoaway(frame, sent) => {
                    while *sent < frame.len() {
                        let written =
                            ready!(Pin::new(&mut this.inner).poll_write(cx, &frame[*sent..]))?;
                        if written == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        *sent += written;
                    }
                    ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                    guard.closing = Closing::Closed;
                }
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let now = Instant::now();
        let policy = &mut guard.policy;
        guard.incoming.feed(&buf.filled()[before..], |frame| {
            policy.on_incoming(frame, now)
        });
        if policy.tripped() {
            tracing::warn!(remote_addr = %guard.remote, listener = %guard.listener, "client pinged more often than --grpc-keepalive-min-time allows; sending GOAWAY ENHANCE_YOUR_CALM \"too_many_pings\" and closing the connection");
            // The GOAWAY goes out at the next read, between two of hyper's frames, so it may
            // overtake hyper's answer to this PING. Mid-frame, the connection just closes.
            guard.closing = if guard.outgoing.at_boundary() {
                Closing::SendingGoaway(policy.goaway(), 0)
            } else {
                Closing::Closed
            };
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO> PingGuarded<IO> {
    fn closed(&self) -> bool {
        matches!(
            &self.guard,
            Some(Guard {
                closing: Closing::Closed,
                ..
            })
        )
    }

    /// Follows the first `written` bytes of `parts`, which went out to the client.
    fn follow_written<'a>(&mut self, parts: impl IntoIterator<Item = &'a [u8]>, written: usize) {
        let Some(guard) = &mut self.guard else {
            return;
        };
        let policy = &mut guard.policy;
        let mut left = written;
        for part in parts {
            if left == 0 {
                break;
            }
            let followed = left.min(part.len());
            guard
                .outgoing
                .feed(&part[..followed], |frame| policy.on_outgoing(frame));
            left -= followed;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PingGuarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closed() {
            return Poll::Ready(Err(too_many_pings()));
        }
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.follow_written([buf], written);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closed() {
            return Poll::Ready(Err(too_many_pings()));
        }
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.follow_written(bufs.iter().map(|buf| &buf[..]), written);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for PingGuarded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        bytes.extend_from_slice(&[kind, flags]);
        bytes.extend_from_slice(&stream.to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn frame_headers_are_found_however_the_bytes_are_split() {
        let mut stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        stream.extend(frame(HEADERS, 0x4, 1, &[7; 40]));
        stream.extend(frame(PING, 0, 0, &[1; 8]));
        stream.extend(frame(DATA, END_STREAM, 1, &[9; 300]));
        for chunk in [1, 2, 5, 9, 10, 64, stream.len()] {
            let mut cursor = FrameCursor::new(CLIENT_PREFACE_LEN);
            let mut seen = Vec::new();
            for part in stream.chunks(chunk) {
                cursor.feed(part, |f| seen.push(f));
            }
            assert_eq!(
                seen,
                vec![
                    FrameHeader {
                        kind: HEADERS,
                        flags: 0x4,
                        stream: 1
                    },
                    FrameHeader {
                        kind: PING,
                        flags: 0,
                        stream: 0
                    },
                    FrameHeader {
                        kind: DATA,
                        flags: END_STREAM,
                        stream: 1
                    },
                ],
                "chunks of {chunk}"
            );
            assert!(cursor.at_boundary());
        }
    }

    fn ping() -> FrameHeader {
        FrameHeader {
            kind: PING,
            flags: 0,
            stream: 0,
        }
    }

    #[test]
    fn idle_connections_may_not_ping_and_busy_ones_only_every_min_time() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // No stream open: the fourth ping inside two hours closes the connection.
        let mut idle = PingPolicy::new(Duration::from_secs(5));
        for ms in [0, 60_000, 120_000] {
            idle.on_incoming(ping(), at(ms));
            assert!(!idle.tripped());
        }
        idle.on_incoming(ping(), at(180_000));
        assert!(idle.tripped());

        // A stream open: pings at the minimum time are fine, faster ones strike.
        let mut busy = PingPolicy::new(Duration::from_secs(5));
        busy.on_incoming(
            FrameHeader {
                kind: HEADERS,
                flags: 0,
                stream: 1,
            },
            at(0),
        );
        for ms in [0, 5_000, 10_000, 15_000, 20_000] {
            busy.on_incoming(ping(), at(ms));
        }
        assert!(!busy.tripped());
        for ms in [21_000, 22_000, 23_000] {
            busy.on_incoming(ping(), at(ms));
        }
        assert!(busy.tripped());

        // The stream ends (the server's trailers): idle rules again.
        let mut ended = PingPolicy::new(Duration::from_secs(5));
        ended.on_incoming(
            FrameHeader {
                kind: HEADERS,
                flags: 0,
                stream: 1,
            },
            at(0),
        );
        ended.on_outgoing(FrameHeader {
            kind: HEADERS,
            flags: END_STREAM,
            stream: 1,
        });
        for ms in [0, 10_000, 20_000, 30_000] {
            ended.on_incoming(ping(), at(ms));
        }
        assert!(ended.tripped());
    }

    #[test]
    fn data_sent_to_the_client_forgives_its_pings() {
        let start = Instant::now();
        let mut policy = PingPolicy::new(Duration::from_secs(5));
        policy.on_incoming(
            FrameHeader {
                kind: HEADERS,
                flags: 0,
                stream: 1,
            },
            start,
        );
        for ms in 0..20 {
            policy.on_outgoing(FrameHeader {
                kind: DATA,
                flags: 0,
                stream: 1,
            });
            policy.on_incoming(ping(), start + Duration::from_millis(ms));
        }
        assert!(!policy.tripped());
        let acks = FrameHeader {
            kind: PING,
            flags: ACK,
            stream: 0,
        };
        for _ in 0..10 {
            policy.on_incoming(acks, start);
        }
        assert!(!policy.tripped());
    }

    #[test]
    fn the_goaway_is_a_well_formed_frame() {
        let mut policy = PingPolicy::new(Duration::from_secs(5));
        policy.on_incoming(
            FrameHeader {
                kind: HEADERS,
                flags: 0,
                stream: 7,
            },
            Instant::now(),
        );
        let goaway = policy.goaway();
        let mut cursor = FrameCursor::new(0);
        let mut seen = Vec::new();
        cursor.feed(&goaway, |f| seen.push(f));
        assert_eq!(
            seen,
            vec![FrameHeader {
                kind: GOAWAY,
                flags: 0,
                stream: 0
            }]
        );
        assert!(cursor.at_boundary());
        assert_eq!(&goaway[9..13], &7u32.to_be_bytes());
        assert_eq!(&goaway[13..17], &ENHANCE_YOUR_CALM.to_be_bytes());
        assert_eq!(&goaway[17..], TOO_MANY_PINGS);
    }
}
