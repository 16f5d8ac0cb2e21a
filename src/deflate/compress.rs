//! Compressing permessage-deflate messages (RFC 7692 §7.2.1) with zlib-rs:
//! raw DEFLATE, a sync flush at the end of each message, the `00 00 ff ff`
//! tail stripped.

use alloc::vec::Vec;
use core::fmt;

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Status};

use super::TAIL;

/// How hard a [`Deflater`] works, and how much memory it takes for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressOptions {
    /// zlib's compression level, 0 (stored, no compression) to 9 (best);
    /// above 9 counts as 9. Level 1 is zlib-ng's "quick" strategy.
    pub level: u8,
    /// zlib's `memLevel`, 1 to 9 (0 counts as 1, above 9 as 9): the size of
    /// the buffer of symbols between two blocks, `2^(mem_level + 6)`
    /// entries of 7 bytes. zlib-rs's hash table is 128 KiB whatever it is.
    pub mem_level: u8,
}

impl Default for CompressOptions {
    /// Level 1 and `memLevel` 8 (zlib's default memLevel). On the JSON-like
    /// messages of `benches/deflate.rs` (256 B to 64 KiB) level 1 compressed
    /// 5.8–9.8 times as fast as level 6, to output 1.3–1.6 times as large
    /// (benches/README.md, "permessage-deflate").
    fn default() -> Self {
        CompressOptions {
            level: 1,
            mem_level: 8,
        }
    }
}

/// A permessage-deflate compressor (RFC 7692 §7.2.1) over zlib-rs.
///
/// [`compress`](Self::compress) takes a message's payload in one piece or
/// in several (a fragmented message), and appends what goes on the wire.
/// With context takeover (the RFC's default) the window carries over from
/// one message to the next, so repeated content compresses across
/// messages; with `no_context_takeover` each message is compressed on its
/// own (the stream is reset after each message).
///
/// **Memory.** zlib-rs allocates one block when the `Deflater` is made:
/// `4 × 2^window_bits` bytes (window and chain), a 128 KiB hash table, and
/// `7 × 2^(mem_level + 6)` bytes of block buffers, plus about 3 KB: with
/// `memLevel` 8, 380,032 bytes at 15 window bits and 251,008 at 9
/// ([`memory`](Self::memory) computes it). It keeps that until it is
/// dropped.
///
/// **Allocation failure.** zlib-rs's constructor panics when the allocator
/// fails (its stable API has no fallible constructor), so
/// [`new`](Self::new) panics then too, or aborts, as the global allocator
/// decides. Nothing allocates after `new` apart from growing the caller's
/// output `Vec`.
///
/// **Security.** Compressing a secret together with data an attacker
/// chooses, in one message or (with context takeover) one connection, lets
/// the attacker learn the secret from the compressed lengths (CRIME,
/// BREACH; RFC 7692 §10). Send such messages uncompressed, or use
/// `no_context_takeover`.
pub struct Deflater {
    stream: Deflate,
    options: CompressOptions,
    window_bits: u8,
    no_context_takeover: bool,
    /// Bytes this message has put out so far (after stripping).
    message_len: usize,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("options", &self.options)
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// A compressor that refers back at most `2^window_bits` bytes: the
    /// `*_max_window_bits` the handshake agreed for our side (15 when none
    /// was). zlib-rs cannot compress with 8, so 8 compresses with 9, whose
    /// streams never refer back more than 250 bytes and so suit a peer's
    /// 8-bit window; bits outside 8..=15 are brought into 9..=15.
    /// `no_context_takeover`: compress each message with an empty window.
    ///
    /// Options out of range are clamped (see [`CompressOptions`]), so this
    /// panics only if the allocator fails.
    pub fn new(options: CompressOptions, window_bits: u8, no_context_takeover: bool) -> Self {
        let options = CompressOptions {
            level: options.level.min(9),
            mem_level: options.mem_level.clamp(1, 9),
        };
        let window_bits = window_bits.clamp(9, 15);
        // In range by the clamps above: zlib-rs's `init` checks level
        // 0..=9, mem_level 1..=9 and raw window bits 9..=15, and the
        // constructor panics on anything else.
        let stream = Deflate::new_with_config(DeflateConfig {
            level: i32::from(options.level),
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(options.mem_level),
            ..DeflateConfig::default()
        });
        Deflater {
            stream,
            options,
            window_bits,
            no_context_takeover,
            message_len: 0,
        }
    }

    /// The window bits it compresses with (9 when 8 was asked).
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Compresses the next piece of the current message, appending the
    /// compressed bytes to `out`; `end`: this piece ends the message.
    ///
    /// A piece that does not end the message may append few bytes or none
    /// (zlib keeps what it can still match against); the one that ends it
    /// flushes everything, with the trailing `00 00 ff ff` removed, so
    /// what it appended since the message began is the message's payload
    /// for the wire. An empty message gives `[0x00]` (RFC 7692 §7.2.3.6),
    /// never zero bytes (a receiver would take the appended `00 00 ff ff`
    /// as the start of a 65,280-byte stored block).
    pub fn compress(&mut self, payload: &[u8], end: bool, out: &mut Vec<u8>) {
        self.compress_in_steps(payload, end, out, usize::MAX);
    }

    /// [`compress`](Self::compress), handing zlib-rs at most `step` bytes of
    /// output room at a time (tests use tiny steps to hit every boundary).
    fn compress_in_steps(&mut self, payload: &[u8], end: bool, out: &mut Vec<u8>, step: usize) {
        let flush = if end {
            DeflateFlush::SyncFlush
        } else {
            DeflateFlush::NoFlush
        };
        let begin = out.len();
        let mut input = payload;
        loop {
            let len = out.len();
            // Typical text compresses to well under a half; more room comes
            // when it does not.
            let room = (input.len() / 2 + 64).min(step);
            out.resize(len + room, 0);
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let status = self.stream.compress(input, &mut out[len..], flush);
            let used = (self.stream.total_in() - in_before) as usize;
            let wrote = (self.stream.total_out() - out_before) as usize;
            out.truncate(len + wrote);
            input = &input[used..];
            match status {
                // Full output room: zlib may have more to write (the
                // classic flush bug, faye/permessage-deflate-node#4, is to
                // stop here when the room ran out exactly at the flush).
                Ok(Status::Ok) if wrote == room => {}
                Ok(Status::Ok | Status::StreamEnd) if input.is_empty() => break,
                Ok(Status::Ok | Status::StreamEnd) => {}
                // Nothing to do: no input and this flush already done (a
                // second sync flush in a row is skipped by zlib).
                Ok(Status::BufError) => break,
                // zlib-rs reports StreamError only for null buffers or a
                // finished stream, neither of which this type passes; its
                // deflate has no DataError or MemError after `init`.
                Err(e) => unreachable!("zlib-rs deflate failed: {e:?}"),
            }
        }
        if !end {
            self.message_len += out.len() - begin;
            return;
        }
        // The sync flush ends with an empty stored block's LEN and NLEN:
        // strip them (it wrote nothing at all when the message was empty
        // and the last one ended with a flush already).
        if out[begin..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else {
            debug_assert_eq!(out.len(), begin, "a sync flush ends with 00 00 ff ff");
        }
        if self.message_len + (out.len() - begin) == 0 {
            // An empty message: one octet, the header bits of an empty
            // stored block, which the receiver's 00 00 ff ff completes.
            out.push(0x00);
        }
        self.message_len = 0;
        if self.no_context_takeover {
            // Keeps the allocation; zeroes the hash table and starts an
            // empty window.
            self.stream.reset();
        }
    }

    /// The heap this compressor holds, in bytes (zlib-rs's one allocation,
    /// by its layout in zlib-rs 0.6.9; within 100 bytes of a counting
    /// allocator's figure on x86_64), plus the `Deflater` itself.
    pub fn memory(&self) -> usize {
        // zlib-rs `DeflateAllocOffsets`: window 2·w, prev 2·w (u16 per
        // position), head 65,536 × u16, pending 4·lit, symbols 3·lit, and
        // its `State` with 64-byte alignment padding: 3,200 bytes measured
        // for every window bits and memLevel (x86_64).
        const HASH_HEAD: usize = 65_536 * 2;
        const STATE_AND_PADDING: usize = 3_200;
        let w = 1usize << self.window_bits;
        let lit = 1usize << (self.options.mem_level + 6);
        core::mem::size_of::<Self>() + 4 * w + HASH_HEAD + 7 * lit + STATE_AND_PADDING
    }
}
