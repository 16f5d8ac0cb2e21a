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
//! close code. Frames larger than the output buffer are streamed through it.
//!
//! Sizing: the input buffer must hold the peer's handshake (about 200–500
//! bytes for typical clients and servers); any size works for frames. The
//! output buffer must hold our handshake message and at least
//! 2 × [`MAX_CONTROL_FRAME_LEN`](crate::connection::MAX_CONTROL_FRAME_LEN)
//! bytes; 512 bytes is comfortable.

#[cfg(feature = "embedded-io-async")]
pub mod asynch;
pub mod blocking;

use crate::close::CloseFrame;
use crate::error::{ProtocolError, SendError};
use crate::event::{ControlPayload, DataKind, Event};
use crate::handshake::HandshakeError;
use crate::message::{Message as Assembled, MessageAssembler, SliceBuffer};

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

/// What one event contributes to `read`.
enum Step<'m> {
    /// Part of a message, now in the message buffer.
    Continue,
    /// A control frame.
    Control(Message<'m>),
    /// The message is whole.
    Whole(DataKind),
    /// The message does not fit the caller's buffer.
    Fail(ProtocolError),
}

/// Files one event into the message buffer, or copies a control frame out.
fn step<'m>(event: Event<'_>, assembler: &mut MessageAssembler<SliceBuffer<'_>>) -> Step<'m> {
    match event {
        Event::Data(chunk) => match assembler.push(&chunk) {
            Ok(None) => Step::Continue,
            Ok(Some(Assembled::Text(_))) => Step::Whole(DataKind::Text),
            Ok(Some(Assembled::Binary(_))) => Step::Whole(DataKind::Binary),
            Err(e) => Step::Fail(e),
        },
        Event::Ping(p) => Step::Control(Message::Ping(p)),
        Event::Pong(p) => Step::Control(Message::Pong(p)),
        Event::Close(frame) => Step::Control(Message::Close(frame)),
    }
}

/// The whole message left in the caller's buffer.
fn whole_message<E>(kind: DataKind, bytes: &[u8]) -> Result<Message<'_>, Error<E>> {
    Ok(match kind {
        DataKind::Binary => Message::Binary(bytes),
        // The connection validated the text as it arrived.
        DataKind::Text => Message::Text(
            core::str::from_utf8(bytes).map_err(|_| Error::Protocol(ProtocolError::InvalidUtf8))?,
        ),
    })
}
