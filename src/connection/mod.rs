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
//! ## Halves
//!
//! A connection is three parts, and [`Connection::split`] hands them out so
//! that input and output can be driven from two threads or tasks:
//!
//! - [`Receiver`]: the frame decoder and the incoming message (input only);
//! - [`Sender`]: the masking RNG and the outgoing message (output only);
//! - [`Shared`]: what both sides must see — the closing handshake's state,
//!   why the connection failed, and the frames owed to the peer (the pong for
//!   a ping, the close reply). It is small (about 150 bytes) and every
//!   method on it is short and does no I/O, so a lock around it is never held
//!   for long.
//!
//! The receiver *owes* frames through `Shared`; only the sender writes them
//! ([`Sender::poll_transmit`]), between its own frames, so owed control
//! frames never land inside a data frame.
//!
//! ## The closing handshake
//!
//! The closing handshake is a state, and this table — [`TRANSITIONS`], which
//! a test compares with this text — is every transition there is:
//!
//! | state           | step            | next            |
//! |-----------------|-----------------|-----------------|
//! | `Open`          | `SendClose`     | `CloseSent`     |
//! | `Open`          | `ReceiveClose`  | `CloseReceived` |
//! | `Open`          | `Fail`          | `Closed`        |
//! | `Open`          | `TransportEnd`  | `Closed`        |
//! | `CloseSent`     | `SendClose`     | refused         |
//! | `CloseSent`     | `ReceiveClose`  | `Closed`        |
//! | `CloseSent`     | `Fail`          | `Closed`        |
//! | `CloseSent`     | `TransportEnd`  | `Closed`        |
//! | `CloseReceived` | `SendClose`     | `Closed`        |
//! | `CloseReceived` | `ReceiveClose`  | ignored         |
//! | `CloseReceived` | `Fail`          | `Closed`        |
//! | `CloseReceived` | `TransportEnd`  | `Closed`        |
//! | `Closed`        | `SendClose`     | refused         |
//! | `Closed`        | `ReceiveClose`  | ignored         |
//! | `Closed`        | `Fail`          | `Closed`        |
//! | `Closed`        | `TransportEnd`  | `Closed`        |
//!
//! `SendClose` is our close frame going out (a new one, or the reply the
//! peer's close is owed); `ReceiveClose` the peer's close frame; `Fail` a
//! protocol error (its close frame is owed); `TransportEnd` the transport
//! ending. "refused": the call fails with [`crate::SendError::Closing`];
//! "ignored": nothing changes (input after the peer's close is dropped,
//! §5.5.1).

mod receive;
mod send;
mod shared;

use crate::config::{Config, Role};
use crate::error::{ProtocolError, SendError};
use crate::event::{DataKind, Outgoing};
use core::convert::Infallible;

pub use receive::{Received, Receiver};
pub use send::{EncodedHeader, MAX_CONTROL_FRAME_LEN, Sender};
pub use shared::{Shared, Step, TRANSITIONS};

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

/// A WebSocket connection after the handshake: a pure state machine.
///
/// `R` is the random source for client masking keys; servers use [`NoRng`].
/// See the [module docs](self) for the input/output model and the README for
/// a complete client ↔ server example.
#[derive(Debug, Clone)]
pub struct Connection<R = NoRng> {
    shared: Shared,
    receiver: Receiver,
    sender: Sender<R>,
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

impl<R> Connection<R> {
    /// Splits the connection into its input half, its output half and the
    /// part they share (see [Halves](self#halves)); [`from_parts`](Connection::from_parts)
    /// puts them back together.
    ///
    /// ```
    /// use wsock::{Config, Connection, Event, Outgoing};
    /// let (mut rx, mut tx, mut shared) = Connection::server(Config::new()).split();
    /// // A masked ping (all-zero key): the receiver owes a pong...
    /// let mut input = [0x89, 0x80, 0, 0, 0, 0];
    /// let got = rx.receive(&mut shared, &mut input)?;
    /// assert!(matches!(got.event, Some(Event::Ping(_))));
    /// assert!(shared.wants_transmit());
    /// // ...and the sender writes it, then a message of its own.
    /// let mut out = [0u8; 16];
    /// let mut n = tx.poll_transmit(&mut shared, &mut out);
    /// n += tx.encode(&mut shared, Outgoing::Text("hi"), &mut out[n..])?;
    /// assert_eq!(&out[..n], b"\x8a\x00\x81\x02hi");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn split(self) -> (Receiver, Sender<R>, Shared) {
        (self.receiver, self.sender, self.shared)
    }

    /// A connection from the parts [`split`](Connection::split) gave.
    pub fn from_parts(receiver: Receiver, sender: Sender<R>, shared: Shared) -> Self {
        Connection {
            shared,
            receiver,
            sender,
        }
    }

    /// The three parts, borrowed at once (e.g. to receive into one while
    /// encoding a reply with another).
    pub fn parts_mut(&mut self) -> (&mut Receiver, &mut Sender<R>, &mut Shared) {
        (&mut self.receiver, &mut self.sender, &mut self.shared)
    }

    /// The input half (e.g. for the last control frame's payload, the
    /// payload still to come, or a close ahead).
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The output half (e.g. whether a message is half sent).
    pub fn sender(&self) -> &Sender<R> {
        &self.sender
    }

    /// The shared part: state, failure, owed frames.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Gives negotiated extensions RSV bits; see [`Shared::set_extension_rsv`].
    pub fn set_extension_rsv(&mut self, bits: u8) {
        self.shared.set_extension_rsv(bits);
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.shared.role
    }

    /// The settings this connection was made with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.shared.state
    }

    /// How many pongs have been received (wrapping); see
    /// [`Receiver::pongs_received`].
    pub fn pongs_received(&self) -> u32 {
        self.receiver.pongs_received()
    }

    /// The error that failed the connection, if one did.
    pub fn failure(&self) -> Option<ProtocolError> {
        self.shared.failure
    }

    /// True if the connection owes the peer a frame (a pong, a close reply, or
    /// the close for a failure): call [`poll_transmit`](Connection::poll_transmit).
    pub fn wants_transmit(&self) -> bool {
        self.shared.wants_transmit()
    }

    /// True when the adapter should close the transport now (§7.1.1): all
    /// owed frames are written, no data frame is half-written, and either the
    /// connection failed, the peer ended the transport, or the closing
    /// handshake is complete and we are the server (the server closes TCP
    /// first; a client waits for the server to do so and reports it with
    /// [`receive_eof`](Connection::receive_eof)).
    pub fn should_shutdown(&self) -> bool {
        self.sender.should_shutdown(&self.shared)
    }

    /// Fails the connection for an error found outside the core, such as a
    /// full message buffer (§7.1.7): queues a close with the error's code
    /// (unless we already sent one) and moves to [`State::Closed`].
    pub fn fail(&mut self, error: ProtocolError) {
        self.shared.fail(error);
    }

    /// Reports that the transport ended (read returned 0 bytes). Ending before
    /// the closing handshake is [`ProtocolError::UnexpectedEof`] (close code
    /// 1006); after the peer's close frame it is the normal end.
    pub fn receive_eof(&mut self) -> Result<(), ProtocolError> {
        self.shared.receive_eof()
    }
}

impl<R: rand_core::Rng> Connection<R> {
    fn with_rng(role: Role, config: Config, rng: R) -> Self {
        Connection {
            shared: Shared::new(role, config),
            receiver: Receiver::new(),
            sender: Sender::new(rng),
        }
    }

    /// Feeds received bytes; see [`Receiver::receive`].
    ///
    /// ```
    /// use wsock::{Connection, Config, Event};
    /// let mut server = Connection::server(Config::new());
    /// // A masked text frame "Hi" (key 00 00 00 00 keeps the example readable).
    /// let mut input = [0x81, 0x82, 0, 0, 0, 0, b'H', b'i'];
    /// let got = server.receive(&mut input)?;
    /// let Some(Event::Data(chunk)) = got.event else { panic!() };
    /// assert_eq!((chunk.payload, chunk.first, chunk.last), (&b"Hi"[..], true, true));
    /// assert_eq!(got.consumed, 8);
    /// # Ok::<(), wsock::ProtocolError>(())
    /// ```
    #[inline]
    pub fn receive<'a>(&mut self, buf: &'a mut [u8]) -> Result<Received<'a>, ProtocolError> {
        self.receiver.receive(&mut self.shared, buf)
    }

    /// Encodes one frame into the front of `out`; see [`Sender::encode`].
    ///
    /// ```
    /// use wsock::{Connection, Config, Outgoing};
    /// let mut server = Connection::server(Config::new());
    /// let mut out = [0u8; 64];
    /// let n = server.encode(Outgoing::Text("Hello"), &mut out)?;
    /// assert_eq!(&out[..n], b"\x81\x05Hello"); // RFC 6455 §5.7
    /// # Ok::<(), wsock::SendError>(())
    /// ```
    #[inline]
    pub fn encode(&mut self, frame: Outgoing<'_>, out: &mut [u8]) -> Result<usize, SendError> {
        self.sender.encode(&mut self.shared, frame, out)
    }

    /// Encodes only the header of a data frame whose payload the caller
    /// writes itself; see [`Sender::encode_header`].
    #[inline]
    pub fn encode_header(
        &mut self,
        frame: Outgoing<'_>,
        out: &mut [u8],
    ) -> Result<EncodedHeader, SendError> {
        self.sender.encode_header(&mut self.shared, frame, out)
    }

    /// Starts a data frame whose payload follows in pieces; see
    /// [`Sender::start_frame`].
    pub fn start_frame(
        &mut self,
        kind: DataKind,
        len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.sender
            .start_frame(&mut self.shared, kind, len, last, out)
    }

    /// Sets the RSV bits of the next message (RSV1 for a compressed one);
    /// see [`Sender::set_next_message_rsv`].
    pub fn set_next_message_rsv(&mut self, rsv: u8) {
        self.sender.set_next_message_rsv(rsv);
    }

    /// Writes the next piece of a started frame; see [`Sender::encode_payload`].
    pub fn encode_payload(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.sender.encode_payload(payload, out)
    }

    /// Counts a piece of an unmasked started frame that the caller wrote
    /// itself; see [`Sender::pass_payload`].
    pub fn pass_payload(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        self.sender.pass_payload(payload)
    }

    /// Payload bytes still owed to the frame started with `start_frame`.
    pub fn frame_payload_remaining(&self) -> u64 {
        self.sender.frame_payload_remaining()
    }

    /// Writes the frames the connection owes the peer; see
    /// [`Sender::poll_transmit`].
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        self.sender.poll_transmit(&mut self.shared, out)
    }
}

#[cfg(test)]
mod tests;
