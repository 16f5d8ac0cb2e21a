//! Criterion benchmarks of permessage-deflate (RFC 7692) on JSON-like text:
//! wsock sending and receiving compressed messages the way a caller does,
//! beside the two DEFLATE backends doing the same bytes by hand.
//!
//! `cargo bench --bench deflate --features deflate` (add `-- NAME` to filter;
//! about 5 minutes). Every workload is one iteration of about 1 MiB of
//! uncompressed text (4096 messages of 256 B, 256 of 4 KiB or 16 of
//! 64 KiB), and throughput is in those uncompressed bytes. On Linux the
//! times are the benchmark thread's CPU time, not wall time, so that a
//! machine shared with other jobs still gives comparable numbers.
//!
//! - `send/SIZE`: compress + frame. `wsock_blocking` is a server's
//!   `wsock::blocking::WebSocket::send_frame(Outgoing::Text)` over an
//!   in-memory transport that takes every write (permessage-deflate on via
//!   `set_deflate`); `wsock_core` is the sans-IO path under it: a
//!   `Deflater`, `Connection::set_next_message_rsv(RSV1)` and `encode` into
//!   a reused buffer. `zlib-rs` and `miniz_oxide` are the raw compressors
//!   (raw DEFLATE, window 15, level 1 as wsock's default, a sync flush per
//!   message, `00 00 ff ff` stripped) into a reused buffer, no framing.
//! - `receive/SIZE`: parse + inflate. The wire is client-masked frames (as
//!   a server receives them). `wsock_core` copies the wire into its buffer
//!   (what a socket read does), then `Connection::receive` in place and
//!   `MessageAssembler::collect_inflated` with a `MessageInflater` (32 KiB
//!   ring) into a reused `Vec`; `wsock_blocking` is `WebSocket::read` over
//!   an in-memory stream of the same bytes (its set-up is outside the
//!   timing). `zlib-rs` is its `Inflate` (raw, window 15) into a reused
//!   buffer; `miniz_oxide` is its core inflater as the least work it
//!   needs: with context takeover into a 32 KiB ring copied out to the
//!   message (the window must outlive the message), without it straight
//!   into the message buffer. Both first copy the compressed payloads into
//!   a reused read buffer, as wsock's rows copy the wire: every receiver
//!   pays for the socket read once.
//! - `receive_level6/SIZE`: the same receivers, with context takeover, on
//!   what a peer compressing at zlib's default level 6 sends: dynamic
//!   Huffman blocks, where level 1's are mostly fixed-code blocks (the
//!   share is printed), which the two inflaters set up at different costs.
//! - `level6/SIZE`: the raw compressors at level 6, with context takeover,
//!   for the level's cost.
//!
//! Every variant runs `takeover` (the window carries over between
//! messages, the RFC's default) and `no_takeover` (reset after each
//! message). Before anything is timed, every output is checked: wsock's
//! compressed payloads are byte for byte zlib-rs's, miniz_oxide's inflate
//! back to the input, and every receiver hands back the exact messages.
//! The compression ratios (compressed payload bytes ÷ input bytes) go to
//! stderr.
//!
//! `benches/deflate-icount.sh` counts instructions of the same workloads
//! under valgrind (`deflate --icount WORKLOAD REPS` runs one without
//! criterion): numbers that other jobs on the machine cannot move.

use criterion::measurement::WallTime;
#[cfg(target_os = "linux")]
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group};
use miniz_oxide::DataFormat;
use miniz_oxide::deflate::core::{
    CompressionStrategy, CompressorOxide, TDEFLFlush, TDEFLStatus, compress as miniz_compress,
};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress as miniz_decompress};
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::time::Duration;
use wsock::blocking::{DeflateOptions, Message, Options, Transport, WebSocket};
use wsock::deflate::{CompressOptions, Deflater, Inflater, MessageInflater, TAIL};
use wsock::frame::RSV1;
use wsock::handshake::deflate::Agreed;
use wsock::message::MessageAssembler;
use wsock::{Config, Connection, DataKind, Event, NoRng, Outgoing, Role};
use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Inflate, InflateFlush, Status};

#[path = "../tests/support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

/// Message sizes, and how many messages make one iteration (1 MiB).
const SIZES: [(usize, usize); 3] = [(256, 4096), (4096, 256), (65536, 16)];

/// The two context-takeover modes: (name, no_context_takeover).
const MODES: [(&str, bool); 2] = [("takeover", false), ("no_takeover", true)];

/// The window both directions use (the default, and what browsers ask).
const WINDOW_BITS: u8 = 15;

/// wsock's default compression level.
const LEVEL: u8 = 1;

// ---------------------------------------------------------------------------
// The corpus: ticker and chat objects, deterministic.

/// SplitMix64: the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const SYMBOLS: [&str; 8] = [
    "BTC-USD", "ETH-USD", "SOL-USD", "WSK-EUR", "ADA-USD", "DOT-EUR", "XRP-USD", "LTC-BTC",
];
const ROOMS: [&str; 4] = ["general", "trading", "random", "support"];
const WORDS: [&str; 24] = [
    "the", "price", "is", "up", "down", "again", "buy", "sell", "now", "wait", "for", "it", "moon",
    "dip", "hold", "café", "naïve", "Grüße", "señor", "ok", "lol", "🚀", "long", "short",
];

/// The state behind the objects: prices walk, sequence numbers and
/// timestamps rise.
struct Feed {
    rng: Rng,
    seq: u64,
    /// Milliseconds since 18:00:00.
    millis: u64,
    /// Per symbol, in cents.
    prices: [u64; 8],
}

impl Feed {
    fn new(seed: u64) -> Self {
        Feed {
            rng: Rng(seed),
            seq: 1_000_000,
            millis: 0,
            prices: [4_312_517, 228_411, 14_250, 1_017, 61, 702, 58, 1_300],
        }
    }

    /// One JSON object: three in four are ticker updates, the rest chat.
    fn object(&mut self) -> String {
        self.seq += 1;
        self.millis += 1 + self.rng.below(40);
        let time = format!(
            "2026-12-04T18:{:02}:{:02}.{:03}{:03}Z",
            self.millis / 60_000 % 60,
            self.millis / 1000 % 60,
            self.millis % 1000,
            self.rng.below(1000)
        );
        let rng = &mut self.rng;
        if rng.below(4) != 0 {
            let i = rng.below(SYMBOLS.len() as u64) as usize;
            let p = &mut self.prices[i];
            *p = (*p + rng.below(21)).saturating_sub(10).max(1);
            let cents = |c: u64| format!("{}.{:02}", c / 100, c % 100);
            let spread = 1 + rng.below(15);
            format!(
                r#"{{"type":"ticker","symbol":"{}","seq":{},"price":"{}","bid":"{}","ask":"{}","volume":"{}.{:04}","side":"{}","time":"{}"}}"#,
                SYMBOLS[i],
                self.seq,
                cents(*p),
                cents(p.saturating_sub(spread)),
                cents(*p + spread),
                rng.below(5000),
                rng.below(10_000),
                if rng.below(2) == 0 { "buy" } else { "sell" },
                time
            )
        } else {
            let words = 2 + rng.below(10);
            let text: Vec<&str> = (0..words).map(|_| rng.pick(&WORDS)).collect();
            format!(
                r#"{{"type":"chat","room":"{}","user":"user{}","id":{},"text":"{}","time":"{}"}}"#,
                rng.pick(&ROOMS),
                rng.below(500),
                self.seq,
                text.join(" "),
                time
            )
        }
    }
}

/// `count` different messages of exactly `size` bytes: each a JSON array
/// of as many objects as fit, padded with spaces.
fn corpus(size: usize, count: usize) -> Vec<String> {
    let mut feed = Feed::new(size as u64);
    (0..count)
        .map(|_| {
            let mut message = String::from("[");
            loop {
                let object = feed.object();
                if message.len() + 1 + object.len() + 1 > size {
                    if message.len() == 1 {
                        continue; // too long to fit at all: another one
                    }
                    break;
                }
                if message.len() > 1 {
                    message.push(',');
                }
                message.push_str(&object);
            }
            message.push(']');
            while message.len() < size {
                message.push(' ');
            }
            message
        })
        .collect()
}

fn total_len(messages: &[String]) -> usize {
    messages.iter().map(String::len).sum()
}

// ---------------------------------------------------------------------------
// Transports for the blocking adapter.

/// Takes every write, as a socket does; keeps the bytes only when asked
/// (for the checks).
struct Sink {
    written: u64,
    kept: Option<Vec<u8>>,
}

impl Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len() as u64;
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Sink {}

/// Reads out the given wire bytes; takes writes (a server has none here).
struct Replay<'a> {
    wire: &'a [u8],
}

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.wire.len());
        buf[..n].copy_from_slice(&self.wire[..n]);
        self.wire = &self.wire[n..];
        Ok(n)
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Replay<'_> {}

/// What the handshake agreed: 15-bit windows, context takeover or not.
fn agreed(no_context_takeover: bool) -> Agreed {
    Agreed {
        server_max_window_bits: WINDOW_BITS,
        client_max_window_bits: WINDOW_BITS,
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
    }
}

/// A blocking server WebSocket with permessage-deflate on (the defaults:
/// level 1, every message compressed).
fn blocking<S: Transport>(stream: S, no_context_takeover: bool) -> WebSocket<S> {
    let mut ws = WebSocket::from_upgraded(stream, Role::Server, Options::new(), &[]).unwrap();
    ws.set_deflate(&agreed(no_context_takeover), &DeflateOptions::default());
    ws
}

// ---------------------------------------------------------------------------
// Senders.

/// wsock's core: Deflater + Connection, as the adapters use them.
struct CoreSender {
    conn: Connection<NoRng>,
    deflater: Deflater,
    payload: Vec<u8>,
    out: Vec<u8>,
}

impl CoreSender {
    fn new(no_context_takeover: bool) -> Self {
        CoreSender {
            conn: Connection::server(Config::new().extension_rsv(RSV1)),
            deflater: Deflater::new(CompressOptions::default(), WINDOW_BITS, no_context_takeover),
            payload: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The frame for `text`, compressed.
    fn send(&mut self, text: &str) -> &[u8] {
        self.payload.clear();
        self.deflater
            .compress(text.as_bytes(), true, &mut self.payload);
        self.conn.set_next_message_rsv(RSV1);
        let need = self.payload.len() + 14;
        if self.out.len() < need {
            self.out.resize(need, 0);
        }
        let frame = Outgoing::Fragment {
            kind: DataKind::Text,
            payload: &self.payload,
            last: true,
        };
        let n = self.conn.encode(frame, &mut self.out).unwrap();
        &self.out[..n]
    }
}

/// zlib-rs by hand: one call with room for the worst case, tail stripped.
struct ZlibSender {
    stream: Deflate,
    out: Vec<u8>,
    reset: bool,
}

impl ZlibSender {
    fn new(level: u8, max_len: usize, no_context_takeover: bool) -> Self {
        ZlibSender {
            stream: Deflate::new_with_config(DeflateConfig {
                level: i32::from(level),
                window_bits: -i32::from(WINDOW_BITS),
                mem_level: 8,
                ..DeflateConfig::default()
            }),
            out: vec![0; zlib_rs::compress_bound(max_len) + 64],
            reset: no_context_takeover,
        }
    }

    fn compress(&mut self, input: &[u8]) -> &[u8] {
        let before = self.stream.total_out();
        let status = self
            .stream
            .compress(input, &mut self.out, DeflateFlush::SyncFlush);
        assert_eq!(status, Ok(Status::Ok));
        let n = (self.stream.total_out() - before) as usize;
        if self.reset {
            self.stream.reset();
        }
        &self.out[..n - TAIL.len()]
    }
}

/// miniz_oxide's compressor by hand: the same shape.
struct MinizSender {
    compressor: Box<CompressorOxide>,
    out: Vec<u8>,
    reset: bool,
}

impl MinizSender {
    fn new(level: u8, max_len: usize, no_context_takeover: bool) -> Self {
        MinizSender {
            compressor: Box::new(CompressorOxide::with_params(
                DataFormat::Raw,
                level,
                CompressionStrategy::Default,
                WINDOW_BITS,
            )),
            out: vec![0; zlib_rs::compress_bound(max_len) + 64],
            reset: no_context_takeover,
        }
    }

    fn compress(&mut self, input: &[u8]) -> &[u8] {
        let (status, used, n) =
            miniz_compress(&mut self.compressor, input, &mut self.out, TDEFLFlush::Sync);
        assert_eq!((status, used), (TDEFLStatus::Okay, input.len()));
        if self.reset {
            self.compressor.reset();
        }
        &self.out[..n - TAIL.len()]
    }
}

// ---------------------------------------------------------------------------
// Receivers. Each hands every whole message to `sink`.

/// wsock's core: Connection::receive in place, collect_inflated.
struct CoreReceiver {
    config: Config,
    inflater: MessageInflater<Box<[u8]>>,
    assembler: MessageAssembler<Vec<u8>>,
    buf: Vec<u8>,
}

impl CoreReceiver {
    fn new(no_context_takeover: bool) -> Self {
        let ring = vec![0u8; 1 << WINDOW_BITS].into_boxed_slice();
        CoreReceiver {
            config: Config::new().extension_rsv(RSV1),
            inflater: MessageInflater::new(Inflater::new(ring, no_context_takeover).unwrap()),
            assembler: MessageAssembler::new(Vec::new()),
            buf: Vec::new(),
        }
    }

    /// A new connection (and so an empty window) over `wire`.
    fn receive(&mut self, wire: &[u8], mut sink: impl FnMut(&[u8])) {
        let mut conn = Connection::server(self.config);
        self.inflater.reset();
        // What a socket read puts in the read buffer.
        self.buf.clear();
        self.buf.extend_from_slice(wire);
        let max = self.config.max_message_size;
        let mut at = 0;
        while at < self.buf.len() {
            let got = conn.receive(&mut self.buf[at..]).unwrap();
            if let Some(Event::Data(chunk)) = got.event {
                let whole = self
                    .assembler
                    .collect_inflated(&chunk, &mut self.inflater, max)
                    .unwrap();
                if whole.is_some() {
                    sink(self.assembler.buffer());
                }
            }
            at += got.consumed;
        }
    }
}

/// The blocking adapter's `read`, `count` times; the WebSocket back, so
/// that the timing leaves out freeing it.
fn blocking_receive<'a>(
    mut ws: WebSocket<Replay<'a>>,
    count: usize,
    mut sink: impl FnMut(&[u8]),
) -> WebSocket<Replay<'a>> {
    for _ in 0..count {
        match ws.read().unwrap() {
            Message::Text(text) => sink(text.as_bytes()),
            other => panic!("not text: {other:?}"),
        }
    }
    ws
}

/// Inflates `input` into `out[*len..]` with zlib-rs, growing `out` when it
/// is full.
fn zlib_inflate(
    stream: &mut Inflate,
    mut input: &[u8],
    flush: InflateFlush,
    out: &mut Vec<u8>,
    len: &mut usize,
) {
    loop {
        let (in_before, out_before) = (stream.total_in(), stream.total_out());
        let status = stream.decompress(input, &mut out[*len..], flush);
        assert!(matches!(status, Ok(Status::Ok)), "{status:?}");
        input = &input[(stream.total_in() - in_before) as usize..];
        *len += (stream.total_out() - out_before) as usize;
        if *len < out.len() && input.is_empty() {
            return;
        }
        if *len == out.len() {
            out.resize(out.len() * 2, 0);
        }
    }
}

/// zlib-rs's inflater by hand.
struct ZlibReceiver {
    stream: Inflate,
    /// The read buffer: the payloads copied in, as a socket read does.
    read: Vec<u8>,
    out: Vec<u8>,
    reset: bool,
}

impl ZlibReceiver {
    fn new(max_len: usize, no_context_takeover: bool) -> Self {
        ZlibReceiver {
            stream: Inflate::new(false, WINDOW_BITS),
            read: Vec::new(),
            out: vec![0; max_len + 1024],
            reset: no_context_takeover,
        }
    }

    fn receive(&mut self, payloads: &[u8], ranges: &[Range<usize>], mut sink: impl FnMut(&[u8])) {
        self.stream.reset(false);
        // What a socket read puts in the read buffer (wsock's rows copy the wire).
        self.read.clear();
        self.read.extend_from_slice(payloads);
        for range in ranges {
            let mut len = 0;
            let input = &self.read[range.clone()];
            zlib_inflate(
                &mut self.stream,
                input,
                InflateFlush::NoFlush,
                &mut self.out,
                &mut len,
            );
            zlib_inflate(
                &mut self.stream,
                &TAIL,
                InflateFlush::SyncFlush,
                &mut self.out,
                &mut len,
            );
            sink(&self.out[..len]);
            if self.reset {
                self.stream.reset(false);
            }
        }
    }
}

/// The ring a miniz_oxide inflater needs when the window outlives the
/// message.
const RING: usize = 1 << WINDOW_BITS;

/// miniz_oxide's core inflater by hand.
struct MinizReceiver {
    core: Box<DecompressorOxide>,
    /// With context takeover: the window, output copied out of it.
    ring: Box<[u8]>,
    pos: usize,
    /// The message; without context takeover, the output buffer itself.
    message: Vec<u8>,
    /// The read buffer: the payloads copied in, as a socket read does.
    read: Vec<u8>,
    reset: bool,
}

impl MinizReceiver {
    fn new(max_len: usize, no_context_takeover: bool) -> Self {
        MinizReceiver {
            core: Box::default(),
            ring: vec![0; RING].into_boxed_slice(),
            pos: 0,
            message: vec![0; max_len + 1024],
            read: Vec::new(),
            reset: no_context_takeover,
        }
    }

    /// Inflates `input` through the ring, appending to the message.
    fn ring_inflate(&mut self, mut input: &[u8]) {
        loop {
            let (status, used, wrote) = miniz_decompress(
                &mut self.core,
                input,
                &mut self.ring,
                self.pos,
                TINFL_FLAG_HAS_MORE_INPUT,
            );
            self.message
                .extend_from_slice(&self.ring[self.pos..self.pos + wrote]);
            self.pos = (self.pos + wrote) & (RING - 1);
            input = &input[used..];
            match status {
                TINFLStatus::NeedsMoreInput => return,
                TINFLStatus::HasMoreOutput => {}
                other => panic!("miniz_oxide inflate: {other:?}"),
            }
        }
    }

    /// Inflates `input` straight into `message[*len..]` (a message on its
    /// own: its start is the start of the window).
    fn flat_inflate(&mut self, mut input: &[u8], len: &mut usize) {
        loop {
            let flags = TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
            let (status, used, wrote) =
                miniz_decompress(&mut self.core, input, &mut self.message, *len, flags);
            *len += wrote;
            input = &input[used..];
            match status {
                TINFLStatus::NeedsMoreInput => return,
                TINFLStatus::HasMoreOutput => {
                    let grown = self.message.len() * 2;
                    self.message.resize(grown, 0);
                }
                other => panic!("miniz_oxide inflate: {other:?}"),
            }
        }
    }

    fn receive(&mut self, payloads: &[u8], ranges: &[Range<usize>], mut sink: impl FnMut(&[u8])) {
        self.core.init();
        self.pos = 0;
        // What a socket read puts in the read buffer (wsock's rows copy the wire).
        let mut read = std::mem::take(&mut self.read);
        read.clear();
        read.extend_from_slice(payloads);
        for range in ranges {
            let input = &read[range.clone()];
            if self.reset {
                let mut len = 0;
                self.flat_inflate(input, &mut len);
                self.flat_inflate(&TAIL, &mut len);
                sink(&self.message[..len]);
                self.core.init();
            } else {
                self.message.clear();
                self.ring_inflate(input);
                self.ring_inflate(&TAIL);
                sink(&self.message);
            }
        }
        self.read = read;
    }
}

// ---------------------------------------------------------------------------
// Checks.

/// Inflates compressed payloads with wsock's inflater.
fn inflate_payloads(payloads: &[Vec<u8>], no_context_takeover: bool) -> Vec<Vec<u8>> {
    let mut inflater = Inflater::new(vec![0u8; 1 << WINDOW_BITS], no_context_takeover).unwrap();
    payloads
        .iter()
        .map(|payload| {
            let mut message = Vec::new();
            let done = inflater
                .inflate_all(payload, true, |chunk| {
                    message.extend_from_slice(chunk);
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert!(done);
            message
        })
        .collect()
}

/// The payloads of the (unmasked, RSV1) server frames in `wire`.
fn frame_payloads(wire: &mut [u8]) -> Vec<Vec<u8>> {
    let mut client = Connection::client(Config::new().extension_rsv(RSV1), TestRng(1));
    let mut payloads = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let got = client.receive(&mut wire[at..]).unwrap();
        if let Some(Event::Data(chunk)) = got.event {
            assert!(chunk.first && chunk.last && chunk.rsv == RSV1);
            assert_eq!(chunk.kind, DataKind::Text);
            payloads.push(chunk.payload.to_vec());
        }
        at += got.consumed;
    }
    payloads
}

fn assert_messages(got: &[Vec<u8>], messages: &[String], what: &str) {
    assert_eq!(got.len(), messages.len(), "{what}: message count");
    for (got, want) in got.iter().zip(messages) {
        assert!(got == want.as_bytes(), "{what}: a message differs");
    }
}

fn ratio(payloads: usize, input: usize) -> f64 {
    payloads as f64 / input as f64
}

/// What a fresh compressor makes of `messages`, payload by payload.
fn compressed<F: FnMut(&[u8]) -> Vec<u8>>(messages: &[String], mut f: F) -> Vec<Vec<u8>> {
    messages.iter().map(|m| f(m.as_bytes())).collect()
}

fn sum_len(payloads: &[Vec<u8>]) -> usize {
    payloads.iter().map(Vec::len).sum()
}

/// Checks every sender's output once; returns the ratio line.
fn check_senders(messages: &[String], size: usize, no_context_takeover: bool) -> String {
    // The blocking adapter's wire, as a client reads it.
    let mut ws = blocking(
        Sink {
            written: 0,
            kept: Some(Vec::new()),
        },
        no_context_takeover,
    );
    for m in messages {
        ws.send_frame(Outgoing::Text(m)).unwrap();
    }
    let mut wire = ws.get_mut().kept.take().unwrap();
    let from_blocking = frame_payloads(&mut wire);

    let mut core = CoreSender::new(no_context_takeover);
    let mut core_wire = Vec::new();
    for m in messages {
        core_wire.extend_from_slice(core.send(m));
    }
    let from_core = frame_payloads(&mut core_wire);

    let mut zlib = ZlibSender::new(LEVEL, size, no_context_takeover);
    let from_zlib = compressed(messages, |m| zlib.compress(m).to_vec());
    let mut miniz = MinizSender::new(LEVEL, size, no_context_takeover);
    let from_miniz = compressed(messages, |m| miniz.compress(m).to_vec());

    assert!(
        from_blocking == from_zlib,
        "wsock_blocking differs from zlib-rs"
    );
    assert!(from_core == from_zlib, "wsock_core differs from zlib-rs");
    let mode = if no_context_takeover {
        "no_takeover"
    } else {
        "takeover"
    };
    for (payloads, what) in [(&from_zlib, "zlib-rs"), (&from_miniz, "miniz_oxide")] {
        let back = inflate_payloads(payloads, no_context_takeover);
        assert_messages(&back, messages, &format!("{what} {mode} {size}"));
    }
    let input = total_len(messages);
    format!(
        "ratio {size} B {mode}, level {LEVEL}: zlib-rs (= wsock) {:.4}, miniz_oxide {:.4}",
        ratio(sum_len(&from_zlib), input),
        ratio(sum_len(&from_miniz), input)
    )
}

/// The client-masked wire of `messages` (wsock's core as a client), and
/// the compressed payloads laid end to end with their ranges.
fn client_wire(
    messages: &[String],
    level: u8,
    no_context_takeover: bool,
) -> (Vec<u8>, Vec<u8>, Vec<Range<usize>>) {
    let mut conn = Connection::client(Config::new().extension_rsv(RSV1), TestRng(7));
    let options = CompressOptions {
        level,
        ..CompressOptions::default()
    };
    let mut deflater = Deflater::new(options, WINDOW_BITS, no_context_takeover);
    let (mut wire, mut payloads, mut ranges) = (Vec::new(), Vec::new(), Vec::new());
    let mut payload = Vec::new();
    let mut frame = Vec::new();
    for m in messages {
        payload.clear();
        deflater.compress(m.as_bytes(), true, &mut payload);
        let start = payloads.len();
        payloads.extend_from_slice(&payload);
        ranges.push(start..payloads.len());
        frame.resize(payload.len() + 14, 0);
        conn.set_next_message_rsv(RSV1);
        let out = Outgoing::Fragment {
            kind: DataKind::Text,
            payload: &payload,
            last: true,
        };
        let n = conn.encode(out, &mut frame).unwrap();
        wire.extend_from_slice(&frame[..n]);
    }
    (wire, payloads, ranges)
}

fn collect_all(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    f(&mut |m: &[u8]| got.push(m.to_vec()));
    got
}

// ---------------------------------------------------------------------------
// The benchmarks.

fn send(c: &mut Criterion<Clock>) {
    for (size, count) in SIZES {
        let messages = corpus(size, count);
        let mut group = c.benchmark_group(format!("send/{size}B"));
        group.throughput(Throughput::Bytes(total_len(&messages) as u64));
        for (mode, nct) in MODES {
            eprintln!("{}", check_senders(&messages, size, nct));
            group.bench_function(BenchmarkId::new("wsock_blocking", mode), |b| {
                let mut ws = blocking(
                    Sink {
                        written: 0,
                        kept: None,
                    },
                    nct,
                );
                b.iter(|| {
                    for m in &messages {
                        ws.send_frame(Outgoing::Text(m)).unwrap();
                    }
                    ws.get_ref().written
                })
            });
            group.bench_function(BenchmarkId::new("wsock_core", mode), |b| {
                let mut sender = CoreSender::new(nct);
                b.iter(|| {
                    let mut n = 0;
                    for m in &messages {
                        n += black_box(sender.send(m)).len();
                    }
                    n
                })
            });
            group.bench_function(BenchmarkId::new("zlib-rs", mode), |b| {
                let mut sender = ZlibSender::new(LEVEL, size, nct);
                b.iter(|| {
                    let mut n = 0;
                    for m in &messages {
                        n += black_box(sender.compress(m.as_bytes())).len();
                    }
                    n
                })
            });
            group.bench_function(BenchmarkId::new("miniz_oxide", mode), |b| {
                let mut sender = MinizSender::new(LEVEL, size, nct);
                b.iter(|| {
                    let mut n = 0;
                    for m in &messages {
                        n += black_box(sender.compress(m.as_bytes())).len();
                    }
                    n
                })
            });
        }
        group.finish();
    }
}

fn receive(c: &mut Criterion<Clock>) {
    receive_groups(c, "receive", LEVEL, &MODES, true);
}

/// What a zlib-based peer sends at zlib's default level: dynamic Huffman
/// blocks (level 1's are mostly fixed ones), with context takeover.
fn receive_level6(c: &mut Criterion<Clock>) {
    receive_groups(c, "receive_level6", 6, &MODES[..1], false);
}

/// The share of `payloads` whose first DEFLATE block uses the fixed
/// Huffman codes (BTYPE 01, RFC 1951 §3.2.3) rather than dynamic ones.
fn fixed_share(payloads: &[u8], ranges: &[Range<usize>]) -> f64 {
    let fixed = ranges
        .iter()
        .filter(|r| (payloads[r.start] >> 1) & 3 == 1)
        .count();
    fixed as f64 / ranges.len() as f64
}

/// Parse + inflate of what a client compressed at `level`: wsock (core
/// and, with `with_blocking`, the blocking reader) beside both inflaters.
fn receive_groups(
    c: &mut Criterion<Clock>,
    name: &str,
    level: u8,
    modes: &[(&str, bool)],
    with_blocking: bool,
) {
    for (size, count) in SIZES {
        let messages = corpus(size, count);
        let mut group = c.benchmark_group(format!("{name}/{size}B"));
        group.throughput(Throughput::Bytes(total_len(&messages) as u64));
        for &(mode, nct) in modes {
            let (wire, payloads, ranges) = client_wire(&messages, level, nct);
            eprintln!(
                "{name} {size} B {mode}: input compressed at level {level}, ratio {:.4}, \
                 first block fixed-Huffman in {:.0}% of messages",
                ratio(payloads.len(), total_len(&messages)),
                100.0 * fixed_share(&payloads, &ranges)
            );
            let mut core = CoreReceiver::new(nct);
            let mut zlib = ZlibReceiver::new(size, nct);
            let mut miniz = MinizReceiver::new(size, nct);
            let what = |who: &str| format!("{name} {who} {mode} {size}");
            let got = collect_all(|sink| core.receive(&wire, sink));
            assert_messages(&got, &messages, &what("wsock_core"));
            let got = collect_all(|sink| {
                blocking_receive(blocking(Replay { wire: &wire }, nct), count, sink);
            });
            assert_messages(&got, &messages, &what("wsock_blocking"));
            let got = collect_all(|sink| zlib.receive(&payloads, &ranges, sink));
            assert_messages(&got, &messages, &what("zlib-rs"));
            let got = collect_all(|sink| miniz.receive(&payloads, &ranges, sink));
            assert_messages(&got, &messages, &what("miniz_oxide"));

            if with_blocking {
                group.bench_function(BenchmarkId::new("wsock_blocking", mode), |b| {
                    b.iter_batched(
                        || blocking(Replay { wire: &wire }, nct),
                        |ws| {
                            let mut n = 0;
                            let ws = blocking_receive(ws, count, |m| n += black_box(m).len());
                            (ws, n)
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
            group.bench_function(BenchmarkId::new("wsock_core", mode), |b| {
                b.iter(|| {
                    let mut n = 0;
                    core.receive(&wire, |m| n += black_box(m).len());
                    n
                })
            });
            group.bench_function(BenchmarkId::new("zlib-rs", mode), |b| {
                b.iter(|| {
                    let mut n = 0;
                    zlib.receive(&payloads, &ranges, |m| n += black_box(m).len());
                    n
                })
            });
            group.bench_function(BenchmarkId::new("miniz_oxide", mode), |b| {
                b.iter(|| {
                    let mut n = 0;
                    miniz.receive(&payloads, &ranges, |m| n += black_box(m).len());
                    n
                })
            });
        }
        group.finish();
    }
}

fn level6(c: &mut Criterion<Clock>) {
    const LEVEL6: u8 = 6;
    for (size, count) in SIZES {
        let messages = corpus(size, count);
        let mut zlib = ZlibSender::new(LEVEL6, size, false);
        let from_zlib = compressed(&messages, |m| zlib.compress(m).to_vec());
        let mut miniz = MinizSender::new(LEVEL6, size, false);
        let from_miniz = compressed(&messages, |m| miniz.compress(m).to_vec());
        for (payloads, what) in [(&from_zlib, "zlib-rs"), (&from_miniz, "miniz_oxide")] {
            let back = inflate_payloads(payloads, false);
            assert_messages(&back, &messages, &format!("level 6 {what} {size}"));
        }
        let input = total_len(&messages);
        eprintln!(
            "ratio {size} B takeover, level {LEVEL6}: zlib-rs {:.4}, miniz_oxide {:.4}",
            ratio(sum_len(&from_zlib), input),
            ratio(sum_len(&from_miniz), input)
        );
        let mut group = c.benchmark_group(format!("level6/{size}B"));
        group.throughput(Throughput::Bytes(input as u64));
        group.bench_function(BenchmarkId::new("zlib-rs", "takeover"), |b| {
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    n += black_box(zlib.compress(m.as_bytes())).len();
                }
                n
            })
        });
        group.bench_function(BenchmarkId::new("miniz_oxide", "takeover"), |b| {
            b.iter(|| {
                let mut n = 0;
                for m in &messages {
                    n += black_box(miniz.compress(m.as_bytes())).len();
                }
                n
            })
        });
        group.finish();
    }
}

/// The benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`): on a
/// machine shared with other jobs, the time this code ran, without the time
/// others ran in its place.
#[cfg(target_os = "linux")]
struct CpuTime(WallTime);

#[cfg(target_os = "linux")]
impl CpuTime {
    fn now() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }
}

#[cfg(target_os = "linux")]
impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        Self::now()
    }
    fn end(&self, start: Duration) -> Duration {
        Self::now() - start
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, as wall time's.
        self.0.formatter()
    }
}

#[cfg(target_os = "linux")]
type Clock = CpuTime;
#[cfg(not(target_os = "linux"))]
type Clock = WallTime;

/// Short runs: 63 workloads in about five minutes.
fn config() -> Criterion<Clock> {
    #[cfg(target_os = "linux")]
    let clock = CpuTime(WallTime);
    #[cfg(not(target_os = "linux"))]
    let clock = WallTime;
    Criterion::default()
        .with_measurement(clock)
        .without_plots()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

// ---------------------------------------------------------------------------
// Instruction counts: `deflate --icount WORKLOAD REPS`.

/// Runs one workload (a benchmark's name, e.g. `send/256B/wsock_core/takeover`)
/// `reps` times, without criterion and without the checks, for `valgrind
/// --tool=callgrind`: `benches/deflate-icount.sh` takes the difference of a
/// run of 1 and one of 2, so set-up is left out, and the counts do not move
/// with the machine's load.
fn icount(name: &str, reps: usize) {
    let parts: Vec<&str> = name.split('/').collect();
    let [kind, size, who, mode] = parts[..] else {
        panic!("--icount KIND/SIZE/WHO/MODE, e.g. send/256B/wsock_core/takeover");
    };
    let size: usize = size.trim_end_matches('B').parse().expect("a size in bytes");
    let count = SIZES
        .iter()
        .find(|(s, _)| *s == size)
        .expect("a benchmarked size")
        .1;
    let nct = match mode {
        "takeover" => false,
        "no_takeover" => true,
        _ => panic!("takeover or no_takeover"),
    };
    let messages = corpus(size, count);
    let mut run: Box<dyn FnMut() -> usize + '_> = match (kind, who) {
        ("send", "wsock_blocking") => {
            let sink = Sink {
                written: 0,
                kept: None,
            };
            let mut ws = blocking(sink, nct);
            Box::new(move || {
                for m in &messages {
                    ws.send_frame(Outgoing::Text(m)).unwrap();
                }
                ws.get_ref().written as usize
            })
        }
        ("send", "wsock_core") => {
            let mut sender = CoreSender::new(nct);
            Box::new(move || messages.iter().map(|m| sender.send(m).len()).sum())
        }
        ("send" | "level6", "zlib-rs") => {
            let level = if kind == "send" { LEVEL } else { 6 };
            let mut sender = ZlibSender::new(level, size, nct);
            Box::new(move || {
                messages
                    .iter()
                    .map(|m| sender.compress(m.as_bytes()).len())
                    .sum()
            })
        }
        ("send" | "level6", "miniz_oxide") => {
            let level = if kind == "send" { LEVEL } else { 6 };
            let mut sender = MinizSender::new(level, size, nct);
            Box::new(move || {
                messages
                    .iter()
                    .map(|m| sender.compress(m.as_bytes()).len())
                    .sum()
            })
        }
        ("receive" | "receive_level6", _) => {
            let level = if kind == "receive" { LEVEL } else { 6 };
            let (wire, payloads, ranges) = client_wire(&messages, level, nct);
            let mut add = |m: &[u8]| {
                black_box(m);
            };
            match who {
                "wsock_blocking" => Box::new(move || {
                    // Its set-up counts here; a run of 1 and one of 3
                    // repetitions still differ by two of it.
                    blocking_receive(blocking(Replay { wire: &wire }, nct), count, &mut add);
                    count
                }),
                "wsock_core" => {
                    let mut core = CoreReceiver::new(nct);
                    Box::new(move || {
                        core.receive(&wire, &mut add);
                        count
                    })
                }
                "zlib-rs" => {
                    let mut zlib = ZlibReceiver::new(size, nct);
                    Box::new(move || {
                        zlib.receive(&payloads, &ranges, &mut add);
                        count
                    })
                }
                "miniz_oxide" => {
                    let mut miniz = MinizReceiver::new(size, nct);
                    Box::new(move || {
                        miniz.receive(&payloads, &ranges, &mut add);
                        count
                    })
                }
                _ => panic!("no such receiver: {who}"),
            }
        }
        _ => panic!("no such workload: {name}"),
    };
    for _ in 0..reps {
        black_box(run());
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = send, receive, receive_level6, level6
}

/// criterion's `main`, or `--icount WORKLOAD REPS`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--icount") {
        let name = args.get(at + 1).expect("--icount WORKLOAD [REPS]");
        let reps = args
            .get(at + 2)
            .map_or(1, |r| r.parse().expect("a repetition count"));
        icount(name, reps);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
