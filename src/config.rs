//! Connection settings: role, limits and automatic replies (RFC 6455 §10.4).
//!
//! Limits are on by default. The core itself buffers no payload: a
//! connection's memory is its fixed-size state (see the README) plus whatever
//! message buffer the caller gives the reassembly layer, which
//! `max_message_size` bounds.

/// Which end of the connection we are; it decides masking (§5.1, §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened the connection: our frames are masked, the peer's must not be.
    Client,
    /// We accepted the connection: the peer's frames must be masked, ours are not.
    Server,
}

/// Per-connection settings. Build one with [`Config::new`] (the defaults)
/// and the `const` setters:
///
/// ```
/// use wsock::Config;
/// const CONFIG: Config = Config::new().max_message_size(64 << 20).auto_pong(false);
/// assert_eq!(CONFIG.max_message_size, 64 << 20);
/// assert_eq!(Config::default().max_frame_size, 16 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted, in bytes (default 16 MiB). A larger
    /// frame fails the connection with 1009 as soon as its header arrives.
    pub max_frame_size: u64,
    /// The largest message accepted, summed over its fragments (default 16 MiB).
    /// A larger message fails the connection with 1009 as soon as the frame
    /// header that crosses the limit arrives. A compressed message's wire
    /// bytes may exceed it by 1/1024 + 64 bytes (incompressible data grows
    /// a little); its inflated size is held to the limit while it is
    /// inflated.
    pub max_message_size: u64,
    /// Answer every ping with a pong automatically (default on, §5.5.2).
    pub auto_pong: bool,
    /// RSV bits (`0b100` = RSV1) that negotiated extensions own on the first
    /// frame of a data message (default none, §5.2). Set by extension
    /// negotiation, e.g. permessage-deflate owns RSV1.
    pub extension_rsv: u8,
}

impl Config {
    /// The defaults: 16 MiB frames and messages, auto-pong on, no extensions.
    pub const fn new() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            auto_pong: true,
            extension_rsv: 0,
        }
    }

    /// Sets [`max_frame_size`](Config::max_frame_size).
    pub const fn max_frame_size(mut self, bytes: u64) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`max_message_size`](Config::max_message_size).
    pub const fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`auto_pong`](Config::auto_pong).
    pub const fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`extension_rsv`](Config::extension_rsv).
    pub const fn extension_rsv(mut self, bits: u8) -> Self {
        self.extension_rsv = bits & 0b111;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}
