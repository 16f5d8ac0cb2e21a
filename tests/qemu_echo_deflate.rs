//! The `echo_deflate` firmware (`firmware/src/bin/echo_deflate.rs`) on an
//! emulated Cortex-M3, reached from the host like `echo` (tests/qemu_echo.rs):
//! it accepts permessage-deflate with a 512-byte window
//! (`client_max_window_bits=9`), inflates what clients send and echoes it
//! uncompressed.
//!
//! * our std client (`wsock::blocking`) with `Options::deflate`: the
//!   negotiation, text and binary (compressible, incompressible, empty, the
//!   largest message), many messages with context takeover, a fragmented
//!   message, a ping, `!stack`; a message whose *inflated* size is over the
//!   firmware's limit (a few bytes on the wire) gets 1009, and the next
//!   session compresses again;
//! * a raw client: the response header byte for byte, a compressed message
//!   in three fragments whose back-references reach into the previous
//!   message, echoes without RSV1; an offer without
//!   `client_max_window_bits` is declined and the session goes on
//!   uncompressed;
//! * the Python `websockets` client with its default compression
//!   (`tests/python/qemu_echo_client.py --deflate`).
//!
//! The firmware must be running under QEMU with its UART on
//! `$WSOCK_QEMU_ECHO_DEFLATE_ADDR`: `.ci/embedded.sh` starts it and runs
//! `cargo test --test qemu_echo_deflate -- --ignored`; firmware/README.md
//! shows how by hand.
#![cfg(all(feature = "std", feature = "deflate"))]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

use wsock::CloseCode;
use wsock::DataKind;
use wsock::Outgoing;
use wsock::blocking::{DeflateOptions, MaybeTlsStream, Message, Options, WebSocket};
use wsock::deflate::{CompressOptions, Deflater};
use wsock::frame::RSV1;

#[allow(dead_code)]
#[path = "support/qemu.rs"]
mod qemu;
use qemu::{
    AFTER_FAILURE, MESSAGE_LEN, TIMEOUT, close, echo, failure_code, pattern, ping_stack_and_close,
    python_client, read, take_line,
};

const ADDR_VAR: &str = "WSOCK_QEMU_ECHO_DEFLATE_ADDR";
/// What the firmware answers a client that offers `client_max_window_bits`.
const AGREED: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9\r\n";

/// Our std client, offering permessage-deflate (with `client_max_window_bits`,
/// as it always does); the firmware must have accepted.
fn connect() -> WebSocket<MaybeTlsStream> {
    let options = Options::new().deflate(Some(DeflateOptions::default()));
    let ws = qemu::connect(&qemu::url(ADDR_VAR), options);
    assert_eq!(
        ws.connection().config().extension_rsv,
        RSV1,
        "the firmware's response agreed on permessage-deflate (RSV1 is the extension's)"
    );
    ws
}

/// Bytes that do not compress (a multiplicative hash of the index).
fn noise(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_compressed_echo_session() {
    let _line = take_line();
    let mut ws = connect();
    echo(&mut ws, Message::Text("héllo from the host ☃".into()));
    echo(&mut ws, Message::Binary(pattern(100)));
    echo(&mut ws, Message::Binary(pattern(300)));
    // The largest message, compressible and not (the latter is longer on
    // the wire than inflated).
    echo(&mut ws, Message::Binary(pattern(MESSAGE_LEN)));
    echo(&mut ws, Message::Binary(noise(MESSAGE_LEN)));
    echo(&mut ws, Message::Text("a".repeat(MESSAGE_LEN)));
    echo(&mut ws, Message::Text(String::new()));
    echo(&mut ws, Message::Binary(Vec::new()));
    ping_stack_and_close(ws, 4001);
}

/// Context takeover: the client's compressor keeps its window from one
/// message to the next, so later messages refer back into earlier ones,
/// which the firmware's 512-byte window must hold.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_many_messages_with_context_takeover() {
    let _line = take_line();
    let mut ws = connect();
    for i in 0..40 {
        let reading = format!(r#"{{"sensor":"temperature","reading":{i},"unit":"°C","ok":true}}"#);
        echo(&mut ws, Message::Text(reading.repeat(1 + i % 7)));
        if i % 10 == 9 {
            echo(
                &mut ws,
                Message::Binary(pattern(64 * (i + 1) % MESSAGE_LEN)),
            );
        }
    }
    close(ws, 1000);
}

/// A fragmented message on a compressed connection (our std client sends
/// fragments it is given uncompressed, which RFC 7692 allows), between
/// compressed ones; a ping between the fragments.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_fragmented_message() {
    let _line = take_line();
    let mut ws = connect();
    echo(&mut ws, Message::Text("before".into()));
    let parts = ["frag", "mented ", "über ", "three"];
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        ws.send_frame(Outgoing::Fragment {
            kind: DataKind::Text,
            payload: part.as_bytes(),
            last,
        })
        .expect("send a fragment");
        if i == 1 {
            ws.send(Message::Ping(b"between".to_vec()))
                .expect("send a ping");
        }
    }
    assert_eq!(
        read(&mut ws, "the pong"),
        Message::Pong(b"between".to_vec())
    );
    assert_eq!(
        read(&mut ws, "the fragmented message"),
        Message::Text(parts.concat())
    );
    echo(&mut ws, Message::Text("after".into()));
    close(ws, 1000);
}

/// A message of a few bytes on the wire that inflates past the firmware's
/// limit fails the session with 1009 as it inflates; the next session's
/// handshake resets the inflater, and compression works again.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_inflated_over_the_limit_gets_1009() {
    let _line = take_line();
    let mut ws = connect();
    ws.send(Message::Text("a".repeat(MESSAGE_LEN + 1)))
        .expect("send a message that inflates over the limit");
    let code = failure_code(&mut ws, "a message that inflates over the limit");
    assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
    drop(ws);
    thread::sleep(AFTER_FAILURE);
    let mut ws = connect();
    echo(
        &mut ws,
        Message::Text("after 1009, compressed again".into()),
    );
    close(ws, 1000);
}

// ---- a raw client: the bytes on the wire -----------------------------------------

/// A raw connection: the opening handshake offering `extensions`; returns
/// the socket and the response head.
fn raw_connect(extensions: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(qemu::addr(ADDR_VAR)).expect("connect to the firmware");
    tcp.set_read_timeout(Some(TIMEOUT))
        .expect("set the read timeout");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: chip\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).expect("send the request");
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).expect("read the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII response head");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (tcp, head)
}

/// Sends one masked frame: `first` is FIN, RSV and opcode.
fn send_frame(tcp: &mut TcpStream, first: u8, payload: &[u8]) {
    let mut frame = vec![first];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    tcp.write_all(&frame).expect("send a frame");
}

/// Reads one frame (the firmware's are unmasked and under 64 KiB):
/// its first byte and payload.
fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 2];
    tcp.read_exact(&mut header).expect("read a frame header");
    assert_eq!(header[1] & 0x80, 0, "the firmware does not mask");
    let len = match header[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            tcp.read_exact(&mut n).expect("read a 16-bit length");
            usize::from(u16::from_be_bytes(n))
        }
        127 => panic!("a 64-bit length from the firmware"),
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).expect("read a payload");
    (header[0], payload)
}

/// Our close 1000, and the firmware's reply.
fn raw_close(mut tcp: TcpStream) {
    send_frame(&mut tcp, 0x88, &1000u16.to_be_bytes());
    let (first, payload) = read_frame(&mut tcp);
    assert_eq!((first, &payload[..2]), (0x88, &1000u16.to_be_bytes()[..]));
}

/// The response header byte for byte; a compressed message and then the
/// same text again, in three fragments (RSV1 on the first only), whose
/// compressed form is mostly a back-reference into the first message:
/// both come back whole, uncompressed (RSV1 clear).
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn raw_client_sees_the_agreement_and_uncompressed_echoes() {
    let _line = take_line();
    let (mut tcp, head) = raw_connect("permessage-deflate; client_max_window_bits");
    assert!(head.contains(AGREED), "{head}");
    let mut deflater = Deflater::new(CompressOptions::default(), 9, false);
    let text = "The quick brown fox jumps over the lazy dog; ".repeat(6);
    let mut first = Vec::new();
    deflater.compress(text.as_bytes(), true, &mut first);
    send_frame(&mut tcp, 0x80 | 0x40 | 0x1, &first);
    assert_eq!(read_frame(&mut tcp), (0x81, text.clone().into_bytes()));
    let mut second = Vec::new();
    deflater.compress(text.as_bytes(), true, &mut second);
    assert!(
        second.len() < first.len() / 2,
        "context takeover: {} compressed bytes, then {}",
        first.len(),
        second.len()
    );
    let (a, rest) = second.split_at(second.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    send_frame(&mut tcp, 0x40 | 0x1, a);
    send_frame(&mut tcp, 0x0, b);
    send_frame(&mut tcp, 0x80, c);
    assert_eq!(read_frame(&mut tcp), (0x81, text.into_bytes()));
    raw_close(tcp);
}

/// An offer without `client_max_window_bits` cannot be held to the
/// firmware's 512-byte window: declined (no extension in the response),
/// and the session goes on uncompressed.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn raw_client_offer_without_window_bits_is_declined() {
    let _line = take_line();
    let (mut tcp, head) = raw_connect("permessage-deflate");
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    send_frame(&mut tcp, 0x82, &pattern(200));
    assert_eq!(read_frame(&mut tcp), (0x82, pattern(200)));
    raw_close(tcp);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn python_client_compressed_echo_session() {
    let _line = take_line();
    let out = python_client(&[&qemu::url(ADDR_VAR), "--deflate"]);
    assert!(
        out.contains("negotiated permessage-deflate; client_max_window_bits=9"),
        "{out}"
    );
}
