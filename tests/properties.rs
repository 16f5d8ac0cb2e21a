//! Property tests for the sans-IO core, each tied to the RFC 6455 rule it checks.
//!
//! - frame headers and whole frames round-trip (§5.2),
//! - the events of a server connection do not depend on how its input is
//!   split into chunks (§5.2, §5.4),
//! - masking (§5.3),
//! - incremental, fail-fast UTF-8 validation (§8.1),
//! - streamed frames (`start_frame` + `encode_payload`) equal whole frames (§5.2, §5.3).
//!
//! The wire format used to build test input is written independently of the
//! crate (see [`ref_frame`]), so a bug shared by the crate's encoder and
//! decoder cannot cancel itself out.

use proptest::prelude::*;
use proptest::sample::Index;
use wsock::frame::{FrameHeader, HeaderParse, MAX_HEADER_LEN, OpCode};
use wsock::mask::{apply_mask, copy_masked};
use wsock::utf8::Utf8Validator;
use wsock::{CloseCode, Config, Connection, DataKind, Event, Outgoing, ProtocolError};

// ---------------------------------------------------------------------------
// Test helpers
// ---------------------------------------------------------------------------

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

/// Byte-wise reference masking (§5.3): byte `i` is XORed with `key[(offset + i) % 4]`.
fn ref_mask(data: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(offset.wrapping_add(i as u64) % 4) as usize];
    }
}

/// The minimal encoded header length (§5.2: "the minimal number of bytes MUST
/// be used to encode the length").
fn ref_header_len(payload_len: u64, masked: bool) -> usize {
    let ext = match payload_len {
        0..=125 => 0,
        126..=0xFFFF => 2,
        _ => 8,
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// An independent encoding of a frame header (§5.2), written from the RFC's diagram.
fn ref_header(b0: u8, payload_len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = vec![b0];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if payload_len <= 125 {
        v.push(mask_bit | payload_len as u8);
    } else if payload_len <= 0xFFFF {
        v.push(mask_bit | 126);
        v.extend_from_slice(&(payload_len as u16).to_be_bytes());
    } else {
        v.push(mask_bit | 127);
        v.extend_from_slice(&payload_len.to_be_bytes());
    }
    if let Some(key) = mask {
        v.extend_from_slice(&key);
    }
    v
}

/// An independent encoding of a whole frame: first byte `b0`, payload masked with `mask`.
fn ref_frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut v = ref_header(b0, payload.len() as u64, mask);
    let at = v.len();
    v.extend_from_slice(payload);
    if let Some(key) = mask {
        ref_mask(&mut v[at..], key, 0);
    }
    v
}

/// Bytes shown as an escaped byte string (compact in failure messages).
struct Bytes<'a>(&'a [u8]);

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}b\"{}\"", self.0.len(), self.0.escape_ascii())
    }
}

/// An owned copy of an [`Event`].
#[derive(Clone, PartialEq, Eq)]
enum Ev {
    Data {
        kind: DataKind,
        rsv: u8,
        payload: Vec<u8>,
        first: bool,
        last: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

impl std::fmt::Debug for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ev::Data {
                kind,
                rsv,
                payload,
                first,
                last,
            } => write!(
                f,
                "Data({kind:?}, rsv={rsv}, first={first}, last={last}, {:?})",
                Bytes(payload)
            ),
            Ev::Ping(p) => write!(f, "Ping({:?})", Bytes(p)),
            Ev::Pong(p) => write!(f, "Pong({:?})", Bytes(p)),
            Ev::Close(c) => write!(f, "Close({c:?})"),
        }
    }
}

fn own(ev: Event<'_>) -> Ev {
    match ev {
        Event::Data(c) => Ev::Data {
            kind: c.kind,
            rsv: c.rsv,
            payload: c.payload.to_vec(),
            first: c.first,
            last: c.last,
        },
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c) => Ev::Close(c.as_ref().map(|c| (c.code.0, c.reason.as_str().to_owned()))),
    }
}

/// Everything a connection reported for one input stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    events: Vec<Ev>,
    error: Option<ProtocolError>,
}

/// Feeds `chunks` to `conn` one after the other, following the documented
/// `receive` loop, and collects the events. Checks the API contract on the
/// way: `event: None` consumes everything; an event consumes at least one
/// byte; after an error or after the peer's close, input is ignored.
fn feed<R: rand_core::Rng>(
    conn: &mut Connection<R>,
    chunks: &[&[u8]],
) -> Result<Outcome, TestCaseError> {
    let mut events = Vec::new();
    let mut error = None;
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut at = 0;
        loop {
            let len = buf.len() - at;
            match conn.receive(&mut buf[at..]) {
                Err(e) => {
                    prop_assert!(error.is_none(), "a second error {:?} after {:?}", e, error);
                    error = Some(e);
                    // Offer the rest of the chunk again: a failed connection must ignore it.
                    continue;
                }
                Ok(got) => {
                    prop_assert!(got.consumed <= len, "consumed {} of {}", got.consumed, len);
                    let Some(ev) = got.event else {
                        prop_assert_eq!(got.consumed, len, "`event: None` must consume everything");
                        break;
                    };
                    prop_assert!(got.consumed > 0, "an event must consume input");
                    let ev = own(ev);
                    prop_assert!(
                        error.is_none(),
                        "event {:?} after the connection failed with {:?}",
                        ev,
                        error
                    );
                    prop_assert!(
                        !matches!(events.last(), Some(Ev::Close(_))),
                        "event {:?} after the peer's close (§5.5.1)",
                        ev
                    );
                    events.push(ev);
                    at += got.consumed;
                }
            }
        }
    }
    Ok(Outcome { events, error })
}

/// Joins runs of consecutive data chunks of one message. Chunk boundaries
/// inside a frame depend on how the input was split, so events are compared
/// after joining consecutive chunks; `first` comes from the run's first
/// chunk and `last` from its last.
fn normalize(events: &[Ev]) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for ev in events {
        if let Ev::Data {
            kind,
            rsv,
            payload,
            first: false,
            last,
        } = ev
            && let Some(Ev::Data {
                kind: k,
                rsv: r,
                payload: p,
                last: l @ false,
                ..
            }) = out.last_mut()
            && (*k, *r) == (*kind, *rsv)
        {
            p.extend_from_slice(payload);
            *l = *last;
            continue;
        }
        out.push(ev.clone());
    }
    out
}

/// §5.4 and §8.1 as seen by the application: `first`/`last` bracket
/// messages, kind and RSV stay the same within a message, and at every text
/// chunk the message so far is a valid UTF-8 prefix (valid UTF-8 when `last`),
/// unless an extension encoded it (RSV set: RFC 7692 §6).
fn check_message_structure(events: &[Ev]) -> Result<(), TestCaseError> {
    let mut open: Option<(DataKind, u8, Vec<u8>)> = None;
    for (i, ev) in events.iter().enumerate() {
        let Ev::Data {
            kind,
            rsv,
            payload,
            first,
            last,
        } = ev
        else {
            continue;
        };
        match &mut open {
            None => {
                prop_assert!(
                    *first,
                    "event {}: a continuation chunk outside a message in {:?}",
                    i,
                    events
                );
                open = Some((*kind, *rsv, Vec::new()));
            }
            Some((k, r, _)) => {
                prop_assert!(
                    !*first,
                    "event {}: a new message inside another in {:?}",
                    i,
                    events
                );
                prop_assert_eq!(
                    (*k, *r),
                    (*kind, *rsv),
                    "event {}: kind/RSV changed in {:?}",
                    i,
                    events
                );
            }
        }
        let Some((k, r, so_far)) = open.as_mut() else {
            unreachable!()
        };
        so_far.extend_from_slice(payload);
        // A message an extension encoded (RSV set) is not text on the wire.
        if *k == DataKind::Text
            && *r == 0
            && let Err(e) = std::str::from_utf8(so_far)
        {
            prop_assert!(
                !*last && e.error_len().is_none(),
                "event {}: text that is not a valid UTF-8 prefix (last = {}): {:?}",
                i,
                last,
                Bytes(so_far)
            );
        }
        if *last {
            open = None;
        }
    }
    Ok(())
}

/// Splits the error-free part of an outcome into the fully compared events
/// and the trailing unfinished data run right before an error (whose length
/// legitimately depends on chunking: a frame is only delivered up to the
/// chunk where it turned out to be bad).
fn split_partial(outcome: &Outcome) -> (Vec<Ev>, Option<Ev>) {
    let mut events = normalize(&outcome.events);
    let partial = match (outcome.error, events.last()) {
        (Some(_), Some(Ev::Data { last: false, .. })) => events.pop(),
        _ => None,
    };
    (events, partial)
}

/// How to split a stream into chunks.
#[derive(Debug, Clone)]
enum Split {
    /// One byte per chunk.
    Bytewise,
    /// Fixed-size chunks.
    Every(usize),
    /// Cut at arbitrary positions (unsorted, possibly repeated: empty chunks occur).
    Cuts(Vec<Index>),
}

fn split_strategy() -> impl Strategy<Value = Split> {
    prop_oneof![
        1 => Just(Split::Bytewise),
        2 => (1usize..20).prop_map(Split::Every),
        6 => prop::collection::vec(any::<Index>(), 0..24).prop_map(Split::Cuts),
    ]
}

fn apply_split<'a>(bytes: &'a [u8], split: &Split) -> Vec<&'a [u8]> {
    match split {
        Split::Bytewise => bytes.chunks(1).collect(),
        Split::Every(n) => bytes.chunks(*n).collect(),
        Split::Cuts(cuts) => {
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::with_capacity(at.len() + 1);
            let mut from = 0;
            for cut in at {
                pieces.push(&bytes[from..cut]);
                from = cut;
            }
            pieces.push(&bytes[from..]);
            pieces
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn opcode_strategy() -> impl Strategy<Value = OpCode> {
    prop::sample::select(vec![
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ])
}

/// Payload lengths around every boundary of the three length forms, and random ones.
fn payload_len_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0u64,
            1,
            124,
            125,
            126,
            127,
            128,
            0xFFFE,
            0xFFFF,
            0x1_0000,
            0x1_0001,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            1 << 32,
            (1 << 32) + 1,
            (1 << 63) - 2,
            (1 << 63) - 1,
        ]),
        1 => 0u64..300,
        1 => 0u64..0x2_0000,
        2 => 0u64..=i64::MAX as u64,
    ]
}

/// A valid frame header: control frames are final and carry at most 125 bytes (§5.5).
fn header_strategy() -> impl Strategy<Value = FrameHeader> {
    (
        opcode_strategy(),
        any::<bool>(),
        0u8..8,
        any::<Option<[u8; 4]>>(),
        payload_len_strategy(),
        0u64..=125,
    )
        .prop_map(|(opcode, fin, rsv, mask, len, control_len)| {
            let control = matches!(opcode, OpCode::Close | OpCode::Ping | OpCode::Pong);
            FrameHeader {
                fin: fin || control,
                rsv,
                opcode,
                mask,
                payload_len: if control { control_len } else { len },
            }
        })
}

/// Characters of every UTF-8 width, biased towards multi-byte ones.
fn char_strategy() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::char::range(' ', '~'),
        2 => prop::char::range('\u{80}', '\u{7FF}'),
        2 => prop::char::range('\u{800}', '\u{FFFF}'),
        2 => prop::char::range('\u{10000}', '\u{10FFFF}'),
        1 => any::<char>(),
    ]
}

fn string_strategy(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(char_strategy(), 0..=max_chars).prop_map(|v| v.into_iter().collect())
}

/// A deterministic filler for large payloads (cheap to generate and shrink).
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Binary payloads: mostly small, sometimes around the 16-bit and 64-bit length forms.
fn binary_payload_strategy(max_small: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => prop::collection::vec(any::<u8>(), 0..=max_small),
        2 => (120usize..=300, any::<u8>()).prop_map(|(n, s)| filler(n, s)),
        1 => (0xFFF0usize..=70_000, any::<u8>()).prop_map(|(n, s)| filler(n, s)),
    ]
}

/// Text payloads: mostly small, sometimes beyond 65535 bytes.
fn text_payload_strategy(max_chars: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        12 => string_strategy(max_chars),
        1 => string_strategy(8).prop_map(|s| {
            let unit = if s.is_empty() { "é€😀a".to_owned() } else { s };
            let mut big = String::new();
            while big.len() < 0x1_0000 {
                big.push_str(&unit);
            }
            big
        }),
    ]
}

fn control_payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..=20),
        1 => prop::collection::vec(any::<u8>(), 120..=125),
    ]
}

/// Codes that may be sent in a close frame (§7.4.1).
fn close_code_strategy() -> impl Strategy<Value = u16> {
    prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999]
}

/// A close reason of at most 123 bytes (§5.5.1), cut at a char boundary.
fn close_reason_strategy() -> impl Strategy<Value = String> {
    string_strategy(60).prop_map(|mut s| {
        while s.len() > 123 {
            s.pop();
        }
        s
    })
}

fn close_strategy() -> impl Strategy<Value = Option<(u16, String)>> {
    prop::option::of((close_code_strategy(), close_reason_strategy()))
}

/// A frame that may come between the fragments of a message (§5.4).
#[derive(Debug, Clone)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control_strategy() -> impl Strategy<Value = Control> {
    prop_oneof![
        control_payload_strategy().prop_map(Control::Ping),
        control_payload_strategy().prop_map(Control::Pong),
    ]
}

/// One step of a valid client-to-server stream.
#[derive(Debug, Clone)]
enum Item {
    /// A data message split into fragments, each followed by control frames
    /// (the ones after the last fragment come after the message).
    Message {
        kind: DataKind,
        fragments: Vec<(Vec<u8>, Vec<Control>)>,
    },
    Control(Control),
}

fn message_strategy() -> impl Strategy<Value = Item> {
    let payload = prop_oneof![
        text_payload_strategy(40).prop_map(|s| (DataKind::Text, s.into_bytes())),
        binary_payload_strategy(150).prop_map(|b| (DataKind::Binary, b)),
    ];
    (
        payload,
        prop::collection::vec(any::<Index>(), 0..4),
        prop::collection::vec(prop::collection::vec(control_strategy(), 0..=2), 5),
    )
        .prop_map(|((kind, bytes), cuts, controls)| {
            // Cut anywhere, even inside a code point: only the whole message must be UTF-8.
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            at.push(bytes.len());
            let mut from = 0;
            let fragments = at
                .into_iter()
                .zip(controls)
                .map(|(cut, ctrl)| {
                    let piece = bytes[from..cut].to_vec();
                    from = cut;
                    (piece, ctrl)
                })
                .collect();
            Item::Message { kind, fragments }
        })
}

fn item_strategy() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => message_strategy(),
        1 => control_strategy().prop_map(Item::Control),
    ]
}

/// A valid stream from a client: its items, an optional final close, and a seed for the masking keys.
#[derive(Debug, Clone)]
struct Stream {
    items: Vec<Item>,
    close: Option<Option<(u16, String)>>,
    key_seed: u64,
}

fn stream_strategy() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(item_strategy(), 0..8),
        prop::option::of(close_strategy()),
        any::<u64>(),
    )
        .prop_map(|(items, close, key_seed)| Stream {
            items,
            close,
            key_seed,
        })
}

impl Stream {
    /// The wire bytes (built with the reference encoder; masked as a client
    /// sends them, or unmasked as a server does) and the events the peer must
    /// report for them, in order.
    fn wire_and_events(&self, masked: bool) -> (Vec<u8>, Vec<Ev>) {
        let mut rng = TestRng(self.key_seed);
        let mut key = || {
            let k = rand_core::Rng::next_u32(&mut rng).to_be_bytes();
            // Now and then an all-zero key, which leaves the payload as is.
            let k = if k[0] < 16 { [0; 4] } else { k };
            masked.then_some(k)
        };
        let mut wire = Vec::new();
        let mut events = Vec::new();
        fn control(c: &Control, wire: &mut Vec<u8>, events: &mut Vec<Ev>, k: Option<[u8; 4]>) {
            match c {
                Control::Ping(p) => {
                    wire.extend(ref_frame(0x89, k, p));
                    events.push(Ev::Ping(p.clone()));
                }
                Control::Pong(p) => {
                    wire.extend(ref_frame(0x8A, k, p));
                    events.push(Ev::Pong(p.clone()));
                }
            }
        }
        for item in &self.items {
            match item {
                Item::Control(c) => control(c, &mut wire, &mut events, key()),
                Item::Message { kind, fragments } => {
                    let n = fragments.len();
                    for (i, (payload, controls)) in fragments.iter().enumerate() {
                        let opcode = match (i, kind) {
                            (0, DataKind::Text) => 0x1,
                            (0, DataKind::Binary) => 0x2,
                            _ => 0x0,
                        };
                        let fin = if i + 1 == n { 0x80 } else { 0 };
                        wire.extend(ref_frame(fin | opcode, key(), payload));
                        events.push(Ev::Data {
                            kind: *kind,
                            rsv: 0,
                            payload: payload.clone(),
                            first: i == 0,
                            last: i + 1 == n,
                        });
                        for c in controls {
                            control(c, &mut wire, &mut events, key());
                        }
                    }
                }
            }
        }
        if let Some(close) = &self.close {
            let mut payload = Vec::new();
            if let Some((code, reason)) = close {
                payload.extend_from_slice(&code.to_be_bytes());
                payload.extend_from_slice(reason.as_bytes());
            }
            wire.extend(ref_frame(0x88, key(), &payload));
            events.push(Ev::Close(close.clone()));
        }
        (wire, events)
    }
}

/// Frame-shaped garbage: random first bytes (any opcode, RSV and FIN), the
/// mask bit usually set, small payloads of random bytes.
fn garbage_frames_strategy() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        prop_oneof![
            4 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A]),
            1 => any::<u8>(),
        ],
        prop::bool::weighted(0.9),
        any::<[u8; 4]>(),
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..12),
            1 => string_strategy(6).prop_map(String::into_bytes),
            1 => (close_code_strategy(), string_strategy(4))
                .prop_map(|(c, r)| [&c.to_be_bytes()[..], r.as_bytes()].concat()),
        ],
    )
        .prop_map(|(b0, masked, key, payload)| ref_frame(b0, masked.then_some(key), &payload));
    // Now and then a raw header with any length field (extended forms, 64-bit
    // lengths with the top bit set, control frames over 125 bytes).
    let raw_header = (
        prop_oneof![
            prop::sample::select(vec![0x82u8, 0x02, 0x88, 0x89, 0x8A, 0x09]),
            any::<u8>(),
        ],
        prop_oneof![prop::sample::select(vec![1u8, 125, 126, 127]), any::<u8>(),],
        prop::collection::vec(any::<u8>(), 12),
    )
        .prop_map(|(b0, b1, rest)| {
            let mut v = vec![b0, b1 | 0x80];
            v.extend_from_slice(&rest[..masked_header_len(b1) - 2]);
            v
        });
    let piece = prop_oneof![6 => frame, 1 => raw_header];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// Header length for a second header byte with the mask bit forced on.
fn masked_header_len(b1: u8) -> usize {
    match b1 & 0x7F {
        126 => 8,
        127 => 14,
        _ => 6,
    }
}

/// A valid stream with some bytes replaced and possibly truncated.
fn mutated_stream_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        stream_strategy(),
        prop::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        prop::option::of(any::<Index>()),
    )
        .prop_map(|(stream, edits, truncate)| {
            let (mut wire, _) = stream.wire_and_events(true);
            if !wire.is_empty() {
                for (at, byte) in edits {
                    let i = at.index(wire.len());
                    wire[i] = byte;
                }
            }
            if let Some(t) = truncate {
                wire.truncate(t.index(wire.len() + 1));
            }
            wire
        })
}

/// The defaults, or small limits (§10.4) and extension-owned RSV bits (§5.2).
fn config_strategy() -> impl Strategy<Value = Config> {
    prop_oneof![
        2 => Just(Config::new()),
        1 => Just(Config::new().max_frame_size(u64::MAX).max_message_size(u64::MAX)),
        1 => (0u64..40, 0u64..80, any::<bool>(), 0u8..8).prop_map(|(frame, message, pong, rsv)| {
            Config::new()
                .max_frame_size(frame)
                .max_message_size(message)
                .auto_pong(pong)
                .extension_rsv(rsv)
        }),
    ]
}

fn garbage_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200),
        2 => garbage_frames_strategy(),
        2 => mutated_stream_strategy(),
    ]
}

// ---------------------------------------------------------------------------
// 1. Frame round trip (§5.2)
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// RFC 6455 §5.2: `FrameHeader::encode` writes the header in the minimal
    /// length form, byte for byte as the RFC's diagram says, and
    /// `FrameHeader::parse` reads back the same header and length; every
    /// strict prefix is reported incomplete with the right total length.
    #[test]
    fn header_round_trip(h in header_strategy()) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut buf).expect("a 14-byte buffer fits any header");
        let expected_len = ref_header_len(h.payload_len, h.mask.is_some());
        prop_assert_eq!(n, expected_len, "not the minimal length form");
        prop_assert_eq!(h.encoded_len(), n);
        let b0 = (u8::from(h.fin) << 7) | (h.rsv << 4) | h.opcode.bits();
        prop_assert_eq!(&buf[..n], &ref_header(b0, h.payload_len, h.mask)[..]);
        prop_assert_eq!(
            FrameHeader::parse(&buf[..n]),
            Ok(HeaderParse::Complete { header: h, len: n })
        );
        // Trailing bytes (the payload) do not change the parse.
        prop_assert_eq!(
            FrameHeader::parse(&buf),
            Ok(HeaderParse::Complete { header: h, len: n })
        );
        for k in 0..n {
            let needed = if k < 2 { 2 } else { n };
            prop_assert_eq!(
                FrameHeader::parse(&buf[..k]),
                Ok(HeaderParse::Incomplete { needed }),
                "prefix of {} bytes", k
            );
        }
        // Too small an output buffer is refused with the size needed.
        prop_assert_eq!(
            h.encode(&mut buf[..n - 1]),
            Err(wsock::SendError::BufferTooSmall { needed: n as u64 })
        );
    }

    /// RFC 6455 §5.2 / §5.5, the other direction: any bytes either fail to
    /// parse for a reason the RFC gives, or parse to a header that encodes
    /// back to the same bytes when its length was in minimal form.
    #[test]
    fn header_parse_then_encode(bytes in prop::collection::vec(any::<u8>(), 0..=MAX_HEADER_LEN)) {
        match FrameHeader::parse(&bytes) {
            Ok(HeaderParse::Complete { header, len }) => {
                let len7 = bytes[1] & 0x7F;
                prop_assert!(OpCode::from_bits(bytes[0] & 0x0F).is_some());
                prop_assert!(len <= bytes.len());
                let minimal = len == ref_header_len(header.payload_len, header.mask.is_some());
                prop_assert!(header.payload_len >> 63 == 0, "§5.2: the MSB must be 0");
                if header.opcode.is_control() {
                    prop_assert!(header.fin && header.payload_len <= 125, "§5.5: {:?}", header);
                }
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = header.encode(&mut out).unwrap();
                if minimal {
                    prop_assert_eq!(&out[..n], &bytes[..len]);
                } else {
                    prop_assert!(len7 >= 126, "only extended forms can be non-minimal");
                }
            }
            Ok(HeaderParse::Incomplete { needed }) => {
                prop_assert!(needed > bytes.len());
            }
            Err(e) => {
                let op = bytes[0] & 0x0F;
                let len7 = bytes[1] & 0x7F;
                let expected = match OpCode::from_bits(op) {
                    None => ProtocolError::ReservedOpcode(op),
                    Some(op) if op.is_control() && bytes[0] & 0x80 == 0 => {
                        ProtocolError::FragmentedControlFrame
                    }
                    Some(op) if op.is_control() && len7 > 125 => {
                        ProtocolError::ControlFrameTooLong(u64::from(len7))
                    }
                    _ => ProtocolError::LengthOverflow,
                };
                prop_assert_eq!(e, expected);
                if e == ProtocolError::LengthOverflow {
                    prop_assert!(len7 == 127 && bytes[2] & 0x80 != 0);
                }
            }
        }
    }
}

/// What `Connection::encode` is asked to send in the whole-frame round trip.
#[derive(Debug, Clone)]
enum Whole {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn whole_strategy() -> impl Strategy<Value = Whole> {
    prop_oneof![
        3 => text_payload_strategy(200).prop_map(Whole::Text),
        3 => binary_payload_strategy(400).prop_map(Whole::Binary),
        1 => control_payload_strategy().prop_map(Whole::Ping),
        1 => control_payload_strategy().prop_map(Whole::Pong),
        1 => close_strategy().prop_map(Whole::Close),
    ]
}

/// Encodes `what` on `tx`, checks the frame's shape, feeds it to `rx` and
/// checks the event and the reply `rx` owes.
fn whole_round_trip<T: rand_core::Rng, R: rand_core::Rng>(
    tx: &mut Connection<T>,
    rx: &mut Connection<R>,
    what: &Whole,
) -> Result<(), TestCaseError> {
    let client_sends = tx.role() == wsock::Role::Client;
    let (outgoing, opcode, payload, expected) = match what {
        Whole::Text(s) => (
            Outgoing::Text(s),
            OpCode::Text,
            s.as_bytes().to_vec(),
            Ev::Data {
                kind: DataKind::Text,
                rsv: 0,
                payload: s.as_bytes().to_vec(),
                first: true,
                last: true,
            },
        ),
        Whole::Binary(b) => (
            Outgoing::Binary(b),
            OpCode::Binary,
            b.clone(),
            Ev::Data {
                kind: DataKind::Binary,
                rsv: 0,
                payload: b.clone(),
                first: true,
                last: true,
            },
        ),
        Whole::Ping(p) => (
            Outgoing::Ping(p),
            OpCode::Ping,
            p.clone(),
            Ev::Ping(p.clone()),
        ),
        Whole::Pong(p) => (
            Outgoing::Pong(p),
            OpCode::Pong,
            p.clone(),
            Ev::Pong(p.clone()),
        ),
        Whole::Close(c) => {
            let mut payload = Vec::new();
            if let Some((code, reason)) = c {
                payload.extend_from_slice(&code.to_be_bytes());
                payload.extend_from_slice(reason.as_bytes());
            }
            (
                Outgoing::Close(c.as_ref().map(|(code, r)| (CloseCode(*code), r.as_str()))),
                OpCode::Close,
                payload,
                Ev::Close(c.clone()),
            )
        }
    };
    let size = ref_header_len(payload.len() as u64, client_sends) + payload.len();
    let mut out = vec![0u8; size + 3];
    let n = tx.encode(outgoing, &mut out).expect("encode");
    prop_assert_eq!(n, size, "frame size");
    let Ok(HeaderParse::Complete { header, len }) = FrameHeader::parse(&out[..n]) else {
        return Err(TestCaseError::fail("encoded frame does not parse"));
    };
    prop_assert_eq!(
        (header.fin, header.rsv, header.opcode, header.payload_len),
        (true, 0, opcode, payload.len() as u64)
    );
    // §5.1 / §5.3: clients mask every frame, servers never do.
    prop_assert_eq!(header.mask.is_some(), client_sends);
    let mut unmasked = out[len..n].to_vec();
    if let Some(key) = header.mask {
        ref_mask(&mut unmasked, key, 0);
    }
    prop_assert_eq!(&unmasked, &payload);

    let got = feed(rx, &[&out[..n]])?;
    prop_assert_eq!(got.error, None);
    prop_assert_eq!(&got.events, &vec![expected]);

    // §5.5.2 / §5.5.1: a ping is answered with a pong carrying the same
    // payload, a close with a close echoing the code; masked iff `rx` is a client.
    let mut reply = [0u8; 2 * 131];
    let m = rx.poll_transmit(&mut reply);
    let reply_to = match what {
        Whole::Ping(p) => Some((OpCode::Pong, p.clone())),
        Whole::Close(c) => Some((
            OpCode::Close,
            c.as_ref()
                .map_or(vec![], |(code, _)| code.to_be_bytes().to_vec()),
        )),
        _ => None,
    };
    match reply_to {
        None => prop_assert_eq!(m, 0),
        Some((op, body)) => {
            let Ok(HeaderParse::Complete { header, len }) = FrameHeader::parse(&reply[..m]) else {
                return Err(TestCaseError::fail("no reply frame"));
            };
            prop_assert_eq!(header.opcode, op);
            prop_assert_eq!(header.mask.is_some(), !client_sends);
            prop_assert_eq!(m, len + body.len());
            let mut got = reply[len..m].to_vec();
            if let Some(key) = header.mask {
                ref_mask(&mut got, key, 0);
            }
            prop_assert_eq!(got, body);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// RFC 6455 §5.2 (and §5.1/§5.3 for masking): a whole frame written by
    /// `Connection::encode` — unmasked by a server, masked by a client with
    /// a fresh key — has the minimal header, and the peer's
    /// `Connection::receive` reports the same payload and kind.
    #[test]
    fn whole_frame_round_trip(what in whole_strategy(), seed in any::<u64>(), client_sends in any::<bool>()) {
        if client_sends {
            let mut tx = Connection::client(Config::new(), TestRng(seed));
            let mut rx = Connection::server(Config::new());
            whole_round_trip(&mut tx, &mut rx, &what)?;
        } else {
            let mut tx = Connection::server(Config::new());
            let mut rx = Connection::client(Config::new(), TestRng(seed));
            whole_round_trip(&mut tx, &mut rx, &what)?;
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Chunking invariance (§5.2, §5.4)
// ---------------------------------------------------------------------------

/// Feeds a valid stream whole and split to fresh connections from `new`.
fn check_valid_stream<R: rand_core::Rng>(
    new: impl Fn() -> Connection<R>,
    stream: &Stream,
    split: &Split,
    masked: bool,
) -> Result<(), TestCaseError> {
    let (wire, expected) = stream.wire_and_events(masked);
    let whole = feed(&mut new(), &[&wire])?;
    prop_assert_eq!(whole.error, None);
    prop_assert_eq!(normalize(&whole.events), normalize(&expected));
    let chunks = apply_split(&wire, split);
    let mut conn = new();
    let chunked = feed(&mut conn, &chunks)?;
    assert_same_outcome(&whole, &chunked)?;
    prop_assert_eq!(normalize(&chunked.events), normalize(&expected));
    let state = if stream.close.is_some() {
        wsock::State::CloseReceived
    } else {
        wsock::State::Open
    };
    prop_assert_eq!(conn.state(), state);
    Ok(())
}

/// Compares the outcome of a chunked feed with that of a whole feed.
fn assert_same_outcome(whole: &Outcome, chunked: &Outcome) -> Result<(), TestCaseError> {
    check_message_structure(&whole.events)?;
    check_message_structure(&chunked.events)?;
    prop_assert_eq!(chunked.error, whole.error, "errors differ");
    let (w, w_partial) = split_partial(whole);
    let (c, c_partial) = split_partial(chunked);
    prop_assert_eq!(&c, &w, "events differ");
    // Before an error, the unfinished message may have been delivered further
    // when split (a frame is reported chunk by chunk until it turns out bad),
    // never less.
    match (&w_partial, &c_partial) {
        (None, _) => {}
        (
            Some(Ev::Data {
                kind: wk,
                rsv: wr,
                payload: wp,
                first: wf,
                ..
            }),
            Some(Ev::Data {
                kind: ck,
                rsv: cr,
                payload: cp,
                first: cf,
                ..
            }),
        ) => {
            prop_assert_eq!((wk, wr, wf), (ck, cr, cf));
            prop_assert!(
                cp.starts_with(wp),
                "whole feed delivered {:?}, split feed {:?}",
                Bytes(wp),
                Bytes(cp)
            );
        }
        _ => prop_assert!(
            false,
            "whole feed delivered {:?}, split feed {:?}",
            w_partial,
            c_partial
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// RFC 6455 §5.2 / §5.4: a valid client stream (text with multi-byte
    /// UTF-8 split across fragments, binary, control frames between
    /// fragments, an optional close) gives exactly the expected events, and
    /// any split of it into chunks gives the same events (data joined).
    #[test]
    fn chunking_invariance_valid_stream(
        stream in stream_strategy(),
        split in split_strategy(),
        to_client in prop::bool::weighted(0.25),
    ) {
        if to_client {
            // The same, server to client (unmasked frames).
            let new = || Connection::client(Config::new(), TestRng(0));
            check_valid_stream(new, &stream, &split, false)?;
        } else {
            check_valid_stream(|| Connection::server(Config::new()), &stream, &split, true)?;
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// RFC 6455 §5.2 / §5.4: for arbitrary (mostly frame-shaped or mutated)
    /// bytes, any split into chunks gives the same events and the same
    /// error at the same position as feeding them whole.
    #[test]
    fn chunking_invariance_garbage(
        bytes in garbage_strategy(),
        split in split_strategy(),
        config in config_strategy(),
    ) {
        let whole = feed(&mut Connection::server(config), &[&bytes])?;
        let chunks = apply_split(&bytes, &split);
        let chunked = feed(&mut Connection::server(config), &chunks)?;
        assert_same_outcome(&whole, &chunked)?;
    }
}

// ---------------------------------------------------------------------------
// 3. Masking (§5.3)
// ---------------------------------------------------------------------------

fn offset_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..16,
        any::<u64>(),
        (u64::MAX - 16)..=u64::MAX,
        ((1u64 << 32) - 8)..((1u64 << 32) + 8),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// RFC 6455 §5.3: octet i of the masked data is octet i of the original
    /// XOR `key[i mod 4]`; masking is its own inverse; a payload masked in
    /// pieces (carrying the offset) equals the payload masked whole.
    #[test]
    fn masking(
        data in prop::collection::vec(any::<u8>(), 0..200),
        key in any::<[u8; 4]>(),
        offset in offset_strategy(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut expected = data.clone();
        ref_mask(&mut expected, key, offset);

        let mut whole = data.clone();
        apply_mask(&mut whole, key, offset);
        prop_assert_eq!(&whole, &expected, "differs from the byte-wise reference");

        let mut twice = whole.clone();
        apply_mask(&mut twice, key, offset);
        prop_assert_eq!(&twice, &data, "masking twice is not the identity");

        let mut pieces = data.clone();
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        at.sort_unstable();
        at.push(data.len());
        let mut from = 0;
        for cut in at {
            apply_mask(&mut pieces[from..cut], key, offset.wrapping_add(from as u64));
            from = cut;
        }
        prop_assert_eq!(&pieces, &expected, "masking in pieces differs");

        let mut dst = vec![0xA5u8; data.len() + 5];
        copy_masked(&mut dst, &data, key, offset);
        prop_assert_eq!(&dst[..data.len()], &expected[..]);
        prop_assert!(dst[data.len()..].iter().all(|&b| b == 0xA5), "wrote past the source length");
    }
}

// ---------------------------------------------------------------------------
// 4. UTF-8 (§8.1)
// ---------------------------------------------------------------------------

/// Bytes from the ranges where UTF-8 decoders go wrong.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        2 => 0x00u8..0x80,
        3 => 0x80u8..=0xBF,
        1 => 0xC0u8..=0xC1,
        2 => 0xC2u8..=0xDF,
        1 => Just(0xE0u8),
        1 => 0xE1u8..=0xEC,
        1 => Just(0xEDu8),
        1 => 0xEEu8..=0xEF,
        1 => Just(0xF0u8),
        1 => 0xF1u8..=0xF3,
        1 => Just(0xF4u8),
        1 => 0xF5u8..=0xFF,
    ]
}

/// Byte strings that are, or are close to, UTF-8.
fn utf8ish_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => string_strategy(12).prop_map(String::into_bytes),
        3 => (string_strategy(12), prop::collection::vec((any::<Index>(), interesting_byte()), 1..3))
            .prop_map(|(s, edits)| {
                let mut b = s.into_bytes();
                for (at, byte) in edits {
                    if b.is_empty() {
                        b.push(byte);
                    } else {
                        let i = at.index(b.len());
                        b[i] = byte;
                    }
                }
                b
            }),
        2 => (string_strategy(12), prop::collection::vec((any::<Index>(), interesting_byte()), 1..3))
            .prop_map(|(s, inserts)| {
                let mut b = s.into_bytes();
                for (at, byte) in inserts {
                    let i = at.index(b.len() + 1);
                    b.insert(i, byte);
                }
                b
            }),
        2 => string_strategy(6).prop_map(|s| {
            // Valid text, truncated anywhere (often inside a code point).
            let mut b = s.into_bytes();
            let n = b.len().saturating_sub(1);
            b.truncate(n);
            b
        }),
        3 => prop::collection::vec(interesting_byte(), 0..16),
    ]
}

/// Feeds `chunks` and finishes; Ok iff every call succeeded. Stops at the first error.
fn validate(chunks: &[&[u8]]) -> Result<(), usize> {
    let mut v = Utf8Validator::new();
    for (i, chunk) in chunks.iter().enumerate() {
        v.feed(chunk).map_err(|_| i)?;
    }
    v.finish().map_err(|_| chunks.len())
}

/// True if `bytes` is a prefix of some valid UTF-8 string.
fn is_valid_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// The first index `i` such that `bytes[..=i]` is not a prefix of valid UTF-8.
fn first_impossible_byte(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find(|&i| !is_valid_prefix(&bytes[..=i]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// RFC 6455 §8.1 (RFC 3629): the incremental validator accepts exactly
    /// what `core::str::from_utf8` accepts, at every two-way split and for a
    /// random multi-way split; with several chunks it fails at the chunk
    /// holding the first byte that makes the input impossible (fail-fast).
    #[test]
    fn utf8_agrees_with_std(bytes in utf8ish_strategy(), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let valid = std::str::from_utf8(&bytes).is_ok();
        let bad_at = first_impossible_byte(&bytes);
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let got = validate(&[a, b]);
            prop_assert_eq!(got.is_ok(), valid, "split at {} of {:x?}", cut, bytes);
        }
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in at {
            chunks.push(&bytes[from..cut]);
            from = cut;
        }
        chunks.push(&bytes[from..]);
        let got = validate(&chunks);
        prop_assert_eq!(got.is_ok(), valid, "chunks {:x?}", chunks);
        // The chunk index where the first impossible byte lies (empty chunks
        // before it do not count: the byte is in the first chunk that reaches it).
        let expected = match bad_at {
            Some(i) => {
                let mut end = 0;
                let mut idx = 0;
                for (k, c) in chunks.iter().enumerate() {
                    end += c.len();
                    if i < end {
                        idx = k;
                        break;
                    }
                }
                Err(idx)
            }
            None if valid => Ok(()),
            None => Err(chunks.len()),
        };
        prop_assert_eq!(got, expected, "chunks {:x?}", chunks);
    }

    /// RFC 6455 §8.1 fail-fast: fed one byte at a time, the validator fails
    /// exactly at the first byte `i` such that `bytes[..=i]` is not a prefix
    /// of any valid UTF-8 string, and otherwise `finish()` fails iff the input
    /// ends inside a code point.
    #[test]
    fn utf8_fails_at_first_impossible_byte(bytes in utf8ish_strategy()) {
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        let got = validate(&bytewise);
        let expected = match first_impossible_byte(&bytes) {
            Some(i) => Err(i),
            None if std::str::from_utf8(&bytes).is_ok() => Ok(()),
            None => Err(bytes.len()),
        };
        prop_assert_eq!(got, expected, "input {:x?}", bytes);
    }
}

// ---------------------------------------------------------------------------
// 5. Streamed frames (§5.2, §5.3)
// ---------------------------------------------------------------------------

/// A message to send, whole or as fragments.
#[derive(Debug, Clone)]
struct ToSend {
    kind: DataKind,
    fragments: Vec<Vec<u8>>,
    /// Send one whole message (`Outgoing::Text`/`Binary`) rather than fragments.
    whole: bool,
}

fn to_send_strategy() -> impl Strategy<Value = ToSend> {
    let payload = prop_oneof![
        string_strategy(60).prop_map(|s| (DataKind::Text, s.into_bytes())),
        prop_oneof![
            6 => prop::collection::vec(any::<u8>(), 0..300),
            1 => (0xFF00usize..0x10100, any::<u8>()).prop_map(|(n, s)| filler(n, s)),
        ]
        .prop_map(|b| (DataKind::Binary, b)),
    ];
    (
        payload,
        prop::collection::vec(any::<Index>(), 0..3),
        any::<bool>(),
    )
        .prop_map(|((kind, bytes), cuts, whole)| {
            if whole {
                return ToSend {
                    kind,
                    fragments: vec![bytes],
                    whole,
                };
            }
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            at.push(bytes.len());
            let mut from = 0;
            let fragments = at
                .into_iter()
                .map(|cut| {
                    let f = bytes[from..cut].to_vec();
                    from = cut;
                    f
                })
                .collect();
            ToSend {
                kind,
                fragments,
                whole,
            }
        })
}

/// Encodes `messages` frame by frame with `encode`.
fn encode_whole<R: rand_core::Rng>(conn: &mut Connection<R>, messages: &[ToSend]) -> Vec<u8> {
    let mut wire = Vec::new();
    for m in messages {
        let n = m.fragments.len();
        for (i, f) in m.fragments.iter().enumerate() {
            let outgoing = match (m.whole, m.kind) {
                (true, DataKind::Text) => Outgoing::Text(std::str::from_utf8(f).unwrap()),
                (true, DataKind::Binary) => Outgoing::Binary(f),
                (false, kind) => Outgoing::Fragment {
                    kind,
                    payload: f,
                    last: i + 1 == n,
                },
            };
            let mut out = vec![0u8; f.len() + MAX_HEADER_LEN];
            let k = conn.encode(outgoing, &mut out).expect("encode");
            wire.extend_from_slice(&out[..k]);
        }
    }
    wire
}

/// Encodes `messages` frame by frame with `start_frame` + `encode_payload`,
/// through output buffers whose sizes come from `sizes`, offering payload in
/// pieces whose sizes come from `offers`.
fn encode_streamed<R: rand_core::Rng>(
    conn: &mut Connection<R>,
    messages: &[ToSend],
    sizes: &[usize],
    offers: &[usize],
) -> Result<Vec<u8>, TestCaseError> {
    let mut wire = Vec::new();
    let mut step = 0;
    for m in messages {
        let n = m.fragments.len();
        for (i, f) in m.fragments.iter().enumerate() {
            let mut header = [0u8; MAX_HEADER_LEN];
            let k = conn
                .start_frame(m.kind, f.len() as u64, i + 1 == n, &mut header)
                .expect("start_frame");
            wire.extend_from_slice(&header[..k]);
            let mut at = 0;
            while at < f.len() {
                prop_assert_eq!(conn.frame_payload_remaining(), (f.len() - at) as u64);
                let size = sizes[step % sizes.len()];
                let offer = (at + offers[step % offers.len()]).min(f.len());
                step += 1;
                let mut out = vec![0u8; size];
                let k = conn
                    .encode_payload(&f[at..offer], &mut out)
                    .expect("encode_payload");
                prop_assert_eq!(k, size.min(offer - at), "took less than fits");
                wire.extend_from_slice(&out[..k]);
                at += k;
            }
            prop_assert_eq!(conn.frame_payload_remaining(), 0);
        }
    }
    Ok(wire)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// RFC 6455 §5.2 / §5.3: a frame streamed with `start_frame` +
    /// `encode_payload` through output buffers of 1..64 bytes (the mask
    /// offset carried between pieces) is byte for byte the frame `encode`
    /// writes whole, for clients (same RNG seed, so the same keys) and servers.
    #[test]
    fn streamed_frames_match_whole_frames(
        messages in prop::collection::vec(to_send_strategy(), 1..4),
        sizes in prop::collection::vec(1usize..64, 1..16),
        offers in prop::collection::vec(1usize..200, 1..8),
        seed in any::<u64>(),
        client in any::<bool>(),
    ) {
        let (expected, got) = if client {
            let expected = encode_whole(&mut Connection::client(Config::new(), TestRng(seed)), &messages);
            let mut conn = Connection::client(Config::new(), TestRng(seed));
            (expected, encode_streamed(&mut conn, &messages, &sizes, &offers)?)
        } else {
            let expected = encode_whole(&mut Connection::server(Config::new()), &messages);
            let mut conn = Connection::server(Config::new());
            (expected, encode_streamed(&mut conn, &messages, &sizes, &offers)?)
        };
        prop_assert_eq!(got.len(), expected.len());
        prop_assert!(got == expected, "streamed bytes differ from whole-frame bytes");
        // §5.3: a client masks every frame with a fresh key (distinct keys:
        // two equal draws from a good RNG are a 2^-32 event); a server never masks.
        let mut keys = Vec::new();
        let mut rest = &got[..];
        while !rest.is_empty() {
            let Ok(HeaderParse::Complete { header, len }) = FrameHeader::parse(rest) else {
                return Err(TestCaseError::fail("streamed bytes are not whole frames"));
            };
            prop_assert_eq!(header.mask.is_some(), client);
            keys.extend(header.mask);
            rest = &rest[len + header.payload_len as usize..];
        }
        let mut distinct = keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), keys.len(), "a masking key was reused: {:x?}", keys);
        // And the receiving side reads the messages back.
        let chunks: [&[u8]; 1] = [&got];
        let outcome = if client {
            feed(&mut Connection::server(Config::new()), &chunks)?
        } else {
            feed(&mut Connection::client(Config::new(), TestRng(0)), &chunks)?
        };
        prop_assert_eq!(outcome.error, None);
        let want: Vec<Ev> = messages
            .iter()
            .map(|m| Ev::Data {
                kind: m.kind,
                rsv: 0,
                payload: m.fragments.concat(),
                first: true,
                last: true,
            })
            .collect();
        prop_assert_eq!(normalize(&outcome.events), want);
    }
}
