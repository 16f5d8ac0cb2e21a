//! The embedded adapters on the host: a blocking and an async client and
//! server, with caller-owned buffers, over in-memory transports.
#![cfg(all(feature = "embedded-io", feature = "embedded-io-async"))]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use wsock::embedded::{Error, Message, asynch, blocking};
use wsock::handshake::client::ClientRequest;
use wsock::handshake::server::Accept;
use wsock::handshake::{HandshakeError, Url};
use wsock::{CloseCode, Config, DataKind, Outgoing, ProtocolError, State};

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

fn request() -> ClientRequest<'static> {
    ClientRequest {
        subprotocols: &["echo"],
        ..ClientRequest::new(Url::parse("ws://10.0.0.2/ws").unwrap())
    }
}

// ---- blocking: a byte pipe between two threads -----------------------------------

#[derive(Default)]
struct Queue {
    bytes: Mutex<(VecDeque<u8>, bool)>,
    ready: Condvar,
}

/// One end of an in-memory duplex connection; dropping it ends the peer's input.
struct End {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
    /// Largest write accepted at once (short writes on purpose).
    max_write: usize,
}

fn duplex() -> (End, End) {
    let (a, b) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
    (
        End {
            rx: a.clone(),
            tx: b.clone(),
            max_write: 7,
        },
        End {
            rx: b,
            tx: a,
            max_write: 1 << 20,
        },
    )
}

impl Drop for End {
    fn drop(&mut self) {
        self.tx.bytes.lock().unwrap().1 = true;
        self.tx.ready.notify_all();
    }
}

impl embedded_io::ErrorType for End {
    type Error = Infallible;
}

impl embedded_io::Read for End {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut q = self.rx.bytes.lock().unwrap();
        while q.0.is_empty() && !q.1 {
            q = self.rx.ready.wait(q).unwrap();
        }
        let n = buf.len().min(q.0.len());
        for b in &mut buf[..n] {
            *b = q.0.pop_front().unwrap();
        }
        Ok(n)
    }
}

impl embedded_io::Write for End {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.max_write);
        self.tx.bytes.lock().unwrap().0.extend(&buf[..n]);
        self.tx.ready.notify_all();
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Echo server with small buffers: 512 B in, 256 B out, 64 KiB messages.
fn blocking_echo_server(end: End) -> Result<(Option<&'static str>, u32), Error<Infallible>> {
    let (mut input, mut output) = ([0u8; 512], [0u8; 256]);
    let mut message = vec![0u8; 64 * 1024];
    let mut chosen = None;
    let mut ws = blocking::accept(end, Config::new(), &mut input, &mut output, |req| {
        chosen = req.subprotocols().find(|p| *p == "echo").map(|_| "echo");
        Ok(Accept {
            subprotocol: chosen,
            ..Accept::default()
        })
    })?;
    let mut echoed = 0;
    loop {
        match ws.read(&mut message) {
            Ok(Message::Text(t)) => ws.send(Outgoing::Text(t))?,
            Ok(Message::Binary(b)) => ws.send(Outgoing::Binary(b))?,
            Ok(_) => continue,
            Err(Error::ConnectionClosed) => return Ok((chosen, echoed)),
            Err(e) => return Err(e),
        }
        echoed += 1;
    }
}

#[test]
fn blocking_client_and_server() {
    let (client_end, server_end) = duplex();
    let server = std::thread::spawn(move || blocking_echo_server(server_end));
    let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 300], vec![0u8; 100_000]);
    let (mut ws, subprotocol) = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(5),
        &mut input,
        &mut output,
    )
    .unwrap();
    assert_eq!(subprotocol, Some("echo"));

    ws.send(Outgoing::Text("héllo")).unwrap();
    assert_eq!(ws.read(&mut message).unwrap(), Message::Text("héllo"));
    // A 16-bit length (300 B) and a 64-bit length (65 536 B), both larger
    // than the 300-byte output buffer once framed: streamed through it.
    for len in [300usize, 65_536] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        ws.send(Outgoing::Binary(&payload)).unwrap();
        assert_eq!(
            ws.read(&mut message).unwrap(),
            Message::Binary(&payload[..])
        );
    }
    ws.send(Outgoing::Ping(b"ping!")).unwrap();
    assert!(matches!(ws.read(&mut message).unwrap(), Message::Pong(p) if p == b"ping!"));
    // Fragments, with the server reassembling.
    ws.send(Outgoing::Fragment {
        kind: DataKind::Text,
        payload: "fr".as_bytes(),
        last: false,
    })
    .unwrap();
    ws.send(Outgoing::Fragment {
        kind: DataKind::Text,
        payload: "ag".as_bytes(),
        last: true,
    })
    .unwrap();
    assert_eq!(ws.read(&mut message).unwrap(), Message::Text("frag"));

    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(ws.state(), State::Closed);
    drop(ws);
    assert_eq!(server.join().unwrap().unwrap(), (Some("echo"), 4));
}

/// §10.4: a message larger than the reader's buffer fails with 1009.
#[test]
fn blocking_message_larger_than_buffer_is_1009() {
    let (client_end, server_end) = duplex();
    let server = std::thread::spawn(move || blocking_echo_server(server_end));
    let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 300], [0u8; 256]);
    let (mut ws, _) = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(6),
        &mut input,
        &mut output,
    )
    .unwrap();
    ws.send(Outgoing::Binary(&vec![1u8; 70_000])).unwrap();
    let close = ws.read(&mut message).unwrap();
    assert!(
        matches!(&close, Message::Close(Some(f)) if f.code == CloseCode::MESSAGE_TOO_BIG),
        "{close:?}"
    );
    drop(ws);
    match server.join().unwrap() {
        Err(Error::Protocol(ProtocolError::MessageTooLarge { max: 65536, .. })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn blocking_rejection_and_oversized_handshake() {
    let (client_end, server_end) = duplex();
    let server = std::thread::spawn(move || {
        let (mut input, mut output) = ([0u8; 512], [0u8; 256]);
        blocking::accept(server_end, Config::new(), &mut input, &mut output, |_| {
            Err(403)
        })
        .err()
    });
    let (mut input, mut output) = ([0u8; 512], [0u8; 300]);
    let err = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(7),
        &mut input,
        &mut output,
    )
    .err();
    assert_eq!(
        err,
        Some(Error::Handshake(HandshakeError::Rejected { status: 403 }))
    );
    assert_eq!(server.join().unwrap(), Some(Error::Refused { status: 403 }));

    // A request bigger than the server's input buffer: 431, never buffered.
    let (client_end, server_end) = duplex();
    let server = std::thread::spawn(move || {
        let (mut input, mut output) = ([0u8; 100], [0u8; 256]);
        blocking::accept(server_end, Config::new(), &mut input, &mut output, |_| {
            Ok(Accept::default())
        })
        .err()
    });
    let err = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(8),
        &mut [0u8; 512],
        &mut [0u8; 300],
    )
    .err();
    assert_eq!(
        err,
        Some(Error::Handshake(HandshakeError::Rejected { status: 431 }))
    );
    assert_eq!(
        server.join().unwrap(),
        Some(Error::Handshake(HandshakeError::HeadersTooLarge {
            limit: 100
        }))
    );
}

/// Reads from `end` until `complete` finds a whole header block in what was
/// read; returns its length and how many bytes were read.
fn read_header_block(
    end: &mut End,
    buf: &mut [u8],
    mut complete: impl FnMut(&[u8]) -> Option<usize>,
) -> (usize, usize) {
    let mut filled = 0;
    loop {
        let n = embedded_io::Read::read(end, &mut buf[filled..]).unwrap();
        assert!(n > 0, "the peer ended during the handshake");
        filled += n;
        if let Some(len) = complete(&buf[..filled]) {
            return (len, filled);
        }
    }
}

/// §4.1 / §4.2.2: frames that arrive in the same read as the other side's
/// header block are the connection's first frames, on both sides.
#[test]
fn frames_in_the_same_read_as_the_handshake_are_kept() {
    use embedded_io::Write as _;
    use wsock::handshake::EMPTY_HEADER;
    use wsock::handshake::client::ClientHandshake;
    use wsock::handshake::server::Request;

    // A client: the server's 101 and a text frame come in one write, so in
    // one read.
    let (client_end, mut server_end) = duplex();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let mut headers = [EMPTY_HEADER; 16];
        let (len, _) = read_header_block(&mut server_end, &mut buf, |b| {
            Request::parse(b, &mut [EMPTY_HEADER; 16], 512)
                .unwrap()
                .map(|r| r.len)
        });
        let request = Request::parse(&buf[..len], &mut headers, 512)
            .unwrap()
            .unwrap();
        let mut out = [0u8; 256];
        let n = request.accept(&Accept::default(), &mut out).unwrap();
        out[n..n + 4].copy_from_slice(b"\x81\x02hi");
        server_end.write_all(&out[..n + 4]).unwrap();
    });
    let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 300], [0u8; 64]);
    let (mut ws, _) = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(11),
        &mut input,
        &mut output,
    )
    .unwrap();
    server.join().unwrap();
    assert_eq!(ws.read(&mut message).unwrap(), Message::Text("hi"));

    // A server: the upgrade request and a masked text frame are all there
    // before it reads, so it reads them at once.
    let (mut client_end, server_end) = duplex();
    let handshake = ClientHandshake::new(request(), &mut TestRng(12));
    let mut out = [0u8; 512];
    let n = handshake.write_request(&mut out).unwrap();
    out[n..n + 8].copy_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    client_end.write_all(&out[..n + 8]).unwrap();
    let server = std::thread::spawn(move || {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 256], [0u8; 64]);
        let mut ws = blocking::accept(server_end, Config::new(), &mut input, &mut output, |_| {
            Ok(Accept::default())
        })?;
        let got = format!("{:?}", ws.read(&mut message)?);
        Ok::<_, Error<Infallible>>(got)
    });
    let mut buf = [0u8; 512];
    read_header_block(&mut client_end, &mut buf, |b| {
        handshake
            .receive(b, &mut [EMPTY_HEADER; 16])
            .unwrap()
            .map(|r| r.len)
    });
    drop(client_end);
    assert_eq!(
        server.join().unwrap().unwrap(),
        format!("{:?}", Message::Text("hi"))
    );
}

/// A transport that ends before the other side's header block is complete
/// ends the handshake with `TransportClosed`, on both sides.
#[test]
fn transport_ending_during_the_handshake_is_transport_closed() {
    // The server reads a little of the request and goes away.
    let (client_end, mut server_end) = duplex();
    let server = std::thread::spawn(move || {
        let _ = embedded_io::Read::read(&mut server_end, &mut [0u8; 16]).unwrap();
    });
    let (mut input, mut output) = ([0u8; 512], [0u8; 300]);
    let err = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(13),
        &mut input,
        &mut output,
    )
    .err();
    server.join().unwrap();
    assert_eq!(err, Some(Error::TransportClosed));

    // The client sends half a request and goes away.
    let (mut client_end, server_end) = duplex();
    embedded_io::Write::write_all(&mut client_end, b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    drop(client_end);
    let (mut input, mut output) = ([0u8; 512], [0u8; 256]);
    let err = blocking::accept(server_end, Config::new(), &mut input, &mut output, |_| {
        Ok(Accept::default())
    })
    .err();
    assert_eq!(err, Some(Error::TransportClosed));
}

// ---- async: both ends polled by hand on one thread ---------------------------------

/// A pipe whose reads are `Pending` while empty (the test polls in a loop).
#[derive(Clone, Default)]
struct AsyncEnd {
    rx: Rc<RefCell<VecDeque<u8>>>,
    tx: Rc<RefCell<VecDeque<u8>>>,
}

impl embedded_io_async::ErrorType for AsyncEnd {
    type Error = Infallible;
}

impl embedded_io_async::Read for AsyncEnd {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        std::future::poll_fn(|_| {
            let mut q = self.rx.borrow_mut();
            if q.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(q.len()).min(5);
            for b in &mut buf[..n] {
                *b = q.pop_front().unwrap();
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl embedded_io_async::Write for AsyncEnd {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.tx.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Polls two futures until both finish (a busy executor, fine for a test).
fn run_both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(&mut cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(&mut cx)
        {
            rb = Some(v);
        }
        if let (Some(_), Some(_)) = (&ra, &rb) {
            return (ra.unwrap(), rb.unwrap());
        }
    }
    panic!("the futures did not finish");
}

#[test]
fn async_client_and_server() {
    let a = AsyncEnd::default();
    let b = AsyncEnd {
        rx: a.tx.clone(),
        tx: a.rx.clone(),
    };
    let server = async move {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 256], [0u8; 2048]);
        let mut ws = asynch::accept(b, Config::new(), &mut input, &mut output, |_| {
            Ok(Accept::default())
        })
        .await?;
        let mut got = Vec::new();
        loop {
            match ws.read(&mut message).await {
                Ok(Message::Text(t)) => {
                    got.push(t.to_string());
                    ws.send(Outgoing::Text(t)).await?;
                }
                Ok(Message::Binary(bin)) => ws.send(Outgoing::Binary(bin)).await?,
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return Ok::<_, Error<Infallible>>(got),
                Err(e) => return Err(e),
            }
        }
    };
    let client = async move {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 200], [0u8; 2048]);
        let (mut ws, _) = asynch::client(
            a,
            &request(),
            Config::new(),
            TestRng(9),
            &mut input,
            &mut output,
        )
        .await?;
        ws.send(Outgoing::Text("async hello")).await?;
        let echo = ws.read(&mut message).await?;
        assert_eq!(echo, Message::Text("async hello"));
        let big = [0xA5u8; 1000]; // larger than the 200-byte output buffer: streamed
        ws.send(Outgoing::Binary(&big)).await?;
        assert_eq!(ws.read(&mut message).await?, Message::Binary(&big[..]));
        ws.send(Outgoing::Ping(b"p")).await?;
        assert!(matches!(ws.read(&mut message).await?, Message::Pong(p) if p == b"p"));
        ws.send(Outgoing::Close(Some((CloseCode(4000), "done"))))
            .await?;
        // The server replies; then it ends the transport, which this
        // in-memory pipe cannot show, so stop at the reply.
        let reply = match ws.read(&mut message).await? {
            Message::Close(Some(f)) => Some(f.code),
            _ => None,
        };
        Ok::<_, Error<Infallible>>(reply)
    };
    let (server_result, client_result) = run_both(server, client);
    assert_eq!(client_result.unwrap(), Some(CloseCode(4000)));
    assert_eq!(server_result.unwrap(), ["async hello"]);
}

/// §5.4 / §5.5: a ping between two fragments is reported, and the message
/// resumes in the same buffer — even with a code point split across the
/// fragments (no false 1007). Found by the on-chip tests.
#[test]
fn blocking_control_frame_inside_a_fragmented_message() {
    let (client_end, server_end) = duplex();
    let server = std::thread::spawn(move || {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 256], [0u8; 64]);
        let mut ws = blocking::accept(server_end, Config::new(), &mut input, &mut output, |_| {
            Ok(Accept::default())
        })?;
        let first = format!("{:?}", ws.read(&mut message)?);
        let second = format!("{:?}", ws.read(&mut message)?);
        Ok::<_, Error<Infallible>>((first, second))
    });
    let (mut input, mut output) = ([0u8; 512], [0u8; 300]);
    let (mut ws, _) = blocking::client(
        client_end,
        &request(),
        Config::new(),
        TestRng(10),
        &mut input,
        &mut output,
    )
    .unwrap();
    ws.send(Outgoing::Fragment {
        kind: DataKind::Text,
        payload: b"fr\xCE",
        last: false,
    })
    .unwrap();
    ws.send(Outgoing::Ping(b"mid")).unwrap();
    ws.send(Outgoing::Fragment {
        kind: DataKind::Text,
        payload: b"\xBAag",
        last: true,
    })
    .unwrap();
    let (first, second) = server.join().unwrap().unwrap();
    assert!(first.starts_with("Ping("), "{first}");
    assert_eq!(second, format!("{:?}", Message::Text("frκag")));
}

// ---- permessage-deflate: an embedded server inflates without an allocator -----

#[cfg(feature = "deflate")]
mod inflating {
    use super::*;
    use wsock::deflate::{CompressOptions, Deflater, Inflater, MessageInflater};
    use wsock::embedded::Inflate;
    use wsock::frame::RSV1;

    /// An embedded echo server that accepts permessage-deflate with a
    /// 512-byte window and echoes uncompressed; how its reading ended.
    fn inflating_echo_server(end: End, config: Config) -> Result<u32, Error<Infallible>> {
        let (mut input, mut output) = ([0u8; 512], [0u8; 256]);
        let mut window = [0u8; 512];
        let mut inflater = MessageInflater::new(Inflater::new(&mut window[..], false).unwrap());
        let mut message = vec![0u8; 64 * 1024];
        let inflate = Inflate::new(&mut inflater, false);
        let mut ws =
            blocking::accept_inflating(end, config, &mut input, &mut output, inflate, |_| {
                Ok(Accept::default())
            })?;
        let mut echoed = 0;
        loop {
            match ws.read(&mut message) {
                Ok(Message::Text(t)) => ws.send(Outgoing::Text(t))?,
                Ok(Message::Binary(b)) => ws.send(Outgoing::Binary(b))?,
                Ok(_) => continue,
                Err(Error::ConnectionClosed) => return Ok(echoed),
                Err(e) => return Err(e),
            }
            echoed += 1;
        }
    }

    /// The server's thread: how many messages it echoed, or its error.
    type Server = std::thread::JoinHandle<Result<u32, Error<Infallible>>>;

    /// A client (RSV1 its extension's, offering `extensions`) of a fresh
    /// [`inflating_echo_server`] with `config`.
    fn connect_inflating<'b>(
        config: Config,
        extensions: &'static [&'static str],
        input: &'b mut [u8],
        output: &'b mut [u8],
    ) -> (blocking::WebSocket<'b, End, TestRng>, Server) {
        let (client_end, server_end) = duplex();
        let server = std::thread::spawn(move || inflating_echo_server(server_end, config));
        let request = ClientRequest {
            extensions,
            ..request()
        };
        let rsv = Config::new().extension_rsv(RSV1);
        let (ws, _) =
            blocking::client(client_end, &request, rsv, TestRng(9), input, output).unwrap();
        (ws, server)
    }

    /// Sends `compressed` as one RSV1 message that the server refuses; the
    /// code of the close it answers with.
    fn send_compressed(
        ws: &mut blocking::WebSocket<'_, End, TestRng>,
        kind: DataKind,
        compressed: &[u8],
        buf: &mut [u8],
    ) -> CloseCode {
        ws.connection_mut().set_next_message_rsv(RSV1);
        let frame = Outgoing::Fragment {
            kind,
            payload: compressed,
            last: true,
        };
        ws.send(frame).unwrap();
        match ws.read(buf) {
            Ok(Message::Close(Some(frame))) => frame.code,
            other => panic!("{other:?}"),
        }
    }

    const OFFER: &[&str] = &["permessage-deflate; client_max_window_bits"];

    /// A client offering permessage-deflate whose messages a 9-bit
    /// compressor makes: the server asks for `client_max_window_bits=9`,
    /// inflates them, across messages (context takeover) and fragments, and
    /// answers uncompressed.
    #[test]
    fn an_embedded_server_inflates_compressed_messages() {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 4096], vec![0u8; 100_000]);
        let (mut ws, server) = connect_inflating(Config::new(), OFFER, &mut input, &mut output);
        let mut deflater = Deflater::new(CompressOptions::default(), 9, false);
        let texts: Vec<String> = (0..20)
            .map(|i| {
                format!("{{\"reading\":{i},\"sensor\":\"temperature\",\"unit\":\"°C\"}}")
                    .repeat(i + 1)
            })
            .collect();
        for text in &texts {
            let mut compressed = Vec::new();
            deflater.compress(text.as_bytes(), true, &mut compressed);
            ws.connection_mut().set_next_message_rsv(RSV1);
            // Two fragments: RSV1 on the first only.
            let (a, b) = compressed.split_at(compressed.len() / 2);
            ws.send(Outgoing::Fragment {
                kind: DataKind::Text,
                payload: a,
                last: false,
            })
            .unwrap();
            ws.send(Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b,
                last: true,
            })
            .unwrap();
            assert_eq!(ws.read(&mut message).unwrap(), Message::Text(text));
        }
        // An uncompressed message on the same connection passes too.
        ws.send(Outgoing::Text("plain")).unwrap();
        assert_eq!(ws.read(&mut message).unwrap(), Message::Text("plain"));
        ws.close(CloseCode::NORMAL, "").unwrap();
        drop(ws);
        assert_eq!(server.join().unwrap().unwrap(), 21);
    }

    /// A bomb stops at `max_message_size` (1009), having inflated at most
    /// that much into the reader's buffer.
    #[test]
    fn an_embedded_server_stops_a_bomb_at_its_limit() {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 65_536], vec![0u8; 1024]);
        let limit = Config::new().max_message_size(4096);
        let (mut ws, server) = connect_inflating(limit, OFFER, &mut input, &mut output);
        let mut bomb = Vec::new();
        Deflater::new(
            CompressOptions {
                level: 9,
                mem_level: 9,
            },
            9,
            false,
        )
        .compress(&vec![0u8; 4 << 20], true, &mut bomb);
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let close = send_compressed(&mut ws, DataKind::Binary, &bomb, &mut message);
        assert_eq!(close, CloseCode(1009));
        assert!(matches!(
            server.join().unwrap(),
            Err(Error::Protocol(ProtocolError::MessageTooLarge {
                max: 4096,
                ..
            }))
        ));
    }

    /// An inflater that owns its window and outlives the sessions that
    /// borrow it, as a firmware keeps one in a static: each session one
    /// after another gets it afresh (the handshake resets it), so a new
    /// client's compressor, starting from an empty window, is understood.
    /// (`Inflate::new` took only a `MessageInflater<&'b mut [u8]>` with the
    /// session's lifetime, and `&mut` is invariant: a long-lived inflater
    /// could then be lent to one session only, which did not compile.)
    #[test]
    fn one_long_lived_inflater_serves_sessions_one_after_another() {
        const SESSIONS: usize = 3;
        let inflater: &'static mut MessageInflater<[u8; 512]> = Box::leak(Box::new(
            MessageInflater::new(Inflater::new([0u8; 512], false).unwrap()),
        ));
        let (clients, servers): (Vec<End>, Vec<End>) = (0..SESSIONS).map(|_| duplex()).unzip();
        let server = std::thread::spawn(move || {
            let (mut input, mut output) = ([0u8; 512], [0u8; 256]);
            let mut message = vec![0u8; 4096];
            let mut echoed = Vec::new();
            for end in servers {
                let inflate = Inflate::new(&mut *inflater, false);
                let mut ws = blocking::accept_inflating(
                    end,
                    Config::new(),
                    &mut input,
                    &mut output,
                    inflate,
                    |_| Ok(Accept::default()),
                )?;
                let mut n = 0;
                loop {
                    match ws.read(&mut message) {
                        Ok(Message::Text(t)) => ws.send(Outgoing::Text(t))?,
                        Ok(_) => continue,
                        Err(Error::ConnectionClosed) => break,
                        Err(e) => return Err(e),
                    }
                    n += 1;
                }
                echoed.push(n);
            }
            Ok::<_, Error<Infallible>>(echoed)
        });
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 1024], vec![0u8; 4096]);
        for (i, end) in clients.into_iter().enumerate() {
            let request = ClientRequest {
                extensions: OFFER,
                ..request()
            };
            let rsv = Config::new().extension_rsv(RSV1);
            let (mut ws, _) =
                blocking::client(end, &request, rsv, TestRng(9), &mut input, &mut output).unwrap();
            // A fresh compressor per session; the second message refers
            // back into the first (context takeover).
            let mut deflater = Deflater::new(CompressOptions::default(), 9, false);
            let text = format!("session {i}: the same words again and again");
            for _ in 0..2 {
                let mut compressed = Vec::new();
                deflater.compress(text.as_bytes(), true, &mut compressed);
                ws.connection_mut().set_next_message_rsv(RSV1);
                ws.send(Outgoing::Fragment {
                    kind: DataKind::Text,
                    payload: &compressed,
                    last: true,
                })
                .unwrap();
                assert_eq!(ws.read(&mut message).unwrap(), Message::Text(text.as_str()));
            }
            ws.close(CloseCode::NORMAL, "").unwrap();
        }
        assert_eq!(server.join().unwrap().unwrap(), vec![2; SESSIONS]);
    }

    /// An offer without `client_max_window_bits` cannot be held to a
    /// 512-byte window: declined, and a compressed frame then fails (1002).
    #[test]
    fn an_offer_without_window_bits_is_declined() {
        let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 512], vec![0u8; 1024]);
        let (mut ws, server) = connect_inflating(
            Config::new(),
            &["permessage-deflate"],
            &mut input,
            &mut output,
        );
        ws.send(Outgoing::Text("plain")).unwrap();
        assert_eq!(ws.read(&mut message).unwrap(), Message::Text("plain"));
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let close = send_compressed(&mut ws, DataKind::Text, &hello, &mut message);
        assert_eq!(close, CloseCode(1002));
        assert!(matches!(
            server.join().unwrap(),
            Err(Error::Protocol(ProtocolError::ReservedBits(_)))
        ));
    }
}
