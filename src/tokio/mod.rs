//! An async WebSocket for tokio (feature `tokio`), over any
//! `AsyncRead + AsyncWrite + Unpin` stream.
//!
//! The same thin layer as the [blocking adapter](crate::blocking), with
//! `.await` where that one blocks: a [`Driver`](crate::driver::Driver)
//! holds the connection, a read buffer and a write queue, and one poll loop
//! moves bytes between them and the stream. Messages,
//! options and errors are the blocking adapter's types.
//!
//! ```no_run
//! use wsock::tokio::{connect, Message};
//! use wsock::CloseCode;
//!
//! # async fn run() -> Result<(), wsock::tokio::Error> {
//! let mut ws = connect("ws://127.0.0.1:9001/chat").await?;
//! ws.send(Message::Text("Hello, WebSocket!".into())).await?;
//! if let Message::Text(text) = ws.read().await? {
//!     println!("{text}");
//! }
//! ws.close(CloseCode::NORMAL, "bye").await?;
//! # Ok(()) }
//! ```
//!
//! [`WebSocket`] is also a [`Stream`] of messages and a [`Sink`] for them,
//! for `futures`' combinators. [`WebSocket::split`] gives a [`ReadHalf`] and
//! a [`WriteHalf`] for two tasks; the read half writes the pongs and close
//! replies it owes itself, through the send path both halves share behind a
//! short lock that is never held across an `.await`.
//!
//! With the `tls` feature, [`connect`] speaks `wss://` through tokio-rustls
//! and `accept_tls` accepts it.
//!
//! [`upgrade`] (feature `http`) takes over a request that an HTTP server
//! built on hyper (axum, say) has read, and gives a `WebSocket` over the
//! upgraded connection.
//!
//! ## Cancel safety
//!
//! Every future of this module can be dropped at any `.await` (in a
//! `select!`, by a timeout) without losing, duplicating or corrupting
//! anything: all progress is kept in the `WebSocket`, never in the future,
//! so the next call goes on from where the dropped one stopped.
//!
//! | method | if the future is dropped before it completes |
//! |---|---|
//! | [`read`](WebSocket::read), `next()` ([`Stream`]), [`read_event_with`](WebSocket::read_event_with) | no message or event was consumed; a message read in part stays buffered for the next call |
//! | [`feed`](WebSocket::feed), `poll_ready` ([`Sink`]) | the message was not taken (it is taken in the poll that completes) |
//! | [`send`](WebSocket::send) | the message is either not taken (dropped while waiting for room in the queue) or queued whole, and goes out with the next `flush`, `send`, `read` or `close` |
//! | [`flush`](WebSocket::flush) | what was not written stays queued, in order |
//! | [`close`](WebSocket::close) | our close frame is queued (once); calling `close` again goes on, within the same deadline |
//!
//! ## Keepalive
//!
//! With [`Options::keepalive`], a ping goes out every interval while a read
//! waits, and a ping unanswered within the timeout fails the connection
//! (close code 1011, the transport ended, a `TimedOut` I/O error); see
//! [`Keepalive`].
//!
//! ## Backpressure
//!
//! [`send`](WebSocket::send) and [`feed`](WebSocket::feed) wait while
//! [`Options::write_high_water`] bytes or more are queued, so a peer that
//! never reads holds a bounded amount of memory. Big messages are not
//! copied into the queue: a server writes one of 16 KiB or more straight
//! from the message (vectored, behind its header), a client masks one of
//! 64 KiB or more into the queue 64 KiB at a time as it drains. On the
//! way in, a big frame's payload is read straight into the message being
//! assembled once 64 KiB or more of it are still to come.

mod client;
mod keepalive;
mod payload;
mod server;
mod spare;
mod split;
mod stream;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "http")]
pub mod upgrade;

#[cfg(feature = "deflate")]
pub use crate::blocking::DeflateOptions;
pub use crate::blocking::{
    Acceptance, Budget, CloseFrame, Error, Keepalive, Message, Options, Phase, Rejection,
    TcpKeepalive,
};
pub use client::{ClientBuilder, client, connect};
pub use server::{accept, accept_with, set_tcp_keepalive};
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use stream::MaybeTlsStream;
#[cfg(feature = "tls")]
pub use tls::{TlsStream, accept_tls};

use crate::blocking::Reassembly;
use crate::blocking::{
    KEEP_WRITE_CAPACITY, MaskRng, StdDriver, Step, ended, new_driver, next_message, whole_message,
};
use crate::close::CloseCode;
use crate::config::Role;
use crate::connection::{Connection, State};
use crate::driver::{Next, Reply};
use crate::error::ProtocolError;
use crate::event::{DataKind, Event, Outgoing};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::time::Sleep;
use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use futures_core::Stream;
use futures_sink::Sink;
use keepalive::{Due, Pinger};
use payload::Payload;
use std::boxed::Box;
use std::io;
use std::string::String;
use std::time::Duration;
use std::vec::Vec;

#[cfg(feature = "deflate")]
impl<S: AsyncRead + AsyncWrite + Unpin> crate::blocking::compression::Compressing for WebSocket<S> {
    fn can_start_message(&mut self) -> bool {
        let conn = self.io.driver.connection();
        self.io.streaming.is_none()
            && crate::blocking::compression::can_start_message(conn.sender(), conn.shared())
    }
    fn set_next_message_rsv(&mut self, rsv: u8) {
        self.io.driver.connection_mut().set_next_message_rsv(rsv);
    }
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        WebSocket::write_as_is(self, frame)
    }
}

/// A WebSocket over a tokio stream, after the opening handshake.
///
/// `Send` when the stream is, and `Unpin`.
#[derive(Debug)]
pub struct WebSocket<S> {
    io: Io<S>,
    assembler: Reassembly,
    /// A control message that was read and is returned once the reply it
    /// called for (pong, close reply) is written: kept here, not in the
    /// future, so a dropped `read` loses nothing.
    control: Option<Message>,
    close_timeout: Option<Duration>,
    /// The closing handshake's deadline, set when it begins (whichever side
    /// began it): it bounds the whole phase.
    close_deadline: Option<Pin<Box<Sleep>>>,
    write_high_water: usize,
    /// Keepalive pings, if [`Options::keepalive`] asks for them.
    pinger: Option<Pinger>,
    subprotocol: Option<String>,
    /// The [`Stream`] has ended.
    ended: bool,
    /// Compresses what is sent, when permessage-deflate was agreed.
    #[cfg(feature = "deflate")]
    deflater: Option<Box<crate::blocking::compression::MessageDeflater>>,
}

/// The stream and the driver: the adapter's I/O.
#[derive(Debug)]
struct Io<S> {
    stream: S,
    driver: StdDriver,
    /// A big data frame whose header is queued and whose payload is
    /// encoded into the queue piece by piece as it drains.
    streaming: Option<Streaming>,
    /// How much the next read asks for; the read buffer exists only while
    /// a read is under way.
    read_size: ReadSize,
}

#[derive(Debug)]
struct Streaming {
    payload: Vec<u8>,
    /// Payload bytes queued (or, `direct`, written) so far.
    taken: usize,
    /// The payload goes to the stream as it is, behind the queue, in
    /// vectored writes (a server's frames are not masked): no copy.
    direct: bool,
}

impl Streaming {
    /// A data message of `least` bytes or more, taken apart to be streamed
    /// as one frame: its kind and payload. Any other message comes back.
    fn of(message: Message, least: usize) -> Result<(DataKind, Streaming), Message> {
        let (kind, payload) = match message {
            Message::Text(t) if t.len() >= least => (DataKind::Text, t.into_bytes()),
            Message::Binary(b) if b.len() >= least => (DataKind::Binary, b),
            other => return Err(other),
        };
        let streaming = Streaming {
            payload,
            taken: 0,
            direct: false,
        };
        Ok((kind, streaming))
    }
}

/// A server's data messages of this size or more are written straight
/// from the message (vectored, behind the queued header), not copied into
/// the queue: above it the copy costs more than a write of its own.
const DIRECT_WRITE: usize = 16 * 1024;

/// A write queue larger than this is released once it is written (and any
/// queue while the connection is idle), so a connection holds no big
/// buffer between messages.
const KEEP_IDLE_QUEUE: usize = 4096;

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    /// Runs one driver operation to its end: the adapter's only I/O loop.
    /// Returns `Pending` when the stream does; all progress is in the
    /// driver, so polling again goes on.
    fn poll_run<U>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut StdDriver) -> Next<Result<U, Error>>,
    ) -> Poll<Result<U, Error>> {
        loop {
            // The driver does not see the unqueued rest of a big message
            // going out: like everything queued, it is written first.
            let next = match self.streaming {
                Some(_) => Next::Write,
                None => op(&mut self.driver),
            };
            match next {
                Next::Ready(result) => return Poll::Ready(result),
                Next::Read => {
                    // Replies to what is read are queued into a spare buffer.
                    let output = self.driver.output_buffer_mut();
                    if output.capacity() == 0 {
                        *output = spare::take_room();
                    }
                    let Some(input) = self.driver.input_buffer_mut() else {
                        continue; // not asked while input waits; decode it
                    };
                    let read = poll_read_lazily(&mut self.stream, cx, input, &mut self.read_size);
                    match read {
                        Poll::Ready(Ok(n)) => self.driver.input_filled(n),
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(self.io_error(cx, e))),
                        Poll::Pending => {
                            // Idle: nothing to read, nothing to write.
                            if !self.driver.has_pending_output() && self.streaming.is_none() {
                                spare::give(self.driver.output_buffer_mut());
                            }
                            return Poll::Pending;
                        }
                    }
                }
                Next::Write => match self.poll_write_out(cx) {
                    Poll::Ready(written) => written?,
                    Poll::Pending => {
                        // A peer slow to read: hold no read buffer meanwhile.
                        if let Some(input) = self.driver.input_buffer_mut() {
                            spare::give(input);
                        }
                        return Poll::Pending;
                    }
                },
                Next::Shutdown => ready!(self.poll_shut_down(cx)),
            }
        }
    }

    /// Writes the queue until it is empty (and the streamed frame, if one
    /// is going out, to its end), then flushes the stream.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.streaming.as_ref().is_some_and(|s| s.direct) {
                ready!(self.poll_write_direct(cx))?;
            }
            while self.driver.has_pending_output() {
                let written =
                    ready!(Pin::new(&mut self.stream).poll_write(cx, self.driver.pending_output()));
                match written {
                    Ok(0) => {
                        let e = io::ErrorKind::WriteZero.into();
                        return Poll::Ready(Err(self.io_error(cx, e)));
                    }
                    Ok(n) => self.driver.output_written(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(self.io_error(cx, e))),
                }
            }
            if !self.queue_next_piece()? {
                break;
            }
        }
        // A TLS stream holds records until it is flushed.
        match ready!(Pin::new(&mut self.stream).poll_flush(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(self.io_error(cx, e))),
        }
    }

    /// Writes the queue and behind it a `direct` streamed frame's payload,
    /// in vectored writes, until the payload is all out; the connection
    /// counts each piece once it is written.
    fn poll_write_direct(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while let Some(streaming) = &mut self.streaming {
            let rest = &streaming.payload[streaming.taken..];
            if rest.is_empty() {
                self.streaming = None;
                break;
            }
            let pending = self.driver.pending_output();
            let slices = [io::IoSlice::new(pending), io::IoSlice::new(rest)];
            let from_queue = pending.len();
            let written = match ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, &slices))
            {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other,
            };
            let n = match written {
                Ok(n) => n,
                Err(e) => return Poll::Ready(Err(self.io_error(cx, e))),
            };
            let from_queue = n.min(from_queue);
            self.driver.output_written(from_queue);
            if n > from_queue {
                let piece = &streaming.payload[streaming.taken..streaming.taken + (n - from_queue)];
                streaming.taken += self.driver.pass_payload(piece).map_err(Error::Send)?;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues the next piece of the streamed frame, if one is going out;
    /// false if there is none.
    fn queue_next_piece(&mut self) -> Result<bool, Error> {
        let Some(streaming) = &mut self.streaming else {
            return Ok(false);
        };
        if streaming.direct {
            return Ok(false);
        }
        let buffer = self.driver.output_buffer_mut();
        if buffer.len() < KEEP_WRITE_CAPACITY {
            buffer.resize(KEEP_WRITE_CAPACITY, 0);
        }
        let n = self
            .driver
            .queue_payload(&streaming.payload[streaming.taken..])
            .map_err(Error::Send)?;
        streaming.taken += n;
        if streaming.taken == streaming.payload.len() {
            self.streaming = None;
        }
        Ok(true)
    }

    /// Ends the transport (our side of TCP: a FIN; over TLS a close_notify
    /// first). Its errors are moot: the connection is over.
    fn poll_shut_down(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.driver.is_shut_down() {
            let _ = ready!(Pin::new(&mut self.stream).poll_shutdown(cx));
            self.driver.shut_down();
        }
        Poll::Ready(())
    }

    /// The error to report for an I/O error (as the blocking adapter's):
    /// the protocol error whose close frame could not be written (the
    /// transport is then ended), or the I/O error itself.
    fn io_error(&mut self, cx: &mut Context<'_>, error: io::Error) -> Error {
        match self.driver.connection().failure() {
            Some(e) if e != ProtocolError::UnexpectedEof => {
                // One try: a stream that cannot even write has no FIN to send.
                let _ = self.poll_shut_down(cx);
                self.driver.shut_down();
                Error::Protocol(e)
            }
            _ if crate::blocking::resumable(&error) => Error::Io(error),
            _ => self.peer_close_or(cx, error),
        }
    }

    /// The error for a transport that broke: the peer's close if it is
    /// among the bytes received (what the transport already has is read,
    /// and kept for later reads), so that a client still sending when the
    /// server closed learns why; else `error`.
    fn peer_close_or(&mut self, cx: &mut Context<'_>, error: io::Error) -> Error {
        if let Some(input) = self.driver.input_buffer_mut()
            && let Poll::Ready(Ok(n)) =
                poll_read_lazily(&mut self.stream, cx, input, &mut self.read_size)
            && n > 0
        {
            self.driver.input_filled(n);
        }
        match self.driver.peer_close() {
            Some(code) => Error::PeerClosed(code),
            None => Error::from(error),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a stream on which the opening handshake already happened (for
    /// custom handshakes, e.g. an HTTP server's upgrade); `leftover` holds
    /// bytes read past the handshake.
    pub fn from_upgraded(
        stream: S,
        role: Role,
        options: Options,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        Ok(WebSocket {
            io: Io {
                stream,
                // The read buffer is allocated by the first read.
                driver: new_driver(role, &options, leftover, 0)?,
                streaming: None,
                read_size: ReadSize::new(options.read_buffer_size),
            },
            assembler: Reassembly::new(),
            control: None,
            close_timeout: options.close_timeout,
            close_deadline: None,
            write_high_water: options.write_high_water,
            pinger: options.keepalive.map(Pinger::new),
            subprotocol: None,
            ended: false,
            #[cfg(feature = "deflate")]
            deflater: None,
        })
    }

    /// Turns on permessage-deflate as the opening handshake agreed it
    /// (`accept`, `connect` and the hyper upgrade do this themselves; call
    /// it after [`from_upgraded`](WebSocket::from_upgraded) for a handshake
    /// of your own): compressed messages are inflated by
    /// [`read`](WebSocket::read) and the `Stream`, and whole messages sent
    /// are compressed with `options`.
    #[cfg(feature = "deflate")]
    pub fn set_deflate(
        &mut self,
        agreed: &crate::handshake::deflate::Agreed,
        options: &crate::blocking::DeflateOptions,
    ) {
        let conn = self.io.driver.connection_mut();
        let assembler = &mut self.assembler;
        let deflater = crate::blocking::compression::enable(conn, assembler, agreed, options);
        self.deflater = Some(deflater);
    }

    /// Reads the next message: a whole text or binary message, or a control
    /// frame. Pings are answered and a peer's close is replied to before this
    /// returns. After the closing handshake it returns
    /// [`Error::ConnectionClosed`]. Once the closing handshake has begun it
    /// is bounded by [`Options::close_timeout`] (then the transport is ended
    /// and the error is a timeout).
    ///
    /// Cancel-safe: a dropped `read` consumed no message.
    pub async fn read(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| self.poll_read(cx)).await
    }

    /// [`read`](WebSocket::read) as a poll function.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        if self.io.streaming.is_none() {
            // The message returned last is the caller's now (or, fed back,
            // written out).
            self.assembler.buffer_mut().release_lent();
        }
        loop {
            if let Some(message) = self.control.take() {
                // Send the pong or the close reply now, not at the next call
                // (and, as a server after the close reply, end the transport).
                match self.poll_flush_queue(cx) {
                    Poll::Pending => {
                        self.control = Some(message);
                        return self.poll_pending(cx);
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => return Poll::Ready(Ok(message)),
                }
            }
            // A big message's payload: straight into the message (not a
            // compressed one's: it goes through the inflater).
            let direct = !self.assembler.is_inflating();
            match self
                .io
                .poll_read_payload(cx, self.assembler.buffer_mut(), direct)
            {
                Poll::Pending => return self.poll_pending(cx),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(Payload::Added(Some(kind)))) => {
                    return Poll::Ready(whole_message(&mut self.assembler, kind));
                }
                Poll::Ready(Ok(Payload::Added(None))) => continue,
                Poll::Ready(Ok(Payload::NotNow | Payload::Ended)) => {}
            }
            let assembler = &mut self.assembler;
            let step = self
                .io
                .poll_run(cx, |driver| next_message(driver, assembler));
            match step {
                Poll::Pending => return self.poll_pending(cx),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(Step::Whole(kind))) => {
                    return Poll::Ready(whole_message(&mut self.assembler, kind));
                }
                Poll::Ready(Ok(Step::Control(message))) => self.control = Some(message),
                Poll::Ready(Ok(Step::Continue | Step::Fail(_))) => {
                    unreachable!("handled in the loop")
                }
            }
        }
    }

    /// What a read does when the stream has nothing: `Pending`, after the
    /// keepalive has had its turn, unless a deadline has passed: the
    /// closing handshake's, or a keepalive ping's (then the transport is
    /// ended and the error is a timeout).
    fn poll_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        if self.state() == State::Open {
            let Some(pinger) = &mut self.pinger else {
                return Poll::Pending;
            };
            let pongs = self.io.driver.connection().pongs_received();
            match pinger.poll(cx, pongs, self.io.streaming.is_none()) {
                Poll::Pending => {}
                Poll::Ready(Due::Ping) => {
                    // Queued now; the read, polled again at once, writes it.
                    let _ = self.io.driver.queue(keepalive::PING);
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Due::Unanswered) => {
                    let error = pinger.error();
                    if self.io.streaming.is_none() {
                        let _ = self.io.driver.queue(keepalive::CLOSE);
                    }
                    // One try to write the close: the peer gets no more time.
                    let _ = self.io.poll_write_out(cx);
                    let _ = self.io.poll_shut_down(cx);
                    self.io.driver.shut_down();
                    return Poll::Ready(Err(Error::from(error)));
                }
            }
            return Poll::Pending;
        }
        match self.poll_close_deadline(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Pending,
        }
    }

    /// Starts the closing handshake's deadline (once), and when it has
    /// passed ends the transport and fails with a timeout.
    /// A linger after a failure is bounded by it too; when it passes, the
    /// failure is reported.
    fn poll_close_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let driver = &mut self.io.driver;
        let lingering = driver.is_lingering();
        if driver.is_shut_down() && driver.connection().state() == State::Closed && !lingering {
            return Poll::Ready(Ok(()));
        }
        match within_deadline(&mut self.close_deadline, self.close_timeout, cx) {
            Poll::Pending => Poll::Ready(Ok(())),
            Poll::Ready(_) if lingering => {
                driver.stop_lingering();
                cx.waker().wake_by_ref();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(e) => {
                let _ = self.io.poll_shut_down(cx);
                self.io.driver.shut_down();
                Poll::Ready(Err(e))
            }
        }
    }

    /// Reads the next event and hands it to `f`, zero-copy: data arrives in
    /// chunks borrowed from the read buffer (a message of any size passes
    /// through it), control frames whole. Owed pongs and close replies are
    /// sent before the next read.
    ///
    /// Cancel-safe: `f` runs in the poll that completes, so a dropped
    /// future consumed no event.
    pub async fn read_event_with<T>(
        &mut self,
        mut f: impl FnMut(Event<'_>) -> T,
    ) -> Result<T, Error> {
        poll_fn(|cx| {
            let read = self.io.poll_run(cx, |driver| {
                driver
                    .poll_event(|event, _| f(event))
                    .map_ready(|r| r.map_err(ended))
            });
            match read {
                Poll::Pending => self.poll_pending(cx),
                ready => ready,
            }
        })
        .await
    }

    /// Reads the next event and hands it to `f` with a [`Reply`] handle, so
    /// that a received chunk can be answered, echoed or forwarded while it is
    /// borrowed from the read buffer: the reply is queued (one copy) and
    /// written with the next flush — a read flushes before it waits, so a
    /// burst of echoes is one write.
    ///
    /// ```no_run
    /// # async fn echo(mut ws: wsock::tokio::WebSocket<tokio::net::TcpStream>) -> Result<(), wsock::tokio::Error> {
    /// use wsock::{Event, Outgoing};
    /// loop {
    ///     ws.read_event_and_reply(|event, mut reply| match event {
    ///         Event::Data(chunk) => reply.queue(Outgoing::Fragment {
    ///             kind: chunk.kind,
    ///             payload: chunk.payload,
    ///             last: chunk.last,
    ///         }),
    ///         _ => Ok(()),
    ///     })
    ///     .await??;
    /// }
    /// # }
    /// ```
    ///
    /// Cancel-safe, as [`read_event_with`](WebSocket::read_event_with).
    pub async fn read_event_and_reply<T>(
        &mut self,
        mut f: impl FnMut(Event<'_>, Reply<'_, MaskRng, Vec<u8>>) -> T,
    ) -> Result<T, Error> {
        poll_fn(|cx| {
            let read = self.io.poll_run(cx, |driver| {
                driver.poll_event(&mut f).map_ready(|r| r.map_err(ended))
            });
            match read {
                Poll::Pending => self.poll_pending(cx),
                ready => ready,
            }
        })
        .await
    }

    /// True when bytes already read from the stream wait to be decoded.
    pub fn has_buffered_input(&self) -> bool {
        self.io.driver.has_input()
    }

    /// Queues a frame (after any owed pong or close reply), without waiting:
    /// [`flush`](WebSocket::flush) writes the queue, and so does the next
    /// read before it waits. No backpressure: use [`feed`](WebSocket::feed)
    /// or [`send`](WebSocket::send) for that. The frame is copied into the
    /// queue whole.
    ///
    /// Errors: [`Error::Send`] means the frame was refused and nothing
    /// changed (e.g. while a big message from `send` is still going out:
    /// flush first); [`Error::PeerClosed`] that the peer's close has been
    /// received, so a data frame cannot go out.
    ///
    /// With permessage-deflate agreed, a whole text or binary message is
    /// compressed first; fragments go as they are.
    pub fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(mut deflater) = self.deflater.take() {
            let written = crate::blocking::compression::write(self, &mut deflater, frame);
            self.deflater = Some(deflater);
            return written;
        }
        self.write_as_is(frame)
    }

    /// [`write`](WebSocket::write) without compression.
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        if self.io.streaming.is_some() {
            return Err(Error::Send(crate::SendError::FrameInProgress));
        }
        if frame.as_data().is_some()
            && let Some(code) = self.io.driver.connection().shared().peer_close()
        {
            return Err(Error::PeerClosed(code));
        }
        self.io.driver.queue_owed();
        let driver = &mut self.io.driver;
        driver
            .queue(frame)
            .map_err(|e| crate::blocking::refused(driver, e))
    }

    /// Queues a message once the queue is below the high-water mark.
    ///
    /// Cancel-safe: the message is taken in the poll that completes, so a
    /// dropped `feed` did not take it.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_room(cx)).await?;
        self.queue_message(message)
    }

    /// Sends a message: [`feed`](WebSocket::feed), then
    /// [`flush`](WebSocket::flush).
    ///
    /// Cancel-safe in the sense of the [table](self#cancel-safety): a
    /// dropped `send` either did not take the message or queued it whole.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Writes everything queued (and the rest of a big message going out).
    ///
    /// Cancel-safe: what was not written stays queued, in order; after an
    /// error nothing is lost either: call it again.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_queue(cx)).await
    }

    /// Bytes queued and not yet written, with the unqueued rest of a big
    /// message going out (like a browser's `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        let streamed = self
            .io
            .streaming
            .as_ref()
            .map_or(0, |s| s.payload.len() - s.taken);
        self.io.driver.pending_output().len() + streamed
    }

    /// Runs the closing handshake (§7.1.2): sends a close frame with `code`
    /// and `reason` (unless one was sent), reads until the peer's close
    /// arrives (messages in between are dropped), then ends the transport —
    /// at once as a server, after the server ends it as a client. Bounded by
    /// [`Options::close_timeout`].
    ///
    /// Cancel-safe: the close frame is queued once; calling `close` again
    /// goes on within the same deadline.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        poll_fn(|cx| self.poll_close_with(cx, code, reason)).await
    }

    fn poll_close_with(
        &mut self,
        cx: &mut Context<'_>,
        code: CloseCode,
        reason: &str,
    ) -> Poll<Result<(), Error>> {
        if self.state() == State::Open {
            // A big message going out ends first: a close cannot go inside it.
            if self.io.streaming.is_some() {
                match self.poll_flush_queue(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {}
                }
            }
            self.write(Outgoing::Close(Some((code, reason))))?;
        }
        loop {
            match ready!(self.poll_read(cx)) {
                Ok(_) => continue,
                Err(Error::ConnectionClosed) => return Poll::Ready(Ok(())),
                Err(e) => {
                    let _ = self.io.poll_shut_down(cx);
                    self.io.driver.shut_down();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.io.driver.connection().state()
    }

    /// Makes [`read`](WebSocket::read) (and the [`Stream`]) assemble
    /// messages within `budget`, shared with the other connections given a
    /// clone of it (see [`Budget`] for what counts; a message fed back to
    /// this connection counts until it is written out); `None` for no
    /// budget (the default). A message that does not fit what is left
    /// fails the connection with 1013.
    pub fn set_budget(&mut self, budget: impl Into<Option<Budget>>) {
        self.assembler.buffer_mut().set_budget(budget.into());
    }

    /// The budget set with [`set_budget`](WebSocket::set_budget).
    pub fn budget(&self) -> Option<&Budget> {
        self.assembler.buffer().budget()
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The sans-IO connection underneath.
    pub fn connection(&self) -> &Connection<impl rand_core::Rng> {
        self.io.driver.connection()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io.stream
    }

    /// The stream, mutably. Reading or writing it directly corrupts the
    /// WebSocket stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io.stream
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> S {
        self.io.stream
    }

    /// Ready once the queue is below the high-water mark and no big message
    /// is going out (writing meanwhile).
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.io.streaming.is_some() || self.buffered_amount() >= self.write_high_water {
            ready!(self.poll_flush_queue(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes a message into the queue: small ones are copied in, big data
    /// messages are kept and streamed (see [`Io::queue_next_piece`]).
    fn queue_message(&mut self, message: Message) -> Result<(), Error> {
        if self.io.streaming.is_some() {
            return self.write(message.as_outgoing());
        }
        // Compressed, a message is a new buffer anyway: queued as one.
        #[cfg(feature = "deflate")]
        if self.deflater.is_some() {
            return self.write(message.as_outgoing());
        }
        if let Some(code) = self.io.driver.connection().shared().peer_close() {
            return Err(Error::PeerClosed(code));
        }
        let direct = self.io.driver.connection().role() == Role::Server;
        let least = if direct {
            DIRECT_WRITE
        } else {
            KEEP_WRITE_CAPACITY
        };
        let (kind, mut streaming) = match Streaming::of(message, least) {
            Ok(big) => big,
            Err(small) => return self.write(small.as_outgoing()),
        };
        let driver = &mut self.io.driver;
        streaming.direct = direct;
        driver.queue_owed();
        // Room for the header behind what is queued.
        let want = driver.queued_end() + 16;
        let buffer = driver.output_buffer_mut();
        if buffer.len() < want {
            buffer.resize(want, 0);
        }
        driver
            .queue_frame_start(kind, streaming.payload.len() as u64, true)
            .map_err(Error::Send)?;
        self.io.streaming = Some(streaming);
        Ok(())
    }

    /// Writes the queue and any big message going out to the end; closes
    /// the transport if the connection is done with it.
    fn poll_flush_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(
            self.io
                .poll_run(cx, |driver| driver.poll_flush().map_ready(Ok))
        )?;
        // A queue grown by a burst or a big message gives its memory back.
        if !self.io.driver.has_pending_output() && self.io.streaming.is_none() {
            let buffer = self.io.driver.output_buffer_mut();
            if buffer.len() > KEEP_IDLE_QUEUE {
                spare::give(buffer);
            }
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn set_subprotocol(&mut self, subprotocol: Option<String>) {
        self.subprotocol = subprotocol;
    }
}

/// Incoming messages, as [`WebSocket::read`] returns them; the stream ends
/// after the closing handshake, or after yielding an error.
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let read = ready!(this.poll_read(cx));
        Poll::Ready(stream_item(&mut this.ended, read))
    }
}

/// Messages out, with backpressure: `poll_ready` waits while the queue is at
/// the high-water mark; `poll_close` runs the closing handshake with code
/// 1000 (reading and dropping messages until the peer's close).
impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_room(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().queue_message(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_queue(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close_with(cx, CloseCode::NORMAL, "")
    }
}

/// What a `Stream` of messages yields for a read's result: the stream ends
/// after the closing handshake, or after yielding an error.
fn stream_item(ended: &mut bool, read: Result<Message, Error>) -> Option<Result<Message, Error>> {
    *ended = read.is_err();
    match read {
        Err(Error::ConnectionClosed) => None,
        other => Some(other),
    }
}

/// The closing handshake's deadline: started at the first call (it bounds
/// the whole phase), `Pending` until it passes (or with no timeout), then
/// the error to report.
fn within_deadline(
    deadline: &mut Option<Pin<Box<Sleep>>>,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<Error> {
    let Some(timeout) = timeout else {
        return Poll::Pending;
    };
    let sleep = deadline.get_or_insert_with(|| Box::pin(::tokio::time::sleep(timeout)));
    ready!(sleep.as_mut().poll(cx));
    Poll::Ready(Error::Timeout(Phase::Close))
}

/// Runs a handshake `phase`, failing with a timeout when it takes longer
/// than `limit` (however slowly its bytes trickle in).
async fn within<T>(
    limit: Option<Duration>,
    phase: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        None => phase.await,
        Some(limit) => match ::tokio::time::timeout(limit, phase).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(Phase::Handshake)),
        },
    }
}

/// Appends what the stream has (up to 2 KiB) to a handshake buffer. The
/// handshake parsers bound the buffer's growth with `max_header_bytes`.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(), Error> {
    use ::tokio::io::AsyncReadExt;
    let start = buf.len();
    buf.resize(start + 2048, 0);
    let read = stream.read(&mut buf[start..]).await;
    match read {
        Ok(0) => {
            buf.truncate(start);
            Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the opening handshake",
            )))
        }
        Ok(n) => {
            buf.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(Error::from(e))
        }
    }
}

/// The most a read asks for once reads keep filling the buffer.
const BULK_READ: usize = 64 * 1024;

/// How much a read asks for: [`Options::read_buffer_size`] at first,
/// doubling up to [`BULK_READ`] while reads fill the buffer, so that a big
/// message takes few system calls; back down only after a run of small
/// reads. (Halving at the first small read would make a stream of
/// messages a little bigger than the size take two reads each: the one
/// that fills the buffer, then the few bytes left.)
#[derive(Debug, Clone, Copy)]
struct ReadSize {
    least: usize,
    now: usize,
    /// Reads in a row that used less than an eighth of `now`.
    small: u8,
}

/// Small reads in a row after which the size halves.
const SMALL_READS: u8 = 16;

impl ReadSize {
    fn new(read_buffer_size: usize) -> Self {
        ReadSize {
            least: read_buffer_size,
            now: read_buffer_size,
            small: 0,
        }
    }

    fn after_read(&mut self, filled: usize) {
        if filled == self.now {
            self.now = (self.now * 2).min(BULK_READ.max(self.least));
            self.small = 0;
        } else if filled < self.now / 8 {
            self.small += 1;
            if self.small == SMALL_READS {
                self.now = (self.now / 2).max(self.least);
                self.small = 0;
            }
        } else {
            self.small = 0;
        }
    }
}

/// Reads from `stream` into `input`, which holds a buffer only while a
/// read is under way: when the stream has nothing to read, `input` goes
/// back to the thread's [spare buffers](spare), so an idle connection
/// holds no read buffer. `Ready(Ok(n))` with the count read (0 at the end
/// of the stream).
fn poll_read_lazily<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    input: &mut Vec<u8>,
    size: &mut ReadSize,
) -> Poll<io::Result<usize>> {
    if input.is_empty() {
        *input = spare::take(size.now);
    } else if input.len() < size.now {
        input.resize(size.now, 0);
    }
    // A longer buffer is read into only as far as the size asks.
    let mut buf = ReadBuf::new(&mut input[..size.now]);
    match Pin::new(stream).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => {
            let n = buf.filled().len();
            size.after_read(n);
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => {
            spare::give(input);
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads of a stream of 16 KiB messages (each a few bytes past 16 KiB
    /// with its header) settle to one read per message, and a run of small
    /// reads brings the size back down.
    #[test]
    fn read_size_settles_for_messages_just_over_a_power_of_two() {
        let mut size = ReadSize::new(8192);
        let message = 16_384 + 8;
        let mut reads_of_last_ten = 0;
        for i in 0..100 {
            let mut left = message;
            while left > 0 {
                let n = left.min(size.now);
                size.after_read(n);
                left -= n;
                if i >= 90 {
                    reads_of_last_ten += 1;
                }
            }
        }
        assert_eq!(reads_of_last_ten, 10);
        for _ in 0..4 * SMALL_READS {
            size.after_read(20);
        }
        assert_eq!(size.now, 8192, "back to the least after small reads");
        for _ in 0..10 {
            size.after_read(size.now);
        }
        assert_eq!(size.now, BULK_READ);
    }
}
