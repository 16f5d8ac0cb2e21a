//! What the blocking WebSocket needs from a transport: `Read + Write`, and
//! where the transport has them, timeouts, TCP keepalive and an orderly
//! shutdown.

use super::TcpKeepalive;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A byte stream a [`WebSocket`](super::WebSocket) runs over.
///
/// All methods have no-op defaults, so any `Read + Write` type qualifies
/// with an empty `impl`, or wrapped in [`Plain`] when it is not your type.
pub trait Transport: Read + Write {
    /// Bounds every later read and write by `timeout` (`None`: no bound).
    /// Used for the opening and closing handshakes.
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Bounds every later read by `timeout`, leaving writes as they are:
    /// the wait for the next keepalive ping, which must not cut a big write
    /// short. The default is [`set_timeout`](Transport::set_timeout).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_timeout(timeout)
    }

    /// Ends our side of the transport in an orderly way (TCP FIN, TLS
    /// close_notify); what the peer still sends can be read.
    fn close_transport(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Ends both directions, so that a read blocked on another handle of
    /// the same stream returns (a split WebSocket's close timeout). The
    /// default is [`close_transport`](Transport::close_transport).
    fn abort_transport(&mut self) -> io::Result<()> {
        self.close_transport()
    }

    /// Turns TCP keepalive on with these settings, on the TCP socket
    /// underneath (see [`TcpKeepalive`]). The handshakes call it with
    /// [`Options::tcp_keepalive`](super::Options::tcp_keepalive) and go on
    /// if it fails.
    ///
    /// ```no_run
    /// use wsock::blocking::{TcpKeepalive, Transport};
    /// let mut tcp = std::net::TcpStream::connect("127.0.0.1:9001")?;
    /// tcp.set_tcp_keepalive(&TcpKeepalive::new())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn set_tcp_keepalive(&mut self, keepalive: &TcpKeepalive) -> io::Result<()> {
        let _ = keepalive;
        Ok(())
    }
}

/// Sets `keepalive` on a TCP socket (std's or tokio's) with socket2.
pub(crate) fn set_tcp_keepalive(
    socket: socket2::SockRef<'_>,
    keepalive: &TcpKeepalive,
) -> io::Result<()> {
    // Most systems count in whole seconds and refuse 0.
    let second = Duration::from_secs(1);
    let params = socket2::TcpKeepalive::new().with_time(keepalive.idle.max(second));
    // Where socket2 can set them (its own cfgs, narrowed to the systems
    // named in `TcpKeepalive`'s documentation); elsewhere the system's
    // values apply.
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "ios",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
        target_os = "windows",
    ))]
    let params = params
        .with_interval(keepalive.interval.max(second))
        .with_retries(keepalive.retries.max(1));
    socket.set_tcp_keepalive(&params)
}

impl Transport for TcpStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)?;
        self.set_write_timeout(timeout)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn close_transport(&mut self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Write)
    }

    fn abort_transport(&mut self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }

    fn set_tcp_keepalive(&mut self, keepalive: &TcpKeepalive) -> io::Result<()> {
        set_tcp_keepalive(socket2::SockRef::from(&*self), keepalive)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)?;
        self.set_write_timeout(timeout)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn close_transport(&mut self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Write)
    }

    fn abort_transport(&mut self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_timeout(timeout)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn close_transport(&mut self) -> io::Result<()> {
        (**self).close_transport()
    }

    fn abort_transport(&mut self) -> io::Result<()> {
        (**self).abort_transport()
    }

    fn set_tcp_keepalive(&mut self, keepalive: &TcpKeepalive) -> io::Result<()> {
        (**self).set_tcp_keepalive(keepalive)
    }
}

impl<T: Transport + ?Sized> Transport for std::boxed::Box<T> {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_timeout(timeout)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn close_transport(&mut self) -> io::Result<()> {
        (**self).close_transport()
    }

    fn abort_transport(&mut self) -> io::Result<()> {
        (**self).abort_transport()
    }

    fn set_tcp_keepalive(&mut self, keepalive: &TcpKeepalive) -> io::Result<()> {
        (**self).set_tcp_keepalive(keepalive)
    }
}

/// Any `Read + Write` as a [`Transport`] without timeouts or shutdown (they
/// are the caller's to manage).
#[derive(Debug)]
pub struct Plain<T>(pub T);

impl<T: Read> Read for Plain<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<T: Write> Write for Plain<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<T: Read + Write> Transport for Plain<T> {}

/// The stream [`connect`](super::connect) returns: TCP, or TLS over TCP for `wss://`.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "tls")]
    Tls(std::boxed::Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => &s.sock,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.flush(),
        }
    }
}

impl Transport for MaybeTlsStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.set_timeout(timeout),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.set_timeout(timeout),
        }
    }
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => Transport::set_read_timeout(s, timeout),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Transport::set_read_timeout(s, timeout),
        }
    }
    fn close_transport(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.close_transport(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.close_transport(),
        }
    }
    fn abort_transport(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.abort_transport(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.abort_transport(),
        }
    }
    fn set_tcp_keepalive(&mut self, keepalive: &TcpKeepalive) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.set_tcp_keepalive(keepalive),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.set_tcp_keepalive(keepalive),
        }
    }
}
