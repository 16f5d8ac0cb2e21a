//! A big message's payload read straight into the message: while a data
//! frame has [`DIRECT_READ`] bytes or more to come and nothing else waits
//! (no input to decode, nothing to write), reads go into the spare capacity
//! of the message being assembled and the connection unmasks and checks
//! them there, in place, instead of their passing through the read buffer
//! and being copied out of it.

use super::{Error, Io, spare};
use crate::blocking::MessageVec;
use crate::event::{DataKind, Event};
use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use bytes::BufMut;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll};
use std::io;

/// Payload still to come from which reads go into the message.
const DIRECT_READ: u64 = 64 * 1024;

/// The most one direct read asks for (and reserves in the message).
const MOST: usize = 256 * 1024;

/// What [`Io::poll_read_payload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Payload {
    /// Nothing: the next read goes through the read buffer as usual.
    NotNow,
    /// Bytes were read and added to the message; `Some(kind)` when they
    /// completed it.
    Added(Option<DataKind>),
    /// The stream ended, or the bytes failed the connection's checks (it
    /// owes its close frame): the usual path goes on from here.
    Ended,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    /// Reads payload of the current data frame into `message` (the
    /// message's bytes so far), if the case applies. Cancel-safe: the bytes
    /// of a read that completes are taken in the same poll.
    ///
    /// Only when `direct` (not for a connection that inflates). The room is
    /// taken from the message's budget first; without enough
    /// of it the usual path reads on, and fails the connection (1013) when
    /// the bytes it has do not fit.
    pub(super) fn poll_read_payload(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut MessageVec,
        direct: bool,
    ) -> Poll<Result<Payload, Error>> {
        let conn = self.driver.connection();
        let remaining = conn.receiver().frame_payload_remaining();
        if !direct
            || remaining < DIRECT_READ
            || self.streaming.is_some()
            || self.driver.has_input()
            || self.driver.has_pending_output()
            || conn.wants_transmit()
            || conn.shared().is_receive_done()
        {
            return Poll::Ready(Ok(Payload::NotNow));
        }
        let want = usize::try_from(remaining).map_or(MOST, |r| r.min(MOST));
        if buffer.try_reserve(want).is_err() {
            return Poll::Ready(Ok(Payload::NotNow));
        }
        let message = buffer.vec_mut();
        let start = message.len();
        let read = {
            let mut room = (&mut *message).limit(want);
            pin!(self.stream.read_buf(&mut room)).poll(cx)
        };
        // The room was reserved, so the read did not grow the `Vec`; if it
        // ever does, the budget sees it.
        buffer.settle();
        let message = buffer.vec_mut();
        let read = match read {
            Poll::Ready(read) => read,
            Poll::Pending => {
                // Waiting for the peer: hold no read buffer meanwhile.
                if let Some(input) = self.driver.input_buffer_mut() {
                    spare::give(input);
                }
                return Poll::Pending;
            }
        };
        let n = match read {
            Ok(0) => {
                self.driver.input_filled(0);
                return Poll::Ready(Ok(Payload::Ended));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                return Poll::Ready(Ok(Payload::NotNow));
            }
            Err(e) => return Poll::Ready(Err(self.io_error(cx, e))),
        };
        let (receiver, _, shared) = self.driver.connection_mut().parts_mut();
        let got = receiver.receive(shared, &mut message[start..start + n]);
        // All `n` bytes are payload of the frame under way (no more were
        // asked for), so its one chunk is all of them, where they are.
        let chunk = match got {
            Ok(got) => match got.event {
                Some(Event::Data(chunk)) if chunk.payload.len() == n => {
                    Some((chunk.kind, chunk.first, chunk.last))
                }
                _ => None,
            },
            Err(_) => None,
        };
        let Some((kind, first, last)) = chunk else {
            // Failed (or, after a close, ignored): the bytes are dropped.
            message.truncate(start);
            return Poll::Ready(Ok(Payload::Ended));
        };
        if first && start > 0 {
            // A new message begins: the bytes before are not part of it.
            message.copy_within(start.., 0);
            message.truncate(n);
        }
        Poll::Ready(Ok(Payload::Added(last.then_some(kind))))
    }
}
