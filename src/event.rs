//! What the connection reports to the application ([`Event`]) and what the
//! application asks it to send ([`Outgoing`]).

use crate::close::{CloseCode, CloseFrame};
use crate::frame::MAX_CONTROL_PAYLOAD;

/// A ping or pong payload (at most 125 bytes), copied out of the input.
pub type ControlPayload = heapless::Vec<u8, MAX_CONTROL_PAYLOAD>;

/// The type of a data message (§5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// A piece of a text or binary message, borrowed from the caller's input
/// buffer and already unmasked in place.
///
/// A message arrives as one or more chunks: the first has `first` set, the
/// last has `last` set (a single chunk may have both). For text, the bytes
/// so far have been checked to be a valid UTF-8 prefix (unless `rsv` says
/// an extension encoded them); a chunk may end in the middle of a code
/// point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataChunk<'a> {
    /// Text or binary.
    pub kind: DataKind,
    /// The payload bytes of this chunk (possibly empty).
    pub payload: &'a [u8],
    /// This chunk starts a message.
    pub first: bool,
    /// This chunk ends the message.
    pub last: bool,
    /// The RSV bits of the message's first frame (non-zero only with an
    /// extension that owns them, e.g. RSV1 for a compressed message). With
    /// any set, the payload is the extension's encoding: a text message's
    /// bytes are not checked as UTF-8 here (the decoder checks what it
    /// decodes, e.g. [`MessageAssembler`](crate::message::MessageAssembler)
    /// with an inflater).
    pub rsv: u8,
}

/// Something the peer sent, as reported by [`Connection::receive`](crate::Connection::receive).
///
/// Only data borrows the input buffer (`'a`); control payloads are small
/// and copied, so an event never borrows the connection: a data chunk can be
/// forwarded or echoed with [`Connection::encode`](crate::Connection::encode)
/// while it is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A piece of a text or binary message.
    Data(DataChunk<'a>),
    /// A ping with its payload. With auto-pong on, the pong is already queued.
    Ping(ControlPayload),
    /// A pong with its payload.
    Pong(ControlPayload),
    /// The peer's close frame (`None`: it carried no status code). If we had
    /// not sent a close, our reply is queued; the closing handshake finishes
    /// once [`poll_transmit`](crate::Connection::poll_transmit) wrote it.
    Close(Option<CloseFrame>),
}

/// A frame for [`Connection::encode`](crate::Connection::encode) to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// A whole text message in one frame.
    Text(&'a str),
    /// A whole binary message in one frame.
    Binary(&'a [u8]),
    /// One frame of a fragmented message (§5.4). The first fragment opens a
    /// message of `kind`; the next ones continue it (same `kind`); the one
    /// with `last` set closes it. Text fragments may split code points; the
    /// fragments together must be valid UTF-8.
    Fragment {
        /// The message type.
        kind: DataKind,
        /// This fragment's payload.
        payload: &'a [u8],
        /// This fragment ends the message.
        last: bool,
    },
    /// A ping (payload at most 125 bytes).
    Ping(&'a [u8]),
    /// An unsolicited pong (payload at most 125 bytes).
    Pong(&'a [u8]),
    /// A close frame: `None` for no status code, or a code and a reason of at
    /// most 123 bytes.
    Close(Option<(CloseCode, &'a str)>),
}

impl<'a> Outgoing<'a> {
    /// A data frame's message type, payload and whether it ends its message
    /// (a whole message does); `None` for control frames. Adapters use it
    /// to stream a frame too big for their output buffer
    /// ([`Connection::start_frame`](crate::Connection::start_frame)).
    ///
    /// ```
    /// use wsock::{DataKind, Outgoing};
    /// assert_eq!(Outgoing::Text("hi").as_data(), Some((DataKind::Text, &b"hi"[..], true)));
    /// assert_eq!(Outgoing::Ping(b"?").as_data(), None);
    /// ```
    pub fn as_data(&self) -> Option<(DataKind, &'a [u8], bool)> {
        match *self {
            Outgoing::Text(text) => Some((DataKind::Text, text.as_bytes(), true)),
            Outgoing::Binary(bytes) => Some((DataKind::Binary, bytes, true)),
            Outgoing::Fragment {
                kind,
                payload,
                last,
            } => Some((kind, payload, last)),
            Outgoing::Ping(_) | Outgoing::Pong(_) | Outgoing::Close(_) => None,
        }
    }

    /// [`as_data`](Outgoing::as_data), with `Some(last)` for a fragment and
    /// `None` for a whole message (what the send side needs to know).
    #[inline]
    pub(crate) fn data_parts(&self) -> Option<(DataKind, &'a [u8], Option<bool>)> {
        match *self {
            Outgoing::Text(text) => Some((DataKind::Text, text.as_bytes(), None)),
            Outgoing::Binary(bytes) => Some((DataKind::Binary, bytes, None)),
            Outgoing::Fragment {
                kind,
                payload,
                last,
            } => Some((kind, payload, Some(last))),
            Outgoing::Ping(_) | Outgoing::Pong(_) | Outgoing::Close(_) => None,
        }
    }
}
