//! The opening handshake: an HTTP/1.1 upgrade (RFC 6455 §4).
//!
//! - [`client`]: write the upgrade request, validate the server's response.
//! - [`server`]: parse and validate a request into a borrowed view, then
//!   write the 101 response or a rejection.
//! - [`deflate`]: negotiating permessage-deflate (RFC 7692 §5, §7.1) in
//!   `Sec-WebSocket-Extensions` (not wired into the handshakes yet).
//!
//! Both sides parse with `httparse` into caller-provided header storage
//! (`[Header; N]`), accept input in any number of pieces (the caller keeps
//! appending to its buffer and calls again), and are bounded: a header block
//! larger than `max_header_bytes` or with more headers than the storage holds
//! is rejected, never buffered further. After a successful handshake the
//! frame stream starts right after the header block; any bytes there belong
//! to the [`Connection`](crate::Connection).

pub mod client;
pub mod deflate;
pub mod server;
#[cfg(any(
    test,
    not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))
))]
mod sha1;
mod url;
mod writer;

pub use httparse::{EMPTY_HEADER, Header};
pub use url::{Url, UrlError};

use base64::Engine;

/// The GUID appended to the key for the accept hash (§1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The default bound on a handshake's header block, in bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 8 * 1024;

/// The length of a `Sec-WebSocket-Key` (16 bytes in base64).
pub const KEY_LEN: usize = 24;

/// The length of a `Sec-WebSocket-Accept` value (20 bytes of SHA-1 in base64).
pub const ACCEPT_LEN: usize = 28;

/// SHA-1(key + GUID), with the CPU's SHA instructions where it has them.
#[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))]
fn sha1_digest(key: &[u8]) -> [u8; 20] {
    use ::sha1::Digest;
    // One hasher, used in place to the end: `chain_update` and `finalize`
    // move its state, each move one more copy on the stack.
    let mut hasher = ::sha1::Sha1::new();
    hasher.update(key);
    hasher.update(GUID);
    hasher.finalize_reset().into()
}

/// SHA-1(key + GUID), small (targets without SHA instructions: see `sha1.rs`).
#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
fn sha1_digest(key: &[u8]) -> [u8; 20] {
    sha1::digest(&[key, GUID])
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)) (§4.2.2).
///
/// ```
/// // The example from RFC 6455 §1.3.
/// let accept = wsock::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(&accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let digest = sha1_digest(key);
    let mut out = [0u8; ACCEPT_LEN];
    // 20 bytes always encode to exactly 28 base64 characters.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out);
    out
}

/// Why a handshake failed. On the server side, [`status`](HandshakeError::status)
/// is the HTTP status to answer with
/// ([`server::write_rejection`] writes that answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The header block exceeds `max_header_bytes` (431).
    HeadersTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More header fields than the header storage holds (431).
    TooManyHeaders,
    /// Not parseable as HTTP/1.1 (400); says which part.
    Malformed(&'static str),
    /// §4.2.1: the method must be GET (405).
    MethodNotGet,
    /// §4.2.1: a required header is missing or lacks the required token (400).
    MissingHeader(&'static str),
    /// §4.2.1: `Sec-WebSocket-Key` does not decode to 16 bytes (400).
    InvalidKey,
    /// §4.4: a `Sec-WebSocket-Version` other than 13 (426, with
    /// `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// The server answered with a status other than 101 (client side).
    Rejected {
        /// The HTTP status code.
        status: u16,
    },
    /// §4.1: `Sec-WebSocket-Accept` does not match our key.
    InvalidAccept,
    /// §4.1: the server selected a subprotocol we did not offer.
    UnexpectedSubprotocol,
    /// §4.1: the server selected an extension we did not offer.
    UnexpectedExtension,
    /// RFC 7692 §7.1: the server's permessage-deflate response breaks the
    /// rules, or asks for what we did not offer (client side).
    Deflate(deflate::NegotiationError),
    /// The output buffer is too small for the request or response.
    BufferTooSmall,
    /// A header name or value supplied by the application is not valid HTTP
    /// (it would allow header injection), or a chosen subprotocol was not offered.
    InvalidInput(&'static str),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub const fn status(&self) -> u16 {
        match self {
            HandshakeError::HeadersTooLarge { .. } | HandshakeError::TooManyHeaders => 431,
            HandshakeError::MethodNotGet => 405,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::BufferTooSmall | HandshakeError::InvalidInput(_) => 500,
            HandshakeError::Rejected { status } => *status,
            _ => 400,
        }
    }
}

impl core::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandshakeError::HeadersTooLarge { limit } => {
                write!(f, "handshake header block exceeds {limit} bytes")
            }
            HandshakeError::TooManyHeaders => f.write_str("too many handshake header fields"),
            HandshakeError::Malformed(what) => write!(f, "malformed HTTP handshake: {what}"),
            HandshakeError::MethodNotGet => f.write_str("the upgrade request must use GET"),
            HandshakeError::MissingHeader(what) => write!(f, "handshake lacks {what}"),
            HandshakeError::InvalidKey => {
                f.write_str("Sec-WebSocket-Key is not 16 bytes in base64")
            }
            HandshakeError::UnsupportedVersion => {
                f.write_str("unsupported Sec-WebSocket-Version (only 13 is supported)")
            }
            HandshakeError::Rejected { status } => {
                write!(
                    f,
                    "server answered HTTP {status} instead of 101 Switching Protocols"
                )
            }
            HandshakeError::InvalidAccept => {
                f.write_str("Sec-WebSocket-Accept does not match the key we sent")
            }
            HandshakeError::UnexpectedSubprotocol => {
                f.write_str("server selected a subprotocol we did not offer")
            }
            HandshakeError::UnexpectedExtension => {
                f.write_str("server selected an extension we did not offer")
            }
            HandshakeError::Deflate(e) => write!(f, "permessage-deflate response: {e}"),
            HandshakeError::BufferTooSmall => f.write_str("handshake output buffer too small"),
            HandshakeError::InvalidInput(what) => write!(f, "invalid handshake input: {what}"),
        }
    }
}

impl core::error::Error for HandshakeError {}

/// Maps an httparse error to ours.
fn from_httparse(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid line ending"),
        httparse::Error::Status => HandshakeError::Malformed("invalid status line"),
        httparse::Error::Token => HandshakeError::Malformed("invalid token"),
        httparse::Error::Version => HandshakeError::Malformed("not HTTP/1.x"),
    }
}

/// Checks the bound on a header block: complete within the limit, or still
/// partial and not yet past it.
fn check_size(
    status: httparse::Status<usize>,
    buffered: usize,
    limit: usize,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        httparse::Status::Complete(len) if len <= limit => Ok(Some(len)),
        httparse::Status::Partial if buffered < limit => Ok(None),
        _ => Err(HandshakeError::HeadersTooLarge { limit }),
    }
}

/// All values of header `name` (case-insensitive), in order.
fn header_values<'h, 'b>(
    headers: &'h [Header<'b>],
    name: &'static str,
) -> impl Iterator<Item = &'b [u8]> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The first value of header `name` (case-insensitive).
fn first_header<'b>(headers: &[Header<'b>], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The first value of header `name`, as trimmed text.
fn header_str<'b>(headers: &[Header<'b>], name: &str) -> Option<&'b str> {
    first_header(headers, name)
        .and_then(|v| core::str::from_utf8(v).ok())
        .map(str::trim_ascii)
}

/// The comma-separated elements of every `name` header, trimmed, empty ones
/// skipped (RFC 9110 §5.6.1 list syntax).
fn list_elements<'h, 'b>(
    headers: &'h [Header<'b>],
    name: &'static str,
) -> impl Iterator<Item = &'b str> + 'h {
    header_values(headers, name)
        .filter_map(|v| core::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// True if a comma-list header `name` contains `token` (case-insensitive).
fn has_token(headers: &[Header<'_>], name: &'static str, token: &str) -> bool {
    list_elements(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The name of an extension offer or selection (`name; param=value`).
fn extension_name(element: &str) -> &str {
    element.split(';').next().unwrap_or("").trim_ascii()
}

/// True if `s` is a non-empty HTTP token (RFC 9110 §5.6.2).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// True if `s` can be a header value we write (no CR, LF or other controls
/// except tab).
fn is_safe_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Checks application-supplied extra headers before they are written.
fn check_extra_headers(headers: &[(&str, &str)]) -> Result<(), HandshakeError> {
    for (name, value) in headers {
        if !is_token(name) {
            return Err(HandshakeError::InvalidInput(
                "header name is not an HTTP token",
            ));
        }
        if !is_safe_value(value) {
            return Err(HandshakeError::InvalidInput(
                "header value contains control characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §1.3 / §4.2.2: the accept key example from the RFC.
    #[test]
    fn rfc_accept_key() {
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// §4.2.1: Connection and Upgrade are comma lists, compared case-insensitively.
    #[test]
    fn token_lists() {
        let headers = [
            Header {
                name: "connection",
                value: b"keep-alive, UPGRADE",
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"chat, ,superchat",
            },
            Header {
                name: "sec-websocket-protocol",
                value: b"v2",
            },
        ];
        assert!(has_token(&headers, "Connection", "upgrade"));
        assert!(!has_token(&headers, "Connection", "close"));
        let protos: heapless::Vec<&str, 4> =
            list_elements(&headers, "Sec-WebSocket-Protocol").collect();
        assert_eq!(protos.as_slice(), ["chat", "superchat", "v2"]);
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(check_extra_headers(&[("X-Ok", "fine value")]).is_ok());
        assert!(check_extra_headers(&[("X-Bad", "a\r\nInjected: yes")]).is_err());
        assert!(check_extra_headers(&[("Bad Name", "v")]).is_err());
    }
}
