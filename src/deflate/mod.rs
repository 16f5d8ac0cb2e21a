//! The permessage-deflate codec (RFC 7692 §7.2): compressing and
//! decompressing the payload of one message at a time. Negotiating the
//! extension is [`crate::handshake::deflate`]'s job; this module only
//! transforms bytes.
//!
//! What RFC 7692 §7.2 asks:
//!
//! - **Sending (§7.2.1):** compress the payload as raw DEFLATE (RFC 1951, no
//!   zlib header), end it with a sync flush, so that it ends with an empty
//!   stored block whose last four octets are `00 00 ff ff`, and remove those
//!   four octets. A fragmented message may flush at each fragment; only the
//!   end of the message is stripped.
//! - **Receiving (§7.2.2):** append `00 00 ff ff` to the message's payload
//!   and inflate it. An empty message must still carry one octet (`00`,
//!   the start of an empty stored block), so a zero-octet compressed payload
//!   is taken as an empty message without the appended octets (see
//!   [`Inflater`]). A block with BFINAL set may end a message (§7.2.3.4).
//! - **Windows (§7.1.2):** with context takeover the LZ77 window carries
//!   over from one message to the next; with no context takeover each
//!   message starts afresh. `*_max_window_bits` bound the distance a
//!   compressor may refer back to, 2^8 to 2^15 bytes.
//!
//! Two backends, each for what it does best:
//!
//! - [`Inflater`] (feature `inflate`, no allocation) runs miniz_oxide's core
//!   inflater (`miniz_oxide::inflate::core`) into a ring buffer the caller
//!   owns, a power of two from 256 to 32768 bytes: the ring *is* the LZ77
//!   window, and every chunk of output is a slice of it. One code path
//!   serves every target, from a Cortex-M with a 512-byte ring to a server
//!   with a 32 KiB one; the state is about 10.5 KB besides the ring.
//! - [`Deflater`] (feature `deflate`, which needs `alloc`) compresses with
//!   zlib-rs. miniz_oxide's compressor does not honour window bits below 15
//!   (its streams for 9..14 refer back further than 2^N bytes, and a peer
//!   that asked for a small window fails on them), while zlib-rs keeps to
//!   9..15 and has zlib's sync flush. zlib-rs cannot compress with 8 bits;
//!   a 9-bit zlib-rs stream never refers back more than 250 bytes (its
//!   window less zlib's 262-byte lookahead), so it is also a valid 8-bit
//!   stream, and [`Deflater::new`] uses 9 for 8.
//!
//! Both are sans-IO and work on pieces of a message in any size: the frame
//! layer can pass each frame's (unmasked) payload, or part of it, as it
//! arrives.
//!
//! ```
//! # #[cfg(feature = "deflate")] {
//! use wsock::deflate::{CompressOptions, Deflater, Inflater};
//!
//! // A sender with a 2^10-byte window, and a receiver with a ring to match.
//! let mut deflater = Deflater::new(CompressOptions::default(), 10, false);
//! let mut inflater = Inflater::new([0u8; 1024], false).unwrap();
//! for text in ["Hello, world", "Hello again, world"] {
//!     let mut wire = Vec::new();
//!     deflater.compress(text.as_bytes(), true, &mut wire);
//!     let mut message = Vec::new();
//!     let done = inflater
//!         .inflate_all(&wire, true, |chunk| {
//!             message.extend_from_slice(chunk);
//!             Ok::<(), ()>(())
//!         })
//!         .unwrap();
//!     assert!(done);
//!     assert_eq!(message, text.as_bytes());
//! }
//! # }
//! ```

#[cfg(feature = "deflate")]
mod compress;
mod inflate;
mod message;

#[cfg(feature = "deflate")]
pub use compress::{CompressOptions, Deflater};
pub use inflate::{
    InflateAllError, InflateError, Inflated, Inflater, MAX_WINDOW_LEN, MIN_WINDOW_LEN,
};
pub use message::MessageInflater;

/// The four octets a sync flush ends with, which the sender strips and the
/// receiver appends (RFC 7692 §7.2.1, §7.2.2): the LEN and NLEN of an empty
/// stored block.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
