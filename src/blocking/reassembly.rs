//! Whole messages for the std adapters' readers: the message buffer (with
//! its budget), and with permessage-deflate the inflater compressed
//! messages go through on their way into it.

use super::MessageVec;
use crate::error::ProtocolError;
use crate::event::{DataChunk, DataKind};
use crate::message::MessageAssembler;

/// A reader's message reassembly: see the module docs.
#[derive(Debug)]
pub(crate) struct Reassembly {
    assembler: MessageAssembler<MessageVec>,
    /// Inflates compressed messages, when permessage-deflate was agreed.
    #[cfg(feature = "deflate")]
    inflater: Option<std::boxed::Box<crate::deflate::MessageInflater<std::boxed::Box<[u8]>>>>,
    /// The inflated size limit (the connection's `max_message_size`).
    #[cfg(feature = "deflate")]
    max_message_size: u64,
}

impl Reassembly {
    pub(crate) fn new() -> Self {
        Reassembly {
            assembler: MessageAssembler::new(MessageVec::default()),
            #[cfg(feature = "deflate")]
            inflater: None,
            #[cfg(feature = "deflate")]
            max_message_size: 0,
        }
    }

    /// Inflates compressed messages from now on (as `agreed` lets the peer
    /// send them), held to `max_message_size`.
    #[cfg(feature = "deflate")]
    pub(crate) fn inflate(
        &mut self,
        agreed: &crate::handshake::deflate::Agreed,
        role: crate::Role,
        max_message_size: u64,
    ) {
        self.inflater = Some(super::compression::inflater(agreed, role));
        self.max_message_size = max_message_size;
    }

    /// Compressed messages are inflated (permessage-deflate was agreed).
    #[cfg(feature = "tokio")]
    pub(crate) fn is_inflating(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.inflater.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// Adds a chunk; the kind once the message is whole.
    #[inline]
    pub(crate) fn collect(
        &mut self,
        chunk: &DataChunk<'_>,
    ) -> Result<Option<DataKind>, ProtocolError> {
        #[cfg(feature = "deflate")]
        if let Some(inflater) = &mut self.inflater {
            return self
                .assembler
                .collect_inflated(chunk, inflater, self.max_message_size);
        }
        self.assembler.collect(chunk)
    }

    pub(crate) fn buffer(&self) -> &MessageVec {
        self.assembler.buffer()
    }

    pub(crate) fn buffer_mut(&mut self) -> &mut MessageVec {
        self.assembler.buffer_mut()
    }
}
