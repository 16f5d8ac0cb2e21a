//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).
//!
//! A close payload is empty, or a 2-byte big-endian status code followed by
//! a UTF-8 reason; together they fit the 125-byte control frame limit, so a
//! reason has at most 123 bytes. Only some codes may appear on the wire:
//! 1000–1003, 1007–1014 and 3000–4999. 1005, 1006 and 1015 are reserved for
//! reporting locally and are never sent.

use crate::error::ProtocolError;

/// The largest close reason, in bytes: 125 minus the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// A close status code (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (local reporting only, never sent).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame (local reporting only).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (e.g. invalid UTF-8 in text).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1013: try again later (IANA registry): the server is overloaded for
    /// now, e.g. its memory budget is used up.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// True if the code may be sent in a close frame (RFC 6455 §7.4.1 and the
    /// IANA registry: 1000–1003, 1007–1014, 3000–4999).
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl core::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A close reason: at most 123 bytes of UTF-8, held inline.
pub type CloseReason = heapless::String<MAX_REASON_LEN>;

/// A parsed close frame body: the code and reason the peer sent, copied
/// out of the input (at most 125 bytes) so it outlives the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty.
    pub reason: CloseReason,
}

/// Parses and validates a received close payload. `Ok(None)` means the peer
/// sent no status code (an empty payload, reported locally as 1005).
///
/// ```
/// use wsock::close::{parse_close_payload, CloseCode};
/// let frame = parse_close_payload(b"\x03\xe8bye").unwrap().unwrap();
/// assert_eq!(frame.code, CloseCode::NORMAL);
/// assert_eq!(frame.reason, "bye");
/// assert!(parse_close_payload(b"").unwrap().is_none());
/// assert!(parse_close_payload(b"\x03").is_err()); // 1 byte: no room for a code
/// ```
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::TruncatedCloseCode),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let text =
                core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            let mut reason = CloseReason::new();
            // A control payload has at most 125 bytes, so the reason at most 123.
            reason
                .push_str(text)
                .map_err(|_| ProtocolError::ControlFrameTooLong(payload.len() as u64))?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §7.4.1 / §7.4.2 and the IANA registry: which codes are allowed on the wire.
    #[test]
    fn sendable_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(code).is_sendable(), "{code}");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(code).is_sendable(), "{code}");
        }
    }

    /// §5.5.1: a body, if present, starts with a 2-byte code; a 1-byte body is a protocol error.
    #[test]
    fn one_byte_payload_is_a_protocol_error() {
        assert_eq!(
            parse_close_payload(&[0x03]),
            Err(ProtocolError::TruncatedCloseCode)
        );
    }

    /// §7.4.1: codes outside the valid ranges are a protocol error.
    #[test]
    fn invalid_code_is_rejected() {
        assert_eq!(
            parse_close_payload(&[0x03, 0xed]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_payload(&[0x00, 0x00]),
            Err(ProtocolError::InvalidCloseCode(0))
        );
    }

    /// §5.5.1: the reason is UTF-8.
    #[test]
    fn reason_must_be_utf8() {
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xff"),
            Err(ProtocolError::InvalidCloseReason)
        );
        let ok = parse_close_payload(b"\x0f\xa0h\xc3\xa9llo")
            .unwrap()
            .unwrap();
        assert_eq!((ok.code, ok.reason.as_str()), (CloseCode(4000), "héllo"));
    }
}
