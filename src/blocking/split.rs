//! A blocking WebSocket in two halves, for a reader thread and a writer
//! thread: [`WebSocket::split`]. The design is in the parent module's docs
//! ("Two threads"): a shared send path behind one short lock, and a write
//! token that one half holds at a time, outside the lock.

use super::deadline::{CloseClock, Deadline};
use super::keepalive::{self, Due, Pinger};
use super::rng::MaskRng;
use super::{Budget, ended, message_step, whole_message};
use super::{Error, KEEP_WRITE_CAPACITY, Message, Phase, Reassembly, Step, Transport, WebSocket};
use crate::close::CloseCode;
use crate::connection::{Connection, Receiver, Sender, Shared, State};
use crate::driver::{self, Driver, End, Next};
use crate::error::ProtocolError;
use crate::event::{DataKind, Event, Outgoing};
use std::boxed::Box;
use std::io::{self, Write};
use std::net::TcpStream;
use std::string::String;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use std::vec::Vec;

/// A transport with a second handle on the same stream, so that one thread
/// can read while another writes: what [`WebSocket::split`] needs.
///
/// TLS streams are not splittable: a rustls session is one state machine
/// for both directions, so [`MaybeTlsStream::Tls`](super::MaybeTlsStream)
/// refuses with [`io::ErrorKind::Unsupported`]. Over `wss://`, read and
/// write from one thread (e.g. [`WebSocket::read`] with a read timeout
/// between sends).
pub trait TrySplit: Transport + Sized {
    /// Another handle on the same stream.
    fn try_split(&self) -> io::Result<Self>;
}

impl TrySplit for TcpStream {
    fn try_split(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

#[cfg(unix)]
impl TrySplit for std::os::unix::net::UnixStream {
    fn try_split(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

impl TrySplit for super::MaybeTlsStream {
    fn try_split(&self) -> io::Result<Self> {
        match self {
            super::MaybeTlsStream::Plain(s) => s.try_clone().map(super::MaybeTlsStream::Plain),
            #[cfg(feature = "tls")]
            super::MaybeTlsStream::Tls(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a TLS stream cannot be split: both directions share one TLS session",
            )),
        }
    }
}

/// The send path both halves share.
#[derive(Debug)]
struct SendPath {
    state: Mutex<SendState>,
    /// Notified when the write token is released and when the closing
    /// handshake moves on.
    changed: Condvar,
}

#[derive(Debug)]
struct SendState {
    shared: Shared,
    sender: Sender<MaskRng>,
    /// Encoded bytes no half has taken yet.
    queue: Vec<u8>,
    /// The other buffer of the double-buffered queue, kept for its capacity.
    spare: Vec<u8>,
    /// Bytes ever queued and bytes ever written: a flush waits for the
    /// second to reach what the first was.
    queued_total: u64,
    written_total: u64,
    /// A half holds the write token.
    writing: bool,
    /// The transport was closed.
    shut_down: bool,
    /// A write failed for good (not a timeout) in the middle of a frame.
    broken: Option<io::ErrorKind>,
}

impl SendPath {
    fn lock(&self) -> MutexGuard<'_, SendState> {
        // No code that can panic runs under the lock with the state half
        // changed, so a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, SendState>) -> MutexGuard<'a, SendState> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl SendState {
    /// Queues what the connection owes (between frames only).
    fn queue_owed(&mut self) {
        let before = self.queue.len();
        driver::append_owed(&mut self.sender, &mut self.shared, &mut self.queue);
        self.queued_total += (self.queue.len() - before) as u64;
    }

    /// Queues one whole frame behind the owed ones.
    fn queue_frame(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        if let Some(kind) = self.broken {
            return Err(super::broken(kind));
        }
        if let (Some(code), Some(_)) = (self.shared.peer_close(), frame.as_data()) {
            return Err(Error::PeerClosed(code));
        }
        self.queue_owed();
        let before = self.queue.len();
        driver::append_frame(&mut self.sender, &mut self.shared, frame, &mut self.queue)
            .map_err(|e| super::peer_closed(&self.shared, e))?;
        self.queued_total += (self.queue.len() - before) as u64;
        Ok(())
    }

    /// Takes the write token if there is something to write and no half
    /// is writing.
    fn take_token(&mut self) -> bool {
        self.queue_owed();
        let take = !self.writing && !self.queue.is_empty();
        self.writing |= take;
        take
    }

    /// The end-of-connection rule ([`driver::end_step`]) for the read half.
    /// While events may still come, it reads on even if the write half is
    /// writing: that half writes whatever is queued.
    fn end_step(&self, linger: bool) -> Option<Next<End>> {
        let step =
            |pending| driver::end_step(&self.shared, &self.sender, pending, self.shut_down, linger);
        match step(self.writing || !self.queue.is_empty()) {
            Some(Next::Write) if self.writing => step(false).map(|_| Next::Write),
            other => other,
        }
    }
}

/// Writes the queue out while holding the write token, until it is
/// empty, closing the transport if the connection is done with it. The
/// lock is released for every system call. Bytes that could not be written
/// stay queued, in order.
fn write_queue<'a, S: Transport>(
    path: &'a SendPath,
    stream: &mut S,
    mut st: MutexGuard<'a, SendState>,
) -> (MutexGuard<'a, SendState>, Result<(), Error>) {
    debug_assert!(st.writing, "only the token holder writes");
    let mut batch = core::mem::take(&mut st.spare);
    let result = loop {
        st.queue_owed();
        if st.queue.is_empty() {
            if st.sender.should_shutdown(&st.shared) && !st.shut_down {
                st = shut_down(path, stream, st);
            }
            break Ok(());
        }
        core::mem::swap(&mut batch, &mut st.queue);
        drop(st);
        let (written, result) = write_all(stream, &batch);
        st = path.lock();
        st.written_total += written as u64;
        if let Err(e) = result {
            // Put the rest back in front of what was queued meanwhile.
            batch.drain(..written);
            batch.extend_from_slice(&st.queue);
            core::mem::swap(&mut batch, &mut st.queue);
            batch.clear();
            break Err(Error::from(e));
        }
        batch.clear();
    };
    st.spare = batch;
    (st, result)
}

/// [`write_queue`], then gives the write token back.
fn drain<'a, S: Transport>(
    path: &'a SendPath,
    stream: &mut S,
    st: MutexGuard<'a, SendState>,
) -> Result<(), Error> {
    let (mut st, result) = write_queue(path, stream, st);
    st.writing = false;
    path.changed.notify_all();
    result
}

/// Closes the transport (once), outside the lock: our side of it, in an
/// orderly way (what the peer still sends can be read).
fn shut_down<'a, S: Transport>(
    path: &'a SendPath,
    stream: &mut S,
    st: MutexGuard<'a, SendState>,
) -> MutexGuard<'a, SendState> {
    end_transport(path, stream, st, S::close_transport)
}

/// Closes both directions of the transport (once), so that the read half's
/// blocked read returns: the write half gives up on the closing handshake.
fn abort<'a, S: Transport>(
    path: &'a SendPath,
    stream: &mut S,
    st: MutexGuard<'a, SendState>,
) -> MutexGuard<'a, SendState> {
    end_transport(path, stream, st, S::abort_transport)
}

fn end_transport<'a, S: Transport>(
    path: &'a SendPath,
    stream: &mut S,
    mut st: MutexGuard<'a, SendState>,
    end: fn(&mut S) -> io::Result<()>,
) -> MutexGuard<'a, SendState> {
    if st.shut_down {
        return st;
    }
    st.shut_down = true;
    drop(st);
    let _ = end(stream);
    path.changed.notify_all();
    path.lock()
}

/// Writes and flushes `bytes`; how many were written, and the error that
/// stopped it, if one did. Interrupted calls are retried.
fn write_all<S: Write>(stream: &mut S, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    loop {
        match stream.flush() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return (written, other),
        }
    }
}

/// The reading half of a split [`WebSocket`]; see [`WebSocket::split`].
#[derive(Debug)]
pub struct ReadHalf<S> {
    reading: Reading<S>,
    assembler: Reassembly,
    subprotocol: Option<String>,
}

/// The read half's machinery, apart from the message it assembles.
#[derive(Debug)]
struct Reading<S> {
    stream: S,
    receiver: Receiver,
    input: Vec<u8>,
    /// Unconsumed input is `input[in_start..in_end]`.
    in_start: usize,
    in_end: usize,
    path: Arc<SendPath>,
    /// The closing handshake's deadline, started when the connection
    /// stops being open.
    close: CloseClock,
    /// Bytes still to drain after a failure ([`Driver::linger`]).
    linger: usize,
    /// Keepalive pings, sent by the read half while it waits.
    pinger: Option<Pinger>,
}

/// The writing half of a split [`WebSocket`]; see [`WebSocket::split`].
#[derive(Debug)]
pub struct WriteHalf<S> {
    stream: S,
    path: Arc<SendPath>,
    close_timeout: Option<Duration>,
    /// The buffer big frames are streamed through.
    piece: Vec<u8>,
    /// Compresses what `write` sends, when permessage-deflate was agreed.
    #[cfg(feature = "deflate")]
    deflater: Option<std::boxed::Box<super::compression::MessageDeflater>>,
}

#[cfg(feature = "deflate")]
impl<S: Transport> super::compression::Compressing for WriteHalf<S> {
    fn can_start_message(&mut self) -> bool {
        let st = self.path.lock();
        super::compression::can_start_message(&st.sender, &st.shared)
    }
    fn set_next_message_rsv(&mut self, rsv: u8) {
        self.path.lock().sender.set_next_message_rsv(rsv);
    }
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        WriteHalf::write_as_is(self, frame)
    }
}

/// [`ReadHalf::reunite`] was given the write half of another WebSocket.
#[derive(Debug)]
pub struct ReuniteError<S>(pub ReadHalf<S>, pub WriteHalf<S>);

impl<S> core::fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the halves belong to different WebSockets")
    }
}

impl<S: core::fmt::Debug> std::error::Error for ReuniteError<S> {}

impl<S: TrySplit> WebSocket<S> {
    /// Splits the WebSocket into a read half and a write half that can move
    /// to two threads: one reads while the other sends. Pings are answered
    /// and the peer's close replied to by the read half as it reads, even
    /// while the write half is busy (see [two threads](super#two-threads)).
    ///
    /// The closing handshake works whichever half starts it: the write half's
    /// [`close`](WriteHalf::close) sends our close and waits (bounded by
    /// [`Options::close_timeout`](super::Options::close_timeout)) while the read half receives the reply;
    /// a close from the peer is answered by the read half, after which sends
    /// fail with [`SendError::Closing`](crate::SendError::Closing).
    /// [`ReadHalf::reunite`] puts the halves back together.
    ///
    /// Fails if the transport cannot be split (TLS; see [`TrySplit`]).
    ///
    /// ```no_run
    /// use wsock::blocking::{connect, Message};
    /// use wsock::CloseCode;
    ///
    /// let (mut reader, mut writer) = connect("ws://127.0.0.1:9001/chat")?.split()?;
    /// let printer = std::thread::spawn(move || {
    ///     for message in reader.incoming() {
    ///         println!("{:?}", message?);
    ///     }
    ///     Ok::<_, wsock::blocking::Error>(())
    /// });
    /// for line in ["hello", "from", "another thread"] {
    ///     writer.send(Message::Text(line.into()))?;
    /// }
    /// writer.close(CloseCode::NORMAL, "bye")?;
    /// printer.join().unwrap()?;
    /// # Ok::<(), wsock::blocking::Error>(())
    /// ```
    pub fn split(self) -> Result<(ReadHalf<S>, WriteHalf<S>), Error> {
        let write_stream = self.stream.try_split()?;
        let linger = self.driver.linger_left();
        let (conn, input, buffered, queue, shut_down) = self.driver.into_split();
        let (receiver, sender, shared) = conn.split();
        let queued_total = queue.len() as u64;
        let path = Arc::new(SendPath {
            state: Mutex::new(SendState {
                shared,
                sender,
                queue,
                spare: Vec::new(),
                queued_total,
                written_total: 0,
                writing: false,
                shut_down,
                broken: None,
            }),
            changed: Condvar::new(),
        });
        let read = ReadHalf {
            reading: Reading {
                stream: self.stream,
                receiver,
                input,
                in_start: buffered.start,
                in_end: buffered.end,
                path: Arc::clone(&path),
                close: self.close,
                linger,
                pinger: self.pinger,
            },
            assembler: self.assembler,
            subprotocol: self.subprotocol,
        };
        let write = WriteHalf {
            stream: write_stream,
            path,
            close_timeout: self.close.timeout(),
            piece: Vec::new(),
            #[cfg(feature = "deflate")]
            deflater: self.deflater,
        };
        Ok((read, write))
    }
}

impl<S: Transport> Reading<S> {
    /// The next event, handed to `f`; the read half's only loop.
    fn read_event<T>(&mut self, f: impl FnOnce(Event<'_>) -> T) -> Result<T, Error> {
        loop {
            if self.in_start < self.in_end {
                let mut st = self.path.lock();
                let before = st.shared.state();
                let range = self.in_start..self.in_end;
                let got = self
                    .receiver
                    .receive(&mut st.shared, &mut self.input[range]);
                if st.shared.state() != before {
                    self.path.changed.notify_all();
                }
                // Write the pong or close reply now, unless the other half
                // is writing: then it does.
                let written = if st.take_token() {
                    drain(&self.path, &mut self.stream, st)
                } else {
                    drop(st);
                    Ok(())
                };
                match got {
                    Ok(received) => match received.event {
                        Some(event) => {
                            self.in_start += received.consumed;
                            // The event is not lost if its reply could not be
                            // written: the reply stays queued and the error
                            // comes back with the next read or write.
                            return Ok(f(event));
                        }
                        None => self.in_start = self.in_end,
                    },
                    // The connection failed and its close frame is queued.
                    Err(_) => self.in_start = self.in_end,
                }
                if let Err(Error::Io(e)) = written {
                    return Err(self.io_error(e));
                }
                continue;
            }
            let st = self.path.lock();
            let mut draining = false;
            match st.end_step(self.linger > 0) {
                None => drop(st),
                Some(Next::Ready(end)) => return Err(ended(end)),
                Some(Next::Write) => {
                    if st.writing {
                        // The other half writes what is owed: wait for it.
                        drop(self.path.wait(st));
                    } else {
                        let mut st = st;
                        st.writing = true;
                        if let Err(Error::Io(e)) = drain(&self.path, &mut self.stream, st) {
                            return Err(self.io_error(e));
                        }
                    }
                    continue;
                }
                Some(Next::Shutdown) => {
                    drop(shut_down(&self.path, &mut self.stream, st));
                    continue;
                }
                // After a failure: read and drop what the peer still sends.
                Some(Next::Read) => {
                    drop(st);
                    draining = true;
                }
            }
            let state = self.path.lock().shared.state();
            if let Some(deadline) = self.close.for_state(state)
                && let Err(e) = deadline.arm(&mut self.stream)
            {
                if draining {
                    // The drain is over; the failure is reported.
                    self.linger = 0;
                    continue;
                }
                return Err(self.timed_out(e));
            }
            let pinging = state == State::Open && self.pinger.is_some();
            if pinging && let Some(error) = self.keepalive()? {
                return Err(error);
            }
            match self.stream.read(&mut self.input) {
                Ok(0) => {
                    let _ = self.path.lock().shared.receive_eof();
                    self.path.changed.notify_all();
                }
                Ok(n) => {
                    if draining {
                        self.linger = self.linger.saturating_sub(n);
                    }
                    self.in_start = 0;
                    self.in_end = n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The wait for the next keepalive step is over.
                Err(e) if pinging && super::resumable(&e) => {}
                // The drain ends however the transport does.
                Err(_) if draining => self.linger = 0,
                Err(e) => {
                    let error = self.io_error(e);
                    return Err(match self.close.for_state(state) {
                        Some(deadline) => deadline.name(error),
                        None => error,
                    });
                }
            }
        }
    }

    /// The keepalive's turn before a read on an open connection: a ping
    /// when one is due (written now, or by the write half after its frame),
    /// else the read's timeout is the wait for the next step; when a ping
    /// went unanswered, a close with 1011, the transport ended and the
    /// error to return.
    fn keepalive(&mut self) -> Result<Option<Error>, Error> {
        let Some(pinger) = self.pinger.as_mut() else {
            return Ok(None);
        };
        let frame = match pinger.due(self.receiver.pongs_received()) {
            Due::Wait(left) => {
                self.stream.set_read_timeout(Some(left))?;
                return Ok(None);
            }
            Due::Ping => keepalive::PING,
            Due::Unanswered => keepalive::CLOSE,
        };
        let unanswered = frame == keepalive::CLOSE;
        let error = pinger.error();
        if unanswered {
            // Writing our close is bounded: the peer may not read.
            let _ = self.close.start().arm(&mut self.stream);
        }
        let mut st = self.path.lock();
        let _ = st.queue_frame(frame);
        let written = if st.take_token() {
            drain(&self.path, &mut self.stream, st)
        } else {
            drop(st);
            Ok(())
        };
        if unanswered {
            drop(abort(&self.path, &mut self.stream, self.path.lock()));
            return Ok(Some(Error::Io(error)));
        }
        match written {
            Err(Error::Io(e)) => Err(self.io_error(e)),
            _ => Ok(None),
        }
    }

    /// The closing handshake's deadline passed: the transport is ended,
    /// and the failure that began the close is reported if there was one.
    fn timed_out(&mut self, error: Error) -> Error {
        let st = self.path.lock();
        let failure = st.shared.failure();
        drop(shut_down(&self.path, &mut self.stream, st));
        match failure {
            Some(e) if e != ProtocolError::UnexpectedEof => Error::Protocol(e),
            _ => error,
        }
    }

    /// The error to report for an I/O error (as the unsplit adapter's
    /// `io_error`): the protocol error whose close frame could not be
    /// written (the transport is then closed), or the I/O error itself.
    fn io_error(&mut self, error: io::Error) -> Error {
        let st = self.path.lock();
        match st.shared.failure() {
            Some(e) if e != ProtocolError::UnexpectedEof => {
                drop(shut_down(&self.path, &mut self.stream, st));
                Error::Protocol(e)
            }
            _ => Error::Io(error),
        }
    }
}

impl<S: Transport> ReadHalf<S> {
    /// Reads the next message, like [`WebSocket::read`]: pings are answered
    /// and the peer's close replied to before this returns; after the
    /// closing handshake it returns [`Error::ConnectionClosed`]. Keep
    /// reading after a [`Message::Close`]: the handshake ends here.
    pub fn read(&mut self) -> Result<Message, Error> {
        // The message returned last is the caller's now.
        self.assembler.buffer_mut().release_lent();
        loop {
            let assembler = &mut self.assembler;
            match self
                .reading
                .read_event(|event| message_step(assembler, event))?
            {
                Step::Continue => {}
                Step::Whole(kind) => return whole_message(&mut self.assembler, kind),
                Step::Control(message) => return Ok(message),
                // The message is too big: the loop writes the close for it.
                Step::Fail(e) => self.reading.path.lock().shared.fail(e),
            }
        }
    }

    /// Reads the next event and hands it to `f`, zero-copy, like
    /// [`WebSocket::read_event_with`].
    pub fn read_event_with<T>(&mut self, f: impl FnOnce(Event<'_>) -> T) -> Result<T, Error> {
        self.reading.read_event(f)
    }

    /// Like [`WebSocket::set_budget`] (a budget set before `split` stays).
    pub fn set_budget(&mut self, budget: impl Into<Option<Budget>>) {
        self.assembler.buffer_mut().set_budget(budget.into());
    }

    /// The budget, as [`WebSocket::budget`].
    pub fn budget(&self) -> Option<&Budget> {
        self.assembler.buffer().budget()
    }

    /// An iterator over incoming messages; it ends after the closing
    /// handshake, or after yielding an error.
    pub fn incoming(&mut self) -> impl Iterator<Item = Result<Message, Error>> + '_ {
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.read() {
                Ok(message) => Some(Ok(message)),
                Err(Error::ConnectionClosed) => {
                    done = true;
                    None
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.reading.path.lock().shared.state()
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The read half's transport handle.
    pub fn get_ref(&self) -> &S {
        &self.reading.stream
    }

    /// Puts the halves back together (the write half's transport handle is
    /// dropped). Fails if they came from different WebSockets.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<WebSocket<S>, Box<ReuniteError<S>>> {
        if !Arc::ptr_eq(&self.reading.path, &write.path) {
            return Err(Box::new(ReuniteError(self, write)));
        }
        #[cfg(feature = "deflate")]
        let deflater = {
            let mut write = write;
            write.deflater.take()
        };
        #[cfg(not(feature = "deflate"))]
        drop(write);
        let reading = self.reading;
        let Ok(path) = Arc::try_unwrap(reading.path) else {
            unreachable!("only the two halves hold the send path")
        };
        let st = path
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let conn = Connection::from_parts(reading.receiver, st.sender, st.shared);
        let driver = Driver::from_split(
            conn,
            reading.input,
            reading.in_start..reading.in_end,
            st.queue,
            st.shut_down,
        );
        let mut driver = driver;
        driver.linger(reading.linger);
        Ok(WebSocket {
            stream: reading.stream,
            driver,
            assembler: self.assembler,
            close: reading.close,
            pinger: reading.pinger,
            broken: st.broken,
            subprotocol: self.subprotocol,
            #[cfg(feature = "deflate")]
            deflater,
        })
    }
}

impl<S: Transport> WriteHalf<S> {
    /// Queues a frame behind any owed pong or close reply, like
    /// [`WebSocket::write`]; [`flush`](WriteHalf::flush) writes it (and so
    /// does the read half, before it blocks). A data frame of 64 KiB or
    /// more is written at once, streamed through a 64 KiB buffer; the read
    /// half's replies then wait for the frame's end (control frames cannot
    /// go inside a frame) but its reading does not.
    ///
    /// Errors as [`WebSocket::write`]: [`Error::Send`] means nothing
    /// changed, [`Error::PeerClosed`] that the peer's close was received;
    /// [`Error::Io`] after `WouldBlock` or a timeout (only when streaming)
    /// means the frame was taken and its rest is queued: call
    /// [`flush`](WriteHalf::flush); after any other I/O error the transport
    /// is broken, nothing is kept and later writes fail.
    pub fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(mut deflater) = self.deflater.take() {
            let written = super::compression::write(self, &mut deflater, frame);
            self.deflater = Some(deflater);
            return written;
        }
        self.write_as_is(frame)
    }

    /// [`write`](WriteHalf::write) without compression.
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        match frame.as_data() {
            Some((kind, payload, last)) if payload.len() >= KEEP_WRITE_CAPACITY => {
                self.write_through(frame, kind, payload, last)
            }
            _ => self.path.lock().queue_frame(frame),
        }
    }

    /// Writes everything queued so far (by either half), waiting while the
    /// read half writes. After an error nothing is lost: call it again.
    pub fn flush(&mut self) -> Result<(), Error> {
        let mut st = self.path.lock();
        let target = st.queued_total;
        while st.written_total < target {
            if st.writing {
                st = self.path.wait(st);
            } else {
                st.writing = true;
                drain(&self.path, &mut self.stream, st)?;
                st = self.path.lock();
            }
        }
        Ok(())
    }

    /// Sends a message (`write` + `flush`).
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.write(message.as_outgoing())?;
        self.flush()
    }

    /// Sends a frame without taking ownership of its payload.
    pub fn send_frame(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        self.write(frame)?;
        self.flush()
    }

    /// Runs our side of the closing handshake: sends a close frame (unless
    /// one was sent: e.g. the read half already replied to the peer's),
    /// then waits until the read half has received the peer's close and
    /// the transport has ended — so keep the read half reading. Bounded by
    /// [`Options::close_timeout`](super::Options::close_timeout): then the
    /// transport is closed (the read half's read returns) and the error is
    /// a timeout.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let deadline = Deadline::after(self.close_timeout, Phase::Close);
        let _ = deadline.arm(&mut self.stream);
        {
            let mut st = self.path.lock();
            if st.shared.state() == State::Open {
                st.queue_frame(Outgoing::Close(Some((code, reason))))?;
            }
        }
        if let Err(e) = self.flush() {
            // The close cannot go out: the handshake is over.
            drop(abort(&self.path, &mut self.stream, self.path.lock()));
            return Err(e);
        }
        let mut st = self.path.lock();
        while !st.shut_down {
            match deadline.left() {
                None => st = self.path.wait(st),
                Some(left) if left.is_zero() => {
                    drop(abort(&self.path, &mut self.stream, st));
                    return Err(Error::Timeout(Phase::Close));
                }
                Some(left) => {
                    st = self
                        .path
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        match st.shared.failure() {
            Some(e) => Err(Error::Protocol(e)),
            None => Ok(()),
        }
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.path.lock().shared.state()
    }

    /// The write half's transport handle.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Streams a big data frame through `piece`, holding the write token
    /// from its header to its last byte; see [`write`](WriteHalf::write).
    fn write_through(
        &mut self,
        frame: Outgoing<'_>,
        kind: DataKind,
        payload: &[u8],
        last: bool,
    ) -> Result<(), Error> {
        let mut st = self.path.lock();
        while st.writing {
            st = self.path.wait(st);
        }
        st.writing = true;
        // What is queued goes first.
        let (mut st, written) = write_queue(&self.path, &mut self.stream, st);
        if let Err(e) = written {
            // After a timeout, take the frame anyway, so that the error means
            // one thing; a broken transport is not given a copy of it.
            if matches!(&e, Error::Io(e) if super::resumable(e)) {
                let queued = st.queue_frame(frame);
                release(&self.path, st);
                queued?;
            } else {
                release(&self.path, st);
            }
            return Err(e);
        }
        self.piece.resize(KEEP_WRITE_CAPACITY, 0);
        let state = &mut *st;
        let header = match state.sender.start_frame(
            &mut state.shared,
            kind,
            payload.len() as u64,
            last,
            &mut self.piece,
        ) {
            Ok(n) => n,
            Err(e) => {
                release(&self.path, st);
                return Err(Error::Send(e));
            }
        };
        let (mut taken, mut filled) = (0, header);
        loop {
            let n = match st
                .sender
                .encode_payload(&payload[taken..], &mut self.piece[filled..])
            {
                Ok(n) => n,
                Err(e) => {
                    release(&self.path, st);
                    return Err(Error::Send(e));
                }
            };
            taken += n;
            filled += n;
            st.queued_total += filled as u64;
            drop(st);
            let (written, result) = write_all(&mut self.stream, &self.piece[..filled]);
            st = self.path.lock();
            st.written_total += written as u64;
            if let Err(e) = result {
                if !super::resumable(&e) {
                    // The transport is broken: nothing is kept, the
                    // transport is ended and later writes fail.
                    st.broken = Some(e.kind());
                    let st = shut_down(&self.path, &mut self.stream, st);
                    let peer_close = st.shared.peer_close();
                    release(&self.path, st);
                    return Err(peer_close.map_or_else(|| Error::from(e), Error::PeerClosed));
                }
                // Queue the rest of the frame, so that `flush` can finish it.
                let mut rest = self.piece[written..filled].to_vec();
                let end = rest.len();
                rest.resize(end + payload.len() - taken, 0);
                // A started frame takes all of its payload that fits.
                let n = st
                    .sender
                    .encode_payload(&payload[taken..], &mut rest[end..])
                    .unwrap_or(0);
                rest.truncate(end + n);
                st.queued_total += n as u64;
                rest.extend_from_slice(&st.queue);
                st.queue = rest;
                release(&self.path, st);
                return Err(Error::from(e));
            }
            if taken == payload.len() {
                break;
            }
            filled = 0;
        }
        // What the read half owed meanwhile goes out now.
        drain(&self.path, &mut self.stream, st)
    }
}

/// Gives the write token back.
fn release(path: &SendPath, mut st: MutexGuard<'_, SendState>) {
    st.writing = false;
    path.changed.notify_all();
}
