//! Reassembly of whole messages from [`DataChunk`]s (RFC 6455 §5.4, §5.6).
//!
//! The connection reports messages in chunks, borrowed from the input buffer.
//! When the application wants whole messages, [`MessageAssembler`] collects
//! the chunks into a buffer of its choice:
//!
//! - [`SliceBuffer`]: a caller-provided `&mut [u8]` (no allocation);
//! - `heapless::Vec<u8, N>`: a fixed capacity inside the caller's struct;
//! - `Vec<u8>` (feature `alloc`): growable, bounded by the connection's
//!   `max_message_size`.
//!
//! A message that does not fit is [`ProtocolError::MessageTooLarge`] (close
//! code 1009), or [`ProtocolError::OverBudget`] (1013) when the buffer says
//! memory shared with other connections is used up for now: pass it to
//! [`Connection::fail`](crate::Connection::fail).

use crate::error::ProtocolError;
use crate::event::{DataChunk, DataKind};

/// Storage for one message being reassembled.
pub trait MessageBuffer {
    /// Empties the buffer.
    fn clear(&mut self);
    /// Appends `data`, or fails without appending if it does not fit.
    fn try_extend(&mut self, data: &[u8]) -> Result<(), CapacityExceeded>;
    /// The bytes collected so far.
    fn bytes(&self) -> &[u8];
    /// The most bytes the buffer can ever hold (`u64::MAX` when unbounded).
    fn capacity_limit(&self) -> u64;
}

/// A [`MessageBuffer`] cannot take more bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapacityExceeded {
    /// The buffer is full for good: the message is too large for it
    /// ([`ProtocolError::MessageTooLarge`], 1009).
    Full,
    /// The buffer could grow, but memory it shares with other connections
    /// is used up for now ([`ProtocolError::OverBudget`], 1013).
    OverBudget {
        /// Bytes left in the shared budget when the buffer asked for more.
        available: u64,
    },
}

/// A [`MessageBuffer`] over a caller-provided slice.
#[derive(Debug)]
pub struct SliceBuffer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceBuffer<'a> {
    /// An empty buffer that can hold `buf.len()` bytes.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceBuffer { buf, len: 0 }
    }
}

impl<'a> SliceBuffer<'a> {
    /// A buffer whose first `len` bytes already hold collected data (e.g. a
    /// message interrupted by a control frame); `None` if `buf` is shorter.
    pub fn resume(buf: &'a mut [u8], len: usize) -> Option<Self> {
        (len <= buf.len()).then_some(SliceBuffer { buf, len })
    }

    /// The collected bytes, for as long as the underlying slice lives.
    pub fn into_filled(self) -> &'a mut [u8] {
        let SliceBuffer { buf, len } = self;
        &mut buf[..len]
    }
}

impl MessageBuffer for SliceBuffer<'_> {
    fn clear(&mut self) {
        self.len = 0;
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), CapacityExceeded> {
        let end = self
            .len
            .checked_add(data.len())
            .ok_or(CapacityExceeded::Full)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(CapacityExceeded::Full)?
            .copy_from_slice(data);
        self.len = end;
        Ok(())
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn capacity_limit(&self) -> u64 {
        self.buf.len() as u64
    }
}

impl<const N: usize> MessageBuffer for heapless::Vec<u8, N> {
    fn clear(&mut self) {
        heapless::Vec::clear(self);
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), CapacityExceeded> {
        self.extend_from_slice(data)
            .map_err(|_| CapacityExceeded::Full)
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn capacity_limit(&self) -> u64 {
        N as u64
    }
}

#[cfg(feature = "alloc")]
impl MessageBuffer for alloc::vec::Vec<u8> {
    fn clear(&mut self) {
        alloc::vec::Vec::clear(self);
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), CapacityExceeded> {
        self.try_reserve(data.len())
            .map_err(|_| CapacityExceeded::Full)?;
        self.extend_from_slice(data);
        Ok(())
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn capacity_limit(&self) -> u64 {
        u64::MAX
    }
}

/// A whole message, borrowed from the assembler's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8: the connection checked it).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// Collects [`DataChunk`]s into whole messages.
///
/// ```
/// use wsock::message::{Message, MessageAssembler, SliceBuffer};
/// use wsock::{Config, Connection, Event};
///
/// let mut server = Connection::server(Config::new());
/// let mut storage = [0u8; 64];
/// let mut assembler = MessageAssembler::new(SliceBuffer::new(&mut storage));
/// // "Hel" + "lo" as two masked fragments (all-zero key for readability).
/// let mut wire = *b"\x01\x83\0\0\0\0Hel\x80\x82\0\0\0\0lo";
/// let mut at = 0;
/// while at < wire.len() {
///     let got = server.receive(&mut wire[at..])?;
///     let consumed = got.consumed;
///     if let Some(Event::Data(chunk)) = got.event {
///         if let Some(message) = assembler.push(&chunk)? {
///             assert_eq!(message, Message::Text("Hello"));
///         }
///     }
///     at += consumed;
/// }
/// # Ok::<(), wsock::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct MessageAssembler<B> {
    buf: B,
}

impl<B: MessageBuffer> MessageAssembler<B> {
    /// An assembler collecting into `buf`.
    pub fn new(buf: B) -> Self {
        MessageAssembler { buf }
    }

    /// Adds a chunk; returns the whole message when `chunk.last` is set.
    /// Fails with [`ProtocolError::MessageTooLarge`] when the buffer is full
    /// ([`ProtocolError::OverBudget`] when its shared budget is).
    pub fn push(&mut self, chunk: &DataChunk<'_>) -> Result<Option<Message<'_>>, ProtocolError> {
        let Some(kind) = self.collect(chunk)? else {
            return Ok(None);
        };
        let bytes = self.buf.bytes();
        Ok(Some(match kind {
            // The connection validated the text as it arrived, but chunks
            // pushed out of order (or from two connections) could still
            // join into invalid UTF-8, so a `&str` is only handed out after
            // a check: SIMD-fast, and safe code throughout.
            DataKind::Text => {
                Message::Text(crate::utf8::as_str(bytes).ok_or(ProtocolError::InvalidUtf8)?)
            }
            DataKind::Binary => Message::Binary(bytes),
        }))
    }

    /// Adds a chunk like [`push`](MessageAssembler::push), but when the
    /// message is whole returns only its kind and leaves its bytes, text
    /// unchecked, in the buffer: for an adapter that takes them out and
    /// checks text once on its own (e.g. `String::from_utf8`).
    pub fn collect(&mut self, chunk: &DataChunk<'_>) -> Result<Option<DataKind>, ProtocolError> {
        if chunk.first {
            self.buf.clear();
        }
        if let Err(e) = self.buf.try_extend(chunk.payload) {
            let len = self.buf.bytes().len() as u64 + chunk.payload.len() as u64;
            let max = self.buf.capacity_limit();
            self.buf.clear();
            return Err(match e {
                CapacityExceeded::Full => ProtocolError::MessageTooLarge { len, max },
                CapacityExceeded::OverBudget { available } => {
                    ProtocolError::OverBudget { len, available }
                }
            });
        }
        Ok(chunk.last.then_some(chunk.kind))
    }

    /// Adds a chunk like [`collect`](MessageAssembler::collect), inflating
    /// it first when its message is compressed (permessage-deflate, RSV1):
    /// the inflated bytes are held to `max_message_size` and, for text,
    /// checked as UTF-8 as they come (see [`MessageInflater::inflate_into`](crate::deflate::MessageInflater::inflate_into)).
    /// Uncompressed messages are collected as they are.
    #[cfg(feature = "inflate")]
    pub fn collect_inflated<W: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        chunk: &DataChunk<'_>,
        inflater: &mut crate::deflate::MessageInflater<W>,
        max_message_size: u64,
    ) -> Result<Option<DataKind>, ProtocolError> {
        if !inflater.is_compressed(chunk) {
            return self.collect(chunk);
        }
        inflater.inflate_into(chunk, &mut self.buf, max_message_size)?;
        Ok(chunk.last.then_some(chunk.kind))
    }

    /// The buffer.
    pub fn buffer(&self) -> &B {
        &self.buf
    }

    /// The buffer: after a complete message, it holds that message (an
    /// adapter may take it out instead of copying it).
    pub fn buffer_mut(&mut self) -> &mut B {
        &mut self.buf
    }

    /// The buffer, e.g. to reuse it elsewhere.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: DataKind, payload: &[u8], first: bool, last: bool) -> DataChunk<'_> {
        DataChunk {
            kind,
            payload,
            first,
            last,
            rsv: 0,
        }
    }

    /// §5.4: a fragmented message is the concatenation of its fragments.
    #[test]
    fn joins_fragments_in_heapless_vec() {
        let mut a = MessageAssembler::new(heapless::Vec::<u8, 16>::new());
        assert_eq!(
            a.push(&chunk(DataKind::Binary, b"ab", true, false)),
            Ok(None)
        );
        assert_eq!(
            a.push(&chunk(DataKind::Binary, b"", false, false)),
            Ok(None)
        );
        assert_eq!(
            a.push(&chunk(DataKind::Binary, b"cd", false, true)),
            Ok(Some(Message::Binary(b"abcd")))
        );
        // The next message starts afresh.
        assert_eq!(
            a.push(&chunk(DataKind::Text, b"x", true, true)),
            Ok(Some(Message::Text("x")))
        );
    }

    /// §10.4: a message larger than the buffer fails with 1009.
    #[test]
    fn overflow_is_message_too_large() {
        let mut storage = [0u8; 4];
        let mut a = MessageAssembler::new(SliceBuffer::new(&mut storage));
        a.push(&chunk(DataKind::Binary, b"abc", true, false))
            .unwrap();
        let err = a
            .push(&chunk(DataKind::Binary, b"de", false, true))
            .unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { len: 5, max: 4 });
        assert_eq!(err.close_code().0, 1009);
    }

    /// A buffer whose shared budget is spent: 1013, not 1009.
    #[test]
    fn over_budget_is_try_again_later() {
        struct Spent;
        impl MessageBuffer for Spent {
            fn clear(&mut self) {}
            fn try_extend(&mut self, _: &[u8]) -> Result<(), CapacityExceeded> {
                Err(CapacityExceeded::OverBudget { available: 3 })
            }
            fn bytes(&self) -> &[u8] {
                &[]
            }
            fn capacity_limit(&self) -> u64 {
                u64::MAX
            }
        }
        let mut a = MessageAssembler::new(Spent);
        let err = a
            .push(&chunk(DataKind::Binary, b"abcd", true, true))
            .unwrap_err();
        assert_eq!(
            err,
            ProtocolError::OverBudget {
                len: 4,
                available: 3
            }
        );
        assert_eq!(err.close_code().0, 1013);
    }

    #[test]
    fn empty_message() {
        let mut a = MessageAssembler::new(heapless::Vec::<u8, 0>::new());
        assert_eq!(
            a.push(&chunk(DataKind::Text, b"", true, true)),
            Ok(Some(Message::Text("")))
        );
    }
}
