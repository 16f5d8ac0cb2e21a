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

    /// A read or write of the phase that timed out is the phase's timeout.
    pub(crate) fn name(&self, error: Error) -> Error {
        if error.is_timeout() {
            Error::Timeout(self.phase)
        } else {
            error
        }
    }
}
