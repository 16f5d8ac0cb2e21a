//! permessage-deflate (RFC 7692) end to end on the std adapters: what the
//! handshakes agree, what goes on the wire (RSV1, compressed bytes), and
//! what a hostile peer's compressed messages get (a bomb stops at the
//! limit with 1009, corrupt data and bad UTF-8 get 1007).
#![cfg(feature = "deflate")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};
use wsock::blocking::{
    ClientBuilder, DeflateOptions, Error, Message, Options, WebSocket, accept_with,
};
use wsock::deflate::{CompressOptions, Deflater, Inflater};
use wsock::handshake::HandshakeError;
use wsock::{CloseCode, Config, Outgoing};

#[path = "support/loopback.rs"]
mod loopback;
use loopback::server;

fn deflate_options() -> Options {
    Options::new().deflate(Some(DeflateOptions::default()))
}

/// Echoes every message until the peer closes; the close code it got.
fn echo<S: wsock::blocking::Transport>(ws: &mut WebSocket<S>) -> Result<(), Error> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => ws.send(Message::Text(t))?,
            Ok(Message::Binary(b)) => ws.send(Message::Binary(b))?,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// A deflate echo server with `options` on one connection.
fn echo_server(options: Options) -> (String, thread::JoinHandle<Result<(), Error>>) {
    server(move |tcp| {
        let mut ws = accept_with(tcp, options, |_| Ok(Default::default()))?;
        echo(&mut ws)
    })
}

fn json_like(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"price\":{}.{:02},\"tags\":[\"a\",\"é\"]}},",
            i % 97,
            i * 7 % 1000,
            i % 100
        ));
        i += 1;
    }
    s.truncate(s.char_indices().take_while(|(at, _)| *at < n).count());
    s
}

/// A wsock client and server both offering and accepting it: messages of
/// every size, text and binary, empty and several MiB, come back intact
/// with the compressor's context kept across them; split halves too.
#[test]
fn a_client_and_a_server_echo_compressed_messages() {
    let (addr, handle) = echo_server(deflate_options());
    let mut ws = ClientBuilder::new(&format!("ws://{addr}/"))
        .options(deflate_options())
        .connect()
        .unwrap();
    let random: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let messages = [
        Message::Text(String::new()),
        Message::Text("Hello".into()),
        Message::Text("Hello".into()),
        Message::Binary(Vec::new()),
        Message::Text(json_like(3 << 20)),
        Message::Binary(random),
        Message::Text(json_like(70_000)),
    ];
    for message in &messages {
        ws.send(message.clone()).unwrap();
        assert_eq!(&ws.read().unwrap(), message);
    }
    // The halves keep the compressor and inflater.
    let (mut reader, mut writer) = ws.split().unwrap();
    for message in &messages[..5] {
        writer.send(message.clone()).unwrap();
        assert_eq!(&reader.read().unwrap(), message);
    }
    // The write half's close waits for the read half to read the reply
    // (a `Close` message) and the end.
    let reading = thread::spawn(move || {
        let close = reader.read();
        (close, reader.read())
    });
    writer.close(CloseCode::NORMAL, "").unwrap();
    let (close, end) = reading.join().unwrap();
    assert!(matches!(close, Ok(Message::Close(_))), "{close:?}");
    assert!(matches!(end, Err(Error::ConnectionClosed)), "{end:?}");
    handle.join().unwrap().unwrap();
}

/// The raw side of a connection: a handshake with `offer`, the response
/// head, and frames read and written by hand.
struct Raw {
    tcp: TcpStream,
    response: String,
}

impl Raw {
    fn connect(addr: &str, offer: Option<&str>) -> Raw {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let extension = offer.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Extensions: {o}\r\n")
        });
        let request = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             {extension}\r\n"
        );
        tcp.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        Raw {
            tcp,
            response: String::from_utf8(head).unwrap(),
        }
    }

    /// Writes one masked frame (zero key) with `b0` (FIN, RSV, opcode).
    fn frame(&mut self, b0: u8, payload: &[u8]) {
        let mut f = vec![b0];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(payload);
        self.tcp.write_all(&f).unwrap();
    }

    /// Reads one unmasked frame: (first byte, payload).
    fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        self.tcp.read_exact(&mut head).unwrap();
        let len = match head[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                self.tcp.read_exact(&mut l).unwrap();
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                self.tcp.read_exact(&mut l).unwrap();
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        self.tcp.read_exact(&mut payload).unwrap();
        (head[0], payload)
    }

    /// Reads frames until the close; its code.
    fn close_code(&mut self) -> u16 {
        loop {
            let (b0, payload) = self.read_frame();
            if b0 & 0x0f == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

fn compress(messages: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut deflater = Deflater::new(CompressOptions::default(), 15, false);
    messages
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            deflater.compress(m, true, &mut out);
            out
        })
        .collect()
}

/// On the wire: the server's response selects permessage-deflate, its
/// echo of a compressed message is compressed (RSV1 on the first frame
/// only), and inflates with a 15-bit window to what was sent; a message
/// sent uncompressed on the same connection is echoed too.
#[test]
fn the_server_answers_compressed_on_the_wire() {
    let (addr, handle) = echo_server(deflate_options());
    let mut raw = Raw::connect(&addr, Some("permessage-deflate; client_max_window_bits"));
    assert!(
        raw.response
            .contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{}",
        raw.response
    );
    let text = json_like(10_000);
    let compressed = compress(&[text.as_bytes()]);
    assert!(compressed[0].len() < text.len() / 3);
    // Sent in two fragments: RSV1 on the first only.
    let (a, b) = compressed[0].split_at(compressed[0].len() / 2);
    raw.frame(0x41, a);
    raw.frame(0x80, b);
    raw.frame(0x81, b"plain");

    let mut inflater = Inflater::new(vec![0u8; 1 << 15], false).unwrap();
    for want in [text.as_bytes(), b"plain"] {
        let (b0, payload) = raw.read_frame();
        assert_eq!(b0, 0xC1, "FIN, RSV1, text");
        let mut got = Vec::new();
        let done = inflater
            .inflate_all(&payload, true, |out| {
                got.extend_from_slice(out);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert!(done);
        assert_eq!(got, want);
    }
    raw.frame(0x88, &1000u16.to_be_bytes());
    assert_eq!(raw.close_code(), 1000);
    handle.join().unwrap().unwrap();
}

/// A decompression bomb: 64 MiB of zeros in a ~64 KiB compressed frame,
/// to a server whose messages may be 1 MiB. It fails with 1009 at the
/// limit, quickly, having inflated at most about the limit.
#[test]
fn a_compressed_bomb_stops_at_max_message_size() {
    let mut options = deflate_options();
    options.protocol = Config::new().max_message_size(1 << 20);
    let (addr, handle) = echo_server(options);
    let mut raw = Raw::connect(&addr, Some("permessage-deflate"));
    // Level 9, as a bomb's maker would: about 1030 to 1.
    let best = CompressOptions {
        level: 9,
        mem_level: 9,
    };
    let mut bomb = Vec::new();
    Deflater::new(best, 15, false).compress(&vec![0u8; 64 << 20], true, &mut bomb);
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    let start = Instant::now();
    raw.frame(0xC2, &bomb);
    assert_eq!(raw.close_code(), 1009);
    assert!(start.elapsed() < Duration::from_secs(5));
    match handle.join().unwrap() {
        Err(Error::Protocol(wsock::ProtocolError::MessageTooLarge { len, max })) => {
            assert_eq!(max, 1 << 20);
            assert!(len <= (1 << 20) + (1 << 15), "stopped at {len}");
        }
        other => panic!("{other:?}"),
    }
}

/// Data that does not inflate, and compressed text that is not UTF-8, fail
/// with 1007; the UTF-8 check fails at the first bad byte, before the
/// message ends.
#[test]
fn corrupt_data_and_bad_utf8_get_1007() {
    for case in ["corrupt", "utf8", "utf8 first fragment"] {
        let (addr, handle) = echo_server(deflate_options());
        let mut raw = Raw::connect(&addr, Some("permessage-deflate"));
        match case {
            "corrupt" => raw.frame(0xC2, &[0xff; 40]),
            "utf8" => raw.frame(0xC1, &compress(&[b"ok \xff\xfe"])[0]),
            _ => {
                // Bad bytes in the first fragment; the message never ends.
                let compressed = compress(&[b"\xc3\x28 and then more text"]);
                raw.frame(0x41, &compressed[0]);
            }
        }
        assert_eq!(raw.close_code(), 1007, "{case}");
        let ended = handle.join().unwrap();
        assert!(
            matches!(ended, Err(Error::Protocol(_))),
            "{case}: {ended:?}"
        );
    }
}

/// Without `Options::deflate` the server declines the offer (no header),
/// and a client offering it proceeds uncompressed; RSV1 then fails (1002).
#[test]
fn without_the_option_the_offer_is_declined() {
    let (addr, handle) = echo_server(Options::new());
    let mut ws = ClientBuilder::new(&format!("ws://{addr}/"))
        .options(deflate_options())
        .connect()
        .unwrap();
    ws.send(Message::Text(json_like(1000))).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text(json_like(1000)));
    ws.close(CloseCode::NORMAL, "").unwrap();
    handle.join().unwrap().unwrap();

    let (addr, handle) = echo_server(Options::new());
    let mut raw = Raw::connect(&addr, Some("permessage-deflate"));
    assert!(!raw.response.contains("Extensions"), "{}", raw.response);
    raw.frame(0xC1, &compress(&[b"Hello"])[0]);
    assert_eq!(raw.close_code(), 1002);
    let _ = handle.join().unwrap();
}

/// A client fails the handshake on a response that breaks RFC 7692's
/// rules or selects what it did not offer.
#[test]
fn a_client_rejects_a_bad_response() {
    for selected in [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; x-unknown",
        "permessage-deflate, permessage-deflate",
    ] {
        let selected = selected.to_string();
        let (addr, handle) = server(move |mut tcp| {
            let mut buf = [0u8; 1024];
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let n = tcp.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .trim()
                .to_string();
            let accept = wsock::handshake::accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {selected}\r\n\r\n",
                std::str::from_utf8(&accept).unwrap()
            );
            tcp.write_all(response.as_bytes()).unwrap();
            text
        });
        let got = ClientBuilder::new(&format!("ws://{addr}/"))
            .options(deflate_options())
            .connect();
        let request = handle.join().unwrap();
        assert!(
            request.contains(
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            ),
            "{request}"
        );
        assert!(
            matches!(got, Err(Error::Handshake(HandshakeError::Deflate(_)))),
            "{got:?}"
        );
    }
}

/// Small windows both ways, no context takeover, a threshold: the server
/// answers what the client asked, and messages still come back intact;
/// messages under the threshold go uncompressed.
#[test]
fn small_windows_no_context_takeover_and_a_threshold() {
    let server_side = Options::new().deflate(Some(DeflateOptions {
        client_max_window_bits: 9,
        threshold: 100,
        ..DeflateOptions::default()
    }));
    let (addr, handle) = echo_server(server_side);
    let mut raw = Raw::connect(
        &addr,
        Some(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
        ),
    );
    assert!(
        raw.response.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9\r\n"
        ),
        "{}",
        raw.response
    );
    let mut deflater = Deflater::new(CompressOptions::default(), 9, false);
    let mut inflater = Inflater::new(vec![0u8; 1 << 10], true).unwrap();
    for text in [json_like(5000), "short".to_string(), json_like(20_000)] {
        let mut compressed = Vec::new();
        deflater.compress(text.as_bytes(), true, &mut compressed);
        raw.frame(0xC1, &compressed);
        let (b0, payload) = raw.read_frame();
        if text.len() < 100 {
            assert_eq!((b0, payload.as_slice()), (0x81, text.as_bytes()));
            continue;
        }
        assert_eq!(b0, 0xC1);
        let mut got = Vec::new();
        inflater
            .inflate_all(&payload, true, |out| {
                got.extend_from_slice(out);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(got, text.as_bytes());
    }
    raw.frame(0x88, &1000u16.to_be_bytes());
    assert_eq!(raw.close_code(), 1000);
    handle.join().unwrap().unwrap();
}

/// A fragment sent with `write` while compression is on goes as it is
/// (an endpoint may send any message uncompressed), and a whole message
/// after it is compressed again.
#[test]
fn fragments_go_uncompressed_between_compressed_messages() {
    let (addr, handle) = echo_server(deflate_options());
    let mut ws = ClientBuilder::new(&format!("ws://{addr}/"))
        .options(deflate_options())
        .connect()
        .unwrap();
    let part = |payload: &'static [u8], last| Outgoing::Fragment {
        kind: wsock::DataKind::Text,
        payload,
        last,
    };
    ws.send(Message::Text("before".into())).unwrap();
    ws.write(part(b"frag", false)).unwrap();
    // A whole message cannot start inside a fragmented one; nothing is
    // compressed for it, so the stream stays in step.
    assert!(ws.write(Outgoing::Text("refused")).is_err());
    ws.write(part(b"mented", true)).unwrap();
    ws.send(Message::Text("after".into())).unwrap();
    for want in ["before", "fragmented", "after"] {
        assert_eq!(ws.read().unwrap(), Message::Text(want.into()));
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    handle.join().unwrap().unwrap();
}

#[cfg(feature = "tokio")]
mod tokio_adapter {
    use super::*;
    use wsock::tokio as wt;

    /// The tokio adapter's client and server, whole and split, echo
    /// compressed messages (and the blocking client talks to it).
    #[tokio::test]
    async fn tokio_client_and_server_echo_compressed_messages() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = wt::accept_with(tcp, deflate_options(), |_| Ok(Default::default()))
                    .await
                    .unwrap();
                loop {
                    match ws.read().await {
                        Ok(Message::Text(t)) => ws.send(Message::Text(t)).await.unwrap(),
                        Ok(Message::Binary(b)) => ws.send(Message::Binary(b)).await.unwrap(),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
        });
        let url = format!("ws://{addr}/");
        let messages = [
            Message::Text(String::new()),
            Message::Text(json_like(200_000)),
            Message::Binary(vec![7; 100_000]),
            Message::Text("Hello".into()),
        ];
        let mut ws = wt::ClientBuilder::new(&url)
            .options(deflate_options())
            .connect()
            .await
            .unwrap();
        for m in &messages {
            ws.send(m.clone()).await.unwrap();
            assert_eq!(&ws.read().await.unwrap(), m);
        }
        let (mut reader, mut writer) = ws.split();
        for m in &messages {
            writer.send(m.clone()).await.unwrap();
            assert_eq!(&reader.read().await.unwrap(), m);
        }
        let reading = async {
            let close = reader.read().await;
            (close, reader.read().await)
        };
        let (closed, (close, end)) = tokio::join!(writer.close(CloseCode::NORMAL, ""), reading);
        closed.unwrap();
        assert!(matches!(close, Ok(Message::Close(_))), "{close:?}");
        assert!(matches!(end, Err(Error::ConnectionClosed)), "{end:?}");
        // The blocking client against the tokio server.
        let blocking = tokio::task::spawn_blocking(move || {
            let mut ws = ClientBuilder::new(&url)
                .options(deflate_options())
                .connect()
                .unwrap();
            ws.send(Message::Text(json_like(50_000))).unwrap();
            let echoed = ws.read().unwrap();
            ws.close(CloseCode::NORMAL, "").unwrap();
            echoed
        });
        assert_eq!(blocking.await.unwrap(), Message::Text(json_like(50_000)));
        server.await.unwrap();
    }
}

/// A client that offers `client_no_context_takeover` as a hint but keeps
/// its context anyway (Autobahn's does): a server that did not ask for it
/// inflates with the window kept, so the second message, which refers to
/// the first, still inflates.
#[test]
fn an_offered_hint_does_not_make_the_server_forget_its_window() {
    let (addr, handle) = echo_server(deflate_options());
    let mut raw = Raw::connect(
        &addr,
        Some("permessage-deflate; client_no_context_takeover"),
    );
    assert!(
        raw.response
            .contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{}",
        raw.response
    );
    let text = json_like(2000);
    let compressed = compress(&[text.as_bytes(), text.as_bytes()]);
    assert!(
        compressed[1].len() * 4 < compressed[0].len(),
        "the second refers to the first: {} and {} bytes",
        compressed[0].len(),
        compressed[1].len()
    );
    let mut inflater = Inflater::new(vec![0u8; 1 << 15], false).unwrap();
    for message in &compressed {
        raw.frame(0xC1, message);
        let (b0, payload) = raw.read_frame();
        assert_eq!(b0, 0xC1);
        let mut got = Vec::new();
        inflater
            .inflate_all(&payload, true, |out| {
                got.extend_from_slice(out);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(got, text.as_bytes());
    }
    raw.frame(0x88, &1000u16.to_be_bytes());
    assert_eq!(raw.close_code(), 1000);
    handle.join().unwrap().unwrap();
}
