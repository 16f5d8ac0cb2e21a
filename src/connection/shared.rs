//! What both halves of a connection see: the closing handshake (§7), the
//! connection's failure, and the control frames owed to the peer (§5.5).

use super::State;
use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::frame::MAX_CONTROL_PAYLOAD;
use heapless::Vec;

/// What moves the closing handshake (see [`TRANSITIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Our close frame goes out: a new one, or the reply to the peer's.
    SendClose,
    /// The peer's close frame arrived.
    ReceiveClose,
    /// A protocol error failed the connection; its close frame is owed.
    Fail,
    /// The transport ended.
    TransportEnd,
}

/// Every transition of the closing handshake, in order of state then step:
/// `(state, step, next)`, where `None` means the step is refused (sending)
/// or ignored (receiving) in that state. The module docs show it as a table.
pub const TRANSITIONS: [(State, Step, Option<State>); 16] = {
    use State::*;
    use Step::*;
    [
        (Open, SendClose, Some(CloseSent)),
        (Open, ReceiveClose, Some(CloseReceived)),
        (Open, Fail, Some(Closed)),
        (Open, TransportEnd, Some(Closed)),
        (CloseSent, SendClose, None),
        (CloseSent, ReceiveClose, Some(Closed)),
        (CloseSent, Fail, Some(Closed)),
        (CloseSent, TransportEnd, Some(Closed)),
        (CloseReceived, SendClose, Some(Closed)),
        (CloseReceived, ReceiveClose, None),
        (CloseReceived, Fail, Some(Closed)),
        (CloseReceived, TransportEnd, Some(Closed)),
        (Closed, SendClose, None),
        (Closed, ReceiveClose, None),
        (Closed, Fail, Some(Closed)),
        (Closed, TransportEnd, Some(Closed)),
    ]
};

impl State {
    /// The state after `step`, from [`TRANSITIONS`]; `None` if `step` is
    /// refused or ignored here.
    #[inline]
    pub const fn after(self, step: Step) -> Option<State> {
        // The table is ordered by state, then step (a test checks it).
        TRANSITIONS[self as usize * 4 + step as usize].2
    }
}

/// A close frame the connection owes the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingClose {
    pub(super) code: Option<CloseCode>,
    pub(super) reason: &'static str,
}

/// The part of a connection both halves need; see the
/// [module docs](super#halves). Every method is short and does no I/O.
#[derive(Debug, Clone)]
pub struct Shared {
    pub(super) role: Role,
    pub(super) config: Config,
    pub(super) state: State,
    /// Why the connection failed, if it did.
    pub(super) failure: Option<ProtocolError>,
    /// The transport ended (the peer will send nothing more).
    pub(super) eof: bool,
    pub(super) pending_pong: Option<Vec<u8, MAX_CONTROL_PAYLOAD>>,
    pub(super) pending_close: Option<PendingClose>,
    /// The peer's close frame arrived: its status code, if it had one.
    pub(super) peer_close: Option<Option<CloseCode>>,
}

impl Shared {
    pub(super) fn new(role: Role, config: Config) -> Self {
        Shared {
            role,
            config,
            state: State::Open,
            failure: None,
            eof: false,
            pending_pong: None,
            pending_close: None,
            peer_close: None,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings the connection was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Gives negotiated extensions the RSV `bits` (e.g. [`RSV1`](crate::frame::RSV1)
    /// once permessage-deflate is agreed), as
    /// [`Config::extension_rsv`] would have from the start: for a
    /// connection made before its handshake's result was known.
    pub fn set_extension_rsv(&mut self, bits: u8) {
        self.config.extension_rsv = bits & 0b111;
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The error that failed the connection, if one did.
    pub fn failure(&self) -> Option<ProtocolError> {
        self.failure
    }

    /// True if the connection owes the peer a frame (a pong, a close reply,
    /// or the close for a failure): the sender should
    /// [`poll_transmit`](super::Sender::poll_transmit).
    pub fn wants_transmit(&self) -> bool {
        self.pending_pong.is_some() || self.pending_close.is_some()
    }

    /// The peer's close frame, once it has been received: `Some` with its
    /// status code (`Some(None)` for a close without one). Adapters use it
    /// to say why a send was refused.
    pub fn peer_close(&self) -> Option<Option<CloseCode>> {
        self.peer_close
    }

    /// True once nothing more will be received: the peer's close arrived,
    /// the connection failed, or the transport ended.
    pub fn is_receive_done(&self) -> bool {
        matches!(self.state, State::CloseReceived | State::Closed)
    }

    /// True once the transport ended (reported with
    /// [`receive_eof`](Shared::receive_eof)).
    pub fn is_transport_ended(&self) -> bool {
        self.eof
    }

    /// True when the transport should be closed now (§7.1.1), given that no
    /// data frame is half-written: all owed frames are written and either
    /// the connection failed, the peer ended the transport, or the closing
    /// handshake is complete and we are the server (the server closes TCP
    /// first; a client waits for the server to do so and reports it with
    /// [`receive_eof`](Shared::receive_eof)).
    pub fn should_shutdown(&self) -> bool {
        !self.wants_transmit()
            && (self.eof
                || (self.state == State::Closed
                    && (self.role == Role::Server || self.failure.is_some())))
    }

    /// Moves the closing handshake by `step` (see [`TRANSITIONS`]); returns
    /// false, changing nothing, if the step is refused or ignored.
    pub(super) fn step(&mut self, step: Step) -> bool {
        match self.state.after(step) {
            Some(next) => {
                self.state = next;
                true
            }
            None => false,
        }
    }

    /// Fails the connection for an error found outside the core, such as a
    /// full message buffer (§7.1.7): queues a close with the error's code
    /// (unless we already sent one) and moves to [`State::Closed`].
    pub fn fail(&mut self, error: ProtocolError) {
        if self.failure.is_some() {
            return;
        }
        self.failure = Some(error);
        self.pending_pong = None;
        let may_send = matches!(self.state, State::Open | State::CloseReceived)
            && error != ProtocolError::UnexpectedEof
            && !self.eof;
        self.pending_close = may_send.then_some(PendingClose {
            code: Some(error.close_code()),
            reason: error.close_reason(),
        });
        self.step(Step::Fail);
    }

    /// Fails the connection and hands the error back.
    pub(super) fn failed(&mut self, error: ProtocolError) -> ProtocolError {
        self.fail(error);
        error
    }

    /// Reports that the transport ended (read returned 0 bytes). Ending before
    /// the closing handshake is [`ProtocolError::UnexpectedEof`] (close code
    /// 1006); after the peer's close frame it is the normal end.
    pub fn receive_eof(&mut self) -> Result<(), ProtocolError> {
        let clean = matches!(self.state, State::Closed | State::CloseReceived);
        self.eof = true;
        self.pending_pong = None;
        self.pending_close = None;
        if clean {
            self.step(Step::TransportEnd);
            Ok(())
        } else {
            self.fail(ProtocolError::UnexpectedEof);
            Err(ProtocolError::UnexpectedEof)
        }
    }
}
