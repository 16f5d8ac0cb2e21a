//! `wss://` over rustls (feature `tls`).

use super::transport::{MaybeTlsStream, Transport};
use super::{Acceptance, Error, Options, Rejection, TcpKeepalive, WebSocket, accept_with};
use crate::handshake::server::Request;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};
use std::boxed::Box;
use std::io::{self, Write};
use std::net::TcpStream;
use std::string::ToString;
use std::sync::Arc;
use std::time::Duration;

/// A client configuration trusting the Mozilla root certificates
/// (`webpki-roots`), with the `ring` crypto provider.
pub fn default_client_config() -> Result<Arc<ClientConfig>, Error> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Starts TLS on a connected TCP stream for `host`.
pub(super) fn wrap_client(
    tcp: TcpStream,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<MaybeTlsStream, Error> {
    let conn = ClientConnection::new(config, server_name(host)?)?;
    Ok(MaybeTlsStream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}

/// The name a client checks the server's certificate against.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_string())
        .map_err(|e| Error::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))
}

/// A server's `wss://` stream: rustls over TCP, as [`accept_tls`] returns it.
pub type TlsStream = StreamOwned<ServerConnection, TcpStream>;

/// Accepts a `wss://` connection: TLS with `config`, then the WebSocket
/// handshake as in [`accept_with`].
///
/// TLS failures (an untrusted certificate, a bad record) are
/// [`Error::Tls`]. `config` is a [`rustls::ServerConfig`] (re-exported as
/// `wsock::rustls`, built with the `ring` provider as wsock's own configs
/// are).
///
/// ```no_run
/// use std::net::TcpListener;
/// use std::sync::Arc;
/// use wsock::blocking::{accept_tls, Acceptance, Options, TlsStream, WebSocket};
/// # fn run(config: wsock::rustls::ServerConfig) -> Result<(), wsock::blocking::Error> {
/// let listener = TcpListener::bind("127.0.0.1:9443")?;
/// let config = Arc::new(config);
/// let (tcp, _) = listener.accept()?;
/// let mut ws: WebSocket<TlsStream> =
///     accept_tls(tcp, config.clone(), Options::new(), |_| Ok(Acceptance::default()))?;
/// let message = ws.read()?;
/// ws.send(message)?;
/// # Ok(()) }
/// ```
pub fn accept_tls<F>(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    options: Options,
    decide: F,
) -> Result<WebSocket<TlsStream>, Error>
where
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    let conn = ServerConnection::new(config)?;
    accept_with(StreamOwned::new(conn, tcp), options, decide)
}

/// TLS over TCP: timeouts and keepalive on the socket; shutdown sends
/// close_notify first.
macro_rules! tls_transport {
    ($($side:ty),*) => {$(
        impl Transport for StreamOwned<$side, TcpStream> {
            fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                self.sock.set_timeout(timeout)
            }
            fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                self.sock.set_read_timeout(timeout)
            }
            fn close_transport(&mut self) -> io::Result<()> {
                self.conn.send_close_notify();
                let _ = self.flush();
                self.sock.close_transport()
            }
            fn set_tcp_keepalive(&mut self, keepalive: &TcpKeepalive) -> io::Result<()> {
                self.sock.set_tcp_keepalive(keepalive)
            }
        }
    )*};
}

tls_transport!(ClientConnection, ServerConnection);
