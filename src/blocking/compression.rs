//! permessage-deflate (RFC 7692) for the std adapters, blocking and tokio:
//! the options, what a client offers and a server accepts, and each
//! connection's two halves — the inflater its reader uses and the
//! compressor its writer uses. The codec is [`crate::deflate`]; the
//! negotiation [`crate::handshake::deflate`].

use super::Error;
use super::Reassembly;
use crate::config::Role;
use crate::connection::{Connection, Sender, Shared, State};
use crate::deflate::{CompressOptions, Deflater, Inflater, MessageInflater};
use crate::event::Outgoing;
use crate::frame::RSV1;
use crate::handshake::deflate::{
    Agreed, ClientMaxWindowBits, DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS,
};
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

/// permessage-deflate settings ([`Options::deflate`](super::Options::deflate)):
/// what a client offers, what a server accepts, and how messages are
/// compressed.
///
/// Window bits limit each direction's LZ77 window (8..15; a compressor
/// told 8 uses 9, which is a valid 8-bit stream). A server asks a client for
/// a smaller `client_max_window_bits` only if the client offered the
/// parameter (browsers and most libraries do); it declines offers without
/// it when its own limit is below 15. Without context takeover a direction
/// starts every message from an empty window: less memory held between
/// messages on the inflating side's peer, a worse ratio.
///
/// ```
/// use wsock::blocking::{DeflateOptions, Options};
/// let mut options = Options::new();
/// options.deflate = Some(DeflateOptions {
///     client_max_window_bits: 12, // a 4 KiB window for what clients send
///     ..DeflateOptions::default()
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateOptions {
    /// The largest window the server compresses with (default 15).
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with (default 15).
    pub client_max_window_bits: u8,
    /// The server resets its compressor after each message (default off).
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message (default off).
    pub client_no_context_takeover: bool,
    /// Level and memory of the compressor.
    pub compression: CompressOptions,
    /// Messages shorter than this are sent uncompressed (default 0: all are
    /// compressed, as browsers and Python `websockets` do).
    pub threshold: usize,
}

impl Default for DeflateOptions {
    fn default() -> Self {
        DeflateOptions {
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            compression: CompressOptions::default(),
            threshold: 0,
        }
    }
}

impl DeflateOptions {
    /// A client's offer: always with `client_max_window_bits` (so a server
    /// may ask for a smaller window), with a value when ours is below 15.
    pub(crate) fn offer(&self) -> DeflateParams {
        let bits = |n: u8| n.clamp(MIN_WINDOW_BITS + 1, MAX_WINDOW_BITS);
        let client = bits(self.client_max_window_bits);
        let server = bits(self.server_max_window_bits);
        let mut offer = DeflateParams::NONE;
        offer.server_no_context_takeover = self.server_no_context_takeover;
        offer.client_no_context_takeover = self.client_no_context_takeover;
        offer.server_max_window_bits = (server < MAX_WINDOW_BITS).then_some(server);
        offer.client_max_window_bits = if client < MAX_WINDOW_BITS {
            ClientMaxWindowBits::Bits(client)
        } else {
            ClientMaxWindowBits::Supported
        };
        offer
    }

    /// The offer as a header value.
    pub(crate) fn offer_value(&self) -> std::string::String {
        let mut out = [0u8; 160];
        // The longest offer is under 130 bytes.
        let n = self.offer().write_offer(&mut out).unwrap_or(0);
        std::string::String::from_utf8_lossy(&out[..n]).into_owned()
    }

    /// A server's negotiation settings.
    pub(crate) fn server_config(&self) -> DeflateConfig {
        DeflateConfig {
            enabled: true,
            compress: true,
            server_max_window_bits: self.server_max_window_bits,
            client_max_window_bits: self.client_max_window_bits,
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
        }
    }
}

/// Turns permessage-deflate on for a connection as `agreed`: RSV1 becomes
/// the extension's, `reassembly` inflates compressed messages (held to the
/// connection's `max_message_size`), and the compressor for what it sends
/// is returned.
pub(crate) fn enable<R>(
    conn: &mut Connection<R>,
    reassembly: &mut Reassembly,
    agreed: &Agreed,
    options: &DeflateOptions,
) -> Box<MessageDeflater> {
    let (role, max) = (conn.role(), conn.config().max_message_size);
    conn.set_extension_rsv(RSV1);
    reassembly.inflate(agreed, role, max);
    MessageDeflater::new(agreed, role, options)
}

/// The window ring an inflater needs for `bits` (at least 256 bytes).
fn window_for(bits: u8) -> Box<[u8]> {
    vec![0u8; 1usize << bits.max(MIN_WINDOW_BITS)].into_boxed_slice()
}

/// The reading half's inflater for what `agreed` lets the peer send.
pub(crate) fn inflater(agreed: &Agreed, role: Role) -> Box<MessageInflater<Box<[u8]>>> {
    let window = window_for(agreed.inflate_window_bits(role));
    let no_takeover = agreed.inflate_no_context_takeover(role);
    // A power of two from 256 to 32768: the inflater takes it.
    let inflater = Inflater::new(window, no_takeover).expect("a power-of-two window");
    Box::new(MessageInflater::new(inflater))
}

/// The writing half: compresses whole messages at or above the threshold.
#[derive(Debug)]
pub(crate) struct MessageDeflater {
    deflater: Deflater,
    threshold: usize,
    /// The last compressed message.
    out: Vec<u8>,
}

impl MessageDeflater {
    /// Boxed: a connection without compression holds only the pointer.
    pub(crate) fn new(agreed: &Agreed, role: Role, options: &DeflateOptions) -> Box<Self> {
        Box::new(MessageDeflater {
            deflater: Deflater::new(
                options.compression,
                agreed.compress_window_bits(role),
                // A client that offered client_no_context_takeover keeps
                // to it even if the server left it out (RFC 7692 §7.1.1.2).
                agreed.compress_no_context_takeover(role)
                    || (role == Role::Client && options.client_no_context_takeover),
            ),
            threshold: options.threshold,
            out: Vec::new(),
        })
    }

    /// The frame to send for `frame`: a whole text or binary message at or
    /// above the threshold compressed (then the caller marks it with the
    /// returned RSV bits), anything else as it is. Fragments are sent as
    /// they are: RFC 7692 lets an endpoint send any message uncompressed.
    ///
    /// Only when a message can start now (`ready`): a message compressed
    /// and then refused would leave the compressor's window with bytes the
    /// peer never inflates, and every later message would come out wrong.
    fn compress<'a>(&'a mut self, ready: bool, frame: Outgoing<'a>) -> (Outgoing<'a>, u8) {
        let (kind, payload) = match frame {
            Outgoing::Text(text) if ready => (crate::DataKind::Text, text.as_bytes()),
            Outgoing::Binary(bytes) if ready => (crate::DataKind::Binary, bytes),
            other => return (other, 0),
        };
        if payload.len() < self.threshold {
            return (frame, 0);
        }
        self.out.clear();
        self.deflater.compress(payload, true, &mut self.out);
        let compressed = Outgoing::Fragment {
            kind,
            payload: &self.out,
            last: true,
        };
        (compressed, RSV1)
    }

    /// Frees the buffer of the last compressed message if it is big.
    fn trim(&mut self) {
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
    }
}

/// A writer that can send compressed messages: what [`write`] needs.
pub(crate) trait Compressing {
    /// A message can start now (see [`can_start_message`]).
    fn can_start_message(&mut self) -> bool;
    /// Sets the sender's RSV bits for the next message.
    fn set_next_message_rsv(&mut self, rsv: u8);
    /// Writes `frame` as it is.
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error>;
}

/// Open, and no message or frame half sent: a whole message can go now.
pub(crate) fn can_start_message<R>(sender: &Sender<R>, shared: &Shared) -> bool {
    shared.state() == State::Open
        && !sender.is_message_in_progress()
        && !sender.is_frame_in_progress()
}

/// Every std writer's `write` with permessage-deflate: `frame` compressed
/// when it is a whole message at or above the threshold, marked RSV1, and
/// written; the mark is cleared if the write refused it before encoding.
pub(crate) fn write<W: Compressing>(
    writer: &mut W,
    deflater: &mut MessageDeflater,
    frame: Outgoing<'_>,
) -> Result<(), Error> {
    let ready = writer.can_start_message();
    let (frame, rsv) = deflater.compress(ready, frame);
    writer.set_next_message_rsv(rsv);
    let written = writer.write_as_is(frame);
    if rsv != 0 {
        // Refused before it was encoded: the next message is not this one.
        writer.set_next_message_rsv(0);
    }
    deflater.trim();
    written
}
