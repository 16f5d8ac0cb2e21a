//! permessage-deflate on an embedded server (feature `inflate`): it
//! accepts a client's offer and inflates the client's messages into memory
//! the caller lends, with no allocator; it sends its own messages
//! uncompressed, which RFC 7692 allows (an endpoint never has to compress).

use crate::deflate::MessageInflater;
use crate::error::ProtocolError;
use crate::event::{DataChunk, DataKind};
use crate::handshake::deflate::{DeflateConfig, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::message::{MessageAssembler, SliceBuffer};
use core::fmt;

/// What an embedded server needs to accept permessage-deflate: an inflater
/// whose window (a power of two, 512 B to 32 KiB; with 256 B nothing is
/// accepted, as no peer can be asked for less than 9 bits) bounds the
/// client's.
///
/// The server asks the client for `client_max_window_bits` = the window's
/// bits (e.g. 9 for 512 bytes), so it accepts only offers that carry the
/// parameter (browsers other than Firefox, Python `websockets`, Node `ws`
/// do; a 32 KiB window takes every offer). Build the inflater with
/// `no_context_takeover: false` unless you ask for
/// `client_no_context_takeover` too.
///
/// The window may be lent (`&mut [u8]`) or owned (`[u8; 512]`): an
/// inflater that owns its window can live in a `static` and be lent to
/// one session after another (each handshake that agrees resets it).
///
/// ```
/// use wsock::deflate::{Inflater, MessageInflater};
/// use wsock::embedded::Inflate;
///
/// // 512 B of window + about 10.5 KB of inflater state, e.g. in a static.
/// let mut window = [0u8; 512];
/// let mut inflater = MessageInflater::new(Inflater::new(&mut window[..], false)?);
/// let inflate = Inflate::new(&mut inflater, false);
/// // blocking::accept_inflating(transport, config, input, output, inflate, decide)
/// # drop(inflate);
/// # Ok::<(), wsock::deflate::InflateError>(())
/// ```
#[derive(Debug)]
pub struct Inflate<'b> {
    pub(crate) inflater: &'b mut dyn Inflating,
    client_no_context_takeover: bool,
}

impl<'b> Inflate<'b> {
    /// Accept permessage-deflate, inflating with `inflater`; with
    /// `client_no_context_takeover`, ask the client to compress every
    /// message on its own.
    pub fn new<W: AsRef<[u8]> + AsMut<[u8]>>(
        inflater: &'b mut MessageInflater<W>,
        client_no_context_takeover: bool,
    ) -> Self {
        Inflate {
            inflater,
            client_no_context_takeover,
        }
    }

    /// The negotiation: inflate only, the client's window at most ours.
    pub(crate) fn config(&self) -> DeflateConfig {
        let bits = self.inflater.window_bits();
        DeflateConfig {
            enabled: bits > MIN_WINDOW_BITS,
            compress: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: bits,
            server_no_context_takeover: false,
            client_no_context_takeover: self.client_no_context_takeover,
        }
    }
}

/// A [`MessageInflater`] whatever its window is (lent or owned), as a
/// session holds it: without naming the window's type, a session can
/// borrow an inflater that outlives it (`&mut` is invariant, so a
/// `MessageInflater<&'static mut [u8]>` cannot be lent as a
/// `MessageInflater<&'b mut [u8]>`).
pub(crate) trait Inflating {
    /// log2 of the window's length.
    fn window_bits(&self) -> u8;
    /// [`MessageInflater::reset`].
    fn reset(&mut self);
    /// [`MessageAssembler::collect_inflated`] through this inflater.
    fn collect(
        &mut self,
        assembler: &mut MessageAssembler<SliceBuffer<'_>>,
        chunk: &DataChunk<'_>,
        max_message_size: u64,
    ) -> Result<Option<DataKind>, ProtocolError>;
}

impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflating for MessageInflater<W> {
    fn window_bits(&self) -> u8 {
        self.inflater().window_bits()
    }

    fn reset(&mut self) {
        MessageInflater::reset(self);
    }

    fn collect(
        &mut self,
        assembler: &mut MessageAssembler<SliceBuffer<'_>>,
        chunk: &DataChunk<'_>,
        max_message_size: u64,
    ) -> Result<Option<DataKind>, ProtocolError> {
        assembler.collect_inflated(chunk, self, max_message_size)
    }
}

impl fmt::Debug for dyn Inflating + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageInflater")
            .field("window_bits", &self.window_bits())
            .finish_non_exhaustive()
    }
}
