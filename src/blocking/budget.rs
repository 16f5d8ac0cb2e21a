//! A memory budget shared by connections for reassembling whole messages.
//!
//! `max_message_size` bounds one message; a [`Budget`] bounds them all: the
//! connections given one take from it as their message buffers grow and
//! give back when the memory is freed, and a message that would take more
//! than is left fails its connection with 1013 (Try Again Later) instead of
//! allocating. So a server's worst case for whole messages is the budget,
//! not connections × `max_message_size`.

use crate::message::{CapacityExceeded, MessageBuffer};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::vec::Vec;

/// Bytes of message memory shared by the connections given a clone of it
/// ([`WebSocket::set_budget`](super::WebSocket::set_budget), and the same
/// for the tokio adapter and both adapters' read halves).
///
/// What counts: the capacity of the buffer a whole-message read
/// (`read`, `incoming`, the tokio `Stream`) assembles a text or binary
/// message in, from its first byte; and the last message such a read
/// returned, until the connection's next whole-message read begins (by
/// then an echo server has written it; on the tokio adapter, until the
/// message fed back to the same connection is written out). A message the
/// application keeps longer is no longer counted; chunked reads
/// (`read_event_with`) and control frames take nothing. Dropping the
/// connection gives back everything it holds.
///
/// A buffer grows by moving to a bigger one (doubling, else a quarter more,
/// else just enough), and for that moment both are allocated: both are
/// counted, so the budget bounds the heap at every instant. So one message
/// can grow to about half the budget; give a server at least twice its
/// `max_message_size`.
///
/// A message that would go over the budget fails its connection with close
/// code 1013 ([`ProtocolError::OverBudget`](crate::ProtocolError::OverBudget));
/// one over `max_message_size` still fails with 1009, before any of it is
/// read.
///
/// ```
/// use wsock::blocking::Budget;
///
/// // 256 MiB for all the server's messages together.
/// let budget = Budget::new(256 << 20);
/// let for_a_connection = budget.clone(); // cheap: one shared counter
/// assert_eq!(for_a_connection.available(), 256 << 20);
/// // A server gives each accepted connection a clone:
/// // ws.set_budget(budget.clone());
/// ```
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `bytes`, none of it taken.
    pub fn new(bytes: usize) -> Self {
        Budget {
            inner: Arc::new(Inner {
                limit: bytes,
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// The bytes it was created with.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// The bytes taken now, by all connections.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// The bytes left.
    pub fn available(&self) -> usize {
        self.limit().saturating_sub(self.used())
    }

    /// Takes `n` bytes if that many are left.
    fn try_take(&self, n: usize) -> bool {
        let limit = self.inner.limit;
        self.inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|&after| after <= limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes even if fewer are left (memory already allocated).
    fn take(&self, n: usize) {
        self.inner.used.fetch_add(n, Ordering::Relaxed);
    }

    /// Gives `n` taken bytes back.
    fn give(&self, n: usize) {
        self.inner.used.fetch_sub(n, Ordering::Relaxed);
    }
}

impl core::fmt::Debug for Budget {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit())
            .field("used", &self.used())
            .finish()
    }
}

/// The std adapters' message buffer: a `Vec` whose capacity is taken from
/// a [`Budget`], when the connection has one.
#[derive(Debug, Default)]
pub(crate) struct MessageVec {
    bytes: Vec<u8>,
    budget: Option<Budget>,
    /// Budget taken for `bytes` (its capacity, when there is a budget).
    held: usize,
    /// Budget taken for the last message handed out by [`take`](MessageVec::take).
    lent: usize,
}

impl MessageVec {
    /// Moves what this buffer holds to `budget` (or to none).
    pub(crate) fn set_budget(&mut self, budget: Option<Budget>) {
        self.release_lent();
        if let Some(old) = &self.budget {
            old.give(self.held);
        }
        self.held = 0;
        if let Some(new) = &budget {
            self.held = self.bytes.capacity();
            new.take(self.held);
        }
        self.budget = budget;
    }

    /// The budget, if there is one.
    pub(crate) fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// Makes room for `additional` bytes behind the collected ones: the
    /// capacity doubles as a `Vec`'s does, or grows by a quarter, or just
    /// enough, when the budget has no room for more.
    pub(crate) fn try_reserve(&mut self, additional: usize) -> Result<(), CapacityExceeded> {
        let len = self.bytes.len();
        let need = len.checked_add(additional).ok_or(CapacityExceeded::Full)?;
        let cap = self.bytes.capacity();
        if need <= cap {
            return Ok(());
        }
        let Some(budget) = &self.budget else {
            return self
                .bytes
                .try_reserve(additional)
                .map_err(|_| CapacityExceeded::Full);
        };
        // Doubling, else a quarter more (still few copies as a message
        // grows), else just enough. While the buffer moves, the old and the
        // new one are both allocated: the new one is taken whole before the
        // old one is given back, so the budget bounds that moment too.
        let doubled = cap.saturating_mul(2).max(need);
        let quarter = cap.saturating_add(cap / 4).max(need);
        let Some(target) = [doubled, quarter, need]
            .into_iter()
            .find(|&target| budget.try_take(target))
        else {
            return Err(CapacityExceeded::OverBudget {
                available: budget.available() as u64,
            });
        };
        let grown = self.bytes.try_reserve_exact(target - len);
        budget.give(self.held);
        self.held = target;
        if grown.is_err() {
            self.settle();
            return Err(CapacityExceeded::Full);
        }
        // The allocator may give more than asked for: that counts too.
        self.settle();
        Ok(())
    }

    /// Takes (or gives back) the difference between the capacity and what
    /// is held for it, after the `Vec` was changed directly.
    pub(crate) fn settle(&mut self) {
        if let Some(budget) = &self.budget {
            let cap = self.bytes.capacity();
            if cap > self.held {
                budget.take(cap - self.held);
            } else {
                budget.give(self.held - cap);
            }
            self.held = cap;
        }
    }

    /// The `Vec`, to read into its spare capacity after a
    /// [`try_reserve`](MessageVec::try_reserve); call
    /// [`settle`](MessageVec::settle) after anything that may have grown it.
    #[cfg(feature = "tokio")]
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Takes the collected message out; what it holds of the budget stays
    /// taken until [`release_lent`](MessageVec::release_lent).
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.lent += self.held;
        self.held = 0;
        core::mem::take(&mut self.bytes)
    }

    /// Gives back what the last message taken out held: called when the
    /// next read begins.
    pub(crate) fn release_lent(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give(self.lent);
        }
        self.lent = 0;
    }
}

impl MessageBuffer for MessageVec {
    /// Frees the memory too: a message is cleared when the next one begins
    /// (after [`take`](MessageVec::take) the buffer is empty anyway) or
    /// when it failed, and then its bytes are of no more use.
    fn clear(&mut self) {
        self.bytes = Vec::new();
        self.settle();
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), CapacityExceeded> {
        self.try_reserve(data.len())?;
        self.bytes.extend_from_slice(data);
        Ok(())
    }
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn capacity_limit(&self) -> u64 {
        u64::MAX
    }
}

impl Drop for MessageVec {
    fn drop(&mut self) {
        self.release_lent();
        self.bytes = Vec::new();
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_taken_as_it_grows_and_given_back() {
        let budget = Budget::new(1000);
        let mut m = MessageVec::default();
        m.set_budget(Some(budget.clone()));
        m.try_extend(&[1; 100]).unwrap();
        assert_eq!(budget.used(), m.bytes.capacity());
        m.try_extend(&[2; 100]).unwrap();
        assert_eq!(budget.used(), m.bytes.capacity());
        assert!(budget.used() >= 200);
        // Handed out: still counted until the next read begins.
        let message = m.take();
        assert_eq!(message.len(), 200);
        assert_eq!(budget.used(), message.capacity());
        m.release_lent();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn growth_takes_the_old_and_new_buffer_and_then_over_budget() {
        let budget = Budget::new(850);
        let mut m = MessageVec::default();
        m.set_budget(Some(budget.clone()));
        m.try_extend(&[0; 400]).unwrap();
        assert_eq!(budget.used(), 400);
        // Growing, the old 400 and the new buffer exist at once: doubling
        // (400 + 800) and a quarter more (400 + 500) do not fit in 850,
        // just enough (400 + 410) does.
        m.try_extend(&[0; 10]).unwrap();
        assert_eq!(budget.used(), 410);
        // 410 + 460 > 850: the budget refuses, and nothing changed.
        assert_eq!(
            m.try_extend(&[0; 50]),
            Err(CapacityExceeded::OverBudget { available: 440 })
        );
        assert_eq!(budget.used(), 410);
        assert_eq!(m.bytes().len(), 410);
        // A failed message is cleared, and its memory given back.
        m.clear();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_quarter_more_when_doubling_does_not_fit() {
        let budget = Budget::new(1000);
        let mut m = MessageVec::default();
        m.set_budget(Some(budget.clone()));
        m.try_extend(&[0; 400]).unwrap();
        // 400 + 800 > 1000; 400 + 500 fits.
        m.try_extend(&[0; 1]).unwrap();
        assert_eq!(budget.used(), 500);
    }

    #[test]
    fn two_buffers_share_one_budget_and_drop_gives_back() {
        let budget = Budget::new(300);
        let mut a = MessageVec::default();
        let mut b = MessageVec::default();
        a.set_budget(Some(budget.clone()));
        b.set_budget(Some(budget.clone()));
        a.try_extend(&[0; 200]).unwrap();
        assert!(matches!(
            b.try_extend(&[0; 200]),
            Err(CapacityExceeded::OverBudget { .. })
        ));
        drop(a);
        b.try_extend(&[0; 200]).unwrap();
        let _ = b.take();
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn without_a_budget_it_is_a_vec() {
        let mut m = MessageVec::default();
        m.try_extend(b"abc").unwrap();
        assert_eq!(m.bytes(), b"abc");
        assert_eq!(m.take(), b"abc");
    }
}
