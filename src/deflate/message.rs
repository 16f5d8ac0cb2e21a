//! Whole compressed messages: an [`Inflater`] between a connection's data
//! chunks and a [`MessageBuffer`], with the checks RFC 6455 puts on every
//! message applied to the *inflated* bytes (RFC 7692 §7.2.2): text is
//! valid UTF-8, failing at the first byte that cannot be (1007), and the
//! message fits `max_message_size`, enforced while it is inflated, so a
//! small frame that would inflate to gigabytes stops at the limit (1009)
//! after at most that many bytes of output.

use super::inflate::{InflateAllError, Inflater};
use crate::error::ProtocolError;
use crate::event::{DataChunk, DataKind};
use crate::frame::RSV1;
use crate::message::{CapacityExceeded, MessageBuffer};
use crate::utf8::Utf8Validator;

/// Inflates compressed messages (chunks with RSV1 set) into a message
/// buffer, checking what comes out.
///
/// ```
/// use wsock::deflate::{Inflater, MessageInflater};
/// use wsock::message::SliceBuffer;
/// use wsock::{Config, Connection, Event};
/// use wsock::frame::RSV1;
///
/// let mut server = Connection::server(Config::new().extension_rsv(RSV1));
/// let mut inflater = MessageInflater::new(Inflater::new([0u8; 512], false)?);
/// let mut storage = [0u8; 64];
/// let mut message = SliceBuffer::new(&mut storage);
/// // "Hello" compressed (RFC 7692 §7.2.3.1), one masked text frame, RSV1 set.
/// let mut wire = *b"\xc1\x87\0\0\0\0\xf2\x48\xcd\xc9\xc9\x07\x00";
/// let got = server.receive(&mut wire)?;
/// let Some(Event::Data(chunk)) = got.event else { panic!() };
/// assert!(inflater.is_compressed(&chunk));
/// inflater.inflate_into(&chunk, &mut message, 1 << 20)?;
/// assert_eq!(message.into_filled(), b"Hello");
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MessageInflater<W> {
    inflater: Inflater<W>,
    utf8: Utf8Validator,
    /// Inflated bytes of the message so far.
    len: u64,
}

impl<W: AsRef<[u8]> + AsMut<[u8]>> MessageInflater<W> {
    /// Checks the messages `inflater` inflates.
    pub fn new(inflater: Inflater<W>) -> Self {
        MessageInflater {
            inflater,
            utf8: Utf8Validator::new(),
            len: 0,
        }
    }

    /// The inflater.
    pub fn inflater(&self) -> &Inflater<W> {
        &self.inflater
    }

    /// Forgets the window and any message under way: for the next
    /// connection that uses this memory.
    pub fn reset(&mut self) {
        self.inflater.reset();
        self.utf8.reset();
        self.len = 0;
    }

    /// The chunk belongs to a compressed message (RSV1 on its first frame).
    pub fn is_compressed(&self, chunk: &DataChunk<'_>) -> bool {
        chunk.rsv & RSV1 != 0
    }

    /// Inflates one chunk of a compressed message and appends the bytes to
    /// `buf` (cleared at the message's first chunk). Fails with
    /// [`ProtocolError::InvalidCompressedData`] on data that does not
    /// inflate, [`ProtocolError::InvalidUtf8`] at the first inflated byte
    /// that cannot be text, [`ProtocolError::MessageTooLarge`] once the
    /// inflated message would pass `max_message_size` or `buf` is full,
    /// [`ProtocolError::OverBudget`] when the buffer's shared budget is.
    /// After an error the inflater has forgotten its window: the connection
    /// has to fail ([`Connection::fail`](crate::Connection::fail)).
    pub fn inflate_into<B: MessageBuffer>(
        &mut self,
        chunk: &DataChunk<'_>,
        buf: &mut B,
        max_message_size: u64,
    ) -> Result<(), ProtocolError> {
        if chunk.first {
            buf.clear();
            self.utf8.reset();
            self.len = 0;
        }
        let text = chunk.kind == DataKind::Text;
        let max = max_message_size.min(buf.capacity_limit());
        let (utf8, len) = (&mut self.utf8, &mut self.len);
        let result = self.inflater.inflate_all(chunk.payload, chunk.last, |out| {
            let after = *len + out.len() as u64;
            if after > max {
                return Err(ProtocolError::MessageTooLarge { len: after, max });
            }
            if text && utf8.feed(out).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            buf.try_extend(out).map_err(|e| match e {
                CapacityExceeded::Full => ProtocolError::MessageTooLarge { len: after, max },
                CapacityExceeded::OverBudget { available } => ProtocolError::OverBudget {
                    len: after,
                    available,
                },
            })?;
            *len = after;
            Ok(())
        });
        let failed = match result {
            Ok(done) if chunk.last && !done => ProtocolError::InvalidCompressedData,
            Ok(_) if chunk.last && text && self.utf8.finish().is_err() => {
                ProtocolError::InvalidUtf8
            }
            Ok(_) => return Ok(()),
            Err(InflateAllError::Inflate(_)) => ProtocolError::InvalidCompressedData,
            Err(InflateAllError::Sink(e)) => e,
        };
        self.inflater.reset();
        buf.clear();
        Err(failed)
    }
}
