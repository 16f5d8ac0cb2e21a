//! The network echo firmware (`firmware/src/bin/net_echo.rs`) on QEMU's
//! emulated MPS2 AN385, reached over its LAN9118 NIC through QEMU's
//! user-mode network (`firmware/net-echo.sh PORT` forwards
//! `127.0.0.1:PORT` to the chip's port 80):
//!
//! * our std client: handshake (with and without the `echo` subprotocol),
//!   text, binary, messages larger than the firmware's 2 KiB buffer (echoed
//!   as fragments as they stream in), a ping, `!stack`, `!close`, a close;
//! * three clients at once, interleaved, two of them from two threads; a
//!   client that stalls before its handshake is dropped after 5 s;
//! * the equivalents of Autobahn cases 9.1.5, 9.1.6, 9.2.5 and 9.2.6 (8 and
//!   16 MiB in one frame, text and binary), which .ci/embedded.sh excludes
//!   from the Autobahn run: kosoku sends a whole message before it reads
//!   the echo, so the host's socket buffers would have to hold it (see
//!   there); here a client sends the same frames while it reads the echo.
//!
//! The firmware must be running with its port on `$WSOCK_QEMU_NET_ECHO_ADDR`
//! (e.g. `127.0.0.1:4580`): `.ci/embedded.sh` starts it and runs
//! `cargo test --test qemu_net_echo -- --ignored`. Without it the tests
//! fail, loudly.
#![cfg(feature = "std")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use wsock::CloseCode;
use wsock::blocking::{ClientBuilder, MaybeTlsStream, Message, Options, WebSocket};

#[allow(dead_code)]
#[path = "support/qemu.rs"]
mod qemu;
use qemu::{close, echo, failure_code, pattern, ping_stack_and_close};

const ADDR_VAR: &str = "WSOCK_QEMU_NET_ECHO_ADDR";
/// The firmware's message buffer: larger messages come back in fragments.
const BUFFER: usize = 2048;

fn connect() -> WebSocket<MaybeTlsStream> {
    qemu::connect(&qemu::url(ADDR_VAR), Options::new())
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_echo_session() {
    let mut ws = connect();
    assert_eq!(ws.subprotocol(), None);
    echo(&mut ws, Message::Text("héllo from the host ☃".into()));
    echo(&mut ws, Message::Binary(pattern(100)));
    echo(&mut ws, Message::Binary(pattern(300)));
    echo(&mut ws, Message::Binary(pattern(BUFFER)));
    echo(&mut ws, Message::Binary(pattern(100_000)));
    echo(&mut ws, Message::Text("ü€𝄞".repeat(3000)));
    echo(&mut ws, Message::Text(String::new()));
    ping_stack_and_close(ws, 4001);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn subprotocol_echo_is_selected() {
    let url = qemu::url(ADDR_VAR);
    let ws = ClientBuilder::new(&url)
        .subprotocols(&["chat", "echo"])
        .connect()
        .expect("connect offering subprotocols");
    assert_eq!(ws.subprotocol(), Some("echo"));
    close(ws, 1000);
}

/// `!close CODE REASON` makes the firmware close first, with that code.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn server_initiated_close() {
    let mut ws = connect();
    ws.send(Message::Text("!close 4001 server-bye".into()))
        .expect("send !close");
    assert_eq!(
        failure_code(&mut ws, "the firmware's close"),
        CloseCode(4001)
    );
}

/// Three clients at once, messages interleaved (the firmware has four
/// sockets; one stays free for a socket of the previous test that may
/// still be closing).
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn clients_at_once() {
    let mut clients: Vec<_> = (0..3).map(|_| connect()).collect();
    for round in 0..5 {
        for (i, ws) in clients.iter_mut().enumerate() {
            ws.send(Message::Text(format!("client {i} round {round}")))
                .expect("send");
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            let got = qemu::read(ws, "an echo");
            assert_eq!(got, Message::Text(format!("client {i} round {round}")));
        }
    }
    // Large messages from two clients at once, from two threads.
    let handles: Vec<_> = clients
        .drain(..2)
        .map(|mut ws| {
            thread::spawn(move || {
                echo(&mut ws, Message::Binary(pattern(300_000)));
                close(ws, 1000);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a client thread");
    }
    for ws in clients {
        close(ws, 1000);
    }
}

/// A client that connects and sends nothing is dropped after the
/// firmware's 5 s handshake timeout (`HANDSHAKE_MS`), so stalled clients
/// cannot take every socket; others are served meanwhile.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn stalled_client_is_dropped() {
    let mut stalled = TcpStream::connect(qemu::addr(ADDR_VAR)).expect("connect");
    stalled
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("set the read timeout");
    let started = Instant::now();
    let mut ws = connect();
    echo(&mut ws, Message::Text("served while another stalls".into()));
    close(ws, 1000);
    let mut byte = [0u8; 1];
    let got = stalled.read(&mut byte);
    let waited = started.elapsed();
    assert!(
        matches!(got, Ok(0)) || got.is_err() && waited < Duration::from_secs(14),
        "the stalled connection ended with {got:?}"
    );
    assert!(
        Duration::from_secs(4) <= waited && waited < Duration::from_secs(10),
        "dropped after {waited:?}, expected about 5 s"
    );
}

/// The bytes of a large message: ASCII letters (valid text), or
/// `pattern` for binary.
fn big_payload(len: usize, text: bool) -> Vec<u8> {
    if text {
        (0..len).map(|i| b'a' + (i % 26) as u8).collect()
    } else {
        pattern(len)
    }
}

/// Sends one frame of `len` bytes (masked, FIN set) from one thread while
/// another reads the echo (the firmware's fragments) and compares it; then
/// closes. Autobahn 9.1.5/9.1.6 (text) and 9.2.5/9.2.6 (binary), with a
/// client that reads while it writes.
fn stream_one_frame(len: usize, text: bool) {
    let mut tcp = TcpStream::connect(qemu::addr(ADDR_VAR)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set the read timeout");
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: chip\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("send the handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte)
            .expect("read the handshake response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(String::from_utf8_lossy(&head).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

    let payload = big_payload(len, text);
    let started = Instant::now();
    let mut writer = tcp.try_clone().expect("clone the socket");
    let sent = payload.clone();
    let sender = thread::spawn(move || {
        let key = [0x37u8, 0xfa, 0x21, 0x3d];
        let opcode = if text { 0x1 } else { 0x2 };
        let mut header = vec![0x80 | opcode, 0x80 | 127];
        header.extend_from_slice(&(sent.len() as u64).to_be_bytes());
        header.extend_from_slice(&key);
        writer.write_all(&header).expect("send the header");
        let mut offset = 0;
        for chunk in sent.chunks(64 * 1024) {
            let masked: Vec<u8> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[(offset + i) % 4])
                .collect();
            writer.write_all(&masked).expect("send the payload");
            offset += chunk.len();
        }
        // A close (1000, no reason), masked.
        let close = [0x03u8, 0xe8];
        let mut frame = vec![0x88, 0x82];
        frame.extend_from_slice(&key);
        frame.extend(close.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        writer.write_all(&frame).expect("send the close");
    });

    // Read frames: the echo's fragments, then the close reply.
    let mut received = 0usize;
    let mut frames = 0usize;
    let mut first = true;
    loop {
        let mut h = [0u8; 2];
        tcp.read_exact(&mut h).expect("read a frame header");
        let opcode = h[0] & 0x0f;
        let fin = h[0] & 0x80 != 0;
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let mut n = u64::from(h[1] & 0x7f);
        if n == 126 {
            let mut e = [0u8; 2];
            tcp.read_exact(&mut e).expect("read a 16-bit length");
            n = u64::from(u16::from_be_bytes(e));
        } else if n == 127 {
            let mut e = [0u8; 8];
            tcp.read_exact(&mut e).expect("read a 64-bit length");
            n = u64::from_be_bytes(e);
        }
        let mut body = vec![0u8; n as usize];
        tcp.read_exact(&mut body).expect("read a frame's payload");
        if opcode == 0x8 {
            assert_eq!(&body[..2], &[0x03, 0xe8], "the close is echoed with 1000");
            break;
        }
        let expected_opcode = if first {
            if text { 0x1 } else { 0x2 }
        } else {
            0x0
        };
        assert_eq!(opcode, expected_opcode, "frame {frames}'s opcode");
        assert!(
            body[..] == payload[received..received + body.len()],
            "the echo differs in frame {frames} (at byte {received})"
        );
        received += body.len();
        frames += 1;
        first = false;
        if fin {
            assert_eq!(received, len, "the echo's length");
        }
    }
    sender.join().expect("the sending thread");
    assert_eq!(received, len, "the whole message came back");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{len} bytes ({}) echoed in {frames} frames in {secs:.2} s ({:.1} MB/s each way)",
        if text { "text" } else { "binary" },
        len as f64 / secs / 1e6
    );
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn autobahn_9_1_5_equivalent_8_mib_text() {
    stream_one_frame(8 << 20, true);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn autobahn_9_1_6_equivalent_16_mib_text() {
    stream_one_frame(16 << 20, true);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn autobahn_9_2_5_equivalent_8_mib_binary() {
    stream_one_frame(8 << 20, false);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn autobahn_9_2_6_equivalent_16_mib_binary() {
    stream_one_frame(16 << 20, false);
}
