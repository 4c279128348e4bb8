//! Watch responses whose events are encoded once per applied batch and shared by every watcher
//! they go to.
//!
//! A protobuf message is the concatenation of its fields, so a `WatchResponse` is its small,
//! per-watcher head (header, watch id, flags) followed by its `events` fields (tag 11). Each
//! applied batch is encoded once, with and without `prev_kv`; a watcher's response reuses a
//! slice of those bytes (zero-copy when it matches a contiguous run of events, the common
//! prefix-watch case) instead of re-encoding the events for every watcher.

use keel_proto::etcdserverpb::WatchResponse;
use keel_proto::mvccpb::Event;
use keel_proto::mvccpb::event::EventType;
use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::encoding::{DecodeContext, WireType};

/// `WatchResponse.events` field number.
const EVENTS_TAG: u32 = 11;

/// A `WatchResponse` whose events are already encoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EncodedWatchResponse {
    /// Everything but the events.
    pub head: WatchResponse,
    /// Encoded `events` fields (tag 11), appended after the head.
    pub events: Bytes,
}

impl EncodedWatchResponse {
    pub fn new(head: WatchResponse) -> Self {
        Self {
            head,
            events: Bytes::new(),
        }
    }
}

impl Message for EncodedWatchResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.head.encode_raw(buf);
        buf.put_slice(&self.events);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever encoded by the server; decoding lands everything in `head`.
        self.head.merge_field(tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.head.encoded_len() + self.events.len()
    }

    fn clear(&mut self) {
        self.head.clear();
        self.events = Bytes::new();
    }
}

/// The events of one batch, encoded once in each form a watcher may ask for.
pub struct EncodedBatch<'a> {
    pub events: &'a [Event],
    with_prev: Bytes,
    without_prev: Bytes,
    /// Byte ranges of event i in `with_prev` and in `without_prev`.
    spans: Vec<((usize, usize), (usize, usize))>,
}

/// What a watcher wants out of a batch.
pub struct Selection {
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    /// Events below this revision were already delivered.
    pub from_revision: i64,
}

impl Selection {
    pub fn wants(&self, event: &Event) -> bool {
        let revision = event.kv.as_ref().map_or(0, |kv| kv.mod_revision);
        let is_put = event.r#type == EventType::Put as i32;
        let filtered = if is_put { self.no_put } else { self.no_delete };
        revision >= self.from_revision && !filtered
    }
}

impl<'a> EncodedBatch<'a> {
    pub fn new(events: &'a [Event]) -> Self {
        let mut with_prev = BytesMut::new();
        let mut without_prev = BytesMut::new();
        let mut spans = Vec::with_capacity(events.len());
        for event in events {
            let start_with = with_prev.len();
            prost::encoding::message::encode(EVENTS_TAG, event, &mut with_prev);
            let start_without = without_prev.len();
            if event.prev_kv.is_some() {
                let bare = Event {
                    prev_kv: None,
                    ..event.clone()
                };
                prost::encoding::message::encode(EVENTS_TAG, &bare, &mut without_prev);
            } else {
                prost::encoding::message::encode(EVENTS_TAG, event, &mut without_prev);
            }
            spans.push((
                (start_with, with_prev.len()),
                (start_without, without_prev.len()),
            ));
        }
        Self {
            events,
            with_prev: with_prev.freeze(),
            without_prev: without_prev.freeze(),
            spans,
        }
    }

    fn span(&self, index: usize, prev_kv: bool) -> (usize, usize) {
        let (with, without) = self.spans[index];
        if prev_kv { with } else { without }
    }

    /// The encoded events of `indices` (ascending), split into chunks of at most `max_bytes`
    /// (a single event larger than that is a chunk of its own): one chunk when `max_bytes` is
    /// `usize::MAX`. A chunk of consecutive events is a slice of the shared bytes, no copy.
    pub fn chunks(&self, indices: &[usize], prev_kv: bool, max_bytes: usize) -> Vec<Bytes> {
        let source = if prev_kv {
            &self.with_prev
        } else {
            &self.without_prev
        };
        let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut size = 0;
        for &index in indices {
            let (start, end) = self.span(index, prev_kv);
            match groups.last_mut() {
                Some(group) if size + (end - start) <= max_bytes => group.push((start, end)),
                _ => {
                    groups.push(vec![(start, end)]);
                    size = 0;
                }
            }
            size += end - start;
        }
        groups
            .into_iter()
            .map(|group| {
                let contiguous = group.windows(2).all(|pair| pair[0].1 == pair[1].0);
                match (group.first(), group.last()) {
                    (Some(first), Some(last)) if contiguous => source.slice(first.0..last.1),
                    _ => {
                        let mut copy = BytesMut::new();
                        for (start, end) in group {
                            copy.extend_from_slice(&source[start..end]);
                        }
                        copy.freeze()
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::mvccpb::KeyValue;

    fn put(key: &str, rev: i64, prev: bool) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.into(),
                mod_revision: rev,
                value: b"v".to_vec(),
                version: 1,
                create_revision: rev,
                lease: 0,
            }),
            prev_kv: prev.then(|| KeyValue {
                key: key.into(),
                value: b"old".to_vec(),
                ..Default::default()
            }),
        }
    }

    fn decode(head: WatchResponse, events: Bytes) -> WatchResponse {
        let encoded = EncodedWatchResponse { head, events }.encode_to_vec();
        WatchResponse::decode(encoded.as_slice()).expect("decodes as a WatchResponse")
    }

    #[test]
    fn shared_bytes_decode_as_an_ordinary_watch_response() {
        let events = vec![put("a", 2, true), put("b", 3, false), put("c", 4, true)];
        let batch = EncodedBatch::new(&events);
        let head = WatchResponse {
            watch_id: 7,
            ..Default::default()
        };
        let all = batch.chunks(&[0, 1, 2], true, usize::MAX);
        assert_eq!(all.len(), 1);
        let decoded = decode(head.clone(), all[0].clone());
        assert_eq!(decoded.watch_id, 7);
        assert_eq!(decoded.events, events);

        let sparse = batch.chunks(&[0, 2], false, usize::MAX);
        let decoded = decode(head.clone(), sparse.concat().into());
        let expected: Vec<Event> = [&events[0], &events[2]]
            .into_iter()
            .map(|e| Event {
                prev_kv: None,
                ..e.clone()
            })
            .collect();
        assert_eq!(decoded.events, expected);

        let fragments = batch.chunks(&[0, 1, 2], true, 1);
        assert_eq!(fragments.len(), 3, "each event alone when over the limit");
        let rejoined: Vec<Event> = fragments
            .into_iter()
            .flat_map(|chunk| decode(head.clone(), chunk).events)
            .collect();
        assert_eq!(rejoined, events);
    }
}
