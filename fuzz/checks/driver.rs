//! Target `driver`: a [`Driver`] run through its `Next` loop the way an
//! adapter runs it, over a transport whose reads and writes are as short as
//! the input says and which may "block" at any step — the operation is then
//! dropped, as an async adapter's future is, and the input picks what comes
//! next. A real peer of the other role reads everything written.

use super::halves::{Link, LinkOp, read_link_op};
use super::*;
use wsock::connection::MAX_CONTROL_FRAME_LEN;
use wsock::driver::{Driver, End, Next, OutputBuffer};

/// Steps one operation may take before it is dropped.
const MAX_STEPS: usize = 64;

/// Steps one operation may take over a transport that never blocks.
const MAX_GENEROUS_STEPS: usize = 1 << 16;

type TestDriver<O> = Driver<TestRng, Vec<u8>, O>;

/// How the transport behaves during one operation: reads and writes of at
/// most `read` and `write` bytes, and the `block`-th of them (from 1; 0:
/// none) would block, which drops the operation.
#[derive(Debug, Clone, Copy)]
struct Io {
    read: usize,
    write: usize,
    block: usize,
}

impl Io {
    /// A transport that never blocks and moves all it can.
    const GENEROUS: Io = Io {
        read: usize::MAX,
        write: usize::MAX,
        block: 0,
    };

    fn read(r: &mut Reader<'_>) -> Io {
        const SIZES: [usize; 16] = [
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            13,
            16,
            31,
            64,
            100,
            127,
            255,
            1000,
            usize::MAX,
        ];
        let sizes = r.u8();
        Io {
            read: SIZES[usize::from(sizes & 0x0F)],
            write: SIZES[usize::from(sizes >> 4)],
            block: usize::from(r.u8() % 32),
        }
    }
}

/// The transport between the driver and the peer.
struct Transport {
    link: Link,
    /// The peer ended the transport: reads give 0 once the wire is empty.
    ended: bool,
    /// A read returned 0.
    eof_reported: bool,
    /// The adapter closed the transport.
    shut: bool,
}

impl Transport {
    /// `Next::Read`: false when the read would block.
    fn read<O: OutputBuffer>(&mut self, d: &mut TestDriver<O>, io: Io) -> bool {
        assert!(!d.has_input(), "Read while input is buffered");
        assert!(
            !d.has_pending_output(),
            "Read while output is queued: replies go out before a read blocks"
        );
        assert!(!self.shut, "Read after the transport was shut");
        assert!(!self.eof_reported, "Read after the transport ended");
        let c = d.connection();
        let streaming = c.frame_payload_remaining() > 0;
        if c.wants_transmit() && !streaming {
            // Owed frames are queued before a read; 2 × MAX_CONTROL_FRAME_LEN
            // bytes of free output always hold them.
            let room = d.output_buffer_mut().as_ref().len();
            assert!(
                room < 2 * MAX_CONTROL_FRAME_LEN,
                "Read with frames owed and {room} bytes of output free"
            );
        }
        if self.link.inbound.is_empty() {
            if self.ended {
                self.eof_reported = true;
                d.input_filled(0);
                return true;
            }
            return false;
        }
        let space = d.input_space();
        assert!(!space.is_empty(), "no input space");
        let n = io.read.min(space.len()).min(self.link.inbound.len());
        space[..n].copy_from_slice(&self.link.take_inbound(n));
        d.input_filled(n);
        true
    }

    /// `Next::Write`.
    fn write<O: OutputBuffer>(&mut self, d: &mut TestDriver<O>, io: Io) {
        assert!(!self.shut, "Write after the transport was shut");
        let pending = d.pending_output();
        assert!(!pending.is_empty(), "Write with nothing queued");
        let n = io.write.min(pending.len());
        self.link.write(&pending[..n]);
        d.output_written(n);
    }

    /// `Next::Shutdown`.
    fn shutdown<O: OutputBuffer>(&mut self, d: &mut TestDriver<O>) {
        assert!(!self.shut, "Shutdown twice");
        assert!(!d.has_pending_output(), "Shutdown with output queued");
        assert!(
            d.connection().should_shutdown(),
            "Shutdown while the connection still needs the transport"
        );
        self.shut = true;
        d.shut_down();
    }

    /// Runs one operation to `Ready`, doing the I/O each `Next` asks for
    /// as `io` says; `None` when the transport blocked and the operation
    /// was dropped.
    fn drive<O: OutputBuffer, T>(
        &mut self,
        d: &mut TestDriver<O>,
        io: Io,
        mut poll: impl FnMut(&mut TestDriver<O>) -> Next<T>,
    ) -> Option<T> {
        let generous = (io.read, io.write, io.block) == (usize::MAX, usize::MAX, 0);
        let steps = if generous {
            MAX_GENEROUS_STEPS
        } else {
            MAX_STEPS
        };
        for step in 1..=steps {
            let next = poll(d);
            if step == io.block && matches!(next, Next::Read | Next::Write) {
                return None;
            }
            match next {
                Next::Ready(done) => return Some(done),
                Next::Read => {
                    if !self.read(d, io) {
                        return None;
                    }
                }
                Next::Write => self.write(d, io),
                Next::Shutdown => self.shutdown(d),
            }
        }
        assert!(
            !generous,
            "no Ready after {steps} steps over a transport that never blocks"
        );
        None
    }
}

/// What we queued, in order.
#[derive(Debug, Default)]
struct Queued {
    /// Data frames: kind, payload, ends its message, a whole message.
    data: Vec<(DataKind, Vec<u8>, bool, bool)>,
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    close: Option<Option<(u16, String)>>,
}

impl Queued {
    fn record(&mut self, frame: &Send) {
        match frame {
            Send::Text(t) => self
                .data
                .push((DataKind::Text, t.as_bytes().to_vec(), true, true)),
            Send::Binary(b) => self.data.push((DataKind::Binary, b.clone(), true, true)),
            Send::Fragment {
                kind,
                payload,
                last,
            } => self.data.push((*kind, payload.clone(), *last, false)),
            Send::Ping(p) => self.pings.push(p.clone()),
            Send::Pong(p) => self.pongs.push(p.clone()),
            Send::Close(close) => self.close = Some(close.clone()),
        }
    }

    /// The messages the data frames make.
    fn messages(&self) -> Vec<(DataKind, Vec<u8>)> {
        let mut messages = Vec::new();
        let mut open: Option<(DataKind, Vec<u8>)> = None;
        for (kind, payload, last, whole) in &self.data {
            if *whole {
                assert!(open.is_none(), "a whole message inside a fragmented one");
                messages.push((*kind, payload.clone()));
                continue;
            }
            let (open_kind, so_far) = open.get_or_insert_with(|| (*kind, Vec::new()));
            assert_eq!(open_kind, kind, "a fragment of another kind");
            so_far.extend_from_slice(payload);
            if *last {
                messages.extend(open.take());
            }
        }
        messages
    }
}

/// One step of the `driver` target.
#[derive(Debug, Clone)]
enum DriverOp {
    /// `poll_event`; `reply` picks what the handler queues for a data chunk:
    /// nothing, an echo, a ping, or the chunk forwarded as a fragment.
    Event {
        reply: u8,
        io: Io,
    },
    /// `poll_write`.
    Write(Send, Io),
    /// `poll_flush`.
    Flush(Io),
    /// `queue_frame_start` for a whole message of `len` bytes.
    Stream {
        kind: DataKind,
        len: usize,
        seed: u8,
    },
    /// `queue_payload` with up to `max` more bytes of it.
    StreamMore {
        max: usize,
    },
    Link(LinkOp),
    /// The peer ends the transport.
    PeerEnds,
    /// The application fails the connection.
    Fail(ProtocolError),
}

fn read_driver_op(r: &mut Reader<'_>, peer: Role) -> DriverOp {
    match r.u8() % 16 {
        0..=3 => DriverOp::Event {
            reply: r.u8(),
            io: Io::read(r),
        },
        4 | 5 => {
            let what = r.u8() % 6;
            DriverOp::Write(read_send(r, what), Io::read(r))
        }
        6 => {
            // Bigger than most output buffers: the driver fragments it.
            let kind = read_kind(r);
            let len = usize::from(r.u16() % 4096);
            let seed = r.u8();
            let payload = match kind {
                DataKind::Text => text_filler(len, seed).into_bytes(),
                DataKind::Binary => filler(len, seed),
            };
            let frame = match (r.u8() % 3, kind) {
                (0, DataKind::Text) => Send::Text(String::from_utf8(payload).expect("text")),
                (0, DataKind::Binary) => Send::Binary(payload),
                (last, _) => Send::Fragment {
                    kind,
                    payload,
                    last: last == 2,
                },
            };
            DriverOp::Write(frame, Io::read(r))
        }
        7 => DriverOp::Flush(Io::read(r)),
        8 => DriverOp::Stream {
            kind: read_kind(r),
            len: usize::from(r.u16() % 2048),
            seed: r.u8(),
        },
        9 => DriverOp::StreamMore {
            max: usize::from(r.u16() % 1024),
        },
        10..=13 => {
            let what = r.u8();
            DriverOp::Link(read_link_op(r, what, peer))
        }
        14 => DriverOp::PeerEnds,
        _ => DriverOp::Fail(ERRORS[usize::from(r.u8()) % ERRORS.len()]),
    }
}

/// The data frame's kind and length: what `poll_write` matches to resume
/// a message it is fragmenting.
fn resume_key(frame: &Send) -> Option<(DataKind, usize)> {
    frame
        .outgoing()
        .as_data()
        .map(|(kind, payload, _)| (kind, payload.len()))
}

/// The driver under test, its transport, and what it did.
struct Tested<O> {
    d: TestDriver<O>,
    t: Transport,
    queued: Queued,
    /// What `poll_event` returned.
    events: Vec<Ev>,
    end: Option<End>,
    /// A data frame whose `poll_write` was dropped: one of the same kind and
    /// length resumes it, so it is written again instead.
    unfinished: Option<Send>,
    /// The message streamed with `queue_frame_start`: kind, payload, bytes queued.
    streaming: Option<(DataKind, Vec<u8>, usize)>,
}

impl<O: OutputBuffer> Tested<O> {
    fn apply(&mut self, op: &DriverOp) {
        match op {
            &DriverOp::Event { reply, io } => self.poll_event(reply, io),
            &DriverOp::Write(ref frame, io) => {
                let frame = match &self.unfinished {
                    Some(u) if resume_key(u) == resume_key(frame) => u.clone(),
                    _ => frame.clone(),
                };
                let done = self
                    .t
                    .drive(&mut self.d, io, |d| d.poll_write(frame.outgoing()));
                if resume_key(&frame).is_some() {
                    match done {
                        None => self.unfinished = Some(frame.clone()),
                        Some(_)
                            if self.unfinished.as_ref().map(resume_key)
                                == Some(resume_key(&frame)) =>
                        {
                            self.unfinished = None;
                        }
                        Some(_) => {}
                    }
                }
                if let Some(Ok(())) = done {
                    self.queued.record(&frame);
                }
            }
            &DriverOp::Flush(io) => {
                let _ = self.t.drive(&mut self.d, io, |d| d.poll_flush());
            }
            &DriverOp::Stream { kind, len, seed } => {
                let (_, sender, _) = self.d.connection_mut().parts_mut();
                if sender.is_message_in_progress() {
                    return;
                }
                let payload = match kind {
                    DataKind::Text => text_filler(len, seed).into_bytes(),
                    DataKind::Binary => filler(len, seed),
                };
                let end = self.d.queued_end();
                let _ = self.d.output_buffer_mut().grow_to(end + 16);
                if self
                    .d
                    .queue_frame_start(kind, payload.len() as u64, true)
                    .is_ok()
                {
                    if payload.is_empty() {
                        self.queued.data.push((kind, payload, true, true));
                    } else {
                        self.streaming = Some((kind, payload, 0));
                    }
                }
            }
            &DriverOp::StreamMore { max } => self.stream_more(max),
            DriverOp::Link(op) => self.t.link.apply(op),
            DriverOp::PeerEnds => self.t.ended = true,
            &DriverOp::Fail(e) => {
                // Failing a connection that ended would change its end.
                if self.end.is_none() {
                    self.d.connection_mut().fail(e);
                }
            }
        }
    }

    /// `queue_payload` with up to `max` more bytes of the streamed message.
    fn stream_more(&mut self, max: usize) {
        let Some((kind, payload, taken)) = &mut self.streaming else {
            return;
        };
        let end = self.d.queued_end();
        let _ = self.d.output_buffer_mut().grow_to(end + max);
        let piece = &payload[*taken..];
        let n = self
            .d
            .queue_payload(&piece[..piece.len().min(max)])
            .expect("queue_payload refused a piece of a valid message");
        *taken += n;
        if *taken == payload.len() {
            self.queued
                .data
                .push((*kind, std::mem::take(payload), true, true));
            self.streaming = None;
        }
    }

    fn poll_event(&mut self, reply: u8, io: Io) {
        let queued = &mut self.queued;
        let got = self.t.drive(&mut self.d, io, |d| {
            d.poll_event(|event, mut handle| {
                let Event::Data(chunk) = &event else {
                    return own(&event);
                };
                let frame = match reply % 4 {
                    1 => Send::Binary(chunk.payload.to_vec()),
                    2 => Send::Ping(chunk.payload[..chunk.payload.len().min(125)].to_vec()),
                    3 => Send::Fragment {
                        kind: chunk.kind,
                        payload: chunk.payload.to_vec(),
                        last: chunk.last,
                    },
                    _ => return own(&event),
                };
                if handle.queue(frame.outgoing()).is_ok() {
                    queued.record(&frame);
                }
                own(&event)
            })
        });
        match got {
            None => {}
            Some(Ok(ev)) => {
                assert_eq!(self.end, None, "{ev:?} after the end");
                assert!(
                    !matches!(self.events.last(), Some(Ev::Close(_))),
                    "{ev:?} after the peer's close"
                );
                self.events.push(ev);
            }
            Some(Err(end)) => {
                let c = self.d.connection();
                match end {
                    End::Closed => assert!(
                        c.state() == State::Closed && c.failure().is_none(),
                        "{end:?} in {:?}, failure {:?}",
                        c.state(),
                        c.failure()
                    ),
                    End::Failed(e) => assert!(
                        c.failure() == Some(e)
                            || (e == ProtocolError::UnexpectedEof
                                && c.failure().is_none()
                                && c.state() != State::Closed),
                        "{end:?} in {:?}, failure {:?}",
                        c.state(),
                        c.failure()
                    ),
                }
                assert_eq!(*self.end.get_or_insert(end), end, "the end changed");
            }
        }
    }

    /// The final phase: over a transport that never blocks, everything
    /// queued is written, the peer answers and ends the transport, and the
    /// driver must get to its end. Then the peer must have read exactly what
    /// we queued.
    fn finish(mut self) {
        self.t
            .drive(&mut self.d, Io::GENEROUS, |d| d.poll_flush())
            .expect("flush");
        self.t.link.peer_reads(usize::MAX, 0);
        self.t.link.apply(&LinkOp::PeerPoll);
        self.t.ended = true;
        while self.end.is_none() {
            self.poll_event(0, Io::GENEROUS);
        }
        self.t
            .drive(&mut self.d, Io::GENEROUS, |d| d.poll_flush())
            .expect("flush");
        self.t.link.peer_reads(usize::MAX, 0);

        check_message_structure(&self.events);
        let peer = &self.t.link.check.peer;
        assert_eq!(peer.messages, self.queued.messages(), "messages");
        let of = |f: fn(&Ev) -> Option<&Vec<u8>>| -> Vec<Vec<u8>> {
            peer.events.iter().filter_map(f).cloned().collect()
        };
        let pings = of(|e| if let Ev::Ping(p) = e { Some(p) } else { None });
        assert_eq!(pings, self.queued.pings, "pings");
        // A pong is one we queued (in order) or the answer to a ping we got.
        let auto_pong = self.d.connection().config().auto_pong;
        let mut ours = self.queued.pongs.iter().peekable();
        for pong in of(|e| if let Ev::Pong(p) = e { Some(p) } else { None }) {
            if ours.peek() == Some(&&pong) {
                ours.next();
                continue;
            }
            assert!(
                auto_pong && self.events.contains(&Ev::Ping(pong.clone())),
                "a pong {pong:?} for no ping"
            );
        }
        assert_eq!(ours.next(), None, "a pong we queued never arrived");
        let close = peer.events.iter().find_map(|e| match e {
            Ev::Close(c) => Some(c.clone()),
            _ => None,
        });
        if let Some(ours) = &self.queued.close {
            assert_eq!(close.as_ref(), Some(ours), "our close");
        }
        // The closing handshake is both closes, unless the transport ended
        // after the peer's (then our reply is moot).
        if self.end == Some(End::Closed) && !self.t.eof_reported {
            assert!(close.is_some(), "closed without sending a close");
        }
    }
}

fn run<O: OutputBuffer>(d: TestDriver<O>, role: Role, mut r: Reader<'_>) {
    let mut tested = Tested {
        d,
        t: Transport {
            link: Link::new(role),
            ended: false,
            eof_reported: false,
            shut: false,
        },
        queued: Queued::default(),
        events: Vec::new(),
        end: None,
        unfinished: None,
        streaming: None,
    };
    while !r.is_empty() {
        let op = read_driver_op(&mut r, opposite(role));
        tested.apply(&op);
    }
    tested.finish();
}

/// A `Driver` run through its `Next` loop as an adapter runs it: events
/// (answered by the handler with an echo, a ping or the chunk forwarded as
/// a fragment), `poll_write` of every kind of frame (big ones fragmented
/// through a fixed output buffer), `poll_flush`, frames streamed with
/// `queue_frame_start` / `queue_payload`, `fail`, and a peer that replies
/// and ends the transport; reads and writes as short as the input says,
/// and any operation dropped where the transport blocks (cancellation).
///
/// Checks: the driver asks for a read only with no input buffered and no
/// output queued, for a write only with output queued, for a shutdown only
/// once and when the connection is done with the transport, for nothing
/// after the shutdown or after the transport ended; an end is right for the
/// connection's state and never changes; no event follows the end or the
/// peer's close. At the end, over a transport that never blocks, it gets
/// to its end, and the peer (the other role) has read without an error
/// exactly the messages, pings and close we queued, and pongs that answer
/// pings we got.
///
/// Input: role, config, rng seed, input buffer size, output buffer (0: a
/// growable `Vec`; else a fixed one of 4 × that many bytes), then operations.
pub fn driver(data: &[u8]) {
    let mut r = Reader::new(data);
    let role = read_role(&mut r);
    let config = read_config(&mut r);
    let seed = u64::from(r.u16());
    let input = vec![0u8; 1 + usize::from(r.u8()) * 2];
    let output = usize::from(r.u8()) * 4;
    let conn = Connection::new(role, config, TestRng(seed));
    if output == 0 {
        run(Driver::new(conn, input, Vec::new()), role, r);
    } else {
        let mut buffer = vec![0u8; output];
        run(Driver::new(conn, input, &mut buffer[..]), role, r);
    }
}
