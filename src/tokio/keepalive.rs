//! Keepalive pings ([`Options::keepalive`](super::Options::keepalive)): the
//! clock the sans-IO core does not have. While a read waits, a ping goes
//! out every `interval`; a ping not answered within `timeout` means the
//! peer has stopped answering.

use crate::blocking::Keepalive;
use ::tokio::time::{Instant, Sleep, sleep};
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::boxed::Box;

pub(super) use crate::blocking::keepalive::{CLOSE, PING};

/// What the keepalive timer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Send a ping now.
    Ping,
    /// The last ping went unanswered: fail the connection.
    Unanswered,
}

/// A connection's keepalive timer.
#[derive(Debug)]
pub(super) struct Pinger {
    keepalive: Keepalive,
    timer: Pin<Box<Sleep>>,
    /// While a ping is unanswered: the pong count when it went out, and when.
    awaiting: Option<(u32, Instant)>,
}

impl Pinger {
    /// A timer whose first ping is due one interval from now.
    pub(super) fn new(keepalive: Keepalive) -> Self {
        Pinger {
            keepalive,
            timer: Box::pin(sleep(keepalive.interval)),
            awaiting: None,
        }
    }

    /// The timeout error of a connection whose peer did not answer.
    pub(super) fn error(&self) -> std::io::Error {
        crate::blocking::keepalive::unanswered(self.keepalive)
    }

    /// `Ready` when something is due; `pongs` is the connection's count of
    /// pongs received. `can_ping` is false while a ping cannot be queued (a
    /// big frame is going out): the ping then waits.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>, pongs: u32, can_ping: bool) -> Poll<Due> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let now = Instant::now();
            match self.awaiting {
                Some((before, _)) if before == pongs => return Poll::Ready(Due::Unanswered),
                Some((_, sent)) => {
                    // Answered: the next ping one interval after the last.
                    self.awaiting = None;
                    let next = (sent + self.keepalive.interval).max(now);
                    self.timer.as_mut().reset(next);
                }
                None if !can_ping => {
                    let retry = now + self.keepalive.interval.min(self.keepalive.timeout);
                    self.timer.as_mut().reset(retry);
                }
                None => {
                    self.awaiting = Some((pongs, now));
                    self.timer.as_mut().reset(now + self.keepalive.timeout);
                    return Poll::Ready(Due::Ping);
                }
            }
        }
    }
}
