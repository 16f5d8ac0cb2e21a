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
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if data.len() >= WIDE_MIN_LEN && std::is_x86_feature_detected!("avx2") {
        avx2::apply_mask(data, key, offset);
        return;
    }
    apply_mask_portable(data, key, offset);
}

/// [`apply_mask`] in plain Rust: 8 bytes at a time, which the compiler
/// widens to the vector registers the target has for sure (SSE2 on x86_64).
#[inline(always)]
fn apply_mask_portable(data: &mut [u8], key: [u8; 4], offset: u64) {
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
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if src.len() >= WIDE_MIN_LEN && std::is_x86_feature_detected!("avx2") {
        avx2::copy_masked(dst, src, key, offset);
        return;
    }
    copy_masked_portable(dst, src, key, offset);
}

/// [`copy_masked`] in plain Rust; see [`apply_mask_portable`].
#[inline(always)]
fn copy_masked_portable(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: u64) {
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

/// Payloads shorter than this are masked by the portable code: for them the
/// feature check would cost more than wider registers save.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const WIDE_MIN_LEN: usize = 64;

/// The same loops compiled for AVX2 (32-byte registers), chosen at run time
/// with `std`'s cached CPU feature check. x86_64 guarantees only SSE2, so
/// without this the loops use 16-byte registers: masked copies of 4 KiB
/// payloads took 1.5× `memcpy`'s time, with AVX2 about 1× (`benches/core.rs`,
/// group `encode`; numbers in the README). No intrinsics: the compiler
/// vectorises the portable loops, so both paths compute the same bytes.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod avx2 {
    /// Masks in place with AVX2. The caller checked that the CPU has AVX2.
    #[inline]
    pub(super) fn apply_mask(data: &mut [u8], key: [u8; 4], offset: u64) {
        debug_assert!(std::is_x86_feature_detected!("avx2"));
        // SAFETY: `apply_mask_avx2` only requires AVX2 (it has no other
        // preconditions: safe slices in, safe code inside), and the only
        // caller, `super::apply_mask`, checked with
        // `is_x86_feature_detected!("avx2")` that this CPU supports it.
        unsafe { apply_mask_avx2(data, key, offset) }
    }

    /// Copies and masks with AVX2. The caller checked that the CPU has AVX2.
    #[inline]
    pub(super) fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: u64) {
        debug_assert!(std::is_x86_feature_detected!("avx2"));
        // SAFETY: as above: `copy_masked_avx2` only requires AVX2, which
        // `super::copy_masked` checked for before calling.
        unsafe { copy_masked_avx2(dst, src, key, offset) }
    }

    #[target_feature(enable = "avx2")]
    fn apply_mask_avx2(data: &mut [u8], key: [u8; 4], offset: u64) {
        super::apply_mask_portable(data, key, offset);
    }

    #[target_feature(enable = "avx2")]
    fn copy_masked_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: u64) {
        super::copy_masked_portable(dst, src, key, offset);
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

    /// Lengths on both sides of the wide path's threshold and of every
    /// vector width, at every alignment of the slice start.
    const LENGTHS: core::ops::Range<usize> = 0..140;
    const OFFSETS: [u64; 8] = [0, 1, 2, 3, 4, 5, u32::MAX as u64, u64::MAX - 3];

    /// §5.3: byte i uses key[i mod 4], for every length and starting offset.
    #[test]
    fn matches_bytewise_reference_for_all_lengths_and_offsets() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let start: [u8; 150] = core::array::from_fn(|i| (i as u8).wrapping_mul(7));
        for len in LENGTHS {
            for offset in OFFSETS {
                for skew in [0, 1, 7] {
                    let (mut fast, mut slow) = (start, start);
                    apply_mask(&mut fast[skew..skew + len], key, offset);
                    reference(&mut slow[skew..skew + len], key, offset);
                    assert_eq!(fast, slow, "len {len} offset {offset} skew {skew}");
                }
            }
        }
    }

    #[test]
    fn copy_masked_equals_copy_then_mask() {
        let key = [9, 8, 7, 6];
        let src: [u8; 150] = core::array::from_fn(|i| (i as u8).wrapping_mul(13));
        for len in LENGTHS {
            for offset in OFFSETS {
                let mut dst = [0u8; 150];
                copy_masked(&mut dst[3..], &src[1..1 + len], key, offset);
                let mut expected = [0u8; 150];
                expected[3..3 + len].copy_from_slice(&src[1..1 + len]);
                reference(&mut expected[3..3 + len], key, offset);
                assert_eq!(dst, expected, "len {len} offset {offset}");
            }
        }
    }

    /// The AVX2 loops against the portable ones, called directly (CI runs
    /// this under Miri with AVX2 enabled, so the unsafe call is checked).
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn avx2_path_equals_portable_path() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let src: [u8; 300] = core::array::from_fn(|i| (i as u8).wrapping_mul(31));
        for len in [64, 65, 95, 96, 97, 128, 200, 295] {
            for offset in OFFSETS {
                let (mut wide, mut narrow) = (src, src);
                avx2::apply_mask(&mut wide[1..1 + len], key, offset);
                apply_mask_portable(&mut narrow[1..1 + len], key, offset);
                assert_eq!(wide, narrow, "apply_mask len {len} offset {offset}");

                let (mut wide, mut narrow) = ([0u8; 300], [0u8; 300]);
                avx2::copy_masked(&mut wide[5..], &src[..len], key, offset);
                copy_masked_portable(&mut narrow[5..], &src[..len], key, offset);
                assert_eq!(wide, narrow, "copy_masked len {len} offset {offset}");
            }
        }
    }
}
