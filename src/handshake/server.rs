//! The server side of the opening handshake (RFC 6455 §4.2).
//!
//! 1. Append received bytes to a buffer and call [`Request::parse`] until it
//!    returns a request (or an error: answer it with [`write_rejection`]).
//! 2. Look at the request (path, Origin, offered subprotocols and extensions)
//!    and decide: [`Request::accept`] writes the 101 response,
//!    [`write_rejection`] writes a refusal with a status of your choice.
//! 3. Bytes after [`Request::len`] are the first frames: feed them to the
//!    [`Connection`](crate::Connection).
//!
//! ```
//! use wsock::handshake::server::{Accept, Request};
//! use wsock::handshake::EMPTY_HEADER;
//!
//! let wire = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
//! let mut headers = [EMPTY_HEADER; 16];
//! let request = Request::parse(wire, &mut headers, 8192)?.expect("complete");
//! assert_eq!(request.path, "/chat");
//! assert!(request.subprotocols().any(|p| p == "chat"));
//!
//! let mut out = [0u8; 256];
//! let n = request.accept(&Accept { subprotocol: Some("chat"), ..Accept::default() }, &mut out)?;
//! let response = core::str::from_utf8(&out[..n]).unwrap();
//! assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
//! assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
//! # Ok::<(), wsock::handshake::HandshakeError>(())
//! ```

use super::writer::Writer;
use super::{
    HandshakeError, Header, KEY_LEN, accept_key, check_extra_headers, check_size, first_header,
    from_httparse, has_token, header_str, list_elements,
};
use base64::Engine;

/// A validated upgrade request, borrowed from the input buffer.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request target (path and query), e.g. `/chat?room=1`.
    pub path: &'a str,
    /// The `Host` header.
    pub host: &'a str,
    /// The `Origin` header, sent by browsers (§4.2.1, §10.2).
    pub origin: Option<&'a str>,
    /// The `Sec-WebSocket-Key` (validated: 16 bytes in base64).
    pub key: &'a str,
    /// Every header field, in order.
    pub headers: &'a [Header<'a>],
    /// The length of the header block; bytes after it are frames.
    pub len: usize,
}

impl<'a> Request<'a> {
    /// Parses and validates an upgrade request from the front of `buf`.
    /// Returns `Ok(None)` while the header block is incomplete; fails once it
    /// grows past `max_header_bytes` or has more fields than `headers` holds.
    pub fn parse(
        buf: &'a [u8],
        headers: &'a mut [Header<'a>],
        max_header_bytes: usize,
    ) -> Result<Option<Request<'a>>, HandshakeError> {
        let mut req = httparse::Request::new(headers);
        let status = req.parse(buf).map_err(from_httparse)?;
        let Some(len) = check_size(status, buf.len(), max_header_bytes)? else {
            return Ok(None);
        };
        let method = req.method.unwrap_or("");
        // httparse accepts HTTP/1.0 and 1.1; §4.1 requires 1.1 or later.
        let http_1_1 = req.version == Some(1);
        let path = req
            .path
            .ok_or(HandshakeError::Malformed("no request target"))?;
        let request = Request::from_head(method, http_1_1, path, req.headers)?;
        Ok(Some(Request { len, ..request }))
    }

    /// Validates a request head that another HTTP parser has read (an HTTP
    /// library's request type, say): its method, whether it is HTTP/1.1, its
    /// target and its header fields. The same checks as
    /// [`parse`](Request::parse); [`len`](Request::len) is 0.
    ///
    /// ```
    /// use wsock::handshake::{server::Request, Header};
    /// let headers = [
    ///     Header { name: "host", value: b"example.com" },
    ///     Header { name: "upgrade", value: b"websocket" },
    ///     Header { name: "connection", value: b"Upgrade" },
    ///     Header { name: "sec-websocket-key", value: b"dGhlIHNhbXBsZSBub25jZQ==" },
    ///     Header { name: "sec-websocket-version", value: b"13" },
    /// ];
    /// let request = Request::from_head("GET", true, "/chat", &headers)?;
    /// assert_eq!(request.host, "example.com");
    /// # Ok::<(), wsock::handshake::HandshakeError>(())
    /// ```
    pub fn from_head(
        method: &str,
        http_1_1: bool,
        path: &'a str,
        headers: &'a [Header<'a>],
    ) -> Result<Request<'a>, HandshakeError> {
        if method != "GET" {
            return Err(HandshakeError::MethodNotGet);
        }
        if !http_1_1 {
            return Err(HandshakeError::Malformed("HTTP version must be 1.1"));
        }
        let host = header_str(headers, "Host").ok_or(HandshakeError::MissingHeader("Host"))?;
        if !has_token(headers, "Upgrade", "websocket") {
            return Err(HandshakeError::MissingHeader("Upgrade: websocket"));
        }
        if !has_token(headers, "Connection", "upgrade") {
            return Err(HandshakeError::MissingHeader("Connection: Upgrade"));
        }
        let key = header_str(headers, "Sec-WebSocket-Key")
            .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Key"))?;
        let mut decoded = [0u8; 18];
        match base64::engine::general_purpose::STANDARD.decode_slice(key, &mut decoded) {
            Ok(16) if key.len() == KEY_LEN => {}
            _ => return Err(HandshakeError::InvalidKey),
        }
        match header_str(headers, "Sec-WebSocket-Version") {
            None => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Version")),
            Some("13") => {}
            Some(_) => return Err(HandshakeError::UnsupportedVersion),
        }
        Ok(Request {
            path,
            host,
            origin: header_str(headers, "Origin"),
            key,
            headers,
            len: 0,
        })
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn subprotocols(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        list_elements(self.headers, "Sec-WebSocket-Protocol")
    }

    /// The extensions the client offers, each with its parameters
    /// (e.g. `permessage-deflate; client_max_window_bits`).
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        list_elements(self.headers, "Sec-WebSocket-Extensions")
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        first_header(self.headers, name)
    }

    /// Writes the `101 Switching Protocols` response into `out`; returns its
    /// length. A chosen subprotocol must be one the client offered.
    pub fn accept(&self, accept: &Accept<'_>, out: &mut [u8]) -> Result<usize, HandshakeError> {
        let mut w = Writer::new(out);
        w.put(b"HTTP/1.1 101 Switching Protocols\r\n")?;
        self.response_fields(accept, |name, value| w.header(name, value).map(drop))?;
        w.put(b"\r\n")?;
        Ok(w.finish())
    }

    /// The header fields of the `101 Switching Protocols` response, in
    /// order, each passed to `field` (§4.2.2): `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Accept`, the chosen subprotocol and extensions, then
    /// [`Accept::headers`]. [`accept`](Request::accept) writes them; a server
    /// built on an HTTP library puts them in its response type. Fails, before
    /// the first field, if the answer is invalid (as `accept` does).
    pub fn response_fields(
        &self,
        accept: &Accept<'_>,
        mut field: impl FnMut(&str, &[u8]) -> Result<(), HandshakeError>,
    ) -> Result<(), HandshakeError> {
        if let Some(chosen) = accept.subprotocol
            && !self.subprotocols().any(|p| p == chosen)
        {
            return Err(HandshakeError::InvalidInput("subprotocol was not offered"));
        }
        if let Some(ext) = accept.extensions
            && !super::is_safe_value(ext)
        {
            return Err(HandshakeError::InvalidInput(
                "extension value contains control characters",
            ));
        }
        check_extra_headers(accept.headers)?;
        field("Upgrade", b"websocket")?;
        field("Connection", b"Upgrade")?;
        field("Sec-WebSocket-Accept", &accept_key(self.key.as_bytes()))?;
        if let Some(protocol) = accept.subprotocol {
            field("Sec-WebSocket-Protocol", protocol.as_bytes())?;
        }
        if let Some(ext) = accept.extensions {
            field("Sec-WebSocket-Extensions", ext.as_bytes())?;
        }
        for (name, value) in accept.headers {
            field(name, value.as_bytes())?;
        }
        Ok(())
    }
}

/// The application's answer to an acceptable request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accept<'a> {
    /// The subprotocol to select, one of [`Request::subprotocols`].
    pub subprotocol: Option<&'a str>,
    /// The `Sec-WebSocket-Extensions` value for the extensions accepted.
    pub extensions: Option<&'a str>,
    /// Extra response headers (names must be HTTP tokens; values without CR/LF).
    pub headers: &'a [(&'a str, &'a str)],
}

/// Writes a refusal: `HTTP/1.1 <status> <reason>` with `Connection: close`,
/// an empty body, and for 426 the `Sec-WebSocket-Version: 13` header that
/// §4.4 requires. Use `error.status()` to answer a [`HandshakeError`].
///
/// ```
/// use wsock::handshake::{server::write_rejection, HandshakeError};
/// let mut out = [0u8; 128];
/// let n = write_rejection(HandshakeError::UnsupportedVersion.status(), &[], &mut out)?;
/// let text = core::str::from_utf8(&out[..n]).unwrap();
/// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
/// assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
/// # Ok::<(), HandshakeError>(())
/// ```
pub fn write_rejection(
    status: u16,
    headers: &[(&str, &str)],
    out: &mut [u8],
) -> Result<usize, HandshakeError> {
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 ")?
        .put_u16(status)?
        .put(b" ")?
        .put_str(reason_phrase(status))?
        .put(b"\r\nConnection: close\r\nContent-Length: 0\r\n")?;
    rejection_fields(status, headers, |name, value| {
        w.header(name, value).map(drop)
    })?;
    w.put(b"\r\n")?;
    Ok(w.finish())
}

/// The header fields every rejection with `status` carries, each passed to
/// `field`: `Sec-WebSocket-Version: 13` for 426 (§4.4), then `headers`.
/// [`write_rejection`] writes them (after its own framing fields); a server
/// built on an HTTP library puts them in its response type. Fails, before
/// the first field, for a status that is not a 3-digit non-101 code or a
/// header that is not valid HTTP.
pub fn rejection_fields(
    status: u16,
    headers: &[(&str, &str)],
    mut field: impl FnMut(&str, &[u8]) -> Result<(), HandshakeError>,
) -> Result<(), HandshakeError> {
    if !(100..=999).contains(&status) || status == 101 {
        return Err(HandshakeError::InvalidInput(
            "rejection status must be a 3-digit non-101 code",
        ));
    }
    check_extra_headers(headers)?;
    if status == 426 {
        field("Sec-WebSocket-Version", b"13")?;
    }
    for (name, value) in headers {
        field(name, value.as_bytes())?;
    }
    Ok(())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::EMPTY_HEADER;

    const GOOD: &[u8] =
        b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com:9001\r\nUpgrade: WebSocket\r\n\
Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-custom\r\n\r\n";

    fn parse(buf: &[u8]) -> Result<Option<usize>, HandshakeError> {
        let mut headers = [EMPTY_HEADER; 16];
        Request::parse(buf, &mut headers, 1024).map(|r| r.map(|r| r.len))
    }

    fn replace(from: &str, to: &str) -> heapless::Vec<u8, 512> {
        let text = core::str::from_utf8(GOOD).unwrap();
        let mut out = heapless::Vec::new();
        let (a, b) = text.split_once(from).unwrap();
        out.extend_from_slice(a.as_bytes()).unwrap();
        out.extend_from_slice(to.as_bytes()).unwrap();
        out.extend_from_slice(b.as_bytes()).unwrap();
        out
    }

    /// §4.2.1: a valid request, with token lists and case-insensitive values.
    #[test]
    fn parses_valid_request() {
        let mut headers = [EMPTY_HEADER; 16];
        let req = Request::parse(GOOD, &mut headers, 1024).unwrap().unwrap();
        assert_eq!(req.path, "/chat?x=1");
        assert_eq!(req.host, "example.com:9001");
        assert_eq!(req.origin, Some("http://example.com"));
        assert_eq!(req.len, GOOD.len());
        let exts: heapless::Vec<&str, 4> = req.extensions().collect();
        assert_eq!(
            exts.as_slice(),
            ["permessage-deflate; client_max_window_bits", "x-custom"]
        );
        assert_eq!(req.subprotocols().count(), 0);
        assert_eq!(req.header("origin"), Some(&b"http://example.com"[..]));
    }

    /// The request may arrive in pieces: every prefix is "incomplete", never an error.
    #[test]
    fn every_prefix_is_partial() {
        for cut in 0..GOOD.len() {
            assert_eq!(parse(&GOOD[..cut]), Ok(None), "cut {cut}");
        }
    }

    /// §4.2.1: each required element, missing or wrong, and the status it earns.
    #[test]
    fn invalid_requests_get_the_right_status() {
        let cases: [(&str, &str, u16); 8] = [
            ("GET /chat", "POST /chat", 405),
            ("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost", 400),
            ("Host: example.com:9001\r\n", "", 400),
            ("Upgrade: WebSocket", "Upgrade: h2c", 400),
            ("keep-alive, Upgrade", "keep-alive", 400),
            ("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ", 400),
            (
                "dGhlIHNhbXBsZSBub25jZQ==",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                400,
            ),
            ("Version: 13", "Version: 8", 426),
        ];
        for (from, to, status) in cases {
            let req = replace(from, to);
            let err = parse(&req).unwrap_err();
            assert_eq!(err.status(), status, "{from} -> {to}: {err:?}");
        }
    }

    /// Bounded: a header block beyond the limit fails, complete or not.
    #[test]
    fn oversized_requests_are_rejected() {
        let mut headers = [EMPTY_HEADER; 16];
        assert_eq!(
            Request::parse(GOOD, &mut headers, 64).unwrap_err(),
            HandshakeError::HeadersTooLarge { limit: 64 }
        );
        let mut headers = [EMPTY_HEADER; 16];
        let partial = [b'a'; 100];
        assert!(Request::parse(&partial[..], &mut headers, 64).is_err());
        let mut few = [EMPTY_HEADER; 3];
        assert_eq!(
            Request::parse(GOOD, &mut few, 1024).unwrap_err(),
            HandshakeError::TooManyHeaders
        );
        assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
    }

    /// §4.2.2: the chosen subprotocol must be one offered; no header injection.
    #[test]
    fn accept_validates_choices() {
        let req = replace("Origin", "Sec-WebSocket-Protocol: chat, v2\r\nOrigin");
        let mut headers = [EMPTY_HEADER; 16];
        let request = Request::parse(&req, &mut headers, 1024).unwrap().unwrap();
        let mut out = [0u8; 512];
        let bad = Accept {
            subprotocol: Some("v3"),
            ..Accept::default()
        };
        assert!(request.accept(&bad, &mut out).is_err());
        let inject = Accept {
            headers: &[("X", "1\r\nSet-Cookie: a")],
            ..Accept::default()
        };
        assert!(request.accept(&inject, &mut out).is_err());
        let good = Accept {
            subprotocol: Some("v2"),
            headers: &[("X-Server", "wsock")],
            ..Accept::default()
        };
        let n = request.accept(&good, &mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert!(text.contains("\r\nSec-WebSocket-Protocol: v2\r\n"));
        assert!(text.contains("\r\nX-Server: wsock\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(
            request.accept(&good, &mut out[..50]),
            Err(HandshakeError::BufferTooSmall)
        );
    }

    #[test]
    fn rejection_statuses() {
        let mut out = [0u8; 128];
        let n = write_rejection(403, &[], &mut out).unwrap();
        assert!(out[..n].starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
        assert!(write_rejection(101, &[], &mut out).is_err());
    }
}
