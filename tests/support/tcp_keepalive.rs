//! Reading a socket's TCP keepalive back from the system, for the std
//! adapters' keepalive tests (Linux: where all three values can be read).

use socket2::SockRef;
use std::time::Duration;
use wsock::blocking::TcpKeepalive;

/// The documented default, written out (not `TcpKeepalive::new()`), so a
/// changed default fails the tests.
pub const DEFAULT: TcpKeepalive = TcpKeepalive {
    idle: Duration::from_secs(60),
    interval: Duration::from_secs(10),
    retries: 6,
};

/// Values unlike the default and the system's (7200 s, 75 s, 9).
pub const CUSTOM: TcpKeepalive = TcpKeepalive {
    idle: Duration::from_secs(37),
    interval: Duration::from_secs(7),
    retries: 4,
};

/// The keepalive `socket` has (`None`: off).
pub fn keepalive_of(socket: SockRef<'_>) -> Option<TcpKeepalive> {
    socket.keepalive().unwrap().then(|| TcpKeepalive {
        idle: socket.tcp_keepalive_time().unwrap(),
        interval: socket.tcp_keepalive_interval().unwrap(),
        retries: socket.tcp_keepalive_retries().unwrap(),
    })
}
