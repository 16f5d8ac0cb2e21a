//! Spare buffers, per thread: a connection holds its read buffer and its
//! write queue only while it has work. When its stream has nothing to read
//! they come back here, and the next connection that wakes on this thread
//! takes them: no allocation and no zeroing per wakeup, and an idle
//! connection holds no buffer.
//!
//! A thread keeps at most [`KEEP`] buffers and [`KEEP_BYTES`] bytes of
//! them; others are freed. (A task holds buffers only while it is polled,
//! or while a write waits, so a few spares serve all of a thread's
//! connections.)

use core::cell::RefCell;
use std::vec::Vec;

/// Buffers a thread keeps.
const KEEP: usize = 16;

/// Bytes a thread keeps, all spare buffers together.
const KEEP_BYTES: usize = 256 * 1024;

/// A thread's spare buffers and their total capacity.
struct Spare {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

std::thread_local! {
    static SPARE: RefCell<Spare> = const {
        RefCell::new(Spare { buffers: Vec::new(), bytes: 0 })
    };
}

/// A spare buffer, if the thread has one.
fn pop() -> Option<Vec<u8>> {
    SPARE
        .try_with(|spare| {
            let mut spare = spare.borrow_mut();
            let buf = spare.buffers.pop()?;
            spare.bytes -= buf.capacity();
            Some(buf)
        })
        .ok()
        .flatten()
}

/// A buffer of at least `len` bytes whose contents are whatever they were:
/// for a read buffer, which only the bytes a read fills are taken from.
pub(super) fn take(len: usize) -> Vec<u8> {
    let mut buf = pop().unwrap_or_default();
    // A longer spare stays as long: its bytes are initialized already, and
    // zeroing them again on every wakeup costs more than the memory.
    if buf.len() < len {
        buf.resize(len, 0);
    }
    buf
}

/// A buffer for a write queue whose length is what it holds: any spare
/// one, emptied (its capacity is what counts), or a new empty one.
pub(super) fn take_queue() -> Vec<u8> {
    let mut buf = pop().unwrap_or_default();
    buf.clear();
    buf
}

/// A buffer for the driver's write queue, whose length is room to encode
/// into: any spare one as it is (its bytes are initialized already, so the
/// queue grows into them without zeroing them again), or a new empty one.
pub(super) fn take_room() -> Vec<u8> {
    pop().unwrap_or_default()
}
/// Gives `buf` back (it is freed if the thread keeps enough already);
/// leaves an empty `Vec` in its place.
pub(super) fn give(buf: &mut Vec<u8>) {
    let buf = core::mem::take(buf);
    if buf.capacity() == 0 {
        return;
    }
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.buffers.len() < KEEP && spare.bytes + buf.capacity() <= KEEP_BYTES {
            spare.bytes += buf.capacity();
            spare.buffers.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn buffers_are_reused_and_bounded() {
        let mut a = take(4096);
        assert_eq!(a.len(), 4096);
        a[0] = 7;
        let ptr = a.as_ptr();
        give(&mut a);
        assert!(a.is_empty() && a.capacity() == 0);
        let mut b = take(4096);
        assert_eq!(b.as_ptr(), ptr, "the spare buffer is taken again");
        give(&mut b);
        let mut big = vec![0u8; KEEP_BYTES];
        give(&mut big);
        assert_ne!(
            take(16).capacity(),
            KEEP_BYTES,
            "too big to keep beside the other"
        );
        for _ in 0..2 * KEEP {
            give(&mut vec![0u8; 64]);
        }
        assert_eq!(SPARE.with(|s| s.borrow().buffers.len()), KEEP);
        let queue = take_queue();
        assert!(queue.is_empty() && queue.capacity() >= 64);
        give(&mut vec![7u8; 64]);
        assert_eq!(take_room().len(), 64, "room is kept as it is");
        give(&mut vec![7u8; 64]);
        assert_eq!(take(16).len(), 64, "a longer read buffer is not cut");
        while pop().is_some() {}
        for _ in 0..8 {
            give(&mut vec![0u8; KEEP_BYTES / 4]);
        }
        let spare = SPARE.with(|s| (s.borrow().buffers.len(), s.borrow().bytes));
        assert_eq!(spare, (4, KEEP_BYTES), "bounded in bytes");
    }
}
