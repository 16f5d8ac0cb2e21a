//! Opening a client connection: `connect(url)`, the builder, and the
//! handshake over any transport (RFC 6455 §4.1).

use super::deadline::Deadline;
use super::rng::MaskRng;
use super::transport::{MaybeTlsStream, Transport};
use super::{Error, Options, Phase, WebSocket, read_more, start_tcp_keepalive, write_all};
use crate::config::Role;
use crate::handshake::client::{ClientHandshake, ClientRequest};
use crate::handshake::{EMPTY_HEADER, HandshakeError, Url};
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::string::String;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

/// Connects to a `ws://` (or, with the `tls` feature, `wss://`) URL with the
/// default options. See [`ClientBuilder`] for subprotocols, headers, limits,
/// timeouts and TLS settings.
pub fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
    ClientBuilder::new(url).connect()
}

/// Options for [`connect`].
///
/// ```no_run
/// use wsock::blocking::{ClientBuilder, Options};
/// use std::time::Duration;
///
/// let ws = ClientBuilder::new("ws://127.0.0.1:9001/chat")
///     .subprotocols(&["chat.v2", "chat"])
///     .origin("http://127.0.0.1")
///     .header("Authorization", "Bearer token")
///     .options(Options::new().handshake_timeout(Some(Duration::from_secs(3))))
///     .connect()?;
/// println!("agreed on {:?}", ws.subprotocol());
/// # Ok::<(), wsock::blocking::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder<'a> {
    pub(crate) url: &'a str,
    pub(crate) origin: Option<&'a str>,
    pub(crate) subprotocols: Vec<&'a str>,
    pub(crate) headers: Vec<(&'a str, &'a str)>,
    pub(crate) options: Options,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl<'a> ClientBuilder<'a> {
    /// A builder for `url`.
    pub fn new(url: &'a str) -> Self {
        ClientBuilder {
            url,
            origin: None,
            subprotocols: Vec::new(),
            headers: Vec::new(),
            options: Options::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Connects (TCP, then TLS for `wss://`) and runs the opening handshake.
    pub fn connect(self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let url = Url::parse(self.url).map_err(|e| Error::url(self.url, e))?;
        let tcp = connect_tcp(url.host, url.port, self.options.handshake_timeout)?;
        // WebSocket messages are latency-sensitive; the adapter batches itself.
        tcp.set_nodelay(true)?;
        let stream = if url.secure {
            #[cfg(feature = "tls")]
            {
                let config = match self.tls.clone() {
                    Some(config) => config,
                    None => super::tls::default_client_config()?,
                };
                super::tls::wrap_client(tcp, url.host, config)?
            }
            #[cfg(not(feature = "tls"))]
            return Err(Error::TlsNotEnabled);
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        client(stream, &self.request(url), self.options)
    }

    /// The handshake request for the parsed URL.
    pub(crate) fn request<'r>(&'r self, url: Url<'r>) -> ClientRequest<'r> {
        ClientRequest {
            origin: self.origin,
            subprotocols: &self.subprotocols,
            headers: &self.headers,
            ..ClientRequest::new(url)
        }
    }

    /// Sends an `Origin` header.
    pub fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Offers subprotocols, most preferred first.
    pub fn subprotocols(mut self, protocols: &[&'a str]) -> Self {
        self.subprotocols.extend_from_slice(protocols);
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sets limits, buffer size and timeouts.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Uses this TLS configuration for `wss://` instead of the default
    /// (webpki roots, see [`default_client_config`](super::default_client_config)).
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }
}

/// Runs the client handshake on an already-connected stream, after turning
/// on [`Options::tcp_keepalive`] (on by default; see
/// [`Transport::set_tcp_keepalive`]; the handshake goes on if the system
/// refuses it).
pub fn client<S: Transport>(
    mut stream: S,
    request: &ClientRequest<'_>,
    options: Options,
) -> Result<WebSocket<S>, Error> {
    start_tcp_keepalive(&mut stream, &options);
    let mut rng = MaskRng::from_os()?;
    let deflate = deflate_offer(&options);
    let offers = offers(request, deflate.as_deref());
    let request = ClientRequest {
        extensions: &offers,
        ..*request
    };
    let handshake =
        ClientHandshake::new(request, &mut rng).max_header_bytes(options.max_header_bytes);
    let deadline = Deadline::after(options.handshake_timeout, Phase::Handshake);
    deadline.arm(&mut stream)?;
    write_all(&mut stream, &encode_request(&handshake)?).map_err(|e| deadline.name(e))?;
    let mut buf = Vec::new();
    let done = loop {
        deadline.arm(&mut stream)?;
        read_more(&mut stream, &mut buf).map_err(|e| deadline.name(e))?;
        if let Some(done) = check_response(&handshake, &buf, &options)? {
            break done;
        }
    };
    stream.set_timeout(None)?;
    let mut ws = WebSocket::from_upgraded(stream, Role::Client, options, &buf[done.len..])?;
    ws.set_subprotocol(done.subprotocol);
    #[cfg(feature = "deflate")]
    if let (Some(agreed), Some(deflate)) = (done.deflate, &options.deflate) {
        ws.set_deflate(&agreed, deflate);
    }
    Ok(ws)
}

/// permessage-deflate's offer, when [`Options::deflate`] asks for it.
pub(crate) fn deflate_offer(options: &Options) -> Option<String> {
    #[cfg(feature = "deflate")]
    return options.deflate.map(|d| d.offer_value());
    #[cfg(not(feature = "deflate"))]
    {
        let _ = options;
        None
    }
}

/// The extensions a client offers: the request's own, then `deflate`.
pub(crate) fn offers<'a>(request: &ClientRequest<'a>, deflate: Option<&'a str>) -> Vec<&'a str> {
    let mut offers = request.extensions.to_vec();
    offers.extend(deflate);
    offers
}

/// What a 101 response settled.
pub(crate) struct Upgraded {
    /// The response's length: bytes after it are WebSocket input.
    pub(crate) len: usize,
    pub(crate) subprotocol: Option<String>,
    /// permessage-deflate, if the server accepted our offer.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<crate::handshake::deflate::Agreed>,
}

/// The request to write (shared by the std adapters).
pub(crate) fn encode_request(handshake: &ClientHandshake<'_>) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; 1024];
    loop {
        match handshake.write_request(&mut out) {
            Ok(n) => {
                out.truncate(n);
                return Ok(out);
            }
            Err(HandshakeError::BufferTooSmall) if out.len() < 1 << 16 => {
                out.resize(out.len() * 2, 0);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Checks the response read so far: once it is complete and valid, its
/// length (bytes after it are WebSocket input) and the agreed subprotocol.
pub(crate) fn check_response(
    handshake: &ClientHandshake<'_>,
    buf: &[u8],
    options: &Options,
) -> Result<Option<Upgraded>, Error> {
    let mut headers = vec![EMPTY_HEADER; options.max_headers];
    let Some(response) = handshake.receive(buf, &mut headers)? else {
        return Ok(None);
    };
    #[cfg(feature = "deflate")]
    let deflate = match &options.deflate {
        Some(deflate) => crate::handshake::deflate::check_response(
            &deflate.offer(),
            response.extensions().map(str::as_bytes),
        )
        .map_err(HandshakeError::Deflate)?,
        None => None,
    };
    Ok(Some(Upgraded {
        len: response.len,
        subprotocol: response.subprotocol.map(String::from),
        #[cfg(feature = "deflate")]
        deflate,
    }))
}

/// Connects to the first address of `host:port` that answers.
fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, Error> {
    let mut last = None;
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::connect(host, port, e))?;
    for addr in addrs {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let error = last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the host name resolved to no address",
        )
    });
    Err(Error::connect(host, port, error))
}
