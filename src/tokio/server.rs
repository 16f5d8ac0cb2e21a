//! Accepting a connection on tokio: the server handshake (RFC 6455 §4.2),
//! the same steps as the blocking adapter's, with the whole handshake
//! bounded by [`Options::handshake_timeout`].

use super::{Acceptance, Error, Options, Rejection, WebSocket, read_more, within};
use crate::blocking::ServerHandshake;
use crate::config::Role;
use crate::handshake::server::Request;
use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use std::io;

/// Turns on the TCP keepalive `options` ask for ([`Options::tcp_keepalive`],
/// on by default) on an accepted socket; with `None` it does nothing.
///
/// [`accept`], [`accept_with`] and `accept_tls` take any stream and cannot
/// reach the socket underneath, so a server calls this on what its
/// listener accepted, before the handshake. [`connect`](super::connect)
/// does it itself. The error is the system's refusal of a setting; a server
/// may well go on without keepalive rather than drop the connection.
///
/// ```no_run
/// use wsock::tokio::{accept_with, set_tcp_keepalive, Acceptance, Options};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let options = Options::new();
/// let (tcp, _) = listener.accept().await?;
/// // A peer that vanishes without a FIN is found in about 2 minutes.
/// let _ = set_tcp_keepalive(&tcp, &options);
/// let ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).await?;
/// # Ok(()) }
/// ```
pub fn set_tcp_keepalive(stream: &TcpStream, options: &Options) -> io::Result<()> {
    match &options.tcp_keepalive {
        Some(keepalive) => {
            crate::blocking::set_tcp_keepalive(socket2::SockRef::from(stream), keepalive)
        }
        None => Ok(()),
    }
}

/// Accepts every valid request, with the default options and no
/// subprotocol. TCP keepalive: see [`set_tcp_keepalive`].
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, Options::new(), |_| Ok(Acceptance::default())).await
}

/// Reads the upgrade request, lets `decide` look at it (path, Origin,
/// offered subprotocols, headers) and answers: 101 and a WebSocket, or the
/// rejection's status and [`Error::Refused`]. Invalid requests are answered
/// with the status their error calls for (400, 405, 426, 431). The whole
/// handshake, however slowly the request trickles in, is bounded by
/// [`Options::handshake_timeout`].
///
/// `stream` may be any stream, so this cannot set
/// [`Options::tcp_keepalive`] on its socket: for a `TcpStream`, call
/// [`set_tcp_keepalive`] first (as below).
///
/// ```no_run
/// use wsock::tokio::{accept_with, Acceptance, Options};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (tcp, _) = listener.accept().await?;
/// let _ = wsock::tokio::set_tcp_keepalive(&tcp, &Options::new());
/// let ws = accept_with(tcp, Options::new(), |request| {
///     if request.path != "/chat" {
///         return Err(404.into());
///     }
///     let chat = request.subprotocols().find(|p| *p == "chat");
///     Ok(Acceptance { subprotocol: chat.map(String::from), ..Acceptance::default() })
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn accept_with<S, F>(
    stream: S,
    options: Options,
    decide: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    within(
        options.handshake_timeout,
        handshake(stream, options, decide),
    )
    .await
}

/// The server handshake on a stream (TCP, or TLS once its own handshake is
/// done), unbounded: the caller bounds it.
pub(super) async fn handshake<S, F>(
    mut stream: S,
    options: Options,
    decide: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    let mut handshake = ServerHandshake::new(options, decide);
    loop {
        read_more(&mut stream, &mut handshake.buf).await?;
        let Some(answer) = handshake.step() else {
            continue;
        };
        match answer.outcome {
            Ok(accepted) => {
                stream.write_all(&answer.response).await?;
                stream.flush().await?;
                let leftover = &handshake.buf[accepted.request_len..];
                let mut ws = WebSocket::from_upgraded(stream, Role::Server, options, leftover)?;
                ws.set_subprotocol(accepted.subprotocol);
                #[cfg(feature = "deflate")]
                if let (Some(agreed), Some(deflate)) = (accepted.deflate, &options.deflate) {
                    ws.set_deflate(&agreed, deflate);
                }
                return Ok(ws);
            }
            Err(e) => {
                // Errors are moot by now: the transport ends either way.
                let _ = stream.write_all(&answer.response).await;
                let _ = stream.shutdown().await;
                return Err(e);
            }
        }
    }
}
