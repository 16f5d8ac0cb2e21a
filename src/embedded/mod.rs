//! WebSockets over the embedded ecosystem's I/O traits (features
//! `embedded-io` and `embedded-io-async`): a client and a server over any
//! transport implementing `Read + Write`, blocking ([`blocking`]) or async
//! ([`asynch`], usable from embassy).
//!
//! No allocator, no `std`, no hidden buffers: the caller lends an input
//! buffer and an output buffer for the connection's lifetime (they also
//! hold the handshake, so the input buffer bounds the header block), and a
//! message buffer to each `read`. Semantics are those of the std adapter:
//! the opening handshake, messages and frame-level events, automatic pongs,
//! the closing handshake, and limits that fail the connection with the right
//! close code. A message larger than the output buffer is sent as a
//! fragmented message whose frames fill it.
//!
//! Sizing: the input buffer must hold the peer's handshake (about 200–500
//! bytes for typical clients and servers); any size works for frames. The
//! output buffer must hold our handshake message and at least
//! 2 × [`MAX_CONTROL_FRAME_LEN`](crate::connection::MAX_CONTROL_FRAME_LEN)
//! bytes; 512 bytes is comfortable.

#[cfg(feature = "embedded-io-async")]
pub mod asynch;
pub mod blocking;
mod handshake;
#[cfg(feature = "inflate")]
mod inflate;

#[cfg(feature = "inflate")]
pub use inflate::Inflate;

use crate::close::{CloseCode, CloseFrame, parse_close_payload};
use crate::connection::{Connection, State};
use crate::driver::{Driver, End, Next};
use crate::error::{ProtocolError, SendError};
use crate::event::{ControlPayload, DataKind, Event, Outgoing};
use crate::handshake::HandshakeError;
use crate::message::{MessageAssembler, MessageBuffer, SliceBuffer};

/// The most header fields a handshake may carry here (the parser's storage
/// lives on the stack: 24 × 2 pointers and 2 lengths).
pub const MAX_HEADERS: usize = 24;

/// Everything that can go wrong on an embedded WebSocket. `E` is the
/// transport's error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The transport failed. The connection should be dropped: a read may
    /// have stopped inside a message.
    Io(E),
    /// The transport ended during the opening handshake.
    TransportClosed,
    /// The opening handshake failed (a non-101 answer carries its status).
    Handshake(HandshakeError),
    /// We (the server application) refused the handshake with this status.
    Refused {
        /// The HTTP status sent.
        status: u16,
    },
    /// The peer broke the protocol; our close frame with the error's close
    /// code was sent if the transport allowed.
    Protocol(ProtocolError),
    /// The frame cannot be sent.
    Send(SendError),
    /// The closing handshake is complete: no more messages.
    ConnectionClosed,
}

impl<E: core::fmt::Debug> core::fmt::Display for Error<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport error: {e:?}"),
            Error::TransportClosed => f.write_str("the transport ended during the handshake"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Refused { status } => write!(f, "handshake refused with HTTP {status}"),
            Error::Protocol(e) => write!(f, "protocol error (close code {}): {e}", e.close_code()),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::ConnectionClosed => f.write_str("the connection is closed"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<HandshakeError> for Error<E> {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl<E> From<ProtocolError> for Error<E> {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl<E> From<SendError> for Error<E> {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

/// A whole message in the caller's buffer, or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (already answered unless auto-pong is off).
    Ping(ControlPayload),
    /// A pong.
    Pong(ControlPayload),
    /// The peer's close frame; `None` when it carried no status code. Our
    /// reply has been sent.
    Close(Option<CloseFrame>),
}

/// What `read` finished with.
pub(crate) enum ReadDone {
    /// A whole message of this kind is the first `len` bytes of the buffer.
    Whole(DataKind, usize),
    /// A control frame of this kind (its reply, if any, is written).
    Control(Control),
}

/// The kind of a control frame that `read` took. Only the kind is kept:
/// the payload stays in the receiver's control buffer until the next
/// control frame arrives, and nothing decodes more input before the frame
/// is handed out (by `read` or `read_event_with`) or dropped (by `close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    Ping,
    Pong,
    Close,
}

impl Control {
    /// The control frame again, made by `ping`, `pong` or `close` from
    /// the receiver's copy of its payload.
    fn rebuild<T, R>(
        self,
        conn: &Connection<R>,
        ping: fn(ControlPayload) -> T,
        pong: fn(ControlPayload) -> T,
        close: fn(Option<CloseFrame>) -> T,
    ) -> Result<T, ProtocolError> {
        let payload = conn.receiver().control_payload();
        Ok(match self {
            Control::Ping => ping(payload.clone()),
            Control::Pong => pong(payload.clone()),
            // Validated as it arrived: parsing it again succeeds.
            Control::Close => close(parse_close_payload(payload)?),
        })
    }
}

/// Everything an embedded WebSocket does besides I/O, shared by the
/// blocking and the async adapter: each method is one operation as a
/// [`Next`] step, and each adapter runs it in its one I/O loop.
#[derive(Debug)]
pub(crate) struct Session<'b, R> {
    pub(crate) driver: Driver<R, &'b mut [u8], &'b mut [u8]>,
    /// Bytes of an unfinished message already in the caller's message
    /// buffer (a control frame, an error or a cancelled read came first).
    partial: usize,
    /// A control frame that `read` took but has not returned yet, because
    /// its reply was being written when the read was cancelled.
    control: Option<Control>,
    /// The transport has written bytes since it was last flushed.
    unflushed: bool,
    /// Inflates compressed messages, when permessage-deflate was agreed.
    #[cfg(feature = "inflate")]
    inflater: Option<&'b mut dyn inflate::Inflating>,
}

impl<'b, R: rand_core::Rng> Session<'b, R> {
    pub(crate) fn new(driver: Driver<R, &'b mut [u8], &'b mut [u8]>) -> Self {
        Session {
            driver,
            partial: 0,
            control: None,
            unflushed: false,
            #[cfg(feature = "inflate")]
            inflater: None,
        }
    }

    /// Inflates compressed messages from now on with `inflater`, as
    /// permessage-deflate was agreed (RSV1 is the extension's).
    #[cfg(feature = "inflate")]
    pub(crate) fn inflate_with(&mut self, inflater: &'b mut dyn inflate::Inflating) {
        inflater.reset();
        let conn = self.driver.connection_mut();
        conn.set_extension_rsv(crate::frame::RSV1);
        self.inflater = Some(inflater);
    }

    /// The next whole message into `buf`, or a control frame once its
    /// reply is written. Cancel-safe: a message's bytes stay in `buf`
    /// (`partial`), a control frame's kind in `control`, until a call
    /// returns them.
    // Not inlined into the caller of `read`: the receive path's temporaries
    // (events, errors; about 450 bytes on a Cortex-M3) then use stack only
    // while a read runs, not under the caller's handshake and sends.
    #[inline(never)]
    pub(crate) fn poll_read<E>(&mut self, buf: &mut [u8]) -> Next<Result<ReadDone, Error<E>>> {
        loop {
            if let Some(kind) = self.control {
                return self.driver.poll_flush().map_ready(|()| {
                    self.control = None;
                    Ok(ReadDone::Control(kind))
                });
            }
            let capacity = buf.len() as u64;
            let Some(resumed) = SliceBuffer::resume(buf, self.partial) else {
                let too_small = ProtocolError::MessageTooLarge {
                    len: self.partial as u64,
                    max: capacity,
                };
                self.partial = 0;
                self.driver.connection_mut().fail(too_small);
                continue;
            };
            let mut assembler = MessageAssembler::new(resumed);
            let control = &mut self.control;
            #[cfg(feature = "inflate")]
            let max = self.driver.connection().config().max_message_size;
            #[cfg(feature = "inflate")]
            let inflater = &mut self.inflater;
            let next = self.driver.poll_event(|event, _| {
                absorb(
                    event,
                    &mut assembler,
                    control,
                    #[cfg(feature = "inflate")]
                    (inflater, max),
                )
            });
            self.partial = assembler.buffer_mut().bytes().len();
            match next {
                Next::Ready(Ok(Absorbed::Continue)) => continue,
                Next::Ready(Ok(Absorbed::Whole(kind))) => {
                    let len = core::mem::take(&mut self.partial);
                    return Next::Ready(Ok(ReadDone::Whole(kind, len)));
                }
                Next::Ready(Ok(Absorbed::Control)) => {}
                Next::Ready(Ok(Absorbed::TooLarge(e))) => {
                    self.partial = 0;
                    self.driver.connection_mut().fail(e);
                }
                Next::Ready(Err(end)) => return Next::Ready(Err(ended(end))),
                other => return other.map_ready(|_| unreachable_ready()),
            }
        }
    }

    /// The next event, handed to `f`: first a control frame that a
    /// cancelled `read` took, if there is one.
    pub(crate) fn poll_event_with<U, E>(
        &mut self,
        f: &mut impl FnMut(Event<'_>) -> U,
    ) -> Next<Result<U, Error<E>>> {
        if let Some(kind) = self.control.take() {
            let held = kind.rebuild(
                self.driver.connection(),
                Event::Ping,
                Event::Pong,
                Event::Close,
            );
            return Next::Ready(held.map(f).map_err(Error::Protocol));
        }
        self.driver
            .poll_event(|event, _| f(event))
            .map_ready(|r| r.map_err(ended))
    }

    /// Queues `frame` (see [`Driver::poll_write`]).
    pub(crate) fn poll_write<E>(&mut self, frame: Outgoing<'_>) -> Next<Result<(), Error<E>>> {
        self.driver
            .poll_write(frame)
            .map_ready(|r| r.map_err(Error::Send))
    }

    /// The closing handshake: our close (unless one went out), then input
    /// until the end, dropping what arrives (and a held control frame).
    /// Cancel-safe: a repeated call goes on where it stopped.
    pub(crate) fn poll_close<E>(
        &mut self,
        code: CloseCode,
        reason: &str,
    ) -> Next<Result<(), Error<E>>> {
        self.control = None;
        if self.driver.connection().state() == State::Open {
            match self.poll_write(Outgoing::Close(Some((code, reason)))) {
                Next::Ready(Ok(())) => {}
                other => return other,
            }
        }
        loop {
            match self.driver.poll_event(|_, _| ()) {
                Next::Ready(Ok(())) => continue,
                Next::Ready(Err(End::Closed)) => return Next::Ready(Ok(())),
                Next::Ready(Err(end)) => return Next::Ready(Err(ended(end))),
                other => return other.map_ready(|_| unreachable_ready()),
            }
        }
    }
}

/// What an adapter's one I/O loop moves bytes for: a [`Session`]'s driver
/// or an opening handshake's [`handshake::Buffers`]. The loop answers each
/// [`Next`]: `Read` into `input_space`, `Write` of `pending_output`,
/// `Shutdown`, and flushes the transport before it waits for input.
pub(crate) trait Io {
    /// Where the next read goes.
    fn input_space(&mut self) -> &mut [u8];
    /// `n` bytes were read into `input_space`; 0: the transport ended.
    fn input_filled(&mut self, n: usize);
    /// What to write next.
    fn pending_output(&self) -> &[u8];
    /// The first `n` bytes of `pending_output` were written.
    fn output_written(&mut self, n: usize);
    /// Whether bytes were written since the transport was last flushed
    /// (the loop sets it after a write and clears it after a flush).
    fn unflushed(&mut self) -> &mut bool;
    /// The transport was closed ([`Next::Shutdown`]) or would take no more.
    fn shut_down(&mut self);
    /// The error to report for a transport error.
    fn io_error<E>(&mut self, error: E) -> Error<E>;
}

impl<R: rand_core::Rng> Io for Session<'_, R> {
    fn input_space(&mut self) -> &mut [u8] {
        self.driver.input_space()
    }

    fn input_filled(&mut self, n: usize) {
        self.driver.input_filled(n);
    }

    fn pending_output(&self) -> &[u8] {
        self.driver.pending_output()
    }

    fn output_written(&mut self, n: usize) {
        self.driver.output_written(n);
    }

    fn unflushed(&mut self) -> &mut bool {
        &mut self.unflushed
    }

    fn shut_down(&mut self) {
        self.driver.shut_down();
    }

    /// The protocol error that was failing the connection, if there was one.
    fn io_error<E>(&mut self, error: E) -> Error<E> {
        self.driver.shut_down();
        match self.driver.connection().failure() {
            Some(e) if e != ProtocolError::UnexpectedEof => Error::Protocol(e),
            _ => Error::Io(error),
        }
    }
}

/// `Next::map_ready` for an arm that is never `Ready` (matched before).
fn unreachable_ready<T>() -> T {
    unreachable!("a Ready step is matched before")
}

/// The error for a connection that has ended: how it ended.
fn ended<E>(end: End) -> Error<E> {
    match end {
        End::Failed(e) => Error::Protocol(e),
        End::Closed => Error::ConnectionClosed,
    }
}

/// What one event contributes to `read`.
enum Absorbed {
    /// Part of a message, now in the message buffer.
    Continue,
    /// A control frame, now in `control`.
    Control,
    /// The message is whole.
    Whole(DataKind),
    /// The message does not fit the caller's buffer.
    TooLarge(ProtocolError),
}

/// Files one event into the message buffer (through the inflater, for a
/// compressed message), or a control frame's kind into `control`. Text is
/// not checked here: the connection (or the inflater) checked it as it
/// arrived, and `finish_read` makes it a `&str`.
fn absorb(
    event: Event<'_>,
    assembler: &mut MessageAssembler<SliceBuffer<'_>>,
    control: &mut Option<Control>,
    #[cfg(feature = "inflate")] (inflater, max): (&mut Option<&mut dyn inflate::Inflating>, u64),
) -> Absorbed {
    *control = Some(match event {
        Event::Data(chunk) => {
            #[cfg(feature = "inflate")]
            let collected = match inflater {
                Some(inflater) => inflater.collect(assembler, &chunk, max),
                None => assembler.collect(&chunk),
            };
            #[cfg(not(feature = "inflate"))]
            let collected = assembler.collect(&chunk);
            return match collected {
                Ok(None) => Absorbed::Continue,
                Ok(Some(kind)) => Absorbed::Whole(kind),
                Err(e) => Absorbed::TooLarge(e),
            };
        }
        Event::Ping(_) => Control::Ping,
        Event::Pong(_) => Control::Pong,
        Event::Close(_) => Control::Close,
    });
    Absorbed::Control
}

/// The message `read` finished with, borrowed from the caller's buffer.
pub(crate) fn finish_read<'m, R: rand_core::Rng, E>(
    done: ReadDone,
    session: &Session<'_, R>,
    buf: &'m [u8],
) -> Result<Message<'m>, Error<E>> {
    Ok(match done {
        ReadDone::Control(kind) => kind.rebuild(
            session.driver.connection(),
            Message::Ping,
            Message::Pong,
            Message::Close,
        )?,
        ReadDone::Whole(DataKind::Binary, len) => Message::Binary(&buf[..len]),
        // The connection validated the text as it arrived; this check is
        // what makes it a `&str` in safe code.
        ReadDone::Whole(DataKind::Text, len) => Message::Text(
            core::str::from_utf8(&buf[..len])
                .map_err(|_| Error::Protocol(ProtocolError::InvalidUtf8))?,
        ),
    })
}
