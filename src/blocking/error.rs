//! The std adapter's error: I/O, or one of the core's errors.

use crate::close::CloseCode;
use crate::error::{ProtocolError, SendError};
use crate::handshake::{HandshakeError, UrlError};
use std::io;
use std::string::String;

/// Everything that can go wrong on a std WebSocket (blocking or tokio).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (includes timeouts: `WouldBlock` / `TimedOut`).
    Io(io::Error),
    /// The URL is not a valid `ws://` or `wss://` URL.
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        error: UrlError,
    },
    /// The opening handshake failed (a non-101 answer carries its status).
    Handshake(HandshakeError),
    /// The peer broke the protocol; the close frame with
    /// [`ProtocolError::close_code`] was sent if the transport allowed.
    Protocol(ProtocolError),
    /// The frame cannot be sent (e.g. the connection is closing).
    Send(SendError),
    /// The closing handshake is complete: no more messages.
    ConnectionClosed,
    /// We (the server application) refused the handshake with this status.
    Refused {
        /// The HTTP status sent.
        status: u16,
    },
    /// `wss://` needs the `tls` feature.
    TlsNotEnabled,
    /// TLS failed.
    #[cfg(feature = "tls")]
    Tls(rustls::Error),
    /// A phase did not end within its deadline (however slowly the peer's
    /// bytes trickled in meanwhile).
    Timeout(Phase),
    /// The peer's close frame has arrived, with this status code (`None`
    /// when it had none): nothing more can be sent. A data frame is refused
    /// with it once the close has been received; a write that fails because
    /// the peer ended the transport reports it too when the peer's close is
    /// among the bytes received, read or not. Read on to finish the closing
    /// handshake (the messages before the close are still there).
    PeerClosed(Option<CloseCode>),
}

/// The phases of a connection that have a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// The opening handshake (TCP connect, TLS and the HTTP upgrade):
    /// [`Options::handshake_timeout`](super::Options::handshake_timeout).
    Handshake,
    /// The closing handshake, from our close frame to the peer's:
    /// [`Options::close_timeout`](super::Options::close_timeout).
    Close,
}

impl core::fmt::Display for Phase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Phase::Handshake => {
                "the opening handshake did not complete within the handshake timeout"
            }
            Phase::Close => {
                "the peer did not complete the closing handshake within the close timeout"
            }
        })
    }
}

impl Error {
    /// The error for an invalid `url`.
    pub(crate) fn url(url: &str, error: UrlError) -> Self {
        Error::Url {
            url: url.into(),
            error,
        }
    }

    /// A failed connection to `host:port`, which the message names.
    pub(crate) fn connect(host: &str, port: u16, error: io::Error) -> Self {
        let kind = error.kind();
        Error::Io(io::Error::new(
            kind,
            std::format!("cannot connect to {host}:{port}: {error}"),
        ))
    }

    /// True for a phase's deadline ([`Error::Timeout`]) or a read or write
    /// that timed out.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Url { url, error } => write!(f, "invalid URL {url:?}: {error}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Protocol(e) => write!(f, "protocol error (close code {}): {e}", e.close_code()),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::ConnectionClosed => f.write_str("the connection is closed"),
            Error::Refused { status } => write!(f, "handshake refused with HTTP {status}"),
            Error::TlsNotEnabled => f.write_str("wss:// needs wsock's `tls` feature"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "TLS error: {e}"),
            Error::Timeout(phase) => write!(f, "timed out: {phase}"),
            Error::PeerClosed(Some(code)) => {
                write!(
                    f,
                    "the peer closed the connection with code {code}: nothing more can be sent"
                )
            }
            Error::PeerClosed(None) => {
                f.write_str("the peer closed the connection (no code): nothing more can be sent")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Url { error, .. } => Some(error),
            Error::Handshake(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

/// rustls (through `StreamOwned` or tokio-rustls) reports TLS failures as
/// I/O errors wrapping its own error: those become [`Error::Tls`].
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        #[cfg(feature = "tls")]
        if let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return Error::Tls(tls.clone());
        }
        Error::Io(e)
    }
}
impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}
impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}
#[cfg(feature = "tls")]
impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e)
    }
}
