//! Target `inflate`: receiving permessage-deflate (RFC 7692 §7.2.2) in
//! either role, however the bytes are split.
//!
//! A connection with RSV1 negotiated hands each data chunk to
//! [`MessageAssembler::collect_inflated`] with a [`MessageInflater`] over a
//! window of 2^8 to 2^15 bytes, as the adapters do. What it receives is
//! either arbitrary bytes, or messages our [`Deflater`] compressed (any
//! window, with or without context takeover, whole or fragmented) and a
//! peer of the other role framed, with one byte perhaps flipped.
//!
//! Checks:
//! - nothing panics, and every error maps to a sendable close code;
//! - the bytes held never pass `max_message_size`, inflated or not: a
//!   bomb stops at the limit (RFC 6455 §10.4, RFC 7692 §8.1);
//! - every whole message fits the limit, and text is UTF-8;
//! - the wire split anywhere gives the same messages and the same error
//!   (where an error is about a message's content, invalid compressed
//!   data, invalid UTF-8 or too large, which of them is found first may
//!   depend on where the output was cut);
//! - messages we compressed, untouched, come out exactly as they went in,
//!   up to the first one over the limit, which fails with 1009.

use super::*;
use wsock::deflate::{CompressOptions, Deflater, Inflater, MessageInflater};
use wsock::frame::RSV1;

/// What the application got.
#[derive(Debug)]
struct Outcome {
    messages: Vec<(DataKind, Vec<u8>)>,
    error: Option<ProtocolError>,
}

/// The receiving end's settings.
#[derive(Debug, Clone, Copy)]
struct Settings {
    role: Role,
    max_message: u64,
    window_bits: u8,
    no_context_takeover: bool,
}

/// Receives `chunks` one after the other, inflating as an adapter does.
fn receive(s: Settings, chunks: &[&[u8]]) -> Outcome {
    let config = Config::new()
        .max_message_size(s.max_message)
        .max_frame_size(u64::MAX)
        .extension_rsv(RSV1);
    let mut conn = Connection::new(s.role, config, TestRng(1));
    let window = vec![0u8; 1 << s.window_bits];
    let inflater = Inflater::new(window, s.no_context_takeover).expect("a window of 2^8..2^15");
    let mut inflater = MessageInflater::new(inflater);
    let mut assembler = MessageAssembler::new(Vec::new());
    let mut out = Outcome {
        messages: Vec::new(),
        error: None,
    };
    for chunk in chunks {
        if out.error.is_some() {
            // The adapter fails the connection and reads no more.
            break;
        }
        let mut buf = chunk.to_vec();
        let (rx, _, shared) = conn.parts_mut();
        receive_loop(rx, shared, &mut buf, |got, _| {
            if out.error.is_some() {
                return;
            }
            let event = match got {
                Err(e) => {
                    out.error = Some(e);
                    return;
                }
                Ok(event) => event,
            };
            let Event::Data(chunk) = event else {
                return;
            };
            match assembler.collect_inflated(chunk, &mut inflater, s.max_message) {
                Ok(Some(kind)) => {
                    let bytes = std::mem::take(assembler.buffer_mut());
                    assert!(bytes.len() as u64 <= s.max_message, "message over limit");
                    if kind == DataKind::Text {
                        assert!(
                            std::str::from_utf8(&bytes).is_ok(),
                            "invalid text delivered"
                        );
                    }
                    out.messages.push((kind, bytes));
                }
                Ok(None) => {}
                Err(e) => {
                    check_error_code(e);
                    out.error = Some(e);
                }
            }
            let held = assembler.buffer_mut().len() as u64;
            assert!(
                held <= s.max_message,
                "{held} bytes held, limit {}",
                s.max_message
            );
        });
    }
    out
}

/// Errors about a message's content, any of which may be found first.
fn content_error(e: Option<ProtocolError>) -> bool {
    matches!(
        e,
        Some(
            ProtocolError::InvalidCompressedData
                | ProtocolError::InvalidUtf8
                | ProtocolError::MessageTooLarge { .. }
        )
    )
}

/// Compresses and frames `r`'s messages as the peer of `s.role` would;
/// returns the wire and the messages sent.
fn compressed_wire(
    r: &mut Reader<'_>,
    s: Settings,
    seed: u64,
) -> (Vec<u8>, Vec<(DataKind, Vec<u8>)>) {
    let options = CompressOptions {
        level: r.u8() % 10,
        mem_level: 1 + r.u8() % 9,
    };
    // The sender keeps to the receiver's window or a smaller one.
    let sender_bits = 8 + r.u8() % (s.window_bits - 7);
    let sender_no_context = s.no_context_takeover || r.bool();
    let mut deflater = Deflater::new(options, sender_bits, sender_no_context);
    let config = Config::new().extension_rsv(RSV1);
    let mut tx = Connection::new(opposite(s.role), config, TestRng(seed));
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    // Up to 8 messages, one of 64 KiB or more at most (time per input).
    let mut total = 0;
    for _ in 0..8 {
        if r.is_empty() || total > 0x1_0000 {
            break;
        }
        let kind = if r.bool() {
            DataKind::Text
        } else {
            DataKind::Binary
        };
        let payload = read_payload(r, kind);
        total += payload.len();
        // Fragment boundaries anywhere, even inside a code point.
        let nfrag = 1 + usize::from(r.u8() % 4);
        let mut cuts: Vec<usize> = (1..nfrag)
            .map(|_| usize::from(r.u16()) % (payload.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        tx.set_next_message_rsv(RSV1);
        let mut from = 0;
        for (i, &cut) in cuts.iter().enumerate() {
            let last = i + 1 == cuts.len();
            let mut compressed = Vec::new();
            deflater.compress(&payload[from..cut], last, &mut compressed);
            let mut out = vec![0u8; compressed.len() + 14];
            let n = tx
                .encode(
                    Outgoing::Fragment {
                        kind,
                        payload: &compressed,
                        last,
                    },
                    &mut out,
                )
                .expect("encode a compressed fragment");
            wire.extend_from_slice(&out[..n]);
            from = cut;
        }
        sent.push((kind, payload));
    }
    (wire, sent)
}

/// Input: settings, then either arbitrary wire bytes or messages to
/// compress; a byte to flip; cuts.
pub fn inflate(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let s = Settings {
        role: read_role(&mut r),
        max_message: match r.u8() % 4 {
            0 => 1 << 20,
            _ => u64::from(r.u16() % 8192),
        },
        window_bits: 8 + r.u8() % 8,
        no_context_takeover: flags & 1 != 0,
    };
    let ncuts = usize::from(r.u8() % 9);
    let cuts = read_cuts(&mut r, ncuts);
    let flip = (flags & 2 != 0).then(|| (r.u16(), r.u8() | 1));
    let (mut wire, sent) = if flags & 4 != 0 {
        (r.rest().to_vec(), None)
    } else {
        let seed = u64::from(r.u16());
        let (wire, sent) = compressed_wire(&mut r, s, seed);
        (wire, Some(sent))
    };
    if let Some((at, bits)) = flip
        && !wire.is_empty()
    {
        let at = usize::from(at) % wire.len();
        wire[at] ^= bits;
    }

    let whole = receive(s, &[&wire]);
    let split_feed = receive(s, &split(&wire, &cuts));
    let same_error = whole.error == split_feed.error
        || (content_error(whole.error) && content_error(split_feed.error));
    assert!(
        same_error,
        "errors differ: whole {:?}, split {:?}",
        whole.error, split_feed.error
    );
    assert_eq!(whole.messages, split_feed.messages, "messages differ");

    let (Some(sent), None) = (sent, flip) else {
        return;
    };
    // Untouched, our messages come through up to the first over the limit.
    let fit = sent
        .iter()
        .take_while(|(_, p)| p.len() as u64 <= s.max_message)
        .count();
    assert_eq!(
        whole.messages,
        sent[..fit],
        "our compressed messages changed"
    );
    if fit < sent.len() {
        assert!(
            matches!(whole.error, Some(ProtocolError::MessageTooLarge { .. })),
            "a message over the limit gave {:?}",
            whole.error
        );
    } else {
        assert_eq!(whole.error, None, "our compressed messages were refused");
    }
}
