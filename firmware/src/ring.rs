//! A fixed-capacity byte queue: one direction of an in-memory transport.

/// A FIFO of at most `N` bytes.
pub struct Ring<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    start: usize,
    /// Bytes queued.
    len: usize,
}

impl<const N: usize> Ring<N> {
    /// An empty queue (`const`, so it can live in a static).
    pub const fn new() -> Self {
        Ring {
            buf: [0; N],
            start: 0,
            len: 0,
        }
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left, in bytes.
    pub fn free(&self) -> usize {
        N - self.len
    }

    /// Queues as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        for (i, &byte) in data[..n].iter().enumerate() {
            self.buf[(self.start + self.len + i) % N] = byte;
        }
        self.len += n;
        n
    }

    /// Takes up to `out.len()` of the oldest bytes; returns how many.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for (i, slot) in out[..n].iter_mut().enumerate() {
            *slot = self.buf[(self.start + i) % N];
        }
        self.start = (self.start + n) % N;
        self.len -= n;
        n
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}
