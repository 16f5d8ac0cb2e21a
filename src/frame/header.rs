//! The frame header: opcode, flags, length and masking key (RFC 6455 §5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! [`FrameHeader::parse`] checks the rules that need no connection state:
//! reserved opcodes, the 64-bit length's top bit, and that control frames are
//! final and at most 125 bytes. Role, RSV and fragmentation rules belong to
//! [`crate::Connection`].

use crate::error::{ProtocolError, SendError};

/// The largest frame header: 2 + 8 (64-bit length) + 4 (masking key).
pub const MAX_HEADER_LEN: usize = 14;

/// The largest control frame payload (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The first RSV bit (`0b100` in [`FrameHeader::rsv`]): permessage-deflate
/// (RFC 7692 §6) sets it on the first frame of a compressed message.
pub const RSV1: u8 = 0b100;

/// A frame opcode (§5.2). Reserved values are rejected when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the 4-bit opcode; `None` for the reserved values.
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong are control frames (§5.5).
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed, validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final frame of its message.
    pub fin: bool,
    /// RSV1–3 as the low three bits (`0b100` is RSV1).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length. Always `u64`: never truncated on 32-bit targets.
    pub payload_len: u64,
}

/// The outcome of [`FrameHeader::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderParse {
    /// A whole header, `len` bytes long.
    Complete {
        /// The header.
        header: FrameHeader,
        /// Its encoded length (2–14).
        len: usize,
    },
    /// The buffer holds only part of a header; `needed` bytes in total are
    /// required (known once the first two bytes are in; 2 before that).
    Incomplete {
        /// Total header bytes needed.
        needed: usize,
    },
}

/// Header length given its first two bytes.
#[inline]
pub(crate) const fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameHeader {
    /// Parses a header from the front of `buf`.
    ///
    /// ```
    /// use wsock::frame::{FrameHeader, HeaderParse, OpCode};
    /// // A masked "Hello" from a client: FIN + text, MASK + length 5, key.
    /// let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let HeaderParse::Complete { header, len } = FrameHeader::parse(&bytes)? else { panic!() };
    /// assert_eq!((header.opcode, header.payload_len, len), (OpCode::Text, 5, 6));
    /// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    /// # Ok::<(), wsock::ProtocolError>(())
    /// ```
    pub fn parse(buf: &[u8]) -> Result<HeaderParse, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(HeaderParse::Incomplete { needed: 2 });
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        let opcode =
            OpCode::from_bits(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0f))?;
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            // Checked on the first two bytes, before any extended length is read.
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if len7 > 125 {
                return Err(ProtocolError::ControlFrameTooLong(u64::from(len7)));
            }
        }
        let needed = header_len(b1);
        let Some(head) = buf.get(..needed) else {
            return Ok(HeaderParse::Incomplete { needed });
        };
        let payload_len = match len7 {
            126 => u64::from(u16::from_be_bytes([head[2], head[3]])),
            127 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&head[2..10]);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                len
            }
            n => u64::from(n),
        };
        // The masking key, when present, is the header's last four bytes.
        let mask = match head {
            [.., k0, k1, k2, k3] if b1 & 0x80 != 0 => Some([*k0, *k1, *k2, *k3]),
            _ => None,
        };
        Ok(HeaderParse::Complete {
            header: FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            len: needed,
        })
    }

    /// The encoded size of this header (2–14 bytes), always in the minimal
    /// length form (§5.2).
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len < 126 {
            0
        } else if self.payload_len <= 0xffff {
            2
        } else {
            8
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header into the front of `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, SendError> {
        let len = self.encoded_len();
        let Some(out) = out.get_mut(..len) else {
            return Err(SendError::BufferTooSmall { needed: len as u64 });
        };
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let key_at = if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
            2
        } else if self.payload_len <= 0xffff {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[key_at..key_at + 4].copy_from_slice(&key);
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::parse(buf).unwrap() {
            HeaderParse::Complete { header, len } => (header, len),
            other => panic!("{other:?}"),
        }
    }

    /// §5.7 examples: unmasked "Hello", a 256-byte and a 64 KiB binary frame.
    #[test]
    fn rfc_examples() {
        let (h, n) = complete(&[0x81, 0x05]);
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.mask, n),
            (true, OpCode::Text, 5, None, 2)
        );
        let (h, n) = complete(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::Binary, 256, 4));
        let (h, n) = complete(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
        // Fragmented unmasked text: "Hel" then "lo".
        let (h, _) = complete(&[0x01, 0x03]);
        assert!(!h.fin);
        let (h, _) = complete(&[0x80, 0x02]);
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
    }

    /// §5.2: opcodes 3–7 and B–F are reserved.
    #[test]
    fn reserved_opcodes_fail() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    /// §5.5: control frames are final and carry at most 125 bytes; checked from two bytes.
    #[test]
    fn control_frame_rules() {
        assert_eq!(
            FrameHeader::parse(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::parse(&[0x89, 0x7E]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        assert!(matches!(
            FrameHeader::parse(&[0x89, 0x7D]),
            Ok(HeaderParse::Complete { .. })
        ));
    }

    /// §5.2: the 64-bit length's most significant bit must be 0.
    #[test]
    fn length_msb_must_be_zero() {
        let buf = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::parse(&buf), Err(ProtocolError::LengthOverflow));
        let (h, _) = complete(&[0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(h.payload_len, i64::MAX as u64);
    }

    /// §5.2: a 2^32-byte length survives intact (no usize truncation on 32-bit targets).
    #[test]
    fn lengths_beyond_u32_are_kept() {
        let (h, _) = complete(&[0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 5]);
        assert_eq!(h.payload_len, (1u64 << 32) + 5);
    }

    #[test]
    fn incomplete_reports_needed_bytes() {
        assert_eq!(
            FrameHeader::parse(&[]),
            Ok(HeaderParse::Incomplete { needed: 2 })
        );
        assert_eq!(
            FrameHeader::parse(&[0x82]),
            Ok(HeaderParse::Incomplete { needed: 2 })
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 0xFF]),
            Ok(HeaderParse::Incomplete { needed: 14 })
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 0xFE, 0]),
            Ok(HeaderParse::Incomplete { needed: 8 })
        );
    }

    /// §5.2: "the minimal number of bytes MUST be used to encode the length".
    #[test]
    fn encode_uses_minimal_length_forms() {
        for (len, size) in [
            (0u64, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 40, 10),
        ] {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: len,
            };
            let mut out = [0u8; MAX_HEADER_LEN];
            assert_eq!(h.encode(&mut out), Ok(size));
            assert_eq!(complete(&out[..size]), (h, size));
        }
    }

    #[test]
    fn encode_reports_needed_size() {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Ping,
            mask: Some([1, 2, 3, 4]),
            payload_len: 3,
        };
        assert_eq!(
            h.encode(&mut [0u8; 5]),
            Err(SendError::BufferTooSmall { needed: 6 })
        );
    }
}
