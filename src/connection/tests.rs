//! Unit tests for the connection state machine, each citing the RFC 6455 rule.

use super::*;
use crate::close::CloseCode;
use crate::error::SendError;
use crate::event::{Event, Outgoing};
use crate::frame::{FrameHeader, HeaderParse, OpCode, RSV1};
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

/// A deterministic stand-in for a CSPRNG (tests only).
#[derive(Debug, Clone)]
pub(crate) struct TestRng(u32);

impl rand_core::TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        Ok(self.0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from(self.try_next_u32()?) << 32 | u64::from(self.try_next_u32()?))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u32()? as u8;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for TestRng {}

fn client() -> Connection<TestRng> {
    Connection::client(Config::new(), TestRng(1))
}

/// An owned copy of an event, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(DataKind, Vec<u8>, bool, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(ProtocolError),
}

/// Feeds `input` in chunks of `step` bytes and collects every event.
fn feed<R: rand_core::Rng>(conn: &mut Connection<R>, input: &[u8], step: usize) -> Vec<Ev> {
    let mut events = Vec::new();
    for piece in input.chunks(step.max(1)) {
        let mut buf = piece.to_vec();
        let mut at = 0;
        loop {
            match conn.receive(&mut buf[at..]) {
                Err(e) => {
                    events.push(Ev::Error(e));
                    return events;
                }
                Ok(got) => {
                    let done = got.event.is_none();
                    if let Some(ev) = got.event {
                        events.push(match ev {
                            Event::Data(c) => Ev::Data(c.kind, c.payload.to_vec(), c.first, c.last),
                            Event::Ping(p) => Ev::Ping(p.to_vec()),
                            Event::Pong(p) => Ev::Pong(p.to_vec()),
                            Event::Close(c) => {
                                Ev::Close(c.map(|c| (c.code.0, c.reason.to_string())))
                            }
                        });
                    }
                    at += got.consumed;
                    if done {
                        assert_eq!(at, buf.len(), "need-more must consume everything");
                        break;
                    }
                }
            }
        }
    }
    events
}

/// Encodes frames as a client (masked) or server (unmasked) would.
fn wire<R: rand_core::Rng>(conn: &mut Connection<R>, frames: &[Outgoing<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let mut buf = vec![0u8; f_len(f) + 14];
        let n = conn.encode(*f, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// A raw frame with arbitrary header bits (masked with a zero key when `masked`).
fn raw(b0: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![b0];
    let mask_bit = if masked { 0x80 } else { 0 };
    if payload.len() < 126 {
        v.push(mask_bit | payload.len() as u8);
    } else {
        v.push(mask_bit | 126);
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    if masked {
        v.extend_from_slice(&[0; 4]);
    }
    v.extend_from_slice(payload);
    v
}

/// The frames in `out`, parsed (unmasking client payloads).
fn frames(mut out: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut v = Vec::new();
    while !out.is_empty() {
        let HeaderParse::Complete { header, len } = FrameHeader::parse(out).unwrap() else {
            panic!("truncated frame")
        };
        let end = len + header.payload_len as usize;
        let mut payload = out[len..end].to_vec();
        if let Some(key) = header.mask {
            crate::mask::apply_mask(&mut payload, key, 0);
        }
        v.push((header, payload));
        out = &out[end..];
    }
    v
}

fn transmit<R: rand_core::Rng>(conn: &mut Connection<R>) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = [0u8; 2 * MAX_CONTROL_FRAME_LEN];
    let n = conn.poll_transmit(&mut out);
    frames(&out[..n])
}

/// §5.1: a server fails on an unmasked frame, a client on a masked one (1002).
#[test]
fn masking_direction_is_enforced() {
    let mut server = Connection::server(Config::new());
    let ev = feed(&mut server, &raw(0x81, false, b"hi"), 100);
    assert_eq!(ev, [Ev::Error(ProtocolError::UnmaskedFrame)]);
    let sent = transmit(&mut server);
    assert_eq!(sent[0].0.opcode, OpCode::Close);
    assert_eq!(&sent[0].1[..2], &1002u16.to_be_bytes());
    assert!(server.should_shutdown());

    let mut c = client();
    let ev = feed(&mut c, &raw(0x81, true, b"hi"), 100);
    assert_eq!(ev, [Ev::Error(ProtocolError::MaskedFrame)]);
}

/// §5.2: RSV bits fail unless an extension owns them, and then only on the
/// first frame of a data message.
#[test]
fn reserved_bits() {
    let mut server = Connection::server(Config::new());
    let ev = feed(&mut server, &raw(0xC1, true, b"x"), 100);
    assert_eq!(ev, [Ev::Error(ProtocolError::ReservedBits(0b100))]);

    let config = Config::new().extension_rsv(0b100);
    let mut server = Connection::server(config);
    let mut input = raw(0x41, true, b"a"); // RSV1 + text, not final
    input.extend(raw(0x80, true, b"b")); // continuation, final
    let ev = feed(&mut server, &input, 100);
    assert_eq!(ev.len(), 2);
    let mut bad = raw(0x41, true, b"a");
    bad.extend(raw(0xC0, true, b"b")); // RSV1 on a continuation
    let mut server = Connection::server(config);
    assert_eq!(
        feed(&mut server, &bad, 100).last(),
        Some(&Ev::Error(ProtocolError::ReservedBits(0b100)))
    );
    let mut server = Connection::server(config);
    let ping = raw(0xC9, true, b"");
    assert_eq!(
        feed(&mut server, &ping, 100),
        [Ev::Error(ProtocolError::ReservedBits(0b100))]
    );
}

/// RFC 7692 §6: a message an extension encoded (RSV1 on its first frame)
/// is not text on the wire: its bytes pass unchecked, whole or in
/// fragments, at any split, and say so in `rsv`; an unencoded text message
/// on the same connection is still checked.
#[test]
fn encoded_messages_skip_the_wire_utf8_check() {
    let config = Config::new().extension_rsv(RSV1);
    let not_utf8 = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xff];
    let whole = raw(0xC1, true, &not_utf8);
    let mut fragments = raw(0x41, true, &not_utf8[..3]);
    fragments.extend(raw(0x80, true, &not_utf8[3..]));
    for input in [&whole, &fragments] {
        for step in [1, 2, 5, 100] {
            let mut server = Connection::server(config);
            let events = feed(&mut server, input, step);
            let bytes: Vec<u8> = events
                .iter()
                .flat_map(|e| match e {
                    Ev::Data(DataKind::Text, b, _, _) => b.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(bytes, not_utf8, "step {step}");
        }
    }
    // The chunk carries the bits.
    let mut server = Connection::server(config);
    let mut buf = whole.clone();
    let Some(Event::Data(chunk)) = server.receive(&mut buf).unwrap().event else {
        panic!()
    };
    assert_eq!(chunk.rsv, RSV1);
    // Plain text still fails fast.
    let mut server = Connection::server(config);
    assert_eq!(
        feed(&mut server, &raw(0x81, true, &not_utf8), 100).last(),
        Some(&Ev::Error(ProtocolError::InvalidUtf8))
    );
}

/// An encoded message's wire size may pass `max_message_size` by 1/1024 +
/// 64 bytes (incompressible data grows a little); an unencoded one may not.
#[test]
fn encoded_messages_have_a_little_wire_slack() {
    let config = Config::new().extension_rsv(RSV1).max_message_size(1024);
    let payload = [0u8; 1024 + 65];
    let mut server = Connection::server(config);
    assert!(matches!(
        feed(&mut server, &raw(0xC2, true, &payload), 4096).as_slice(),
        [Ev::Data(DataKind::Binary, b, true, true)] if b.len() == payload.len()
    ));
    let mut server = Connection::server(config);
    assert_eq!(
        feed(&mut server, &raw(0xC2, true, &[0; 1024 + 66]), 4096),
        [Ev::Error(ProtocolError::MessageTooLarge {
            len: 1024 + 66,
            max: 1024 + 65
        })]
    );
    let mut server = Connection::server(config);
    assert_eq!(
        feed(&mut server, &raw(0x82, true, &[0; 1025]), 4096),
        [Ev::Error(ProtocolError::MessageTooLarge {
            len: 1025,
            max: 1024
        })]
    );
}

/// The sender marks the next message's first frame with RSV bits, only
/// when negotiated, never its continuations, once; its text is not
/// checked as UTF-8.
#[test]
fn sending_an_encoded_message() {
    let compressed = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let text = |payload, last| Outgoing::Fragment {
        kind: DataKind::Text,
        payload,
        last,
    };
    // Not negotiated: refused, nothing written, and the bits can be cleared.
    let mut server = Connection::server(Config::new());
    server.set_next_message_rsv(RSV1);
    let mut out = [0u8; 64];
    assert_eq!(
        server.encode(text(&compressed, true), &mut out),
        Err(SendError::NotNegotiated)
    );
    server.set_next_message_rsv(0);
    assert!(server.encode(Outgoing::Text("plain"), &mut out).is_ok());

    let mut server = Connection::server(Config::new().extension_rsv(RSV1));
    server.set_next_message_rsv(RSV1);
    let sent = frames(&wire(
        &mut server,
        &[text(&compressed[..3], false), text(&compressed[3..], true)],
    ));
    assert_eq!((sent[0].0.rsv, sent[0].0.opcode), (RSV1, OpCode::Text));
    assert_eq!((sent[1].0.rsv, sent[1].0.opcode), (0, OpCode::Continuation));
    // Used up: the next message is plain, and checked.
    let sent = frames(&wire(&mut server, &[Outgoing::Binary(b"x")]));
    assert_eq!(sent[0].0.rsv, 0);
    assert_eq!(
        server.encode(text(&compressed, true), &mut out),
        Err(SendError::InvalidUtf8)
    );
    // A streamed frame takes the bits too, and its pieces are not checked.
    server.set_next_message_rsv(RSV1);
    let mut wire = vec![0u8; 16];
    let n = server
        .start_frame(DataKind::Text, compressed.len() as u64, true, &mut wire)
        .unwrap();
    assert_eq!(wire[0], 0xC1);
    assert_eq!(
        server.encode_payload(&compressed, &mut wire[n..]),
        Ok(compressed.len())
    );
}

/// §5.4: continuation rules, with control frames in the middle of a message.
#[test]
fn fragmentation_rules() {
    let mut server = Connection::server(Config::new());
    assert_eq!(
        feed(&mut server, &raw(0x80, true, b"x"), 100),
        [Ev::Error(ProtocolError::UnexpectedContinuation)]
    );

    let mut server = Connection::server(Config::new());
    let mut input = raw(0x01, true, b"a");
    input.extend(raw(0x82, true, b"b"));
    assert_eq!(
        feed(&mut server, &input, 100).last(),
        Some(&Ev::Error(ProtocolError::ExpectedContinuation))
    );

    let mut server = Connection::server(Config::new());
    let mut input = raw(0x01, true, b"Hel");
    input.extend(raw(0x89, true, b"p"));
    input.extend(raw(0x00, true, b"l"));
    input.extend(raw(0x8A, true, b"q"));
    input.extend(raw(0x80, true, b"o"));
    let ev = feed(&mut server, &input, 3);
    let text = |s: &str, first, last| Ev::Data(DataKind::Text, s.as_bytes().to_vec(), first, last);
    // Split input gives chunked data; join the data payloads to compare.
    let data: Vec<u8> = ev
        .iter()
        .filter_map(|e| {
            if let Ev::Data(_, p, ..) = e {
                Some(p.clone())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(data, b"Hello");
    assert!(ev.contains(&Ev::Ping(b"p".to_vec())) && ev.contains(&Ev::Pong(b"q".to_vec())));
    let ev_whole = feed(&mut Connection::server(Config::new()), &input, input.len());
    assert_eq!(
        ev_whole,
        [
            text("Hel", true, false),
            Ev::Ping(b"p".to_vec()),
            text("l", false, false),
            Ev::Pong(b"q".to_vec()),
            text("o", false, true)
        ]
    );
}

/// §5.5.2/§5.5.3: pings are answered with the same payload (masked by a
/// client); a later ping replaces an unanswered one; auto-pong can be off.
#[test]
fn auto_pong() {
    let mut c = client();
    let mut input = raw(0x89, false, b"one");
    input.extend(raw(0x89, false, b"two"));
    assert_eq!(
        feed(&mut c, &input, 100),
        [Ev::Ping(b"one".to_vec()), Ev::Ping(b"two".to_vec())]
    );
    assert!(c.wants_transmit());
    let sent = transmit(&mut c);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0.opcode, sent[0].0.mask.is_some(), &sent[0].1[..]),
        (OpCode::Pong, true, &b"two"[..])
    );
    assert!(!c.wants_transmit());

    let mut quiet = Connection::client(Config::new().auto_pong(false), TestRng(2));
    feed(&mut quiet, &raw(0x89, false, b"x"), 100);
    assert!(!quiet.wants_transmit());
}

/// §5.5.1, §7.1.1: the peer starts the close; we echo its code; the server
/// then closes the transport.
#[test]
fn peer_initiated_close() {
    let mut server = Connection::server(Config::new());
    let mut input = raw(0x88, true, b"\x0f\xa0bye");
    input.extend(raw(0x81, true, b"ignored"));
    assert_eq!(
        feed(&mut server, &input, 100),
        [Ev::Close(Some((4000, "bye".to_string())))]
    );
    assert_eq!(server.state(), State::CloseReceived);
    assert_eq!(
        server.encode(Outgoing::Text("late"), &mut [0; 64]),
        Err(SendError::Closing)
    );
    assert!(!server.should_shutdown());
    let sent = transmit(&mut server);
    assert_eq!(
        (sent[0].0.opcode, &sent[0].1[..]),
        (OpCode::Close, &4000u16.to_be_bytes()[..])
    );
    assert_eq!(server.state(), State::Closed);
    assert!(server.should_shutdown());
    assert_eq!(server.receive_eof(), Ok(()));
}

/// §7.1.1: we start the close; data may still arrive; after the peer's close
/// the client waits for the server to end TCP.
#[test]
fn we_initiate_close_as_client() {
    let mut c = client();
    let out = wire(
        &mut c,
        &[Outgoing::Close(Some((CloseCode::NORMAL, "done")))],
    );
    assert_eq!(frames(&out)[0].1, b"\x03\xe8done");
    assert_eq!(c.state(), State::CloseSent);
    assert_eq!(
        c.encode(Outgoing::Binary(b"x"), &mut [0; 64]),
        Err(SendError::Closing)
    );
    assert_eq!(
        c.encode(Outgoing::Ping(b"x"), &mut [0; 64]),
        Err(SendError::Closing)
    );
    let mut input = raw(0x82, false, b"still data");
    input.extend(raw(0x89, false, b"no pong after close"));
    input.extend(raw(0x88, false, b"\x03\xe8"));
    let ev = feed(&mut c, &input, 100);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[2], Ev::Close(Some((1000, String::new()))));
    assert_eq!(c.state(), State::Closed);
    assert!(
        !c.wants_transmit(),
        "no pong and no second close after our close"
    );
    assert!(
        !c.should_shutdown(),
        "the client waits for the server to close TCP"
    );
    assert_eq!(c.receive_eof(), Ok(()));
    assert!(c.should_shutdown());
}

/// §5.5.1 / §7.4.1: invalid close payloads fail the connection.
#[test]
fn invalid_close_payloads() {
    for (payload, err, code) in [
        (&b"\x03"[..], ProtocolError::TruncatedCloseCode, 1002),
        (
            &b"\x03\xed"[..],
            ProtocolError::InvalidCloseCode(1005),
            1002,
        ),
        (
            &b"\x03\xe8\xff\xfe"[..],
            ProtocolError::InvalidCloseReason,
            1007,
        ),
    ] {
        let mut server = Connection::server(Config::new());
        assert_eq!(
            feed(&mut server, &raw(0x88, true, payload), 100),
            [Ev::Error(err)]
        );
        assert_eq!(&transmit(&mut server)[0].1[..2], &u16::to_be_bytes(code));
    }
    // An empty close is valid and echoed empty.
    let mut server = Connection::server(Config::new());
    assert_eq!(
        feed(&mut server, &raw(0x88, true, b""), 100),
        [Ev::Close(None)]
    );
    assert_eq!(transmit(&mut server)[0].1, b"");
}

/// §8.1: invalid UTF-8 fails at the bad byte, before the frame is complete (1007).
#[test]
fn utf8_fails_fast() {
    let mut server = Connection::server(Config::new());
    let frame = raw(
        0x81,
        true,
        b"hello\xF4\x90\x80\x80 and much more text that never arrives",
    );
    // Feed only up to and including the first impossible byte.
    let cut = frame.iter().position(|&b| b == 0x90).unwrap() + 1;
    let ev = feed(&mut server, &frame[..cut], 1);
    assert_eq!(ev.last(), Some(&Ev::Error(ProtocolError::InvalidUtf8)));
    assert_eq!(&transmit(&mut server)[0].1[..2], &1007u16.to_be_bytes());

    // Across fragments: a code point split between two frames is fine...
    let mut server = Connection::server(Config::new());
    let mut input = raw(0x01, true, b"\xE2\x82");
    input.extend(raw(0x80, true, b"\xAC"));
    assert_eq!(feed(&mut server, &input, 100).len(), 2);
    // ...but a message ending inside one is not.
    let mut server = Connection::server(Config::new());
    let mut input = raw(0x01, true, b"ok");
    input.extend(raw(0x80, true, b"\xE2\x82"));
    assert_eq!(
        feed(&mut server, &input, 100).last(),
        Some(&Ev::Error(ProtocolError::InvalidUtf8))
    );
}

/// §10.4: limits fail with 1009 as soon as the header that crosses them arrives.
#[test]
fn limits() {
    let config = Config::new().max_frame_size(10).max_message_size(15);
    let mut server = Connection::server(config);
    let header_only = &raw(0x82, true, &[0; 11])[..6];
    assert_eq!(
        feed(&mut server, header_only, 100),
        [Ev::Error(ProtocolError::FrameTooLarge { len: 11, max: 10 })]
    );
    assert_eq!(&transmit(&mut server)[0].1[..2], &1009u16.to_be_bytes());

    let mut server = Connection::server(config);
    let mut input = raw(0x02, true, &[0; 10]);
    input.extend_from_slice(&raw(0x80, true, &[0; 6])[..6]);
    assert_eq!(
        feed(&mut server, &input, 100).last(),
        Some(&Ev::Error(ProtocolError::MessageTooLarge {
            len: 16,
            max: 15
        }))
    );
}

/// §5.2: a 2^40-byte frame passes through a 4 KiB buffer (limits raised).
#[test]
fn huge_frame_streams() {
    let mut c = Connection::client(
        Config::new()
            .max_frame_size(u64::MAX)
            .max_message_size(u64::MAX),
        TestRng(3),
    );
    let mut header = [0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0];
    let got = c.receive(&mut header).unwrap();
    assert_eq!((got.consumed, got.event), (10, None));
    let mut buf = [0x5a; 4096];
    for i in 0..4 {
        let got = c.receive(&mut buf).unwrap();
        let Some(Event::Data(chunk)) = got.event else {
            panic!()
        };
        assert_eq!(
            (chunk.payload.len(), chunk.first, chunk.last),
            (4096, i == 0, false)
        );
    }
    assert_eq!(c.receiver.frame_payload_remaining(), (1 << 40) - 4 * 4096);
}

/// §7.1.5: the transport ending before the closing handshake is abnormal (1006).
#[test]
fn eof_before_close_is_abnormal() {
    let mut server = Connection::server(Config::new());
    assert_eq!(server.receive_eof(), Err(ProtocolError::UnexpectedEof));
    assert_eq!(server.state(), State::Closed);
    assert!(
        !server.wants_transmit(),
        "nothing can be sent on an ended transport"
    );
    assert!(server.should_shutdown());
}

/// §5.4 / §5.6: an empty text message is reported as one empty, final chunk.
#[test]
fn empty_messages() {
    let mut server = Connection::server(Config::new());
    assert_eq!(
        feed(&mut server, &raw(0x81, true, b""), 100),
        [Ev::Data(DataKind::Text, vec![], true, true)]
    );
}

/// §5.4: fragments are sent with the right opcodes; misuse is refused without
/// changing state.
#[test]
fn sending_fragments() {
    let mut server = Connection::server(Config::new());
    let out = wire(
        &mut server,
        &[
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"\xE2\x82",
                last: false,
            },
            Outgoing::Ping(b"mid"),
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"\xAC",
                last: true,
            },
        ],
    );
    let f = frames(&out);
    let ops: Vec<(OpCode, bool)> = f.iter().map(|(h, _)| (h.opcode, h.fin)).collect();
    assert_eq!(
        ops,
        [
            (OpCode::Text, false),
            (OpCode::Ping, true),
            (OpCode::Continuation, true)
        ]
    );

    let mut out = [0u8; 64];
    server
        .encode(
            Outgoing::Fragment {
                kind: DataKind::Binary,
                payload: b"a",
                last: false,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(
        server.encode(Outgoing::Text("x"), &mut out),
        Err(SendError::MessageInProgress)
    );
    assert_eq!(
        server.encode(
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"x",
                last: true
            },
            &mut out
        ),
        Err(SendError::MessageInProgress)
    );
    assert_eq!(
        server.encode(
            Outgoing::Fragment {
                kind: DataKind::Binary,
                payload: &[0; 100],
                last: true
            },
            &mut out
        ),
        Err(SendError::BufferTooSmall { needed: 102 })
    );
    let n = server
        .encode(
            Outgoing::Fragment {
                kind: DataKind::Binary,
                payload: b"b",
                last: true,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(&out[..n], b"\x80\x01b");

    // Invalid UTF-8 across text fragments is refused, and the message stays usable.
    server
        .encode(
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"\xE2",
                last: false,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(
        server.encode(
            Outgoing::Fragment {
                kind: DataKind::Text,
                payload: b"\x28",
                last: true
            },
            &mut out
        ),
        Err(SendError::InvalidUtf8)
    );
    assert!(
        server
            .encode(
                Outgoing::Fragment {
                    kind: DataKind::Text,
                    payload: b"\x82\xAC",
                    last: true
                },
                &mut out
            )
            .is_ok()
    );
}

/// §5.3: every client frame gets a fresh masking key.
#[test]
fn fresh_mask_per_frame() {
    let mut c = client();
    let out = wire(
        &mut c,
        &[
            Outgoing::Binary(b"aaaa"),
            Outgoing::Binary(b"aaaa"),
            Outgoing::Ping(b""),
        ],
    );
    let f = frames(&out);
    assert!(f.iter().all(|(h, _)| h.mask.is_some()));
    assert_ne!(f[0].0.mask, f[1].0.mask);
    assert_eq!(f[0].1, b"aaaa");
}

/// §5.5: control payloads over 125 bytes and unsendable close codes are refused.
#[test]
fn sending_control_frame_limits() {
    let mut server = Connection::server(Config::new());
    let mut out = [0u8; 256];
    assert_eq!(
        server.encode(Outgoing::Ping(&[0; 126]), &mut out),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert_eq!(
        server.encode(Outgoing::Close(Some((CloseCode(1005), ""))), &mut out),
        Err(SendError::InvalidCloseCode(1005))
    );
    let long = core::str::from_utf8(&[b'r'; 124]).unwrap();
    assert_eq!(
        server.encode(Outgoing::Close(Some((CloseCode::NORMAL, long))), &mut out),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert_eq!(server.state(), State::Open);
}

/// Streaming a frame through a tiny output buffer gives the same bytes as
/// encoding it whole; pending control replies wait for the frame to finish.
#[test]
fn streamed_frame_matches_whole_frame() {
    let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut whole = Connection::client(Config::new(), TestRng(9));
    let expected = wire(&mut whole, &[Outgoing::Binary(&payload)]);

    let mut streamed = Connection::client(Config::new(), TestRng(9));
    feed(&mut streamed, &raw(0x89, false, b"p"), 100); // a pong is owed
    let mut out = vec![0u8; 14];
    let n = streamed
        .start_frame(DataKind::Binary, 1000, true, &mut out)
        .unwrap();
    let mut got = out[..n].to_vec();
    let mut at = 0;
    while at < payload.len() {
        assert_eq!(
            streamed.poll_transmit(&mut [0; 200]),
            0,
            "no control frame inside a data frame"
        );
        let mut small = [0u8; 7];
        let n = streamed.encode_payload(&payload[at..], &mut small).unwrap();
        got.extend_from_slice(&small[..n]);
        at += n;
    }
    assert_eq!(got, expected);
    assert_eq!(transmit(&mut streamed)[0].0.opcode, OpCode::Pong);
}

fn f_len(f: &Outgoing<'_>) -> usize {
    match f {
        Outgoing::Text(t) => t.len(),
        Outgoing::Binary(p) | Outgoing::Ping(p) | Outgoing::Pong(p) => p.len(),
        Outgoing::Fragment { payload, .. } => payload.len(),
        Outgoing::Close(c) => c.map_or(0, |(_, r)| r.len() + 2),
    }
}

/// The README states the size of a connection's state; keep it honest.
#[test]
fn state_size_is_bounded() {
    let size = core::mem::size_of::<Connection>();
    if cfg!(target_pointer_width = "64") {
        assert_eq!(size, 464, "update the README's Memory table");
    }
    assert!(size <= 512, "{size}");
}

/// A failed call changes nothing: a client's `start_frame` into a buffer too
/// small for the masked header reports the masked size and draws no key
/// (found by the `connection` fuzz target).
#[test]
fn failed_start_frame_changes_nothing() {
    let mut tried = client();
    let mut direct = client();
    for size in [1, 2, 5] {
        assert_eq!(
            tried.start_frame(DataKind::Binary, 3, true, &mut vec![0; size]),
            Err(SendError::BufferTooSmall { needed: 6 })
        );
    }
    let (mut a, mut b) = ([0u8; 9], [0u8; 9]);
    let n = tried
        .start_frame(DataKind::Binary, 3, true, &mut a)
        .unwrap();
    assert_eq!(
        n,
        direct
            .start_frame(DataKind::Binary, 3, true, &mut b)
            .unwrap()
    );
    assert_eq!(
        a, b,
        "the same masking key: no key was drawn by the failed calls"
    );
}

/// An event borrows only the input buffer, never the connection: a data
/// chunk can be echoed on the same connection while it is held (zero-copy).
#[test]
fn data_chunk_can_be_echoed_while_held() {
    let mut server = Connection::server(Config::new());
    let mut input = raw(0x82, true, b"echo me");
    let mut out = [0u8; 32];
    let got = server.receive(&mut input).unwrap();
    let Some(Event::Data(chunk)) = got.event else {
        panic!("expected data")
    };
    let n = server
        .encode(Outgoing::Binary(chunk.payload), &mut out)
        .unwrap();
    assert_eq!(&out[..n], b"\x82\x07echo me");
}

/// The transition table is ordered by state, then step (`State::after`
/// indexes it), and lists each pair once.
#[test]
fn transition_table_is_ordered() {
    let states = [
        State::Open,
        State::CloseSent,
        State::CloseReceived,
        State::Closed,
    ];
    let steps = [
        Step::SendClose,
        Step::ReceiveClose,
        Step::Fail,
        Step::TransportEnd,
    ];
    for (i, &(state, step, next)) in TRANSITIONS.iter().enumerate() {
        assert_eq!((state, step), (states[i / 4], steps[i % 4]), "row {i}");
        assert_eq!(state.after(step), next);
    }
}

/// The table in the module docs is the data, row for row.
#[test]
fn transition_table_in_the_docs_is_the_data() {
    let docs = include_str!("mod.rs");
    let rows: Vec<(String, String, String)> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter(|row| !row.starts_with("state"))
        .map(|row| {
            let cells: Vec<String> = row
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect();
    let data: Vec<(String, String, String)> = TRANSITIONS
        .iter()
        .map(|&(state, step, next)| {
            let next = match (next, step) {
                (Some(next), _) => std::format!("{next:?}"),
                (None, Step::SendClose) => "refused".into(),
                (None, _) => "ignored".into(),
            };
            (std::format!("{state:?}"), std::format!("{step:?}"), next)
        })
        .collect();
    assert_eq!(rows, data);
}

/// The connection moves as the table says: every state, every step, done
/// the way an application or a peer does it.
#[test]
fn connection_follows_the_transition_table() {
    let peer_close = raw(0x88, true, &[0x03, 0xe8]);
    let in_state = |state: State| {
        let mut c = Connection::server(Config::new());
        let mut out = [0u8; 64];
        match state {
            State::Open => {}
            State::CloseSent => {
                c.encode(Outgoing::Close(None), &mut out).unwrap();
            }
            State::CloseReceived | State::Closed => {
                feed(&mut c, &peer_close, 64);
                if state == State::Closed {
                    assert!(c.poll_transmit(&mut out) > 0);
                }
            }
        }
        assert_eq!(c.state(), state);
        c
    };
    for &(state, step, next) in TRANSITIONS.iter() {
        let mut c = in_state(state);
        let mut out = [0u8; 64];
        let taken = match step {
            Step::SendClose => match state {
                // Our reply to the peer's close is the close we send.
                State::CloseReceived => c.poll_transmit(&mut out) > 0,
                _ => c.encode(Outgoing::Close(None), &mut out).is_ok(),
            },
            Step::ReceiveClose => {
                let events = feed(&mut c, &peer_close, 64);
                !events.is_empty()
            }
            Step::Fail => {
                c.fail(ProtocolError::InvalidUtf8);
                true
            }
            Step::TransportEnd => {
                let _ = c.receive_eof();
                true
            }
        };
        assert_eq!(
            (taken, c.state()),
            (next.is_some(), next.unwrap_or(state)),
            "{state:?} + {step:?}"
        );
    }
}

/// A server's frame passed to the transport as it is: the same wire as an
/// encoded one, the frame ends when its length is passed, text is still
/// checked; a client's masked frame cannot be passed.
#[test]
fn passed_payload_counts_like_encoded_payload() {
    let text = "é€ passes".as_bytes();
    let mut passed = Connection::server(Config::new());
    let mut encoded = Connection::server(Config::new());
    let mut wire_a = vec![0u8; 2];
    let mut wire_b = vec![0u8; 2 + text.len()];
    passed
        .start_frame(DataKind::Text, text.len() as u64, true, &mut wire_a)
        .unwrap();
    encoded
        .start_frame(DataKind::Text, text.len() as u64, true, &mut wire_b)
        .unwrap();
    // Split inside the 'é': the validator carries the partial character.
    assert_eq!(passed.pass_payload(&text[..1]), Ok(1));
    assert!(passed.frame_payload_remaining() > 0);
    assert_eq!(passed.pass_payload(&text[1..]), Ok(text.len() - 1));
    assert!(!passed.frame_payload_remaining() > 0);
    encoded.encode_payload(text, &mut wire_b[2..]).unwrap();
    wire_a.extend_from_slice(text);
    assert_eq!(wire_a, wire_b);

    let mut bad = Connection::server(Config::new());
    bad.start_frame(DataKind::Text, 2, true, &mut [0u8; 2])
        .unwrap();
    assert_eq!(bad.pass_payload(&[0xC3, 0x28]), Err(SendError::InvalidUtf8));
    assert_eq!(
        Connection::server(Config::new()).pass_payload(b"x"),
        Err(SendError::NoFrameInProgress)
    );
    let mut masked = client();
    masked
        .start_frame(DataKind::Binary, 1, true, &mut [0u8; 6])
        .unwrap();
    assert_eq!(masked.pass_payload(b"x"), Err(SendError::MaskedFrame));
}

/// A close frame half received: the look-ahead reports it (its code from
/// the bytes gathered and those still masked in the buffer), not a close
/// behind it, wherever the code is cut.
#[test]
fn close_ahead_sees_the_close_frame_already_begun() {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut payload = *b"\x03\xe8bye";
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    let mut wire = std::vec![0x88, 0x85];
    wire.extend_from_slice(&key);
    wire.extend_from_slice(&payload);
    // An empty close behind it, which the receiver will never read.
    wire.extend_from_slice(&[0x88, 0x80, 0, 0, 0, 0]);
    for cut in 6..11 {
        let mut server = Connection::server(Config::new());
        let mut head = wire[..cut].to_vec();
        let got = server.receive(&mut head).unwrap();
        assert!(got.event.is_none());
        let rest = &wire[cut..];
        assert_eq!(
            server.receiver().close_ahead(rest),
            Some(Some(CloseCode::NORMAL)),
            "cut at {cut}"
        );
        assert_eq!(
            server.receiver().close_ahead(&rest[..10 - cut]),
            None,
            "cut at {cut}"
        );
    }
}
