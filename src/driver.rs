//! The plumbing every transport adapter needs, once: a [`Connection`] with
//! an input buffer and an output queue, and the one question an adapter asks
//! of it — *what now?* — still without any I/O.
//!
//! An adapter is a loop over the answer, [`Next`]: each operation
//! ([`Driver::poll_event`], [`Driver::poll_write`], [`Driver::poll_flush`])
//! says what I/O it needs before it can finish, and the adapter does it and
//! asks again:
//!
//! ```text
//! loop {
//!     match driver.poll_event(..) {
//!         Next::Read     => { n = transport.read(driver.input_space()); driver.input_filled(n) }
//!         Next::Write    => { n = transport.write(driver.pending_output()); driver.output_written(n) }
//!         Next::Shutdown => { transport.close(); driver.shut_down() }
//!         Next::Ready(r) => return r,
//!     }
//! }
//! ```
//!
//! Everything else — decoding events, queueing the pongs and close replies
//! the connection owes before anything else, encoding frames into the free
//! part of the output buffer, streaming frames larger than it, deciding when
//! the transport must be closed and when the connection is over — happens
//! here, the same way for the std, embedded and async adapters. A state the
//! driver is in between two calls is always a valid one, so an async adapter
//! whose future is dropped at an `.await` loses nothing: the next call goes
//! on from there (see each operation for what that means).
//!
//! The buffers are the caller's: `&mut [u8]`, arrays, or a `Vec<u8>` that
//! the driver enlarges for frames that do not fit ([`OutputBuffer`]).

use crate::close::CloseCode;
use crate::config::Role;
use crate::connection::{Connection, MAX_CONTROL_FRAME_LEN, Sender, Shared, State};
use crate::error::{ProtocolError, SendError};
use crate::event::{DataKind, Event, Outgoing};
use core::ops::Range;
#[cfg(feature = "std")]
use std::vec::Vec;

/// What an adapter must do before the operation it polled can finish; poll
/// the same operation again afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Next<T> {
    /// Read from the transport into [`Driver::input_space`] and report the
    /// count with [`Driver::input_filled`] (0 when the transport ended).
    Read,
    /// Write [`Driver::pending_output`] to the transport and report the
    /// count with [`Driver::output_written`].
    Write,
    /// Close the transport (everything owed is written, and the connection
    /// is done with it: §7.1.1), then call [`Driver::shut_down`].
    Shutdown,
    /// The operation finished.
    Ready(T),
}

/// Why a connection gives no more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The closing handshake completed.
    Closed,
    /// The connection failed: a protocol error (our close frame with its
    /// code was written, or the transport would not take it), or the
    /// transport ended without a closing handshake
    /// ([`ProtocolError::UnexpectedEof`], 1006).
    Failed(ProtocolError),
}

/// An output buffer for the [`Driver`]; a growable one (`Vec<u8>`) lets
/// frames of any size be queued whole.
pub trait OutputBuffer: AsRef<[u8]> + AsMut<[u8]> {
    /// Makes the buffer at least `len` bytes long, if it can; returns
    /// whether it is now.
    fn grow_to(&mut self, len: usize) -> bool {
        self.as_ref().len() >= len
    }
}

impl OutputBuffer for &mut [u8] {}
impl<const N: usize> OutputBuffer for [u8; N] {}
#[cfg(feature = "alloc")]
impl OutputBuffer for alloc::vec::Vec<u8> {
    fn grow_to(&mut self, len: usize) -> bool {
        if self.len() < len {
            self.resize(len, 0);
        }
        true
    }
}

/// A message being written in fragments because it is larger than the
/// output buffer (see [`Driver::poll_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fragmenting {
    kind: DataKind,
    len: usize,
    /// Payload bytes queued so far.
    taken: usize,
}

/// A connection with its buffers; see the [module docs](self).
///
/// ```
/// use wsock::driver::{Driver, Next};
/// use wsock::{Config, Connection, Event, Outgoing};
///
/// let mut server = Driver::new(Connection::server(Config::new()), [0u8; 256], [0u8; 256]);
/// // The transport has nothing yet: the driver asks for a read.
/// assert_eq!(server.poll_event(|_, _| ()), Next::Read);
/// // The adapter read a masked text frame (all-zero key):
/// let wire = [0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
/// server.input_space()[..wire.len()].copy_from_slice(&wire);
/// server.input_filled(wire.len());
/// // The event comes with a handle to queue a reply while the chunk is
/// // borrowed: here an echo, copied once, straight into the output.
/// let echoed = server.poll_event(|event, mut reply| match event {
///     Event::Data(chunk) => reply.queue(Outgoing::Text(core::str::from_utf8(chunk.payload).unwrap())),
///     _ => Ok(()),
/// });
/// assert_eq!(echoed, Next::Ready(Ok(Ok(()))));
/// // Before it reads again, the driver wants the reply written.
/// assert_eq!(server.poll_event(|_, _| ()), Next::Write);
/// assert_eq!(server.pending_output(), b"\x81\x02hi");
/// let n = server.pending_output().len();
/// server.output_written(n);
/// assert_eq!(server.poll_event(|_, _| ()), Next::Read);
/// ```
#[derive(Debug)]
pub struct Driver<R, I, O> {
    conn: Connection<R>,
    input: I,
    /// Unconsumed input is `input[in_start..in_end]`.
    in_start: usize,
    in_end: usize,
    output: O,
    /// Queued output is `output[out_start..out_end]`.
    out_start: usize,
    out_end: usize,
    /// The adapter closed the transport.
    shut_down: bool,
    /// Bytes still to be read and discarded after a failure (see
    /// [`Driver::linger`]).
    linger: usize,
    fragmenting: Option<Fragmenting>,
}

/// A handle to queue frames while an event from [`Driver::poll_event`]
/// borrows the input buffer: a reply, an echo, a forwarded chunk.
#[derive(Debug)]
pub struct Reply<'a, R, O> {
    sender: &'a mut Sender<R>,
    shared: &'a mut Shared,
    queue: Queue<'a, O>,
    /// [`Driver::poll_write`] is sending a message in fragments.
    fragmenting: bool,
}

/// The output buffer and its queued range, borrowed apart from the input.
#[derive(Debug)]
struct Queue<'a, O> {
    output: &'a mut O,
    out_start: &'a mut usize,
    out_end: &'a mut usize,
}

impl<R: rand_core::Rng, O: OutputBuffer> Reply<'_, R, O> {
    /// Queues one whole frame behind the queued output (growing a growable
    /// buffer); nothing changes on an error. While [`Driver::poll_write`] is
    /// sending a message in fragments, data frames fail with
    /// [`SendError::MessageInProgress`].
    pub fn queue(&mut self, frame: Outgoing<'_>) -> Result<(), SendError> {
        if self.fragmenting && frame.as_data().is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.queue.encode(self.sender, self.shared, frame)
    }

    /// Queues only the header of data `frame` when its payload can go to
    /// the transport as it is — an unmasked frame, a server's — and returns
    /// true: the adapter then writes [`pending_output`](Reply::pending_output)
    /// and right behind it the payload (one vectored write), before anything
    /// else is queued. Returns false, changing nothing, for a client (its
    /// payloads are masked: [`queue`](Reply::queue) the frame instead).
    pub fn queue_header(&mut self, frame: Outgoing<'_>) -> Result<bool, SendError> {
        if self.fragmenting && frame.as_data().is_some() {
            return Err(SendError::MessageInProgress);
        }
        if self.shared.role() != Role::Server {
            return Ok(false);
        }
        self.queue.compact();
        let end = *self.queue.out_end;
        let _ = self.queue.output.grow_to(end + MAX_HEADER_LEN);
        let free = self.queue.free();
        let header =
            self.sender
                .encode_header(self.shared, frame, &mut self.queue.output.as_mut()[free])?;
        *self.queue.out_end += header.len;
        Ok(true)
    }

    /// The queued bytes, not yet written.
    pub fn pending_output(&self) -> &[u8] {
        &self.queue.output.as_ref()[*self.queue.out_start..*self.queue.out_end]
    }

    /// Reports that the first `n` bytes of [`pending_output`](Reply::pending_output)
    /// were written.
    pub fn output_written(&mut self, n: usize) {
        let start = self
            .queue
            .out_start
            .saturating_add(n)
            .min(*self.queue.out_end);
        *self.queue.out_start = start;
    }

    /// Queues bytes as they are: the rest of a payload whose header
    /// [`queue_header`](Reply::queue_header) queued and that could not all
    /// be written. Returns false if the buffer cannot hold them.
    pub fn queue_payload_rest(&mut self, bytes: &[u8]) -> bool {
        self.queue.compact();
        let end = *self.queue.out_end;
        if !self.queue.output.grow_to(end + bytes.len()) {
            return false;
        }
        self.queue.output.as_mut()[end..end + bytes.len()].copy_from_slice(bytes);
        *self.queue.out_end += bytes.len();
        true
    }

    /// The connection's shared part (state, failure).
    pub fn shared(&self) -> &Shared {
        self.shared
    }
}

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
const MAX_HEADER_LEN: usize = 14;

impl<O: OutputBuffer> Queue<'_, O> {
    /// Encodes `frame` behind the queue, growing the buffer if it can.
    fn encode<R: rand_core::Rng>(
        &mut self,
        sender: &mut Sender<R>,
        shared: &mut Shared,
        frame: Outgoing<'_>,
    ) -> Result<(), SendError> {
        self.compact();
        let free = self.free();
        match sender.encode(shared, frame, &mut self.output.as_mut()[free]) {
            Ok(n) => {
                *self.out_end += n;
                Ok(())
            }
            Err(SendError::BufferTooSmall { needed }) => {
                let want = usize::try_from(needed)
                    .ok()
                    .and_then(|n| n.checked_add(*self.out_end));
                match want {
                    Some(want) if self.output.grow_to(want) => {
                        let free = self.free();
                        let n = sender.encode(shared, frame, &mut self.output.as_mut()[free])?;
                        *self.out_end += n;
                        Ok(())
                    }
                    _ => Err(SendError::BufferTooSmall { needed }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Queues what the connection owes; false if it did not fit.
    fn owed<R: rand_core::Rng>(&mut self, sender: &mut Sender<R>, shared: &mut Shared) -> bool {
        if !shared.wants_transmit() {
            return true;
        }
        self.compact();
        if self.output.as_ref().len() - *self.out_end < 2 * MAX_CONTROL_FRAME_LEN {
            let _ = self
                .output
                .grow_to(*self.out_end + 2 * MAX_CONTROL_FRAME_LEN);
        }
        let free = self.free();
        *self.out_end += sender.poll_transmit(shared, &mut self.output.as_mut()[free]);
        !shared.wants_transmit()
    }

    /// The free tail of the output buffer (empty if an adapter shrank the
    /// buffer below the queue, which it must not).
    fn free(&mut self) -> Range<usize> {
        let len = self.output.as_mut().len();
        (*self.out_end).min(len)..len
    }

    /// Moves queued output to the front, freeing the written part.
    fn compact(&mut self) {
        if *self.out_start > 0 {
            let (start, end) = (*self.out_start, *self.out_end);
            let buf = self.output.as_mut();
            if end - start <= start {
                // No overlap: a plain copy (`copy_within` would pull in a
                // 1.5 KiB `memmove` on small targets, for this call alone).
                let (front, back) = buf.split_at_mut(start);
                front[..end - start].copy_from_slice(&back[..end - start]);
            } else {
                // Overlapping: moving forward byte by byte reads each byte
                // before it is overwritten.
                for i in 0..end - start {
                    buf[i] = buf[start + i];
                }
            }
            *self.out_start = 0;
            *self.out_end = end - start;
        }
    }
}

impl<R, I, O> Driver<R, I, O>
where
    R: rand_core::Rng,
    I: AsMut<[u8]>,
    O: OutputBuffer,
{
    /// A driver with empty buffers.
    pub fn new(conn: Connection<R>, input: I, output: O) -> Self {
        Self::with_buffered_input(conn, input, 0..0, output)
    }

    /// A driver whose input buffer already holds unconsumed bytes in
    /// `buffered` (e.g. frames that arrived with the handshake).
    pub fn with_buffered_input(
        conn: Connection<R>,
        mut input: I,
        buffered: Range<usize>,
        output: O,
    ) -> Self {
        let len = input.as_mut().len();
        let end = buffered.end.min(len);
        Driver {
            conn,
            input,
            in_start: buffered.start.min(end),
            in_end: end,
            output,
            out_start: 0,
            out_end: 0,
            shut_down: false,
            linger: 0,
            fragmenting: None,
        }
    }

    /// Lingers after a failure: once the close frame for it is written and
    /// the transport's write side closed ([`Next::Shutdown`]), keeps asking
    /// for reads ([`Next::Read`]), discarding what arrives, until the peer
    /// ends the transport or `bytes` have been read. Closing a TCP socket
    /// with unread input resets the connection, and the reset can destroy
    /// our close frame before the peer has read it (a peer still sending a
    /// message that is too big sees 1006, not our 1009); lingering lets it
    /// read the close and answer. Off (0) by default: the adapter must bound
    /// the linger in time too (the std adapters use the close timeout).
    ///
    /// ```
    /// use wsock::driver::{Driver, Next};
    /// use wsock::{Config, Connection};
    ///
    /// let conn = Connection::server(Config::new().max_message_size(4));
    /// let mut driver = Driver::new(conn, [0u8; 64], [0u8; 64]);
    /// driver.linger(1000);
    /// // A 5-byte masked binary message: over the limit.
    /// let frame = [0x82, 0x85, 1, 2, 3, 4, 0, 0, 0, 0, 0];
    /// driver.input_space()[..frame.len()].copy_from_slice(&frame);
    /// driver.input_filled(frame.len());
    /// assert_eq!(driver.poll_event(|_, _| ()), Next::Write); // the close, 1009
    /// let close = driver.pending_output().len();
    /// driver.output_written(close);
    /// assert_eq!(driver.poll_event(|_, _| ()), Next::Shutdown);
    /// driver.shut_down();
    /// // The rest of the peer's message is read and dropped ...
    /// assert_eq!(driver.poll_event(|_, _| ()), Next::Read);
    /// driver.input_filled(10);
    /// assert_eq!(driver.poll_event(|_, _| ()), Next::Read);
    /// // ... until the peer ends the transport.
    /// driver.input_filled(0);
    /// assert!(matches!(driver.poll_event(|_, _| ()), Next::Ready(Err(_))));
    /// ```
    pub fn linger(&mut self, bytes: usize) {
        self.linger = bytes;
    }

    /// True while the driver lingers after a failure (see
    /// [`linger`](Driver::linger)): reads are to drain the input.
    pub fn is_lingering(&self) -> bool {
        self.shut_down && lingers(self.conn.shared(), self.linger > 0)
    }

    /// The bytes still to be drained when lingering.
    #[cfg(feature = "std")]
    pub(crate) fn linger_left(&self) -> usize {
        self.linger
    }

    /// The peer's close, if it has arrived: received, or waiting in the
    /// read-ahead ([`Receiver::close_ahead`](crate::connection::Receiver::close_ahead)).
    /// `Some` with its status code (`Some(None)` for none).
    pub fn peer_close(&mut self) -> Option<Option<CloseCode>> {
        let buffered = &self.input.as_mut()[self.in_start..self.in_end];
        let (receiver, shared) = (self.conn.receiver(), self.conn.shared());
        shared
            .peer_close()
            .or_else(|| receiver.close_ahead(buffered))
    }

    /// Stops lingering (e.g. the adapter's deadline for it passed): the
    /// next call reports the end.
    pub fn stop_lingering(&mut self) {
        self.linger = 0;
    }

    /// Takes the driver apart for the split std adapter: the connection,
    /// the input buffer with its unconsumed range, the queued output and
    /// whether the transport was closed.
    #[cfg(feature = "std")]
    pub(crate) fn into_split(self) -> (Connection<R>, I, Range<usize>, Vec<u8>, bool) {
        let queued = self.pending_output().to_vec();
        (
            self.conn,
            self.input,
            self.in_start..self.in_end,
            queued,
            self.shut_down,
        )
    }

    /// The connection.
    pub fn connection(&self) -> &Connection<R> {
        &self.conn
    }

    /// The connection, mutably (e.g. to [`fail`](Connection::fail) it).
    pub fn connection_mut(&mut self) -> &mut Connection<R> {
        &mut self.conn
    }

    /// The next event, decoded from buffered input and handed to `f` with
    /// a [`Reply`] handle (payloads borrowed from the input buffer, unmasked
    /// in place); `Ready(Ok(f's result))`.
    ///
    /// Owed frames (pongs, the close reply) are queued first, and before it
    /// asks for a read the driver asks for everything queued to be written,
    /// so a read never blocks with replies unsent; frames already buffered
    /// are all decoded first, so a burst of messages is answered with one
    /// write. After a protocol error the close frame for it is written, the
    /// transport shut, and the error returned as `Ready(Err(End::Failed))`;
    /// after the closing handshake `Ready(Err(End::Closed))` — at once as a
    /// server, after the server has closed the transport as a client
    /// (§7.1.1). Every later call returns the same end. While a frame
    /// started with [`queue_frame_start`](Driver::queue_frame_start) is
    /// unfinished, the reply to the peer's close waits for it, and so does
    /// the end: the driver asks for a read meanwhile.
    ///
    /// Dropping an adapter's future at any `Next` loses no event: an event
    /// is only consumed by the call that returns it.
    pub fn poll_event<T>(
        &mut self,
        f: impl FnOnce(Event<'_>, Reply<'_, R, O>) -> T,
    ) -> Next<Result<T, End>> {
        loop {
            self.queue_owed();
            if self.has_input() {
                let (receiver, sender, shared) = self.conn.parts_mut();
                let range = self.in_start..self.in_end;
                match receiver.receive(shared, &mut self.input.as_mut()[range]) {
                    Ok(got) => match got.event {
                        Some(event) => {
                            let consumed = got.consumed;
                            let reply = Reply {
                                sender,
                                shared,
                                queue: Queue {
                                    output: &mut self.output,
                                    out_start: &mut self.out_start,
                                    out_end: &mut self.out_end,
                                },
                                fragmenting: self.fragmenting.is_some(),
                            };
                            let out = f(event, reply);
                            self.in_start += consumed;
                            return Next::Ready(Ok(out));
                        }
                        None => self.in_start = self.in_end,
                    },
                    // The connection has failed and owes its close frame.
                    Err(_) => self.in_start = self.in_end,
                }
                continue;
            }
            if let Some(next) = self.poll_end() {
                return next.map_ready(Err);
            }
            return Next::Read;
        }
    }

    /// Writes out everything queued, and closes the transport if the
    /// connection is done with it (e.g. a server that wrote its reply to the
    /// peer's close); `Ready(())` when the queue is empty (then flush the
    /// transport, if it buffers). Cancel-safe: what was not written stays
    /// queued.
    pub fn poll_flush(&mut self) -> Next<()> {
        self.queue_owed();
        if self.has_pending_output() {
            return Next::Write;
        }
        if self.conn.should_shutdown() && !self.shut_down {
            return Next::Shutdown;
        }
        Next::Ready(())
    }

    /// Queues `frame` behind the owed frames and the queued output,
    /// asking for output to be written first when it does not fit, and
    /// `Ready(Ok(()))` once it is queued whole. [`poll_flush`](Driver::poll_flush)
    /// then writes it.
    ///
    /// A data frame larger than a fixed output buffer is sent as a
    /// fragmented message (§5.4) of pieces that fill the buffer, each
    /// queued whole, so the connection is at a frame boundary whenever the
    /// adapter waits: owed pongs and close frames can always go out.
    ///
    /// Cancel-safe: until `Ready`, a frame that fits is not queued at all
    /// (poll again, or send something else). A fragmented one is queued
    /// piece by piece: poll again with the same frame and it goes on from
    /// the next piece; any other data frame then fails with
    /// [`SendError::MessageInProgress`] (a close can still be sent).
    pub fn poll_write(&mut self, frame: Outgoing<'_>) -> Next<Result<(), SendError>> {
        self.queue_owed();
        if let Some(progress) = self.fragmenting {
            return match frame.as_data() {
                Some((kind, payload, _))
                    if kind == progress.kind && payload.len() == progress.len =>
                {
                    self.poll_fragments(frame)
                }
                Some(_) => Next::Ready(Err(SendError::MessageInProgress)),
                None => Next::Ready(self.queue(frame)),
            };
        }
        match (self.queue_frame(frame), frame.as_data()) {
            (Err(SendError::BufferTooSmall { .. }), _) if self.has_pending_output() => Next::Write,
            (Err(SendError::BufferTooSmall { .. }), Some((kind, payload, _))) => {
                self.fragmenting = Some(Fragmenting {
                    kind,
                    len: payload.len(),
                    taken: 0,
                });
                self.poll_fragments(frame)
            }
            (other, _) => Next::Ready(other),
        }
    }

    /// Queues the next piece of a message sent in fragments.
    fn poll_fragments(&mut self, frame: Outgoing<'_>) -> Next<Result<(), SendError>> {
        let (Some(progress), Some((kind, payload, last))) = (self.fragmenting, frame.as_data())
        else {
            return Next::Ready(Ok(()));
        };
        if self.has_pending_output() {
            return Next::Write;
        }
        // A piece fills the empty buffer: header + payload.
        let room = self.output.as_ref().len().saturating_sub(MAX_HEADER_LEN);
        if room == 0 {
            self.fragmenting = None;
            return Next::Ready(Err(SendError::BufferTooSmall { needed: 15 }));
        }
        let rest = &payload[progress.taken..];
        let piece = &rest[..rest.len().min(room)];
        let ends = piece.len() == rest.len();
        let fragment = Outgoing::Fragment {
            kind,
            payload: piece,
            last: last && ends,
        };
        if let Err(e) = self.queue_frame(fragment) {
            self.fragmenting = None;
            return Next::Ready(Err(e));
        }
        if ends {
            self.fragmenting = None;
            return Next::Ready(Ok(()));
        }
        self.fragmenting = Some(Fragmenting {
            taken: progress.taken + piece.len(),
            ..progress
        });
        Next::Write
    }

    /// When no more events can come: what is left to do before the end is
    /// reported, or the end itself. `None` while the connection may still
    /// receive.
    fn poll_end(&mut self) -> Option<Next<End>> {
        let shut_down = self.shut_down;
        let pending = self.has_pending_output();
        let linger = self.linger > 0;
        let (_, sender, shared) = self.conn.parts_mut();
        end_step(shared, sender, pending, shut_down, linger)
    }

    /// Reports that the adapter closed the transport (after [`Next::Shutdown`],
    /// or because it failed).
    pub fn shut_down(&mut self) {
        self.shut_down = true;
    }

    /// True once the adapter closed the transport.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// True while received bytes wait to be decoded; read from the
    /// transport only once this is false.
    pub fn has_input(&self) -> bool {
        self.in_start < self.in_end
    }

    /// The buffer to read new bytes into (all of it: decoded input is
    /// never kept). Call only when [`has_input`](Driver::has_input) is false.
    pub fn input_space(&mut self) -> &mut [u8] {
        if !self.has_input() {
            self.in_start = 0;
            self.in_end = 0;
        }
        let end = self.in_end;
        &mut self.input.as_mut()[end..]
    }

    /// The input buffer, to resize it between reads (e.g. to release it
    /// while the transport has nothing to read, and allocate it again
    /// before the next read); `None` while received bytes wait to be
    /// decoded, which must stay where they are.
    pub fn input_buffer_mut(&mut self) -> Option<&mut I> {
        if self.has_input() {
            return None;
        }
        self.in_start = 0;
        self.in_end = 0;
        Some(&mut self.input)
    }

    /// Reports that `n` bytes were read into [`input_space`](Driver::input_space);
    /// 0 means the transport ended (see [`Connection::receive_eof`]).
    pub fn input_filled(&mut self, n: usize) {
        if n == 0 {
            let _ = self.conn.receive_eof();
            return;
        }
        if self.shut_down {
            self.linger = self.linger.saturating_sub(n);
        }
        let len = self.input.as_mut().len();
        self.in_end = self.in_end.saturating_add(n).min(len);
    }

    /// The queued bytes to write to the transport.
    pub fn pending_output(&self) -> &[u8] {
        &self.output.as_ref()[self.out_start..self.out_end]
    }

    /// Reports that the first `n` bytes of [`pending_output`](Driver::pending_output)
    /// were written.
    pub fn output_written(&mut self, n: usize) {
        self.out_start = self.out_start.saturating_add(n).min(self.out_end);
        if self.out_start == self.out_end {
            self.out_start = 0;
            self.out_end = 0;
        }
    }

    /// True while queued bytes wait to be written.
    pub fn has_pending_output(&self) -> bool {
        self.out_start < self.out_end
    }

    /// Queues one whole frame behind the queued output, growing a growable
    /// buffer. If it does not fit, nothing changes and the error says how
    /// many bytes the frame needs. While [`poll_write`](Driver::poll_write)
    /// is sending a message in fragments, data frames fail with
    /// [`SendError::MessageInProgress`].
    pub fn queue(&mut self, frame: Outgoing<'_>) -> Result<(), SendError> {
        if self.fragmenting.is_some() && frame.as_data().is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.queue_frame(frame)
    }

    /// [`queue`](Driver::queue), whatever `poll_write` is doing.
    fn queue_frame(&mut self, frame: Outgoing<'_>) -> Result<(), SendError> {
        let (_, sender, shared) = self.conn.parts_mut();
        Queue {
            output: &mut self.output,
            out_start: &mut self.out_start,
            out_end: &mut self.out_end,
        }
        .encode(sender, shared, frame)
    }

    /// Queues the frames the connection owes (pongs, close replies). Returns
    /// false if the free output space is too small for them: write some
    /// output first. 2 × [`MAX_CONTROL_FRAME_LEN`] bytes of free space
    /// always suffice.
    pub fn queue_owed(&mut self) -> bool {
        let (_, sender, shared) = self.conn.parts_mut();
        Queue {
            output: &mut self.output,
            out_start: &mut self.out_start,
            out_end: &mut self.out_end,
        }
        .owed(sender, shared)
    }

    /// Queues the header of a data frame of `len` payload bytes whose
    /// payload follows through [`queue_payload`](Driver::queue_payload)
    /// (for a frame streamed through a fixed buffer in one piece). Fails
    /// with [`SendError::MessageInProgress`] while [`poll_write`](Driver::poll_write)
    /// is sending a message in fragments.
    pub fn queue_frame_start(
        &mut self,
        kind: DataKind,
        len: u64,
        last: bool,
    ) -> Result<(), SendError> {
        if self.fragmenting.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.compact_output();
        let free = self.output_free_range();
        let n = self
            .conn
            .start_frame(kind, len, last, &mut self.output.as_mut()[free])?;
        self.out_end += n;
        Ok(())
    }

    /// Queues as much of the started frame's payload as fits; returns how
    /// many bytes of `payload` were taken.
    pub fn queue_payload(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        self.compact_output();
        let free = self.output_free_range();
        let n = self
            .conn
            .encode_payload(payload, &mut self.output.as_mut()[free])?;
        self.out_end += n;
        Ok(n)
    }

    /// Counts a piece of the started frame's payload that the adapter wrote
    /// to the transport itself, behind the queued output (an unmasked
    /// frame: see [`Sender::pass_payload`]); returns how many bytes of
    /// `payload` were taken.
    pub fn pass_payload(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        self.conn.pass_payload(payload)
    }

    /// End of the queued output within the output buffer.
    pub fn queued_end(&self) -> usize {
        self.out_end
    }

    /// The output buffer, e.g. to shrink a `Vec` after a burst. Queued
    /// bytes are `[..queued_end()]`'s tail; keep them.
    pub fn output_buffer_mut(&mut self) -> &mut O {
        &mut self.output
    }

    fn output_free_range(&mut self) -> Range<usize> {
        Queue {
            output: &mut self.output,
            out_start: &mut self.out_start,
            out_end: &mut self.out_end,
        }
        .free()
    }

    fn compact_output(&mut self) {
        Queue {
            output: &mut self.output,
            out_start: &mut self.out_start,
            out_end: &mut self.out_end,
        }
        .compact()
    }
}

/// The end-of-connection rule, the one place it lives: given the shared
/// part, the sender, whether output waits to be written, whether the
/// transport was closed and whether the adapter may still linger after a
/// failure ([`Driver::linger`]) — what is left to do before the end is
/// reported (`Write`, `Shutdown`, `Read` to drain the input), the end
/// itself, or `None` while events may still come.
pub(crate) fn end_step<R>(
    shared: &Shared,
    sender: &Sender<R>,
    pending_output: bool,
    shut_down: bool,
    linger: bool,
) -> Option<Next<End>> {
    let receiving = !shared.is_receive_done()
        // A client whose closing handshake is done waits for the
        // server to end the transport (§7.1.1).
        || (shared.state() == State::Closed && !shared.should_shutdown() && !shared.wants_transmit())
        // Our reply to the peer's close waits for the frame we are
        // streaming (§5.5.1: "MAY delay ... until its current message
        // is sent"): the handshake is not over yet.
        || (shared.state() == State::CloseReceived && sender.is_frame_in_progress());
    if pending_output {
        return Some(Next::Write);
    }
    if sender.should_shutdown(shared) && !shut_down {
        return Some(Next::Shutdown);
    }
    if receiving && !shut_down {
        return None;
    }
    if shut_down && lingers(shared, linger) {
        return Some(Next::Read);
    }
    if shared.state() != State::Closed {
        // The peer's close arrived but our reply could not be queued:
        // the output buffer is smaller than a control frame.
        return Some(Next::Ready(End::Failed(ProtocolError::UnexpectedEof)));
    }
    Some(Next::Ready(match shared.failure() {
        Some(e) => End::Failed(e),
        None => End::Closed,
    }))
}

/// True while an adapter that may linger (`linger`) should drain the input:
/// the connection failed with a close frame for the peer (not because the
/// transport ended) and the peer has not ended the transport yet.
fn lingers(shared: &Shared, linger: bool) -> bool {
    linger
        && !shared.is_transport_ended()
        && shared
            .failure()
            .is_some_and(|e| e != ProtocolError::UnexpectedEof)
}

/// Appends `frame` to a growable queue (the split std adapter's send path).
#[cfg(feature = "std")]
pub(crate) fn append_frame<R: rand_core::Rng>(
    sender: &mut Sender<R>,
    shared: &mut Shared,
    frame: Outgoing<'_>,
    queue: &mut alloc::vec::Vec<u8>,
) -> Result<(), SendError> {
    let mut end = queue.len();
    // Room for the whole frame up front, so that it is encoded once (a
    // control frame's payload is at most 125 bytes, a close's 125 too).
    let payload = frame
        .as_data()
        .map_or(MAX_CONTROL_FRAME_LEN, |(_, p, _)| p.len());
    queue.resize(end + MAX_HEADER_LEN + payload, 0);
    let result = Queue {
        output: queue,
        out_start: &mut 0,
        out_end: &mut end,
    }
    .encode(sender, shared, frame);
    queue.truncate(end);
    result
}

/// Appends the frames the connection owes to a growable queue.
#[cfg(feature = "std")]
pub(crate) fn append_owed<R: rand_core::Rng>(
    sender: &mut Sender<R>,
    shared: &mut Shared,
    queue: &mut alloc::vec::Vec<u8>,
) {
    let mut end = queue.len();
    let _ = Queue {
        output: queue,
        out_start: &mut 0,
        out_end: &mut end,
    }
    .owed(sender, shared);
    queue.truncate(end);
}

#[cfg(feature = "std")]
impl<R: rand_core::Rng, I: AsMut<[u8]>> Driver<R, I, Vec<u8>> {
    /// Puts back together what [`into_split`](Driver::into_split) took apart.
    pub(crate) fn from_split(
        conn: Connection<R>,
        input: I,
        buffered: Range<usize>,
        queued: Vec<u8>,
        shut_down: bool,
    ) -> Self {
        let mut driver = Driver::with_buffered_input(conn, input, buffered, queued);
        driver.out_end = driver.output.len();
        driver.shut_down = shut_down;
        driver
    }
}

impl<T> Next<T> {
    /// Maps the result of a finished operation.
    pub fn map_ready<U>(self, f: impl FnOnce(T) -> U) -> Next<U> {
        match self {
            Next::Read => Next::Read,
            Next::Write => Next::Write,
            Next::Shutdown => Next::Shutdown,
            Next::Ready(t) => Next::Ready(f(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::MAX_CONTROL_FRAME_LEN;
    use crate::event::Event;
    use crate::frame::{Decoded, FrameDecoder, OpCode};

    fn server<const I: usize, const O: usize>() -> Driver<crate::NoRng, [u8; I], [u8; O]> {
        Driver::new(Connection::server(Config::new()), [0; I], [0; O])
    }

    fn feed<R: rand_core::Rng, I: AsMut<[u8]>, O: OutputBuffer>(
        d: &mut Driver<R, I, O>,
        bytes: &[u8],
    ) {
        assert!(!d.has_input());
        d.input_space()[..bytes.len()].copy_from_slice(bytes);
        d.input_filled(bytes.len());
    }

    /// Partially written output is kept, compacted, and new frames queue behind it.
    #[test]
    fn partial_writes_then_more_frames() {
        let mut d = server::<16, 16>();
        d.queue(Outgoing::Text("abcdef")).unwrap(); // 8 bytes
        d.output_written(5);
        assert_eq!(d.pending_output(), b"def");
        d.queue(Outgoing::Binary(b"0123456789")).unwrap(); // 12 bytes: fits after compaction
        assert_eq!(d.pending_output(), b"def\x82\x0a0123456789");
        assert_eq!(
            d.queue(Outgoing::Ping(b"")),
            Err(SendError::BufferTooSmall { needed: 2 })
        );
        d.output_written(15);
        assert!(!d.has_pending_output());
    }

    /// Compaction when the queued bytes overlap their destination.
    #[test]
    fn compaction_with_overlap() {
        let mut d = server::<4, 24>();
        d.queue(Outgoing::Binary(b"0123456789")).unwrap(); // 12 bytes
        d.output_written(3); // 9 left at [3..12]: overlaps [0..9]
        d.queue(Outgoing::Binary(b"abcdefghijklm")).unwrap(); // 15 bytes: needs compaction
        assert_eq!(d.pending_output(), b"123456789\x82\x0dabcdefghijklm");
    }

    /// §5.5.2: owed pongs need room; `queue_owed` says when there is none.
    #[test]
    fn owed_frames_wait_for_room() {
        let mut d = server::<64, { 2 * MAX_CONTROL_FRAME_LEN }>();
        feed(&mut d, &[0x89, 0x83, 0, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(
            d.poll_event(|e, _| matches!(e, Event::Ping(p) if p == b"abc")),
            Next::Ready(Ok(true))
        );
        d.queue(Outgoing::Binary(&[7; 2 * MAX_CONTROL_FRAME_LEN - 6]))
            .unwrap(); // leaves 2 bytes
        assert!(!d.queue_owed(), "5 bytes of pong do not fit in 2");
        let n = d.pending_output().len();
        d.output_written(n);
        assert!(d.queue_owed());
        assert_eq!(d.pending_output(), b"\x8a\x03abc");
    }

    /// §5.2: a frame larger than the output buffer streams through it.
    #[test]
    fn streams_a_frame_larger_than_the_output_buffer() {
        let mut d = server::<8, 32>();
        let payload = [0x5a_u8; 100];
        d.queue_frame_start(DataKind::Binary, 100, true).unwrap();
        let mut wire = Vec::new();
        let mut taken = 0;
        while taken < payload.len() {
            taken += d.queue_payload(&payload[taken..]).unwrap();
            wire.extend_from_slice(d.pending_output());
            let n = d.pending_output().len();
            d.output_written(n);
        }
        assert_eq!(&wire[..2], &[0x82, 100]);
        assert_eq!(&wire[2..], &payload[..]);
    }

    /// Input that stops mid-frame is consumed; the rest may arrive later.
    #[test]
    fn input_in_pieces() {
        let mut d = server::<4, 16>();
        let frame = [0x81, 0x83, 0, 0, 0, 0, b'x', b'y', b'z'];
        let mut seen = Vec::new();
        for piece in frame.chunks(4) {
            feed(&mut d, piece);
            while let Next::Ready(r) = d.poll_event(|e, _| {
                if let Event::Data(c) = e {
                    seen.extend_from_slice(c.payload);
                }
            }) {
                r.unwrap();
            }
        }
        assert_eq!(seen, b"xyz");
    }

    /// While `poll_write` sends a message in fragments, no other data frame
    /// may join it: not through a reply, `queue` or `queue_frame_start`
    /// (fuzz/regressions/driver/reply_queue_continues_the_message_poll_write_fragments).
    #[test]
    fn nothing_joins_a_message_poll_write_fragments() {
        let mut d = server::<16, 64>();
        let payload = [7u8; 200];
        // The first piece is queued; the adapter's write would block.
        assert_eq!(d.poll_write(Outgoing::Binary(&payload)), Next::Write);
        feed(&mut d, &[0x82, 0x81, 0, 0, 0, 0, b'x']);
        let forwarded = d.poll_event(|event, mut reply| match event {
            Event::Data(chunk) => reply.queue(Outgoing::Fragment {
                kind: chunk.kind,
                payload: chunk.payload,
                last: chunk.last,
            }),
            _ => Ok(()),
        });
        assert_eq!(
            forwarded,
            Next::Ready(Ok(Err(SendError::MessageInProgress)))
        );
        let fragment = Outgoing::Fragment {
            kind: DataKind::Binary,
            payload: b"y",
            last: true,
        };
        assert_eq!(d.queue(fragment), Err(SendError::MessageInProgress));
        assert_eq!(
            d.queue_frame_start(DataKind::Binary, 1, true),
            Err(SendError::MessageInProgress)
        );
        // A control frame may still go out between the fragments.
        assert_eq!(d.queue(Outgoing::Ping(b"")), Ok(()));
        let mut wire = Vec::new();
        loop {
            wire.extend_from_slice(d.pending_output());
            let n = d.pending_output().len();
            d.output_written(n);
            if let Next::Ready(done) = d.poll_write(Outgoing::Binary(&payload)) {
                assert_eq!(done, Ok(()));
                break;
            }
        }
        wire.extend_from_slice(d.pending_output());
        // The wire: the message's fragments, with the ping between two.
        let mut decoder = FrameDecoder::new();
        let mut frames: Vec<(OpCode, bool, Vec<u8>)> = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let (used, item) = decoder.decode(&mut wire[at..]).unwrap();
            match item {
                Some(Decoded::Header(h)) => frames.push((h.opcode, h.fin, Vec::new())),
                Some(Decoded::Payload { range, .. }) => {
                    let bytes = &wire[at..][range];
                    frames.last_mut().unwrap().2.extend_from_slice(bytes);
                }
                None => {}
            }
            at += used;
        }
        assert_eq!(frames[1], (OpCode::Ping, true, Vec::new()));
        frames.remove(1);
        assert_eq!(frames[0].0, OpCode::Binary);
        let message: Vec<u8> = frames.iter().flat_map(|f| f.2.clone()).collect();
        assert_eq!(message, payload);
        for (i, &(op, fin, _)) in frames.iter().enumerate().skip(1) {
            assert_eq!((op, fin), (OpCode::Continuation, i + 1 == frames.len()));
        }
    }

    /// §5.5.1: the reply to the peer's close may wait for the frame we are
    /// streaming; meanwhile the driver reports no end (it used to report
    /// `Failed(UnexpectedEof)`, then `Closed`:
    /// fuzz/regressions/driver/peer_close_while_streaming_ends_failed_then_closed).
    #[test]
    fn peer_close_while_streaming_waits_for_the_frame() {
        let mut d = server::<16, 64>();
        d.queue_frame_start(DataKind::Binary, 10, true).unwrap();
        assert_eq!(d.queue_payload(&[1; 4]), Ok(4));
        feed(&mut d, &[0x88, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            d.poll_event(|e, _| matches!(e, Event::Close(None))),
            Next::Ready(Ok(true))
        );
        assert_eq!(d.poll_event(|_, _| ()), Next::Write);
        d.output_written(d.pending_output().len());
        assert_eq!(d.poll_event(|_, _| ()), Next::Read);
        assert_eq!(d.queue_payload(&[1; 6]), Ok(6));
        assert_eq!(d.poll_event(|_, _| ()), Next::Write);
        assert_eq!(d.pending_output(), &[1, 1, 1, 1, 1, 1, 0x88, 0x00]);
        d.output_written(8);
        assert_eq!(d.poll_event(|_, _| ()), Next::Shutdown);
        d.shut_down();
        assert_eq!(d.poll_event(|_, _| ()), Next::Ready(Err(End::Closed)));
    }

    extern crate std;
    use std::vec::Vec;
}
