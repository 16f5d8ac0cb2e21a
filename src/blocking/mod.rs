//! A blocking WebSocket over any transport (feature `std`).
//!
//! A thin layer over the sans-IO [`Connection`]: it owns a read buffer and a
//! write buffer, moves bytes between them and the transport, and adds
//! nothing to the protocol. The familiar flow:
//!
//! ```no_run
//! use wsock::blocking::{connect, Message};
//! use wsock::CloseCode;
//!
//! let mut ws = connect("ws://127.0.0.1:9001/chat")?;
//! ws.send(Message::Text("Hello, WebSocket!".into()))?;
//! for message in ws.incoming() {
//!     match message? {
//!         Message::Text(text) => { println!("{text}"); break; }
//!         other => println!("{other:?}"),
//!     }
//! }
//! ws.close(CloseCode::NORMAL, "bye")?;
//! # Ok::<(), wsock::blocking::Error>(())
//! ```
//!
//! Servers call [`accept`] or [`accept_with`] on an accepted stream. Reads
//! answer pings and close frames by themselves; [`WebSocket::close`] runs the
//! closing handshake and ends the transport the way RFC 6455 §7.1.1 says (the
//! server first). Huge messages can be read chunk by chunk, zero-copy, with
//! [`WebSocket::read_event_with`], and written as fragments.
//!
//! **Batching**: [`WebSocket::write`] only queues a frame; [`WebSocket::flush`]
//! writes everything queued in as few system calls as the transport allows,
//! and a read flushes the queue itself before it blocks on the transport.
//! [`WebSocket::send`] is `write` + `flush`. So a server that `write`s a reply
//! to each message it reads answers a burst of messages with one write.
//!
//! ## Two threads
//!
//! [`WebSocket::split`] gives a [`ReadHalf`] and a [`WriteHalf`] that move to
//! two threads, each with its own handle on the transport ([`TrySplit`]).
//! The send path is shared behind one mutex — the connection's shared part
//! (close state, the owed pong and close reply), the masking sender and the
//! queue of encoded bytes — held to encode or to take bytes, never across a
//! system call. Writing is a token: one half writes at a time, outside the
//! lock, and keeps writing until the queue is empty, so frames never
//! interleave and a frame queued by the other half goes out with that
//! write. The read half writes what it owes (a pong, the close reply) at
//! once, unless the write half is writing, which then writes it: replies
//! reach the wire while the application only reads, and no thread has to
//! be woken for them. TLS streams cannot be split (one TLS session serves
//! both directions).

mod budget;
mod client;
#[cfg(feature = "deflate")]
pub(crate) mod compression;
mod deadline;
mod error;
pub(crate) mod keepalive;
mod message;
mod reassembly;
mod rng;
mod server;
mod split;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use budget::Budget;
pub(crate) use budget::MessageVec;
pub use client::{ClientBuilder, client, connect};
#[cfg(feature = "tokio")]
pub(crate) use client::{check_response, deflate_offer, encode_request, offers};
#[cfg(feature = "deflate")]
pub use compression::DeflateOptions;
use deadline::{CloseClock, Deadline};
pub use error::{Error, Phase};
use keepalive::{Due, Pinger};
pub use message::{CloseFrame, Message};
pub(crate) use reassembly::Reassembly;
#[cfg(feature = "tokio")]
pub(crate) use server::ServerHandshake;
pub use server::{Acceptance, Rejection, accept, accept_with};
#[cfg(feature = "http")]
pub(crate) use server::{Selected, borrowed};
pub use split::{ReadHalf, ReuniteError, TrySplit, WriteHalf};
#[cfg(all(feature = "tls", feature = "tokio"))]
pub(crate) use tls::server_name;
#[cfg(feature = "tls")]
pub use tls::{TlsStream, accept_tls, default_client_config};
#[cfg(feature = "tokio")]
pub(crate) use transport::set_tcp_keepalive;
pub use transport::{MaybeTlsStream, Plain, Transport};

use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::connection::{Connection, State};
use crate::driver::{Driver, End, Next, Reply};
use crate::error::{ProtocolError, SendError};
use crate::event::{DataKind, Event, Outgoing};
pub use rng::MaskRng;
use std::io;
use std::string::String;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

/// Settings of a std WebSocket (blocking or tokio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Protocol limits and auto-pong (see [`Config`]).
    pub protocol: Config,
    /// Size of the read buffer, allocated once per connection (default 8 KiB).
    /// Frames of any size stream through it.
    pub read_buffer_size: usize,
    /// The bound on a handshake's header block (default 8 KiB).
    pub max_header_bytes: usize,
    /// The most header fields a handshake may have (default 32).
    pub max_headers: usize,
    /// Time allowed for connecting and for the opening handshake (default 10 s).
    pub handshake_timeout: Option<Duration>,
    /// Time allowed for the closing handshake (default 5 s).
    pub close_timeout: Option<Duration>,
    /// The write queue's high-water mark for the tokio adapter (default
    /// 128 KiB): `send` and `feed` wait while this many bytes or more wait
    /// to be written, so a peer that does not read holds at most this much
    /// (plus one message) of our memory.
    pub write_high_water: usize,
    /// Keepalive pings (default off): a ping every `interval` while a read
    /// waits, and the connection fails when no pong arrives within
    /// `timeout` of a ping, so a peer that went silent (or a half-open
    /// connection) is dropped. On the blocking adapter the read's timeout
    /// then follows the pings (a read timeout set on the transport is not
    /// kept; write timeouts are); a split read half pings as it reads.
    pub keepalive: Option<Keepalive>,
    /// TCP keepalive on the sockets wsock connects and accepts (default on:
    /// 60 s idle, then a probe every 10 s, 6 probes, so a peer that vanished
    /// without a FIN or RST is found 60 + 6 × 10 = 120 s after it last sent
    /// anything); `None` leaves the socket as it is. See [`TcpKeepalive`]
    /// for what it finds and where it applies. Not to be confused with
    /// [`keepalive`](Options::keepalive), the WebSocket pings.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// permessage-deflate (RFC 7692; default off, feature `deflate`): a
    /// client offers it, a server accepts an offer it can serve; then whole
    /// messages sent are compressed (from [`DeflateOptions::threshold`]
    /// bytes) and compressed messages received are inflated, held to
    /// `max_message_size` as they inflate. Memory per connection: see the
    /// README (about 300 KiB with 15-bit windows both ways).
    #[cfg(feature = "deflate")]
    pub deflate: Option<DeflateOptions>,
}

/// Keepalive pings: see [`Options::keepalive`].
///
/// When a ping goes unanswered for `timeout`, the adapter sends a close
/// frame with 1011 (what RFC 6455 §7.4.1 gives an endpoint that cannot go
/// on; Python `websockets` does the same), ends the transport without
/// waiting for the peer's close (it has stopped answering), and the read
/// returns an `Io` error of kind `TimedOut`.
///
/// ```
/// use std::time::Duration;
/// use wsock::blocking::{Keepalive, Options};
/// let options = Options::new().keepalive(Some(Keepalive {
///     interval: Duration::from_secs(20),
///     timeout: Duration::from_secs(20),
/// }));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time from one ping to the next.
    pub interval: Duration,
    /// Time a ping has to be answered.
    pub timeout: Duration,
}

/// TCP keepalive (`SO_KEEPALIVE`): see [`Options::tcp_keepalive`].
///
/// Once a connection has been silent for `idle`, the operating system sends
/// a probe every `interval`, and after `retries` unanswered probes it ends
/// the connection: the read waiting on it fails with an `Io` error
/// (`TimedOut` on Linux). The default, 60 s + 6 × 10 s, finds a dead peer
/// in about 2 minutes. It finds a peer that vanished without a FIN or RST
/// (powered off, unplugged, a NAT or firewall that forgot the connection),
/// which would otherwise hold the connection, its thread or task and its
/// buffers forever; it does not find a live peer that stopped reading (its
/// TCP stack still answers the probes): that is the job of the WebSocket
/// [`Keepalive`] pings. Nor does it run while data we wrote waits to be
/// acknowledged: then the system's retransmission limit applies (about
/// 15 minutes on Linux).
///
/// Where it applies: sockets wsock makes (`connect`, on both adapters), and
/// streams given to the blocking [`client`], [`accept`], [`accept_with`] and
/// `accept_tls`, through [`Transport::set_tcp_keepalive`] (TCP, and TLS over
/// TCP; other transports ignore it). The tokio `accept` functions take any
/// stream and cannot reach its socket: call
/// `wsock::tokio::set_tcp_keepalive` on the accepted `TcpStream`.
///
/// The system may refuse a setting (e.g. a sandbox without
/// `TCP_KEEPCNT`): wsock then goes on without it rather than fail a
/// connection that works (the settings before it stay set);
/// [`Transport::set_tcp_keepalive`] returns the error for those who want
/// it. Times count in whole seconds (a fraction is dropped, less than 1 s
/// becomes 1 s), and `retries` is at least 1. The interval and the count
/// are set on Linux, Android, macOS and iOS, FreeBSD, NetBSD, DragonFly,
/// illumos, Fuchsia and Windows; elsewhere only `idle` is (OpenBSD and
/// Haiku: not even that), and the system's own values apply.
///
/// ```
/// use std::time::Duration;
/// use wsock::blocking::{Options, TcpKeepalive};
/// // Find a dead peer within 30 s: 15 s idle, then 3 probes 5 s apart.
/// let options = Options::new().tcp_keepalive(Some(TcpKeepalive {
///     idle: Duration::from_secs(15),
///     interval: Duration::from_secs(5),
///     retries: 3,
/// }));
/// assert_eq!(Options::new().tcp_keepalive, Some(TcpKeepalive::new()));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Silence before the first probe (`TCP_KEEPIDLE`; default 60 s).
    pub idle: Duration,
    /// Time between probes (`TCP_KEEPINTVL`; default 10 s).
    pub interval: Duration,
    /// Unanswered probes before the connection is ended (`TCP_KEEPCNT`;
    /// default 6).
    pub retries: u32,
}

impl TcpKeepalive {
    /// The defaults: 60 s idle, a probe every 10 s, 6 probes (a dead peer
    /// is found after 60 + 6 × 10 = 120 s).
    pub const fn new() -> Self {
        TcpKeepalive {
            idle: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            retries: 6,
        }
    }
}

impl Default for TcpKeepalive {
    fn default() -> Self {
        TcpKeepalive::new()
    }
}

impl Options {
    /// The defaults.
    pub const fn new() -> Self {
        Options {
            protocol: Config::new(),
            read_buffer_size: 8 * 1024,
            max_header_bytes: crate::handshake::DEFAULT_MAX_HEADER_BYTES,
            max_headers: 32,
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Some(Duration::from_secs(5)),
            write_high_water: 128 * 1024,
            keepalive: None,
            tcp_keepalive: Some(TcpKeepalive::new()),
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Sets [`deflate`](Options::deflate).
    #[cfg(feature = "deflate")]
    pub const fn deflate(mut self, deflate: Option<DeflateOptions>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`protocol`](Options::protocol).
    pub const fn protocol(mut self, config: Config) -> Self {
        self.protocol = config;
        self
    }

    /// Sets [`read_buffer_size`](Options::read_buffer_size) (at least 1 byte).
    pub const fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = if bytes == 0 { 1 } else { bytes };
        self
    }

    /// Sets [`max_header_bytes`](Options::max_header_bytes).
    pub const fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Sets [`max_headers`](Options::max_headers).
    pub const fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets [`handshake_timeout`](Options::handshake_timeout).
    pub const fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`close_timeout`](Options::close_timeout).
    pub const fn close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`keepalive`](Options::keepalive).
    pub const fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets [`tcp_keepalive`](Options::tcp_keepalive) (`None`: wsock does
    /// not touch the socket's keepalive).
    pub const fn tcp_keepalive(mut self, keepalive: Option<TcpKeepalive>) -> Self {
        self.tcp_keepalive = keepalive;
        self
    }

    /// Sets [`write_high_water`](Options::write_high_water) (at least 1 byte).
    pub const fn write_high_water(mut self, bytes: usize) -> Self {
        self.write_high_water = if bytes == 0 { 1 } else { bytes };
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

/// The write buffer's working size: data frames this big or bigger are
/// written through it in pieces of this size, and a buffer grown past it
/// (by many small frames queued at once) is shrunk back after a flush.
pub(crate) const KEEP_WRITE_CAPACITY: usize = 64 * 1024;

/// A WebSocket over a blocking transport, after the opening handshake.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    /// The connection with its read buffer (allocated once) and its write
    /// queue (a `Vec` that grows to the largest queued frame).
    driver: Driver<MaskRng, Vec<u8>, Vec<u8>>,
    assembler: Reassembly,
    /// The closing handshake's deadline, started when the connection
    /// stops being open.
    close: CloseClock,
    /// Keepalive pings, if [`Options::keepalive`] asks for them.
    pinger: Option<Pinger>,
    /// A write failed for good (not a timeout) and the transport was ended.
    broken: Option<io::ErrorKind>,
    subprotocol: Option<String>,
    /// Compresses what `write` sends, when permessage-deflate was agreed.
    #[cfg(feature = "deflate")]
    deflater: Option<std::boxed::Box<compression::MessageDeflater>>,
}

/// What one step of `read` found.
pub(crate) enum Step {
    Continue,
    Whole(DataKind),
    Control(Message),
    Fail(ProtocolError),
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a stream on which the opening handshake already happened (for
    /// custom handshakes); `leftover` holds bytes read past the handshake.
    pub fn from_upgraded(
        stream: S,
        role: Role,
        options: Options,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        Ok(WebSocket {
            stream,
            driver: new_driver(role, &options, leftover, options.read_buffer_size)?,
            assembler: Reassembly::new(),
            close: CloseClock::new(options.close_timeout),
            pinger: options.keepalive.map(Pinger::new),
            broken: None,
            subprotocol: None,
            #[cfg(feature = "deflate")]
            deflater: None,
        })
    }

    /// Turns on permessage-deflate as the opening handshake agreed it
    /// (`accept`, `accept_with` and the clients do this themselves; call it
    /// after [`from_upgraded`](WebSocket::from_upgraded) for a handshake of
    /// your own): RSV1 becomes the extension's, compressed messages are
    /// inflated by [`read`](WebSocket::read) and its kin, and whole messages
    /// written are compressed with `options`.
    #[cfg(feature = "deflate")]
    pub fn set_deflate(
        &mut self,
        agreed: &crate::handshake::deflate::Agreed,
        options: &DeflateOptions,
    ) {
        let conn = self.driver.connection_mut();
        self.deflater = Some(compression::enable(
            conn,
            &mut self.assembler,
            agreed,
            options,
        ));
    }

    /// Reads the next message: a whole text or binary message, or a control
    /// frame. Pings are answered and a peer's close is replied to before this
    /// returns. After the closing handshake it returns
    /// [`Error::ConnectionClosed`].
    ///
    /// With a [`Budget`] ([`set_budget`](WebSocket::set_budget)), a message
    /// that does not fit what is left of it fails the connection with 1013.
    pub fn read(&mut self) -> Result<Message, Error> {
        // The message returned last is the caller's now.
        self.assembler.buffer_mut().release_lent();
        let assembler = &mut self.assembler;
        let step = run(
            &mut self.stream,
            &mut self.driver,
            &mut self.close,
            &mut self.pinger,
            |_, driver| next_message(driver, assembler),
        )?;
        match step {
            Step::Whole(kind) => whole_message(&mut self.assembler, kind),
            Step::Control(message) => {
                // Send the pong or the close reply now, not at the next call
                // (and, as a server after the close reply, end the transport).
                self.flush()?;
                Ok(message)
            }
            Step::Continue | Step::Fail(_) => unreachable!("handled in the loop"),
        }
    }

    /// Reads the next event and hands it to `f`, zero-copy: data arrives in
    /// chunks borrowed from the read buffer (a message of any size passes
    /// through it), control frames whole. Owed pongs and close replies are
    /// sent before the next read.
    ///
    /// ```no_run
    /// # let mut ws = wsock::blocking::connect("ws://127.0.0.1:9001")?;
    /// use wsock::Event;
    /// let mut total = 0u64;
    /// loop {
    ///     let done = ws.read_event_with(|event| match event {
    ///         Event::Data(chunk) => { total += chunk.payload.len() as u64; chunk.last }
    ///         _ => false,
    ///     })?;
    ///     if done { break; }
    /// }
    /// # Ok::<(), wsock::blocking::Error>(())
    /// ```
    pub fn read_event_with<T>(&mut self, mut f: impl FnMut(Event<'_>) -> T) -> Result<T, Error> {
        run(
            &mut self.stream,
            &mut self.driver,
            &mut self.close,
            &mut self.pinger,
            |_, driver| {
                driver
                    .poll_event(|event, _| f(event))
                    .map_ready(|r| r.map_err(ended))
            },
        )
    }

    /// Reads the next event and hands it to `f` with a [`Writer`], so that
    /// a received chunk can be answered, echoed or forwarded while it is
    /// borrowed from the read buffer: small frames are queued (one copy,
    /// written with the next flush — a read flushes before it blocks, so a
    /// burst of echoes is one write), and a server's big data frames go to
    /// the transport with no copy at all, header and borrowed payload in
    /// one vectored write.
    ///
    /// ```no_run
    /// # let mut ws = wsock::blocking::connect("ws://127.0.0.1:9001")?;
    /// use wsock::{Event, Outgoing};
    /// // An echo of every data chunk, fragment by fragment.
    /// loop {
    ///     ws.read_event_and_reply(|event, mut writer| match event {
    ///         Event::Data(chunk) => writer.write(Outgoing::Fragment {
    ///             kind: chunk.kind,
    ///             payload: chunk.payload,
    ///             last: chunk.last,
    ///         }),
    ///         _ => Ok(()),
    ///     })??;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_event_and_reply<T>(
        &mut self,
        mut f: impl FnMut(Event<'_>, Writer<'_, S>) -> T,
    ) -> Result<T, Error> {
        let broken = &mut self.broken;
        run(
            &mut self.stream,
            &mut self.driver,
            &mut self.close,
            &mut self.pinger,
            |stream, driver| {
                driver
                    .poll_event(|event, reply| {
                        let broken = &mut *broken;
                        f(
                            event,
                            Writer {
                                stream,
                                reply,
                                broken,
                            },
                        )
                    })
                    .map_ready(|r| r.map_err(ended))
            },
        )
    }

    /// Makes [`read`](WebSocket::read) assemble messages within `budget`,
    /// shared with the other connections given a clone of it (see
    /// [`Budget`] for what counts); `None` for no budget (the default).
    pub fn set_budget(&mut self, budget: impl Into<Option<Budget>>) {
        self.assembler.buffer_mut().set_budget(budget.into());
    }

    /// The budget set with [`set_budget`](WebSocket::set_budget).
    pub fn budget(&self) -> Option<&Budget> {
        self.assembler.buffer().budget()
    }

    /// True when bytes already read from the transport wait to be decoded.
    pub fn has_buffered_input(&self) -> bool {
        self.driver.has_input()
    }

    /// Queues a frame (after any owed pong or close reply); [`flush`](WebSocket::flush)
    /// writes the queue, and so does the next read before it blocks.
    ///
    /// A data frame of 64 KiB or more is not copied into the queue whole:
    /// the queue is written out and the frame is written through the write
    /// buffer in 64 KiB pieces, so a big message needs neither a big buffer
    /// nor page faults for one.
    ///
    /// Errors:
    /// - [`Error::PeerClosed`]: the peer's close has been received: a data
    ///   frame is refused. (A close still unread in the read buffer does not
    ///   refuse it: the messages before that close may be answered, and the
    ///   peer may read them while it waits for our close.)
    /// - [`Error::Send`]: the frame was refused and nothing changed.
    /// - [`Error::Io`] when writing through, after `WouldBlock` or a
    ///   timeout: the frame was taken and the rest of it is queued (copied):
    ///   do not write it again, call [`flush`](WebSocket::flush) to go on.
    /// - [`Error::Io`] (or [`Error::PeerClosed`], if the peer's close is
    ///   found in what was received) after any other I/O error: the
    ///   transport is broken; nothing is copied, the transport is ended and
    ///   later writes fail. Reads still return what was received.
    ///
    /// With permessage-deflate agreed, a whole text or binary message
    /// (`Outgoing::Text`, `Outgoing::Binary`) is compressed first; fragments
    /// go as they are.
    pub fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(mut deflater) = self.deflater.take() {
            let written = compression::write(self, &mut deflater, frame);
            self.deflater = Some(deflater);
            return written;
        }
        self.write_as_is(frame)
    }

    /// [`write`](WebSocket::write) without compression.
    pub(crate) fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        if let Some(kind) = self.broken {
            return Err(broken(kind));
        }
        if frame.as_data().is_some()
            && let Some(code) = self.driver.connection().shared().peer_close()
        {
            return Err(Error::PeerClosed(code));
        }
        self.driver.queue_owed();
        match frame.as_data() {
            Some((kind, payload, last)) if payload.len() >= KEEP_WRITE_CAPACITY => {
                if let Err(e) = self.write_queue() {
                    if resumable(&e) {
                        // Take the frame anyway, so that the error means one thing.
                        self.driver
                            .queue(frame)
                            .map_err(|e| refused(&self.driver, e))?;
                    }
                    return Err(self.write_failed(e));
                }
                self.write_through(kind, payload, last)
            }
            // Small frames (control frames among them) are queued behind the rest.
            _ => self
                .driver
                .queue(frame)
                .map_err(|e| refused(&self.driver, e)),
        }
    }

    /// Writes a big data frame through the (empty) write buffer; see
    /// [`write`](WebSocket::write).
    fn write_through(&mut self, kind: DataKind, payload: &[u8], last: bool) -> Result<(), Error> {
        let buffer = self.driver.output_buffer_mut();
        if buffer.len() < KEEP_WRITE_CAPACITY {
            buffer.resize(KEEP_WRITE_CAPACITY, 0);
        }
        self.driver
            .queue_frame_start(kind, payload.len() as u64, last)
            .map_err(Error::Send)?;
        let mut taken = 0;
        while taken < payload.len() {
            taken += self
                .driver
                .queue_payload(&payload[taken..])
                .map_err(Error::Send)?;
            if let Err(e) = self.write_queue() {
                // Keep the rest of the frame, so that `flush` can finish it
                // (none when the last piece was queued: the frame is whole).
                if resumable(&e) && taken < payload.len() {
                    self.grow_output(payload.len() - taken);
                    self.driver
                        .queue_payload(&payload[taken..])
                        .map_err(Error::Send)?;
                }
                return Err(self.write_failed(e));
            }
        }
        Ok(())
    }

    /// Writes everything queued. Interrupted writes are retried; after a
    /// timeout (or `WouldBlock`) nothing is lost: call `flush` again. After
    /// other errors, as [`write`](WebSocket::write).
    pub fn flush(&mut self) -> Result<(), Error> {
        let flushed = run(
            &mut self.stream,
            &mut self.driver,
            &mut self.close,
            &mut self.pinger,
            |_, driver| driver.poll_flush().map_ready(Ok),
        );
        if let Err(Error::Io(e)) = flushed {
            return Err(self.write_failed(e));
        }
        flushed?;
        let buffer = self.driver.output_buffer_mut();
        if buffer.len() > KEEP_WRITE_CAPACITY {
            buffer.truncate(KEEP_WRITE_CAPACITY);
            buffer.shrink_to(KEEP_WRITE_CAPACITY);
        }
        loop {
            match self.stream.flush() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other.map_err(Error::from),
            }
        }
    }

    /// Writes the queued bytes to the transport (without flushing it).
    fn write_queue(&mut self) -> io::Result<()> {
        while self.driver.has_pending_output() {
            match self.stream.write(self.driver.pending_output()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.driver.output_written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The error for a write that failed with `e`. Unless it can be resumed
    /// (see [`resumable`]), the transport is broken: it is ended, later
    /// writes fail, and if the peer's close is among the bytes received
    /// (one read, bounded by the close timeout, looks for it) that is the
    /// error: a client still sending when the server closed learns why.
    fn write_failed(&mut self, e: io::Error) -> Error {
        if resumable(&e) {
            return Error::from(e);
        }
        self.broken = Some(e.kind());
        self.shutdown();
        if !self.driver.has_input() {
            let deadline = self.close.start();
            if deadline.arm(&mut self.stream).is_ok() {
                match self.stream.read(self.driver.input_space()) {
                    Ok(n) if n > 0 => self.driver.input_filled(n),
                    _ => {}
                }
            }
        }
        match self.driver.peer_close() {
            Some(code) => Error::PeerClosed(code),
            None => Error::from(e),
        }
    }

    /// Sends a message (`write` + `flush`).
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.write(message.as_outgoing())?;
        self.flush()
    }

    /// Sends a frame without taking ownership of its payload (`write` + `flush`).
    pub fn send_frame(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        self.write(frame)?;
        self.flush()
    }

    /// Runs the closing handshake (§7.1.2): sends a close frame with `code`
    /// and `reason` (unless one was sent), reads until the peer's close
    /// arrives (messages in between are dropped), then ends the transport —
    /// at once as a server, after the server ends it as a client. Bounded by
    /// [`Options::close_timeout`] on transports with timeouts.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        // The deadline bounds the whole close: the peer's pings and data
        // frames meanwhile do not stretch it.
        let deadline = self.close.start();
        deadline.arm(&mut self.stream)?;
        if self.state() == State::Open {
            self.write(Outgoing::Close(Some((code, reason))))?;
        }
        self.flush()?;
        loop {
            match self.read() {
                Ok(_) => continue,
                Err(Error::ConnectionClosed) => return Ok(()),
                Err(e) => {
                    self.shutdown();
                    return Err(e);
                }
            }
        }
    }

    /// An iterator over incoming messages; it ends after the closing
    /// handshake, or after yielding an error.
    pub fn incoming(&mut self) -> Incoming<'_, S> {
        Incoming {
            ws: self,
            done: false,
        }
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.driver.connection().state()
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The sans-IO connection underneath.
    pub fn connection(&self) -> &Connection<impl rand_core::Rng> {
        self.driver.connection()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The transport, mutably (e.g. to set timeouts). Reading or writing it
    /// directly corrupts the WebSocket stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Makes room for `additional` bytes behind the queued output.
    fn grow_output(&mut self, additional: usize) {
        let want = self.driver.queued_end().saturating_add(additional);
        let buffer = self.driver.output_buffer_mut();
        if buffer.len() < want {
            buffer.resize(want, 0);
        }
    }

    fn shutdown(&mut self) {
        if !self.driver.is_shut_down() {
            self.driver.shut_down();
            let _ = self.stream.close_transport();
        }
    }

    fn set_subprotocol(&mut self, subprotocol: Option<String>) {
        self.subprotocol = subprotocol;
    }
}

/// Data frames at least this big are written by a server's [`Writer`]
/// straight from their borrowed payload; smaller ones are copied into the
/// write queue, where a copy of a few KiB costs less than a system call.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Writes replies while an event from [`WebSocket::read_event_and_reply`]
/// borrows the read buffer.
#[derive(Debug)]
pub struct Writer<'a, S> {
    stream: &'a mut S,
    reply: Reply<'a, MaskRng, Vec<u8>>,
    broken: &'a mut Option<io::ErrorKind>,
}

impl<S: Transport> Writer<'_, S> {
    /// Sends `frame` behind everything queued. As a server, a data frame
    /// of 16 KiB or more is written now, zero-copy: its header is queued
    /// and the queue and the borrowed payload go out in vectored writes.
    /// Everything else is queued (one copy) for the next flush.
    ///
    /// Errors: [`Error::Send`] means nothing changed ([`Error::PeerClosed`]
    /// if the peer's close was received). [`Error::Io`] after `WouldBlock`
    /// or a timeout means the frame was taken and what was not written is
    /// queued (copied): call [`WebSocket::flush`] to go on; after any other
    /// I/O error the transport is broken, nothing is kept and later writes
    /// fail.
    pub fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        if let Some(kind) = *self.broken {
            return Err(broken(kind));
        }
        match frame.as_data() {
            Some((_, payload, _))
                if payload.len() >= ZERO_COPY_MIN
                    && self
                        .reply
                        .queue_header(frame)
                        .map_err(|e| peer_closed(self.reply.shared(), e))? =>
            {
                self.write_with_payload(payload)
            }
            _ => self
                .reply
                .queue(frame)
                .map_err(|e| peer_closed(self.reply.shared(), e)),
        }
    }

    /// The connection's shared part (state, failure).
    pub fn shared(&self) -> &crate::connection::Shared {
        self.reply.shared()
    }

    /// Writes the queue, then `payload` behind it, with vectored writes.
    fn write_with_payload(&mut self, payload: &[u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < payload.len() {
            let pending = self.reply.pending_output();
            let slices = [
                io::IoSlice::new(pending),
                io::IoSlice::new(&payload[done..]),
            ];
            let result = match self.stream.write_vectored(&slices) {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                other => other,
            };
            match result {
                Ok(n) => {
                    let from_queue = n.min(pending.len());
                    self.reply.output_written(from_queue);
                    done += n - from_queue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if resumable(&e) => {
                    // A growable queue always takes the rest.
                    let _ = self.reply.queue_payload_rest(&payload[done..]);
                    return Err(Error::from(e));
                }
                Err(e) => {
                    // Broken: nothing is kept, the transport is ended.
                    *self.broken = Some(e.kind());
                    let _ = self.stream.close_transport();
                    return Err(Error::from(e));
                }
            }
        }
        Ok(())
    }
}

/// Incoming messages; see [`WebSocket::incoming`].
#[derive(Debug)]
pub struct Incoming<'a, S> {
    ws: &'a mut WebSocket<S>,
    done: bool,
}

impl<S: Transport> Iterator for Incoming<'_, S> {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.ws.read() {
            Ok(message) => Some(Ok(message)),
            Err(Error::ConnectionClosed) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(feature = "deflate")]
impl<S: Transport> compression::Compressing for WebSocket<S> {
    fn can_start_message(&mut self) -> bool {
        let conn = self.driver.connection();
        compression::can_start_message(conn.sender(), conn.shared())
    }
    fn set_next_message_rsv(&mut self, rsv: u8) {
        self.driver.connection_mut().set_next_message_rsv(rsv);
    }
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        WebSocket::write_as_is(self, frame)
    }
}

/// What one event means to a reader of whole messages: data is collected
/// into `assembler` (the text is checked once, as it becomes a `String` in
/// [`whole_message`]), control frames are copied out.
#[inline]
pub(crate) fn message_step(assembler: &mut Reassembly, event: Event<'_>) -> Step {
    match event {
        Event::Data(chunk) => match assembler.collect(&chunk) {
            Ok(None) => Step::Continue,
            Ok(Some(kind)) => Step::Whole(kind),
            Err(e) => Step::Fail(e),
        },
        Event::Ping(p) => Step::Control(Message::Ping(p.to_vec())),
        Event::Pong(p) => Step::Control(Message::Pong(p.to_vec())),
        Event::Close(frame) => Step::Control(Message::Close(frame.map(|f| CloseFrame {
            code: f.code,
            reason: f.reason.as_str().into(),
        }))),
    }
}

/// The driver's events folded into whole messages, for both adapters'
/// whole-connection reads: `Ready` with a message or a control frame, or
/// what I/O the driver needs first. A message over the limit fails the
/// connection (the caller's loop writes its close).
pub(crate) fn next_message(
    driver: &mut StdDriver,
    assembler: &mut Reassembly,
) -> Next<Result<Step, Error>> {
    loop {
        match driver.poll_event(|event, _| message_step(assembler, event)) {
            Next::Ready(Ok(Step::Continue)) => continue,
            Next::Ready(Ok(Step::Fail(e))) => driver.connection_mut().fail(e),
            other => return other.map_ready(|r| r.map_err(ended)),
        }
    }
}

/// Takes the whole message out of `assembler`.
#[inline]
pub(crate) fn whole_message(assembler: &mut Reassembly, kind: DataKind) -> Result<Message, Error> {
    let bytes = assembler.buffer_mut().take();
    Ok(match kind {
        DataKind::Binary => Message::Binary(bytes),
        // The connection validated the text as it arrived; this check is
        // what makes it a `String` in safe code.
        DataKind::Text => Message::Text(
            String::from_utf8(bytes).map_err(|_| Error::Protocol(ProtocolError::InvalidUtf8))?,
        ),
    })
}

/// The driver of a std WebSocket.
pub(crate) type StdDriver = Driver<MaskRng, Vec<u8>, Vec<u8>>;

/// The driver of a new std WebSocket (blocking or tokio): a client's
/// CSPRNG, a read buffer of `input_len` bytes (or more: it holds
/// `leftover` from the handshake), an empty write queue, and a linger of
/// [`LINGER_BYTES`] after a failure.
pub(crate) fn new_driver(
    role: Role,
    options: &Options,
    leftover: &[u8],
    input_len: usize,
) -> Result<StdDriver, Error> {
    let rng = match role {
        Role::Client => MaskRng::from_os()?,
        Role::Server => MaskRng::none(),
    };
    let mut input = vec![0u8; input_len.max(leftover.len())];
    input[..leftover.len()].copy_from_slice(leftover);
    let conn = Connection::new(role, options.protocol, rng);
    let mut driver = Driver::with_buffered_input(conn, input, 0..leftover.len(), Vec::new());
    driver.linger(LINGER_BYTES);
    Ok(driver)
}

/// How much a connection reads and drops after failing, so that the peer
/// reads our close frame instead of a reset ([`Driver::linger`]; bounded in
/// time by the close timeout).
pub(crate) const LINGER_BYTES: usize = 1 << 20;

/// Runs one driver operation to its end over `stream`: the adapter's only
/// I/O loop. Interrupted calls are retried; other I/O errors are returned
/// (the protocol error instead, if one was failing the connection).
///
/// Once the connection is no longer open (a close sent or received, or a
/// failure), each read and write waits only for what is left of the
/// closing handshake's deadline (`close`). After a failure the input is
/// drained ([`Driver::linger`]) until the peer ends the transport, for at
/// most [`LINGER_BYTES`] and the deadline: a peer still sending then reads
/// our close frame instead of a reset.
fn run<S: Transport, U>(
    stream: &mut S,
    driver: &mut StdDriver,
    close: &mut CloseClock,
    pinger: &mut Option<Pinger>,
    mut op: impl FnMut(&mut S, &mut StdDriver) -> Next<Result<U, Error>>,
) -> Result<U, Error> {
    loop {
        let next = op(stream, driver);
        let deadline = close.for_state(driver.connection().state());
        let io_error = |stream: &mut S, driver: &mut StdDriver, e| {
            let error = io_error(stream, driver, e);
            match deadline {
                Some(deadline) => deadline.name(error),
                None => error,
            }
        };
        match next {
            Next::Ready(result) => return result,
            Next::Read => {
                // While open, a keepalive ping is due or the read waits for it.
                let pinging = deadline.is_none() && pinger.is_some();
                if let (None, Some(pinger)) = (deadline, pinger.as_mut()) {
                    match pinger.due(driver.connection().receiver().pongs_received()) {
                        Due::Wait(left) => stream.set_read_timeout(Some(left))?,
                        Due::Ping => {
                            let _ = driver.queue(keepalive::PING);
                            continue;
                        }
                        Due::Unanswered => {
                            let _ = driver.queue(keepalive::CLOSE);
                            give_up(stream, driver, close.start());
                            return Err(Error::Io(pinger.error()));
                        }
                    }
                }
                let lingering = driver.is_lingering();
                let armed = deadline.map_or(Ok(()), |d| d.arm(stream));
                let read = match armed {
                    Ok(()) => stream.read(driver.input_space()),
                    Err(_) if lingering => {
                        // The drain is over; the failure is reported.
                        driver.stop_lingering();
                        continue;
                    }
                    Err(e) => return Err(timed_out(stream, driver, e)),
                };
                match read {
                    Ok(n) => driver.input_filled(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // The wait for the next keepalive step is over.
                    Err(e) if pinging && resumable(&e) => {}
                    // The drain ends however the transport does.
                    Err(_) if lingering => driver.stop_lingering(),
                    Err(e) => return Err(io_error(stream, driver, e)),
                }
            }
            Next::Write => {
                if let Some(Err(e)) = deadline.map(|d| d.arm(stream)) {
                    return Err(timed_out(stream, driver, e));
                }
                while driver.has_pending_output() {
                    match stream.write(driver.pending_output()) {
                        Ok(0) => {
                            let e = io::ErrorKind::WriteZero.into();
                            return Err(io_error(stream, driver, e));
                        }
                        Ok(n) => driver.output_written(n),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_error(stream, driver, e)),
                    }
                }
                // A TLS stream holds records until it is flushed.
                loop {
                    match stream.flush() {
                        Ok(()) => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_error(stream, driver, e)),
                    }
                }
            }
            Next::Shutdown => {
                driver.shut_down();
                let _ = stream.close_transport();
            }
        }
    }
}

/// Writes what is queued (our close) as far as `deadline` allows, then ends
/// the transport: the peer has stopped answering.
fn give_up<S: Transport>(stream: &mut S, driver: &mut StdDriver, deadline: Deadline) {
    if deadline.arm(stream).is_ok() {
        while driver.has_pending_output() {
            match stream.write(driver.pending_output()) {
                Ok(n) if n > 0 => driver.output_written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        let _ = stream.flush();
    }
    driver.shut_down();
    let _ = stream.close_transport();
}

/// The closing handshake's deadline passed (`error`, or the error setting
/// the transport's timeout): the transport is ended, and the failure that
/// began the close is reported if there was one.
fn timed_out<S: Transport>(stream: &mut S, driver: &mut StdDriver, error: Error) -> Error {
    if !driver.is_shut_down() {
        driver.shut_down();
        let _ = stream.close_transport();
    }
    match driver.connection().failure() {
        Some(e) if e != ProtocolError::UnexpectedEof => Error::Protocol(e),
        _ => error,
    }
}

/// The error to report for an I/O error: the protocol error that was
/// failing the connection (whose close frame could not be written; the
/// transport is then closed), or the I/O error itself (nothing is lost:
/// e.g. after a timeout the call can be made again).
fn io_error<S: Transport>(stream: &mut S, driver: &mut StdDriver, error: io::Error) -> Error {
    match driver.connection().failure() {
        Some(e) if e != ProtocolError::UnexpectedEof => {
            if !driver.is_shut_down() {
                driver.shut_down();
                let _ = stream.close_transport();
            }
            Error::Protocol(e)
        }
        _ => Error::Io(error),
    }
}

/// True for a write error after which the write can go on (the transport
/// is fine, it had no room in time): then the unsent rest of a frame is
/// kept. After any other error the transport is broken and nothing is kept.
pub(crate) fn resumable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The error for a write after one that failed for good (`kind`).
pub(crate) fn broken(kind: io::ErrorKind) -> Error {
    Error::Io(io::Error::new(
        kind,
        "an earlier write failed and the transport was ended: nothing more can be sent",
    ))
}

/// The error for a frame the connection refused: the peer's close, if it
/// is why.
pub(crate) fn refused(driver: &StdDriver, e: SendError) -> Error {
    peer_closed(driver.connection().shared(), e)
}

/// [`refused`] for a frame refused by the connection whose shared part is
/// `shared`.
pub(crate) fn peer_closed(shared: &crate::connection::Shared, e: SendError) -> Error {
    match shared.peer_close() {
        Some(code) if e == SendError::Closing => Error::PeerClosed(code),
        _ => Error::Send(e),
    }
}

/// The error for a connection that gives no more messages.
pub(crate) fn ended(end: End) -> Error {
    match end {
        End::Closed => Error::ConnectionClosed,
        End::Failed(e) => Error::Protocol(e),
    }
}

/// Appends what the transport has (up to 2 KiB) to a handshake buffer. The
/// handshake parsers bound the buffer's growth with `max_header_bytes`.
fn read_more<S: io::Read>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(), Error> {
    let start = buf.len();
    buf.resize(start + 2048, 0);
    loop {
        match stream.read(&mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the opening handshake",
                )));
            }
            Ok(n) => {
                buf.truncate(start + n);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.truncate(start);
                return Err(Error::from(e));
            }
        }
    }
}

/// Turns on the TCP keepalive `options` ask for, before a handshake.
fn start_tcp_keepalive<S: Transport>(stream: &mut S, options: &Options) {
    if let Some(keepalive) = &options.tcp_keepalive {
        // A working connection is not failed for an option the system
        // refused (a sandbox, an exotic socket): keepalive hardens a
        // connection, it is not what makes it work. Callers who want the
        // error call `Transport::set_tcp_keepalive` themselves.
        let _ = stream.set_tcp_keepalive(keepalive);
    }
}

/// Writes and flushes a handshake message.
fn write_all<S: io::Write>(stream: &mut S, bytes: &[u8]) -> Result<(), Error> {
    stream.write_all(bytes)?;
    stream.flush()?;
    Ok(())
}
