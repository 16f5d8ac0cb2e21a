//! Accepting a connection on tokio: the server handshake (RFC 6455 §4.2),
//! the same steps as the blocking adapter's, with the whole handshake
//! bounded by [`Options::handshake_timeout`].

use super::{Acceptance, Error, Options, Rejection, WebSocket, read_more, within};
use crate::blocking::ServerHandshake;
use crate::config::Role;
use crate::handshake::server::Request;
use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Accepts every valid request, with the default options and no subprotocol.
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
/// ```no_run
/// use wsock::tokio::{accept_with, Acceptance, Options};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (tcp, _) = listener.accept().await?;
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
