//! Frames on the wire (RFC 6455 §5): the header ([`FrameHeader`], parsed and
//! encoded) and the streaming decoder ([`FrameDecoder`]) that turns bytes into
//! headers and in-place-unmasked payload chunks.
//!
//! This layer knows nothing of connections: roles, fragmentation, UTF-8 and
//! the close handshake are [`crate::Connection`]'s job.

mod decoder;
mod header;

pub use decoder::{Decoded, FrameDecoder};
pub use header::{FrameHeader, HeaderParse, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, RSV1};
