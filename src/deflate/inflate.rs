//! Decompressing permessage-deflate messages (RFC 7692 §7.2.2) into a
//! caller-owned ring, without allocating: miniz_oxide's core inflater, with
//! the ring as its LZ77 window.

use core::fmt;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

use super::TAIL;
use crate::close::CloseCode;

/// The smallest ring an [`Inflater`] takes: 2^8 bytes, the smallest window
/// RFC 7692 §7.1.2 allows.
pub const MIN_WINDOW_LEN: usize = 1 << 8;

/// The largest ring an [`Inflater`] takes: 2^15 bytes, DEFLATE's largest
/// window (RFC 1951 §2), enough for any peer.
pub const MAX_WINDOW_LEN: usize = 1 << 15;

/// Why an [`Inflater`] refused its window or a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InflateError {
    /// The window is not a power of two from [`MIN_WINDOW_LEN`] to
    /// [`MAX_WINDOW_LEN`] bytes (or changed its length after
    /// [`Inflater::new`]).
    BadWindow,
    /// RFC 7692 §7.2.2: the message is not a DEFLATE stream (RFC 1951) that
    /// the window can inflate: a malformed block, a distance further back
    /// than the window or than what the stream has produced so far, or a
    /// message that does not end between two blocks once `00 00 ff ff` is
    /// appended (its sender did not end it with a sync flush).
    Corrupt,
}

impl InflateError {
    /// The close code to fail the connection with: 1007 (invalid data) for
    /// a corrupt message, as Node's `ws` does; 1011 (internal error) for our
    /// own misconfigured window.
    pub const fn close_code(self) -> CloseCode {
        match self {
            InflateError::BadWindow => CloseCode::INTERNAL_ERROR,
            InflateError::Corrupt => CloseCode::INVALID_DATA,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::BadWindow => {
                "the inflate window must be a power of two from 256 to 32768 bytes"
            }
            InflateError::Corrupt => {
                "the compressed message is not valid DEFLATE data for this window (RFC 7692 §7.2.2)"
            }
        })
    }
}

impl core::error::Error for InflateError {}

/// Why [`Inflater::inflate_all`] stopped: the inflater's error, or the
/// sink's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateAllError<E> {
    /// The message is corrupt (or the window bad).
    Inflate(InflateError),
    /// The sink refused a chunk.
    Sink(E),
}

impl<E: fmt::Display> fmt::Display for InflateAllError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateAllError::Inflate(e) => e.fmt(f),
            InflateAllError::Sink(e) => e.fmt(f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for InflateAllError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            InflateAllError::Inflate(e) => Some(e),
            InflateAllError::Sink(e) => Some(e),
        }
    }
}

/// What one [`Inflater::inflate`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inflated<'a> {
    /// How many bytes of the input it took (the rest is for the next call).
    pub consumed: usize,
    /// Inflated bytes: a slice of the ring, valid until the next call, at
    /// most the ring's length.
    pub output: &'a [u8],
    /// The message is complete: this was its last output, and the next call
    /// begins the next message.
    pub done: bool,
}

/// Where the inflater is within the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No compressed byte of the message yet.
    Start,
    /// Inside the message's bytes.
    Body,
    /// The message's bytes are all in; `TAIL[n..]` is still to go in.
    Tail(u8),
    /// A block with BFINAL set ended the DEFLATE stream, and nothing has
    /// come after it yet: the message may end here, or go on with a new
    /// stream over the same window (RFC 7692 §7.2.3.4).
    AfterFinal,
    /// A message was corrupt: every call fails until [`Inflater::reset`].
    Failed,
}

/// A permessage-deflate decompressor (RFC 7692 §7.2.2) that needs no heap:
/// its LZ77 window is a ring of bytes the caller owns (`W`: an array, a
/// `&mut [u8]`, a `Vec<u8>`, ...), a power of two from 256 to 32768 bytes.
/// A ring of 2^N bytes inflates what a peer compresses with window bits up
/// to N: size it from the `*_max_window_bits` the handshake agreed (2^15
/// when none was); a peer that refers back further fails with
/// [`InflateError::Corrupt`], never with garbage.
///
/// Feed it each message's compressed (already unmasked) bytes in pieces of
/// any size, `end` set on the piece that reaches the end of the message
/// (an empty one will do). Each call hands back how much input it took and
/// a chunk of output borrowed from the ring, so no call produces more than
/// the ring's length: a caller that counts the output can stop a
/// decompression bomb at exactly its limit, having spent time in proportion
/// to what it accepted. Call again while there is input left, or the call
/// gave output, or (`end` and not `done`):
///
/// ```
/// use wsock::deflate::Inflater;
///
/// // RFC 7692 §7.2.3.1: "Hello" compressed, split into frames anyhow.
/// let pieces: [&[u8]; 3] = [&[0xf2, 0x48], &[0xcd, 0xc9, 0xc9], &[0x07, 0x00]];
/// let mut inflater = Inflater::new([0u8; 256], false)?;
/// let mut message = Vec::new();
/// for (i, piece) in pieces.iter().enumerate() {
///     let end = i == pieces.len() - 1;
///     let mut input = *piece;
///     loop {
///         let got = inflater.inflate(input, end)?;
///         input = &input[got.consumed..];
///         // A limit on the message's size goes here, before taking more.
///         message.extend_from_slice(got.output);
///         if got.done || (input.is_empty() && got.output.is_empty() && !end) {
///             break;
///         }
///     }
/// }
/// assert_eq!(message, b"Hello");
/// # Ok::<(), wsock::deflate::InflateError>(())
/// ```
///
/// [`inflate_all`](Self::inflate_all) is that loop with a callback.
///
/// **Context takeover.** With `no_context_takeover` each message starts
/// with an empty window (the peer agreed to compress each message on its
/// own); without it the window carries over, as the RFC's default. A
/// message that ends its DEFLATE stream with a BFINAL block is fine either
/// way: the next message starts a new stream, which may still refer back
/// into the window. After a message failed, call [`reset`](Self::reset)
/// before the next one (with context takeover the connection cannot go on:
/// the peer's window and ours now differ).
///
/// **Memory.** [`memory`](Self::memory) is the state (about 10.5 KB, most
/// of it Huffman tables) plus the ring: 11,028 bytes with a 512-byte ring on
/// a 32-bit Cortex-M. The state lives inside the `Inflater`, so placing the
/// `Inflater` (a `static`, a `Box`) places the state; see the module's
/// README notes on the stack.
///
/// **Speed.** miniz_oxide's fast loop needs 259 bytes of room before the end
/// of the ring, so a 256-byte ring always takes its slow path, and small
/// rings spend a larger share of their time near the end. 2^12 bytes and up
/// run close to full speed.
pub struct Inflater<W> {
    /// The decompressor's state: bit buffer, block state, Huffman tables.
    core: DecompressorOxide,
    /// The ring: the last `window.len()` bytes of output, which later
    /// output may refer back into.
    window: W,
    /// `window.len()`, checked on every call.
    len: usize,
    /// Where the next output goes in the ring.
    pos: usize,
    /// The ring holds a whole window of the current context. Until then
    /// the context started at position 0, so miniz's non-wrapping mode
    /// (which rejects a distance beyond the start of its buffer) rejects
    /// exactly the distances that reach back before the context's start,
    /// and a fresh context never sees an earlier one's bytes.
    filled: bool,
    /// The last call to the core stopped because the ring was full, so it
    /// may have more output without more input.
    more_output: bool,
    phase: Phase,
    no_context_takeover: bool,
}

impl<W> fmt::Debug for Inflater<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("window_len", &self.len)
            .field("pos", &self.pos)
            .field("filled", &self.filled)
            .field("phase", &self.phase)
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflater<W> {
    /// An inflater over `window`, a ring of a power of two from
    /// [`MIN_WINDOW_LEN`] to [`MAX_WINDOW_LEN`] bytes (its contents do not
    /// matter). `no_context_takeover`: the peer compresses every message
    /// with an empty window (the `*_no_context_takeover` that applies to
    /// the peer's compressor, RFC 7692 §7.1.1), so each message starts
    /// afresh.
    pub fn new(window: W, no_context_takeover: bool) -> Result<Self, InflateError> {
        let len = window.as_ref().len();
        if !len.is_power_of_two() || !(MIN_WINDOW_LEN..=MAX_WINDOW_LEN).contains(&len) {
            return Err(InflateError::BadWindow);
        }
        Ok(Inflater {
            core: DecompressorOxide::new(),
            window,
            len,
            pos: 0,
            filled: false,
            more_output: false,
            phase: Phase::Start,
            no_context_takeover,
        })
    }

    /// log2 of the ring's length: the largest window bits (RFC 7692
    /// §7.1.2) of a stream it can inflate.
    pub fn window_bits(&self) -> u8 {
        self.len.trailing_zeros() as u8
    }

    /// The bytes this inflater holds: its state plus the ring (wherever the
    /// ring lives).
    pub fn memory(&self) -> usize {
        core::mem::size_of::<Self>() - core::mem::size_of::<W>() + self.len
    }

    /// Forgets the window and any message in progress: the next call starts
    /// a new message with an empty window. For use after a failed message.
    pub fn reset(&mut self) {
        self.core.init();
        self.pos = 0;
        self.filled = false;
        self.more_output = false;
        self.phase = Phase::Start;
    }

    /// Inflates the next `input` bytes of the current message; `end`: they
    /// reach the end of the message. See the type's docs for the loop
    /// around it. A message of zero compressed bytes is an empty message.
    ///
    /// After an error every call fails until [`reset`](Self::reset).
    pub fn inflate(&mut self, input: &[u8], end: bool) -> Result<Inflated<'_>, InflateError> {
        match self.step(input, end) {
            Ok((consumed, start, out, done)) => Ok(Inflated {
                consumed,
                output: &self.window.as_ref()[start..start + out],
                done,
            }),
            Err(e) => {
                self.phase = Phase::Failed;
                Err(e)
            }
        }
    }

    /// Inflates all of `input`, handing each chunk of output to `sink` as it
    /// comes (each at most the ring's length). Returns whether the message
    /// is complete, which on success is exactly `end`. A sink that returns
    /// an error stops it with [`InflateAllError::Sink`]; the inflater is
    /// then inside the message, with part of `input` not inflated, so
    /// [`reset`](Self::reset) it before the next message.
    pub fn inflate_all<E>(
        &mut self,
        mut input: &[u8],
        end: bool,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, InflateAllError<E>> {
        loop {
            let got = self.inflate(input, end).map_err(InflateAllError::Inflate)?;
            input = &input[got.consumed..];
            let output = !got.output.is_empty();
            if output {
                sink(got.output).map_err(InflateAllError::Sink)?;
            }
            if got.done {
                return Ok(true);
            }
            if input.is_empty() && !output && !end {
                return Ok(false);
            }
        }
    }

    /// One call's work: (consumed, where the output starts in the ring, its
    /// length, done).
    fn step(
        &mut self,
        input: &[u8],
        end: bool,
    ) -> Result<(usize, usize, usize, bool), InflateError> {
        if self.phase == Phase::Failed {
            return Err(InflateError::Corrupt);
        }
        let ring = self.window.as_mut();
        if ring.len() != self.len {
            return Err(InflateError::BadWindow);
        }
        let start = self.pos;
        let mut out = 0;
        let mut consumed = 0;
        let mut done = false;
        // Each turn either stops or runs the core once; the core always
        // progresses (takes input, writes output, or ends), so this ends
        // after at most a few turns per input byte and output chunk.
        loop {
            let at = start + out;
            if at == self.len {
                // The ring's end: the caller takes this chunk and calls again.
                break;
            }
            let tail = consumed == input.len();
            let src: &[u8] = if !tail {
                if matches!(self.phase, Phase::Start | Phase::AfterFinal) {
                    self.phase = Phase::Body;
                }
                &input[consumed..]
            } else if end {
                match self.phase {
                    // An empty message, or one whose stream a BFINAL block
                    // ended: nothing more to inflate, and the appended
                    // octets are not fed (for an empty message they would
                    // open a stored block of 0xff00 bytes).
                    Phase::Start | Phase::AfterFinal => {
                        done = true;
                        break;
                    }
                    Phase::Body => {
                        self.phase = Phase::Tail(0);
                        &TAIL
                    }
                    Phase::Tail(n) => &TAIL[usize::from(n)..],
                    Phase::Failed => unreachable!("checked on entry"),
                }
            } else if self.more_output {
                // No input, but the core may still have output (a long match,
                // bits already in its buffer): let it drain into the ring.
                &[]
            } else {
                break;
            };
            let flags = if self.filled {
                TINFL_FLAG_HAS_MORE_INPUT
            } else {
                TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
            };
            let (status, used, wrote) = decompress(&mut self.core, src, ring, at, flags);
            out += wrote;
            if tail {
                if let Phase::Tail(n) = self.phase {
                    // `used` <= the 4 - n tail bytes offered.
                    self.phase = Phase::Tail(n + used as u8);
                }
            } else {
                consumed += used;
            }
            self.more_output = status == TINFLStatus::HasMoreOutput;
            match status {
                TINFLStatus::NeedsMoreInput => {
                    // The core took all of `src`.
                    if matches!(self.phase, Phase::Tail(_)) && end && tail {
                        // The whole message and the tail are in: the
                        // message must end between two blocks.
                        if self.core.block_boundary_state().is_none() {
                            return Err(InflateError::Corrupt);
                        }
                        done = true;
                        break;
                    }
                    if tail {
                        // A drain that found nothing more.
                        break;
                    }
                }
                TINFLStatus::HasMoreOutput => {
                    if at + wrote != self.len && used == 0 && wrote == 0 {
                        // Room, yet no progress: cannot happen with a
                        // power-of-two ring; fail rather than spin.
                        return Err(InflateError::Corrupt);
                    }
                }
                TINFLStatus::Done => {
                    // A BFINAL block ended the stream. Whatever follows
                    // starts a new stream over the same window.
                    self.core.init();
                    if tail && end {
                        // It ended inside the appended octets, which are
                        // then not needed: the message is complete.
                        done = true;
                        break;
                    }
                    self.phase = Phase::AfterFinal;
                }
                // Failed (bad block, distance beyond the window),
                // FailedCannotMakeProgress, BadParam, Adler32Mismatch: none
                // but Failed can arise with these flags and a valid ring.
                _ => return Err(InflateError::Corrupt),
            }
        }
        let next = start + out;
        if next == self.len {
            self.pos = 0;
            self.filled = true;
        } else {
            self.pos = next;
        }
        if done {
            self.phase = Phase::Start;
            self.more_output = false;
            if self.no_context_takeover {
                self.core.init();
                self.pos = 0;
                self.filled = false;
            }
        }
        Ok((consumed, start, out, done))
    }
}
