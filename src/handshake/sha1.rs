//! SHA-1 in few bytes of code, for the accept key (§4.2.2) on targets without
//! SHA instructions (microcontrollers).
//!
//! The `sha1` crate's portable code unrolls all 80 rounds: about 2.9 KiB of
//! flash and 0.4 KiB of stack on a Cortex-M3. This one runs the rounds as a
//! loop, with the message schedule kept in the block's 16 words: a few
//! hundred bytes of code and 84 bytes of state (5 words, the block). Hashing
//! a handshake key (two blocks) takes microseconds either way. x86 and
//! aarch64 keep the `sha1` crate, which uses the CPU's SHA instructions where
//! there are any.

/// SHA-1 of the concatenation of `parts`.
pub(crate) fn digest(parts: &[&[u8]]) -> [u8; 20] {
    let mut state: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    // The block, as big-endian words: `compress` turns it into the message
    // schedule in place, so there is no second 64-byte array.
    let mut block = [0u32; 16];
    let mut fill = 0;
    let mut len: u64 = 0;
    for part in parts {
        for &byte in *part {
            put(&mut block, fill, byte);
            fill += 1;
            if fill == 64 {
                compress(&mut state, &mut block);
                fill = 0;
            }
        }
        len = len.wrapping_add(part.len() as u64);
    }
    // Padding: 0x80, zeros, the length in bits (big-endian) in the last 8 bytes.
    put(&mut block, fill, 0x80);
    for word in block.iter_mut().skip(fill / 4 + 1) {
        *word = 0;
    }
    if fill >= 56 {
        compress(&mut state, &mut block);
        block = [0; 16];
    }
    let bits = len.wrapping_mul(8);
    block[14] = (bits >> 32) as u32;
    block[15] = bits as u32;
    compress(&mut state, &mut block);
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Puts byte number `at` (below 64) into the block; a word's first byte
/// clears the rest of it (the word may hold an earlier block's schedule).
fn put(block: &mut [u32; 16], at: usize, byte: u8) {
    let word = &mut block[(at / 4) % 16];
    let shift = 24 - 8 * (at % 4);
    if shift == 24 {
        *word = 0;
    }
    *word |= u32::from(byte) << shift;
}

/// One block (16 big-endian words) into the state (FIPS 180-4 §6.1.2), the
/// message schedule kept in the block's 16 words (§6.1.3), which it overwrites.
fn compress(state: &mut [u32; 5], w: &mut [u32; 16]) {
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for i in 0..80 {
        if i >= 16 {
            let x = w[(i + 13) & 15] ^ w[(i + 8) & 15] ^ w[(i + 2) & 15] ^ w[i & 15];
            w[i & 15] = x.rotate_left(1);
        }
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5A82_7999),
            1 => (b ^ c ^ d, 0x6ED9_EBA1),
            2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(w[i & 15]);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::digest;
    use sha1::Digest;

    #[test]
    fn known_answers() {
        // FIPS 180 examples.
        assert_eq!(
            digest(&[b"abc"]),
            *b"\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c\x9c\xd0\xd8\x9d"
        );
        assert_eq!(
            digest(&[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"]),
            *b"\x84\x98\x3e\x44\x1c\x3b\xd2\x6e\xba\xae\x4a\xa1\xf9\x51\x29\xe5\xe5\x46\x70\xf1"
        );
    }

    #[test]
    fn same_as_the_sha1_crate_for_every_length_and_split() {
        let mut data = [0u8; 300];
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = (i * 7 + 3) as u8;
        }
        for n in 0..data.len() {
            let expected: [u8; 20] = sha1::Sha1::digest(&data[..n]).into();
            assert_eq!(digest(&[&data[..n]]), expected, "length {n}");
            let cut = n / 3;
            assert_eq!(
                digest(&[&data[..cut], &data[cut..n]]),
                expected,
                "length {n} cut {cut}"
            );
        }
    }
}
