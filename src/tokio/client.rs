//! Opening a client connection on tokio: `connect(url)`, the builder, and
//! the handshake over any stream (RFC 6455 §4.1), bounded as a whole by
//! [`Options::handshake_timeout`].

use super::stream::MaybeTlsStream;
use super::{Error, Options, WebSocket, read_more, within};
use crate::blocking::{MaskRng, check_response, deflate_offer, encode_request, offers};
use crate::config::Role;
use crate::handshake::Url;
use crate::handshake::client::{ClientHandshake, ClientRequest};
use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use std::vec::Vec;

/// Options for [`connect`]: subprotocols, headers, limits and timeouts.
///
/// ```no_run
/// use wsock::tokio::{ClientBuilder, Options};
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), wsock::tokio::Error> {
/// let ws = ClientBuilder::new("ws://127.0.0.1:9001/chat")
///     .subprotocols(&["chat.v2", "chat"])
///     .origin("http://127.0.0.1")
///     .options(Options::new().handshake_timeout(Some(Duration::from_secs(3))))
///     .connect()
///     .await?;
/// println!("agreed on {:?}", ws.subprotocol());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder<'a>(crate::blocking::ClientBuilder<'a>);

/// Connects to a `ws://` (or, with the `tls` feature, `wss://`) URL with
/// the default options. See [`ClientBuilder`] for subprotocols, headers,
/// limits, timeouts and TLS configuration.
pub async fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
    ClientBuilder::new(url).connect().await
}

impl<'a> ClientBuilder<'a> {
    /// A builder for `url`.
    pub fn new(url: &'a str) -> Self {
        ClientBuilder(crate::blocking::ClientBuilder::new(url))
    }

    /// Sends an `Origin` header.
    pub fn origin(self, origin: &'a str) -> Self {
        ClientBuilder(self.0.origin(origin))
    }

    /// Offers subprotocols, most preferred first.
    pub fn subprotocols(self, protocols: &[&'a str]) -> Self {
        ClientBuilder(self.0.subprotocols(protocols))
    }

    /// Adds a request header.
    pub fn header(self, name: &'a str, value: &'a str) -> Self {
        ClientBuilder(self.0.header(name, value))
    }

    /// Sets limits, buffer sizes and timeouts.
    pub fn options(self, options: Options) -> Self {
        ClientBuilder(self.0.options(options))
    }

    /// Uses this rustls configuration for `wss://` (feature `tls`; the
    /// default trusts the Mozilla roots, see
    /// [`default_client_config`](crate::blocking::default_client_config)).
    #[cfg(feature = "tls")]
    pub fn tls_config(self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        ClientBuilder(self.0.tls_config(config))
    }

    /// Connects over TCP (and TLS for `wss://`) and runs the opening
    /// handshake; connecting, TLS and the handshake together are bounded by
    /// [`Options::handshake_timeout`]. Without the `tls` feature a
    /// `wss://` URL fails with [`Error::TlsNotEnabled`]. The socket gets
    /// [`Options::tcp_keepalive`] (on by default; the connection goes on if
    /// the system refuses it).
    pub async fn connect(self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let builder = self.0;
        let url = Url::parse(builder.url).map_err(|e| Error::url(builder.url, e))?;
        if url.secure && cfg!(not(feature = "tls")) {
            return Err(Error::TlsNotEnabled);
        }
        let options = builder.options;
        within(options.handshake_timeout, async {
            let tcp = TcpStream::connect((url.host, url.port))
                .await
                .map_err(|e| Error::connect(url.host, url.port, e))?;
            // WebSocket messages are latency-sensitive; the adapter batches itself.
            tcp.set_nodelay(true)?;
            // Not fatal: see `start_tcp_keepalive` in the blocking adapter.
            let _ = super::set_tcp_keepalive(&tcp, &options);
            let stream = match url.secure {
                #[cfg(feature = "tls")]
                true => super::tls::start_client(tcp, url.host, builder.tls.clone()).await?,
                _ => MaybeTlsStream::Plain(tcp),
            };
            handshake(stream, &builder.request(url), options).await
        })
        .await
    }
}

/// Runs the client handshake on an already-connected stream, bounded by
/// [`Options::handshake_timeout`]. `stream` may be any stream, so this does
/// not set [`Options::tcp_keepalive`]: for a `TcpStream`, see
/// [`set_tcp_keepalive`](super::set_tcp_keepalive).
pub async fn client<S>(
    stream: S,
    request: &ClientRequest<'_>,
    options: Options,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    within(
        options.handshake_timeout,
        handshake(stream, request, options),
    )
    .await
}

async fn handshake<S>(
    mut stream: S,
    request: &ClientRequest<'_>,
    options: Options,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut rng = MaskRng::from_os()?;
    let deflate = deflate_offer(&options);
    let offers = offers(request, deflate.as_deref());
    let request = ClientRequest {
        extensions: &offers,
        ..*request
    };
    let handshake =
        ClientHandshake::new(request, &mut rng).max_header_bytes(options.max_header_bytes);
    stream.write_all(&encode_request(&handshake)?).await?;
    stream.flush().await?;
    let mut buf = Vec::new();
    let done = loop {
        read_more(&mut stream, &mut buf).await?;
        if let Some(done) = check_response(&handshake, &buf, &options)? {
            break done;
        }
    };
    let mut ws = WebSocket::from_upgraded(stream, Role::Client, options, &buf[done.len..])?;
    ws.set_subprotocol(done.subprotocol);
    #[cfg(feature = "deflate")]
    if let (Some(agreed), Some(deflate)) = (done.deflate, &options.deflate) {
        ws.set_deflate(&agreed, deflate);
    }
    Ok(ws)
}
