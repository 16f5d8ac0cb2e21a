//! A tokio WebSocket in two halves, for two tasks: [`WebSocket::split`].
//!
//! The send path — the connection's shared part (close state, the owed pong
//! and close reply), the masking sender, the queue of encoded bytes, the big
//! message going out, and the stream's write half — sits behind one short
//! `std` mutex. A half locks it to encode, or to call the write half's
//! `poll_write` (which never blocks: it returns `Pending`), and never holds
//! it across an `.await`. Either half writes: the read half writes the pong
//! or close reply it owes at once (through the shared write half), so replies
//! reach the wire while the application only reads; the write half writes
//! its frames. Frames are encoded whole into the one queue, so they never
//! interleave. Both halves poll the write half with one waker that wakes
//! both (tokio keeps one waker per direction), so neither misses the moment
//! the socket becomes writable.

use super::keepalive::{self, Due, Pinger};
use super::spare;
use super::{
    Error, KEEP_IDLE_QUEUE, Message, ReadSize, Streaming, WebSocket, poll_read_lazily, stream_item,
    within_deadline,
};
use crate::blocking::Reassembly;
use crate::blocking::{
    Budget, KEEP_WRITE_CAPACITY, MaskRng, Step, ended, message_step, whole_message,
};
use crate::close::CloseCode;
use crate::connection::{Connection, Receiver, Sender, Shared, State};
use crate::driver::{self, Driver, Next};
use crate::error::ProtocolError;
use crate::event::{Event, Outgoing};
use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::time::Sleep;
use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};
use futures_core::Stream;
use futures_sink::Sink;
use std::boxed::Box;
use std::io;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Wake;
use std::time::Duration;
use std::vec::Vec;

/// The reading half of a split [`WebSocket`]; see [`WebSocket::split`].
#[derive(Debug)]
pub struct ReadHalf<S> {
    reading: Reading<S>,
    assembler: Reassembly,
    /// A control message read, returned once its reply is written.
    control: Option<Message>,
    subprotocol: Option<String>,
    write_high_water: usize,
    ended: bool,
}

/// The read half's machinery, apart from the message it assembles.
#[derive(Debug)]
struct Reading<S> {
    stream: ::tokio::io::ReadHalf<S>,
    receiver: Receiver,
    input: Vec<u8>,
    /// Unconsumed input is `input[in_start..in_end]`.
    in_start: usize,
    in_end: usize,
    path: Arc<SendPath<S>>,
    close_timeout: Option<Duration>,
    close_deadline: Option<Pin<Box<Sleep>>>,
    /// How much the next read asks for.
    read_size: ReadSize,
    /// Keepalive pings: the read half's, as it is the one that waits.
    pinger: Option<Pinger>,
    /// Bytes still to drain after a failure ([`Driver::linger`]).
    linger: usize,
    /// The next read drains: the connection failed and lingers.
    draining: bool,
}

/// The writing half of a split [`WebSocket`]; see [`WebSocket::split`].
#[derive(Debug)]
pub struct WriteHalf<S> {
    path: Arc<SendPath<S>>,
    write_high_water: usize,
    close_timeout: Option<Duration>,
    close_deadline: Option<Pin<Box<Sleep>>>,
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

/// The send path both halves share.
#[derive(Debug)]
struct SendPath<S> {
    state: Mutex<SendState<S>>,
    wakers: Arc<Wakers>,
    /// Wakes both halves: the waker the write half is polled with.
    both: Waker,
}

#[derive(Debug)]
struct SendState<S> {
    writer: ::tokio::io::WriteHalf<S>,
    shared: Shared,
    sender: Sender<MaskRng>,
    /// Encoded bytes; `queue[written..]` wait to be written.
    queue: Vec<u8>,
    written: usize,
    /// A big data message whose header is queued and whose payload is
    /// encoded into the queue piece by piece as it drains.
    streaming: Option<Streaming>,
    shut_down: bool,
    /// Compresses what is sent, when permessage-deflate was agreed.
    #[cfg(feature = "deflate")]
    deflater: Option<Box<crate::blocking::compression::MessageDeflater>>,
}

#[cfg(feature = "deflate")]
impl<S: AsyncRead + AsyncWrite> crate::blocking::compression::Compressing for SendState<S> {
    fn can_start_message(&mut self) -> bool {
        self.streaming.is_none()
            && crate::blocking::compression::can_start_message(&self.sender, &self.shared)
    }
    fn set_next_message_rsv(&mut self, rsv: u8) {
        self.sender.set_next_message_rsv(rsv);
    }
    fn write_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        self.queue_frame_as_is(frame)
    }
}

/// The wakers of the two halves' tasks (read half first).
#[derive(Debug, Default)]
struct Wakers(Mutex<[Option<Waker>; 2]>);

const READ: usize = 0;
const WRITE: usize = 1;

impl Wakers {
    fn register(&self, half: usize, waker: &Waker) {
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &slots[half] {
            Some(w) if w.will_wake(waker) => {}
            _ => slots[half] = Some(waker.clone()),
        }
    }

    fn wake_half(&self, half: usize) {
        let waker = self.0.lock().unwrap_or_else(PoisonError::into_inner)[half].take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_half(READ);
        self.wake_half(WRITE);
    }
}

impl<S> SendPath<S> {
    fn lock(&self) -> MutexGuard<'_, SendState<S>> {
        // No code that can panic runs under the lock with the state half
        // changed, so a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: AsyncRead + AsyncWrite> SendState<S> {
    fn pending(&self) -> bool {
        self.written < self.queue.len()
    }

    /// Bytes queued and not written, with the unqueued rest of a big message.
    fn buffered(&self) -> usize {
        let streamed = self
            .streaming
            .as_ref()
            .map_or(0, |s| s.payload.len() - s.taken);
        self.queue.len() - self.written + streamed
    }

    /// Queues what the connection owes (between frames only) once the
    /// queue is written: until then an owed pong waits in the connection,
    /// where a newer ping replaces it, so a peer that pings and never reads
    /// cannot grow the queue.
    fn queue_owed(&mut self) {
        if self.pending() {
            return;
        }
        self.compact();
        driver::append_owed(&mut self.sender, &mut self.shared, &mut self.queue);
    }

    /// Queues one whole frame behind the owed ones.
    fn queue_frame(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(mut deflater) = self.deflater.take() {
            let written = crate::blocking::compression::write(self, &mut deflater, frame);
            self.deflater = Some(deflater);
            return written;
        }
        self.queue_frame_as_is(frame)
    }

    /// [`queue_frame`](SendState::queue_frame) without compression.
    fn queue_frame_as_is(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        if self.streaming.is_some() {
            return Err(Error::Send(crate::SendError::FrameInProgress));
        }
        if let (Some(code), Some(_)) = (self.shared.peer_close(), frame.as_data()) {
            return Err(Error::PeerClosed(code));
        }
        self.queue_owed();
        driver::append_frame(&mut self.sender, &mut self.shared, frame, &mut self.queue)
            .map_err(|e| crate::blocking::peer_closed(&self.shared, e))
    }

    /// Queues a message: small ones are encoded whole, big data messages
    /// are kept and encoded piece by piece as the queue drains.
    fn queue_message(&mut self, message: Message) -> Result<(), Error> {
        if self.streaming.is_some() {
            return self.queue_frame(message.as_outgoing());
        }
        // Compressed, a message is a new buffer anyway: queued as one.
        #[cfg(feature = "deflate")]
        if self.deflater.is_some() {
            return self.queue_frame(message.as_outgoing());
        }
        let (kind, streaming) = match Streaming::of(message, KEEP_WRITE_CAPACITY) {
            Ok(big) => big,
            Err(small) => return self.queue_frame(small.as_outgoing()),
        };
        if let Some(code) = self.shared.peer_close() {
            return Err(Error::PeerClosed(code));
        }
        let len = streaming.payload.len() as u64;
        self.queue_owed();
        let end = self.queue.len();
        self.queue.resize(end + 16, 0);
        let header =
            self.sender
                .start_frame(&mut self.shared, kind, len, true, &mut self.queue[end..]);
        self.queue.truncate(end + *header.as_ref().unwrap_or(&0));
        header.map_err(Error::Send)?;
        self.streaming = Some(streaming);
        Ok(())
    }

    /// Drops the written part of the queue; a queue without memory takes a
    /// spare buffer.
    fn compact(&mut self) {
        if self.written > 0 {
            self.queue.drain(..self.written);
            self.written = 0;
        }
        if self.queue.capacity() == 0 {
            self.queue = spare::take_queue();
        }
    }

    /// Gives the queue's memory back if nothing is queued or going out.
    fn release_idle_queue(&mut self) {
        if !self.pending() && self.streaming.is_none() {
            spare::give(&mut self.queue);
            self.written = 0;
        }
    }

    /// Writes the queue; with `to_the_end`, also the big message going out.
    /// Flushes the stream after writing.
    fn poll_write_queue(&mut self, cx: &mut Context<'_>, to_the_end: bool) -> Poll<io::Result<()>> {
        let mut wrote = false;
        loop {
            while self.pending() {
                let n =
                    ready!(Pin::new(&mut self.writer).poll_write(cx, &self.queue[self.written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
                wrote = true;
            }
            self.queue.clear();
            self.written = 0;
            if self.queue.capacity() > KEEP_WRITE_CAPACITY {
                self.queue.shrink_to(KEEP_WRITE_CAPACITY);
            }
            if self.streaming.is_none() {
                // What waited for the queue (or a big frame) to be written:
                // a pong, the close reply.
                self.queue_owed();
                if self.pending() {
                    continue;
                }
            }
            if !to_the_end || !self.queue_next_piece() {
                break;
            }
        }
        if self.streaming.is_none() && self.queue.capacity() > KEEP_IDLE_QUEUE {
            spare::give(&mut self.queue);
        }
        if wrote {
            ready!(Pin::new(&mut self.writer).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Encodes the next piece of the big message going out; false if none.
    fn queue_next_piece(&mut self) -> bool {
        let Some(streaming) = &mut self.streaming else {
            return false;
        };
        let rest = &streaming.payload[streaming.taken..];
        let piece = rest.len().min(KEEP_WRITE_CAPACITY);
        self.queue.resize(piece, 0);
        // A started frame takes all of its payload that fits.
        let n = self
            .sender
            .encode_payload(rest, &mut self.queue)
            .unwrap_or(0);
        self.queue.truncate(n);
        streaming.taken += n;
        if streaming.taken == streaming.payload.len() || n == 0 {
            self.streaming = None;
        }
        true
    }

    /// Ends the transport (once); its errors are moot by then.
    fn poll_shut_down(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.shut_down {
            let _ = ready!(Pin::new(&mut self.writer).poll_shutdown(cx));
            self.shut_down = true;
        }
        Poll::Ready(())
    }
}

impl<S: AsyncRead + AsyncWrite> WebSocket<S> {
    /// Splits the WebSocket into a read half and a write half for two tasks
    /// (`Send + 'static` when the stream is): one reads while the other
    /// sends. Pings are answered and the peer's close replied to by the read
    /// half as it reads, even while the write half is idle or busy; a big
    /// message the write half is sending goes out whole first (a control
    /// frame cannot go inside it). The stream is split with
    /// [`tokio::io::split`], so it works over any stream.
    ///
    /// The closing handshake works whichever half starts it: the write
    /// half's [`close`](WriteHalf::close) sends our close and waits (bounded
    /// by [`Options::close_timeout`](super::Options::close_timeout)) while the
    /// read half receives the reply — so keep the read half reading; a close
    /// from the peer is answered by the read half, after which sends fail
    /// with [`SendError::Closing`](crate::SendError::Closing).
    /// [`ReadHalf::reunite`] puts the halves back together.
    ///
    /// ```no_run
    /// use wsock::tokio::{connect, Message};
    /// use wsock::CloseCode;
    ///
    /// # async fn run() -> Result<(), wsock::tokio::Error> {
    /// let (mut reader, mut writer) = connect("ws://127.0.0.1:9001/chat").await?.split();
    /// let printer = tokio::spawn(async move {
    ///     while let Ok(message) = reader.read().await {
    ///         println!("{message:?}");
    ///     }
    /// });
    /// for line in ["hello", "from", "another task"] {
    ///     writer.send(Message::Text(line.into())).await?;
    /// }
    /// writer.close(CloseCode::NORMAL, "bye").await?;
    /// printer.await.unwrap();
    /// # Ok(()) }
    /// ```
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let io = self.io;
        let linger = io.driver.linger_left();
        let (conn, input, buffered, queue, shut_down) = io.driver.into_split();
        let (receiver, sender, shared) = conn.split();
        let (read_stream, write_stream) = ::tokio::io::split(io.stream);
        let wakers = Arc::new(Wakers::default());
        let path = Arc::new(SendPath {
            state: Mutex::new(SendState {
                writer: write_stream,
                shared,
                sender,
                queue,
                written: 0,
                streaming: io.streaming,
                shut_down,
                #[cfg(feature = "deflate")]
                deflater: self.deflater,
            }),
            both: Waker::from(Arc::clone(&wakers)),
            wakers,
        });
        let read = ReadHalf {
            reading: Reading {
                stream: read_stream,
                receiver,
                input,
                in_start: buffered.start,
                in_end: buffered.end,
                path: Arc::clone(&path),
                close_timeout: self.close_timeout,
                close_deadline: self.close_deadline,
                read_size: io.read_size,
                pinger: self.pinger,
                linger,
                draining: false,
            },
            assembler: self.assembler,
            control: self.control,
            subprotocol: self.subprotocol,
            write_high_water: self.write_high_water,
            ended: self.ended,
        };
        let write = WriteHalf {
            path,
            write_high_water: self.write_high_water,
            close_timeout: self.close_timeout,
            close_deadline: None,
        };
        (read, write)
    }
}

impl<S: AsyncRead + AsyncWrite> ReadHalf<S> {
    /// Reads the next message, like [`WebSocket::read`]: pings are answered
    /// and the peer's close replied to before this returns; after the
    /// closing handshake it returns [`Error::ConnectionClosed`].
    ///
    /// Cancel-safe: a dropped `read` consumed no message.
    pub async fn read(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| self.poll_read(cx)).await
    }

    /// [`read`](ReadHalf::read) as a poll function.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        // The message returned last is the caller's now.
        self.assembler.buffer_mut().release_lent();
        loop {
            if let Some(message) = self.control.take() {
                // The pong or close reply goes out before the message is
                // returned (and, as a server after the close reply, the
                // transport is ended).
                match self.reading.poll_write_owed(cx) {
                    Poll::Pending => {
                        self.control = Some(message);
                        return self.reading.pending(cx);
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => return Poll::Ready(Ok(message)),
                }
            }
            let assembler = &mut self.assembler;
            let step = match self
                .reading
                .poll_event(cx, |event| message_step(assembler, event))
            {
                Poll::Pending => return self.reading.pending(cx),
                Poll::Ready(step) => step?,
            };
            match step {
                Step::Continue => {}
                Step::Whole(kind) => return Poll::Ready(whole_message(&mut self.assembler, kind)),
                Step::Control(message) => self.control = Some(message),
                // The message is too big: the loop writes the close for it.
                Step::Fail(e) => self.reading.path.lock().shared.fail(e),
            }
        }
    }

    /// Reads the next event and hands it to `f`, zero-copy, like
    /// [`WebSocket::read_event_with`]. Cancel-safe.
    pub async fn read_event_with<T>(
        &mut self,
        mut f: impl FnMut(Event<'_>) -> T,
    ) -> Result<T, Error> {
        poll_fn(|cx| match self.reading.poll_event(cx, &mut f) {
            Poll::Pending => self.reading.pending(cx),
            ready => ready,
        })
        .await
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.reading.path.lock().shared.state()
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Like [`WebSocket::set_budget`] (a budget set before `split` stays).
    pub fn set_budget(&mut self, budget: impl Into<Option<Budget>>) {
        self.assembler.buffer_mut().set_budget(budget.into());
    }

    /// The budget, as [`WebSocket::budget`].
    pub fn budget(&self) -> Option<&Budget> {
        self.assembler.buffer().budget()
    }

    /// Puts the halves back together. Fails if they came from different
    /// WebSockets.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<WebSocket<S>, Box<ReuniteError<S>>>
    where
        S: Unpin,
    {
        if !Arc::ptr_eq(&self.reading.path, &write.path) {
            return Err(Box::new(ReuniteError(self, write)));
        }
        drop(write);
        let reading = self.reading;
        let Ok(path) = Arc::try_unwrap(reading.path) else {
            unreachable!("only the two halves hold the send path")
        };
        let mut st = path
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        st.compact();
        let conn = Connection::from_parts(reading.receiver, st.sender, st.shared);
        let mut driver = Driver::from_split(
            conn,
            reading.input,
            reading.in_start..reading.in_end,
            st.queue,
            st.shut_down,
        );
        driver.linger(reading.linger);
        Ok(WebSocket {
            io: super::Io {
                stream: reading.stream.unsplit(st.writer),
                driver,
                streaming: st.streaming,
                read_size: reading.read_size,
            },
            assembler: self.assembler,
            control: self.control,
            close_timeout: reading.close_timeout,
            close_deadline: reading.close_deadline,
            write_high_water: self.write_high_water,
            pinger: reading.pinger,
            subprotocol: self.subprotocol,
            ended: self.ended,
            #[cfg(feature = "deflate")]
            deflater: st.deflater,
        })
    }
}

impl<S: AsyncRead + AsyncWrite> Reading<S> {
    /// The next event, handed to `f`: the read half's only loop.
    fn poll_event<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Poll<Result<T, Error>> {
        let mut f = Some(f);
        loop {
            if self.in_start < self.in_end {
                let mut st = self.path.lock();
                let before = st.shared.state();
                let range = self.in_start..self.in_end;
                let got = self
                    .receiver
                    .receive(&mut st.shared, &mut self.input[range]);
                let changed = st.shared.state() != before;
                // Write the pong or close reply now, unless a big message is
                // going out (then the write half writes them after it). A
                // write that cannot go on now leaves them queued: the waker
                // brings one half back to it.
                st.queue_owed();
                let written = if st.streaming.is_none() && st.pending() {
                    self.path.wakers.register(READ, cx.waker());
                    st.poll_write_queue(&mut Context::from_waker(&self.path.both), false)
                } else {
                    Poll::Ready(Ok(()))
                };
                drop(st);
                if changed {
                    self.path.wakers.wake_half(WRITE);
                }
                match got {
                    Ok(received) => match received.event {
                        Some(event) => {
                            self.in_start += received.consumed;
                            let f = f.take().expect("an event is handed out once");
                            return Poll::Ready(Ok(f(event)));
                        }
                        None => self.in_start = self.in_end,
                    },
                    // The connection failed and its close frame is queued.
                    Err(_) => self.in_start = self.in_end,
                }
                if let Poll::Ready(Err(e)) = written {
                    return Poll::Ready(Err(self.io_error(e)));
                }
                continue;
            }
            ready!(self.poll_end(cx))?;
            let read = poll_read_lazily(&mut self.stream, cx, &mut self.input, &mut self.read_size);
            match read {
                Poll::Ready(Ok(0)) => {
                    let _ = self.path.lock().shared.receive_eof();
                    self.path.wakers.wake_half(WRITE);
                }
                Poll::Ready(Ok(n)) => {
                    if self.draining {
                        self.linger = self.linger.saturating_sub(n);
                    }
                    self.in_start = 0;
                    self.in_end = n;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.io_error(e))),
                Poll::Pending => {
                    // Idle: an empty send queue gives its memory back too.
                    self.path.lock().release_idle_queue();
                    return Poll::Pending;
                }
            }
        }
    }

    /// Before a read: `Ready(Ok)` while events may still come; otherwise
    /// what the end needs (write everything, end the transport), then the
    /// end as an error.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let mut st = self.path.lock();
            // A reply that waited for the write half's big frame is due now.
            if st.streaming.is_none() {
                st.queue_owed();
            }
            // While events may come, the read half does not wait for writes:
            // the write half (or the waker) goes on with them.
            let linger = self.linger > 0;
            self.draining = false;
            let Some(_) = driver::end_step(&st.shared, &st.sender, false, st.shut_down, linger)
            else {
                if st.streaming.is_none() && st.pending() {
                    self.path.wakers.register(READ, cx.waker());
                    let both = &mut Context::from_waker(&self.path.both);
                    if let Poll::Ready(Err(e)) = st.poll_write_queue(both, false) {
                        drop(st);
                        return Poll::Ready(Err(self.io_error(e)));
                    }
                }
                return Poll::Ready(Ok(()));
            };
            let pending = st.pending() || st.streaming.is_some();
            match driver::end_step(&st.shared, &st.sender, pending, st.shut_down, linger) {
                None => return Poll::Ready(Ok(())),
                Some(Next::Read) => {
                    self.draining = true;
                    return Poll::Ready(Ok(()));
                }
                Some(Next::Ready(end)) => return Poll::Ready(Err(ended(end))),
                Some(Next::Write) => {
                    self.path.wakers.register(READ, cx.waker());
                    let both = &mut Context::from_waker(&self.path.both);
                    match st.poll_write_queue(both, true) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => {
                            drop(st);
                            return Poll::Ready(Err(self.io_error(e)));
                        }
                    }
                }
                Some(Next::Shutdown) => {
                    self.path.wakers.register(READ, cx.waker());
                    ready!(st.poll_shut_down(&mut Context::from_waker(&self.path.both)));
                    drop(st);
                    self.path.wakers.wake_half(WRITE);
                }
            }
        }
    }

    /// Writes what the connection owes (and ends the transport if it is
    /// done with it), for a control message about to be returned.
    fn poll_write_owed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.path.lock();
        st.queue_owed();
        self.path.wakers.register(READ, cx.waker());
        let both = &mut Context::from_waker(&self.path.both);
        if st.streaming.is_none()
            && st.pending()
            && let Err(e) = ready!(st.poll_write_queue(both, false))
        {
            drop(st);
            return Poll::Ready(Err(self.io_error(e)));
        }
        if st.sender.should_shutdown(&st.shared) && !st.pending() {
            ready!(st.poll_shut_down(both));
        }
        Poll::Ready(Ok(()))
    }

    /// `Pending`, unless the closing handshake's deadline has passed.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        if self.path.lock().shared.state() == State::Open {
            return self.poll_keepalive(cx);
        }
        match within_deadline(&mut self.close_deadline, self.close_timeout, cx) {
            // A linger after a failure ends at the deadline with the failure.
            Poll::Ready(_) if self.draining => {
                self.linger = 0;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(e) => {
                let mut st = self.path.lock();
                let _ = st.poll_shut_down(&mut Context::from_waker(&self.path.both));
                st.shut_down = true;
                drop(st);
                self.path.wakers.wake_half(WRITE);
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The keepalive's turn while the read waits (as the whole WebSocket's):
    /// a ping when one is due, and when one went unanswered a close with
    /// 1011, one try to write it, the transport ended and a timeout error.
    fn poll_keepalive<T>(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let Some(pinger) = &mut self.pinger else {
            return Poll::Pending;
        };
        let mut st = self.path.lock();
        let due = ready!(pinger.poll(cx, self.receiver.pongs_received(), st.streaming.is_none()));
        match due {
            Due::Ping => {
                // Queued now; the read, polled again at once, writes it.
                let _ = st.queue_frame(keepalive::PING);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Due::Unanswered => {
                let error = pinger.error();
                if st.streaming.is_none() {
                    let _ = st.queue_frame(keepalive::CLOSE);
                }
                let both = &mut Context::from_waker(&self.path.both);
                let _ = st.poll_write_queue(both, false);
                let _ = st.poll_shut_down(both);
                st.shut_down = true;
                drop(st);
                self.path.wakers.wake_half(WRITE);
                Poll::Ready(Err(Error::from(error)))
            }
        }
    }

    /// The error to report for an I/O error: the protocol error whose close
    /// frame could not be written (the transport is then ended), or the I/O
    /// error itself.
    fn io_error(&mut self, error: io::Error) -> Error {
        let mut st = self.path.lock();
        match st.shared.failure() {
            Some(e) if e != ProtocolError::UnexpectedEof => {
                let _ = st.poll_shut_down(&mut Context::from_waker(&self.path.both));
                st.shut_down = true;
                Error::Protocol(e)
            }
            _ => Error::Io(error),
        }
    }
}

impl<S: AsyncRead + AsyncWrite> WriteHalf<S> {
    /// Queues a frame without waiting, like [`WebSocket::write`]; the next
    /// [`flush`](WriteHalf::flush) writes it (and so may the read half).
    pub fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        self.path.lock().queue_frame(frame)
    }

    /// Queues a message once the queue is below the high-water mark.
    /// Cancel-safe: a dropped `feed` did not take the message.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_room(cx)).await?;
        self.path.lock().queue_message(message)
    }

    /// [`feed`](WriteHalf::feed), then [`flush`](WriteHalf::flush).
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Writes everything queued, by either half, and the rest of a big
    /// message going out. Cancel-safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_queue(cx)).await
    }

    /// Runs our side of the closing handshake: sends a close frame (unless
    /// one was sent: e.g. the read half already replied to the peer's), then
    /// waits until the read half has received the peer's close and the
    /// transport has ended — so keep the read half reading. Bounded by
    /// [`Options::close_timeout`](super::Options::close_timeout): then the
    /// transport is ended and the error is a timeout. Cancel-safe.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        poll_fn(|cx| self.poll_close(cx, code, reason)).await
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.path.lock().shared.state()
    }

    /// Bytes queued and not yet written (see [`WebSocket::buffered_amount`]).
    pub fn buffered_amount(&self) -> usize {
        self.path.lock().buffered()
    }

    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let over = {
            let st = self.path.lock();
            st.streaming.is_some() || st.buffered() >= self.write_high_water
        };
        if over {
            ready!(self.poll_flush_queue(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.path.lock();
        st.queue_owed();
        self.path.wakers.register(WRITE, cx.waker());
        let both = &mut Context::from_waker(&self.path.both);
        ready!(st.poll_write_queue(both, true)).map_err(Error::from)?;
        if st.sender.should_shutdown(&st.shared) {
            ready!(st.poll_shut_down(both));
            drop(st);
            self.path.wakers.wake_half(READ);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        code: CloseCode,
        reason: &str,
    ) -> Poll<Result<(), Error>> {
        if self.state() == State::Open {
            // A big message going out ends first: a close cannot go inside it.
            if self.path.lock().streaming.is_some() {
                ready!(self.poll_flush_queue(cx))?;
            }
            self.path
                .lock()
                .queue_frame(Outgoing::Close(Some((code, reason))))?;
        }
        if let Err(e) = ready!(self.poll_flush_queue(cx)) {
            // The close cannot go out: the handshake is over.
            let mut st = self.path.lock();
            let _ = st.poll_shut_down(&mut Context::from_waker(&self.path.both));
            st.shut_down = true;
            return Poll::Ready(Err(e));
        }
        let st = self.path.lock();
        self.path.wakers.register(WRITE, cx.waker());
        if st.shut_down {
            return Poll::Ready(match st.shared.failure() {
                Some(e) => Err(Error::Protocol(e)),
                None => Ok(()),
            });
        }
        drop(st);
        match within_deadline(&mut self.close_deadline, self.close_timeout, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(e) => {
                let mut st = self.path.lock();
                let _ = st.poll_shut_down(&mut Context::from_waker(&self.path.both));
                st.shut_down = true;
                drop(st);
                self.path.wakers.wake_half(READ);
                Poll::Ready(Err(e))
            }
        }
    }
}

/// Incoming messages; ends after the closing handshake or an error.
impl<S: AsyncRead + AsyncWrite> Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let read = ready!(this.poll_read(cx));
        Poll::Ready(stream_item(&mut this.ended, read))
    }
}

/// Messages out, with backpressure; `poll_close` runs [`WriteHalf::close`]
/// with code 1000.
impl<S: AsyncRead + AsyncWrite> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_room(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().path.lock().queue_message(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_queue(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close(cx, CloseCode::NORMAL, "")
    }
}
