//! A bounded writer into a caller's byte buffer, for handshake messages.

use super::HandshakeError;

/// Appends to a fixed buffer; any write that does not fit fails the whole
/// message with [`HandshakeError::BufferTooSmall`].
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<&mut Self, HandshakeError> {
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(HandshakeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(self)
    }

    pub(crate) fn put_str(&mut self, s: &str) -> Result<&mut Self, HandshakeError> {
        self.put(s.as_bytes())
    }

    /// Writes a decimal number.
    pub(crate) fn put_u16(&mut self, mut n: u16) -> Result<&mut Self, HandshakeError> {
        let mut digits = [0u8; 5];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[at..])
    }

    /// Writes `name: value\r\n`.
    pub(crate) fn header(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, HandshakeError> {
        self.put_str(name)?.put(b": ")?.put(value)?.put(b"\r\n")
    }

    pub(crate) fn finish(&self) -> usize {
        self.len
    }
}
