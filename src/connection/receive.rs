//! The input side: bytes in, events out (RFC 6455 §5.1–§5.6, §7, §8.1).

use super::State;
use super::shared::{PendingClose, Shared, Step};
use crate::close::{CloseCode, parse_close_payload};
use crate::config::Role;
use crate::error::ProtocolError;
use crate::event::{DataChunk, DataKind, Event};
use crate::frame::{Decoded, FrameDecoder, FrameHeader, HeaderParse, MAX_CONTROL_PAYLOAD, OpCode};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;
use heapless::Vec;

/// The result of one [`Receiver::receive`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    /// How many bytes from the front of the input were used. Drop them once
    /// you are done with `event`, and pass the rest to the next call.
    pub consumed: usize,
    /// What happened, or `None` when all input was consumed and more is needed.
    pub event: Option<Event<'a>>,
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxFrame {
    /// Between frames.
    None,
    /// A data frame; `fin` ends its message.
    Data { fin: bool },
    /// A control frame whose payload is gathered into `control`.
    Control(OpCode),
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

/// The input half of a connection: the frame decoder and the incoming
/// message. See [`Connection::split`](super::Connection::split).
#[derive(Debug, Clone)]
pub struct Receiver {
    decoder: FrameDecoder,
    rx_frame: RxFrame,
    rx_message: Option<RxMessage>,
    rx_utf8: Utf8Validator,
    control: Vec<u8, MAX_CONTROL_PAYLOAD>,
    /// Pongs received, wrapping: a keepalive compares it before and after
    /// its ping.
    pongs: u32,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::new()
    }
}

impl Receiver {
    /// A receiver between frames, with no message open.
    pub fn new() -> Self {
        Receiver {
            decoder: FrameDecoder::new(),
            rx_frame: RxFrame::None,
            rx_message: None,
            rx_utf8: Utf8Validator::new(),
            control: Vec::new(),
            pongs: 0,
        }
    }

    /// How many pongs have been received (wrapping): an adapter with a
    /// clock that sent a ping compares it with the count at that time to
    /// know whether the peer answered (a keepalive).
    pub fn pongs_received(&self) -> u32 {
        self.pongs
    }

    /// The payload of the last control frame received, until the next
    /// control frame's header arrives (a copy of it went out in its event).
    #[cfg(feature = "embedded-io")]
    pub(crate) fn control_payload(&self) -> &crate::event::ControlPayload {
        &self.control
    }

    /// True between frames (no header or payload half-read).
    pub fn is_at_frame_boundary(&self) -> bool {
        self.decoder.is_at_frame_boundary()
    }

    /// Payload bytes of the current frame not received yet (0 between frames).
    pub fn frame_payload_remaining(&self) -> u64 {
        self.decoder.payload_remaining()
    }

    /// Looks ahead for the peer's close frame in received bytes that
    /// [`receive`](Receiver::receive) has not been given yet (`buffered`
    /// starts where it stopped), consuming nothing: `Some` with the close's
    /// status code (`Some(None)` for none) when a whole close frame is in
    /// `buffered` (its validity is for `receive` to judge). An adapter uses it to tell a sender that the peer has
    /// closed before the application has read that far.
    ///
    /// ```
    /// use wsock::CloseCode;
    /// use wsock::connection::Receiver;
    /// // A text frame "Hi", then a close with 1001, as a server sends them.
    /// let ahead = [0x81, 0x02, b'H', b'i', 0x88, 0x02, 0x03, 0xE9];
    /// let receiver = Receiver::new();
    /// assert_eq!(receiver.close_ahead(&ahead), Some(Some(CloseCode::GOING_AWAY)));
    /// assert_eq!(receiver.close_ahead(&ahead[..7]), None);
    /// ```
    pub fn close_ahead(&self, buffered: &[u8]) -> Option<Option<CloseCode>> {
        if !self.decoder.is_at_frame_boundary() && self.decoder.payload_remaining() == 0 {
            // Half a header: where the next frame starts is not known.
            return None;
        }
        let skip = usize::try_from(self.decoder.payload_remaining()).ok()?;
        if skip > 0 && self.rx_frame == RxFrame::Control(OpCode::Close) {
            return self.close_in_progress(buffered.get(..skip)?);
        }
        let mut at = skip;
        loop {
            let rest = buffered.get(at..)?;
            let HeaderParse::Complete { header, len } = FrameHeader::parse(rest).ok()? else {
                return None;
            };
            if header.opcode == OpCode::Close {
                // The whole frame (a close's payload is at most 125 bytes).
                let end = len.checked_add(usize::try_from(header.payload_len).ok()?)?;
                let frame = rest.get(..end)?;
                if header.payload_len < 2 {
                    return Some(None);
                }
                let code = &frame[len..len + 2];
                let mask = header.mask.unwrap_or([0; 4]);
                let code = u16::from_be_bytes([code[0] ^ mask[0], code[1] ^ mask[1]]);
                return Some(Some(CloseCode(code)));
            }
            let payload = usize::try_from(header.payload_len).ok()?;
            at = at.checked_add(len)?.checked_add(payload)?;
        }
    }

    /// The close frame half received: its payload so far is in `control`
    /// (unmasked), the rest is `rest` (still masked), the whole of it.
    fn close_in_progress(&self, rest: &[u8]) -> Option<Option<CloseCode>> {
        let have = self.control.as_slice();
        if have.len() + rest.len() < 2 {
            return Some(None);
        }
        let (mask, done) = self.decoder.payload_mask()?;
        let mut code = [0u8; 2];
        for (i, byte) in code.iter_mut().enumerate() {
            *byte = match have.get(i) {
                Some(&b) => b,
                None => {
                    let j = i - have.len();
                    let key = mask.map_or(0, |m| m[(done as usize + j) % 4]);
                    rest[j] ^ key
                }
            };
        }
        Some(Some(CloseCode(u16::from_be_bytes(code))))
    }

    /// Feeds received bytes. Decodes from the front of `buf` until one event
    /// is ready or the input is used up; payload bytes are unmasked in place
    /// and handed out as a slice of `buf`.
    ///
    /// Call it again with `buf[consumed..]` until it reports `event: None`;
    /// input may be split anywhere, even into single bytes, and the events
    /// are the same. After an `Err`, the connection has failed: the close
    /// frame for the error is queued (see [`poll_transmit`](super::Sender::poll_transmit))
    /// and further input is ignored. Input after the peer's close frame is
    /// ignored too (§5.5.1).
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
    pub fn receive<'a>(
        &mut self,
        shared: &mut Shared,
        buf: &'a mut [u8],
    ) -> Result<Received<'a>, ProtocolError> {
        if let Some((header, len)) = self.whole_data_frame_at_front(shared, buf) {
            return self.receive_whole_data_frame(shared, buf, header, len);
        }
        let mut pos = 0;
        loop {
            if shared.is_receive_done() {
                // Nothing may follow the peer's close (§5.5.1), and after a
                // failure input is discarded (§7.1.7).
                return Ok(Received {
                    consumed: buf.len(),
                    event: None,
                });
            }
            let start = pos;
            let (used, item) = match self.decoder.decode(&mut buf[start..]) {
                Ok(step) => step,
                Err(e) => return Err(shared.failed(e)),
            };
            pos += used;
            match item {
                None => {
                    return Ok(Received {
                        consumed: pos,
                        event: None,
                    });
                }
                Some(Decoded::Header(header)) => {
                    if let Err(e) = self.on_header(shared, &header) {
                        return Err(shared.failed(e));
                    }
                    if header.payload_len != 0 {
                        continue;
                    }
                    // An empty frame is complete at its header.
                    let event = match self.rx_frame {
                        RxFrame::Control(op) => self.on_control_frame(shared, op)?,
                        _ => self.on_data(shared, &[], true)?,
                    };
                    return Ok(Received {
                        consumed: pos,
                        event: Some(event),
                    });
                }
                Some(Decoded::Payload { range, frame_end }) => {
                    let range = start + range.start..start + range.end;
                    if let RxFrame::Control(op) = self.rx_frame {
                        // Cannot overflow: the header check bounded the payload to 125 bytes.
                        let _ = self.control.extend_from_slice(&buf[range]);
                        if !frame_end {
                            continue;
                        }
                        let event = self.on_control_frame(shared, op)?;
                        return Ok(Received {
                            consumed: pos,
                            event: Some(event),
                        });
                    }
                    let event = self.on_data(shared, &buf[range], frame_end)?;
                    return Ok(Received {
                        consumed: pos,
                        event: Some(event),
                    });
                }
            }
        }
    }

    /// The fast path for the common case: at a frame boundary, a whole data
    /// frame — header and payload — at the front of `buf`. Returns its
    /// header and header length when the case applies.
    #[inline]
    fn whole_data_frame_at_front(
        &self,
        shared: &Shared,
        buf: &[u8],
    ) -> Option<(FrameHeader, usize)> {
        if !self.decoder.is_at_frame_boundary()
            || !matches!(shared.state, State::Open | State::CloseSent)
        {
            return None;
        }
        match FrameHeader::parse(buf) {
            Ok(HeaderParse::Complete { header, len })
                if !header.opcode.is_control()
                    && header.payload_len <= (buf.len() - len) as u64 =>
            {
                Some((header, len))
            }
            _ => None,
        }
    }

    /// Receives the whole data frame found by `whole_data_frame_at_front`,
    /// by the same rules as the general path, only without stepping the
    /// streaming decoder through it. A frame that is a whole message (FIN
    /// set, no message open) needs no state across frames at all.
    #[inline]
    fn receive_whole_data_frame<'a>(
        &mut self,
        shared: &mut Shared,
        buf: &'a mut [u8],
        header: FrameHeader,
        len: usize,
    ) -> Result<Received<'a>, ProtocolError> {
        // `payload_len` fits: it is at most `buf.len() - len`.
        let end = len + header.payload_len as usize;
        let single =
            header.fin && header.opcode != OpCode::Continuation && self.rx_message.is_none();
        if !single {
            if let Err(e) = self.on_header(shared, &header) {
                return Err(shared.failed(e));
            }
            let payload = &mut buf[len..end];
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            let event = self.on_data(shared, payload, true)?;
            return Ok(Received {
                consumed: end,
                event: Some(event),
            });
        }
        if let Err(e) = check_header(shared, &header) {
            return Err(shared.failed(e));
        }
        let max = wire_limit(shared.config.max_message_size, header.rsv);
        if header.payload_len > max {
            return Err(shared.failed(ProtocolError::MessageTooLarge {
                len: header.payload_len,
                max,
            }));
        }
        let payload = &mut buf[len..end];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        let kind = if header.opcode == OpCode::Text {
            // §8.1: the whole message is here, so validating it whole is
            // failing at its first invalid byte. An extension's encoding
            // (RSV set) is checked where it is decoded.
            if header.rsv == 0 && crate::utf8::validate(payload).is_err() {
                return Err(shared.failed(ProtocolError::InvalidUtf8));
            }
            DataKind::Text
        } else {
            DataKind::Binary
        };
        Ok(Received {
            consumed: end,
            event: Some(Event::Data(DataChunk {
                kind,
                payload,
                first: true,
                last: true,
                rsv: header.rsv,
            })),
        })
    }

    /// Checks a complete header against the connection's rules and prepares
    /// to read its payload.
    ///
    /// Inlined like the fast path that calls it: out of line, the call takes
    /// the header's address, and the fast path then copies every header
    /// through memory before it reads a field (a store-forwarding stall per
    /// frame).
    #[inline]
    fn on_header(&mut self, shared: &Shared, h: &FrameHeader) -> Result<(), ProtocolError> {
        check_header(shared, h)?;
        if h.opcode.is_control() {
            self.control.clear();
            self.rx_frame = RxFrame::Control(h.opcode);
            return Ok(());
        }
        // §5.4: fragmentation rules.
        let message = match (h.opcode, self.rx_message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(open)) => open,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (op, None) => {
                self.rx_utf8.reset();
                RxMessage {
                    kind: if op == OpCode::Text {
                        DataKind::Text
                    } else {
                        DataKind::Binary
                    },
                    rsv: h.rsv,
                    len: 0,
                    first_pending: true,
                }
            }
        };
        let len = message.len.saturating_add(h.payload_len);
        let max = wire_limit(shared.config.max_message_size, message.rsv);
        if len > max {
            return Err(ProtocolError::MessageTooLarge { len, max });
        }
        self.rx_message = Some(RxMessage { len, ..message });
        self.rx_frame = RxFrame::Data { fin: h.fin };
        Ok(())
    }

    /// Reports a chunk of a data frame's payload (already unmasked); on an
    /// error the connection has failed.
    fn on_data<'a>(
        &mut self,
        shared: &mut Shared,
        payload: &'a [u8],
        frame_end: bool,
    ) -> Result<Event<'a>, ProtocolError> {
        // `on_header` set both before any payload of a data frame is decoded.
        let (RxFrame::Data { fin }, Some(mut message)) = (self.rx_frame, self.rx_message) else {
            unreachable!("payload of a data frame outside a message");
        };
        let last = fin && frame_end;
        // §8.1, failing fast: at the first byte that cannot be valid UTF-8
        // (an extension's encoding, RSV set, is checked where it is decoded).
        if message.kind == DataKind::Text
            && message.rsv == 0
            && (self.rx_utf8.feed(payload).is_err() || (last && self.rx_utf8.finish().is_err()))
        {
            return Err(shared.failed(ProtocolError::InvalidUtf8));
        }
        let first = core::mem::replace(&mut message.first_pending, false);
        if frame_end {
            self.rx_frame = RxFrame::None;
        }
        self.rx_message = if last { None } else { Some(message) };
        Ok(Event::Data(DataChunk {
            kind: message.kind,
            payload,
            first,
            last,
            rsv: message.rsv,
        }))
    }

    /// Acts on a complete control frame whose payload is in `self.control`;
    /// on an error the connection has failed.
    fn on_control_frame(
        &mut self,
        shared: &mut Shared,
        op: OpCode,
    ) -> Result<Event<'static>, ProtocolError> {
        self.rx_frame = RxFrame::None;
        match op {
            OpCode::Ping | OpCode::Pong => {
                // §5.5.2/§5.5.3: answer a ping with the same payload; a newer
                // ping replaces an unanswered one. No pong after our close.
                if op == OpCode::Ping && shared.config.auto_pong && shared.state == State::Open {
                    // Copied in place (a temporary would be 128 bytes more
                    // stack); it fits: both hold a control payload.
                    let pong = shared.pending_pong.insert(Vec::new());
                    let _ = pong.extend_from_slice(&self.control);
                }
                let payload = self.control.clone();
                Ok(if op == OpCode::Ping {
                    Event::Ping(payload)
                } else {
                    self.pongs = self.pongs.wrapping_add(1);
                    Event::Pong(payload)
                })
            }
            _ => {
                let frame = match parse_close_payload(&self.control) {
                    Ok(frame) => frame,
                    Err(e) => return Err(shared.failed(e)),
                };
                // §5.5.1: reply with a close, echoing the code, unless we
                // started the closing handshake.
                shared.pending_pong = None;
                if shared.state == State::Open {
                    shared.pending_close = Some(PendingClose {
                        code: frame.as_ref().map(|f| f.code),
                        reason: "",
                    });
                }
                shared.peer_close = Some(frame.as_ref().map(|f| f.code));
                shared.step(Step::ReceiveClose);
                Ok(Event::Close(frame))
            }
        }
    }
}

/// The most wire bytes a message may have: `max_message_size`, or for a
/// message an extension encoded (RSV set, e.g. compressed) a little more,
/// as incompressible data grows by a few bytes per block (zlib's bound is
/// under 1/1024 + 64 bytes). Its decoded size is held to
/// `max_message_size` where it is decoded.
#[inline]
fn wire_limit(max_message_size: u64, rsv: u8) -> u64 {
    if rsv == 0 {
        max_message_size
    } else {
        max_message_size.saturating_add(max_message_size / 1024 + 64)
    }
}

/// The rules one header must follow on its own, whatever came before:
/// masking direction, RSV bits, the frame size limit.
#[inline]
fn check_header(shared: &Shared, h: &FrameHeader) -> Result<(), ProtocolError> {
    // §5.1: clients mask, servers do not.
    match (shared.role, h.mask.is_some()) {
        (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
        (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
        _ => {}
    }
    // §5.2: RSV bits only where a negotiated extension owns them: on the
    // first frame of a data message.
    let owned = match h.opcode {
        OpCode::Text | OpCode::Binary => shared.config.extension_rsv,
        _ => 0,
    };
    if h.rsv & !owned != 0 {
        return Err(ProtocolError::ReservedBits(h.rsv & !owned));
    }
    if !h.opcode.is_control() && h.payload_len > shared.config.max_frame_size {
        return Err(ProtocolError::FrameTooLarge {
            len: h.payload_len,
            max: shared.config.max_frame_size,
        });
    }
    Ok(())
}
