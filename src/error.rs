//! Errors, one enum per layer: what the peer did wrong ([`ProtocolError`]),
//! what the caller asked that cannot be sent ([`SendError`]); handshake
//! errors live in [`crate::handshake`].
//!
//! Every [`ProtocolError`] names the RFC 6455 rule it enforces and maps to the
//! close code we send when failing the connection ([`ProtocolError::close_code`]).

use crate::close::CloseCode;

/// The peer broke a rule of RFC 6455; the connection fails with
/// [`close_code`](ProtocolError::close_code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// §5.2: an RSV bit is set that no negotiated extension owns.
    ReservedBits(u8),
    /// §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
    ReservedOpcode(u8),
    /// §5.5: control frames must not be fragmented (FIN must be set).
    FragmentedControlFrame,
    /// §5.5: control frames carry at most 125 payload bytes.
    ControlFrameTooLong(u64),
    /// §5.1: a server must fail on a frame from the client that is not masked.
    UnmaskedFrame,
    /// §5.1: a client must fail on a frame from the server that is masked.
    MaskedFrame,
    /// §5.2: the most significant bit of a 64-bit payload length must be 0.
    LengthOverflow,
    /// §5.4: a continuation frame arrived with no fragmented message open.
    UnexpectedContinuation,
    /// §5.4: a new text or binary frame arrived while a fragmented message was open.
    ExpectedContinuation,
    /// §10.4: a frame longer than the configured `max_frame_size`.
    FrameTooLarge {
        /// The frame's payload length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// §10.4: a message longer than the configured `max_message_size` (or the
    /// capacity of the caller's message buffer).
    MessageTooLarge {
        /// The message length so far, including the frame that broke the limit.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Not a rule of RFC 6455 but the endpoint's own limit: a message that
    /// is within `max_message_size` does not fit the memory budget the
    /// connection shares with others (1013, Try Again Later, from the IANA
    /// registry of close codes).
    OverBudget {
        /// The message length so far, including the chunk that did not fit.
        len: u64,
        /// Bytes left in the budget when the message asked for more.
        available: u64,
    },
    /// §8.1: a text message is not valid UTF-8 (for a compressed message:
    /// its inflated bytes).
    InvalidUtf8,
    /// RFC 7692 §7.2.2: a compressed (permessage-deflate) message does not
    /// inflate: corrupt DEFLATE data, or a back-reference beyond the
    /// window that was negotiated (1007).
    InvalidCompressedData,
    /// §5.5.1: a close payload of exactly one byte (too short for a code).
    TruncatedCloseCode,
    /// §7.4.1: a close code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// §5.5.1: a close reason that is not valid UTF-8.
    InvalidCloseReason,
    /// §7.1.5: the transport ended without a closing handshake.
    UnexpectedEof,
}

impl ProtocolError {
    /// The close code to send when failing the connection for this error
    /// (§7.4.1). [`UnexpectedEof`](ProtocolError::UnexpectedEof) maps to 1006,
    /// which is reported locally and never sent.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_DATA,
            ProtocolError::OverBudget { .. } => CloseCode::TRY_AGAIN_LATER,
            ProtocolError::UnexpectedEof => CloseCode::ABNORMAL,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the close frame we send (fits in 123 bytes).
    pub const fn close_reason(&self) -> &'static str {
        match self {
            ProtocolError::ReservedBits(_) => "reserved bits set",
            ProtocolError::ReservedOpcode(_) => "reserved opcode",
            ProtocolError::FragmentedControlFrame => "fragmented control frame",
            ProtocolError::ControlFrameTooLong(_) => "control frame too long",
            ProtocolError::UnmaskedFrame => "frame not masked",
            ProtocolError::MaskedFrame => "frame masked by server",
            ProtocolError::LengthOverflow => "payload length overflow",
            ProtocolError::UnexpectedContinuation => "unexpected continuation frame",
            ProtocolError::ExpectedContinuation => "expected continuation frame",
            ProtocolError::FrameTooLarge { .. } => "frame too large",
            ProtocolError::MessageTooLarge { .. } => "message too large",
            ProtocolError::OverBudget { .. } => "server memory budget exhausted",
            ProtocolError::InvalidUtf8 => "invalid UTF-8 in text message",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
            ProtocolError::TruncatedCloseCode => "close payload of one byte",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::InvalidCloseReason => "invalid UTF-8 in close reason",
            ProtocolError::UnexpectedEof => "connection ended without a close frame",
        }
    }
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::ReservedBits(bits) => {
                write!(
                    f,
                    "reserved bits {bits:#05b} set without a negotiated extension (RFC 6455 §5.2)"
                )
            }
            ProtocolError::ReservedOpcode(op) => {
                write!(f, "reserved opcode {op:#x} (RFC 6455 §5.2)")
            }
            ProtocolError::ControlFrameTooLong(len) => {
                write!(
                    f,
                    "control frame of {len} bytes, the limit is 125 (RFC 6455 §5.5)"
                )
            }
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds max_frame_size {max}")
            }
            ProtocolError::MessageTooLarge { len, max } => {
                write!(
                    f,
                    "message of at least {len} bytes exceeds the limit of {max}"
                )
            }
            ProtocolError::OverBudget { len, available } => {
                write!(
                    f,
                    "message of at least {len} bytes does not fit the memory budget shared \
                     by connections ({available} bytes left)"
                )
            }
            ProtocolError::InvalidCloseCode(code) => {
                write!(f, "close code {code} may not be sent (RFC 6455 §7.4.1)")
            }
            other => f.write_str(other.close_reason()),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// A frame the caller asked to send cannot be sent. Nothing was written and
/// the connection state did not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The output buffer is too small; `needed` bytes would fit this frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: u64,
    },
    /// We already sent a close frame (or the connection failed): only the
    /// close handshake may continue (§5.5.1).
    Closing,
    /// A fragmented message is open; finish it before starting another (§5.4).
    MessageInProgress,
    /// Payload was given with no frame started by
    /// [`Sender::start_frame`](crate::connection::Sender::start_frame).
    NoFrameInProgress,
    /// A frame started with [`Sender::start_frame`](crate::connection::Sender::start_frame)
    /// still needs payload bytes.
    FrameInProgress,
    /// Only data frames have a payload the caller can write itself
    /// ([`Sender::encode_header`](crate::connection::Sender::encode_header)).
    NotData,
    /// Control frame payloads are limited to 125 bytes (§5.5).
    ControlPayloadTooLong(usize),
    /// The close code may not be sent on the wire (§7.4.1).
    InvalidCloseCode(u16),
    /// Text fragments must form valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A client's frames are masked (§5.3): their payload cannot be passed
    /// to the transport as it is
    /// ([`Sender::pass_payload`](crate::connection::Sender::pass_payload)).
    MaskedFrame,
    /// A message marked with RSV bits
    /// ([`Sender::set_next_message_rsv`](crate::connection::Sender::set_next_message_rsv),
    /// e.g. RSV1 for a compressed one) that no negotiated extension owns
    /// (they are not in [`Config::extension_rsv`](crate::Config::extension_rsv)).
    NotNegotiated,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: the frame needs {needed} bytes")
            }
            SendError::Closing => f.write_str("the connection is closing: no more data frames"),
            SendError::MessageInProgress => f.write_str("a fragmented message is still open"),
            SendError::NoFrameInProgress => f.write_str("no streamed frame is in progress"),
            SendError::FrameInProgress => f.write_str("a streamed frame still needs payload"),
            SendError::NotData => f.write_str("only data frames can be encoded header first"),
            SendError::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes, the limit is 125")
            }
            SendError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            SendError::InvalidUtf8 => f.write_str("text fragments are not valid UTF-8"),
            SendError::MaskedFrame => {
                f.write_str("a masked frame's payload must be encoded, not passed as it is")
            }
            SendError::NotNegotiated => f.write_str("RSV bits no extension negotiated"),
        }
    }
}

impl core::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// §7.4.1: every error maps to a code we may send, except the local-only 1006.
    #[test]
    fn close_codes_are_sendable_except_eof() {
        let all = [
            ProtocolError::ReservedBits(4),
            ProtocolError::ReservedOpcode(3),
            ProtocolError::FragmentedControlFrame,
            ProtocolError::ControlFrameTooLong(126),
            ProtocolError::UnmaskedFrame,
            ProtocolError::MaskedFrame,
            ProtocolError::LengthOverflow,
            ProtocolError::UnexpectedContinuation,
            ProtocolError::ExpectedContinuation,
            ProtocolError::FrameTooLarge { len: 2, max: 1 },
            ProtocolError::MessageTooLarge { len: 2, max: 1 },
            ProtocolError::OverBudget {
                len: 2,
                available: 1,
            },
            ProtocolError::InvalidUtf8,
            ProtocolError::InvalidCompressedData,
            ProtocolError::TruncatedCloseCode,
            ProtocolError::InvalidCloseCode(5),
            ProtocolError::InvalidCloseReason,
        ];
        for e in all {
            assert!(e.close_code().is_sendable(), "{e:?}");
            assert!(e.close_reason().len() <= crate::close::MAX_REASON_LEN);
        }
        assert_eq!(
            ProtocolError::UnexpectedEof.close_code(),
            CloseCode::ABNORMAL
        );
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode(1007));
        assert_eq!(
            ProtocolError::InvalidCompressedData.close_code(),
            CloseCode(1007)
        );
        assert_eq!(
            ProtocolError::MessageTooLarge { len: 2, max: 1 }.close_code(),
            CloseCode(1009)
        );
        assert_eq!(
            ProtocolError::OverBudget {
                len: 2,
                available: 1
            }
            .close_code(),
            CloseCode(1013)
        );
        assert_eq!(
            ProtocolError::ReservedOpcode(3).close_code(),
            CloseCode(1002)
        );
    }
}
