//! Payload masking (RFC 6455 §5.3).
//!
//! A masked payload is XORed byte-wise with a 4-byte key, where byte `i` of
//! the payload uses `key[i % 4]`. Because a payload may arrive or be written
//! in chunks, every function here takes the position of the chunk's first
//! byte within the payload (`offset`) and masking a payload in pieces gives
//! the same bytes as masking it whole. Masking is its own inverse.

/// XORs `data` in place with `key`, as if `data` started `offset` bytes into
/// the payload. Returns nothing: the caller advances its own offset by
/// `data.len()`.
///
/// ```
/// let key = [1, 2, 3, 4];
/// let mut whole = *b"Hello, WebSocket";
/// wsock::mask::apply_mask(&mut whole, key, 0);
///
/// // The same payload masked in two chunks gives the same bytes.
/// let mut split = *b"Hello, WebSocket";
/// let (a, b) = split.split_at_mut(5);
/// wsock::mask::apply_mask(a, key, 0);
/// wsock::mask::apply_mask(b, key, 5);
/// assert_eq!(whole, split);
///
/// // Masking twice restores the input.
/// wsock::mask::apply_mask(&mut whole, key, 0);
/// assert_eq!(&whole, b"Hello, WebSocket");
/// ```
#[inline]
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: u64) {
    let (key_word, tail_key) = key_words(key, offset);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        // `chunks_exact_mut(8)` yields 8-byte slices, so the conversion cannot fail.
        let bytes: &mut [u8; 8] = chunk.try_into().expect("chunk of 8 bytes");
        *bytes = (u64::from_ne_bytes(*bytes) ^ key_word).to_ne_bytes();
    }
    // The tail starts at a multiple of 8 (hence of 4), so the rotated key lines up.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= tail_key[i & 3];
    }
}

/// Copies `src` into `dst[..src.len()]`, masking on the way (one pass), as if
/// `src` started `offset` bytes into the payload.
///
/// # Panics
/// Panics if `dst` is shorter than `src`; callers inside the crate size
/// `dst` from `src` first.
#[inline]
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: u64) {
    let dst = &mut dst[..src.len()];
    let (key_word, tail_key) = key_words(key, offset);
    let mut out = dst.chunks_exact_mut(8);
    let mut inp = src.chunks_exact(8);
    for (o, i) in (&mut out).zip(&mut inp) {
        // Both iterators yield 8-byte slices, so the conversions cannot fail.
        let word = u64::from_ne_bytes(i.try_into().expect("chunk of 8 bytes")) ^ key_word;
        o.copy_from_slice(&word.to_ne_bytes());
    }
    for (k, (o, i)) in out
        .into_remainder()
        .iter_mut()
        .zip(inp.remainder())
        .enumerate()
    {
        *o = i ^ tail_key[k & 3];
    }
}

/// The key as a 64-bit word and as 4 bytes, rotated so that their first
/// byte masks the payload byte at `offset`. As a native-endian word,
/// "rotate the bytes left by k" is a rotate right by 8k bits on
/// little-endian machines and a rotate left on big-endian ones.
#[inline]
fn key_words(key: [u8; 4], offset: u64) -> (u64, [u8; 4]) {
    let shift = 8 * (offset % 4) as u32;
    let word = u32::from_ne_bytes(key);
    let rotated = if cfg!(target_endian = "little") {
        word.rotate_right(shift)
    } else {
        word.rotate_left(shift)
    };
    (
        u64::from(rotated) | (u64::from(rotated) << 32),
        rotated.to_ne_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(data: &mut [u8], key: [u8; 4], offset: u64) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[(offset.wrapping_add(i as u64) % 4) as usize];
        }
    }

    /// RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
    #[test]
    fn rfc_example_masked_hello() {
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    /// §5.3: byte i uses key[i mod 4], for every length and starting offset.
    #[test]
    fn matches_bytewise_reference_for_all_lengths_and_offsets() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..40 {
            for offset in [0u64, 1, 2, 3, 4, 5, u64::from(u32::MAX), u64::MAX - 3] {
                let mut fast: [u8; 40] = core::array::from_fn(|i| (i as u8).wrapping_mul(7));
                let mut slow = fast;
                apply_mask(&mut fast[..len], key, offset);
                reference(&mut slow[..len], key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn copy_masked_equals_copy_then_mask() {
        let key = [9, 8, 7, 6];
        let src: [u8; 23] = core::array::from_fn(|i| i as u8);
        let mut dst = [0u8; 30];
        copy_masked(&mut dst, &src, key, 3);
        let mut expected = src;
        reference(&mut expected, key, 3);
        assert_eq!(&dst[..23], &expected);
        assert_eq!(&dst[23..], &[0; 7]);
    }
}
