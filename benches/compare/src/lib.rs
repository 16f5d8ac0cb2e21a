//! The workloads of the side-by-side benchmark, one function per library,
//! and an independent checker that every library's output is right.
//!
//! Each library is used the way its documentation shows, with its fastest
//! settings:
//!
//! - **wsock**: the sans-IO [`Connection`], in place on the caller's buffer
//!   (no copy into a library buffer), exactly as `benches/core.rs`.
//! - **tungstenite**: [`tungstenite::WebSocket::read`] / `write` + `flush`
//!   over an in-memory stream (its frame layer, `FrameSocket`, does not
//!   unmask, so it cannot serve a server).
//! - **fastwebsockets**: `WebSocket::read_frame` / `write_frame` over an
//!   in-memory async stream on a current-thread tokio runtime.
//! - **tokio-websockets**: `WebSocketStream` (`Stream::next` /
//!   `Sink::feed` + `flush`) over the same in-memory async stream.
//!
//! The peers read from a stream, so they copy the wire bytes into their own
//! read buffer first (one copy that a socket read would make anyway); wsock
//! parses the buffer it is given.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsock::{Config, Connection, Event, Outgoing};

/// Payload sizes, and how many frames make one buffer (about 1 MiB of
/// payload, or one 16 MiB frame): the same as `benches/core.rs`.
pub const SIZES: [(usize, usize); 5] = [
    (16, 65536),
    (125, 8192),
    (4096, 256),
    (65536, 16),
    (16 << 20, 1),
];

/// The libraries, in the order they run within every workload.
pub const LIBRARIES: [&str; 4] = ["wsock", "tungstenite", "fastwebsockets", "tokio-websockets"];

/// The reference ceilings benchmarked beside them.
pub const CEILINGS: [&str; 2] = ["memcpy", "xor"];

/// No limits in the way of the biggest workload.
pub const UNLIMITED: Config = Config::new()
    .max_frame_size(u64::MAX)
    .max_message_size(u64::MAX);

/// The payload of every frame of `size` bytes (as `benches/core.rs`).
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7) as u8).collect()
}

/// A ChaCha12 generator seeded from the OS: wsock's std adapter masks with
/// this, as the peers mask with `rand`'s thread-local ChaCha12.
pub fn mask_rng() -> StdRng {
    StdRng::try_from_rng(&mut SysRng).expect("the OS random source works")
}

/// `count` binary frames of `size` bytes, masked (client → server) or not.
pub fn frames(size: usize, count: usize, masked: bool) -> Vec<u8> {
    let payload = payload(size);
    let mut buf = vec![0u8; size + 14];
    let mut out = Vec::with_capacity((size + 14) * count);
    let mut client = Connection::client(UNLIMITED, StdRng::seed_from_u64(0x1234_5678));
    let mut server = Connection::server(UNLIMITED);
    for _ in 0..count {
        let n = if masked {
            client.encode(Outgoing::Binary(&payload), &mut buf)
        } else {
            server.encode(Outgoing::Binary(&payload), &mut buf)
        }
        .expect("the buffer fits the frame");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// An independent decoder (no library): checks that `wire` holds exactly
/// `count` final binary frames whose payload, unmasked, is `payload`, and
/// that they are masked exactly when `masked`.
pub fn check_frames(wire: &[u8], masked: bool, payload: &[u8], count: usize) -> Result<(), String> {
    let mut at = 0;
    for i in 0..count {
        let head = wire
            .get(at..at + 2)
            .ok_or(format!("frame {i}: truncated"))?;
        if head[0] != 0x82 {
            return Err(format!("frame {i}: first byte {:#04x}, want 0x82", head[0]));
        }
        if (head[1] & 0x80 != 0) != masked {
            return Err(format!("frame {i}: mask bit {}", head[1] >> 7));
        }
        let (len, mut h) = match head[1] & 0x7f {
            126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(wire[at + 2..at + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let mut key = [0u8; 4];
        if masked {
            key.copy_from_slice(&wire[at + h..at + h + 4]);
            h += 4;
        }
        if len != payload.len() {
            return Err(format!("frame {i}: length {len}, want {}", payload.len()));
        }
        let body = wire
            .get(at + h..at + h + len)
            .ok_or(format!("frame {i}: truncated payload"))?;
        if body
            .iter()
            .enumerate()
            .any(|(j, b)| b ^ key[j & 3] != payload[j])
        {
            return Err(format!("frame {i}: payload differs"));
        }
        at += h + len;
    }
    if at != wire.len() {
        return Err(format!("{} bytes after {count} frames", wire.len() - at));
    }
    Ok(())
}

/// Checks the payloads a parser reported: `count` of them, each equal to `payload`.
#[derive(Debug)]
pub struct PayloadCheck<'a> {
    payload: &'a [u8],
    seen: usize,
    bad: Option<String>,
}

impl<'a> PayloadCheck<'a> {
    /// Expects payloads equal to `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        PayloadCheck {
            payload,
            seen: 0,
            bad: None,
        }
    }

    /// Records one reported payload.
    pub fn see(&mut self, got: &[u8]) {
        if got != self.payload && self.bad.is_none() {
            self.bad = Some(format!("payload {} differs", self.seen));
        }
        self.seen += 1;
    }

    /// Ok if exactly `count` right payloads were seen.
    pub fn finish(self, count: usize) -> Result<(), String> {
        if let Some(bad) = self.bad {
            return Err(bad);
        }
        if self.seen != count {
            return Err(format!("{} payloads, want {count}", self.seen));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// In-memory streams.

/// Reads from a byte slice; writes are discarded. Reads past the end report
/// end of stream (no workload reads that far).
#[derive(Debug)]
pub struct MemStream<'a> {
    data: &'a [u8],
}

impl<'a> MemStream<'a> {
    /// A stream that yields `data`.
    pub fn new(data: &'a [u8]) -> Self {
        MemStream { data }
    }
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Collects everything written into a shared `Vec` (the caller keeps a
/// clone to look at it: not every library hands its stream back); reads
/// would block (nothing arrives).
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    /// The bytes written so far.
    pub out: Rc<RefCell<Vec<u8>>>,
}

impl VecSink {
    /// The bytes written so far.
    pub fn bytes(&self) -> std::cell::Ref<'_, Vec<u8>> {
        self.out.borrow()
    }

    /// Forgets what was written (keeps the capacity).
    pub fn clear(&self) {
        self.out.borrow_mut().clear();
    }
}

impl Read for VecSink {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for VecSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut out = self.out.borrow_mut();
        let mut n = 0;
        for b in bufs {
            out.extend_from_slice(b);
            n += b.len();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for VecSink {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for VecSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Write::write(&mut *self, buf))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Write::write_vectored(&mut *self, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A current-thread tokio runtime (no I/O driver needed in memory).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

// ---------------------------------------------------------------------------
// Parse + unmask: each reads `count` frames and hands every payload to `f`.

/// wsock: decodes `wire` in place (as `benches/core.rs`).
pub fn parse_wsock(wire: &mut [u8], masked: bool, mut f: impl FnMut(&[u8])) {
    fn run<R: rand_core::Rng>(
        conn: &mut Connection<R>,
        wire: &mut [u8],
        f: &mut impl FnMut(&[u8]),
    ) {
        let mut at = 0;
        while at < wire.len() {
            let got = conn.receive(&mut wire[at..]).expect("valid frames");
            if let Some(Event::Data(chunk)) = got.event {
                f(chunk.payload);
            }
            at += got.consumed;
        }
    }
    if masked {
        run(&mut Connection::server(UNLIMITED), wire, &mut f);
    } else {
        run(
            &mut Connection::client(UNLIMITED, StdRng::seed_from_u64(1)),
            wire,
            &mut f,
        );
    }
}

/// tungstenite: `WebSocket::read` over an in-memory stream, default buffers.
pub fn parse_tungstenite(wire: &[u8], masked: bool, count: usize, mut f: impl FnMut(&[u8])) {
    use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
    let role = if masked { Role::Server } else { Role::Client };
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let mut ws = WebSocket::from_raw_socket(MemStream::new(wire), role, Some(config));
    for _ in 0..count {
        match ws.read().expect("valid frames") {
            tungstenite::Message::Binary(b) => f(&b),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// fastwebsockets: `WebSocket::read_frame` over an in-memory async stream.
pub fn parse_fastwebsockets(
    rt: &tokio::runtime::Runtime,
    wire: &[u8],
    masked: bool,
    count: usize,
    mut f: impl FnMut(&[u8]),
) {
    use fastwebsockets::{OpCode, Role, WebSocket};
    let role = if masked { Role::Server } else { Role::Client };
    rt.block_on(async {
        let mut ws = WebSocket::after_handshake(MemStream::new(wire), role);
        ws.set_max_message_size(usize::MAX);
        for _ in 0..count {
            let frame = ws.read_frame().await.expect("valid frames");
            assert!(frame.opcode == OpCode::Binary && frame.fin);
            f(&frame.payload);
        }
    });
}

/// tokio-websockets: `WebSocketStream::next` over an in-memory async stream.
pub fn parse_tokio_websockets(
    rt: &tokio::runtime::Runtime,
    wire: &[u8],
    masked: bool,
    count: usize,
    mut f: impl FnMut(&[u8]),
) {
    use tokio_websockets::{ClientBuilder, Limits, ServerBuilder};
    rt.block_on(async {
        let stream = MemStream::new(wire);
        let mut ws = if masked {
            ServerBuilder::new()
                .limits(Limits::unlimited())
                .serve(stream)
        } else {
            ClientBuilder::new()
                .limits(Limits::unlimited())
                .take_over(stream)
        };
        for _ in 0..count {
            let message = ws.next().await.expect("a message").expect("valid frames");
            assert!(message.is_binary());
            f(message.as_payload());
        }
    });
}

/// Reference: a plain byte-wise XOR of the whole buffer with a 4-byte key.
pub fn xor_bytewise(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

// ---------------------------------------------------------------------------
// Encode with masking (as a client): `count` binary frames of `payload`.

/// wsock: `Connection::encode` into a caller buffer; returns the bytes written.
pub fn encode_wsock(
    client: &mut Connection<StdRng>,
    payload: &[u8],
    count: usize,
    out: &mut [u8],
) -> usize {
    let mut at = 0;
    for _ in 0..count {
        at += client
            .encode(Outgoing::Binary(payload), &mut out[at..])
            .expect("room for the frame");
    }
    at
}

/// A tungstenite client writing into memory.
pub type TungsteniteClient = tungstenite::WebSocket<VecSink>;

/// A tungstenite client (default config: 128 KiB write buffer).
pub fn tungstenite_client(sink: &VecSink) -> TungsteniteClient {
    tungstenite::WebSocket::from_raw_socket(sink.clone(), tungstenite::protocol::Role::Client, None)
}

/// tungstenite: `write` each message (the payload is a shared `Bytes`),
/// then `flush`; the wire bytes end up in the sink.
pub fn encode_tungstenite(ws: &mut TungsteniteClient, payload: &Bytes, count: usize) {
    ws.get_mut().clear();
    for _ in 0..count {
        ws.write(tungstenite::Message::Binary(payload.clone()))
            .expect("write");
    }
    ws.flush().expect("flush");
}

/// A fastwebsockets client writing into memory.
pub type FastClient = fastwebsockets::WebSocket<VecSink>;

/// A fastwebsockets client with default settings (vectored writes on).
pub fn fastwebsockets_client(sink: &VecSink) -> FastClient {
    fastwebsockets::WebSocket::after_handshake(sink.clone(), fastwebsockets::Role::Client)
}

/// fastwebsockets: `write_frame` of a payload lent mutably
/// (`Payload::BorrowedMut`, its zero-copy path: it masks the caller's buffer
/// in place). `fresh` gives each frame its own copy of `payload` (for the
/// correctness check); otherwise the same buffer is masked again each time.
pub fn encode_fastwebsockets(
    rt: &tokio::runtime::Runtime,
    ws: &mut FastClient,
    sink: &VecSink,
    payload: &mut [u8],
    count: usize,
    fresh: bool,
) {
    use fastwebsockets::{Frame, Payload};
    sink.clear();
    let original = fresh.then(|| payload.to_vec());
    rt.block_on(async {
        for _ in 0..count {
            if let Some(original) = &original {
                payload.copy_from_slice(original);
            }
            ws.write_frame(Frame::binary(Payload::BorrowedMut(&mut *payload)))
                .await
                .expect("write");
        }
    });
}

/// A tokio-websockets client writing into memory.
pub type TokioClient = tokio_websockets::WebSocketStream<VecSink>;

/// A tokio-websockets client with default settings.
pub fn tokio_websockets_client(sink: &VecSink) -> TokioClient {
    tokio_websockets::ClientBuilder::new().take_over(sink.clone())
}

/// tokio-websockets: `feed` each message (a shared `Bytes` payload), then
/// `flush` (vectored writes of the queued frames).
pub fn encode_tokio_websockets(
    rt: &tokio::runtime::Runtime,
    ws: &mut TokioClient,
    payload: &Bytes,
    count: usize,
) {
    ws.get_mut().clear();
    rt.block_on(async {
        for _ in 0..count {
            ws.feed(tokio_websockets::Message::binary(payload.clone()))
                .await
                .expect("feed");
        }
        ws.flush().await.expect("flush");
    });
}
