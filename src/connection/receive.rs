//! The input side: bytes in, events out (RFC 6455 §5.1–§5.6, §7, §8.1).

use super::{Connection, PendingClose, RxFrame, RxMessage, State};
use crate::close::parse_close_payload;
use crate::config::Role;
use crate::error::ProtocolError;
use crate::event::{DataChunk, DataKind, Event};
use crate::frame::{Decoded, FrameHeader, HeaderParse, OpCode};
use crate::mask::apply_mask;

/// The result of one [`Connection::receive`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    /// How many bytes from the front of the input were used. Drop them once
    /// you are done with `event`, and pass the rest to the next call.
    pub consumed: usize,
    /// What happened, or `None` when all input was consumed and more is needed.
    pub event: Option<Event<'a>>,
}

impl<R: rand_core::Rng> Connection<R> {
    /// Feeds received bytes. Decodes from the front of `buf` until one event
    /// is ready or the input is used up; payload bytes are unmasked in place
    /// and handed out as a slice of `buf`.
    ///
    /// Call it again with `buf[consumed..]` until it reports `event: None`;
    /// input may be split anywhere, even into single bytes, and the events
    /// are the same. After an `Err`, the connection has failed: the close
    /// frame for the error is queued (see [`poll_transmit`](Connection::poll_transmit))
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
    pub fn receive<'a>(&mut self, buf: &'a mut [u8]) -> Result<Received<'a>, ProtocolError> {
        if let Some((header, len)) = self.whole_data_frame_at_front(buf) {
            return self.receive_whole_data_frame(buf, header, len);
        }
        let mut pos = 0;
        loop {
            if matches!(self.state, State::CloseReceived | State::Closed) {
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
                Err(e) => return Err(self.failed(e)),
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
                    if let Err(e) = self.on_header(&header) {
                        return Err(self.failed(e));
                    }
                    if header.payload_len != 0 {
                        continue;
                    }
                    // An empty frame is complete at its header.
                    let event = match self.rx_frame {
                        RxFrame::Control(op) => self.on_control_frame(op)?,
                        _ => self.on_data(&[], true)?,
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
                        let event = self.on_control_frame(op)?;
                        return Ok(Received {
                            consumed: pos,
                            event: Some(event),
                        });
                    }
                    let event = self.on_data(&buf[range], frame_end)?;
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
    fn whole_data_frame_at_front(&self, buf: &[u8]) -> Option<(FrameHeader, usize)> {
        if !self.decoder.is_at_frame_boundary()
            || !matches!(self.state, State::Open | State::CloseSent)
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
        buf: &'a mut [u8],
        header: FrameHeader,
        len: usize,
    ) -> Result<Received<'a>, ProtocolError> {
        // `payload_len` fits: it is at most `buf.len() - len`.
        let end = len + header.payload_len as usize;
        let single =
            header.fin && header.opcode != OpCode::Continuation && self.rx_message.is_none();
        if !single {
            if let Err(e) = self.on_header(&header) {
                return Err(self.failed(e));
            }
            let payload = &mut buf[len..end];
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            let event = self.on_data(payload, true)?;
            return Ok(Received {
                consumed: end,
                event: Some(event),
            });
        }
        if let Err(e) = self.check_header(&header) {
            return Err(self.failed(e));
        }
        if header.payload_len > self.config.max_message_size {
            return Err(self.failed(ProtocolError::MessageTooLarge {
                len: header.payload_len,
                max: self.config.max_message_size,
            }));
        }
        let payload = &mut buf[len..end];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        let kind = if header.opcode == OpCode::Text {
            // §8.1: the whole message is here, so validating it whole is
            // failing at its first invalid byte.
            if crate::utf8::validate(payload).is_err() {
                return Err(self.failed(ProtocolError::InvalidUtf8));
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

    /// Fails the connection and hands the error back.
    fn failed(&mut self, error: ProtocolError) -> ProtocolError {
        self.fail(error);
        error
    }

    /// The rules one header must follow on its own, whatever came before:
    /// masking direction, RSV bits, the frame size limit.
    #[inline]
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // §5.1: clients mask, servers do not.
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // §5.2: RSV bits only where a negotiated extension owns them: on the
        // first frame of a data message.
        let owned = match h.opcode {
            OpCode::Text | OpCode::Binary => self.config.extension_rsv,
            _ => 0,
        };
        if h.rsv & !owned != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv & !owned));
        }
        if !h.opcode.is_control() && h.payload_len > self.config.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                len: h.payload_len,
                max: self.config.max_frame_size,
            });
        }
        Ok(())
    }

    /// Checks a complete header against the connection's rules and prepares
    /// to read its payload.
    fn on_header(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        self.check_header(h)?;
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
        if len > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                len,
                max: self.config.max_message_size,
            });
        }
        self.rx_message = Some(RxMessage { len, ..message });
        self.rx_frame = RxFrame::Data { fin: h.fin };
        Ok(())
    }

    /// Reports a chunk of a data frame's payload (already unmasked); on an
    /// error the connection has failed.
    fn on_data<'a>(
        &mut self,
        payload: &'a [u8],
        frame_end: bool,
    ) -> Result<Event<'a>, ProtocolError> {
        // `on_header` set both before any payload of a data frame is decoded.
        let (RxFrame::Data { fin }, Some(mut message)) = (self.rx_frame, self.rx_message) else {
            unreachable!("payload of a data frame outside a message");
        };
        let last = fin && frame_end;
        // §8.1, failing fast: at the first byte that cannot be valid UTF-8.
        if message.kind == DataKind::Text
            && (self.rx_utf8.feed(payload).is_err() || (last && self.rx_utf8.finish().is_err()))
        {
            return Err(self.failed(ProtocolError::InvalidUtf8));
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
    fn on_control_frame(&mut self, op: OpCode) -> Result<Event<'static>, ProtocolError> {
        self.rx_frame = RxFrame::None;
        match op {
            OpCode::Ping => {
                // §5.5.2/§5.5.3: answer with the same payload; a newer ping
                // replaces an unanswered one. No pong after our close.
                if self.config.auto_pong && self.state == State::Open {
                    self.pending_pong = Some(self.control.clone());
                }
                Ok(Event::Ping(self.control.clone()))
            }
            OpCode::Pong => Ok(Event::Pong(self.control.clone())),
            _ => {
                let frame = match parse_close_payload(&self.control) {
                    Ok(frame) => frame,
                    Err(e) => return Err(self.failed(e)),
                };
                // §5.5.1: reply with a close, echoing the code, unless we
                // started the closing handshake.
                self.pending_pong = None;
                if self.state == State::Open {
                    self.pending_close = Some(PendingClose {
                        code: frame.as_ref().map(|f| f.code),
                        reason: "",
                    });
                    self.state = State::CloseReceived;
                } else {
                    self.state = State::Closed;
                }
                Ok(Event::Close(frame))
            }
        }
    }
}
