//! The blocking std adapter over loopback TCP (and in-memory transports):
//! the usual flow, the handshake edge cases, and robustness — timeouts,
//! vanishing peers, partial writes, `WouldBlock` and `Interrupted`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use wsock::blocking::{
    Acceptance, Budget, ClientBuilder, CloseFrame, Error, Keepalive, Message, Options, Phase,
    Transport, WebSocket, accept, accept_with, connect,
};
use wsock::handshake::HandshakeError;
use wsock::{CloseCode, Config, Outgoing, ProtocolError, State};

#[cfg(feature = "tls")]
#[path = "support/certificates.rs"]
mod certificates;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/raw_client.rs"]
mod raw_client;
use loopback::server;
use raw_client::{UPGRADE_REQUEST, check_linger, endless_frame_header, send_too_much_and_read};
#[cfg(target_os = "linux")]
#[path = "support/tcp_keepalive.rs"]
mod tcp_keepalive;
#[cfg(target_os = "linux")]
use {
    socket2::SockRef,
    tcp_keepalive::{CUSTOM, DEFAULT, keepalive_of},
};

/// Echoes until the connection ends; returns the close frame received.
fn echo(ws: &mut WebSocket<TcpStream>) -> Result<Option<CloseFrame>, Error> {
    let mut close = None;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => ws.write(Outgoing::Text(&t))?,
            Ok(Message::Binary(b)) => ws.write(Outgoing::Binary(&b))?,
            Ok(Message::Close(frame)) => close = frame,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(close),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn echo_session_with_close_code_and_reason() {
    let (addr, handle) = server(|tcp| echo(&mut accept(tcp).unwrap()));
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::Text("héllo".into())).unwrap();
    ws.send(Message::Binary(big.clone())).unwrap();
    ws.send(Message::Text(String::new())).unwrap();
    ws.send(Message::Ping(b"p1".to_vec())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("héllo".into()));
    assert_eq!(ws.read().unwrap(), Message::Binary(big));
    assert_eq!(ws.read().unwrap(), Message::Text(String::new()));
    assert_eq!(ws.read().unwrap(), Message::Pong(b"p1".to_vec()));
    ws.close(CloseCode(4000), "client done").unwrap();
    assert_eq!(ws.state(), State::Closed);
    let got = handle.join().unwrap().unwrap();
    assert_eq!(
        got,
        Some(CloseFrame {
            code: CloseCode(4000),
            reason: "client done".into()
        })
    );
    // After the closing handshake: a typed end, not a hang.
    assert!(matches!(ws.read(), Err(Error::ConnectionClosed)));
}

/// §7.1.1: a server-initiated close is answered, and the server closes TCP first.
#[test]
fn server_initiated_close() {
    let (addr, handle) = server(|tcp| {
        let mut ws = accept(tcp).unwrap();
        ws.close(CloseCode(4001), "server-bye").unwrap();
        ws.state()
    });
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    let frame = CloseFrame {
        code: CloseCode(4001),
        reason: "server-bye".into(),
    };
    assert_eq!(ws.read().unwrap(), Message::Close(Some(frame)));
    assert!(matches!(ws.read(), Err(Error::ConnectionClosed)));
    assert_eq!(handle.join().unwrap(), State::Closed);
}

#[test]
fn subprotocol_is_negotiated_and_request_is_visible() {
    let (addr, handle) = server(|tcp| {
        let ws = accept_with(tcp, Options::new(), |req| {
            assert_eq!(req.path, "/room?id=3");
            assert_eq!(req.origin, Some("http://127.0.0.1"));
            assert_eq!(req.header("x-token"), Some(&b"secret"[..]));
            let chosen = req.subprotocols().find(|p| *p == "chat").map(String::from);
            Ok(Acceptance {
                subprotocol: chosen,
                headers: vec![("X-Served-By".into(), "wsock".into())],
            })
        })
        .unwrap();
        ws.subprotocol().map(String::from)
    });
    let ws = ClientBuilder::new(&format!("ws://{addr}/room?id=3"))
        .subprotocols(&["superchat", "chat"])
        .origin("http://127.0.0.1")
        .header("X-Token", "secret")
        .connect()
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat"));
    assert_eq!(handle.join().unwrap().as_deref(), Some("chat"));
}

#[test]
fn rejection_reaches_the_client_as_a_status() {
    let (addr, handle) = server(|tcp| accept_with(tcp, Options::new(), |_| Err(403.into())).err());
    match connect(&format!("ws://{addr}/")) {
        Err(Error::Handshake(HandshakeError::Rejected { status: 403 })) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        handle.join().unwrap(),
        Some(Error::Refused { status: 403 })
    ));
}

/// A malformed request is answered with 400 and a typed error.
#[test]
fn malformed_request_gets_400() {
    let (addr, handle) = server(|tcp| accept(tcp).err());
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(matches!(
        handle.join().unwrap(),
        Some(Error::Handshake(HandshakeError::MissingHeader(_)))
    ));
}

/// The server's first frame arrives in the same TCP segment as its 101
/// response; the client must not lose it.
#[test]
fn frame_in_the_same_read_as_the_101_is_kept() {
    let (addr, handle) = server(|mut tcp| {
        let mut buf = [0u8; 2048];
        let n = tcp.read(&mut buf).unwrap();
        let request = std::str::from_utf8(&buf[..n]).unwrap();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = wsock::handshake::accept_key(key.trim().as_bytes());
        let mut reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ".to_vec();
        reply.extend_from_slice(&accept);
        reply.extend_from_slice(b"\r\n\r\n\x81\x05early");
        tcp.write_all(&reply).unwrap();
        thread::sleep(Duration::from_millis(200));
    });
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("early".into()));
    handle.join().unwrap();
}

/// And the other way: the client's first frame rides with its request.
#[test]
fn frame_in_the_same_read_as_the_request_is_kept() {
    let (addr, handle) = server(|tcp| {
        let mut ws = accept(tcp).unwrap();
        ws.read().unwrap()
    });
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\
          \x82\x83\x00\x00\x00\x00abc",
    )
    .unwrap();
    assert_eq!(handle.join().unwrap(), Message::Binary(b"abc".to_vec()));
}

/// §7.1.5: a peer that vanishes mid-frame is an error (1006), not a hang.
#[test]
fn peer_vanishing_mid_frame_is_an_error() {
    let (addr, handle) = server(|tcp| {
        let mut ws = accept(tcp).unwrap();
        ws.read()
    });
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    // A 10-byte masked binary frame of which only 3 payload bytes arrive,
    // then the TCP connection goes away.
    ws.get_mut()
        .write_all(&[0x82, 0x8A, 1, 2, 3, 4, 9, 9, 9])
        .unwrap();
    ws.get_mut()
        .tcp()
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    match handle.join().unwrap() {
        Err(Error::Protocol(ProtocolError::UnexpectedEof)) => {}
        other => panic!("{other:?}"),
    }
}

/// Handshake timeout: a silent client does not hold the server forever.
#[test]
fn handshake_timeout() {
    let (addr, handle) = server(|tcp| {
        let start = Instant::now();
        let options = Options::new().handshake_timeout(Some(Duration::from_millis(200)));
        let result = accept_with(tcp, options, |_| Ok(Acceptance::default()));
        (result.err(), start.elapsed())
    });
    let _silent = TcpStream::connect(addr).unwrap();
    let (err, took) = handle.join().unwrap();
    assert!(err.is_some_and(|e| e.is_timeout()));
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Writes `bytes` in pieces of `piece` bytes, `gap` apart, until the peer
/// goes away.
fn trickle(mut stream: TcpStream, bytes: &[u8], piece: usize, gap: Duration) {
    for chunk in bytes.chunks(piece) {
        if stream.write_all(chunk).is_err() {
            return;
        }
        thread::sleep(gap);
    }
}

/// Slowloris: a client trickling its request (a byte every 50 ms, each gap
/// well within the timeout) is cut off when the handshake deadline passes:
/// the deadline bounds the phase, not the gap between two reads.
#[test]
fn a_trickled_request_cannot_outlast_the_handshake_timeout() {
    let (addr, handle) = server(|tcp| {
        let start = Instant::now();
        let options = Options::new().handshake_timeout(Some(Duration::from_millis(300)));
        let result = accept_with(tcp, options, |_| Ok(Acceptance::default()));
        (result.err(), start.elapsed())
    });
    let slow = TcpStream::connect(addr).unwrap();
    let mut request = b"GET / HTTP/1.1\r\nX-Slow: ".to_vec();
    request.resize(100, b'a'); // 5 s of trickle
    let client = thread::spawn(move || trickle(slow, &request, 1, Duration::from_millis(50)));
    let (err, took) = handle.join().unwrap();
    assert!(
        matches!(err, Some(Error::Timeout(Phase::Handshake))),
        "{err:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    client.join().unwrap();
}

/// The same for a client: a server trickling its 101 cannot hold it past
/// the handshake deadline.
#[test]
fn a_trickled_response_cannot_outlast_the_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = tcp.read(&mut request).unwrap();
        let mut response = b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ".to_vec();
        response.resize(100, b'a');
        trickle(tcp, &response, 1, Duration::from_millis(50));
    });
    let start = Instant::now();
    let options = Options::new().handshake_timeout(Some(Duration::from_millis(300)));
    let err = ClientBuilder::new(&format!("ws://{addr}/"))
        .options(options)
        .connect()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(Phase::Handshake)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        err.to_string(),
        "timed out: the opening handshake did not complete within the handshake timeout"
    );
    server.join().unwrap();
}

/// The close timeout bounds the close, not the gap between two frames: a
/// peer that keeps pinging and sending data (every 100 ms, for 5 s) but
/// never answers our close is cut off when the deadline passes.
#[test]
fn a_chatty_peer_cannot_stretch_the_close() {
    let (addr, handle) = server(|tcp| {
        let options = Options::new().close_timeout(Some(Duration::from_millis(500)));
        let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
        let start = Instant::now();
        let closed = ws.close(CloseCode::NORMAL, "");
        (closed, start.elapsed())
    });
    let ws = connect(&format!("ws://{addr}/")).unwrap();
    let tcp = ws.get_ref().tcp().try_clone().unwrap();
    // A masked empty ping and a masked one-byte binary frame, 50 times.
    let frames = [0x89, 0x80, 1, 2, 3, 4, 0x82, 0x81, 0, 0, 0, 0, b'x'].repeat(50);
    let chatter = thread::spawn(move || trickle(tcp, &frames, 13, Duration::from_millis(100)));
    let (closed, took) = handle.join().unwrap();
    assert!(
        matches!(closed, Err(Error::Timeout(Phase::Close))),
        "{closed:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    chatter.join().unwrap();
}

/// Close timeout: a peer that never answers our close does not hang `close`.
#[test]
fn close_timeout() {
    let (addr, handle) = server(|tcp| {
        let ws = accept(tcp).unwrap();
        thread::sleep(Duration::from_secs(2)); // never reads, never answers
        drop(ws);
    });
    let options = Options::new().close_timeout(Some(Duration::from_millis(200)));
    let mut ws = ClientBuilder::new(&format!("ws://{addr}/"))
        .options(options)
        .connect()
        .unwrap();
    let start = Instant::now();
    let err = ws.close(CloseCode::NORMAL, "").unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(1));
    handle.join().unwrap();
}

/// §10.4: a message over the limit fails with 1009, seen by the peer.
#[test]
fn oversized_message_closes_with_1009() {
    let (addr, handle) = server(|tcp| {
        let options = Options::new().protocol(Config::new().max_message_size(1000));
        let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
        ws.read().err()
    });
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    ws.send_frame(Outgoing::Fragment {
        kind: wsock::DataKind::Binary,
        payload: &[0; 600],
        last: false,
    })
    .unwrap();
    ws.send_frame(Outgoing::Fragment {
        kind: wsock::DataKind::Binary,
        payload: &[0; 600],
        last: true,
    })
    .unwrap();
    let frame = CloseFrame {
        code: CloseCode::MESSAGE_TOO_BIG,
        reason: "message too large".into(),
    };
    assert_eq!(ws.read().unwrap(), Message::Close(Some(frame)));
    assert!(matches!(
        handle.join().unwrap(),
        Some(Error::Protocol(ProtocolError::MessageTooLarge {
            len: 1200,
            max: 1000
        }))
    ));
}

/// One read, by the whole WebSocket or by its read half: what it returned
/// and how long it took.
fn timed_read(ws: WebSocket<TcpStream>, split: bool) -> (Result<Message, Error>, Duration) {
    let started = Instant::now();
    let read = if split {
        ws.split().unwrap().0.read()
    } else {
        let mut ws = ws;
        ws.read()
    };
    (read, started.elapsed())
}

/// What a server's one read returned, and how long it took.
type ReadOnce = thread::JoinHandle<(Result<Message, Error>, Duration)>;

/// A server (whole or `split`) that allows 64 KiB messages and reads once.
fn read_once_server(split: bool, close_timeout: Duration) -> (std::net::SocketAddr, ReadOnce) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let options = Options::new()
            .protocol(Config::new().max_message_size(64 * 1024))
            .close_timeout(Some(close_timeout));
        let ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
        timed_read(ws, split)
    });
    (addr, server)
}

/// The server fails the connection at a too-big frame's header, then reads
/// and drops the rest until the client ends the transport: closing the
/// socket on unread data would reset the connection, and the reset destroys
/// the close frame before the client reads it (a browser shows 1006).
#[test]
fn a_client_still_sending_a_too_big_message_reads_the_1009() {
    for split in [false, true] {
        let (addr, server) = read_once_server(split, Duration::from_secs(10));
        let (sent, frame) = send_too_much_and_read(addr, 900 * 1024).expect("a frame is read");
        sent.expect("no reset while the client sends");
        assert_eq!(
            frame[..4],
            [0x88, frame.len() as u8 - 2, 0x03, 0xF1],
            "close 1009"
        );
        let (read, took) = server.join().unwrap();
        assert!(
            matches!(read, Err(Error::Protocol(e)) if e.close_code() == CloseCode::MESSAGE_TOO_BIG),
            "split {split}: {read:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "the linger ends when the client closes: {took:?}"
        );
    }
}

/// A peer that goes silent after its too-big frame's first 100 KB holds the
/// server for the close timeout; one that sends on and on, for the
/// linger's 1 MiB. Either way the server reports the failure.
#[test]
fn the_linger_after_a_failure_is_bounded_in_time_and_bytes() {
    for split in [false, true] {
        for (silent, timeout) in [(true, 1), (false, 60)] {
            let (addr, server) = read_once_server(split, Duration::from_secs(timeout));
            let mut tcp = TcpStream::connect(addr).unwrap();
            tcp.write_all(UPGRADE_REQUEST).unwrap();
            tcp.write_all(&endless_frame_header()).unwrap();
            let limit = if silent { 100_000 } else { usize::MAX };
            let mut writer = tcp.try_clone().unwrap();
            let sending = thread::spawn(move || {
                let mut written = 0;
                while written < limit {
                    match writer.write(&[0; 16384]) {
                        Ok(n) => written += n,
                        Err(_) => break,
                    }
                }
                written
            });
            let (read, took) = server.join().unwrap();
            assert!(
                matches!(read, Err(Error::Protocol(e)) if e.close_code() == CloseCode::MESSAGE_TOO_BIG),
                "split {split}, silent {silent}: {read:?}"
            );
            drop(tcp);
            check_linger(silent, took, sending.join().unwrap());
        }
    }
}

/// A server that sends "hi" and its close (1001) in one write, then ends
/// the closing handshake.
fn hi_and_goodbye_server() -> (String, thread::JoinHandle<()>) {
    server(|tcp| {
        let mut ws = accept(tcp).unwrap();
        ws.write(Outgoing::Text("hi")).unwrap();
        ws.write(Outgoing::Close(Some((CloseCode::GOING_AWAY, "bye"))))
            .unwrap();
        ws.flush().unwrap();
        while ws.read().is_ok() {}
    })
}

/// A send after the peer's close was received is refused and says so. One
/// while that close still waits unread (behind a message that may be
/// answered) goes out: the peer may read it while it waits for our close.
#[test]
fn a_send_after_the_peers_close_says_so() {
    let going_away = Some(CloseCode::GOING_AWAY);
    let (addr, handle) = hi_and_goodbye_server();
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hi".into()));
    // The close came in the same read, and has not been read yet.
    ws.send(Message::Text("an answer to hi".into())).unwrap();
    assert!(
        matches!(ws.read().unwrap(), Message::Close(Some(f)) if f.code == CloseCode::GOING_AWAY)
    );
    let refused = ws.send(Message::Text("too late".into())).unwrap_err();
    assert!(
        matches!(refused, Error::PeerClosed(code) if code == going_away),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "the peer closed the connection with code 1001: nothing more can be sent"
    );
    let refused = ws.send(Message::Binary(vec![0; 100_000])).unwrap_err();
    assert!(
        matches!(refused, Error::PeerClosed(code) if code == going_away),
        "{refused:?}"
    );
    assert!(matches!(ws.read(), Err(Error::ConnectionClosed)));
    handle.join().unwrap();

    // The same with split halves, once the read half has read the close.
    let (addr, handle) = hi_and_goodbye_server();
    let (mut reader, mut writer) = connect(&format!("ws://{addr}/")).unwrap().split().unwrap();
    assert_eq!(reader.read().unwrap(), Message::Text("hi".into()));
    assert!(matches!(reader.read().unwrap(), Message::Close(Some(_))));
    let refused = writer.send(Message::Text("too late".into())).unwrap_err();
    assert!(
        matches!(refused, Error::PeerClosed(code) if code == going_away),
        "{refused:?}"
    );
    assert!(matches!(reader.read(), Err(Error::ConnectionClosed)));
    handle.join().unwrap();
}

/// A client sending far more than the server allows (and more than the
/// server drains after failing) has its write fail when the server gives
/// up: the error is the server's close, 1009, not a broken pipe.
#[test]
fn a_client_whose_write_fails_reports_the_servers_close() {
    let (addr, handle) = server(|tcp| {
        let options = Options::new().protocol(Config::new().max_message_size(64 * 1024));
        let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
        ws.read().unwrap_err()
    });
    let mut ws = connect(&format!("ws://{addr}/")).unwrap();
    let sent = ws.send(Message::Binary(vec![0; 256 << 20]));
    assert!(
        matches!(
            sent,
            Err(Error::PeerClosed(Some(CloseCode::MESSAGE_TOO_BIG)))
        ),
        "{sent:?}"
    );
    assert!(matches!(handle.join().unwrap(), Error::Protocol(_)));
}

/// Keepalive pings free a connection whose peer went silent (a half-open
/// connection looks the same: nothing comes back): the server's read fails
/// after interval + timeout, with 1011 sent. A peer that answers (any
/// reading wsock endpoint pongs) stays connected however long it is idle.
#[test]
fn keepalive_pings_free_a_silent_peer_and_keep_an_answering_one() {
    let keepalive = Keepalive {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
    };
    let options = Options::new().keepalive(Some(keepalive));
    // Silent: a raw client that upgrades and then never reads or answers.
    for split in [false, true] {
        let (addr, handle) = server(move |tcp| {
            let ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
            timed_read(ws, split)
        });
        let mut tcp = TcpStream::connect(&addr).unwrap();
        tcp.write_all(UPGRADE_REQUEST).unwrap();
        let (read, took) = handle.join().unwrap();
        assert!(
            matches!(&read, Err(Error::Io(e)) if e.kind() == io::ErrorKind::TimedOut),
            "split {split}: {read:?}"
        );
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "split {split}: freed after interval + timeout: {took:?}"
        );
        let mut received = Vec::new();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = tcp.read_to_end(&mut received);
        let close = received.windows(4).any(|w| w == [0x88, w[1], 0x03, 0xF3]);
        assert!(
            close,
            "split {split}: the silent peer was sent 1011: {received:?}"
        );
    }

    // Answering: idle for 1.5 s (several pings), then a message arrives.
    let (addr, handle) = server(move |tcp| {
        let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Pong(_)) => continue,
                other => return other,
            }
        }
    });
    let (mut reader, mut writer) = connect(&format!("ws://{addr}/")).unwrap().split().unwrap();
    let reading = thread::spawn(move || {
        let mut pings = 0;
        while let Ok(Message::Ping(_)) = reader.read() {
            pings += 1;
        }
        pings
    });
    thread::sleep(Duration::from_millis(1500));
    writer.send(Message::Text("still here".into())).unwrap();
    assert_eq!(
        handle.join().unwrap().unwrap(),
        Message::Text("still here".into())
    );
    let pings = reading.join().unwrap();
    assert!(pings >= 4, "pinged every 200 ms while idle: {pings}");
}

/// Serves connections on one budget, each in its thread with [`echo`];
/// each connection's outcome goes to the channel, in the order they end.
fn budget_server(
    budget: &Budget,
) -> (
    String,
    std::sync::mpsc::Receiver<Result<Option<CloseFrame>, Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (done, outcomes) = std::sync::mpsc::channel();
    let budget = budget.clone();
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let tcp = tcp.unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let (budget, done) = (budget.clone(), done.clone());
            thread::spawn(move || {
                let mut ws = accept(tcp).unwrap();
                ws.set_budget(budget);
                let _ = done.send(echo(&mut ws));
            });
        }
    });
    (addr, outcomes)
}

/// Waits until `budget` has `at_least` bytes taken.
fn wait_until_used(budget: &Budget, at_least: usize) {
    let start = Instant::now();
    while budget.used() < at_least {
        assert!(start.elapsed() < Duration::from_secs(10), "{budget:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Connections share a 1 MiB budget: while others hold over half of it in
/// messages under way, a message that would fit alone does not, and gets
/// 1013 (the others' messages, within budget, are echoed); once they are
/// released, the same message fits.
///
/// How much a message under way holds depends on how its buffer grew
/// (doubling from the first chunk), so the holders are added one at a time
/// until they hold over half the budget, and the refused message is sized
/// from what they hold: too big for the rest, small enough to fit alone
/// (a growing buffer needs its old and new capacity at once, so a message
/// of under half the budget, less a read, always fits alone).
#[test]
fn a_message_over_the_shared_budget_gets_1013() {
    const BUDGET: usize = 1 << 20;
    let budget = Budget::new(BUDGET);
    let (addr, outcomes) = budget_server(&budget);
    let url = format!("ws://{addr}/");
    let part = [7; BUDGET / 16];
    let fragment = |last| Outgoing::Fragment {
        kind: wsock::DataKind::Binary,
        payload: &part,
        last,
    };
    let mut holders = Vec::new();
    while budget.used() <= BUDGET / 2 + (32 << 10) {
        let before = budget.used();
        let mut holder = connect(&url).unwrap();
        holder.send_frame(fragment(false)).unwrap();
        wait_until_used(&budget, before + part.len());
        holders.push(holder);
    }
    let held = budget.used();
    let size = BUDGET - held + (16 << 10);
    assert!(
        2 * size + (16 << 10) <= BUDGET,
        "fits alone: {size} of {held}"
    );

    // The server fails the message half way and ends TCP, so the writer may
    // fail: it writes from a thread and the reader reads meanwhile.
    let refused = |size| {
        let (mut reader, mut writer) = connect(&url).unwrap().split().unwrap();
        let writing = thread::spawn(move || writer.send(Message::Binary(vec![1; size])));
        let frame = CloseFrame {
            code: CloseCode(1013),
            reason: "server memory budget exhausted".into(),
        };
        assert_eq!(reader.read().unwrap(), Message::Close(Some(frame)));
        let _ = writing.join().unwrap();
        // Reading on sends the close reply the server waits for.
        assert!(reader.read().is_err());
        assert!(matches!(
            outcomes.recv_timeout(Duration::from_secs(10)).unwrap(),
            Err(Error::Protocol(ProtocolError::OverBudget { .. }))
        ));
    };
    refused(size);

    // The holders' messages end within the budget and are echoed.
    for mut holder in holders {
        holder.send_frame(fragment(true)).unwrap();
        assert_eq!(
            holder.read().unwrap(),
            Message::Binary(vec![7; 2 * part.len()])
        );
        holder.close(CloseCode::NORMAL, "").unwrap();
        assert!(
            outcomes
                .recv_timeout(Duration::from_secs(10))
                .unwrap()
                .is_ok()
        );
    }
    assert_eq!(budget.used(), 0, "all given back");

    // All of it is there for the next connection: the refused size fits.
    let mut c = connect(&url).unwrap();
    c.send(Message::Binary(vec![2; size])).unwrap();
    assert_eq!(c.read().unwrap(), Message::Binary(vec![2; size]));
    c.close(CloseCode::NORMAL, "").unwrap();
    assert!(
        outcomes
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
            .is_ok()
    );
    assert_eq!(budget.used(), 0);
    // And one of more than about half the budget never does.
    refused(BUDGET / 2 + (64 << 10));
}

/// An in-memory transport that misbehaves the way real ones may: short
/// writes, `WouldBlock` on every other write, `Interrupted` on reads.
struct Flaky {
    input: Vec<u8>,
    read_at: usize,
    output: Vec<u8>,
    calls: u32,
}

impl Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(5).min(self.input.len() - self.read_at);
        buf[..n].copy_from_slice(&self.input[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(3);
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Flaky {}

/// Partial writes and `WouldBlock`: retrying `flush` completes the output
/// with every byte written exactly once; `Interrupted` reads are retried.
#[test]
fn partial_writes_would_block_and_interrupted_reads() {
    // Input: two masked text frames from a client, split into 5-byte reads.
    let mut input = Vec::new();
    for text in ["first", "second message"] {
        input.extend_from_slice(&[0x81, 0x80 | text.len() as u8, 0, 0, 0, 0]);
        input.extend_from_slice(text.as_bytes());
    }
    let flaky = Flaky {
        input,
        read_at: 0,
        output: Vec::new(),
        calls: 0,
    };
    let mut ws = WebSocket::from_upgraded(flaky, wsock::Role::Server, Options::new(), &[]).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("first".into()));
    assert_eq!(ws.read().unwrap(), Message::Text("second message".into()));

    let payload: Vec<u8> = (0..100u8).collect();
    ws.write(Outgoing::Binary(&payload)).unwrap();
    ws.write(Outgoing::Text("tail")).unwrap();
    let mut would_block = 0;
    loop {
        match ws.flush() {
            Ok(()) => break,
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => would_block += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(would_block > 10);
    let mut expected = vec![0x82, 100];
    expected.extend_from_slice(&payload);
    expected.extend_from_slice(b"\x81\x04tail");
    assert_eq!(ws.get_ref().output, expected);
}

/// A transport that takes at most 5000 bytes per write and says
/// `WouldBlock` on every third call, as a non-blocking socket may.
struct Throttled {
    output: Vec<u8>,
    calls: u32,
}

impl Read for Throttled {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Throttled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(5000);
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Throttled {}

/// Frames of 64 KiB and more are written through the write buffer. When the
/// transport blocks part-way, `write` has taken the frame and `flush`
/// finishes it: the peer reads every message intact and in order, in both
/// roles (so masked and unmasked).
#[test]
fn big_frames_written_through_survive_would_block() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let text: String = "añ€😀".repeat(20_000);
    for role in [wsock::Role::Client, wsock::Role::Server] {
        let transport = Throttled {
            output: Vec::new(),
            calls: 0,
        };
        let mut ws = WebSocket::from_upgraded(transport, role, Options::new(), &[]).unwrap();
        let frames = [
            Outgoing::Text("head"),
            Outgoing::Binary(&big),
            Outgoing::Text(&text),
            Outgoing::Binary(b"tail"),
        ];
        let mut would_block = 0;
        for frame in frames {
            match ws.write(frame) {
                Ok(()) => {}
                // The frame was taken; flush finishes it.
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => would_block += 1,
                Err(e) => panic!("{role:?}: {e}"),
            }
            loop {
                match ws.flush() {
                    Ok(()) => break,
                    Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => would_block += 1,
                    Err(e) => panic!("{role:?}: {e}"),
                }
            }
        }
        assert!(would_block > 10, "{role:?}: the transport never blocked");

        let wire = ws.into_inner().output;
        let peer_role = match role {
            wsock::Role::Client => wsock::Role::Server,
            wsock::Role::Server => wsock::Role::Client,
        };
        let peer = wsock::blocking::Plain(io::Cursor::new(wire));
        let mut peer = WebSocket::from_upgraded(peer, peer_role, Options::new(), &[]).unwrap();
        assert_eq!(peer.read().unwrap(), Message::Text("head".into()));
        assert!(
            peer.read().unwrap() == Message::Binary(big.clone()),
            "{role:?}"
        );
        assert!(
            peer.read().unwrap() == Message::Text(text.clone()),
            "{role:?}"
        );
        assert_eq!(peer.read().unwrap(), Message::Binary(b"tail".to_vec()));
        assert!(
            !peer.has_buffered_input(),
            "{role:?}: bytes after the last frame"
        );
    }
}

/// An in-memory transport for a server: reads `input` in pieces of up to
/// 100 KiB, takes at most 7000 bytes per write, blocks every third write,
/// and counts the vectored writes that carried two buffers.
struct Echoing {
    input: Vec<u8>,
    read_at: usize,
    output: Vec<u8>,
    calls: u32,
    two_buffer_writes: u32,
}

impl Read for Echoing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(100 << 10)
            .min(self.input.len() - self.read_at);
        buf[..n].copy_from_slice(&self.input[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }
}

impl Write for Echoing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.two_buffer_writes += (bufs.iter().filter(|b| !b.is_empty()).count() == 2) as u32;
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(7000 - n);
            self.output.extend_from_slice(&buf[..take]);
            n += take;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Echoing {}

/// A server echoes chunks while they are borrowed (`read_event_and_reply`):
/// big ones go out zero-copy in vectored writes, small ones through the
/// queue. With short writes and `WouldBlock` in the middle, every echo
/// arrives intact and in order.
#[test]
fn zero_copy_echo_survives_would_block() {
    let messages: Vec<Vec<u8>> = [90_000usize, 17, 40_000, 300_000, 0, 16 * 1024]
        .iter()
        .map(|&n| (0..n).map(|i| (i % 253) as u8).collect())
        .collect();
    // The client's frames, masked.
    let sink = Echoing {
        input: Vec::new(),
        read_at: 0,
        output: Vec::new(),
        calls: 1,
        two_buffer_writes: 0,
    };
    let mut client =
        WebSocket::from_upgraded(sink, wsock::Role::Client, Options::new(), &[]).unwrap();
    for m in &messages {
        // On `WouldBlock` the frame was taken: flush finishes it.
        let _ = client.write(Outgoing::Binary(m));
        while client.flush().is_err() {}
    }
    let wire = std::mem::take(&mut client.get_mut().output);
    let transport = Echoing {
        input: wire,
        read_at: 0,
        output: Vec::new(),
        calls: 0,
        two_buffer_writes: 0,
    };
    let options = Options::new().read_buffer_size(128 << 10);
    let mut server =
        WebSocket::from_upgraded(transport, wsock::Role::Server, options, &[]).unwrap();
    let mut whole = 0;
    while whole < messages.len() {
        // A read writes what is queued first: it may block too.
        while server.flush().is_err() {}
        let echoed = server.read_event_and_reply(|event, mut writer| match event {
            wsock::Event::Data(chunk) => {
                let frame = Outgoing::Fragment {
                    kind: chunk.kind,
                    payload: chunk.payload,
                    last: chunk.last,
                };
                (writer.write(frame), chunk.last)
            }
            _ => (Ok(()), false),
        });
        let (written, last) = echoed.unwrap();
        match written {
            Ok(()) => {}
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        whole += last as usize;
    }
    while server.flush().is_err() {}
    let transport = server.into_inner();
    assert!(
        transport.two_buffer_writes > 3,
        "big chunks went out vectored"
    );
    let peer = wsock::blocking::Plain(io::Cursor::new(transport.output));
    let mut peer =
        WebSocket::from_upgraded(peer, wsock::Role::Client, Options::new(), &[]).unwrap();
    for m in &messages {
        assert!(
            peer.read().unwrap() == Message::Binary(m.clone()),
            "{} bytes",
            m.len()
        );
    }
    assert!(!peer.has_buffered_input());
}

/// `wss://` on loopback with a certificate made in the test.
#[cfg(feature = "tls")]
#[test]
fn tls_round_trip() {
    let (server_config, client_config) = certificates::configs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = wsock::blocking::accept_tls(tcp, server_config, Options::new(), |_| {
            Ok(Acceptance::default())
        })
        .unwrap();
        // Keepalive reaches the socket under TLS.
        #[cfg(target_os = "linux")]
        assert_eq!(
            keepalive_of(SockRef::from(&ws.get_ref().sock)),
            Some(DEFAULT)
        );
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => ws.write(Outgoing::Text(&t)).unwrap(),
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return true,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let mut ws = ClientBuilder::new(&format!("wss://localhost:{port}/secure"))
        .tls_config(client_config)
        .connect()
        .unwrap();
    #[cfg(target_os = "linux")]
    assert_eq!(
        keepalive_of(SockRef::from(ws.get_ref().tcp())),
        Some(DEFAULT)
    );
    ws.send(Message::Text("over TLS".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("over TLS".into()));
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(handle.join().unwrap());
}

/// Without a trusted certificate, `wss://` fails with a TLS error, not a hang.
#[cfg(feature = "tls")]
#[test]
fn tls_untrusted_certificate_fails() {
    let (server_config, _) = certificates::configs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        wsock::blocking::accept_tls(tcp, server_config, Options::new(), |_| {
            Ok(Acceptance::default())
        })
        .err()
    });
    // The default configuration trusts the Mozilla roots, not our certificate.
    let err = connect(&format!("wss://localhost:{port}/")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls(wsock::rustls::Error::InvalidCertificate(
                wsock::rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    // The server sees the client's alert as a TLS error too.
    let server_err = handle.join().unwrap();
    assert!(matches!(server_err, Some(Error::Tls(_))), "{server_err:?}");
}

/// A connected and an accepted socket get TCP keepalive without the user
/// doing anything: 60 s idle, 10 s between probes, 6 probes.
#[cfg(target_os = "linux")]
#[test]
fn tcp_keepalive_is_on_by_default_on_both_ends() {
    let (addr, handle) = server(|tcp| keepalive_of(SockRef::from(accept(tcp).unwrap().get_ref())));
    let ws = connect(&format!("ws://{addr}/")).unwrap();
    assert_eq!(
        keepalive_of(SockRef::from(ws.get_ref().tcp())),
        Some(DEFAULT)
    );
    assert_eq!(handle.join().unwrap(), Some(DEFAULT));
}

/// `Options::tcp_keepalive` sets the values on both ends; `None` leaves
/// keepalive off.
#[cfg(target_os = "linux")]
#[test]
fn tcp_keepalive_follows_the_options() {
    for setting in [Some(CUSTOM), None] {
        let options = Options::new().tcp_keepalive(setting);
        let (addr, handle) = server(move |tcp| {
            let ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).unwrap();
            keepalive_of(SockRef::from(ws.get_ref()))
        });
        let ws = ClientBuilder::new(&format!("ws://{addr}/"))
            .options(options)
            .connect()
            .unwrap();
        assert_eq!(keepalive_of(SockRef::from(ws.get_ref().tcp())), setting);
        assert_eq!(handle.join().unwrap(), setting);
    }
}

/// Errors name what failed: the URL as given, the address that refused.
#[test]
fn connect_errors_name_the_url_and_the_address() {
    let err = connect("http://127.0.0.1/").unwrap_err();
    assert!(matches!(err, Error::Url { .. }), "{err:?}");
    assert!(err.to_string().contains("\"http://127.0.0.1/\""), "{err}");
    // A port nobody listens on (just freed).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = connect(&format!("ws://127.0.0.1:{port}/")).unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
