//! Keepalive pings for the blocking adapter ([`Options::keepalive`](super::Options::keepalive)):
//! while a read waits on an open connection, the read's timeout is the time
//! to the next ping (or to the answer's deadline); a ping not answered in
//! time fails the connection with 1011.

use super::Keepalive;
use crate::close::CloseCode;
use crate::event::Outgoing;
use std::time::{Duration, Instant};

/// Our keepalive ping (both adapters).
pub(crate) const PING: Outgoing<'static> = Outgoing::Ping(b"wsock keepalive");

/// The close frame for a connection whose peer did not answer (both
/// adapters).
pub(crate) const CLOSE: Outgoing<'static> =
    Outgoing::Close(Some((CloseCode::INTERNAL_ERROR, "keepalive ping timeout")));

/// What the keepalive clock asks for before a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing yet: read, waiting at most this long.
    Wait(Duration),
    /// Send a ping now.
    Ping,
    /// The last ping went unanswered: fail the connection.
    Unanswered,
}

/// A connection's keepalive clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pinger {
    keepalive: Keepalive,
    /// When the next ping is due (while none is unanswered).
    next: Instant,
    /// While a ping is unanswered: the pong count when it went out, and when.
    awaiting: Option<(u32, Instant)>,
}

impl Pinger {
    /// A clock whose first ping is due one interval from now.
    pub(crate) fn new(keepalive: Keepalive) -> Self {
        Pinger {
            keepalive,
            next: Instant::now() + keepalive.interval,
            awaiting: None,
        }
    }

    /// What is due now; `pongs` is the connection's count of pongs received.
    pub(crate) fn due(&mut self, pongs: u32) -> Due {
        let now = Instant::now();
        if let Some((before, sent)) = self.awaiting {
            if before != pongs {
                // Answered: the next ping one interval after the last.
                self.awaiting = None;
                self.next = sent + self.keepalive.interval;
            } else {
                let deadline = sent + self.keepalive.timeout;
                return match deadline.checked_duration_since(now) {
                    Some(left) if !left.is_zero() => Due::Wait(left),
                    _ => Due::Unanswered,
                };
            }
        }
        match self.next.checked_duration_since(now) {
            Some(left) if !left.is_zero() => Due::Wait(left),
            _ => {
                self.awaiting = Some((pongs, now));
                Due::Ping
            }
        }
    }

    /// The error of a connection whose peer did not answer.
    pub(crate) fn error(&self) -> std::io::Error {
        unanswered(self.keepalive)
    }
}

/// The error of a connection whose peer did not answer a ping within
/// `keepalive.timeout` (both adapters).
pub(crate) fn unanswered(keepalive: Keepalive) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        std::format!(
            "the peer did not answer a keepalive ping within {:?}",
            keepalive.timeout
        ),
    )
}
