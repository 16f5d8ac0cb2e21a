//! The connection state machine (RFC 6455 §5–§7) after the opening handshake.
//!
//! A [`Connection`] owns protocol state only; the caller owns every buffer:
//!
//! - **input**: [`receive`](Connection::receive) takes a mutable slice of
//!   received bytes, unmasks payloads in place and returns how many bytes it
//!   consumed and at most one [`Event`](crate::Event); [`receive_eof`](Connection::receive_eof)
//!   reports that the transport ended.
//! - **output**: [`encode`](Connection::encode) (or
//!   [`start_frame`](Connection::start_frame) + [`encode_payload`](Connection::encode_payload)
//!   for frames bigger than the output buffer) writes frames into a caller
//!   buffer; [`poll_transmit`](Connection::poll_transmit) writes the replies
//!   the connection owes (pongs, the close reply, the close for a failure).
//! - **what now**: [`state`](Connection::state),
//!   [`wants_transmit`](Connection::wants_transmit) and
//!   [`should_shutdown`](Connection::should_shutdown) tell the adapter what to do.
//!
//! The closing handshake is a state, and these are all the transitions:
//!
//! | state           | event                          | next            |
//! |-----------------|--------------------------------|-----------------|
//! | `Open`          | we send a close                | `CloseSent`     |
//! | `Open`          | peer's close arrives (reply queued) | `CloseReceived` |
//! | `Open`          | protocol error (close queued)  | `Closed`        |
//! | `CloseReceived` | our reply is written / we send a close | `Closed` |
//! | `CloseSent`     | peer's close arrives, or an error | `Closed`     |
//! | any             | transport ends (`receive_eof`) | `Closed`        |

mod receive;
mod send;

use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::event::DataKind;
use crate::frame::{FrameDecoder, MAX_CONTROL_PAYLOAD};
use crate::utf8::Utf8Validator;
use core::convert::Infallible;
use heapless::Vec;

pub use receive::Received;
pub use send::MAX_CONTROL_FRAME_LEN;

/// Where the connection is in its life (§7, see the module docs for the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close and wait for the peer's; we may still receive data.
    CloseSent,
    /// The peer sent a close; our reply is queued (see `poll_transmit`).
    CloseReceived,
    /// The closing handshake is complete, or the connection failed.
    Closed,
}

/// The random source of a connection that never masks (a server's).
///
/// It cannot be constructed outside this crate, so no client can be built
/// with it: clients must mask with unpredictable keys (§10.3).
#[derive(Debug, Clone, Copy)]
pub struct NoRng(());

impl rand_core::TryRng for NoRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0);
        Ok(())
    }
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxFrame {
    /// Between frames.
    None,
    /// A data frame; `fin` ends its message.
    Data { fin: bool },
    /// A control frame whose payload is gathered into `control`.
    Control(crate::frame::OpCode),
}

/// The incoming message being received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RxMessage {
    kind: DataKind,
    rsv: u8,
    /// Payload bytes announced so far (sum of frame lengths), for `max_message_size`.
    len: u64,
    /// No chunk of it has been reported yet.
    first_pending: bool,
}

/// A data frame being streamed out by `start_frame` / `encode_payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TxFrame {
    remaining: u64,
    offset: u64,
    mask: Option<[u8; 4]>,
    kind: DataKind,
    /// The frame ends its message.
    fin: bool,
}

/// A close frame the connection owes the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingClose {
    code: Option<CloseCode>,
    reason: &'static str,
}

/// A WebSocket connection after the handshake: a pure state machine.
///
/// `R` is the random source for client masking keys; servers use [`NoRng`].
/// See the [module docs](self) for the input/output model and the README for
/// a complete client ↔ server example.
#[derive(Debug, Clone)]
pub struct Connection<R = NoRng> {
    role: Role,
    config: Config,
    rng: R,
    state: State,
    /// Why the connection failed, if it did.
    failure: Option<ProtocolError>,
    /// The transport ended (the peer will send nothing more).
    eof: bool,

    decoder: FrameDecoder,
    rx_frame: RxFrame,
    rx_message: Option<RxMessage>,
    rx_utf8: Utf8Validator,
    control: Vec<u8, MAX_CONTROL_PAYLOAD>,

    tx_message: Option<DataKind>,
    tx_utf8: Utf8Validator,
    tx_frame: Option<TxFrame>,
    pending_pong: Option<Vec<u8, MAX_CONTROL_PAYLOAD>>,
    pending_close: Option<PendingClose>,
}

impl Connection<NoRng> {
    /// A server-side connection: it expects masked frames and sends unmasked ones.
    pub fn server(config: Config) -> Self {
        Self::with_rng(Role::Server, config, NoRng(()))
    }
}

impl<R: rand_core::CryptoRng> Connection<R> {
    /// A client-side connection that masks every frame with a fresh key from `rng`.
    pub fn client(config: Config, rng: R) -> Self {
        Self::with_rng(Role::Client, config, rng)
    }

    /// A connection for either role (a server never draws from `rng`).
    pub fn new(role: Role, config: Config, rng: R) -> Self {
        Self::with_rng(role, config, rng)
    }
}

impl<R: rand_core::Rng> Connection<R> {
    fn with_rng(role: Role, config: Config, rng: R) -> Self {
        Connection {
            role,
            config,
            rng,
            state: State::Open,
            failure: None,
            eof: false,
            decoder: FrameDecoder::new(),
            rx_frame: RxFrame::None,
            rx_message: None,
            rx_utf8: Utf8Validator::new(),
            control: Vec::new(),
            tx_message: None,
            tx_utf8: Utf8Validator::new(),
            tx_frame: None,
            pending_pong: None,
            pending_close: None,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings this connection was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The error that failed the connection, if one did.
    pub fn failure(&self) -> Option<ProtocolError> {
        self.failure
    }

    /// True if the connection owes the peer a frame (a pong, a close reply, or
    /// the close for a failure): call [`poll_transmit`](Connection::poll_transmit).
    pub fn wants_transmit(&self) -> bool {
        self.pending_pong.is_some() || self.pending_close.is_some()
    }

    /// True when the adapter should close the transport now (§7.1.1): all
    /// owed frames are written and either the connection failed, the peer
    /// ended the transport, or the closing handshake is complete and we are
    /// the server (the server closes TCP first; a client waits for the
    /// server to do so and reports it with [`receive_eof`](Connection::receive_eof)).
    pub fn should_shutdown(&self) -> bool {
        if self.wants_transmit() || self.tx_frame.is_some() {
            return false;
        }
        self.eof
            || (self.state == State::Closed
                && (self.role == Role::Server || self.failure.is_some()))
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
        self.state = State::Closed;
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
            self.state = State::Closed;
            Ok(())
        } else {
            self.fail(ProtocolError::UnexpectedEof);
            Err(ProtocolError::UnexpectedEof)
        }
    }
}

#[cfg(test)]
mod tests;
