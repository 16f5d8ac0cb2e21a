//! Opening a client connection on tokio: `connect(url)`, the builder, and
//! the handshake over any stream (RFC 6455 §4.1), bounded as a whole by
//! [`Options::handshake_timeout`].

use super::{Error, Options, WebSocket, read_more, within};
use crate::blocking::{MaskRng, check_response, encode_request};
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

/// Connects to a `ws://` URL with the default options. See [`ClientBuilder`]
/// for subprotocols, headers, limits and timeouts.
pub async fn connect(url: &str) -> Result<WebSocket<TcpStream>, Error> {
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

    /// Connects over TCP and runs the opening handshake; connecting and the
    /// handshake together are bounded by [`Options::handshake_timeout`].
    /// `wss://` is not supported by the tokio adapter yet
    /// ([`Error::TlsNotEnabled`]).
    pub async fn connect(self) -> Result<WebSocket<TcpStream>, Error> {
        let builder = self.0;
        let url = Url::parse(builder.url)?;
        if url.secure {
            return Err(Error::TlsNotEnabled);
        }
        let options = builder.options;
        within(options.handshake_timeout, async {
            let tcp = TcpStream::connect((url.host, url.port)).await?;
            // WebSocket messages are latency-sensitive; the adapter batches itself.
            tcp.set_nodelay(true)?;
            handshake(tcp, &builder.request(url), options).await
        })
        .await
    }
}

/// Runs the client handshake on an already-connected stream, bounded by
/// [`Options::handshake_timeout`].
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
    let handshake =
        ClientHandshake::new(*request, &mut rng).max_header_bytes(options.max_header_bytes);
    stream.write_all(&encode_request(&handshake)?).await?;
    stream.flush().await?;
    let mut buf = Vec::new();
    let (len, subprotocol) = loop {
        read_more(&mut stream, &mut buf).await?;
        if let Some(done) = check_response(&handshake, &buf, &options)? {
            break done;
        }
    };
    let mut ws = WebSocket::from_upgraded(stream, Role::Client, options, &buf[len..])?;
    ws.set_subprotocol(subprotocol);
    Ok(ws)
}
