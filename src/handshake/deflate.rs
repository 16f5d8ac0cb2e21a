//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): parsing
//! `Sec-WebSocket-Extensions` values, the server's choice of an offer and
//! its response, the client's offer and its check of the response. Pure,
//! `no_std`, no allocation: everything borrows the header values or writes
//! into a caller's buffer. Compression itself is not here.
//!
//! - [`extensions`] splits one header value into [`Extension`]s (RFC 6455
//!   §9.1 grammar: `name; param[=token|quoted-string]`, comma-separated).
//! - [`DeflateParams::parse`] reads a `permessage-deflate` element's
//!   parameters and enforces the rules every offer and response share.
//! - Server: [`DeflateConfig::negotiate`] picks the first acceptable offer
//!   and writes the response; [`DeflateConfig::choose`] decides one offer.
//! - Client: [`DeflateParams::write_offer`] writes the offer,
//!   [`DeflateParams::check_response`] / [`check_response`] check the answer.
//!
//! **Case.** Extension and parameter names are tokens (RFC 6455 §9.1); none
//! of RFC 6455, RFC 7692 or RFC 9110 says they are case-insensitive, and
//! the names are registered in lower case. Python `websockets` and
//! pywebsocket compare them exactly (a `Permessage-Deflate` is not theirs);
//! this module compares them ASCII case-insensitively (being liberal in
//! what it reads costs nothing here) and always writes lower case, so what
//! it writes is read by the strict peers too.
//!
//! **Window bits 8.** `server_max_window_bits=8` may be offered and answered
//! (Autobahn 13.3 and 13.5 do), but common raw-deflate compressors cannot
//! produce an 8-bit window: a compressor limited to 8 uses 9 instead, which
//! is valid, because a zlib-style 9-bit stream never refers back more than
//! 250 bytes. [`Agreed::compress_window_bits`] gives the bits to compress
//! with (8 → 9). This module never *asks* a peer for 8
//! ([`DeflateParams::write_offer`] refuses it, [`DeflateConfig`] raises it
//! to 9), as some peers (Python `websockets`) then fail.

use super::HandshakeError;
use super::writer::Writer;
use crate::Role;

/// The extension's name (RFC 7692 §5).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The largest window (2^15 bytes), the default when none is negotiated.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window bits a parameter may carry (RFC 7692 §7.1.2).
pub const MIN_WINDOW_BITS: u8 = 8;

// ---------------------------------------------------------------------------
// Grammar (RFC 6455 §9.1, RFC 9110 §5.6)
// ---------------------------------------------------------------------------

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `s` at its first comma outside a quoted string: (element, what
/// follows the comma if there is one).
fn split_element(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match b {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            return (&s[..i], Some(&s[i + 1..]));
        }
    }
    (s, None)
}

/// A cursor over one element's text.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        (self.at > start).then(|| &self.s[start..self.at])
    }

    /// A quoted string (the cursor is on its opening quote): its content,
    /// escapes kept.
    fn quoted(&mut self) -> Option<&'a str> {
        self.at += 1;
        let start = self.at;
        let mut escaped = false;
        while let Some(b) = self.peek() {
            self.at += 1;
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                return Some(&self.s[start..self.at - 1]);
            } else if b != b'\t' && (b < 0x20 || b == 0x7f) {
                return None;
            }
        }
        None
    }
}

/// An element of a `Sec-WebSocket-Extensions` value is not valid RFC 6455
/// §9.1 syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// One extension of a `Sec-WebSocket-Extensions` value: its name and its
/// parameters (syntax already checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension's name, as written.
    pub name: &'a str,
    /// The text after the name (`; a; b=1`), checked.
    params: &'a str,
}

impl<'a> Extension<'a> {
    /// Parses one element (no commas outside quoted strings).
    fn parse(element: &'a [u8]) -> Result<Option<Extension<'a>>, Malformed> {
        let s = core::str::from_utf8(element).map_err(|_| Malformed)?;
        let mut c = Cursor { s, at: 0 };
        c.skip_ows();
        if c.peek().is_none() {
            return Ok(None); // an empty list element (RFC 9110 §5.6.1)
        }
        let name = c.token().ok_or(Malformed)?;
        c.skip_ows();
        let ext = Extension {
            name,
            params: &s[c.at..],
        };
        for p in ext.raw_params() {
            p?;
        }
        Ok(Some(ext))
    }

    /// True if this is `permessage-deflate` (ASCII case-insensitive).
    pub fn is_permessage_deflate(&self) -> bool {
        self.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE)
    }

    /// The parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = Param<'a>> + use<'a> {
        // Checked when the extension was parsed: no errors are left.
        self.raw_params().filter_map(Result::ok)
    }

    fn raw_params(&self) -> Params<'a> {
        Params {
            c: Cursor {
                s: self.params,
                at: 0,
            },
        }
    }
}

/// A parameter of an extension: `name`, `name=token` or `name="value"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter's name, as written.
    pub name: &'a str,
    /// Its value, if any: a token, or a quoted string's content with its
    /// backslash escapes still in (see [`Param::value_eq`]).
    pub value: Option<&'a str>,
    /// The value was a quoted string.
    pub quoted: bool,
}

impl Param<'_> {
    /// True if the value, unescaped, equals `want` (no value: false).
    pub fn value_eq(&self, want: &str) -> bool {
        let Some(v) = self.value else { return false };
        if !self.quoted {
            return v == want;
        }
        let mut want = want.bytes();
        let mut escaped = false;
        for b in v.bytes() {
            if !escaped && b == b'\\' {
                escaped = true;
                continue;
            }
            escaped = false;
            if want.next() != Some(b) {
                return false;
            }
        }
        want.next().is_none()
    }
}

struct Params<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = &mut self.c;
        c.skip_ows();
        c.peek()?;
        let param = (|| {
            if c.peek() != Some(b';') {
                return Err(Malformed);
            }
            c.at += 1;
            c.skip_ows();
            let name = c.token().ok_or(Malformed)?;
            c.skip_ows();
            if c.peek() != Some(b'=') {
                return Ok(Param {
                    name,
                    value: None,
                    quoted: false,
                });
            }
            c.at += 1;
            c.skip_ows();
            let quoted = c.peek() == Some(b'"');
            let value = if quoted { c.quoted() } else { c.token() };
            let value = value.ok_or(Malformed)?;
            Ok(Param {
                name,
                value: Some(value),
                quoted,
            })
        })();
        if param.is_err() {
            c.at = c.s.len(); // stop after an error
        }
        Some(param)
    }
}

/// The extensions of one `Sec-WebSocket-Extensions` header value, in order
/// (empty list elements skipped). A malformed element gives `Err` and the
/// iteration goes on with the next one.
///
/// ```
/// use wsock::handshake::deflate::extensions;
/// let value = b"x-foo; a=\"q,r\", permessage-deflate ; client_max_window_bits";
/// let names: Vec<&str> = extensions(value).filter_map(Result::ok).map(|e| e.name).collect();
/// assert_eq!(names, ["x-foo", "permessage-deflate"]);
/// ```
pub fn extensions(value: &[u8]) -> impl Iterator<Item = Result<Extension<'_>, Malformed>> {
    let mut rest = Some(value);
    core::iter::from_fn(move || {
        loop {
            let (element, tail) = split_element(rest?);
            rest = tail;
            match Extension::parse(element) {
                Ok(None) => continue,
                Ok(Some(ext)) => return Some(Ok(ext)),
                Err(e) => return Some(Err(e)),
            }
        }
    })
}

// ---------------------------------------------------------------------------
// permessage-deflate parameters
// ---------------------------------------------------------------------------

/// Why a permessage-deflate offer is declined or a response refused. A
/// server declines the offer (RFC 7692 §7.1: it may try the next one); a
/// client fails the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The header value is not valid RFC 6455 §9.1 syntax.
    Malformed,
    /// §7.1: a parameter this extension does not define.
    UnknownParameter,
    /// §7.1: a parameter appears twice.
    Duplicate(&'static str),
    /// §7.1.1, §7.1.2: a value on a parameter that takes none, or a value
    /// that is not a decimal 8..15 without leading zeros.
    InvalidValue(&'static str),
    /// §7.1.2.1 (`server_max_window_bits` needs a value), §7.1.2.2 (so does
    /// `client_max_window_bits` in a response).
    MissingValue(&'static str),
    /// §7.1.1.1, §7.1.2.1: a parameter we offered is missing from the
    /// response.
    Missing(&'static str),
    /// §7.1.2.2: `client_max_window_bits` in a response to an offer
    /// without it.
    NotOffered(&'static str),
    /// §7.1.2: window bits in the response larger than we offered.
    TooLarge(&'static str),
    /// §7.1: more than one permessage-deflate in a response.
    Several,
}

impl core::fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NegotiationError::Malformed => f.write_str("malformed Sec-WebSocket-Extensions value"),
            NegotiationError::UnknownParameter => {
                f.write_str("unknown permessage-deflate parameter")
            }
            NegotiationError::Duplicate(p) => write!(f, "permessage-deflate: {p} appears twice"),
            NegotiationError::InvalidValue(p) => {
                write!(f, "permessage-deflate: invalid value for {p}")
            }
            NegotiationError::MissingValue(p) => {
                write!(f, "permessage-deflate: {p} needs a value")
            }
            NegotiationError::Missing(p) => {
                write!(
                    f,
                    "permessage-deflate: response lacks {p}, which we offered"
                )
            }
            NegotiationError::NotOffered(p) => {
                write!(
                    f,
                    "permessage-deflate: response has {p}, which we did not offer"
                )
            }
            NegotiationError::TooLarge(p) => {
                write!(f, "permessage-deflate: {p} larger than we offered")
            }
            NegotiationError::Several => {
                f.write_str("response selects permessage-deflate more than once")
            }
        }
    }
}

impl core::error::Error for NegotiationError {}

impl From<Malformed> for NegotiationError {
    fn from(_: Malformed) -> Self {
        NegotiationError::Malformed
    }
}

/// `client_max_window_bits` in an offer or response (RFC 7692 §7.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientMaxWindowBits {
    /// Absent: in an offer, the server may not limit the client's window.
    #[default]
    Absent,
    /// Without a value (offers only): the client can limit its window.
    Supported,
    /// With a value, 8..15.
    Bits(u8),
}

/// The parameters of one permessage-deflate element, an offer or a
/// response, checked for the rules they share (RFC 7692 §7.1): known
/// parameters only, none twice, no value on the `*_no_context_takeover`
/// ones, a value 8..15 (decimal, no leading zero, optionally quoted) on
/// `server_max_window_bits`, none or 8..15 on `client_max_window_bits`.
///
/// [`Default`] is the offer Chromium and Python `websockets` send (and
/// Autobahn 13.3–13.6 need): `permessage-deflate; client_max_window_bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// `server_no_context_takeover` (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover` (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N` (§7.1.2.1).
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits[=N]` (§7.1.2.2).
    pub client_max_window_bits: ClientMaxWindowBits,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: ClientMaxWindowBits::Supported,
        }
    }
}

const SERVER_NCT: &str = "server_no_context_takeover";
const CLIENT_NCT: &str = "client_no_context_takeover";
const SERVER_BITS: &str = "server_max_window_bits";
const CLIENT_BITS: &str = "client_max_window_bits";

/// Window bits from a parameter value: `8`..`15`, no leading zero, after
/// unescaping a quoted string.
fn window_bits(p: &Param<'_>, name: &'static str) -> Result<u8, NegotiationError> {
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS)
        .find(|&n| {
            let mut digits = [0u8; 2];
            let text = if n < 10 {
                digits[0] = b'0' + n;
                &digits[..1]
            } else {
                digits = [b'1', b'0' + n - 10];
                &digits[..]
            };
            // Digits are ASCII.
            core::str::from_utf8(text).is_ok_and(|t| p.value_eq(t))
        })
        .ok_or(NegotiationError::InvalidValue(name))
}

impl DeflateParams {
    /// No parameters: a bare `permessage-deflate`.
    pub const NONE: DeflateParams = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientMaxWindowBits::Absent,
    };

    /// Reads a permessage-deflate element's parameters. The caller checks
    /// the name ([`Extension::is_permessage_deflate`]).
    ///
    /// ```
    /// use wsock::handshake::deflate::{extensions, ClientMaxWindowBits, DeflateParams};
    /// let ext = extensions(b"permessage-deflate; client_max_window_bits=\"10\"")
    ///     .next().unwrap().unwrap();
    /// let params = DeflateParams::parse(&ext)?;
    /// assert_eq!(params.client_max_window_bits, ClientMaxWindowBits::Bits(10));
    /// # Ok::<(), wsock::handshake::deflate::NegotiationError>(())
    /// ```
    pub fn parse(ext: &Extension<'_>) -> Result<DeflateParams, NegotiationError> {
        let mut out = DeflateParams::NONE;
        let mut seen = [false; 4];
        for p in ext.params() {
            let name = [SERVER_NCT, CLIENT_NCT, SERVER_BITS, CLIENT_BITS]
                .into_iter()
                .position(|n| p.name.eq_ignore_ascii_case(n))
                .ok_or(NegotiationError::UnknownParameter)?;
            let label = [SERVER_NCT, CLIENT_NCT, SERVER_BITS, CLIENT_BITS][name];
            if core::mem::replace(&mut seen[name], true) {
                return Err(NegotiationError::Duplicate(label));
            }
            match name {
                0 | 1 if p.value.is_some() => return Err(NegotiationError::InvalidValue(label)),
                0 => out.server_no_context_takeover = true,
                1 => out.client_no_context_takeover = true,
                2 if p.value.is_none() => return Err(NegotiationError::MissingValue(label)),
                2 => out.server_max_window_bits = Some(window_bits(&p, label)?),
                _ if p.value.is_none() => {
                    out.client_max_window_bits = ClientMaxWindowBits::Supported;
                }
                _ => {
                    out.client_max_window_bits = ClientMaxWindowBits::Bits(window_bits(&p, label)?);
                }
            }
        }
        Ok(out)
    }

    /// Writes the element (`permessage-deflate; …`, parameters in a fixed
    /// order) into `out`; returns its length.
    fn write(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        let bad = |n: u8| !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&n);
        if self.server_max_window_bits.is_some_and(bad)
            || matches!(self.client_max_window_bits, ClientMaxWindowBits::Bits(n) if bad(n))
        {
            return Err(HandshakeError::InvalidInput(
                "permessage-deflate window bits must be 8..15",
            ));
        }
        let mut w = Writer::new(out);
        w.put_str(PERMESSAGE_DEFLATE)?;
        if self.server_no_context_takeover {
            w.put_str("; ")?.put_str(SERVER_NCT)?;
        }
        if self.client_no_context_takeover {
            w.put_str("; ")?.put_str(CLIENT_NCT)?;
        }
        if let Some(n) = self.server_max_window_bits {
            w.put_str("; ")?.put_str(SERVER_BITS)?.put(b"=")?;
            w.put_u16(n.into())?;
        }
        match self.client_max_window_bits {
            ClientMaxWindowBits::Absent => {}
            ClientMaxWindowBits::Supported => {
                w.put_str("; ")?.put_str(CLIENT_BITS)?;
            }
            ClientMaxWindowBits::Bits(n) => {
                w.put_str("; ")?.put_str(CLIENT_BITS)?.put(b"=")?;
                w.put_u16(n.into())?;
            }
        }
        Ok(w.finish())
    }

    /// Writes this as a client's offer (a `Sec-WebSocket-Extensions` value)
    /// into `out`; returns its length. Refuses window bits outside 8..15,
    /// and `server_max_window_bits=8` (never ask a peer for 8: see the
    /// module docs).
    ///
    /// ```
    /// use wsock::handshake::deflate::DeflateParams;
    /// let mut out = [0u8; 64];
    /// let n = DeflateParams::default().write_offer(&mut out)?;
    /// assert_eq!(&out[..n], b"permessage-deflate; client_max_window_bits");
    /// # Ok::<(), wsock::handshake::HandshakeError>(())
    /// ```
    pub fn write_offer(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        if self.server_max_window_bits == Some(MIN_WINDOW_BITS) {
            return Err(HandshakeError::InvalidInput(
                "do not ask a peer for server_max_window_bits=8",
            ));
        }
        self.write(out)
    }

    /// Writes this as a server's response into `out`; returns its length.
    /// Refuses a valueless `client_max_window_bits` (§7.1.2.2) and window
    /// bits outside 8..15.
    pub fn write_response(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        if self.client_max_window_bits == ClientMaxWindowBits::Supported {
            return Err(HandshakeError::InvalidInput(
                "client_max_window_bits in a response needs a value",
            ));
        }
        self.write(out)
    }

    /// Client side: checks the server's `response` to this offer (RFC 7692
    /// §7.1) and gives what was agreed.
    ///
    /// ```
    /// use wsock::handshake::deflate::{extensions, DeflateParams, NegotiationError};
    /// let response = extensions(b"permessage-deflate; client_max_window_bits=9")
    ///     .next().unwrap().unwrap();
    /// let agreed = DeflateParams::default().check_response(&DeflateParams::parse(&response)?)?;
    /// assert_eq!(agreed.client_max_window_bits, 9);
    /// assert_eq!(agreed.server_max_window_bits, 15);
    /// # Ok::<(), NegotiationError>(())
    /// ```
    pub fn check_response(&self, response: &DeflateParams) -> Result<Agreed, NegotiationError> {
        if self.server_no_context_takeover && !response.server_no_context_takeover {
            return Err(NegotiationError::Missing(SERVER_NCT));
        }
        let server_max_window_bits =
            match (self.server_max_window_bits, response.server_max_window_bits) {
                (Some(_), None) => return Err(NegotiationError::Missing(SERVER_BITS)),
                (Some(asked), Some(got)) if got > asked => {
                    return Err(NegotiationError::TooLarge(SERVER_BITS));
                }
                (_, got) => got.unwrap_or(MAX_WINDOW_BITS),
            };
        let client_max_window_bits =
            match (self.client_max_window_bits, response.client_max_window_bits) {
                (_, ClientMaxWindowBits::Supported) => {
                    return Err(NegotiationError::MissingValue(CLIENT_BITS));
                }
                (ClientMaxWindowBits::Absent, ClientMaxWindowBits::Bits(_)) => {
                    return Err(NegotiationError::NotOffered(CLIENT_BITS));
                }
                (ClientMaxWindowBits::Bits(ours), ClientMaxWindowBits::Bits(got)) if got > ours => {
                    return Err(NegotiationError::TooLarge(CLIENT_BITS));
                }
                (_, ClientMaxWindowBits::Bits(got)) => got,
                (ClientMaxWindowBits::Bits(ours), ClientMaxWindowBits::Absent) => ours,
                (_, ClientMaxWindowBits::Absent) => MAX_WINDOW_BITS,
            };
        Ok(Agreed {
            server_max_window_bits,
            client_max_window_bits,
            server_no_context_takeover: response.server_no_context_takeover,
            // What the response says: a client that offered it as a hint
            // (§7.1.1.2) may keep its promise on its own; peers differ on
            // whether the hint binds (Autobahn takes it as "supported"), so
            // a server inflates with context unless it asked for none.
            client_no_context_takeover: response.client_no_context_takeover,
        })
    }
}

/// Client side: checks the `Sec-WebSocket-Extensions` values of a response
/// (each header line's value, in order) against our `offer`. `Ok(None)`: the
/// server did not select permessage-deflate. Other extensions are left to
/// the handshake's own check (only offered ones may be selected); a
/// malformed value, or permessage-deflate selected twice, is an error.
///
/// ```
/// use wsock::handshake::deflate::{check_response, DeflateParams};
/// let values: [&[u8]; 1] = [b"permessage-deflate; server_no_context_takeover"];
/// let agreed = check_response(&DeflateParams::default(), values)?.expect("selected");
/// assert!(agreed.server_no_context_takeover);
/// # Ok::<(), wsock::handshake::deflate::NegotiationError>(())
/// ```
pub fn check_response<'v>(
    offer: &DeflateParams,
    values: impl IntoIterator<Item = &'v [u8]>,
) -> Result<Option<Agreed>, NegotiationError> {
    let mut agreed = None;
    for value in values {
        for ext in extensions(value) {
            let ext = ext?;
            if !ext.is_permessage_deflate() {
                continue;
            }
            if agreed.is_some() {
                return Err(NegotiationError::Several);
            }
            agreed = Some(offer.check_response(&DeflateParams::parse(&ext)?)?);
        }
    }
    Ok(agreed)
}

/// What both sides agreed on: each direction's window (8..15) and whether
/// its compressor resets after every message. `server_*` is the server's
/// compressor (the client's inflater), `client_*` the client's compressor.
/// A side that compresses uses [`compress_window_bits`](Agreed::compress_window_bits),
/// a side that inflates [`inflate_window_bits`](Agreed::inflate_window_bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The server's compressor window, 8..15.
    pub server_max_window_bits: u8,
    /// The client's compressor window, 8..15.
    pub client_max_window_bits: u8,
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
}

impl Agreed {
    /// The window bits `role` compresses with: the agreed limit of its
    /// direction, with 8 raised to 9. A 9-bit raw deflate stream from zlib
    /// (or zlib-rs) never refers back more than 250 bytes, so it is a valid
    /// 8-bit stream, and those compressors cannot produce 8.
    ///
    /// ```
    /// use wsock::handshake::deflate::Agreed;
    /// use wsock::Role;
    /// let agreed = Agreed {
    ///     server_max_window_bits: 8,
    ///     client_max_window_bits: 12,
    ///     server_no_context_takeover: false,
    ///     client_no_context_takeover: false,
    /// };
    /// assert_eq!(agreed.compress_window_bits(Role::Server), 9);
    /// assert_eq!(agreed.compress_window_bits(Role::Client), 12);
    /// assert_eq!(agreed.inflate_window_bits(Role::Client), 8);
    /// ```
    pub fn compress_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
        .max(MIN_WINDOW_BITS + 1)
    }

    /// The window bits the peer of `role` compresses with at most: `role`'s
    /// inflater needs a window of 2^bits bytes.
    pub fn inflate_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        }
    }

    /// Whether `role` resets its compressor after every message.
    pub fn compress_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// Whether `role`'s peer resets its compressor after every message (so
    /// `role` may reset its inflater too).
    pub fn inflate_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// A server's permessage-deflate settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Accept permessage-deflate at all.
    pub enabled: bool,
    /// The server sends compressed messages. If not (an embedded server that
    /// only inflates), any `server_max_window_bits` the client asks for is
    /// accepted, and none is added.
    pub compress: bool,
    /// The largest window the server compresses with, 9..15 (8 counts as 9;
    /// below 15 it is announced as `server_max_window_bits`). A client's
    /// smaller `server_max_window_bits` is answered as asked.
    pub server_max_window_bits: u8,
    /// The largest client window the server can inflate, 9..15 (8 counts as
    /// 9). Below 15 it is asked for as `client_max_window_bits`, which needs
    /// the offer to carry that parameter: offers without it are declined.
    pub client_max_window_bits: u8,
    /// Add `server_no_context_takeover` (it is echoed whenever offered).
    pub server_no_context_takeover: bool,
    /// Add `client_no_context_takeover` (e.g. to share one inflate window
    /// between connections).
    pub client_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    /// Enabled, compressing, 15-bit windows both ways, context takeover.
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            compress: true,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        }
    }
}

impl DeflateConfig {
    /// Decides one offer: the response to send and what it agrees, or
    /// `None` to decline it (RFC 7692 §7.1). Never answers with more than
    /// the offer allows.
    pub fn choose(&self, offer: &DeflateParams) -> Option<(DeflateParams, Agreed)> {
        if !self.enabled {
            return None;
        }
        let clamp = |n: u8| n.clamp(MIN_WINDOW_BITS + 1, MAX_WINDOW_BITS);
        let mut response = DeflateParams::NONE;
        response.server_no_context_takeover =
            offer.server_no_context_takeover || self.server_no_context_takeover;
        response.client_no_context_takeover = self.client_no_context_takeover;
        response.server_max_window_bits = if self.compress {
            let ours = clamp(self.server_max_window_bits);
            match offer.server_max_window_bits {
                Some(asked) => Some(asked.min(ours)),
                None => (ours < MAX_WINDOW_BITS).then_some(ours),
            }
        } else {
            offer.server_max_window_bits
        };
        let ours = clamp(self.client_max_window_bits);
        response.client_max_window_bits = match offer.client_max_window_bits {
            ClientMaxWindowBits::Absent if ours < MAX_WINDOW_BITS => return None,
            ClientMaxWindowBits::Absent => ClientMaxWindowBits::Absent,
            _ if ours == MAX_WINDOW_BITS => ClientMaxWindowBits::Absent,
            ClientMaxWindowBits::Supported => ClientMaxWindowBits::Bits(ours),
            ClientMaxWindowBits::Bits(n) => ClientMaxWindowBits::Bits(n.min(ours)),
        };
        // The answer agrees with what the client itself derives from it.
        let agreed = offer.check_response(&response).ok()?;
        Some((response, agreed))
    }

    /// Picks the first acceptable permessage-deflate offer in the request's
    /// `Sec-WebSocket-Extensions` values (each header line's value, in
    /// order), writes the response value into `out` and returns what was
    /// agreed and the response's length. `Ok(None)`: nothing acceptable
    /// (answer without the extension). Malformed elements, other
    /// extensions and invalid offers are skipped. Fails only if `out` is too
    /// small.
    ///
    /// ```
    /// use wsock::handshake::deflate::DeflateConfig;
    /// let config = DeflateConfig { client_max_window_bits: 9, ..DeflateConfig::default() };
    /// let values: [&[u8]; 2] = [
    ///     b"permessage-deflate; client_max_window_bits=7, x-webkit-deflate-frame",
    ///     b"permessage-deflate; server_no_context_takeover; client_max_window_bits",
    /// ];
    /// let mut out = [0u8; 128];
    /// let (agreed, n) = config.negotiate(values, &mut out)?.expect("the second offer");
    /// assert_eq!(&out[..n], b"permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
    /// assert_eq!(agreed.client_max_window_bits, 9);
    /// # Ok::<(), wsock::handshake::HandshakeError>(())
    /// ```
    pub fn negotiate<'v>(
        &self,
        values: impl IntoIterator<Item = &'v [u8]>,
        out: &mut [u8],
    ) -> Result<Option<(Agreed, usize)>, HandshakeError> {
        if !self.enabled {
            return Ok(None);
        }
        for value in values {
            for ext in extensions(value).filter_map(Result::ok) {
                if !ext.is_permessage_deflate() {
                    continue;
                }
                let Ok(offer) = DeflateParams::parse(&ext) else {
                    continue;
                };
                if let Some((response, agreed)) = self.choose(&offer) {
                    return Ok(Some((agreed, response.write_response(out)?)));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::ClientMaxWindowBits::{Absent, Bits};
    use super::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn one(value: &str) -> Result<DeflateParams, NegotiationError> {
        let mut exts = extensions(value.as_bytes());
        let ext = exts.next().expect("an element")?;
        assert!(exts.next().is_none(), "one element in {value:?}");
        assert!(ext.is_permessage_deflate());
        DeflateParams::parse(&ext)
    }

    fn params(
        snct: bool,
        cnct: bool,
        sbits: Option<u8>,
        cbits: ClientMaxWindowBits,
    ) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
    }

    fn negotiate(config: &DeflateConfig, values: &[&str]) -> Option<(Agreed, String)> {
        let mut out = [0u8; 256];
        let (agreed, n) = config
            .negotiate(values.iter().map(|v| v.as_bytes()), &mut out)
            .expect("fits")?;
        Some((agreed, String::from_utf8(out[..n].to_vec()).unwrap()))
    }

    /// RFC 6455 §9.1: names, `;`-parameters, token and quoted-string values,
    /// OWS, commas inside quoted strings, empty list elements.
    #[test]
    fn grammar() {
        let v = b" , x-foo ;a; b = 1 ; c=\"x,\\\"y\" ,,\tpermessage-deflate\t; client_max_window_bits ,";
        let exts: Vec<_> = extensions(v).map(Result::unwrap).collect();
        assert_eq!(exts.len(), 2);
        assert_eq!(exts[0].name, "x-foo");
        let ps: Vec<_> = exts[0].params().collect();
        assert_eq!(ps.len(), 3);
        assert_eq!((ps[0].name, ps[0].value), ("a", None));
        assert_eq!((ps[1].name, ps[1].value), ("b", Some("1")));
        assert_eq!(
            (ps[2].name, ps[2].value, ps[2].quoted),
            ("c", Some("x,\\\"y"), true)
        );
        assert!(ps[2].value_eq("x,\"y"));
        assert_eq!(exts[1].name, "permessage-deflate");
        assert!(extensions(b"").next().is_none());
        assert!(extensions(b" ,, ").next().is_none());
    }

    /// A malformed element is an error; the next element is still read.
    #[test]
    fn malformed_elements_are_skipped() {
        for bad in [
            "a;",
            "a; =1",
            "a; b=",
            "a b",
            "\"q\"",
            "a; b=c d",
            "a; b=\"\x01\"",
        ] {
            let value = format!("{bad}, permessage-deflate");
            let mut it = extensions(value.as_bytes());
            assert_eq!(it.next(), Some(Err(Malformed)), "{bad:?}");
            assert_eq!(
                it.next().unwrap().unwrap().name,
                "permessage-deflate",
                "{bad:?}"
            );
        }
        assert_eq!(extensions(b"a; b=\xff").next(), Some(Err(Malformed)));
        // An unterminated quoted string runs to the end of the value.
        let mut it = extensions(b"a; b=\"open, permessage-deflate");
        assert_eq!(it.next(), Some(Err(Malformed)));
        assert_eq!(it.next(), None);
    }

    /// §7.1: every parameter, in any order and case, quoted values.
    #[test]
    fn valid_params() {
        assert_eq!(one("permessage-deflate"), Ok(DeflateParams::NONE));
        assert_eq!(
            one("permessage-deflate; client_max_window_bits"),
            Ok(DeflateParams::default())
        );
        assert_eq!(
            one(
                "Permessage-Deflate; CLIENT_max_window_bits=\"10\"; server_max_window_bits=8; \
                 client_no_context_takeover;server_no_context_takeover"
            ),
            Ok(params(true, true, Some(8), Bits(10)))
        );
        assert_eq!(
            one("permessage-deflate; server_max_window_bits=\"1\\5\""),
            Ok(params(false, false, Some(15), Absent))
        );
        for n in 8..=15 {
            assert_eq!(
                one(&format!("permessage-deflate; server_max_window_bits={n}")),
                Ok(params(false, false, Some(n), Absent))
            );
        }
    }

    /// §7.1: unknown or duplicated parameters, bad values.
    #[test]
    fn invalid_params() {
        use NegotiationError::*;
        let cases = [
            ("permessage-deflate; x", UnknownParameter),
            (
                "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
                Duplicate(SERVER_BITS),
            ),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
                Duplicate(CLIENT_BITS),
            ),
            (
                "permessage-deflate; server_no_context_takeover; SERVER_NO_CONTEXT_TAKEOVER",
                Duplicate(SERVER_NCT),
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                InvalidValue(SERVER_NCT),
            ),
            (
                "permessage-deflate; client_no_context_takeover=\"\"",
                InvalidValue(CLIENT_NCT),
            ),
            (
                "permessage-deflate; server_max_window_bits",
                MissingValue(SERVER_BITS),
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                InvalidValue(SERVER_BITS),
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                InvalidValue(SERVER_BITS),
            ),
            (
                "permessage-deflate; server_max_window_bits=09",
                InvalidValue(SERVER_BITS),
            ),
            (
                "permessage-deflate; server_max_window_bits=010",
                InvalidValue(SERVER_BITS),
            ),
            (
                "permessage-deflate; client_max_window_bits=\" 9\"",
                InvalidValue(CLIENT_BITS),
            ),
            (
                "permessage-deflate; client_max_window_bits=+9",
                InvalidValue(CLIENT_BITS),
            ),
            (
                "permessage-deflate; client_max_window_bits=\"\"",
                InvalidValue(CLIENT_BITS),
            ),
        ];
        for (value, err) in cases {
            assert_eq!(one(value), Err(err), "{value}");
        }
    }

    /// §7.1: the first acceptable offer wins; invalid ones, other
    /// extensions and malformed elements are skipped, across header lines.
    #[test]
    fn server_takes_the_first_acceptable_offer() {
        let config = DeflateConfig::default();
        let (agreed, response) = negotiate(
            &config,
            &[
                "x-webkit-deflate-frame, permessage-deflate; foo",
                "a;;, permessage-deflate; server_max_window_bits=10, permessage-deflate",
            ],
        )
        .unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(
            agreed,
            Agreed {
                server_max_window_bits: 10,
                client_max_window_bits: 15,
                server_no_context_takeover: false,
                client_no_context_takeover: false
            }
        );
        assert_eq!(
            negotiate(&config, &["x-foo", "permessage-deflate; x=1"]),
            None
        );
        assert_eq!(
            negotiate(
                &DeflateConfig {
                    enabled: false,
                    ..config
                },
                &["permessage-deflate"]
            ),
            None
        );
    }

    /// §7.1.1, §7.1.2: what the server answers for its settings.
    #[test]
    fn server_responses() {
        let d = DeflateConfig::default();
        let embedded = DeflateConfig {
            compress: false,
            client_max_window_bits: 9,
            client_no_context_takeover: true,
            ..d
        };
        let cases: [(&DeflateConfig, &str, Option<&str>); 12] = [
            (&d, "permessage-deflate", Some("permessage-deflate")),
            (
                &d,
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
            ),
            (
                &d,
                "permessage-deflate; client_max_window_bits=10",
                Some("permessage-deflate"),
            ),
            (
                &d,
                "permessage-deflate; server_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            // Autobahn 13.3: answered with 8, compressed with 9.
            (
                &d,
                "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
                Some("permessage-deflate; server_max_window_bits=8"),
            ),
            (
                &DeflateConfig {
                    server_max_window_bits: 12,
                    ..d
                },
                "permessage-deflate",
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                &DeflateConfig {
                    server_max_window_bits: 8,
                    ..d
                },
                "permessage-deflate",
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
            (
                &DeflateConfig {
                    server_max_window_bits: 12,
                    ..d
                },
                "permessage-deflate; server_max_window_bits=13",
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (&embedded, "permessage-deflate", None),
            (
                &embedded,
                "permessage-deflate; server_max_window_bits=8; client_max_window_bits",
                Some(
                    "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9",
                ),
            ),
            (
                &embedded,
                "permessage-deflate; client_max_window_bits=8",
                Some("permessage-deflate; client_no_context_takeover; client_max_window_bits=8"),
            ),
            (
                &DeflateConfig {
                    client_max_window_bits: 8,
                    ..d
                },
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate; client_max_window_bits=9"),
            ),
        ];
        for (config, offer, want) in cases {
            let got = negotiate(config, &[offer]);
            assert_eq!(
                got.as_ref().map(|(_, r)| r.as_str()),
                want,
                "{offer} with {config:?}"
            );
            if let Some((agreed, response)) = got {
                // Our client, having sent that offer, accepts the answer and agrees.
                let offered = one(offer).unwrap();
                assert_eq!(
                    check_response(&offered, [response.as_bytes()]),
                    Ok(Some(agreed))
                );
            }
        }
    }

    /// A response that does not fit the buffer fails; nothing is agreed.
    #[test]
    fn response_buffer_too_small() {
        let mut out = [0u8; 10];
        let r = DeflateConfig::default().negotiate([&b"permessage-deflate"[..]], &mut out);
        assert_eq!(r, Err(HandshakeError::BufferTooSmall));
    }

    /// §7.1: the client's checks of the server's answer.
    #[test]
    fn client_checks_the_response() {
        use NegotiationError::*;
        let d = DeflateParams::default();
        let asked = params(true, false, Some(10), Bits(12));
        type Case<'a> = (
            &'a DeflateParams,
            &'a str,
            Result<Option<Agreed>, NegotiationError>,
        );
        let cases: [Case<'_>; 14] = [
            (&d, "", Ok(None)),
            (&d, "x-other", Ok(None)),
            (
                &d,
                "permessage-deflate",
                Ok(Some(Agreed {
                    server_max_window_bits: 15,
                    client_max_window_bits: 15,
                    server_no_context_takeover: false,
                    client_no_context_takeover: false,
                })),
            ),
            (
                &d,
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9",
                Ok(Some(Agreed {
                    server_max_window_bits: 8,
                    client_max_window_bits: 9,
                    server_no_context_takeover: false,
                    client_no_context_takeover: true,
                })),
            ),
            (&d, "permessage-deflate, permessage-deflate", Err(Several)),
            (
                &d,
                "permessage-deflate; client_max_window_bits",
                Err(MissingValue(CLIENT_BITS)),
            ),
            (&d, "permessage-deflate; foo", Err(UnknownParameter)),
            (
                &d,
                "permessage-deflate; server_max_window_bits=1",
                Err(InvalidValue(SERVER_BITS)),
            ),
            (&d, "permessage-deflate;", Err(Malformed)),
            (
                &DeflateParams::NONE,
                "permessage-deflate; client_max_window_bits=15",
                Err(NotOffered(CLIENT_BITS)),
            ),
            (
                &asked,
                "permessage-deflate; server_max_window_bits=10",
                Err(Missing(SERVER_NCT)),
            ),
            (
                &asked,
                "permessage-deflate; server_no_context_takeover",
                Err(Missing(SERVER_BITS)),
            ),
            (
                &asked,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                Err(TooLarge(SERVER_BITS)),
            ),
            (
                &asked,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=13",
                Err(TooLarge(CLIENT_BITS)),
            ),
        ];
        for (offer, response, want) in cases {
            assert_eq!(
                check_response(offer, [response.as_bytes()]),
                want,
                "{response}"
            );
        }
        let ok = "permessage-deflate; server_no_context_takeover; server_max_window_bits=10";
        assert_eq!(
            check_response(&asked, [ok.as_bytes()]),
            Ok(Some(Agreed {
                server_max_window_bits: 10,
                client_max_window_bits: 12,
                server_no_context_takeover: true,
                client_no_context_takeover: false
            }))
        );
        // Two header lines each selecting it.
        assert_eq!(
            check_response(&d, [&b"permessage-deflate"[..], b"permessage-deflate"]),
            Err(Several)
        );
    }

    /// The messages name the parameter.
    #[test]
    fn error_messages_name_the_parameter() {
        let msg = NegotiationError::TooLarge(SERVER_BITS).to_string();
        assert_eq!(
            msg,
            "permessage-deflate: server_max_window_bits larger than we offered"
        );
        assert!(
            NegotiationError::Duplicate(CLIENT_NCT)
                .to_string()
                .contains(CLIENT_NCT)
        );
    }

    /// Offers: the default, every parameter, and no request for 8.
    #[test]
    fn client_offers() {
        let mut out = [0u8; 160];
        let all = params(true, true, Some(10), Bits(8));
        let n = all.write_offer(&mut out).unwrap();
        assert_eq!(
            &out[..n],
            b"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=8"
        );
        assert_eq!(one(core::str::from_utf8(&out[..n]).unwrap()), Ok(all));
        let n = DeflateParams::NONE.write_offer(&mut out).unwrap();
        assert_eq!(&out[..n], b"permessage-deflate");
        assert!(
            params(false, false, Some(8), Absent)
                .write_offer(&mut out)
                .is_err()
        );
        assert!(
            params(false, false, Some(16), Absent)
                .write_offer(&mut out)
                .is_err()
        );
        assert!(
            params(false, false, None, Bits(7))
                .write_offer(&mut out)
                .is_err()
        );
        assert!(DeflateParams::default().write_response(&mut out).is_err());
        assert_eq!(
            DeflateParams::default().write_offer(&mut out[..10]),
            Err(HandshakeError::BufferTooSmall)
        );
    }
}
