//! Cancel safety of the async embedded adapter: every operation's future is
//! dropped at random `.await` points over a transport that returns `Pending`
//! (and takes short reads and writes) at random, then the operation is
//! started again. No message may be lost, duplicated or corrupted, and the
//! closing handshake must still complete. Then futures dropped at chosen
//! points (a transport whose writes a test gates): the regressions fixed in
//! 7cadf18, and a held control frame.
#![cfg(feature = "embedded-io-async")]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wsock::embedded::{Error, Message, asynch};
use wsock::handshake::Url;
use wsock::handshake::client::ClientRequest;
use wsock::handshake::server::Accept;
use wsock::{CloseCode, Config, DataKind, Event, Outgoing, ProtocolError, State};

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

/// A deterministic xorshift, shared by everything random in one run.
#[derive(Clone)]
struct Dice(Rc<Cell<u64>>);

impl Dice {
    fn new(seed: u64) -> Self {
        Dice(Rc::new(Cell::new(seed | 1)))
    }
    fn below(&self, n: u64) -> u64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        x % n
    }
}

/// One direction of a pipe: its bytes, and whether the writer is gone.
type Lane = Rc<RefCell<(VecDeque<u8>, bool)>>;

/// One end of an in-memory pipe; dropping it ends the other end's input.
/// With `dice`, a read or write is `Pending` one time in three and moves a
/// random number of bytes. With `gate`, writes take at most that many bytes
/// in all (`Pending` once it is used up), until the test opens it further.
struct Pipe {
    rx: Lane,
    tx: Lane,
    dice: Option<Dice>,
    gate: Option<Gate>,
}

/// How many more bytes a gated pipe end may write.
type Gate = Rc<Cell<usize>>;

fn pipe(dice: &Dice) -> (Pipe, Pipe) {
    let (a, b): (Lane, Lane) = (Rc::default(), Rc::default());
    (
        Pipe {
            rx: Rc::clone(&a),
            tx: Rc::clone(&b),
            dice: Some(dice.clone()),
            gate: None,
        },
        Pipe {
            rx: b,
            tx: a,
            dice: Some(dice.clone()),
            gate: None,
        },
    )
}

/// A pipe without chaos whose first end's writes pass through `gate`
/// (open at first).
fn gated_pipe() -> (Pipe, Pipe, Gate) {
    let (a, b): (Lane, Lane) = (Rc::default(), Rc::default());
    let gate = Rc::new(Cell::new(usize::MAX));
    let gated = Pipe {
        rx: Rc::clone(&a),
        tx: Rc::clone(&b),
        dice: None,
        gate: Some(Rc::clone(&gate)),
    };
    let other = Pipe {
        rx: b,
        tx: a,
        dice: None,
        gate: None,
    };
    (gated, other, gate)
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.tx.borrow_mut().1 = true;
    }
}

impl Pipe {
    /// `Pending` at random; otherwise how many of `n` bytes to move.
    fn chaos(&self, n: usize) -> Option<usize> {
        match &self.dice {
            Some(d) if d.below(3) == 0 => None,
            Some(d) => Some(1 + d.below(n as u64) as usize),
            None => Some(n),
        }
    }
}

impl embedded_io_async::ErrorType for Pipe {
    type Error = Infallible;
}

impl embedded_io_async::Read for Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        std::future::poll_fn(|_| {
            let (available, ended) = {
                let lane = self.rx.borrow();
                (lane.0.len().min(buf.len()), lane.1)
            };
            if available == 0 {
                return if ended {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            }
            let Some(n) = self.chaos(available) else {
                return Poll::Pending;
            };
            let q = &mut self.rx.borrow_mut().0;
            for b in &mut buf[..n] {
                *b = q.pop_front().unwrap();
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl embedded_io_async::Write for Pipe {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        std::future::poll_fn(|_| {
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let Some(mut n) = self.chaos(buf.len()) else {
                return Poll::Pending;
            };
            if let Some(gate) = &self.gate {
                n = n.min(gate.get());
                if n == 0 {
                    return Poll::Pending;
                }
                gate.set(gate.get() - n);
            }
            self.tx.borrow_mut().0.extend(&buf[..n]);
            Poll::Ready(Ok(n))
        })
        .await
    }
    async fn flush(&mut self) -> Result<(), Infallible> {
        std::future::poll_fn(|_| match self.chaos(1) {
            None => Poll::Pending,
            Some(_) => Poll::Ready(Ok(())),
        })
        .await
    }
}

/// Polls `op` up to a random number of times (at least once), polling the
/// peer between polls; drops it if it has not finished. `None`: dropped.
fn poll_some<F: Future>(op: F, peer: &mut Pin<&mut impl Future>, dice: &Dice) -> Option<F::Output> {
    let mut op = pin!(op);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..=dice.below(4) {
        if let Poll::Ready(v) = op.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let _ = peer.as_mut().poll(&mut cx);
    }
    None
}

/// Runs `op` (made anew after every drop) until one run finishes; counts
/// the drops.
macro_rules! until_done {
    ($peer:expr, $dice:expr, $drops:expr, $op:expr) => {{
        let mut tries = 0;
        loop {
            if let Some(v) = poll_some($op, &mut $peer, &$dice) {
                break v;
            }
            $drops += 1;
            tries += 1;
            assert!(tries < 100_000, "{} never finishes", stringify!($op));
        }
    }};
}

/// What the echo server saw.
#[derive(Debug, Default)]
struct ServerLog {
    messages: Vec<(DataKind, Vec<u8>)>,
    pongs: Vec<Vec<u8>>,
    close: Option<u16>,
}

/// An echo server that pings before every echo; its futures are never dropped.
async fn echo_server(
    transport: Pipe,
    log: Rc<RefCell<ServerLog>>,
) -> Result<(), Error<Infallible>> {
    let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 4096], [0u8; 4096]);
    let mut ws = asynch::accept(transport, Config::new(), &mut input, &mut output, |_| {
        Ok(Accept::default())
    })
    .await?;
    loop {
        match ws.read(&mut message).await {
            Ok(Message::Text(t)) => {
                log.borrow_mut()
                    .messages
                    .push((DataKind::Text, t.as_bytes().to_vec()));
                let owned = t.to_string();
                ws.send(Outgoing::Ping(b"p")).await?;
                ws.send(Outgoing::Text(&owned)).await?;
            }
            Ok(Message::Binary(b)) => {
                log.borrow_mut()
                    .messages
                    .push((DataKind::Binary, b.to_vec()));
                let owned = b.to_vec();
                ws.send(Outgoing::Ping(b"p")).await?;
                ws.send(Outgoing::Binary(&owned)).await?;
            }
            Ok(Message::Close(frame)) => log.borrow_mut().close = frame.map(|f| f.code.0),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// The messages of one run: text with multi-byte characters and binary,
/// from empty to several times the client's output buffer.
fn script(dice: &Dice) -> Vec<(DataKind, Vec<u8>)> {
    (0..40)
        .map(|i| {
            let len = [0, 1, 5, 60, 130, 299, 700, 1500][dice.below(8) as usize];
            if i % 2 == 0 {
                let text: String = "añ€😀".chars().cycle().take(len / 2).collect();
                (DataKind::Text, text.into_bytes())
            } else {
                (
                    DataKind::Binary,
                    (0..len).map(|b| (b * 7 + i) as u8).collect(),
                )
            }
        })
        .collect()
}

fn one_run(seed: u64) -> usize {
    let dice = Dice::new(seed);
    let (client_end, server_end) = pipe(&dice);
    let log = Rc::new(RefCell::new(ServerLog::default()));
    let ended = Rc::new(RefCell::new(None));
    let server_ended = Rc::clone(&ended);
    let server_log = Rc::clone(&log);
    // Fused: once the server returns, polling it again does nothing.
    let mut server = pin!(async move {
        let result = echo_server(server_end, server_log).await;
        *server_ended.borrow_mut() = Some(result);
        std::future::pending::<()>().await
    });

    // The client under test: an output buffer smaller than many messages.
    let (mut input, mut output, mut message) = ([0u8; 256], [0u8; 300], [0u8; 2048]);
    let request = ClientRequest::new(Url::parse("ws://10.0.0.2/").unwrap());
    let rng = TestRng(seed);
    let mut drops = 0;
    let (mut ws, _) = {
        let connect = asynch::client(
            client_end,
            &request,
            Config::new(),
            rng,
            &mut input,
            &mut output,
        );
        let mut connect = pin!(connect);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = connect.as_mut().poll(&mut cx) {
                break v.expect("handshake");
            }
            let _ = server.as_mut().poll(&mut cx);
        }
    };

    let sent = script(&dice);
    let (mut echoes, mut pings) = (Vec::new(), 0);
    for (kind, payload) in &sent {
        let frame = match kind {
            DataKind::Text => Outgoing::Text(std::str::from_utf8(payload).unwrap()),
            DataKind::Binary => Outgoing::Binary(payload),
        };
        // `write` queues the frame whole, or (dropped) not at all: run it
        // again until it finishes; then `flush`, again until it finishes.
        until_done!(server, dice, drops, ws.write(frame)).expect("write");
        until_done!(server, dice, drops, ws.flush()).expect("flush");
        // Read until the echo: the server's ping comes first.
        loop {
            let got = until_done!(server, dice, drops, ws.read(&mut message)).expect("read");
            match got {
                Message::Ping(p) => {
                    assert_eq!(&p[..], b"p");
                    pings += 1;
                }
                Message::Text(t) => break echoes.push((DataKind::Text, t.as_bytes().to_vec())),
                Message::Binary(b) => break echoes.push((DataKind::Binary, b.to_vec())),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    until_done!(server, dice, drops, ws.close(CloseCode::NORMAL, "done")).expect("close");
    assert_eq!(ws.state(), State::Closed);
    drop(ws);
    // Let the server see the end.
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if ended.borrow().is_some() {
            break;
        }
        let _ = server.as_mut().poll(&mut cx);
    }
    let result = ended.borrow_mut().take();
    assert_eq!(result, Some(Ok(())), "how the server ended (seed {seed})");

    let log = log.borrow();
    assert_same(&log.messages, &sent, "what the server received", seed);
    assert_same(&echoes, &sent, "what the client received back", seed);
    assert_eq!(pings, sent.len(), "every ping once (seed {seed})");
    assert_eq!(log.close, Some(1000));
    drops
}

/// Compares message lists, naming the first difference (not printing them).
fn assert_same(got: &[(DataKind, Vec<u8>)], want: &[(DataKind, Vec<u8>)], what: &str, seed: u64) {
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got.len() == want.len() && first.is_none(),
        "{what} (seed {seed}): {} messages for {}, first difference at {first:?}",
        got.len(),
        want.len()
    );
}

#[test]
fn futures_dropped_at_random_await_points_lose_nothing() {
    let mut drops = 0;
    for seed in 1..=40 {
        drops += one_run(seed * 0x9e37_79b9);
    }
    // The test is only worth something if futures were really dropped.
    assert!(drops > 1000, "only {drops} futures were dropped");
}

// ---- a dropped future, at a chosen point -----------------------------------------

/// How a server ended, once it has.
type Ended = Rc<RefCell<Option<Result<(), Error<Infallible>>>>>;

/// Polls `op` and `peer` in turn until `op` finishes.
fn drive<F: Future>(op: F, peer: &mut Pin<&mut impl Future>) -> F::Output {
    drive_for(op, peer, 100_000).expect("the operation never finishes")
}

/// Polls `op` and `peer` in turn, `rounds` times at most; `None` (and `op`
/// dropped) if it did not finish.
fn drive_for<F: Future>(
    op: F,
    peer: &mut Pin<&mut impl Future>,
    rounds: usize,
) -> Option<F::Output> {
    let mut op = pin!(op);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..rounds {
        if let Poll::Ready(v) = op.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let _ = peer.as_mut().poll(&mut cx);
    }
    None
}

/// Polls `server` until it reports how it ended.
fn how_it_ended(
    server: &mut Pin<&mut impl Future>,
    ended: &Ended,
) -> Result<(), Error<Infallible>> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Some(result) = ended.borrow_mut().take() {
            return result;
        }
        let _ = server.as_mut().poll(&mut cx);
    }
    panic!("the server never ends");
}

/// `run`, reporting into `ended`, then pending forever (it is polled on),
/// with the server and its end of the pipe dropped.
async fn reporting(run: impl Future<Output = Result<(), Error<Infallible>>>, ended: Ended) {
    let result = run.await;
    *ended.borrow_mut() = Some(result);
    std::future::pending::<()>().await
}

/// A server that writes `first`, then reads until the connection is
/// closed, logging what it receives; its futures are never dropped.
async fn listening_server(
    transport: Pipe,
    first: &'static [Outgoing<'static>],
    log: Rc<RefCell<ServerLog>>,
) -> Result<(), Error<Infallible>> {
    let (mut input, mut output, mut message) = ([0u8; 512], [0u8; 512], [0u8; 8192]);
    let mut ws = asynch::accept(transport, Config::new(), &mut input, &mut output, |_| {
        Ok(Accept::default())
    })
    .await?;
    for frame in first {
        ws.write(*frame).await?;
    }
    ws.flush().await?;
    loop {
        let got = ws.read(&mut message).await;
        let mut log = log.borrow_mut();
        match got {
            Ok(Message::Binary(b)) => log.messages.push((DataKind::Binary, b.to_vec())),
            Ok(Message::Pong(p)) => log.pongs.push(p.to_vec()),
            Ok(Message::Close(frame)) => log.close = frame.map(|f| f.code.0),
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// A client over `transport` with a 300-byte output buffer, connected.
fn connect<'b>(
    transport: Pipe,
    buffers: &'b mut ([u8; 512], [u8; 300]),
    server: &mut Pin<&mut impl Future>,
) -> asynch::WebSocket<'b, Pipe, TestRng> {
    let request = ClientRequest::new(Url::parse("ws://10.0.0.2/").unwrap());
    let (input, output) = buffers;
    let connect = asynch::client(
        transport,
        &request,
        Config::new(),
        TestRng(1),
        input,
        output,
    );
    drive(connect, server).expect("handshake").0
}

/// Regression (fixed in 7cadf18): a message larger than the output buffer
/// was streamed as one frame, and a `send` dropped between its pieces left
/// that frame half-written, so nothing could be sent again: `close` failed
/// with `FrameInProgress`, and the close frame for a failure never went
/// out. Now the message goes out as fragments, each a whole frame: after
/// the drop, `close` (first run) and the close for a failure (second run:
/// a message too large for the read buffer, 1009) go out, and the closing
/// handshake completes.
#[test]
fn cancelled_streaming_send_still_closes() {
    for failure in [false, true] {
        let (client_end, server_end, gate) = gated_pipe();
        let (log, ended) = (Rc::default(), Ended::default());
        let first: &[Outgoing<'static>] = if failure {
            &[Outgoing::Binary(&[1; 200])]
        } else {
            &[]
        };
        let run = listening_server(server_end, first, Rc::clone(&log));
        let mut server = pin!(reporting(run, Rc::clone(&ended)));
        let mut buffers = ([0u8; 512], [0u8; 300]);
        let mut ws = connect(client_end, &mut buffers, &mut server);

        // 5000 bytes through a 300-byte output buffer: the transport takes
        // 700 bytes, then nothing, and the send is dropped half-way.
        gate.set(700);
        let payload = [7u8; 5000];
        let send = ws.send(Outgoing::Binary(&payload));
        assert!(
            drive_for(send, &mut server, 50).is_none(),
            "the send finished"
        );
        assert_eq!(gate.get(), 0, "the send had not started writing");
        gate.set(usize::MAX);

        if failure {
            let mut small = [0u8; 64];
            match drive(ws.read(&mut small), &mut server) {
                Err(Error::Protocol(ProtocolError::MessageTooLarge { .. })) => {}
                other => panic!("expected a 1009 failure, got {other:?}"),
            }
        } else {
            drive(ws.close(CloseCode::NORMAL, "bye"), &mut server).expect("close");
            assert_eq!(ws.state(), State::Closed);
        }
        drop(ws);
        assert_eq!(
            how_it_ended(&mut server, &ended),
            Ok(()),
            "how the server ended"
        );
        let log = log.borrow();
        assert_eq!(log.close, Some(if failure { 1009 } else { 1000 }));
        assert!(log.messages.is_empty(), "the dropped message arrived whole");
    }
}

/// Regression (fixed in 7cadf18): `read` took the peer's close, queued the
/// reply and awaited writing it; dropped at that await, it lost the close
/// (the reply went out with the next call, but that call reported the end
/// of the connection instead of the peer's close frame). Now the close is
/// held until a `read` returns it: the next `read` writes the reply and
/// returns the close, and the closing handshake completes.
#[test]
fn dropped_flush_after_close_event_keeps_the_close() {
    let (client_end, server_end, gate) = gated_pipe();
    let ended = Ended::default();
    let run = async move {
        let (mut input, mut output) = ([0u8; 512], [0u8; 512]);
        let mut ws = asynch::accept(server_end, Config::new(), &mut input, &mut output, |_| {
            Ok(Accept::default())
        })
        .await?;
        ws.close(CloseCode::NORMAL, "bye").await
    };
    let mut server = pin!(reporting(run, Rc::clone(&ended)));
    let mut buffers = ([0u8; 512], [0u8; 300]);
    let mut ws = connect(client_end, &mut buffers, &mut server);
    let mut message = [0u8; 512];

    // The transport takes nothing: `read` gets the server's close, queues
    // the reply, waits to write it, and is dropped there.
    gate.set(0);
    assert!(drive_for(ws.read(&mut message), &mut server, 50).is_none());
    assert_eq!(ws.state(), State::Closed, "the close had not arrived");
    assert!(
        ended.borrow().is_none(),
        "the reply went through a closed gate"
    );

    gate.set(usize::MAX);
    match drive(ws.read(&mut message), &mut server) {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, CloseCode::NORMAL);
            assert_eq!(frame.reason, "bye");
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
    assert_eq!(
        how_it_ended(&mut server, &ended),
        Ok(()),
        "the server's closing handshake"
    );
    // The server is gone, and its end of the pipe with it: the normal end.
    match drive(ws.read(&mut message), &mut server) {
        Err(Error::ConnectionClosed) => {}
        other => panic!("expected the end, got {other:?}"),
    }
}

/// A control frame that a dropped `read` took (its reply was waiting to be
/// written) comes first from the next call, even a `read_event_with`, and
/// with its own payload, not that of the control frame behind it.
#[test]
fn held_control_frame_comes_first_from_read_event_with() {
    let (client_end, server_end, gate) = gated_pipe();
    let (log, ended) = (Rc::<RefCell<ServerLog>>::default(), Ended::default());
    let first = &[Outgoing::Ping(b"first"), Outgoing::Pong(b"second")];
    let run = listening_server(server_end, first, Rc::clone(&log));
    let mut server = pin!(reporting(run, Rc::clone(&ended)));
    let mut buffers = ([0u8; 512], [0u8; 300]);
    let mut ws = connect(client_end, &mut buffers, &mut server);

    // `read` takes the ping and is dropped while its pong waits.
    gate.set(0);
    let mut message = [0u8; 512];
    assert!(drive_for(ws.read(&mut message), &mut server, 50).is_none());
    gate.set(usize::MAX);
    let describe = |event: Event<'_>| match event {
        Event::Ping(p) => format!("ping {}", String::from_utf8_lossy(&p)),
        Event::Pong(p) => format!("pong {}", String::from_utf8_lossy(&p)),
        other => format!("{other:?}"),
    };
    let first = drive(ws.read_event_with(describe), &mut server).expect("first event");
    let second = drive(ws.read_event_with(describe), &mut server).expect("second event");
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("ping first", "pong second")
    );
    drive(ws.close(CloseCode::NORMAL, ""), &mut server).expect("close");
    drop(ws);
    assert_eq!(how_it_ended(&mut server, &ended), Ok(()));
    assert_eq!(log.borrow().pongs, [b"first".to_vec()]);
    assert_eq!(log.borrow().close, Some(1000));
}
