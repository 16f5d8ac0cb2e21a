//! Target `halves`, and the wire and peer it shares with target `driver`.
//!
//! The connection under test is split into its [`Receiver`](RxHalf),
//! [`Sender`] and [`Shared`] parts, and the input drives them one call at a
//! time, input and output interleaved in any order. Every call is checked
//! against [`Model`], written from RFC 6455 and the connection's docs (the
//! closing handshake moves by [`TRANSITIONS`]), and everything the sender
//! writes is read by a real peer of the other role, which must accept it and
//! report exactly the frames we sent, in order.

use super::*;
use wsock::connection::{
    EncodedHeader, MAX_CONTROL_FRAME_LEN, Receiver as RxHalf, Sender, Step, TRANSITIONS,
};

// ---------------------------------------------------------------------------
// The wire and the peer
// ---------------------------------------------------------------------------

/// A step on the wire or at the peer.
#[derive(Debug, Clone)]
pub(super) enum LinkOp {
    /// Bytes on their way to us: arbitrary, or a frame built from the input.
    Inbound(Vec<u8>),
    /// The peer encodes a frame to us (one it refuses is dropped).
    PeerSend(Send),
    /// The peer writes what it owes us: a pong, its close reply.
    PeerPoll,
    /// The peer reads the first `n` bytes we wrote, in two pieces split at `cut`.
    ToPeer { n: usize, cut: u16 },
}

/// Decodes a [`LinkOp`]; `what` picks which. `peer` is the peer's role.
pub(super) fn read_link_op(r: &mut Reader<'_>, what: u8, peer: Role) -> LinkOp {
    match what % 5 {
        0 => LinkOp::Inbound(r.short_bytes(64).to_vec()),
        1 => LinkOp::Inbound(read_frame(r, peer)),
        2 => {
            let what = r.u8() % 6;
            LinkOp::PeerSend(read_send(r, what))
        }
        3 => LinkOp::PeerPoll,
        _ => LinkOp::ToPeer {
            n: usize::from(r.u16() % 2048),
            cut: r.u16(),
        },
    }
}

/// The other end and the wire between us: the bytes on their way to us, the
/// bytes we wrote that the peer has not read yet, and the peer itself — a
/// whole `Connection` of the other role behind an [`OutputCheck`], which
/// checks every frame it reads and fails on any error.
pub(super) struct Link {
    pub(super) inbound: Vec<u8>,
    outbound: Vec<u8>,
    pub(super) check: OutputCheck,
}

impl Link {
    /// The wire to a peer of the role opposite to `role` (ours).
    pub(super) fn new(role: Role) -> Self {
        Link {
            inbound: Vec::new(),
            outbound: Vec::new(),
            check: OutputCheck::new(role),
        }
    }

    pub(super) fn apply(&mut self, op: &LinkOp) {
        let peer = &mut self.check.peer.conn;
        match op {
            LinkOp::Inbound(bytes) => self.inbound.extend_from_slice(bytes),
            LinkOp::PeerSend(what) => {
                let mut out = [0u8; 300];
                if let Ok(n) = peer.encode(what.outgoing(), &mut out) {
                    self.inbound.extend_from_slice(&out[..n]);
                }
            }
            LinkOp::PeerPoll => {
                let mut out = [0u8; 2 * MAX_CONTROL_FRAME_LEN];
                let n = peer.poll_transmit(&mut out);
                self.inbound.extend_from_slice(&out[..n]);
            }
            &LinkOp::ToPeer { n, cut } => self.peer_reads(n, cut),
        }
    }

    /// Bytes we wrote to the transport.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        self.outbound.extend_from_slice(bytes);
    }

    /// The peer reads up to `n` of the bytes we wrote, in two pieces.
    pub(super) fn peer_reads(&mut self, n: usize, cut: u16) {
        let n = n.min(self.outbound.len());
        let bytes: Vec<u8> = self.outbound.drain(..n).collect();
        let (a, b) = bytes.split_at(usize::from(cut) % (n + 1));
        self.check.push(a);
        self.check.push(b);
    }

    /// Takes up to `n` bytes off the wire to us.
    pub(super) fn take_inbound(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.inbound.len());
        self.inbound.drain(..n).collect()
    }

    /// The events the peer reported.
    pub(super) fn peer_events(&self) -> &[Ev] {
        &self.check.peer.events
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// A frame streamed by `start_frame` / `encode_payload`, as the model sees it.
#[derive(Debug, Clone, Copy)]
struct Streaming {
    kind: DataKind,
    remaining: u64,
    /// The frame ends its message.
    fin: bool,
    /// No chunk of its message has been written yet.
    first: bool,
}

/// What the halves must be doing, worked out from RFC 6455 and the
/// connection's docs without its code; the closing handshake moves by
/// [`TRANSITIONS`].
#[derive(Debug, Clone)]
struct Model {
    role: Role,
    auto_pong: bool,
    state: State,
    failure: Option<ProtocolError>,
    /// The transport ended.
    eof: bool,
    /// The pong owed for the latest ping (§5.5.2, §5.5.3).
    pong: Option<Vec<u8>>,
    /// The close owed: the reply to the peer's (§5.5.1) or the close for a
    /// failure (§7.1.7); its code and reason, or none.
    close: Option<Option<(u16, String)>>,
    /// The kind of the message we are sending in fragments.
    message: Option<DataKind>,
    /// The unfinished code point at the end of the text we are sending.
    tail: Vec<u8>,
    frame: Option<Streaming>,
}

/// §7.4.1 and the IANA registry: the codes a close frame may carry.
fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The unfinished code point after `piece` follows the unfinished `tail`,
/// or `None` if the text so far cannot be (the beginning of) UTF-8;
/// `complete` asks for no unfinished code point at the end.
fn text_after(tail: &[u8], piece: &[u8], complete: bool) -> Option<Vec<u8>> {
    let mut all = tail.to_vec();
    all.extend_from_slice(piece);
    match std::str::from_utf8(&all) {
        Ok(_) => Some(Vec::new()),
        Err(e) if e.error_len().is_none() && !complete => Some(all[e.valid_up_to()..].to_vec()),
        Err(_) => None,
    }
}

/// Continuation bytes that finish the unfinished code point `tail`.
fn finish_code_point(tail: &[u8]) -> Vec<u8> {
    if tail.is_empty() {
        return Vec::new();
    }
    // The first continuation byte is the constrained one (§3 of RFC 3629).
    (0x80..=0xBF)
        .flat_map(|b| (0..4).map(move |rest| [&[b][..], &[0x80; 3][..rest]].concat()))
        .find(|c| text_after(tail, c, true).is_some())
        .unwrap_or_default()
}

impl Model {
    fn new(role: Role, config: &Config) -> Self {
        Model {
            role,
            auto_pong: config.auto_pong,
            state: State::Open,
            failure: None,
            eof: false,
            pong: None,
            close: None,
            message: None,
            tail: Vec::new(),
            frame: None,
        }
    }

    /// The state after `step`, by the table; `None`: refused or ignored.
    fn after(&self, step: Step) -> Option<State> {
        let row = TRANSITIONS
            .iter()
            .find(|&&(state, s, _)| (state, s) == (self.state, step));
        row.expect("the table has every state and step").2
    }

    fn step(&mut self, step: Step) {
        if let Some(next) = self.after(step) {
            self.state = next;
        }
    }

    fn receive_done(&self) -> bool {
        matches!(self.state, State::CloseReceived | State::Closed)
    }

    fn wants_transmit(&self) -> bool {
        self.pong.is_some() || self.close.is_some()
    }

    /// §7.1.1: the server closes the transport first; everyone does once
    /// the connection failed or the transport ended.
    fn should_shutdown(&self) -> bool {
        !self.wants_transmit()
            && (self.eof
                || (self.state == State::Closed
                    && (self.role == Role::Server || self.failure.is_some())))
    }

    fn frame_len(&self, payload_len: u64) -> u64 {
        ref_header_len(payload_len, self.role == Role::Client) as u64 + payload_len
    }

    /// An event the receiving half reported.
    fn received(&mut self, ev: &Ev) {
        match ev {
            Ev::Ping(p) if self.auto_pong && self.state == State::Open => {
                self.pong = Some(p.clone());
            }
            Ev::Close(close) => {
                self.pong = None;
                if self.state == State::Open {
                    // §5.5.1: echo the status code.
                    self.close = Some(close.as_ref().map(|&(code, _)| (code, String::new())));
                }
                self.step(Step::ReceiveClose);
            }
            _ => {}
        }
    }

    fn fail(&mut self, e: ProtocolError) {
        if self.failure.is_some() {
            return;
        }
        self.failure = Some(e);
        self.pong = None;
        let may_send = matches!(self.state, State::Open | State::CloseReceived)
            && e != ProtocolError::UnexpectedEof
            && !self.eof;
        self.close = may_send.then(|| Some((e.close_code().0, e.close_reason().to_owned())));
        self.step(Step::Fail);
    }

    fn receive_eof(&mut self) -> Result<(), ProtocolError> {
        let clean = self.receive_done();
        self.eof = true;
        self.pong = None;
        self.close = None;
        if clean {
            self.step(Step::TransportEnd);
            Ok(())
        } else {
            self.fail(ProtocolError::UnexpectedEof);
            Err(ProtocolError::UnexpectedEof)
        }
    }

    /// Why a data frame may not be sent now (`fragment_last`: `None` for a
    /// whole message), and the unfinished code point after it.
    fn plan_data(
        &self,
        kind: DataKind,
        payload: &[u8],
        fragment_last: Option<bool>,
    ) -> (Vec<SendError>, Vec<u8>) {
        let mut refused = Vec::new();
        if self.frame.is_some() {
            refused.push(SendError::FrameInProgress);
        }
        if self.state != State::Open {
            refused.push(SendError::Closing);
        }
        let continues = match (self.message, fragment_last) {
            (None, _) => false,
            (Some(open), Some(_)) if open == kind => true,
            (Some(_), _) => {
                refused.push(SendError::MessageInProgress);
                false
            }
        };
        let mut tail = Vec::new();
        if kind == DataKind::Text {
            let before = if continues { &self.tail[..] } else { &[] };
            match text_after(before, payload, fragment_last.unwrap_or(true)) {
                Some(after) => tail = after,
                None => refused.push(SendError::InvalidUtf8),
            }
        }
        (refused, tail)
    }

    /// Why a ping or pong may not be sent now.
    fn plan_control(&self, payload_len: usize) -> Vec<SendError> {
        let mut refused = Vec::new();
        if self.frame.is_some() {
            refused.push(SendError::FrameInProgress);
        }
        if matches!(self.state, State::CloseSent | State::Closed) {
            refused.push(SendError::Closing);
        }
        if payload_len > 125 {
            refused.push(SendError::ControlPayloadTooLong(payload_len));
        }
        refused
    }

    /// Why our close may not be sent now.
    fn plan_close(&self, close: &Option<(u16, String)>) -> Vec<SendError> {
        let mut refused = Vec::new();
        if self.frame.is_some() {
            refused.push(SendError::FrameInProgress);
        }
        if self.after(Step::SendClose).is_none() {
            refused.push(SendError::Closing);
        }
        if let Some((code, reason)) = close {
            if !sendable(*code) {
                refused.push(SendError::InvalidCloseCode(*code));
            }
            if reason.len() > 123 {
                refused.push(SendError::ControlPayloadTooLong(reason.len() + 2));
            }
        }
        refused
    }
}

/// Checks a send call's result against the model's verdict: with nothing
/// refused and room for `needed` bytes it writes `written` bytes; otherwise
/// it fails with one of the refusals, and with `BufferTooSmall` only when
/// the buffer is the only problem (so that `needed` bytes are enough).
/// Returns whether it succeeded.
fn expect_outcome(
    what: &str,
    result: &Result<usize, SendError>,
    mut refused: Vec<SendError>,
    needed: u64,
    written: u64,
    out_len: usize,
) -> bool {
    if refused.is_empty() && needed > out_len as u64 {
        refused.push(SendError::BufferTooSmall { needed });
    }
    match result {
        Ok(n) => {
            assert!(
                refused.is_empty(),
                "{what}: Ok, but the model has {refused:?}"
            );
            assert_eq!(*n as u64, written, "{what}: bytes written");
            true
        }
        Err(e) => {
            assert!(
                refused.contains(e),
                "{what}: {e:?}, but the model has {refused:?} (empty: success)"
            );
            false
        }
    }
}

// ---------------------------------------------------------------------------
// Target `halves`
// ---------------------------------------------------------------------------

/// The connection under test, as `Connection::split` gives it.
#[derive(Debug, Clone)]
struct Halves {
    rx: RxHalf,
    tx: Sender<TestRng>,
    shared: Shared,
}

/// One step of the `halves` target.
#[derive(Debug, Clone)]
enum HalvesOp {
    /// A step of target `connection`: its peer bytes go onto the wire to us,
    /// the rest are calls on the halves.
    Conn(Op),
    Link(LinkOp),
    /// The receiving half reads up to `n` bytes off the wire, in two pieces
    /// split at `cut`.
    Deliver {
        n: usize,
        cut: u16,
    },
    /// `encode_header`, then the payload written by us behind it, masked
    /// with the key it returned.
    Header {
        what: Send,
        out: usize,
    },
    /// `encode_payload` with `len` bytes that keep the message valid (for
    /// text: the unfinished code point first).
    Fill {
        len: usize,
        seed: u8,
        out: usize,
    },
}

fn read_halves_op(r: &mut Reader<'_>, peer: Role) -> HalvesOp {
    let sel = r.u8();
    if sel < 0x80 {
        return HalvesOp::Conn(read_op(r, peer));
    }
    match sel % 8 {
        0..=2 => HalvesOp::Deliver {
            n: usize::from(r.u16() % 1024),
            cut: r.u16(),
        },
        3 => {
            let what = r.u8() % 6;
            HalvesOp::Header {
                what: read_send(r, what),
                out: read_out(r),
            }
        }
        4 => HalvesOp::Fill {
            len: usize::from(r.u16() % 1024),
            seed: r.u8(),
            out: read_out(r),
        },
        _ => {
            let what = r.u8();
            HalvesOp::Link(read_link_op(r, what, peer))
        }
    }
}

/// The end under test with its model, what it received, and the peer.
struct Tested {
    halves: Halves,
    model: Model,
    /// What the receiving half reported.
    events: Vec<Ev>,
    /// The frames we sent, as the peer must report them.
    sent: Vec<Ev>,
    link: Link,
}

impl Tested {
    fn apply(&mut self, op: &HalvesOp) {
        match op {
            HalvesOp::Conn(Op::Feed { bytes, .. }) => self.link.inbound.extend_from_slice(bytes),
            HalvesOp::Conn(Op::Send { what, out }) => self.encode(what, *out, false),
            HalvesOp::Header { what, out } => self.encode(what, *out, true),
            &HalvesOp::Conn(Op::Start {
                kind,
                len,
                last,
                out,
            }) => self.start_frame(kind, len, last, out),
            HalvesOp::Conn(Op::Payload { bytes, out }) => self.encode_payload(bytes, *out),
            &HalvesOp::Fill { len, seed, out } => {
                let piece = match self.model.frame {
                    Some(f) if f.kind == DataKind::Text => {
                        let mut piece = finish_code_point(&self.model.tail);
                        if len as u64 >= f.remaining {
                            // It may end the frame: ASCII ends on a boundary.
                            piece.resize(len.max(piece.len()), b'a');
                        } else {
                            piece.extend_from_slice(text_filler(len, seed).as_bytes());
                        }
                        piece.truncate(len);
                        piece
                    }
                    _ => filler(len, seed),
                };
                self.encode_payload(&piece, out);
            }
            &HalvesOp::Conn(Op::Poll { out }) => self.poll_transmit(out),
            HalvesOp::Conn(Op::Eof) => {
                let got = self.halves.shared.receive_eof();
                assert_eq!(got, self.model.receive_eof(), "receive_eof");
                assert!(!self.halves.shared.wants_transmit(), "owes after the end");
            }
            &HalvesOp::Conn(Op::Fail(e)) => {
                self.halves.shared.fail(e);
                self.model.fail(e);
            }
            &HalvesOp::Deliver { n, cut } => {
                let bytes = self.link.take_inbound(n);
                let (a, b) = bytes.split_at(usize::from(cut) % (bytes.len() + 1));
                self.receive(a);
                self.receive(b);
            }
            HalvesOp::Link(op) => self.link.apply(op),
        }
        self.check();
    }

    /// The receiving half reads `bytes`; each event moves the model.
    fn receive(&mut self, bytes: &[u8]) {
        let Halves { rx, shared, .. } = &mut self.halves;
        let (model, events) = (&mut self.model, &mut self.events);
        receive_loop(rx, shared, &mut bytes.to_vec(), |got, shared| {
            let what = format!("{got:?}");
            assert!(
                !model.receive_done(),
                "{what} after the receiving side was done"
            );
            match got {
                Err(e) => model.fail(e),
                Ok(event) => {
                    let ev = own(event);
                    model.received(&ev);
                    events.push(ev);
                }
            }
            assert_eq!(shared.state(), model.state, "after {what}");
            assert_eq!(shared.failure(), model.failure, "after {what}");
            assert_eq!(
                shared.wants_transmit(),
                model.wants_transmit(),
                "owed after {what}"
            );
        });
    }

    /// `encode` (or `encode_header` and the payload) of `what` into an
    /// `out_len`-byte buffer.
    fn encode(&mut self, what: &Send, out_len: usize, header_only: bool) {
        let m = &self.model;
        let frame = what.outgoing();
        let data = frame.as_data().map(|(kind, payload, last)| {
            let fragment_last = matches!(what, Send::Fragment { .. }).then_some(last);
            (
                kind,
                payload,
                last,
                m.plan_data(kind, payload, fragment_last),
            )
        });
        let (refused, payload_len) = match (what, &data) {
            (_, Some((_, payload, _, (refused, _)))) => (refused.clone(), payload.len()),
            (_, None) if header_only => {
                let mut refused = vec![SendError::NotData];
                if m.frame.is_some() {
                    refused.push(SendError::FrameInProgress);
                }
                (refused, 0)
            }
            (Send::Ping(p) | Send::Pong(p), None) => (m.plan_control(p.len()), p.len()),
            (Send::Close(close), None) => (
                m.plan_close(close),
                close.as_ref().map_or(0, |(_, reason)| 2 + reason.len()),
            ),
            _ => unreachable!("every other frame is data"),
        };
        let needed = m.frame_len(payload_len as u64);
        let (result, mut bytes, mask) = if header_only {
            let (result, bytes) =
                write_checked("encode_header", &mut self.halves, out_len, |h, out| {
                    h.tx.encode_header(&mut h.shared, frame, out)
                });
            let mask = result.as_ref().ok().and_then(|h: &EncodedHeader| h.mask);
            (result.map(|h| h.len), bytes, mask)
        } else {
            let (result, bytes) = write_checked("encode", &mut self.halves, out_len, |h, out| {
                h.tx.encode(&mut h.shared, frame, out)
            });
            (result, bytes, None)
        };
        // `encode_header` needs room for the header only.
        let written = if header_only {
            needed - payload_len as u64
        } else {
            needed
        };
        let needed = written;
        let what_call = if header_only {
            "encode_header"
        } else {
            "encode"
        };
        if !expect_outcome(what_call, &result, refused, needed, written, out_len) {
            return;
        }
        match data {
            Some((kind, payload, last, (_, tail))) => {
                if header_only {
                    // §5.3: the caller masks the payload with the key given.
                    assert_eq!(mask.is_some(), self.model.role == Role::Client, "mask");
                    let at = bytes.len();
                    bytes.extend_from_slice(payload);
                    if let Some(key) = mask {
                        ref_mask(&mut bytes[at..], key);
                    }
                }
                let first = self.model.message.is_none();
                self.model.message = (!last).then_some(kind);
                self.model.tail = tail;
                self.sent.push(data_ev(kind, payload, first, last));
            }
            None => match what {
                Send::Ping(p) => self.sent.push(Ev::Ping(p.clone())),
                Send::Pong(p) => self.sent.push(Ev::Pong(p.clone())),
                Send::Close(close) => {
                    self.model.pong = None;
                    self.model.close = None;
                    self.model.step(Step::SendClose);
                    self.sent.push(Ev::Close(close.clone()));
                }
                _ => unreachable!("data frames are handled above"),
            },
        }
        self.link.write(&bytes);
    }

    fn start_frame(&mut self, kind: DataKind, len: u64, last: bool, out_len: usize) {
        let (refused, tail) = self.model.plan_data(kind, &[], Some(last && len == 0));
        let header = self.model.frame_len(len) - len;
        let (result, bytes) = write_checked("start_frame", &mut self.halves, out_len, |h, out| {
            h.tx.start_frame(&mut h.shared, kind, len, last, out)
        });
        if !expect_outcome("start_frame", &result, refused, header, header, out_len) {
            return;
        }
        let first = self.model.message.is_none();
        self.model.message = Some(kind);
        self.model.tail = tail;
        self.model.frame = Some(Streaming {
            kind,
            remaining: len,
            fin: last,
            first,
        });
        if len == 0 {
            self.sent.push(data_ev(kind, &[], first, last));
            self.finish_frame();
        }
        self.link.write(&bytes);
    }

    fn encode_payload(&mut self, payload: &[u8], out_len: usize) {
        let (refused, n, tail) = match self.model.frame {
            None => (vec![SendError::NoFrameInProgress], 0, Vec::new()),
            Some(f) => {
                let n = f.remaining.min(payload.len().min(out_len) as u64) as usize;
                let ends_message = f.fin && n as u64 == f.remaining;
                match f.kind {
                    DataKind::Binary => (Vec::new(), n, Vec::new()),
                    DataKind::Text => {
                        match text_after(&self.model.tail, &payload[..n], ends_message) {
                            Some(tail) => (Vec::new(), n, tail),
                            None => (vec![SendError::InvalidUtf8], n, Vec::new()),
                        }
                    }
                }
            }
        };
        let (result, bytes) =
            write_checked("encode_payload", &mut self.halves, out_len, |h, out| {
                h.tx.encode_payload(payload, out)
            });
        if !expect_outcome("encode_payload", &result, refused, 0, n as u64, out_len) {
            return;
        }
        let Some(f) = &mut self.model.frame else {
            unreachable!("encode_payload succeeded without a frame")
        };
        if n > 0 {
            let last = f.fin && n as u64 == f.remaining;
            self.sent.push(data_ev(
                f.kind,
                &payload[..n],
                std::mem::take(&mut f.first),
                last,
            ));
        }
        f.remaining -= n as u64;
        self.model.tail = tail;
        if f.remaining == 0 {
            self.finish_frame();
        }
        self.link.write(&bytes);
    }

    /// The streamed frame has all its payload.
    fn finish_frame(&mut self) {
        if let Some(f) = self.model.frame.take()
            && f.fin
        {
            self.model.message = None;
        }
    }

    /// `poll_transmit` writes the owed pong, then the owed close, each
    /// whole, and nothing while a streamed frame is unfinished: an owed
    /// frame never lands inside a data frame.
    fn poll_transmit(&mut self, out_len: usize) {
        let mut out = vec![SENTINEL; out_len];
        let n = self
            .halves
            .tx
            .poll_transmit(&mut self.halves.shared, &mut out);
        assert!(
            n <= out_len && out[n..].iter().all(|&b| b == SENTINEL),
            "poll_transmit wrote past {n} of {out_len}"
        );
        let m = &mut self.model;
        let mut expected = 0;
        if m.frame.is_none() {
            if let Some(pong) = &m.pong {
                let len = m.frame_len(pong.len() as u64) as usize;
                if len <= out_len {
                    expected += len;
                    self.sent.push(Ev::Pong(pong.clone()));
                    m.pong = None;
                }
            }
            if let (None, Some(close)) = (&m.pong, &m.close) {
                let payload = close.as_ref().map_or(0, |(_, reason)| 2 + reason.len());
                let len = m.frame_len(payload as u64) as usize;
                if expected + len <= out_len {
                    expected += len;
                    self.sent.push(Ev::Close(close.clone()));
                    m.close = None;
                    m.step(Step::SendClose);
                }
            }
        }
        assert_eq!(n, expected, "poll_transmit into {out_len} bytes");
        self.link.write(&out[..n]);
    }

    /// The halves agree with the model.
    fn check(&self) {
        let (h, m) = (&self.halves, &self.model);
        assert_eq!(h.shared.state(), m.state, "state");
        assert_eq!(h.shared.failure(), m.failure, "failure");
        assert_eq!(h.shared.wants_transmit(), m.wants_transmit(), "owed frames");
        assert_eq!(h.shared.is_receive_done(), m.receive_done(), "receive done");
        assert_eq!(h.shared.should_shutdown(), m.should_shutdown(), "shutdown");
        assert_eq!(
            h.tx.should_shutdown(&h.shared),
            m.frame.is_none() && m.should_shutdown(),
            "the sender's shutdown"
        );
        assert_eq!(h.tx.is_frame_in_progress(), m.frame.is_some(), "frame");
        assert_eq!(
            h.tx.frame_payload_remaining(),
            m.frame.map_or(0, |f| f.remaining),
            "frame payload remaining"
        );
        assert_eq!(
            h.tx.is_message_in_progress(),
            m.message.is_some(),
            "message"
        );
        if self.link.check.close_sent {
            assert!(matches!(m.state, State::CloseSent | State::Closed));
        }
    }
}

/// A connection split into its halves and driven call by call, input and
/// output interleaved in the order the input picks: received bytes
/// (arbitrary, frames built from the input, and the peer's own frames and
/// replies) fed at any split points, every kind of `encode`,
/// `encode_header` with the payload written behind it, streamed frames,
/// `poll_transmit` into buffers of any size, `receive_eof` and `fail`.
///
/// Checks, after every call: it kept the send side's promises (bytes only
/// before the returned length, failed calls change nothing, `needed` is
/// enough); its result, the state, the failure and the frames owed are the
/// model's (the closing handshake moves by `TRANSITIONS`, a close received
/// is answered with its code, a failure's close carries the error's code);
/// `poll_transmit` writes exactly the owed frames and nothing inside a
/// streamed frame. At the end, the peer (the other role, whole `Connection`)
/// has read all we wrote without an error and reports exactly the frames we
/// sent, in order, and nothing after our close.
///
/// Input: role, config, rng seed, then operations.
pub fn halves(data: &[u8]) {
    let mut r = Reader::new(data);
    let role = read_role(&mut r);
    let config = read_config(&mut r);
    let seed = u64::from(r.u16());
    let (rx, tx, shared) = Connection::new(role, config, TestRng(seed)).split();
    let mut t = Tested {
        halves: Halves { rx, tx, shared },
        model: Model::new(role, &config),
        events: Vec::new(),
        sent: Vec::new(),
        link: Link::new(role),
    };
    while !r.is_empty() {
        let op = read_halves_op(&mut r, opposite(role));
        t.apply(&op);
    }
    t.apply(&HalvesOp::Deliver {
        n: usize::MAX,
        cut: 0,
    });
    t.link.peer_reads(usize::MAX, 0);
    check_message_structure(&t.events);
    assert_eq!(
        normalize(t.link.peer_events()),
        normalize(&t.sent),
        "the peer read other frames than we sent"
    );
}
