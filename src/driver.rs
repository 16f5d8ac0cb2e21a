//! The plumbing every transport adapter needs, once: a [`Connection`] with
//! an input buffer and an output queue, still without any I/O.
//!
//! An adapter only moves bytes: when [`Driver::has_input`] is false it reads
//! from its transport into [`Driver::input_space`] and reports the count
//! with [`Driver::input_filled`]; it writes [`Driver::pending_output`] and
//! reports progress with [`Driver::output_written`]. Everything else —
//! decoding events, queueing owed pongs and close replies, encoding frames
//! into the free part of the output buffer, streaming frames larger than it
//! — happens here, the same way for the std, embedded and async adapters.
//!
//! The buffers are the caller's: `&mut [u8]`, arrays, `heapless::Vec`, or a
//! `Vec<u8>` that the adapter may enlarge ([`Driver::output_buffer_mut`]).

use crate::connection::Connection;
use crate::error::{ProtocolError, SendError};
use crate::event::{DataKind, Event, Outgoing};
use core::ops::Range;

/// A connection with its buffers; see the [module docs](self).
///
/// ```
/// use wsock::driver::Driver;
/// use wsock::{Config, Connection, Event, Outgoing};
///
/// let mut server = Driver::new(Connection::server(Config::new()), [0u8; 256], [0u8; 256]);
/// // The adapter read a masked ping (all-zero key) from its transport:
/// let wire = [0x89, 0x82, 0, 0, 0, 0, b'h', b'i'];
/// server.input_space()[..wire.len()].copy_from_slice(&wire);
/// server.input_filled(wire.len());
/// let ping = server.next_event(|event| matches!(event, Event::Ping(p) if p == b"hi"))?;
/// assert_eq!(ping, Some(true));
/// // The pong is owed; queue it with a reply of our own, then write them out.
/// server.queue_owed();
/// server.queue(Outgoing::Text("hello"))?;
/// assert_eq!(server.pending_output(), b"\x8a\x02hi\x81\x05hello");
/// let n = server.pending_output().len();
/// server.output_written(n);
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Driver<R, I, O> {
    conn: Connection<R>,
    input: I,
    /// Unconsumed input is `input[in_start..in_end]`.
    in_start: usize,
    in_end: usize,
    output: O,
    /// Queued output is `output[out_start..out_end]`.
    out_start: usize,
    out_end: usize,
}

impl<R, I, O> Driver<R, I, O>
where
    R: rand_core::Rng,
    I: AsMut<[u8]>,
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A driver with empty buffers.
    pub fn new(conn: Connection<R>, input: I, output: O) -> Self {
        Self::with_buffered_input(conn, input, 0..0, output)
    }

    /// A driver whose input buffer already holds unconsumed bytes in
    /// `buffered` (e.g. frames that arrived with the handshake).
    pub fn with_buffered_input(
        conn: Connection<R>,
        mut input: I,
        buffered: Range<usize>,
        output: O,
    ) -> Self {
        let len = input.as_mut().len();
        let end = buffered.end.min(len);
        Driver {
            conn,
            input,
            in_start: buffered.start.min(end),
            in_end: end,
            output,
            out_start: 0,
            out_end: 0,
        }
    }

    /// The connection.
    pub fn connection(&self) -> &Connection<R> {
        &self.conn
    }

    /// The connection, mutably (e.g. to [`fail`](Connection::fail) it).
    pub fn connection_mut(&mut self) -> &mut Connection<R> {
        &mut self.conn
    }

    /// True while received bytes wait to be decoded; read from the
    /// transport only once this is false.
    pub fn has_input(&self) -> bool {
        self.in_start < self.in_end
    }

    /// The buffer to read new bytes into (all of it: decoded input is
    /// never kept). Call only when [`has_input`](Driver::has_input) is false.
    pub fn input_space(&mut self) -> &mut [u8] {
        if !self.has_input() {
            self.in_start = 0;
            self.in_end = 0;
        }
        let end = self.in_end;
        &mut self.input.as_mut()[end..]
    }

    /// Reports that `n` bytes were read into [`input_space`](Driver::input_space).
    pub fn input_filled(&mut self, n: usize) {
        let len = self.input.as_mut().len();
        self.in_end = self.in_end.saturating_add(n).min(len);
    }

    /// Decodes the next event from the buffered input and hands it to `f`
    /// (payloads borrowed from the input buffer, unmasked in place).
    /// `Ok(None)`: all buffered input is consumed, read more. An `Err` has
    /// failed the connection; its close frame is owed (see
    /// [`queue_owed`](Driver::queue_owed)).
    pub fn next_event<T>(
        &mut self,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Result<Option<T>, ProtocolError> {
        if !self.has_input() {
            return Ok(None);
        }
        let range = self.in_start..self.in_end;
        let got = match self.conn.receive(&mut self.input.as_mut()[range]) {
            Ok(got) => got,
            Err(e) => {
                self.in_start = self.in_end;
                return Err(e);
            }
        };
        let consumed = got.consumed;
        match got.event {
            None => {
                self.in_start = self.in_end;
                Ok(None)
            }
            Some(event) => {
                let out = f(event);
                self.in_start += consumed;
                Ok(Some(out))
            }
        }
    }

    /// Reports that the transport ended; see [`Connection::receive_eof`].
    pub fn receive_eof(&mut self) -> Result<(), ProtocolError> {
        self.conn.receive_eof()
    }

    /// The queued bytes to write to the transport.
    pub fn pending_output(&self) -> &[u8] {
        &self.output.as_ref()[self.out_start..self.out_end]
    }

    /// Reports that the first `n` bytes of [`pending_output`](Driver::pending_output)
    /// were written.
    pub fn output_written(&mut self, n: usize) {
        self.out_start = self.out_start.saturating_add(n).min(self.out_end);
        if self.out_start == self.out_end {
            self.out_start = 0;
            self.out_end = 0;
        }
    }

    /// True while queued bytes wait to be written.
    pub fn has_pending_output(&self) -> bool {
        self.out_start < self.out_end
    }

    /// Queues the frames the connection owes (pongs, close replies). Returns
    /// false if the free output space is too small for them: write some
    /// output first. 2 × [`MAX_CONTROL_FRAME_LEN`](crate::connection::MAX_CONTROL_FRAME_LEN)
    /// bytes of free space always suffice.
    pub fn queue_owed(&mut self) -> bool {
        if !self.conn.wants_transmit() {
            return true;
        }
        self.compact_output();
        let free = self.output_free_range();
        let n = self.conn.poll_transmit(&mut self.output.as_mut()[free]);
        self.out_end += n;
        !self.conn.wants_transmit()
    }

    /// Queues one whole frame behind the queued output. If it does not fit
    /// in the free space, nothing changes and the error says how many bytes
    /// the frame needs: write the queue out and try again, enlarge the
    /// buffer, or stream the frame ([`queue_frame_start`](Driver::queue_frame_start)).
    pub fn queue(&mut self, frame: Outgoing<'_>) -> Result<(), SendError> {
        self.compact_output();
        let free = self.output_free_range();
        let n = self.conn.encode(frame, &mut self.output.as_mut()[free])?;
        self.out_end += n;
        Ok(())
    }

    /// Queues the header of a data frame of `len` payload bytes whose
    /// payload follows through [`queue_payload`](Driver::queue_payload).
    pub fn queue_frame_start(
        &mut self,
        kind: DataKind,
        len: u64,
        last: bool,
    ) -> Result<(), SendError> {
        self.compact_output();
        let free = self.output_free_range();
        let n = self
            .conn
            .start_frame(kind, len, last, &mut self.output.as_mut()[free])?;
        self.out_end += n;
        Ok(())
    }

    /// Queues as much of the started frame's payload as fits; returns how
    /// many bytes of `payload` were taken.
    pub fn queue_payload(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        self.compact_output();
        let free = self.output_free_range();
        let n = self
            .conn
            .encode_payload(payload, &mut self.output.as_mut()[free])?;
        self.out_end += n;
        Ok(n)
    }

    /// End of the queued output within the output buffer: a buffer that
    /// can grow (a `Vec`) should be at least this long plus a frame.
    pub fn queued_end(&self) -> usize {
        self.out_end
    }

    /// The output buffer, e.g. to enlarge a `Vec`. Queued bytes are
    /// `[..queued_end()]`'s tail; keep them.
    pub fn output_buffer_mut(&mut self) -> &mut O {
        &mut self.output
    }

    /// The free tail of the output buffer (empty if an adapter shrank the
    /// buffer below the queue, which it must not).
    fn output_free_range(&mut self) -> Range<usize> {
        let len = self.output.as_mut().len();
        self.out_end.min(len)..len
    }

    /// Moves queued output to the front, freeing the written part.
    fn compact_output(&mut self) {
        if self.out_start > 0 {
            let (start, end) = (self.out_start, self.out_end);
            let buf = self.output.as_mut();
            if end - start <= start {
                // No overlap: a plain copy (`copy_within` would pull in a
                // 1.5 KiB `memmove` on small targets, for this call alone).
                let (front, back) = buf.split_at_mut(start);
                front[..end - start].copy_from_slice(&back[..end - start]);
            } else {
                // Overlapping: moving forward byte by byte reads each byte
                // before it is overwritten.
                for i in 0..end - start {
                    buf[i] = buf[start + i];
                }
            }
            self.out_start = 0;
            self.out_end = end - start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::MAX_CONTROL_FRAME_LEN;
    use crate::event::Event;

    fn server<const I: usize, const O: usize>() -> Driver<crate::NoRng, [u8; I], [u8; O]> {
        Driver::new(Connection::server(Config::new()), [0; I], [0; O])
    }

    fn feed<R: rand_core::Rng, I: AsMut<[u8]>, O: AsRef<[u8]> + AsMut<[u8]>>(
        d: &mut Driver<R, I, O>,
        bytes: &[u8],
    ) {
        assert!(!d.has_input());
        d.input_space()[..bytes.len()].copy_from_slice(bytes);
        d.input_filled(bytes.len());
    }

    /// Partially written output is kept, compacted, and new frames queue behind it.
    #[test]
    fn partial_writes_then_more_frames() {
        let mut d = server::<16, 16>();
        d.queue(Outgoing::Text("abcdef")).unwrap(); // 8 bytes
        d.output_written(5);
        assert_eq!(d.pending_output(), b"def");
        d.queue(Outgoing::Binary(b"0123456789")).unwrap(); // 12 bytes: fits after compaction
        assert_eq!(d.pending_output(), b"def\x82\x0a0123456789");
        assert_eq!(
            d.queue(Outgoing::Ping(b"")),
            Err(SendError::BufferTooSmall { needed: 2 })
        );
        d.output_written(15);
        assert!(!d.has_pending_output());
    }

    /// Compaction when the queued bytes overlap their destination.
    #[test]
    fn compaction_with_overlap() {
        let mut d = server::<4, 24>();
        d.queue(Outgoing::Binary(b"0123456789")).unwrap(); // 12 bytes
        d.output_written(3); // 9 left at [3..12]: overlaps [0..9]
        d.queue(Outgoing::Binary(b"abcdefghijklm")).unwrap(); // 15 bytes: needs compaction
        assert_eq!(d.pending_output(), b"123456789\x82\x0dabcdefghijklm");
    }

    /// §5.5.2: owed pongs need room; `queue_owed` says when there is none.
    #[test]
    fn owed_frames_wait_for_room() {
        let mut d = server::<64, { 2 * MAX_CONTROL_FRAME_LEN }>();
        feed(&mut d, &[0x89, 0x83, 0, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(
            d.next_event(|e| matches!(e, Event::Ping(p) if p == b"abc")),
            Ok(Some(true))
        );
        d.queue(Outgoing::Binary(&[7; 2 * MAX_CONTROL_FRAME_LEN - 6]))
            .unwrap(); // leaves 2 bytes
        assert!(!d.queue_owed(), "5 bytes of pong do not fit in 2");
        let n = d.pending_output().len();
        d.output_written(n);
        assert!(d.queue_owed());
        assert_eq!(d.pending_output(), b"\x8a\x03abc");
    }

    /// §5.2: a frame larger than the output buffer streams through it.
    #[test]
    fn streams_a_frame_larger_than_the_output_buffer() {
        let mut d = server::<8, 32>();
        let payload = [0x5a_u8; 100];
        d.queue_frame_start(DataKind::Binary, 100, true).unwrap();
        let mut wire = Vec::new();
        let mut taken = 0;
        while taken < payload.len() {
            taken += d.queue_payload(&payload[taken..]).unwrap();
            wire.extend_from_slice(d.pending_output());
            let n = d.pending_output().len();
            d.output_written(n);
        }
        assert_eq!(&wire[..2], &[0x82, 100]);
        assert_eq!(&wire[2..], &payload[..]);
    }

    /// Input that stops mid-frame is consumed; the rest may arrive later.
    #[test]
    fn input_in_pieces() {
        let mut d = server::<4, 16>();
        let frame = [0x81, 0x83, 0, 0, 0, 0, b'x', b'y', b'z'];
        let mut seen = Vec::new();
        for piece in frame.chunks(4) {
            feed(&mut d, piece);
            while let Some(()) = d
                .next_event(|e| {
                    if let Event::Data(c) = e {
                        seen.extend_from_slice(c.payload);
                    }
                })
                .unwrap()
            {}
        }
        assert_eq!(seen, b"xyz");
    }

    extern crate std;
    use std::vec::Vec;
}
