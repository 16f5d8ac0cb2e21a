//! Incremental, fail-fast UTF-8 validation (RFC 6455 §8.1, RFC 3629).
//!
//! Text messages arrive in chunks and fragments that may split a code point
//! anywhere. [`Utf8Validator`] keeps the (at most three) bytes of an unfinished
//! code point between chunks and rejects input at the first byte that can no
//! longer start or continue valid UTF-8, not at the end of the message: `F4 90`
//! fails at `90`, because no code point above U+10FFFF exists.

/// The input is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

impl core::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl core::error::Error for Utf8Error {}

/// Validates a byte stream as UTF-8, chunk by chunk.
///
/// ```
/// use wsock::utf8::Utf8Validator;
///
/// let mut v = Utf8Validator::new();
/// // "é" is C3 A9; the chunk boundary falls inside it.
/// v.feed(b"caf\xC3").unwrap();
/// v.feed(b"\xA9").unwrap();
/// v.finish().unwrap();
///
/// // Fails fast: ED A0 can never begin a valid code point (it would be a surrogate).
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(b"ok \xED\xA0").is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Bytes of an unfinished code point carried from the previous chunk.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub const fn new() -> Self {
        Utf8Validator {
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Validates the next chunk. Fails as soon as the bytes seen so far cannot
    /// be a prefix of valid UTF-8.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.pending_len > 0 {
            input = self.finish_pending(input)?;
            if self.pending_len > 0 {
                // The input ran out inside the carried code point.
                return Ok(());
            }
        }
        match validate(input) {
            Ok(()) => Ok(()),
            // `error_len() == None`: the input ends inside a code point whose
            // bytes so far are valid; keep them for the next chunk.
            Err(e) if e.error_len().is_none() => {
                let tail = &input[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Ends the stream: fails if it stopped inside a code point.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.pending_len == 0;
        self.reset();
        if complete { Ok(()) } else { Err(Utf8Error) }
    }

    /// Forgets any carried bytes, ready for a new stream.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }

    /// True when the stream so far ends on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// Completes the carried code point from the front of `input`; returns the
    /// rest of `input`.
    fn finish_pending<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let have = usize::from(self.pending_len);
        // Only a valid lead byte is ever carried, so its width is 2..=4.
        let width = match self.pending[0] {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let take = (width - have).min(input.len());
        let mut buf = self.pending;
        buf[have..have + take].copy_from_slice(&input[..take]);
        match validate(&buf[..have + take]) {
            Ok(()) => {
                self.pending_len = 0;
                Ok(&input[take..])
            }
            Err(e) if e.error_len().is_none() => {
                self.pending = buf;
                self.pending_len = (have + take) as u8;
                Ok(&input[take..])
            }
            Err(_) => Err(Utf8Error),
        }
    }
}

/// Checks `bytes` with SIMD where the CPU has it (`simdutf8`'s `compat`
/// flavour, which reports the same position and kind of error as
/// `core::str::from_utf8`, so failing fast is unchanged).
#[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))]
#[inline]
pub(crate) fn validate(bytes: &[u8]) -> Result<(), simdutf8::compat::Utf8Error> {
    simdutf8::compat::from_utf8(bytes).map(|_| ())
}

/// Checks `bytes` (targets without SIMD: core's validator).
#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
#[inline]
pub(crate) fn validate(bytes: &[u8]) -> Result<(), core::str::Utf8Error> {
    core::str::from_utf8(bytes).map(|_| ())
}

/// Checks that `bytes` are UTF-8 and returns them as text.
#[inline]
pub(crate) fn as_str(bytes: &[u8]) -> Option<&str> {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))]
    return simdutf8::basic::from_utf8(bytes).ok();
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
    return core::str::from_utf8(bytes).ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_everywhere(bytes: &[u8]) -> Option<bool> {
        let expected = core::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let ok = v.feed(&bytes[..cut]).is_ok()
                && v.feed(&bytes[cut..]).is_ok()
                && v.finish().is_ok();
            if ok != expected {
                return None;
            }
        }
        Some(expected)
    }

    /// RFC 3629 §4: well-formed sequences, including 4-byte ones, across every split.
    #[test]
    fn accepts_valid_text_at_every_split() {
        for s in [
            "",
            "a",
            "κόσμε",
            "€",
            "𝄞 music",
            "\u{10FFFF}",
            "\u{FFFF}",
            "mixed ascii ñ 中文 😀",
        ] {
            assert_eq!(split_everywhere(s.as_bytes()), Some(true), "{s:?}");
        }
    }

    /// RFC 3629 §4: surrogates, overlongs, > U+10FFFF and stray continuations are invalid.
    #[test]
    fn rejects_invalid_text_at_every_split() {
        let cases: &[&[u8]] = &[
            b"\xED\xA0\x80",     // surrogate U+D800
            b"\xC0\xAF",         // overlong '/'
            b"\xE0\x80\xAF",     // overlong
            b"\xF4\x90\x80\x80", // U+110000
            b"\x80",             // lone continuation
            b"\xF8\x88\x80\x80\x80",
            b"abc\xC3", // truncated at end
            b"\xFF",
        ];
        for bytes in cases {
            assert_eq!(split_everywhere(bytes), Some(false), "{bytes:x?}");
        }
    }

    /// RFC 6455 §8.1 with fail-fast: the error comes at the first impossible byte.
    #[test]
    fn fails_at_first_impossible_byte() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xF4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));

        let mut v = Utf8Validator::new();
        v.feed(b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")
            .unwrap();
        assert_eq!(v.feed(b"\xF4\x90\x80\x80"), Err(Utf8Error));

        // A byte-at-a-time feed fails on the second byte of ED A0.
        let mut v = Utf8Validator::new();
        v.feed(b"\xED").unwrap();
        assert_eq!(v.feed(b"\xA0"), Err(Utf8Error));
    }

    #[test]
    fn incomplete_stream_is_not_complete_until_finished() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xF0\x9F").unwrap();
        assert!(!v.is_complete());
        v.feed(b"\x98").unwrap();
        v.feed(b"\x80").unwrap();
        assert!(v.is_complete());
        assert_eq!(v.finish(), Ok(()));
    }
}
