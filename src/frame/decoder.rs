//! Streaming frame decoding: bytes in, headers and unmasked payload chunks out.
//!
//! [`FrameDecoder`] accepts input in pieces of any size, down to one byte.
//! Header bytes are gathered in a 14-byte scratch array; payload bytes are
//! unmasked **in place** in the caller's buffer and reported as a range of
//! it, so a frame of 2^40 bytes passes through a 4 KiB buffer. The mask
//! position carries across chunks.

use super::header::{FrameHeader, HeaderParse, MAX_HEADER_LEN, header_len};
use crate::error::ProtocolError;
use crate::mask::apply_mask;
use core::ops::Range;

/// What one call to [`FrameDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete header. When `payload_len` is 0 the frame is complete too.
    Header(FrameHeader),
    /// Payload bytes of the current frame, unmasked in place: `buf[range]`.
    Payload {
        /// Where the bytes are in the buffer passed to `decode`.
        range: Range<usize>,
        /// This chunk ends the frame.
        frame_end: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Gathering a header; `have` bytes are in the scratch array.
    Header { have: u8 },
    /// Inside a payload: `remaining` bytes to go; `offset` bytes done (for the mask).
    Payload {
        remaining: u64,
        offset: u64,
        mask: Option<[u8; 4]>,
    },
}

/// A streaming frame decoder. It checks the per-frame rules of
/// [`FrameHeader::parse`]; connection-level rules are the caller's.
///
/// ```
/// use wsock::frame::{Decoded, FrameDecoder, OpCode};
/// let mut wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut dec = FrameDecoder::new();
/// let (used, Some(Decoded::Header(h))) = dec.decode(&mut wire)? else { panic!() };
/// assert_eq!((used, h.opcode, h.payload_len), (6, OpCode::Text, 5));
/// let (_, Some(Decoded::Payload { range, frame_end })) = dec.decode(&mut wire[used..])? else { panic!() };
/// assert_eq!(&wire[used..][range], b"Hello");
/// assert!(frame_end);
/// # Ok::<(), wsock::ProtocolError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    stage: Stage,
    scratch: [u8; MAX_HEADER_LEN],
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder waiting for the first byte of a frame.
    pub const fn new() -> Self {
        FrameDecoder {
            stage: Stage::Header { have: 0 },
            scratch: [0; MAX_HEADER_LEN],
        }
    }

    /// True between frames (no header byte or payload byte pending).
    pub fn is_at_frame_boundary(&self) -> bool {
        self.stage == Stage::Header { have: 0 }
    }

    /// Payload bytes still expected for the current frame (0 while reading a header).
    pub fn payload_remaining(&self) -> u64 {
        match self.stage {
            Stage::Payload { remaining, .. } => remaining,
            Stage::Header { .. } => 0,
        }
    }

    /// Inside a payload: its mask key (if masked) and how many payload
    /// bytes are done, which is where the key's cycle stands.
    pub(crate) fn payload_mask(&self) -> Option<(Option<[u8; 4]>, u64)> {
        match self.stage {
            Stage::Payload { offset, mask, .. } => Some((mask, offset)),
            Stage::Header { .. } => None,
        }
    }

    /// Decodes from the front of `buf`. Returns the number of bytes consumed
    /// and at most one item; `None` means every byte was consumed and more
    /// input is needed. Payload bytes in `buf` are unmasked in place.
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<(usize, Option<Decoded>), ProtocolError> {
        match self.stage {
            Stage::Header { have } => self.decode_header(buf, usize::from(have)),
            Stage::Payload {
                remaining,
                offset,
                mask,
            } => {
                // `n <= buf.len()`, so it fits in usize; `remaining` is never truncated.
                let n = remaining.min(buf.len() as u64) as usize;
                if n == 0 {
                    return Ok((0, None));
                }
                if let Some(key) = mask {
                    apply_mask(&mut buf[..n], key, offset);
                }
                let remaining = remaining - n as u64;
                self.stage = if remaining == 0 {
                    Stage::Header { have: 0 }
                } else {
                    Stage::Payload {
                        remaining,
                        offset: offset.wrapping_add(n as u64),
                        mask,
                    }
                };
                Ok((
                    n,
                    Some(Decoded::Payload {
                        range: 0..n,
                        frame_end: remaining == 0,
                    }),
                ))
            }
        }
    }

    fn decode_header(
        &mut self,
        buf: &[u8],
        have: usize,
    ) -> Result<(usize, Option<Decoded>), ProtocolError> {
        // Fast path: a whole header at the front of the buffer, nothing gathered yet.
        if have == 0
            && let HeaderParse::Complete { header, len } = FrameHeader::parse(buf)?
        {
            return Ok((len, Some(self.start_payload(header))));
        }
        // Slow path: gather bytes into the scratch array, at most up to the header's end.
        let mut used = 0;
        let mut have = have;
        loop {
            let needed = if have < 2 {
                2
            } else {
                header_len(self.scratch[1])
            };
            let take = (needed - have).min(buf.len() - used);
            self.scratch[have..have + take].copy_from_slice(&buf[used..used + take]);
            have += take;
            used += take;
            match FrameHeader::parse(&self.scratch[..have])? {
                HeaderParse::Complete { header, .. } => {
                    return Ok((used, Some(self.start_payload(header))));
                }
                HeaderParse::Incomplete { needed } if needed > have && used < buf.len() => continue,
                HeaderParse::Incomplete { .. } => {
                    self.stage = Stage::Header { have: have as u8 };
                    return Ok((used, None));
                }
            }
        }
    }

    fn start_payload(&mut self, header: FrameHeader) -> Decoded {
        self.stage = if header.payload_len == 0 {
            Stage::Header { have: 0 }
        } else {
            Stage::Payload {
                remaining: header.payload_len,
                offset: 0,
                mask: header.mask,
            }
        };
        Decoded::Header(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;

    /// §5.2 / §5.3: a masked frame fed one byte at a time yields the same header
    /// and the unmasked payload.
    #[test]
    fn byte_at_a_time() {
        let mut wire = [0u8; 136];
        wire[..8].copy_from_slice(&[0x82, 0xFE, 0x00, 0x80, 1, 2, 3, 4]);
        for i in 0..128 {
            wire[8 + i] = (i as u8) ^ [1, 2, 3, 4][i % 4];
        }
        let mut dec = FrameDecoder::new();
        let mut header = None;
        let mut payload = [0u8; 128];
        let mut got = 0;
        for i in 0..wire.len() {
            let (used, item) = dec.decode(&mut wire[i..i + 1]).unwrap();
            assert_eq!(used, 1);
            match item {
                Some(Decoded::Header(h)) => header = Some(h),
                Some(Decoded::Payload { range, frame_end }) => {
                    payload[got] = wire[i + range.start];
                    got += 1;
                    assert_eq!(frame_end, got == 128);
                }
                None => assert!(i < 8),
            }
        }
        let h = header.unwrap();
        assert_eq!(
            (h.opcode, h.payload_len, h.mask),
            (OpCode::Binary, 128, Some([1, 2, 3, 4]))
        );
        assert_eq!(payload, core::array::from_fn(|i| i as u8));
        assert!(dec.is_at_frame_boundary());
    }

    /// §5.2: a 2^40-byte frame streams through a 4 KiB buffer without truncating its length.
    #[test]
    fn huge_frame_through_small_buffer() {
        let mut dec = FrameDecoder::new();
        let mut hdr = [0x82, 0x7F, 0, 0, 0x01, 0, 0, 0, 0, 0];
        let (_, item) = dec.decode(&mut hdr).unwrap();
        assert!(matches!(item, Some(Decoded::Header(h)) if h.payload_len == 1 << 40));
        let mut chunk = [0u8; 4096];
        for _ in 0..3 {
            let (used, item) = dec.decode(&mut chunk).unwrap();
            assert_eq!(used, 4096);
            assert!(matches!(
                item,
                Some(Decoded::Payload {
                    frame_end: false,
                    ..
                })
            ));
        }
        assert_eq!(dec.payload_remaining(), (1 << 40) - 3 * 4096);
    }

    #[test]
    fn empty_frame_is_complete_at_header() {
        let mut dec = FrameDecoder::new();
        let (used, item) = dec.decode(&mut [0x89, 0x00, 0x81]).unwrap();
        assert_eq!(used, 2);
        assert!(
            matches!(item, Some(Decoded::Header(h)) if h.payload_len == 0 && h.opcode == OpCode::Ping)
        );
        assert!(dec.is_at_frame_boundary());
    }

    /// §5.5: a too-long control frame is rejected from its first two bytes,
    /// even when they arrive split.
    #[test]
    fn control_rules_checked_while_gathering() {
        let mut dec = FrameDecoder::new();
        assert_eq!(dec.decode(&mut [0x88]).unwrap(), (1, None));
        assert_eq!(
            dec.decode(&mut [0x7E]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
    }
}
