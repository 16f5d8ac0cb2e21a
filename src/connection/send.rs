//! The output side: frames into caller buffers (RFC 6455 §5.1–§5.5, §7.1.2).
//!
//! Every method writes whole frames or nothing, except the streaming pair
//! [`Sender::start_frame`] / [`Sender::encode_payload`], which writes one
//! frame's payload in as many pieces as the caller likes, and
//! [`Sender::encode_header`], which leaves the payload to the caller. Failed
//! calls change nothing.

use super::State;
use super::shared::{Shared, Step};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::config::Role;
use crate::error::SendError;
use crate::event::{DataKind, Outgoing};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode};
use crate::mask::copy_masked;
use crate::utf8::Utf8Validator;

/// The largest control frame on the wire: a 6-byte header (with mask) and 125
/// payload bytes. An output buffer this big always has room for
/// [`Sender::poll_transmit`] to make progress.
pub const MAX_CONTROL_FRAME_LEN: usize = 6 + MAX_CONTROL_PAYLOAD;

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

/// What [`Sender::encode_header`] wrote: the header's length, and the key
/// the caller must mask the payload with (a client's frames), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedHeader {
    /// Bytes of header written at the front of the output.
    pub len: usize,
    /// Mask the payload with this key before sending it
    /// ([`mask::apply_mask`](crate::mask::apply_mask) with offset 0).
    pub mask: Option<[u8; 4]>,
}

/// The output half of a connection: the masking RNG and the outgoing
/// message. See [`Connection::split`](super::Connection::split).
#[derive(Debug, Clone)]
pub struct Sender<R> {
    rng: R,
    tx_message: Option<DataKind>,
    tx_utf8: Utf8Validator,
    tx_frame: Option<TxFrame>,
    /// RSV bits for the first frame of the next message
    /// ([`set_next_message_rsv`](Sender::set_next_message_rsv)).
    next_rsv: u8,
    /// RSV bits of the open message's first frame: non-zero means an
    /// extension encoded its payload (e.g. compressed it), so it is not
    /// checked as UTF-8.
    tx_rsv: u8,
}

impl<R> Sender<R> {
    pub(super) fn new(rng: R) -> Self {
        Sender {
            rng,
            tx_message: None,
            tx_utf8: Utf8Validator::new(),
            tx_frame: None,
            next_rsv: 0,
            tx_rsv: 0,
        }
    }

    /// Sets the RSV bits of the next message's first frame: how an
    /// extension marks a message it encoded. For permessage-deflate
    /// (RFC 7692 §6) it is [`RSV1`](crate::frame::RSV1) on a message whose
    /// payload, in all its frames, is compressed; its text is then not
    /// checked as UTF-8 (the compressed bytes are not text). Continuation
    /// and control frames never carry them. The bits must be in
    /// [`Config::extension_rsv`](crate::Config::extension_rsv) (negotiated),
    /// else the frame fails with [`SendError::NotNegotiated`]. They are
    /// used by the next frame that starts a message and then cleared;
    /// `0` clears them unused.
    ///
    /// ```
    /// use wsock::{Config, Connection, Outgoing};
    /// use wsock::frame::RSV1;
    /// let config = Config::new().extension_rsv(RSV1);
    /// let (_, mut tx, mut shared) = Connection::server(config).split();
    /// let mut out = [0u8; 16];
    /// tx.set_next_message_rsv(RSV1);
    /// // "Hello", compressed (RFC 7692 §7.2.3.1), sent as a text message.
    /// // A text message's compressed bytes are not a `&str`: a last fragment
    /// // is a whole message.
    /// let compressed = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    /// let frame = Outgoing::Fragment {
    ///     kind: wsock::DataKind::Text,
    ///     payload: &compressed,
    ///     last: true,
    /// };
    /// let header = tx.encode_header(&mut shared, frame, &mut out)?;
    /// assert_eq!(&out[..header.len], &[0xC1, 7]); // FIN, RSV1, text; 7 bytes
    /// assert_eq!(tx.next_message_rsv(), 0);
    /// # Ok::<(), wsock::SendError>(())
    /// ```
    pub fn set_next_message_rsv(&mut self, rsv: u8) {
        self.next_rsv = rsv & 0b111;
    }

    /// The RSV bits the next message will start with (see
    /// [`set_next_message_rsv`](Sender::set_next_message_rsv)).
    pub fn next_message_rsv(&self) -> u8 {
        self.next_rsv
    }

    /// True while a frame started with [`start_frame`](Sender::start_frame)
    /// still owes payload bytes.
    pub fn is_frame_in_progress(&self) -> bool {
        self.tx_frame.is_some()
    }

    /// True while a fragmented message we send is open (its last fragment
    /// not yet encoded).
    pub fn is_message_in_progress(&self) -> bool {
        self.tx_message.is_some()
    }

    /// [`Shared::should_shutdown`], and no data frame is half-written.
    pub fn should_shutdown(&self, shared: &Shared) -> bool {
        self.tx_frame.is_none() && shared.should_shutdown()
    }
}

impl<R: rand_core::Rng> Sender<R> {
    /// Encodes one frame into the front of `out` and returns its length.
    ///
    /// Data frames are refused once we sent a close or the peer did
    /// ([`SendError::Closing`]); if `out` is too small the error says how
    /// much is needed. Either way nothing is written and nothing changes.
    /// Call [`poll_transmit`](Sender::poll_transmit) first, so that owed
    /// pongs and close replies go out before new frames.
    pub fn encode(
        &mut self,
        shared: &mut Shared,
        frame: Outgoing<'_>,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if self.tx_frame.is_some() {
            return Err(SendError::FrameInProgress);
        }
        match frame {
            Outgoing::Ping(payload) => self.encode_control(shared, OpCode::Ping, payload, out),
            Outgoing::Pong(payload) => self.encode_control(shared, OpCode::Pong, payload, out),
            Outgoing::Close(close) => self.encode_close(shared, close, out),
            data => match data.data_parts() {
                Some((kind, payload, fragment_last)) => {
                    self.encode_data(shared, kind, payload, fragment_last, out)
                }
                None => Err(SendError::NotData),
            },
        }
    }

    /// A whole data frame: header, then the payload (masked by a client).
    #[inline]
    fn encode_data(
        &mut self,
        shared: &mut Shared,
        kind: DataKind,
        payload: &[u8],
        fragment_last: Option<bool>,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let header =
            self.encode_data_header(shared, kind, payload, fragment_last, out, payload.len())?;
        write_payload(&mut out[header.len..], payload, header.mask, 0);
        Ok(header.len + payload.len())
    }

    /// Encodes the header of a data frame (`Text`, `Binary` or `Fragment`)
    /// into `out` by the rules of [`encode`](Sender::encode), but leaves its
    /// payload to the caller, who sends it right behind the header — masked
    /// with the returned key if there is one (a client's frame). This is how
    /// a received chunk is echoed or forwarded without copying it into an
    /// output buffer: write the header and the borrowed payload with one
    /// vectored write.
    ///
    /// `out` needs room for the header only (at most 14 bytes); if it is
    /// too small the error says how many bytes the header needs. Text is
    /// checked to be valid UTF-8.
    ///
    /// ```
    /// use wsock::{Config, Connection, Outgoing};
    /// let (_, mut tx, mut shared) = Connection::server(Config::new()).split();
    /// let mut out = [0u8; 16];
    /// let header = tx.encode_header(&mut shared, Outgoing::Binary(b"abc"), &mut out)?;
    /// assert_eq!((&out[..header.len], header.mask), (&b"\x82\x03"[..], None));
    /// # Ok::<(), wsock::SendError>(())
    /// ```
    pub fn encode_header(
        &mut self,
        shared: &mut Shared,
        frame: Outgoing<'_>,
        out: &mut [u8],
    ) -> Result<EncodedHeader, SendError> {
        if self.tx_frame.is_some() {
            return Err(SendError::FrameInProgress);
        }
        let Some((kind, payload, fragment_last)) = frame.data_parts() else {
            return Err(SendError::NotData);
        };
        self.encode_data_header(shared, kind, payload, fragment_last, out, 0)
    }

    /// [`encode_header`](Sender::encode_header) of a data frame, checking
    /// that `out` also has `room_after` bytes behind the header.
    fn encode_data_header(
        &mut self,
        shared: &mut Shared,
        kind: DataKind,
        payload: &[u8],
        fragment_last: Option<bool>,
        out: &mut [u8],
        room_after: usize,
    ) -> Result<EncodedHeader, SendError> {
        let last = fragment_last.unwrap_or(true);
        let (opcode, validator, rsv) = self.plan_data(shared, kind, payload, fragment_last)?;
        let header = FrameHeader {
            fin: last,
            rsv,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let needed = self.header_len(shared, &header) + room_after;
        if out.len() < needed {
            return Err(SendError::BufferTooSmall {
                needed: needed as u64,
            });
        }
        let header = FrameHeader {
            mask: self.next_mask(shared),
            ..header
        };
        let len = header.encode(out)?;
        if let Some(validator) = validator {
            self.tx_utf8 = validator;
        }
        self.start_message(opcode);
        self.tx_message = if last { None } else { Some(kind) };
        Ok(EncodedHeader {
            len,
            mask: header.mask,
        })
    }

    /// Starts a data frame of `len` payload bytes whose payload will follow
    /// in pieces through [`encode_payload`](Sender::encode_payload); writes
    /// its header into `out`. Use it for frames bigger than your output
    /// buffer. `last` ends the message; otherwise more frames continue it.
    /// Until the payload is complete no other frame can be encoded and
    /// [`poll_transmit`](Sender::poll_transmit) waits.
    ///
    /// ```
    /// use wsock::{Connection, Config, DataKind};
    /// let (_, mut tx, mut shared) = Connection::server(Config::new()).split();
    /// let payload = [7u8; 300];
    /// let mut wire = [0u8; 304];
    /// let mut at = tx.start_frame(&mut shared, DataKind::Binary, 300, true, &mut wire)?;
    /// for piece in payload.chunks(64) {
    ///     at += tx.encode_payload(piece, &mut wire[at..])?;
    /// }
    /// assert_eq!(&wire[..4], &[0x82, 126, 1, 44]);
    /// assert_eq!(&wire[4..], &payload[..]);
    /// # Ok::<(), wsock::SendError>(())
    /// ```
    pub fn start_frame(
        &mut self,
        shared: &mut Shared,
        kind: DataKind,
        len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if self.tx_frame.is_some() {
            return Err(SendError::FrameInProgress);
        }
        let (opcode, validator, rsv) = self.plan_data(shared, kind, &[], Some(last && len == 0))?;
        let header = FrameHeader {
            fin: last,
            rsv,
            opcode,
            mask: None,
            payload_len: len,
        };
        let needed = self.header_len(shared, &header);
        if out.len() < needed {
            return Err(SendError::BufferTooSmall {
                needed: needed as u64,
            });
        }
        let header = FrameHeader {
            mask: self.next_mask(shared),
            ..header
        };
        let written = header.encode(out)?;
        if let Some(validator) = validator {
            self.tx_utf8 = validator;
        }
        self.start_message(opcode);
        self.tx_message = Some(kind);
        self.tx_frame = Some(TxFrame {
            remaining: len,
            offset: 0,
            mask: header.mask,
            kind,
            fin: last,
        });
        self.finish_tx_frame_if_done();
        Ok(written)
    }

    /// Writes the next piece of a frame started with
    /// [`start_frame`](Sender::start_frame): as many bytes of `payload` as
    /// fit in `out` and the frame. Returns how many were taken (and written,
    /// masked if we are the client). Pieces of a text frame must keep the
    /// message valid UTF-8 ([`SendError::InvalidUtf8`], nothing written).
    pub fn encode_payload(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        let Some(frame) = self.tx_frame else {
            return Err(SendError::NoFrameInProgress);
        };
        let n = self.take_piece(frame, payload, out.len())?;
        write_payload(&mut out[..n], &payload[..n], frame.mask, frame.offset);
        Ok(n)
    }

    /// Counts the next piece of an unmasked frame started with
    /// [`start_frame`](Sender::start_frame) (a server's) that the caller
    /// wrote to the transport itself, as it is, right behind what went
    /// before: zero-copy. Checked as [`encode_payload`](Sender::encode_payload)
    /// checks; returns how many bytes of `payload` the frame took. A masked
    /// frame (a client's) fails with [`SendError::MaskedFrame`]: its
    /// payload must be encoded.
    ///
    /// ```
    /// use wsock::{Connection, Config, DataKind};
    /// let (_, mut tx, mut shared) = Connection::server(Config::new()).split();
    /// let mut header = [0u8; 4];
    /// tx.start_frame(&mut shared, DataKind::Binary, 300, true, &mut header)?;
    /// // ... the header and then these 300 bytes were written to the transport:
    /// assert_eq!(tx.pass_payload(&[7u8; 300])?, 300);
    /// assert!(!tx.is_frame_in_progress());
    /// # Ok::<(), wsock::SendError>(())
    /// ```
    pub fn pass_payload(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        let Some(frame) = self.tx_frame else {
            return Err(SendError::NoFrameInProgress);
        };
        if frame.mask.is_some() {
            return Err(SendError::MaskedFrame);
        }
        self.take_piece(frame, payload, payload.len())
    }

    /// Takes up to `room` bytes of `payload` into the frame in progress
    /// (checking a text frame's UTF-8); how many it took.
    fn take_piece(
        &mut self,
        frame: TxFrame,
        payload: &[u8],
        room: usize,
    ) -> Result<usize, SendError> {
        // `n <= payload.len()`, so the cast back to usize cannot truncate.
        let n = frame.remaining.min(payload.len().min(room) as u64) as usize;
        if frame.kind == DataKind::Text && self.tx_rsv == 0 {
            let mut validator = self.tx_utf8;
            let ends_message = frame.fin && n as u64 == frame.remaining;
            if validator.feed(&payload[..n]).is_err()
                || (ends_message && validator.finish().is_err())
            {
                return Err(SendError::InvalidUtf8);
            }
            self.tx_utf8 = validator;
        }
        self.tx_frame = Some(TxFrame {
            remaining: frame.remaining - n as u64,
            offset: frame.offset.wrapping_add(n as u64),
            ..frame
        });
        self.finish_tx_frame_if_done();
        Ok(n)
    }

    /// Payload bytes still owed to the frame started with `start_frame`.
    pub fn frame_payload_remaining(&self) -> u64 {
        self.tx_frame.map_or(0, |f| f.remaining)
    }

    /// Writes the frames the connection owes the peer into `out`: the pong
    /// for the latest ping (with auto-pong), then the close reply or the
    /// close for a failure. Writes whole frames only; returns the bytes
    /// written (0 if nothing is owed, a streamed frame is unfinished, or
    /// `out` is smaller than the next frame: [`MAX_CONTROL_FRAME_LEN`]
    /// bytes always suffice).
    pub fn poll_transmit(&mut self, shared: &mut Shared, out: &mut [u8]) -> usize {
        if self.tx_frame.is_some() {
            return 0;
        }
        let mut written = 0;
        if let Some(pong) = &shared.pending_pong {
            match self.write_frame(shared, OpCode::Pong, true, pong, &mut out[written..]) {
                Ok(n) => {
                    written += n;
                    shared.pending_pong = None;
                }
                Err(_) => return written,
            }
        }
        if let Some(close) = shared.pending_close {
            let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
            let len = close_payload(close.code, close.reason, &mut payload);
            if let Ok(n) = self.write_frame(
                shared,
                OpCode::Close,
                true,
                &payload[..len],
                &mut out[written..],
            ) {
                written += n;
                shared.pending_close = None;
                // The reply to the peer's close ends the handshake; the
                // close for a failure leaves the connection `Closed`.
                shared.step(Step::SendClose);
            }
        }
        written
    }

    /// Checks that a data frame may be sent now and picks its opcode; for
    /// text fragments, validates UTF-8 on a copy of the running validator.
    /// `fragment_last` is `None` for a whole message. Changes nothing.
    fn plan_data(
        &self,
        shared: &Shared,
        kind: DataKind,
        payload: &[u8],
        fragment_last: Option<bool>,
    ) -> Result<(OpCode, Option<Utf8Validator>, u8), SendError> {
        if shared.state != State::Open {
            return Err(SendError::Closing);
        }
        let (opcode, rsv) = match (self.tx_message, fragment_last) {
            (None, _) => {
                if self.next_rsv & !shared.config.extension_rsv != 0 {
                    return Err(SendError::NotNegotiated);
                }
                let opcode = match kind {
                    DataKind::Text => OpCode::Text,
                    DataKind::Binary => OpCode::Binary,
                };
                (opcode, self.next_rsv)
            }
            (Some(open), Some(_)) if open == kind => (OpCode::Continuation, 0),
            (Some(_), _) => return Err(SendError::MessageInProgress),
        };
        let encoded = if self.tx_message.is_none() {
            rsv != 0
        } else {
            self.tx_rsv != 0
        };
        // Text sent in fragments is checked across them; a whole text
        // message is a `&str` already, binary needs no check, and an
        // extension's encoding of text is not text.
        let DataKind::Text = kind else {
            return Ok((opcode, None, rsv));
        };
        let (Some(last), false) = (fragment_last, encoded) else {
            return Ok((opcode, None, rsv));
        };
        let mut validator = if self.tx_message.is_none() {
            Utf8Validator::new()
        } else {
            self.tx_utf8
        };
        if validator.feed(payload).is_err() || (last && validator.finish().is_err()) {
            return Err(SendError::InvalidUtf8);
        }
        Ok((opcode, Some(validator), rsv))
    }

    fn encode_control(
        &mut self,
        shared: &mut Shared,
        opcode: OpCode,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if matches!(shared.state, State::CloseSent | State::Closed) {
            return Err(SendError::Closing);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.write_frame(shared, opcode, true, payload, out)
    }

    fn encode_close(
        &mut self,
        shared: &mut Shared,
        close: Option<(CloseCode, &str)>,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if shared.state.after(Step::SendClose).is_none() {
            return Err(SendError::Closing);
        }
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let len = match close {
            None => 0,
            Some((code, _)) if !code.is_sendable() => {
                return Err(SendError::InvalidCloseCode(code.0));
            }
            Some((_, reason)) if reason.len() > MAX_REASON_LEN => {
                return Err(SendError::ControlPayloadTooLong(reason.len() + 2));
            }
            Some((code, reason)) => close_payload(Some(code), reason, &mut payload),
        };
        let written = self.write_frame(shared, OpCode::Close, true, &payload[..len], out)?;
        // §5.5.1: after our close, only the closing handshake continues.
        shared.pending_pong = None;
        shared.pending_close = None;
        shared.step(Step::SendClose);
        Ok(written)
    }

    /// Writes one whole frame, masked if we are the client.
    fn write_frame(
        &mut self,
        shared: &Shared,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let needed = self.header_len(shared, &header);
        let Some(out) = out.get_mut(..needed + payload.len()) else {
            return Err(SendError::BufferTooSmall {
                needed: (needed + payload.len()) as u64,
            });
        };
        let header = FrameHeader {
            mask: self.next_mask(shared),
            ..header
        };
        let at = header.encode(out)?;
        write_payload(&mut out[at..], payload, header.mask, 0);
        Ok(at + payload.len())
    }

    /// After a data frame with `opcode` was encoded: a frame that opened a
    /// message took the next message's RSV bits.
    fn start_message(&mut self, opcode: OpCode) {
        if opcode != OpCode::Continuation {
            self.tx_rsv = core::mem::take(&mut self.next_rsv);
        }
    }

    /// The encoded length of `header` (given without a mask) as we will
    /// send it: a client's frames carry a 4-byte masking key.
    fn header_len(&self, shared: &Shared, header: &FrameHeader) -> usize {
        header.encoded_len() + if shared.role == Role::Client { 4 } else { 0 }
    }

    /// A fresh masking key for each client frame (§5.3); none for a server.
    fn next_mask(&mut self, shared: &Shared) -> Option<[u8; 4]> {
        match shared.role {
            Role::Client => Some(self.rng.next_u32().to_ne_bytes()),
            Role::Server => None,
        }
    }

    fn finish_tx_frame_if_done(&mut self) {
        if let Some(frame) = self.tx_frame
            && frame.remaining == 0
        {
            self.tx_frame = None;
            if frame.fin {
                self.tx_message = None;
            }
        }
    }
}

/// Copies a payload into `out`, masking it when a key is given.
fn write_payload(out: &mut [u8], payload: &[u8], mask: Option<[u8; 4]>, offset: u64) {
    match mask {
        Some(key) => copy_masked(out, payload, key, offset),
        None => out[..payload.len()].copy_from_slice(payload),
    }
}

/// Builds a close payload (code + reason) into `buf`; returns its length.
/// The caller has checked that `reason` fits.
fn close_payload(
    code: Option<CloseCode>,
    reason: &str,
    buf: &mut [u8; MAX_CONTROL_PAYLOAD],
) -> usize {
    let Some(code) = code else { return 0 };
    buf[..2].copy_from_slice(&code.0.to_be_bytes());
    let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON_LEN)];
    buf[2..2 + reason.len()].copy_from_slice(reason);
    2 + reason.len()
}
