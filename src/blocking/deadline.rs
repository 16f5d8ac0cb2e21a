//! A deadline for a whole phase (the opening handshake, the close) over a
//! transport whose only clock is a per-read timeout.

use super::error::{Error, Phase};
use super::transport::Transport;
use std::time::{Duration, Instant};

/// When `phase` must be over; `None` for no limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    phase: Phase,
}

impl Deadline {
    /// A deadline `limit` from now.
    pub(crate) fn after(limit: Option<Duration>, phase: Phase) -> Self {
        Deadline {
            at: limit.map(|limit| Instant::now() + limit),
            phase,
        }
    }

    /// Before each read or write of the phase: sets the transport's timeout
    /// to the time that is left, so that bytes trickling in cannot stretch
    /// the phase; [`Error::Timeout`] once it has passed.
    pub(crate) fn arm<S: Transport>(&self, stream: &mut S) -> Result<(), Error> {
        let Some(at) = self.at else {
            return Ok(stream.set_timeout(None)?);
        };
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout(self.phase));
        }
        Ok(stream.set_timeout(Some(left))?)
    }

    /// The time left, `None` for no limit.
    pub(crate) fn left(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// A read or write of the phase that timed out is the phase's timeout.
    pub(crate) fn name(&self, error: Error) -> Error {
        if error.is_timeout() {
            Error::Timeout(self.phase)
        } else {
            error
        }
    }
}

/// The closing phase's clock for a connection: the phase starts when the
/// connection stops being open (our close, the peer's, or a failure) and
/// [`Options::close_timeout`](super::Options::close_timeout) bounds all of
/// it — writing our close, reading the peer's, draining after a failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CloseClock {
    timeout: Option<Duration>,
    deadline: Option<Deadline>,
}

impl CloseClock {
    /// A clock for a phase of at most `timeout`, not started.
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        CloseClock {
            timeout,
            deadline: None,
        }
    }

    /// The phase's deadline, started now if it has not been.
    pub(crate) fn start(&mut self) -> Deadline {
        let timeout = self.timeout;
        *self
            .deadline
            .get_or_insert_with(|| Deadline::after(timeout, Phase::Close))
    }

    /// The deadline for I/O in `state`: none while the connection is open
    /// (and the phase not started), else the phase's.
    pub(crate) fn for_state(&mut self, state: crate::connection::State) -> Option<Deadline> {
        match (state, self.deadline) {
            (crate::connection::State::Open, None) => None,
            _ => Some(self.start()),
        }
    }

    /// The timeout this clock was made with.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}
