//! permessage-deflate on an embedded server (feature `inflate`): it
//! accepts a client's offer and inflates the client's messages into memory
//! the caller lends, with no allocator; it sends its own messages
//! uncompressed, which RFC 7692 allows (an endpoint never has to compress).

use crate::deflate::MessageInflater;
use crate::handshake::deflate::{DeflateConfig, MAX_WINDOW_BITS, MIN_WINDOW_BITS};

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
    pub(crate) inflater: &'b mut MessageInflater<&'b mut [u8]>,
    client_no_context_takeover: bool,
}

impl<'b> Inflate<'b> {
    /// Accept permessage-deflate, inflating with `inflater`; with
    /// `client_no_context_takeover`, ask the client to compress every
    /// message on its own.
    pub fn new(
        inflater: &'b mut MessageInflater<&'b mut [u8]>,
        client_no_context_takeover: bool,
    ) -> Self {
        Inflate {
            inflater,
            client_no_context_takeover,
        }
    }

    /// The negotiation: inflate only, the client's window at most ours.
    pub(crate) fn config(&self) -> DeflateConfig {
        let bits = self.inflater.inflater().window_bits();
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
