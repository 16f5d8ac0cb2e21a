//! The core's test vectors, run on the emulated Cortex-M3.
//!
//! Each test prints `ok NAME` or `FAIL NAME: line L: WHAT` through
//! semihosting; then `N passed, M failed` and the stack's high-water mark.
//! QEMU's exit status is 0 only if every test passed; a panic (through
//! `panic-semihosting`) or a HardFault exits with 1 too. The feature
//! `deliberately-fail` adds a failing test, to prove that in CI.
//!
//! The vectors are the ones of the core's unit tests (RFC 6455 examples
//! and rules), here checked on a 32-bit target with the release profile the
//! firmware ships with. The full exchanges run both embedded adapters
//! against a sans-IO peer through in-memory transports, single-threaded: a
//! transport that has nothing to give steps its peer first (see [`Wire`]).
#![no_std]
#![no_main]

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::hprintln;
use panic_semihosting as _;
use wsock::close::{CloseCode, parse_close_payload};
use wsock::connection::MAX_CONTROL_FRAME_LEN;
use wsock::driver::{Driver, End, Next};
use wsock::embedded::{self, Message, blocking};
use wsock::frame::{Decoded, FrameDecoder, FrameHeader, HeaderParse, MAX_HEADER_LEN, OpCode};
use wsock::handshake::client::{ClientHandshake, ClientRequest};
use wsock::handshake::server::{Accept, Request};
use wsock::handshake::{EMPTY_HEADER, HandshakeError, Url, accept_key};
use wsock::mask::apply_mask;
use wsock::utf8::Utf8Validator;
use wsock::{
    Config, Connection, DataKind, Event, NoRng, Outgoing, ProtocolError, SendError, State,
};
use wsock_firmware::ring::Ring;
use wsock_firmware::{TakeOnce, stack};

// ---- the harness ---------------------------------------------------------------

/// Why a test failed: the line of the failed check and what it checked.
struct Fail {
    line: u32,
    what: &'static str,
}

type Outcome = Result<(), Fail>;

macro_rules! fail {
    ($what:expr) => {
        return Err(Fail {
            line: line!(),
            what: $what,
        })
    };
}

macro_rules! check {
    ($cond:expr) => {
        check!($cond, stringify!($cond))
    };
    ($cond:expr, $what:expr) => {
        if !$cond {
            fail!($what)
        }
    };
}

macro_rules! check_eq {
    ($left:expr, $right:expr) => {
        // `match` keeps temporaries alive, as in `assert_eq!`.
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    hprintln!("    left:  {:?}", left);
                    hprintln!("    right: {:?}", right);
                    fail!(concat!(stringify!($left), " == ", stringify!($right)))
                }
            }
        }
    };
}

/// The value of an `Ok`, or the test fails showing the error.
macro_rules! ok {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => {
                hprintln!("    error: {:?}", e);
                fail!(stringify!($result))
            }
        }
    };
}

type Test = fn(&mut Scratch) -> Outcome;

const TESTS: &[(&str, Test)] = &[
    ("target: usize is 32 bits", target_is_32_bit),
    (
        "handshake: RFC 6455 §1.3 accept key",
        accept_key_rfc_example,
    ),
    (
        "handshake: server parses the §1.2 request, in pieces",
        server_handshake,
    ),
    (
        "handshake: client request and response check",
        client_handshake,
    ),
    ("frame: 7-bit lengths", seven_bit_lengths),
    ("frame: 16-bit lengths", sixteen_bit_lengths),
    (
        "frame: 64-bit lengths, 2^40 kept as u64",
        sixty_four_bit_lengths,
    ),
    (
        "frame: minimal length forms round trip",
        minimal_length_forms,
    ),
    (
        "frame: 2^40-byte frame through a 4 KiB buffer",
        huge_frame_streams,
    ),
    ("frame: control frame and opcode rules", control_frame_rules),
    ("mask: RFC 6455 §5.7 masked Hello", masking_rfc_example),
    ("mask: offsets carried across chunks", masking_across_chunks),
    (
        "mask: a masked frame fed byte by byte",
        masked_frame_byte_by_byte,
    ),
    ("fragmentation: continuation rules", fragmentation_rules),
    (
        "fragmentation: control frames inside a message",
        control_inside_message,
    ),
    ("fragmentation: sending fragments", sending_fragments),
    ("utf8: F4 90 fails at 90", utf8_fails_fast),
    (
        "utf8: fails at the bad byte of a frame",
        utf8_fails_fast_in_frame,
    ),
    (
        "utf8: code points split across fragments",
        utf8_across_fragments,
    ),
    ("close: payload validation", close_payload_validation),
    (
        "close: invalid close frames fail with 1002/1007",
        invalid_close_frames,
    ),
    ("close: handshake states", close_handshake_states),
    ("limits: frame and message limits fail with 1009", limits),
    (
        "exchange: embedded client <-> sans-IO server",
        exchange_client_adapter,
    ),
    (
        "exchange: embedded server <-> sans-IO client",
        exchange_server_adapter,
    ),
    (
        "exchange: too large a message gets 1009",
        exchange_message_too_big,
    ),
    (
        "exchange: a ping between fragments keeps the message",
        exchange_ping_between_fragments,
    ),
];

/// With the feature `deliberately-fail`, a test that fails.
const DELIBERATE: &[(&str, Test)] = if cfg!(feature = "deliberately-fail") {
    &[("deliberately failing test", deliberately_fail)]
} else {
    &[]
};

#[entry]
fn main() -> ! {
    stack::paint();
    let Some(scratch) = SCRATCH.take() else {
        wsock_firmware::exit(false)
    };
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, test) in TESTS.iter().chain(DELIBERATE) {
        match test(scratch) {
            Ok(()) => {
                passed += 1;
                hprintln!("ok {}", name);
            }
            Err(Fail { line, what }) => {
                failed += 1;
                hprintln!("FAIL {}: line {}: {}", name, line, what);
            }
        }
    }
    hprintln!("{} passed, {} failed", passed, failed);
    hprintln!("peak stack {} of {} bytes", stack::peak(), stack::size());
    wsock_firmware::exit(failed == 0)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    wsock_firmware::hard_fault(frame.pc())
}

fn deliberately_fail(_: &mut Scratch) -> Outcome {
    check_eq!(1 + 1, 3);
    Ok(())
}

// ---- memory --------------------------------------------------------------------

const RING: usize = 4096;
const BUF: usize = 512;
const MESSAGE: usize = 1024;

/// Every test's large buffers, in one static (RAM use fixed at link time).
struct Scratch {
    up: Ring<RING>,
    down: Ring<RING>,
    a_in: [u8; BUF],
    a_out: [u8; BUF],
    b_in: [u8; BUF],
    b_out: [u8; BUF],
    message: [u8; MESSAGE],
    peer_message: [u8; MESSAGE],
    big: [u8; 4096],
}

static SCRATCH: TakeOnce<Scratch> = TakeOnce::new(Scratch {
    up: Ring::new(),
    down: Ring::new(),
    a_in: [0; BUF],
    a_out: [0; BUF],
    b_in: [0; BUF],
    b_out: [0; BUF],
    message: [0; MESSAGE],
    peer_message: [0; MESSAGE],
    big: [0; 4096],
});

/// Bytes 0, 1, …, 250, 0, 1, … (251 is prime: the pattern never lines up
/// with the 4-byte mask), in flash.
const fn pattern<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (i % 251) as u8;
        i += 1;
    }
    out
}

/// Larger than 65 535 bytes: sent with a 64-bit length.
const BIG: usize = 66_000;
static PATTERN: [u8; BIG] = pattern();

/// A fixed-seed stand-in for a hardware RNG (tests only: not secure).
struct TestRng(u32);

impl rand_core::TryRng for TestRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        // xorshift32
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        Ok(self.0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok((u64::from(self.try_next_u32()?) << 32) | u64::from(self.try_next_u32()?))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u32()? as u8;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for TestRng {}

// ---- helpers for the connection tests --------------------------------------------

type Bytes = heapless::Vec<u8, 64>;

fn bytes(b: &[u8]) -> Bytes {
    let mut v = Bytes::new();
    let _ = v.extend_from_slice(&b[..b.len().min(64)]);
    v
}

/// An event, owned; consecutive data chunks of a message are merged, so
/// the list is the same for any chunking of the input.
#[derive(Debug, PartialEq)]
enum Ev {
    Data(DataKind, Bytes, bool, bool),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<(u16, Bytes)>),
    Error(ProtocolError),
}

type Events = heapless::Vec<Ev, 8>;

fn record(events: &mut Events, event: Event<'_>) {
    let ev = match event {
        Event::Data(c) => {
            if let Some(Ev::Data(kind, payload, _, last)) = events.last_mut()
                && !*last
                && !c.first
                && *kind == c.kind
            {
                let _ = payload.extend_from_slice(c.payload);
                *last = c.last;
                return;
            }
            Ev::Data(c.kind, bytes(c.payload), c.first, c.last)
        }
        Event::Ping(p) => Ev::Ping(bytes(&p)),
        Event::Pong(p) => Ev::Pong(bytes(&p)),
        Event::Close(c) => Ev::Close(c.map(|c| (c.code.0, bytes(c.reason.as_bytes())))),
    };
    let _ = events.push(ev);
}

/// Feeds `input` in pieces of `step` bytes (copied into `scratch`, since
/// payloads are unmasked in place) and records the events.
fn feed<R: rand_core::Rng>(
    conn: &mut Connection<R>,
    input: &[u8],
    step: usize,
    scratch: &mut [u8],
) -> Events {
    let mut events = Events::new();
    for piece in input.chunks(step.max(1)) {
        let buf = &mut scratch[..piece.len()];
        buf.copy_from_slice(piece);
        let mut at = 0;
        loop {
            match conn.receive(&mut buf[at..]) {
                Err(e) => {
                    let _ = events.push(Ev::Error(e));
                    return events;
                }
                Ok(got) => {
                    at += got.consumed;
                    match got.event {
                        Some(event) => record(&mut events, event),
                        None => break,
                    }
                }
            }
        }
    }
    events
}

/// A frame with any first byte, masked with the all-zero key when
/// `masked`, written into `out`; returns its length.
fn raw(b0: u8, masked: bool, payload: &[u8], out: &mut [u8]) -> usize {
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 7,
        // Reserved opcodes cannot be built this way; tests use raw bytes.
        opcode: OpCode::from_bits(b0 & 0x0f).unwrap_or(OpCode::Binary),
        mask: masked.then_some([0; 4]),
        payload_len: payload.len() as u64,
    };
    let n = header.encode(out).unwrap_or(0);
    out[n..n + payload.len()].copy_from_slice(payload);
    n + payload.len()
}

/// Frames built one after another into a buffer.
struct Frames {
    buf: [u8; 256],
    len: usize,
}

impl Frames {
    fn new() -> Self {
        Frames {
            buf: [0; 256],
            len: 0,
        }
    }

    fn raw(mut self, b0: u8, masked: bool, payload: &[u8]) -> Self {
        self.len += raw(b0, masked, payload, &mut self.buf[self.len..]);
        self
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The first frame the connection owes (opcode and payload), if any.
fn transmit<R: rand_core::Rng>(conn: &mut Connection<R>) -> Option<(OpCode, Bytes)> {
    let mut out = [0u8; 2 * MAX_CONTROL_FRAME_LEN];
    let n = conn.poll_transmit(&mut out);
    let Ok(HeaderParse::Complete { header, len }) = FrameHeader::parse(&out[..n]) else {
        return None;
    };
    let end = len + header.payload_len as usize;
    let payload = out.get_mut(len..end)?;
    if let Some(key) = header.mask {
        apply_mask(payload, key, 0);
    }
    Some((header.opcode, bytes(payload)))
}

fn complete(buf: &[u8]) -> Option<(FrameHeader, usize)> {
    match FrameHeader::parse(buf) {
        Ok(HeaderParse::Complete { header, len }) => Some((header, len)),
        _ => None,
    }
}

// ---- target and handshake --------------------------------------------------------

fn target_is_32_bit(_: &mut Scratch) -> Outcome {
    // The length tests below only prove "no truncation" where usize is narrower.
    check_eq!(core::mem::size_of::<usize>(), 4);
    Ok(())
}

fn accept_key_rfc_example(_: &mut Scratch) -> Outcome {
    check_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ==")[..],
        &b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..]
    );
    Ok(())
}

const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn server_handshake(s: &mut Scratch) -> Outcome {
    // Every proper prefix is incomplete; the whole request parses.
    for cut in 0..RFC_REQUEST.len() {
        let mut headers = [EMPTY_HEADER; 16];
        check!(
            matches!(
                Request::parse(&RFC_REQUEST[..cut], &mut headers, 1024),
                Ok(None)
            ),
            "a proper prefix of the request is incomplete"
        );
    }
    let mut headers = [EMPTY_HEADER; 16];
    let Some(request) = ok!(Request::parse(RFC_REQUEST, &mut headers, 1024)) else {
        fail!("the whole request is complete")
    };
    check_eq!(request.path, "/chat");
    check_eq!(request.host, "server.example.com");
    check_eq!(request.origin, Some("http://example.com"));
    check_eq!(request.len, RFC_REQUEST.len());
    let mut offered = request.subprotocols();
    check_eq!(
        (offered.next(), offered.next(), offered.next()),
        (Some("chat"), Some("superchat"), None)
    );
    let accept = Accept {
        subprotocol: Some("chat"),
        ..Accept::default()
    };
    let n = ok!(request.accept(&accept, &mut s.a_out));
    let response = &s.a_out[..n];
    check!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    check!(contains(
        response,
        b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    ));
    check!(contains(response, b"\r\nSec-WebSocket-Protocol: chat\r\n"));
    check!(response.ends_with(b"\r\n\r\n"));

    // §4.4: another version is refused with 426.
    let n = RFC_REQUEST.len();
    let old = &mut s.a_in[..n];
    old.copy_from_slice(RFC_REQUEST);
    old[n - 6] = b'2'; // "13" -> "12"
    let mut headers = [EMPTY_HEADER; 16];
    match Request::parse(old, &mut headers, 1024) {
        Err(e) => {
            check_eq!(e, HandshakeError::UnsupportedVersion);
            check_eq!(e.status(), 426);
        }
        Ok(_) => fail!("version 12 must be refused"),
    }
    // A header block over the limit is refused, not buffered.
    let mut headers = [EMPTY_HEADER; 16];
    check!(matches!(
        Request::parse(RFC_REQUEST, &mut headers, 100),
        Err(HandshakeError::HeadersTooLarge { .. })
    ));
    Ok(())
}

fn client_handshake(s: &mut Scratch) -> Outcome {
    let url = ok!(Url::parse("ws://192.168.1.10:8080/chip?x=1"));
    let request = ClientRequest {
        subprotocols: &["echo"],
        ..ClientRequest::new(url)
    };
    let mut rng = TestRng(1);
    let handshake = ClientHandshake::new(request, &mut rng);
    let n = ok!(handshake.write_request(&mut s.a_out));
    let sent = &s.a_out[..n];
    check!(sent.starts_with(b"GET /chip?x=1 HTTP/1.1\r\nHost: 192.168.1.10:8080\r\n"));
    check!(contains(sent, b"\r\nSec-WebSocket-Version: 13\r\n"));
    check_eq!(handshake.key().len(), 24);

    // Our own server side answers it; the client accepts that answer...
    let mut headers = [EMPTY_HEADER; 16];
    let Some(parsed) = ok!(Request::parse(sent, &mut headers, 1024)) else {
        fail!("our request is complete")
    };
    check_eq!(parsed.key, handshake.key());
    let accept = Accept {
        subprotocol: Some("echo"),
        ..Accept::default()
    };
    let n = ok!(parsed.accept(&accept, &mut s.b_out));
    s.b_out[n..n + 2].copy_from_slice(b"\x81\x00"); // a frame right behind it
    let mut headers = [EMPTY_HEADER; 16];
    let Some(response) = ok!(handshake.receive(&s.b_out[..n + 2], &mut headers)) else {
        fail!("the response is complete")
    };
    check_eq!(response.subprotocol, Some("echo"));
    check_eq!(response.len, n);

    // ...but not one for another key.
    let other = ClientHandshake::new(request, &mut rng);
    let mut headers = [EMPTY_HEADER; 16];
    check!(matches!(
        other.receive(&s.b_out[..n], &mut headers),
        Err(HandshakeError::InvalidAccept)
    ));
    Ok(())
}

// ---- frame lengths ----------------------------------------------------------------

fn seven_bit_lengths(_: &mut Scratch) -> Outcome {
    let Some((h, n)) = complete(&[0x81, 0x05]) else {
        fail!("7-bit header")
    };
    check_eq!(
        (h.fin, h.opcode, h.payload_len, h.mask, n),
        (true, OpCode::Text, 5, None, 2)
    );
    let Some((h, n)) = complete(&[0x82, 0x7D]) else {
        fail!("125")
    };
    check_eq!((h.payload_len, n), (125, 2));
    // Masked: the key follows the 2 bytes.
    let Some((h, n)) = complete(&[0x82, 0x85, 1, 2, 3, 4]) else {
        fail!("masked")
    };
    check_eq!((h.payload_len, h.mask, n), (5, Some([1, 2, 3, 4]), 6));
    Ok(())
}

fn sixteen_bit_lengths(_: &mut Scratch) -> Outcome {
    let Some((h, n)) = complete(&[0x82, 0x7E, 0x01, 0x00]) else {
        fail!("256")
    };
    check_eq!((h.opcode, h.payload_len, n), (OpCode::Binary, 256, 4));
    let Some((h, n)) = complete(&[0x82, 0x7E, 0xFF, 0xFF]) else {
        fail!("65535")
    };
    check_eq!((h.payload_len, n), (65535, 4));
    check_eq!(
        FrameHeader::parse(&[0x82, 0xFE, 0]),
        Ok(HeaderParse::Incomplete { needed: 8 })
    );
    Ok(())
}

fn sixty_four_bit_lengths(_: &mut Scratch) -> Outcome {
    for (wire, len) in [
        ([0, 0, 0, 0, 0, 1, 0, 0], 65_536u64),
        ([0, 0, 0, 1, 0, 0, 0, 5], (1 << 32) + 5),
        ([0, 0, 1, 0, 0, 0, 0, 0], 1 << 40),
        (
            [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            i64::MAX as u64,
        ),
    ] {
        let mut buf = [0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0];
        buf[2..].copy_from_slice(&wire);
        let Some((h, n)) = complete(&buf) else {
            fail!("64-bit header")
        };
        check_eq!((h.payload_len, n), (len, 10));
    }
    // §5.2: the most significant bit must be 0.
    check_eq!(
        FrameHeader::parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        Err(ProtocolError::LengthOverflow)
    );
    check_eq!(
        FrameHeader::parse(&[0x82, 0xFF]),
        Ok(HeaderParse::Incomplete { needed: 14 })
    );
    Ok(())
}

fn minimal_length_forms(_: &mut Scratch) -> Outcome {
    for (len, size) in [
        (0u64, 2),
        (125, 2),
        (126, 4),
        (65_535, 4),
        (65_536, 10),
        (1 << 40, 10),
    ] {
        for mask in [None, Some([9, 8, 7, 6])] {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask,
                payload_len: len,
            };
            let size = size + if mask.is_some() { 4 } else { 0 };
            let mut out = [0u8; MAX_HEADER_LEN];
            check_eq!(h.encode(&mut out), Ok(size));
            check_eq!(complete(&out[..size]), Some((h, size)));
        }
    }
    Ok(())
}

fn huge_frame_streams(s: &mut Scratch) -> Outcome {
    let mut dec = FrameDecoder::new();
    let mut header = [0x82, 0x7F, 0, 0, 0x01, 0, 0, 0, 0, 0];
    match ok!(dec.decode(&mut header)) {
        (10, Some(Decoded::Header(h))) => check_eq!(h.payload_len, 1u64 << 40),
        _ => fail!("the header of a 2^40-byte frame"),
    }
    for _ in 0..3 {
        match ok!(dec.decode(&mut s.big)) {
            (4096, Some(Decoded::Payload { frame_end, range })) => {
                check!(!frame_end);
                check_eq!(range, 0..4096);
            }
            _ => fail!("a 4096-byte chunk of payload"),
        }
    }
    check_eq!(dec.payload_remaining(), (1u64 << 40) - 3 * 4096);

    // The connection streams it too, with the limits raised.
    let config = Config::new()
        .max_frame_size(u64::MAX)
        .max_message_size(u64::MAX);
    let mut client = Connection::client(config, TestRng(3));
    let mut header = [0x82, 0x7F, 0, 0, 1, 0, 0, 0, 0, 0];
    let got = ok!(client.receive(&mut header));
    check_eq!((got.consumed, got.event.is_none()), (10, true));
    for i in 0..2 {
        let got = ok!(client.receive(&mut s.big));
        let Some(Event::Data(chunk)) = got.event else {
            fail!("a data chunk")
        };
        check_eq!(
            (chunk.payload.len(), chunk.first, chunk.last),
            (4096, i == 0, false)
        );
    }
    Ok(())
}

fn control_frame_rules(_: &mut Scratch) -> Outcome {
    check_eq!(
        FrameHeader::parse(&[0x09, 0x00]),
        Err(ProtocolError::FragmentedControlFrame)
    );
    check_eq!(
        FrameHeader::parse(&[0x89, 0x7E]),
        Err(ProtocolError::ControlFrameTooLong(126))
    );
    check!(complete(&[0x89, 0x7D]).is_some());
    for op in (0x3..=0x7).chain(0xB..=0xF) {
        check_eq!(
            FrameHeader::parse(&[0x80 | op, 0]),
            Err(ProtocolError::ReservedOpcode(op))
        );
    }
    // Split before the length byte: still caught when it arrives.
    let mut dec = FrameDecoder::new();
    check_eq!(dec.decode(&mut [0x88]), Ok((1, None)));
    check_eq!(
        dec.decode(&mut [0x7E]),
        Err(ProtocolError::ControlFrameTooLong(126))
    );
    Ok(())
}

// ---- masking ----------------------------------------------------------------------

fn masking_rfc_example(_: &mut Scratch) -> Outcome {
    let mut data = *b"Hello";
    apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
    check_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    // And the whole masked frame of §5.7 decodes to "Hello".
    let mut wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut server = Connection::server(Config::new());
    let got = ok!(server.receive(&mut wire));
    let Some(Event::Data(chunk)) = got.event else {
        fail!("a data event")
    };
    check_eq!(chunk.payload, b"Hello");
    check!(chunk.first && chunk.last);
    Ok(())
}

fn reference_mask(data: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(offset.wrapping_add(i as u64) % 4) as usize];
    }
}

fn masking_across_chunks(_: &mut Scratch) -> Outcome {
    let key = [0xde, 0xad, 0xbe, 0xef];
    let original: [u8; 61] = core::array::from_fn(|i| (i as u8).wrapping_mul(7));
    let mut expected = original;
    reference_mask(&mut expected, key, 0);
    // Every split into two chunks, the second masked from the first's end.
    for cut in 0..=original.len() {
        let mut data = original;
        let (a, b) = data.split_at_mut(cut);
        apply_mask(a, key, 0);
        apply_mask(b, key, cut as u64);
        check_eq!(data, expected);
    }
    // Chunks of every size from 1 to 9, and offsets past 2^32.
    for size in 1..10 {
        let mut data = original;
        let mut at = 0;
        for chunk in data.chunks_mut(size) {
            apply_mask(chunk, key, at as u64);
            at += chunk.len();
        }
        check_eq!(data, expected);
    }
    for offset in [u64::from(u32::MAX), (1 << 40) + 3, u64::MAX - 3] {
        let (mut fast, mut slow) = (original, original);
        apply_mask(&mut fast, key, offset);
        reference_mask(&mut slow, key, offset);
        check_eq!(fast, slow);
    }
    Ok(())
}

fn masked_frame_byte_by_byte(_: &mut Scratch) -> Outcome {
    let mut wire = [0u8; 136];
    wire[..8].copy_from_slice(&[0x82, 0xFE, 0x00, 0x80, 1, 2, 3, 4]);
    for i in 0..128 {
        wire[8 + i] = (i as u8) ^ [1, 2, 3, 4][i % 4];
    }
    let mut dec = FrameDecoder::new();
    let mut payload = [0u8; 128];
    let mut got = 0;
    for i in 0..wire.len() {
        let (used, item) = ok!(dec.decode(&mut wire[i..i + 1]));
        check_eq!(used, 1);
        match item {
            Some(Decoded::Header(h)) => {
                check_eq!((i, h.payload_len, h.mask), (7, 128, Some([1, 2, 3, 4])));
            }
            Some(Decoded::Payload { range, frame_end }) => {
                payload[got] = wire[i + range.start];
                got += 1;
                check_eq!(frame_end, got == 128);
            }
            None => check!(i < 7, "only header bytes give nothing"),
        }
    }
    check_eq!(payload, core::array::from_fn::<u8, 128, _>(|i| i as u8));
    check!(dec.is_at_frame_boundary());
    Ok(())
}

// ---- fragmentation ----------------------------------------------------------------

fn fragmentation_rules(s: &mut Scratch) -> Outcome {
    let mut server = Connection::server(Config::new());
    let input = Frames::new().raw(0x80, true, b"x");
    check_eq!(
        feed(&mut server, input.bytes(), 100, &mut s.a_in)[..],
        [Ev::Error(ProtocolError::UnexpectedContinuation)]
    );
    check_eq!(
        transmit(&mut server),
        Some((
            OpCode::Close,
            bytes(b"\x03\xeaunexpected continuation frame")
        ))
    );

    let mut server = Connection::server(Config::new());
    let input = Frames::new().raw(0x01, true, b"a").raw(0x82, true, b"b");
    check_eq!(
        feed(&mut server, input.bytes(), 100, &mut s.a_in).last(),
        Some(&Ev::Error(ProtocolError::ExpectedContinuation))
    );

    // §5.1: the server refuses unmasked frames, the client masked ones.
    let mut server = Connection::server(Config::new());
    let input = Frames::new().raw(0x81, false, b"hi");
    check_eq!(
        feed(&mut server, input.bytes(), 100, &mut s.a_in)[..],
        [Ev::Error(ProtocolError::UnmaskedFrame)]
    );
    let mut client = Connection::client(Config::new(), TestRng(2));
    let input = Frames::new().raw(0x81, true, b"hi");
    check_eq!(
        feed(&mut client, input.bytes(), 100, &mut s.a_in)[..],
        [Ev::Error(ProtocolError::MaskedFrame)]
    );
    Ok(())
}

fn control_inside_message(s: &mut Scratch) -> Outcome {
    let input = Frames::new()
        .raw(0x01, true, b"Hel")
        .raw(0x89, true, b"p")
        .raw(0x00, true, b"l")
        .raw(0x8A, true, b"q")
        .raw(0x80, true, b"o");
    let text = |t: &[u8], first, last| Ev::Data(DataKind::Text, bytes(t), first, last);
    let expected = [
        text(b"Hel", true, false),
        Ev::Ping(bytes(b"p")),
        text(b"l", false, false),
        Ev::Pong(bytes(b"q")),
        text(b"o", false, true),
    ];
    // The same events whatever the chunking.
    for step in [input.bytes().len(), 1, 2, 3, 5, 7] {
        let mut server = Connection::server(Config::new());
        check_eq!(
            feed(&mut server, input.bytes(), step, &mut s.a_in)[..],
            expected
        );
        check_eq!(transmit(&mut server), Some((OpCode::Pong, bytes(b"p"))));
    }
    Ok(())
}

fn sending_fragments(_: &mut Scratch) -> Outcome {
    let mut server = Connection::server(Config::new());
    let mut out = [0u8; 64];
    let frag = |payload: &'static [u8], last| Outgoing::Fragment {
        kind: DataKind::Text,
        payload,
        last,
    };
    check_eq!(server.encode(frag(b"\xE2\x82", false), &mut out), Ok(4));
    check_eq!(&out[..2], &[0x01, 0x02][..]); // text, not final
    check_eq!(
        server.encode(Outgoing::Binary(b"x"), &mut out),
        Err(SendError::MessageInProgress)
    );
    check_eq!(server.encode(Outgoing::Ping(b"p"), &mut out), Ok(3));
    check_eq!(&out[..3], &[0x89, 0x01, b'p'][..]); // control frames may interleave
    check_eq!(
        server.encode(frag(b"\xFF", true), &mut out),
        Err(SendError::InvalidUtf8)
    );
    check_eq!(server.encode(frag(b"\xAC", true), &mut out), Ok(3));
    check_eq!(&out[..3], &[0x80, 0x01, 0xAC][..]); // continuation, final
    Ok(())
}

// ---- UTF-8 --------------------------------------------------------------------------

fn utf8_fails_fast(_: &mut Scratch) -> Outcome {
    let mut v = Utf8Validator::new();
    check!(v.feed(b"\xF4").is_ok(), "F4 may start a code point");
    check!(v.feed(b"\x90").is_err(), "F4 90 is past U+10FFFF");

    let mut v = Utf8Validator::new();
    check!(
        v.feed(b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")
            .is_ok()
    );
    check!(v.feed(b"\xF4\x90\x80\x80").is_err());

    let mut v = Utf8Validator::new();
    check!(v.feed(b"\xED").is_ok());
    check!(v.feed(b"\xA0").is_err(), "ED A0 is a surrogate");

    let mut v = Utf8Validator::new();
    check!(v.feed(b"\xF0\x9F").is_ok() && !v.is_complete());
    check!(v.feed(b"\x98").is_ok() && v.feed(b"\x80").is_ok() && v.is_complete());
    Ok(())
}

fn utf8_fails_fast_in_frame(s: &mut Scratch) -> Outcome {
    let input = Frames::new().raw(
        0x81,
        true,
        b"hello\xF4\x90\x80\x80 and much more text that never arrives",
    );
    let bad = 6 + 5 + 1; // header, "hello", F4: the byte at this index is 90
    let mut server = Connection::server(Config::new());
    for (i, &byte) in input.bytes().iter().enumerate() {
        s.a_in[0] = byte;
        let result = server.receive(&mut s.a_in[..1]);
        if i < bad {
            check!(result.is_ok(), "every byte before 90 is accepted");
        } else {
            check_eq!(result.map(|_| ()), Err(ProtocolError::InvalidUtf8));
            check_eq!(byte, 0x90);
            break;
        }
    }
    check_eq!(
        transmit(&mut server),
        Some((
            OpCode::Close,
            bytes(b"\x03\xefinvalid UTF-8 in text message")
        ))
    );
    Ok(())
}

fn utf8_across_fragments(s: &mut Scratch) -> Outcome {
    let mut server = Connection::server(Config::new());
    let input = Frames::new()
        .raw(0x01, true, b"\xE2\x82")
        .raw(0x80, true, b"\xAC");
    check_eq!(
        feed(&mut server, input.bytes(), 1, &mut s.a_in)[..],
        [Ev::Data(DataKind::Text, bytes("€".as_bytes()), true, true)]
    );
    // A message must not end inside a code point.
    let mut server = Connection::server(Config::new());
    let input = Frames::new()
        .raw(0x01, true, b"ok")
        .raw(0x80, true, b"\xE2\x82");
    check_eq!(
        feed(&mut server, input.bytes(), 100, &mut s.a_in).last(),
        Some(&Ev::Error(ProtocolError::InvalidUtf8))
    );
    Ok(())
}

// ---- close ----------------------------------------------------------------------------

fn close_payload_validation(_: &mut Scratch) -> Outcome {
    check_eq!(
        parse_close_payload(&[0x03]),
        Err(ProtocolError::TruncatedCloseCode)
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        check_eq!(
            parse_close_payload(&code.to_be_bytes()).map(|_| ()),
            Err(ProtocolError::InvalidCloseCode(code))
        );
    }
    for code in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        check!(parse_close_payload(&code.to_be_bytes()).is_ok());
    }
    check_eq!(
        parse_close_payload(b"\x03\xe8\xff").map(|_| ()),
        Err(ProtocolError::InvalidCloseReason)
    );
    check!(matches!(parse_close_payload(b""), Ok(None)));
    let Ok(Some(frame)) = parse_close_payload(b"\x0f\xa0h\xc3\xa9llo") else {
        fail!("4000 with a UTF-8 reason is valid")
    };
    check_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode(4000), "héllo")
    );
    Ok(())
}

fn invalid_close_frames(s: &mut Scratch) -> Outcome {
    for (payload, error, code) in [
        (&b"\x03"[..], ProtocolError::TruncatedCloseCode, 1002u16),
        (b"\x03\xed", ProtocolError::InvalidCloseCode(1005), 1002),
        (b"\x03\xe8\xff\xfe", ProtocolError::InvalidCloseReason, 1007),
    ] {
        let mut server = Connection::server(Config::new());
        let input = Frames::new().raw(0x88, true, payload);
        check_eq!(
            feed(&mut server, input.bytes(), 100, &mut s.a_in)[..],
            [Ev::Error(error)]
        );
        let Some((OpCode::Close, sent)) = transmit(&mut server) else {
            fail!("a close frame is owed")
        };
        check_eq!(sent[..2], code.to_be_bytes());
        check!(server.should_shutdown());
    }
    // An empty close is valid and answered empty.
    let mut server = Connection::server(Config::new());
    let input = Frames::new().raw(0x88, true, b"");
    check_eq!(
        feed(&mut server, input.bytes(), 100, &mut s.a_in)[..],
        [Ev::Close(None)]
    );
    check_eq!(transmit(&mut server), Some((OpCode::Close, bytes(b""))));
    Ok(())
}

fn close_handshake_states(s: &mut Scratch) -> Outcome {
    // The peer starts: we echo its code, then (as the server) end TCP.
    let mut server = Connection::server(Config::new());
    let input = Frames::new()
        .raw(0x88, true, b"\x0f\xa0bye")
        .raw(0x81, true, b"ignored");
    check_eq!(
        feed(&mut server, input.bytes(), 3, &mut s.a_in)[..],
        [Ev::Close(Some((4000, bytes(b"bye"))))]
    );
    check_eq!(server.state(), State::CloseReceived);
    check_eq!(
        server.encode(Outgoing::Text("late"), &mut s.a_out),
        Err(SendError::Closing)
    );
    check!(!server.should_shutdown());
    check_eq!(
        transmit(&mut server),
        Some((OpCode::Close, bytes(b"\x0f\xa0")))
    );
    check_eq!(server.state(), State::Closed);
    check!(server.should_shutdown());

    // We start (as a client): no pong after our close; we wait for the
    // server to end TCP.
    let mut client = Connection::client(Config::new(), TestRng(4));
    let n = ok!(client.encode(
        Outgoing::Close(Some((CloseCode::NORMAL, "done"))),
        &mut s.a_out
    ));
    check!(n > 0);
    check_eq!(client.state(), State::CloseSent);
    let input = Frames::new()
        .raw(0x82, false, b"still data")
        .raw(0x89, false, b"no pong now")
        .raw(0x88, false, b"\x03\xe8");
    let events = feed(&mut client, input.bytes(), 100, &mut s.a_in);
    check_eq!(events.len(), 3);
    check_eq!(events[2], Ev::Close(Some((1000, bytes(b"")))));
    check_eq!(client.state(), State::Closed);
    check!(!client.wants_transmit());
    check!(!client.should_shutdown());
    check_eq!(client.receive_eof(), Ok(()));
    check!(client.should_shutdown());

    // §7.1.5: the transport ending first is abnormal.
    let mut server = Connection::server(Config::new());
    check_eq!(server.receive_eof(), Err(ProtocolError::UnexpectedEof));
    check!(!server.wants_transmit());
    Ok(())
}

fn limits(s: &mut Scratch) -> Outcome {
    let config = Config::new().max_frame_size(10).max_message_size(15);
    let mut server = Connection::server(config);
    let frame = Frames::new().raw(0x82, true, &[0; 11]);
    // The header alone is enough.
    check_eq!(
        feed(&mut server, &frame.bytes()[..6], 100, &mut s.a_in)[..],
        [Ev::Error(ProtocolError::FrameTooLarge { len: 11, max: 10 })]
    );
    let Some((OpCode::Close, sent)) = transmit(&mut server) else {
        fail!("a close frame is owed")
    };
    check_eq!(sent[..2], 1009u16.to_be_bytes());

    let mut server = Connection::server(config);
    let input = Frames::new()
        .raw(0x02, true, &[0; 10])
        .raw(0x80, true, &[0; 6]);
    check_eq!(
        feed(&mut server, &input.bytes()[..16 + 6], 100, &mut s.a_in).last(),
        Some(&Ev::Error(ProtocolError::MessageTooLarge {
            len: 16,
            max: 15
        }))
    );
    Ok(())
}

// ---- full exchanges through in-memory transports ------------------------------------

/// Why an in-memory transport could not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireError {
    /// Nothing to read, and the peer had nothing to say: a deadlock.
    Stalled,
    /// No room to write, even after the peer read.
    Full,
    /// The peer found something wrong.
    Peer(&'static str),
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl core::error::Error for WireError {}

impl embedded_io::Error for WireError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

/// The other end of an in-memory connection: a sans-IO state machine that
/// reads its inbox and answers into its outbox when stepped.
trait Peer {
    fn step(&mut self, inbox: &mut Ring<RING>, outbox: &mut Ring<RING>)
    -> Result<(), &'static str>;
    /// The peer ended the transport: reads see the end of the stream.
    fn ended(&self) -> bool;
}

/// An `embedded_io` transport to a [`Peer`] through two queues. Reading
/// with nothing queued steps the peer first; so does writing into a full
/// queue. Single-threaded, yet each side blocks only on what the other
/// has already been able to answer.
struct Wire<'s, P> {
    rx: &'s mut Ring<RING>,
    tx: &'s mut Ring<RING>,
    peer: &'s mut P,
}

impl<P> embedded_io::ErrorType for Wire<'_, P> {
    type Error = WireError;
}

impl<P: Peer> embedded_io::Read for Wire<'_, P> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, WireError> {
        if self.rx.is_empty() {
            self.peer.step(self.tx, self.rx).map_err(WireError::Peer)?;
        }
        if self.rx.is_empty() && !buf.is_empty() {
            return if self.peer.ended() {
                Ok(0)
            } else {
                Err(WireError::Stalled)
            };
        }
        Ok(self.rx.pop(buf))
    }
}

impl<P: Peer> embedded_io::Write for Wire<'_, P> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, WireError> {
        if self.tx.free() == 0 {
            self.peer.step(self.tx, self.rx).map_err(WireError::Peer)?;
        }
        match self.tx.push(buf) {
            0 if !buf.is_empty() => Err(WireError::Full),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> Result<(), WireError> {
        Ok(())
    }
}

/// Moves a driver's queued output into `outbox`.
fn flush_into<R: rand_core::Rng>(
    driver: &mut Driver<R, &mut [u8], &mut [u8]>,
    outbox: &mut Ring<RING>,
) -> Result<(), &'static str> {
    let n = outbox.push(driver.pending_output());
    driver.output_written(n);
    if driver.has_pending_output() {
        return Err("outbox full");
    }
    Ok(())
}

/// The next event a peer's driver decodes from its inbox, handed to `f`;
/// `None` once the inbox is drained. The frames the connection owes (pongs,
/// close replies) go to `outbox` first.
fn next_event<R: rand_core::Rng, T>(
    driver: &mut Driver<R, &mut [u8], &mut [u8]>,
    inbox: &mut Ring<RING>,
    outbox: &mut Ring<RING>,
    mut f: impl FnMut(Event<'_>) -> T,
) -> Result<Option<T>, ProtocolError> {
    loop {
        match driver.poll_event(|event, _| f(event)) {
            Next::Ready(Ok(out)) => return Ok(Some(out)),
            Next::Ready(Err(End::Failed(e))) => return Err(e),
            Next::Ready(Err(End::Closed)) => return Ok(None),
            Next::Write => {
                // A full outbox shows up in the peer's next read.
                let n = outbox.push(driver.pending_output());
                driver.output_written(n);
                if n == 0 {
                    return Ok(None);
                }
            }
            Next::Read => {
                if inbox.is_empty() {
                    return Ok(None);
                }
                let n = inbox.pop(driver.input_space());
                driver.input_filled(n);
            }
            Next::Shutdown => driver.shut_down(),
        }
    }
}

/// Sends a frame, streaming a data frame larger than the output buffer.
fn send_frame<R: rand_core::Rng>(
    driver: &mut Driver<R, &mut [u8], &mut [u8]>,
    frame: Outgoing<'_>,
    outbox: &mut Ring<RING>,
) -> Result<(), &'static str> {
    let (kind, payload) = match frame {
        Outgoing::Text(t) => (DataKind::Text, t.as_bytes()),
        Outgoing::Binary(b) => (DataKind::Binary, b),
        other => {
            driver.queue(other).map_err(|_| "cannot queue a frame")?;
            return flush_into(driver, outbox);
        }
    };
    driver
        .queue_frame_start(kind, payload.len() as u64, true)
        .map_err(|_| "cannot start a frame")?;
    let mut taken = 0;
    loop {
        taken += driver
            .queue_payload(&payload[taken..])
            .map_err(|_| "cannot queue payload")?;
        flush_into(driver, outbox)?;
        if taken == payload.len() {
            return Ok(());
        }
    }
}

/// A message being received by a peer: kept if it fits, and compared with
/// [`PATTERN`] as it arrives.
struct Incoming<'p> {
    buf: &'p mut [u8],
    len: usize,
    kind: DataKind,
    is_pattern: bool,
}

impl Incoming<'_> {
    /// Files a chunk; true when it ends the message.
    fn push(&mut self, kind: DataKind, payload: &[u8], first: bool, last: bool) -> bool {
        if first {
            self.len = 0;
            self.kind = kind;
            self.is_pattern = true;
        }
        let end = self.len + payload.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(payload);
        }
        self.is_pattern &= PATTERN.get(self.len..end) == Some(payload);
        self.len = end;
        last
    }

    /// The message, if it fitted.
    fn kept(&self) -> Option<&[u8]> {
        self.buf.get(..self.len)
    }
}

// No heap to box the driver into, and a peer has one phase at a time.
#[allow(clippy::large_enum_variant)]
enum ServerPhase<'p> {
    Handshake {
        input: &'p mut [u8],
        filled: usize,
        output: &'p mut [u8],
    },
    Open(Driver<NoRng, &'p mut [u8], &'p mut [u8]>),
    Gone,
}

/// A sans-IO echo server: echoes messages that fit its 1 KiB buffer; for a
/// larger one it answers 9 bytes: the length (u64, big-endian) and 1 if
/// the bytes were [`PATTERN`]'s.
struct ServerPeer<'p> {
    phase: ServerPhase<'p>,
    message: Incoming<'p>,
    echoed: u32,
    close: Option<u16>,
    ended: bool,
}

impl<'p> ServerPeer<'p> {
    fn new(input: &'p mut [u8], output: &'p mut [u8], message: &'p mut [u8]) -> Self {
        ServerPeer {
            phase: ServerPhase::Handshake {
                input,
                filled: 0,
                output,
            },
            message: Incoming {
                buf: message,
                len: 0,
                kind: DataKind::Binary,
                is_pattern: false,
            },
            echoed: 0,
            close: None,
            ended: false,
        }
    }

    fn handshake(
        &mut self,
        inbox: &mut Ring<RING>,
        outbox: &mut Ring<RING>,
    ) -> Result<(), &'static str> {
        let ServerPhase::Handshake {
            input,
            filled,
            output,
        } = &mut self.phase
        else {
            return Ok(());
        };
        *filled += inbox.pop(&mut input[*filled..]);
        let mut headers = [EMPTY_HEADER; 16];
        let limit = input.len();
        let (len, n) = match Request::parse(&input[..*filled], &mut headers, limit) {
            Ok(None) => return Ok(()),
            Ok(Some(request)) => {
                let echo = request.subprotocols().any(|p| p == "echo");
                let accept = Accept {
                    subprotocol: echo.then_some("echo"),
                    ..Accept::default()
                };
                let n = request
                    .accept(&accept, output)
                    .map_err(|_| "cannot answer the handshake")?;
                (request.len, n)
            }
            Err(_) => return Err("invalid handshake request"),
        };
        if outbox.push(&output[..n]) != n {
            return Err("outbox full");
        }
        let ServerPhase::Handshake {
            input,
            filled,
            output,
        } = core::mem::replace(&mut self.phase, ServerPhase::Gone)
        else {
            return Err("unreachable");
        };
        let conn = Connection::server(Config::new());
        self.phase = ServerPhase::Open(Driver::with_buffered_input(
            conn,
            input,
            len..filled,
            output,
        ));
        Ok(())
    }
}

impl Peer for ServerPeer<'_> {
    fn step(
        &mut self,
        inbox: &mut Ring<RING>,
        outbox: &mut Ring<RING>,
    ) -> Result<(), &'static str> {
        self.handshake(inbox, outbox)?;
        let ServerPeer {
            phase,
            message,
            echoed,
            close,
            ended,
        } = self;
        let ServerPhase::Open(driver) = phase else {
            return Ok(());
        };
        loop {
            let whole = next_event(driver, inbox, outbox, |event| match event {
                Event::Data(c) => message.push(c.kind, c.payload, c.first, c.last),
                Event::Close(frame) => {
                    *close = Some(frame.map_or(1005, |f| f.code.0));
                    false
                }
                Event::Ping(_) | Event::Pong(_) => false,
            });
            match whole.map_err(|_| "the client broke the protocol")? {
                None => break,
                Some(false) => continue,
                Some(true) => {}
            }
            *echoed += 1;
            let mut report = [0u8; 9];
            let reply = match (message.kept(), message.kind) {
                (Some(text), DataKind::Text) => {
                    Outgoing::Text(core::str::from_utf8(text).map_err(|_| "text is not UTF-8")?)
                }
                (Some(bytes), DataKind::Binary) => Outgoing::Binary(bytes),
                (None, _) => {
                    report[..8].copy_from_slice(&(message.len as u64).to_be_bytes());
                    report[8] = u8::from(message.is_pattern);
                    Outgoing::Binary(&report)
                }
            };
            send_frame(driver, reply, outbox)?;
        }
        if driver.connection().should_shutdown() {
            *ended = true;
        }
        Ok(())
    }

    fn ended(&self) -> bool {
        self.ended
    }
}

fn exchange_client_adapter(s: &mut Scratch) -> Outcome {
    let Scratch {
        up,
        down,
        a_in,
        a_out,
        b_in,
        b_out,
        message,
        peer_message,
        ..
    } = s;
    up.clear();
    down.clear();
    let mut peer = ServerPeer::new(b_in, b_out, peer_message);
    let url = ok!(Url::parse("ws://10.0.0.2/chip"));
    let request = ClientRequest {
        subprotocols: &["echo"],
        ..ClientRequest::new(url)
    };
    let wire = Wire {
        rx: down,
        tx: up,
        peer: &mut peer,
    };
    let (mut ws, subprotocol) = ok!(blocking::client(
        wire,
        &request,
        Config::new(),
        TestRng(7),
        a_in,
        a_out
    ));
    check_eq!(subprotocol, Some("echo"));

    ok!(ws.send(Outgoing::Text("héllo")));
    check_eq!(ok!(ws.read(message)), Message::Text("héllo"));
    // A 16-bit length.
    ok!(ws.send(Outgoing::Binary(&PATTERN[..300])));
    check_eq!(ok!(ws.read(message)), Message::Binary(&PATTERN[..300]));
    ok!(ws.send(Outgoing::Ping(b"on chip")));
    match ok!(ws.read(message)) {
        Message::Pong(p) => check_eq!(&p[..], b"on chip"),
        _ => fail!("a pong"),
    }
    for (payload, last) in [("fr", false), ("ag", true)] {
        ok!(ws.send(Outgoing::Fragment {
            kind: DataKind::Text,
            payload: payload.as_bytes(),
            last,
        }));
    }
    check_eq!(ok!(ws.read(message)), Message::Text("frag"));
    // A 64-bit length, streamed through the 512-byte output buffer: the
    // mask carries across every chunk, and the server checks every byte.
    ok!(ws.send(Outgoing::Binary(&PATTERN[..BIG])));
    let mut report = [0u8; 9];
    report[..8].copy_from_slice(&(BIG as u64).to_be_bytes());
    report[8] = 1;
    check_eq!(ok!(ws.read(message)), Message::Binary(&report));

    ok!(ws.close(CloseCode::NORMAL, "bye"));
    check_eq!(ws.state(), State::Closed);
    drop(ws);
    check_eq!((peer.echoed, peer.close, peer.ended), (4, Some(1000), true));
    Ok(())
}

/// What a scripted client expects back for one exchange.
#[derive(Clone, Copy)]
enum Expect {
    Text(&'static str),
    Binary(&'static [u8]),
    Pong(&'static [u8]),
    Close(u16),
}

/// What a scripted client received.
enum Answer {
    Message,
    Pong(wsock::event::ControlPayload),
    Close(u16),
}

/// Frames to send, and the answer to wait for before the next exchange.
struct Exchange {
    send: &'static [Outgoing<'static>],
    expect: Expect,
}

// As for `ServerPhase`.
#[allow(clippy::large_enum_variant)]
enum ClientPhase<'p> {
    Start,
    Handshake(ClientHandshake<'static>, usize),
    Open(Driver<TestRng, &'p mut [u8], &'p mut [u8]>),
}

/// A sans-IO client that runs a script: send an exchange's frames, wait
/// for the expected answer, go on with the next.
struct ClientScript<'p> {
    phase: ClientPhase<'p>,
    buffers: Option<(&'p mut [u8], &'p mut [u8])>,
    request: ClientRequest<'static>,
    rng: Option<TestRng>,
    script: &'static [Exchange],
    /// Exchanges sent so far.
    sent: usize,
    /// Exchanges answered so far.
    answered: usize,
    message: Incoming<'p>,
}

impl<'p> ClientScript<'p> {
    fn new(
        script: &'static [Exchange],
        request: ClientRequest<'static>,
        input: &'p mut [u8],
        output: &'p mut [u8],
        message: &'p mut [u8],
    ) -> Self {
        ClientScript {
            phase: ClientPhase::Start,
            buffers: Some((input, output)),
            request,
            rng: Some(TestRng(11)),
            script,
            sent: 0,
            answered: 0,
            message: Incoming {
                buf: message,
                len: 0,
                kind: DataKind::Binary,
                is_pattern: false,
            },
        }
    }

    fn finished(&self) -> bool {
        self.answered == self.script.len()
    }
}

/// Counts `got` as the answer to the oldest unanswered exchange, if it is
/// the one expected.
fn check_answer(
    script: &[Exchange],
    sent: usize,
    answered: &mut usize,
    got: Expect,
) -> Result<(), &'static str> {
    let Some(exchange) = script.get(*answered) else {
        return Err("an answer nobody asked for");
    };
    if *answered >= sent {
        return Err("an answer before the question");
    }
    let matches = match (exchange.expect, got) {
        (Expect::Text(a), Expect::Text(b)) => a == b,
        (Expect::Binary(a), Expect::Binary(b)) | (Expect::Pong(a), Expect::Pong(b)) => a == b,
        (Expect::Close(a), Expect::Close(b)) => a == b,
        _ => false,
    };
    if !matches {
        hprintln!("    exchange {}: got another answer", *answered);
        return Err("the server's answer differs from the expected one");
    }
    *answered += 1;
    Ok(())
}

impl Peer for ClientScript<'_> {
    fn step(
        &mut self,
        inbox: &mut Ring<RING>,
        outbox: &mut Ring<RING>,
    ) -> Result<(), &'static str> {
        if let ClientPhase::Start = self.phase {
            let (_, output) = self.buffers.as_mut().ok_or("no buffers")?;
            let mut rng = self.rng.take().ok_or("no rng")?;
            let handshake = ClientHandshake::new(self.request, &mut rng);
            self.rng = Some(rng);
            let n = handshake
                .write_request(output)
                .map_err(|_| "cannot write the request")?;
            if outbox.push(&output[..n]) != n {
                return Err("outbox full");
            }
            self.phase = ClientPhase::Handshake(handshake, 0);
            return Ok(());
        }
        if let ClientPhase::Handshake(handshake, filled) = &mut self.phase {
            let (input, _) = self.buffers.as_mut().ok_or("no buffers")?;
            *filled += inbox.pop(&mut input[*filled..]);
            let mut headers = [EMPTY_HEADER; 16];
            let response = match handshake.receive(&input[..*filled], &mut headers) {
                Ok(None) => return Ok(()),
                Ok(Some(response)) => response,
                Err(_) => return Err("the server's response is invalid"),
            };
            if response.subprotocol != Some("echo") {
                return Err("the server did not select `echo`");
            }
            let range = response.len..*filled;
            let (input, output) = self.buffers.take().ok_or("no buffers")?;
            let conn = Connection::client(Config::new(), self.rng.take().ok_or("no rng")?);
            self.phase = ClientPhase::Open(Driver::with_buffered_input(conn, input, range, output));
        }
        let ClientScript {
            phase,
            script,
            sent,
            answered,
            message,
            ..
        } = self;
        let ClientPhase::Open(driver) = phase else {
            return Ok(());
        };
        loop {
            let got = next_event(driver, inbox, outbox, |event| match event {
                Event::Data(c) => message
                    .push(c.kind, c.payload, c.first, c.last)
                    .then_some(Answer::Message),
                Event::Pong(p) => Some(Answer::Pong(p)),
                Event::Close(frame) => Some(Answer::Close(frame.map_or(1005, |f| f.code.0))),
                Event::Ping(_) => None,
            });
            let Some(got) = got.map_err(|_| "the server broke the protocol")? else {
                break;
            };
            let expected = script.get(*answered).map(|e| e.expect);
            match (got, expected) {
                (None, _) => {}
                (Some(Answer::Message), Some(expect)) => {
                    let Some(kept) = message.kept() else {
                        return Err("answer larger than the message buffer");
                    };
                    let got = match (message.kind, expect) {
                        (DataKind::Text, Expect::Text(t)) if kept == t.as_bytes() => expect,
                        (DataKind::Binary, Expect::Binary(b)) if kept == b => expect,
                        _ => {
                            hprintln!("    exchange {}: got {:?}", *answered, kept);
                            return Err("the server's answer differs from the expected one");
                        }
                    };
                    check_answer(script, *sent, answered, got)?;
                }
                (Some(Answer::Pong(p)), Some(Expect::Pong(want))) if &p[..] == want => {
                    check_answer(script, *sent, answered, Expect::Pong(want))?;
                }
                // A pong for a ping sent along with something else.
                (Some(Answer::Pong(_)), _) => {}
                (Some(Answer::Close(code)), _) => {
                    check_answer(script, *sent, answered, Expect::Close(code))?;
                }
                (Some(Answer::Message), None) => return Err("a message nobody asked for"),
            }
        }
        // Everything sent so far is answered: go on with the script.
        if *answered == *sent
            && let Some(exchange) = script.get(*sent)
        {
            for frame in exchange.send {
                send_frame(driver, *frame, outbox)?;
            }
            *sent += 1;
        }
        Ok(())
    }

    fn ended(&self) -> bool {
        // The client never ends the transport first (§7.1.1).
        false
    }
}

/// The echo server of the `echo` firmware, over any transport.
fn echo_session<T: embedded_io::Read + embedded_io::Write>(
    ws: &mut blocking::WebSocket<'_, T>,
    message: &mut [u8],
) -> Result<u32, embedded::Error<T::Error>> {
    let mut echoed = 0;
    loop {
        match ws.read(message) {
            Ok(Message::Text(text)) => ws.send(Outgoing::Text(text))?,
            Ok(Message::Binary(bytes)) => ws.send(Outgoing::Binary(bytes))?,
            Ok(_) => continue,
            Err(embedded::Error::ConnectionClosed) => return Ok(echoed),
            Err(e) => return Err(e),
        }
        echoed += 1;
    }
}

static ECHO_SCRIPT: [Exchange; 5] = [
    Exchange {
        send: &[Outgoing::Text("héllo")],
        expect: Expect::Text("héllo"),
    },
    Exchange {
        send: &[Outgoing::Binary(PATTERN.split_at(300).0)],
        expect: Expect::Binary(PATTERN.split_at(300).0),
    },
    Exchange {
        send: &[Outgoing::Ping(b"chip")],
        expect: Expect::Pong(b"chip"),
    },
    Exchange {
        send: &[
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"fr",
                last: false,
            },
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"ag",
                last: true,
            },
        ],
        expect: Expect::Text("frag"),
    },
    Exchange {
        send: &[Outgoing::Close(Some((CloseCode(4001), "bye")))],
        expect: Expect::Close(4001),
    },
];

fn exchange_server_adapter(s: &mut Scratch) -> Outcome {
    scripted_echo(s, &ECHO_SCRIPT, 3)
}

/// The embedded server adapter echoes for a scripted sans-IO client; the
/// script ends with a close.
fn scripted_echo(s: &mut Scratch, script: &'static [Exchange], messages: u32) -> Outcome {
    let (session, finished) = scripted_session(s, script)?;
    check_eq!(ok!(session), messages);
    check!(finished, "every exchange answered");
    Ok(())
}

/// Runs [`echo_session`] (the embedded server adapter) for a scripted
/// sans-IO client. Returns how the session ended and whether the client
/// got every answer it expected (after reading what the server sent last).
fn scripted_session(
    s: &mut Scratch,
    script: &'static [Exchange],
) -> Result<(Result<u32, embedded::Error<WireError>>, bool), Fail> {
    let Scratch {
        up,
        down,
        a_in,
        a_out,
        b_in,
        b_out,
        message,
        peer_message,
        ..
    } = s;
    up.clear();
    down.clear();
    let url = ok!(Url::parse("ws://10.0.0.2/"));
    let request = ClientRequest {
        subprotocols: &["echo"],
        ..ClientRequest::new(url)
    };
    let mut client = ClientScript::new(script, request, b_in, b_out, peer_message);
    let wire = Wire {
        rx: up,
        tx: down,
        peer: &mut client,
    };
    let mut ws = ok!(blocking::accept(
        wire,
        Config::new(),
        a_in,
        a_out,
        |request| {
            let echo = request.subprotocols().any(|p| p == "echo");
            Ok(Accept {
                subprotocol: echo.then_some("echo"),
                ..Accept::default()
            })
        }
    ));
    let session = echo_session(&mut ws, message);
    if session.is_ok() {
        check_eq!(ws.state(), State::Closed);
    }
    let Wire { rx, tx, peer } = ws.into_inner();
    // The server's last frames (its close) are still queued: let the client read.
    ok!(peer.step(tx, rx));
    Ok((session, peer.finished()))
}

/// §5.4: control frames may come between the fragments of a message; the
/// message must still arrive whole. Known bug: the embedded adapters' `read`
/// returns the ping and drops the fragments assembled so far, so the next
/// `read` returns only the tail (`"ag"`; for text split inside a code
/// point, a false 1007). Found on the chip; fixed by keeping the partial
/// message's length in the WebSocket.
static PING_BETWEEN_FRAGMENTS: [Exchange; 2] = [
    Exchange {
        send: &[
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"fr",
                last: false,
            },
            Outgoing::Ping(b""),
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"ag",
                last: true,
            },
        ],
        expect: Expect::Text("frag"),
    },
    Exchange {
        send: &[Outgoing::Close(Some((CloseCode::NORMAL, "")))],
        expect: Expect::Close(1000),
    },
];

fn exchange_ping_between_fragments(s: &mut Scratch) -> Outcome {
    scripted_echo(s, &PING_BETWEEN_FRAGMENTS, 1)
}

static TOO_BIG_SCRIPT: [Exchange; 1] = [Exchange {
    send: &[Outgoing::Binary(PATTERN.split_at(MESSAGE + 1).0)],
    expect: Expect::Close(1009),
}];

fn exchange_message_too_big(s: &mut Scratch) -> Outcome {
    let (session, finished) = scripted_session(s, &TOO_BIG_SCRIPT)?;
    // The 1 KiB message buffer overflows: the session fails with 1009.
    match session {
        Err(embedded::Error::Protocol(ProtocolError::MessageTooLarge { .. })) => {}
        other => {
            hprintln!("    got: {:?}", other);
            fail!("a MessageTooLarge error")
        }
    }
    check!(finished, "the client got close 1009");
    Ok(())
}
