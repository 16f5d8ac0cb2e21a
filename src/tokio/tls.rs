//! `wss://` on tokio over tokio-rustls (features `tokio` + `tls`): the same
//! configurations as the blocking adapter's (Mozilla roots by default, or
//! the caller's `ClientConfig`; the caller's `ServerConfig`).

use super::server::handshake;
use super::stream::MaybeTlsStream;
use super::{Acceptance, Error, Options, Rejection, WebSocket, within};
use crate::blocking::{default_client_config, server_name};
use crate::handshake::server::Request;
use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::TcpStream;
use rustls::{ClientConfig, ServerConfig};
use std::boxed::Box;
use std::sync::Arc;

/// The stream of a `wss://` connection [`accept_tls`] accepted.
pub type TlsStream<S = TcpStream> = tokio_rustls::server::TlsStream<S>;

/// Runs the TLS handshake of a `wss://` client on a connected TCP stream
/// (the caller bounds it with the opening handshake's deadline).
pub(super) async fn start_client(
    tcp: TcpStream,
    host: &str,
    config: Option<Arc<ClientConfig>>,
) -> Result<MaybeTlsStream, Error> {
    let config = match config {
        Some(config) => config,
        None => default_client_config()?,
    };
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(server_name(host)?, tcp)
        .await?;
    Ok(MaybeTlsStream::Tls(Box::new(tls)))
}

/// Accepts a `wss://` connection: TLS with `config`, then the WebSocket
/// handshake as in [`accept_with`](super::accept_with). Both together are
/// bounded by [`Options::handshake_timeout`]. TCP keepalive: call
/// [`set_tcp_keepalive`](super::set_tcp_keepalive) on the accepted socket
/// first.
///
/// ```no_run
/// use std::sync::Arc;
/// use wsock::tokio::{accept_tls, Acceptance, Options};
/// # async fn run(config: rustls::ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9443").await?;
/// let config = Arc::new(config);
/// let (tcp, _) = listener.accept().await?;
/// let mut ws = accept_tls(tcp, config.clone(), Options::new(), |_| Ok(Acceptance::default())).await?;
/// let message = ws.read().await?;
/// ws.send(message).await?;
/// # Ok(()) }
/// ```
pub async fn accept_tls<S, F>(
    stream: S,
    config: Arc<ServerConfig>,
    options: Options,
    decide: F,
) -> Result<WebSocket<TlsStream<S>>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    within(options.handshake_timeout, async {
        let tls = tokio_rustls::TlsAcceptor::from(config)
            .accept(stream)
            .await?;
        handshake(tls, options, decide).await
    })
    .await
}
