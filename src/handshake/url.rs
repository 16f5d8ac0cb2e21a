//! `ws://` and `wss://` URLs (RFC 6455 §3).

/// A parsed WebSocket URL, borrowed from the input string.
///
/// ```
/// use wsock::handshake::Url;
/// let url = Url::parse("ws://127.0.0.1:9001/chat?room=1")?;
/// assert_eq!((url.host, url.port, url.path, url.query), ("127.0.0.1", 9001, "/chat", Some("room=1")));
/// assert!(!url.secure);
/// let url = Url::parse("wss://[::1]")?;
/// assert_eq!((url.host, url.port, url.path, url.query), ("::1", 443, "/", None));
/// # Ok::<(), wsock::handshake::UrlError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    /// `wss://` (TLS).
    pub secure: bool,
    /// The host name or address, without IPv6 brackets.
    pub host: &'a str,
    /// The port; 80 or 443 when the URL has none.
    pub port: u16,
    /// The path, `/` when the URL has none.
    pub path: &'a str,
    /// The query, without its `?`. Any `#fragment` is dropped (§3).
    pub query: Option<&'a str>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// The scheme is not `ws` or `wss`.
    UnsupportedScheme,
    /// The host is missing or malformed.
    InvalidHost,
    /// The port is not a number in 1–65535.
    InvalidPort,
    /// The URL contains characters that cannot go in a request line.
    InvalidCharacter,
}

impl core::fmt::Display for UrlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            UrlError::UnsupportedScheme => "URL scheme must be ws:// or wss://",
            UrlError::InvalidHost => "URL has no valid host",
            UrlError::InvalidPort => "URL port is not a number in 1-65535",
            UrlError::InvalidCharacter => "URL contains spaces or control characters",
        })
    }
}

impl core::error::Error for UrlError {}

impl<'a> Url<'a> {
    /// Parses `ws://host[:port][/path][?query]` or the `wss://` form.
    pub fn parse(url: &'a str) -> Result<Self, UrlError> {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlError::InvalidCharacter);
        }
        let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "ws://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "wss://") {
            (true, rest)
        } else {
            return Err(UrlError::UnsupportedScheme);
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            // Credentials in the URL are not part of RFC 6455's URI syntax.
            return Err(UrlError::InvalidHost);
        }
        let (host, port) = split_host_port(authority)?;
        Ok(Url {
            secure,
            host,
            port: port.unwrap_or(if secure { 443 } else { 80 }),
            path: if path.is_empty() { "/" } else { path },
            query,
        })
    }

    /// True when the port is the scheme's default (so `Host` omits it, §4.1).
    pub fn is_default_port(&self) -> bool {
        self.port == if self.secure { 443 } else { 80 }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or(UrlError::InvalidHost)?;
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
        };
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::InvalidHost);
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(UrlError::InvalidPort),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §3: ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]; default ports 80/443.
    #[test]
    fn parses_ws_uris() {
        let u = Url::parse("ws://example.com").unwrap();
        assert_eq!(
            (u.secure, u.host, u.port, u.path, u.query),
            (false, "example.com", 80, "/", None)
        );
        assert!(u.is_default_port());
        let u = Url::parse("WSS://example.com:8443/a/b?x=1#frag").unwrap();
        assert_eq!(
            (u.secure, u.host, u.port, u.path, u.query),
            (true, "example.com", 8443, "/a/b", Some("x=1"))
        );
        let u = Url::parse("ws://h?q=/x").unwrap();
        assert_eq!((u.host, u.path, u.query), ("h", "/", Some("q=/x")));
        let u = Url::parse("ws://[::1]:9001/").unwrap();
        assert_eq!((u.host, u.port), ("::1", 9001));
    }

    #[test]
    fn refuses_bad_uris() {
        assert_eq!(Url::parse("http://x/"), Err(UrlError::UnsupportedScheme));
        assert_eq!(Url::parse("ws:///path"), Err(UrlError::InvalidHost));
        assert_eq!(Url::parse("ws://host:0/"), Err(UrlError::InvalidPort));
        assert_eq!(Url::parse("ws://host:99999/"), Err(UrlError::InvalidPort));
        assert_eq!(Url::parse("ws://host:+80/"), Err(UrlError::InvalidPort));
        assert_eq!(Url::parse("ws://host/a b"), Err(UrlError::InvalidCharacter));
        assert_eq!(Url::parse("ws://user@host/"), Err(UrlError::InvalidHost));
        assert_eq!(Url::parse("ws://[::1/"), Err(UrlError::InvalidHost));
    }
}
