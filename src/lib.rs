//! # wsock — a sans-IO WebSocket (RFC 6455) implementation
//!
//! The core is a pure state machine: bytes in, events out; frames in, bytes
//! out. It never touches a socket, a thread, a clock or the heap, and builds
//! with `#![no_std]` and no `alloc`. Transport adapters sit on top.
//!
//! The layers, bottom up:
//!
//! - [`mask`], [`utf8`], [`close`]: masking, incremental UTF-8, close codes.
//! - [`frame`]: frame headers and the streaming, in-place frame decoder.
//! - [`handshake`]: the HTTP/1.1 upgrade, client and server side.
//! - [`Connection`]: the protocol state machine after the handshake.
//! - [`message`]: reassembly of whole messages into a caller-chosen buffer.
//! - [`driver`]: a connection with its input and output buffers, the
//!   plumbing every adapter shares.
//! - [`blocking`] (feature `std`): a blocking WebSocket over any transport,
//!   `connect`/`accept`, `wss://` with the `tls` feature.
//! - [`tokio`](mod@tokio) (feature `tokio`): an async WebSocket over tokio streams,
//!   a `Stream` + `Sink`, cancel-safe; with the `http` feature, upgrading a
//!   request that a hyper or axum server has read.
//! - [`embedded`] (features `embedded-io`, `embedded-io-async`): client and
//!   server over the embedded I/O traits, with caller-owned buffers.
//! - [`deflate`] (features `inflate`, `deflate`): the permessage-deflate
//!   codec (RFC 7692 §7.2), decompression without a heap.
//!
//! See the README for a complete client ↔ server example over in-memory buffers.
#![no_std]
// The only unsafe code: calling the AVX2 masking loops after checking the
// CPU (src/mask.rs, std on x86_64); CI runs the crate's tests under Miri.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "std")]
pub mod blocking;
pub mod close;
pub mod config;
pub mod connection;
#[cfg(feature = "inflate")]
pub mod deflate;
pub mod driver;
#[cfg(feature = "embedded-io")]
pub mod embedded;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod utf8;

/// The rustls that wsock's `tls` feature is built on (with the `ring`
/// crypto provider): build `ServerConfig`s and `ClientConfig`s with it
/// rather than a second `rustls` dependency, whose default provider
/// (aws-lc-rs) would be compiled as well and needs a process-level provider
/// chosen at run time.
#[cfg(feature = "tls")]
pub use rustls;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Role};
pub use connection::{Connection, NoRng, Received, State};
pub use error::{ProtocolError, SendError};
pub use event::{ControlPayload, DataChunk, DataKind, Event, Outgoing};

/// The README's examples, compiled and run as doc tests (they use every
/// adapter, so with `--all-features`, as CI runs them).
#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
