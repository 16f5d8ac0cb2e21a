//! The client side of the opening handshake (RFC 6455 §4.1).
//!
//! 1. Describe the request ([`ClientRequest`]) and make a
//!    [`ClientHandshake`], which draws a fresh 16-byte key from your RNG.
//! 2. [`ClientHandshake::write_request`] writes the upgrade request.
//! 3. Append the server's bytes to a buffer and call
//!    [`ClientHandshake::receive`] until it returns the validated response.
//! 4. Bytes after [`Response::len`] are the first frames: feed them to the
//!    [`Connection`](crate::Connection).

use super::writer::Writer;
use super::{
    ACCEPT_LEN, DEFAULT_MAX_HEADER_BYTES, HandshakeError, Header, KEY_LEN, Url, accept_key,
    check_extra_headers, check_size, extension_name, first_header, from_httparse, has_token,
    header_str, is_token, list_elements,
};
use base64::Engine;

/// What the client asks for.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// Where to connect: host, port and resource.
    pub url: Url<'a>,
    /// An `Origin` header, if the client should send one.
    pub origin: Option<&'a str>,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: &'a [&'a str],
    /// Extension offers, e.g. `permessage-deflate; client_max_window_bits`.
    pub extensions: &'a [&'a str],
    /// Extra request headers.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> ClientRequest<'a> {
    /// A request for `url` with no options.
    pub const fn new(url: Url<'a>) -> Self {
        ClientRequest {
            url,
            origin: None,
            subprotocols: &[],
            extensions: &[],
            headers: &[],
        }
    }
}

/// A client handshake in progress: it remembers the key and the offers, to
/// check the response against them.
///
/// ```
/// use wsock::handshake::client::{ClientHandshake, ClientRequest};
/// use wsock::handshake::{Url, EMPTY_HEADER};
/// # struct Rng(u32);
/// # impl rand_core::TryRng for Rng { type Error = core::convert::Infallible;
/// #   fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
/// #   fn try_next_u64(&mut self) -> Result<u64, Self::Error> { self.0 += 1; Ok(self.0.into()) }
/// #   fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { d.fill(7); Ok(()) } }
/// # impl rand_core::TryCryptoRng for Rng {}
/// # let mut rng = Rng(0);
/// let url = Url::parse("ws://127.0.0.1:9001/chat").unwrap();
/// let request = ClientRequest { subprotocols: &["chat"], ..ClientRequest::new(url) };
/// let handshake = ClientHandshake::new(request, &mut rng);
/// let mut out = [0u8; 512];
/// let n = handshake.write_request(&mut out)?;
/// assert!(out[..n].starts_with(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"));
///
/// // The server's answer, as it might arrive (with a first frame right behind it).
/// let accept = wsock::handshake::accept_key(handshake.key().as_bytes());
/// let mut reply = Vec::new();
/// reply.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
/// reply.extend_from_slice(b"Connection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Accept: ");
/// reply.extend_from_slice(&accept);
/// reply.extend_from_slice(b"\r\n\r\n\x81\x02hi");
/// let mut headers = [EMPTY_HEADER; 16];
/// let response = handshake.receive(&reply, &mut headers)?.expect("complete");
/// assert_eq!(response.subprotocol, Some("chat"));
/// assert_eq!(&reply[response.len..], b"\x81\x02hi"); // frames: not lost
/// # Ok::<(), wsock::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientHandshake<'a> {
    request: ClientRequest<'a>,
    key: [u8; KEY_LEN],
    accept: [u8; ACCEPT_LEN],
    max_header_bytes: usize,
}

/// The server's validated `101` response, borrowed from the input buffer.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// The subprotocol the server selected (one we offered).
    pub subprotocol: Option<&'a str>,
    /// Every header field, in order.
    pub headers: &'a [Header<'a>],
    /// The length of the header block; bytes after it are frames.
    pub len: usize,
}

impl<'a> Response<'a> {
    /// The extensions the server selected (each one we offered), with parameters.
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        list_elements(self.headers, "Sec-WebSocket-Extensions")
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        first_header(self.headers, name)
    }
}

impl<'a> ClientHandshake<'a> {
    /// Starts a handshake with a fresh random key (§4.1: a nonce of 16 random
    /// bytes, so `rng` must be cryptographically secure).
    pub fn new<R: rand_core::CryptoRng + ?Sized>(request: ClientRequest<'a>, rng: &mut R) -> Self {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let mut key = [0u8; KEY_LEN];
        // 16 bytes always encode to exactly 24 base64 characters.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut key);
        ClientHandshake {
            request,
            accept: accept_key(&key),
            key,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }

    /// Sets the bound on the response's header block (default 8 KiB).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// The `Sec-WebSocket-Key` this handshake sends.
    pub fn key(&self) -> &str {
        // Base64 output is ASCII.
        core::str::from_utf8(&self.key).unwrap_or("")
    }

    /// The request this handshake was made for.
    pub fn request(&self) -> &ClientRequest<'a> {
        &self.request
    }

    /// Writes the upgrade request into `out`; returns its length.
    pub fn write_request(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        let r = &self.request;
        check_extra_headers(r.headers)?;
        if r.subprotocols.iter().any(|p| !is_token(p)) {
            return Err(HandshakeError::InvalidInput(
                "subprotocol is not an HTTP token",
            ));
        }
        if r.extensions
            .iter()
            .chain(r.origin.iter())
            .any(|e| !super::is_safe_value(e))
        {
            return Err(HandshakeError::InvalidInput(
                "header value contains control characters",
            ));
        }
        let mut w = Writer::new(out);
        w.put(b"GET ")?.put_str(r.url.path)?;
        if let Some(query) = r.url.query {
            w.put(b"?")?.put_str(query)?;
        }
        w.put(b" HTTP/1.1\r\nHost: ")?;
        if r.url.host.contains(':') {
            w.put(b"[")?.put_str(r.url.host)?.put(b"]")?;
        } else {
            w.put_str(r.url.host)?;
        }
        if !r.url.is_default_port() {
            w.put(b":")?.put_u16(r.url.port)?;
        }
        w.put(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")?
            .header("Sec-WebSocket-Key", &self.key)?
            .put(b"Sec-WebSocket-Version: 13\r\n")?;
        if let Some(origin) = r.origin {
            w.header("Origin", origin.as_bytes())?;
        }
        write_list(&mut w, "Sec-WebSocket-Protocol", r.subprotocols)?;
        write_list(&mut w, "Sec-WebSocket-Extensions", r.extensions)?;
        for (name, value) in r.headers {
            w.header(name, value.as_bytes())?;
        }
        w.put(b"\r\n")?;
        Ok(w.finish())
    }

    /// Parses and validates the server's response from the front of `buf`.
    /// Returns `Ok(None)` while the header block is incomplete. A status other
    /// than 101 is [`HandshakeError::Rejected`] with the status.
    pub fn receive<'b>(
        &self,
        buf: &'b [u8],
        headers: &'b mut [Header<'b>],
    ) -> Result<Option<Response<'b>>, HandshakeError> {
        let mut resp = httparse::Response::new(headers);
        let status = resp.parse(buf).map_err(from_httparse)?;
        let Some(len) = check_size(status, buf.len(), self.max_header_bytes)? else {
            return Ok(None);
        };
        let code = resp.code.unwrap_or(0);
        if code != 101 {
            return Err(HandshakeError::Rejected { status: code });
        }
        let headers: &'b [Header<'b>] = resp.headers;
        if !has_token(headers, "Upgrade", "websocket") {
            return Err(HandshakeError::MissingHeader("Upgrade: websocket"));
        }
        if !has_token(headers, "Connection", "upgrade") {
            return Err(HandshakeError::MissingHeader("Connection: Upgrade"));
        }
        match header_str(headers, "Sec-WebSocket-Accept") {
            Some(accept) if accept.as_bytes() == self.accept => {}
            Some(_) => return Err(HandshakeError::InvalidAccept),
            None => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Accept")),
        }
        // §4.1: a selected subprotocol must be exactly one of ours.
        let mut selected = list_elements(headers, "Sec-WebSocket-Protocol");
        let subprotocol = selected.next();
        if selected.next().is_some()
            || subprotocol.is_some_and(|p| !self.request.subprotocols.contains(&p))
        {
            return Err(HandshakeError::UnexpectedSubprotocol);
        }
        // §4.1: every selected extension must be one we offered.
        for ext in list_elements(headers, "Sec-WebSocket-Extensions") {
            let name = extension_name(ext);
            if !self
                .request
                .extensions
                .iter()
                .any(|offer| extension_name(offer) == name)
            {
                return Err(HandshakeError::UnexpectedExtension);
            }
        }
        Ok(Some(Response {
            subprotocol,
            headers,
            len,
        }))
    }
}

/// Writes `name: a, b, c\r\n` when the list is not empty.
fn write_list(w: &mut Writer<'_>, name: &str, items: &[&str]) -> Result<(), HandshakeError> {
    let Some((first, rest)) = items.split_first() else {
        return Ok(());
    };
    w.put_str(name)?.put(b": ")?.put_str(first)?;
    for item in rest {
        w.put(b", ")?.put_str(item)?;
    }
    w.put(b"\r\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::EMPTY_HEADER;

    struct CountingRng(u8);
    impl rand_core::TryRng for CountingRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(u32::from(self.0))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(u64::from(self.0))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for b in dst {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for CountingRng {}

    fn handshake<'a>(request: ClientRequest<'a>) -> ClientHandshake<'a> {
        ClientHandshake::new(request, &mut CountingRng(0))
    }

    fn response(hs: &ClientHandshake<'_>, status: &str, extra: &str) -> heapless::String<512> {
        let mut s = heapless::String::new();
        let accept = core::str::from_utf8(&hs.accept).unwrap();
        core::fmt::write(
            &mut s,
            format_args!(
                "HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
            ),
        )
        .unwrap();
        s
    }

    fn check(hs: &ClientHandshake<'_>, resp: &str) -> Result<Option<usize>, HandshakeError> {
        let mut headers = [EMPTY_HEADER; 16];
        hs.receive(resp.as_bytes(), &mut headers)
            .map(|r| r.map(|r| r.len))
    }

    /// §4.1: the request line, Host (with a non-default port), and the required headers.
    #[test]
    fn request_contents() {
        let url = Url::parse("ws://[::1]:9001/a?b=c").unwrap();
        let req = ClientRequest {
            origin: Some("http://localhost"),
            subprotocols: &["chat", "v2"],
            extensions: &["permessage-deflate"],
            headers: &[("Authorization", "Bearer x")],
            ..ClientRequest::new(url)
        };
        let hs = handshake(req);
        let mut out = [0u8; 512];
        let n = hs.write_request(&mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert!(text.starts_with("GET /a?b=c HTTP/1.1\r\nHost: [::1]:9001\r\n"));
        for line in [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            "Origin: http://localhost",
            "Sec-WebSocket-Protocol: chat, v2",
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Authorization: Bearer x",
        ] {
            assert!(text.contains(line), "{line}");
        }
        // The key: 16 bytes (here 01..10) in base64.
        assert!(text.contains("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        // Default port: no port in Host.
        let hs = handshake(ClientRequest::new(Url::parse("wss://example.com").unwrap()));
        let n = hs.write_request(&mut out).unwrap();
        assert!(out[..n].starts_with(b"GET / HTTP/1.1\r\nHost: example.com\r\n"));
        assert_eq!(
            hs.write_request(&mut out[..40]),
            Err(HandshakeError::BufferTooSmall)
        );
    }

    /// §4.1: a valid 101 response, arriving in any number of pieces.
    #[test]
    fn accepts_valid_response_in_pieces() {
        let hs = handshake(ClientRequest::new(Url::parse("ws://h/").unwrap()));
        let resp = response(&hs, "101 Switching Protocols", "");
        for cut in 0..resp.len() {
            assert_eq!(check(&hs, &resp[..cut]), Ok(None));
        }
        assert_eq!(check(&hs, &resp), Ok(Some(resp.len())));
    }

    /// §4.1: a non-101 status is an error carrying the status.
    #[test]
    fn non_101_is_rejected_with_status() {
        let hs = handshake(ClientRequest::new(Url::parse("ws://h/").unwrap()));
        let resp = response(&hs, "403 Forbidden", "");
        assert_eq!(
            check(&hs, &resp),
            Err(HandshakeError::Rejected { status: 403 })
        );
    }

    /// §4.1: a wrong accept key, or missing Upgrade/Connection tokens, fail.
    #[test]
    fn invalid_responses() {
        let hs = handshake(ClientRequest::new(Url::parse("ws://h/").unwrap()));
        let bad_accept = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check(&hs, bad_accept), Err(HandshakeError::InvalidAccept));
        let resp = response(&hs, "101 OK", "");
        let no_upgrade = resp.replace("Upgrade: websocket", "Upgrade: h2c");
        assert!(matches!(
            check(&hs, &no_upgrade),
            Err(HandshakeError::MissingHeader(_))
        ));
        let no_conn = resp.replace("Connection: upgrade", "Connection: close");
        assert!(matches!(
            check(&hs, &no_conn),
            Err(HandshakeError::MissingHeader(_))
        ));
    }

    /// §4.1: a selected subprotocol or extension must be one we offered.
    #[test]
    fn selections_must_have_been_offered() {
        let url = Url::parse("ws://h/").unwrap();
        let hs = handshake(ClientRequest {
            subprotocols: &["chat"],
            extensions: &["permessage-deflate; client_max_window_bits"],
            ..ClientRequest::new(url)
        });
        let ok = response(
            &hs,
            "101 OK",
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        );
        assert!(check(&hs, &ok).unwrap().is_some());
        let proto = response(&hs, "101 OK", "Sec-WebSocket-Protocol: other\r\n");
        assert_eq!(
            check(&hs, &proto),
            Err(HandshakeError::UnexpectedSubprotocol)
        );
        let two = response(&hs, "101 OK", "Sec-WebSocket-Protocol: chat, chat\r\n");
        assert_eq!(check(&hs, &two), Err(HandshakeError::UnexpectedSubprotocol));
        let ext = response(&hs, "101 OK", "Sec-WebSocket-Extensions: x-other\r\n");
        assert_eq!(check(&hs, &ext), Err(HandshakeError::UnexpectedExtension));
        let none_offered = handshake(ClientRequest::new(url));
        let resp = response(&none_offered, "101 OK", "Sec-WebSocket-Protocol: chat\r\n");
        assert_eq!(
            check(&none_offered, &resp),
            Err(HandshakeError::UnexpectedSubprotocol)
        );
    }

    #[test]
    fn response_size_is_bounded() {
        let hs = handshake(ClientRequest::new(Url::parse("ws://h/").unwrap())).max_header_bytes(32);
        let resp = response(&hs, "101 OK", "");
        assert_eq!(
            check(&hs, &resp),
            Err(HandshakeError::HeadersTooLarge { limit: 32 })
        );
    }

    trait Replace {
        fn replace(&self, from: &str, to: &str) -> heapless::String<512>;
    }
    impl Replace for heapless::String<512> {
        fn replace(&self, from: &str, to: &str) -> heapless::String<512> {
            let (a, b) = self.split_once(from).unwrap();
            let mut out = heapless::String::new();
            out.push_str(a).unwrap();
            out.push_str(to).unwrap();
            out.push_str(b).unwrap();
            out
        }
    }
}
