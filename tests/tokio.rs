//! The tokio adapter over real loopback TCP: connect and accept, the
//! `Stream` + `Sink` API, big messages, backpressure, and the deadlines of
//! the opening and closing handshakes.
#![cfg(feature = "tokio")]

use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsock::tokio::{
    Acceptance, Budget, ClientBuilder, Error, MaybeTlsStream, Message, Options, WebSocket, accept,
    accept_with, connect, set_tcp_keepalive,
};
use wsock::{CloseCode, Config, State};

#[path = "support/raw_client.rs"]
mod raw_client;
use raw_client::{UPGRADE_REQUEST, check_linger, endless_frame_header, send_too_much_and_read};
#[cfg(target_os = "linux")]
#[path = "support/tcp_keepalive.rs"]
mod tcp_keepalive;
#[cfg(target_os = "linux")]
use {
    socket2::SockRef,
    tcp_keepalive::{CUSTOM, DEFAULT, keepalive_of},
};

/// A listener on a free loopback port and its `ws://` URL.
async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// Accepts one connection and echoes text and binary messages with the
/// `Stream` + `Sink` API until the client closes.
async fn echo_once(listener: TcpListener, options: Options) -> Result<u64, Error> {
    let (tcp, _) = listener.accept().await?;
    let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default())).await?;
    let mut echoed = 0;
    while let Some(message) = ws.next().await {
        if let m @ (Message::Text(_) | Message::Binary(_)) = message? {
            ws.send(m).await?;
            echoed += 1;
        }
    }
    Ok(echoed)
}

#[tokio::test]
async fn echo_over_tcp_with_stream_and_sink() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(echo_once(listener, Options::new()));
    let mut ws = connect(&url).await.unwrap();
    let messages = vec![
        Message::Text("hello".into()),
        Message::Binary(vec![]),
        Message::Text("é€😀".repeat(1000)),
        Message::Binary((0..=255).cycle().take(200_000).collect()),
    ];
    for m in &messages {
        ws.feed(m.clone()).await.unwrap();
    }
    ws.flush().await.unwrap();
    for m in &messages {
        assert_eq!(&ws.read().await.unwrap(), m);
    }
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(ws.state(), State::Closed);
    assert_eq!(server.await.unwrap().unwrap(), 4);
}

#[tokio::test]
async fn the_futures_and_the_websocket_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let (listener, url) = listen().await;
    let server = tokio::spawn(echo_once(listener, Options::new()));
    let connecting = connect(&url);
    is_send(&connecting);
    let mut ws = connecting.await.unwrap();
    is_send(&ws);
    // A client (which holds its CSPRNG) runs on another task of the
    // multi-thread runtime.
    let task = tokio::spawn(async move {
        ws.send(Message::Text("from a task".into())).await?;
        let echo = ws.read().await?;
        ws.close(CloseCode::NORMAL, "").await?;
        Ok::<_, Error>(echo)
    });
    assert_eq!(
        task.await.unwrap().unwrap(),
        Message::Text("from a task".into())
    );
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn subprotocols_and_refusals() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let result = accept_with(tcp, Options::new(), |request| {
                if request.path != "/chat" {
                    return Err(404.into());
                }
                let chat = request.subprotocols().find(|p| *p == "chat");
                Ok(Acceptance {
                    subprotocol: chat.map(String::from),
                    ..Acceptance::default()
                })
            })
            .await;
            match result {
                Ok(mut ws) => {
                    assert_eq!(ws.subprotocol(), Some("chat"));
                    while ws.next().await.is_some() {}
                }
                Err(e) => assert!(matches!(e, Error::Refused { status: 404 }), "{e}"),
            }
        }
    });
    let refused = ClientBuilder::new(&format!("{url}elsewhere"))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::Handshake(_)),
        "a 404 is a failed handshake: {refused}"
    );
    let mut ws = ClientBuilder::new(&format!("{url}chat"))
        .subprotocols(&["v2", "chat"])
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_trickled_request_cannot_outlast_the_handshake_timeout() {
    let (listener, url) = listen().await;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_string();
    // One byte every 100 ms: each read is quick, the handshake is not.
    let trickle = tokio::spawn(async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        for b in b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".iter() {
            if tcp.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let options = Options::new().handshake_timeout(Some(Duration::from_millis(500)));
    let started = Instant::now();
    let err = accept_with(tcp, options, |_| Ok(Acceptance::default()))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    trickle.abort();
}

#[tokio::test]
async fn a_peer_that_never_answers_our_close_is_dropped_at_the_close_timeout() {
    let (listener, url) = listen().await;
    // A server that completes the handshake, then never reads again.
    let silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = accept(tcp).await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(ws);
    });
    let options = Options::new().close_timeout(Some(Duration::from_millis(300)));
    let mut ws = ClientBuilder::new(&url)
        .options(options)
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let err = ws.close(CloseCode::NORMAL, "").await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    silent.abort();
}

#[tokio::test]
async fn send_waits_for_a_peer_that_does_not_read() {
    let (listener, url) = listen().await;
    let (tcp_tx, tcp_rx) = tokio::sync::oneshot::channel();
    // A server that accepts, then reads nothing until told to.
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept_with(
            tcp,
            Options::new().protocol(Config::new().max_message_size(1 << 30)),
            |_| Ok(Acceptance::default()),
        )
        .await
        .unwrap();
        tcp_rx.await.unwrap();
        let mut bytes = 0u64;
        while let Some(m) = ws.next().await {
            if let Message::Binary(b) = m.unwrap() {
                bytes += b.len() as u64;
            }
        }
        bytes
    });
    let high_water = 64 * 1024;
    let mut ws = ClientBuilder::new(&url)
        .options(Options::new().write_high_water(high_water))
        .connect()
        .await
        .unwrap();
    let chunk = vec![7u8; 16 * 1024];
    let mut sent = 0u64;
    // Feeds until the socket buffers are full: then `feed` waits.
    let stalled = loop {
        let feed = ws.feed(Message::Binary(chunk.clone()));
        match tokio::time::timeout(Duration::from_millis(300), feed).await {
            Ok(result) => {
                result.unwrap();
                sent += chunk.len() as u64;
                assert!(sent < 512 << 20, "the queue never filled");
            }
            Err(_) => break true,
        }
    };
    assert!(stalled);
    // The queue holds at most the high-water mark plus one message.
    assert!(ws.buffered_amount() < high_water + chunk.len() + 64);
    tcp_tx.send(()).unwrap();
    ws.flush().await.unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(server.await.unwrap(), sent);
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let (listener, url) = listen().await;
    let options = Options::new().protocol(Config::new().max_message_size(1000));
    let server = tokio::spawn(echo_once(listener, options));
    let mut ws: WebSocket<MaybeTlsStream> = connect(&url).await.unwrap();
    ws.send(Message::Binary(vec![0; 5000])).await.unwrap();
    match ws.read().await.unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode(1009)),
        other => panic!("expected close 1009, got {other:?}"),
    }
    assert!(matches!(ws.read().await, Err(Error::ConnectionClosed)));
    let err = server.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
}

/// Serves connections on one budget, each echoing in its own task; each
/// connection's outcome goes to the channel, in the order they end.
async fn budget_server(
    budget: &Budget,
) -> (String, tokio::sync::mpsc::Receiver<Result<(), Error>>) {
    let (listener, url) = listen().await;
    let (done, outcomes) = tokio::sync::mpsc::channel(8);
    let budget = budget.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (budget, done) = (budget.clone(), done.clone());
            tokio::spawn(async move {
                let mut ws = accept(tcp).await.unwrap();
                ws.set_budget(budget);
                let outcome = async {
                    loop {
                        match ws.read().await {
                            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.feed(m).await?,
                            Ok(_) => {}
                            Err(Error::ConnectionClosed) => return Ok(()),
                            Err(e) => return Err(e),
                        }
                    }
                };
                let _ = done.send(outcome.await).await;
            });
        }
    });
    (url, outcomes)
}

/// Sends a `size` message that the budget server must refuse: the client
/// reads the 1013 and the server reports `OverBudget`.
async fn refused(
    url: &str,
    size: usize,
    outcomes: &mut tokio::sync::mpsc::Receiver<Result<(), Error>>,
) {
    // The server fails the message half way and ends TCP, so the writer
    // writes from a task (its write may fail).
    let (mut reader, mut writer) = connect(url).await.unwrap().split();
    let writing = tokio::spawn(async move {
        let _ = writer.send(Message::Binary(vec![1; size])).await;
    });
    match reader.read().await {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, CloseCode(1013));
            assert_eq!(frame.reason, "server memory budget exhausted");
        }
        other => panic!("expected close 1013 for {size} bytes, got {other:?}"),
    }
    // Reading on sends the close reply the server waits for.
    assert!(matches!(reader.read().await, Err(Error::ConnectionClosed)));
    writing.await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await;
    assert!(matches!(
        outcome.unwrap().unwrap(),
        Err(Error::Protocol(wsock::ProtocolError::OverBudget { .. }))
    ));
}

/// The tokio twin of the blocking test (big frames are read straight into
/// the message, and that takes from the budget too): holders added until
/// they hold over half of a 1 MiB budget; a message that would fit alone
/// then gets 1013; once they are released, it fits; one of over half the
/// budget never does.
#[tokio::test]
async fn a_message_over_the_shared_budget_gets_1013() {
    const BUDGET: usize = 1 << 20;
    let budget = Budget::new(BUDGET);
    let (url, mut outcomes) = budget_server(&budget).await;
    let part = [7; BUDGET / 16];
    let fragment = |last| wsock::Outgoing::Fragment {
        kind: wsock::DataKind::Binary,
        payload: &part,
        last,
    };
    let mut holders = Vec::new();
    while budget.used() <= BUDGET / 2 + (32 << 10) {
        let before = budget.used();
        let mut holder = connect(&url).await.unwrap();
        holder.write(fragment(false)).unwrap();
        holder.flush().await.unwrap();
        let start = Instant::now();
        while budget.used() < before + part.len() {
            assert!(start.elapsed() < Duration::from_secs(10), "{budget:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        holders.push(holder);
    }
    let held = budget.used();
    let size = BUDGET - held + (16 << 10);
    assert!(
        2 * size + (16 << 10) <= BUDGET,
        "fits alone: {size} of {held}"
    );

    refused(&url, size, &mut outcomes).await;

    for mut holder in holders {
        holder.write(fragment(true)).unwrap();
        holder.flush().await.unwrap();
        assert_eq!(
            holder.read().await.unwrap(),
            Message::Binary(vec![7; 2 * part.len()])
        );
        holder.close(CloseCode::NORMAL, "").await.unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await;
        assert!(outcome.unwrap().unwrap().is_ok());
    }
    assert_eq!(budget.used(), 0, "all given back");

    let mut c = connect(&url).await.unwrap();
    c.send(Message::Binary(vec![2; size])).await.unwrap();
    assert_eq!(c.read().await.unwrap(), Message::Binary(vec![2; size]));
    c.close(CloseCode::NORMAL, "").await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await;
    assert!(outcome.unwrap().unwrap().is_ok());
    assert_eq!(budget.used(), 0);
    refused(&url, BUDGET / 2 + (64 << 10), &mut outcomes).await;
}

#[tokio::test]
async fn raw_bytes_after_the_handshake_are_kept() {
    // The client's first frame arrives in the same segment as its request.
    let (listener, _) = listen().await;
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept(tcp).await.unwrap();
        ws.read().await.unwrap()
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    // A masked text frame "hi" with an all-zero key.
    bytes.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    tcp.write_all(&bytes).await.unwrap();
    let mut response = [0u8; 129];
    let _ = tcp.read(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 101"));
    assert_eq!(server.await.unwrap(), Message::Text("hi".into()));
}

/// A server that queues big echoes with `feed` and lets its next `read`
/// write them (as `tokio_echo_server` does): the read writes the whole
/// message before it waits, even once the header is out and only the
/// payload is left (a regression: Autobahn 9.1.6 hung on it).
#[tokio::test]
async fn a_read_writes_a_fed_big_message_to_its_end() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept(tcp).await.unwrap();
        while let Ok(message) = ws.read().await {
            if let m @ Message::Binary(_) = message {
                ws.feed(m).await.unwrap();
            }
        }
    });
    let mut ws = connect(&url).await.unwrap();
    // Far more than the sockets' buffers hold, twice on one connection.
    for fill in [1u8, 2] {
        let big = Message::Binary(vec![fill; 8 << 20]);
        ws.send(big.clone()).await.unwrap();
        let echo = tokio::time::timeout(Duration::from_secs(20), ws.read())
            .await
            .expect("the echo arrives")
            .unwrap();
        assert!(echo == big, "echo {fill} differs");
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

/// Big payloads are read straight into the message (no copy through the
/// read buffer): fragments that mix small and big frames arrive whole, in
/// order, with text checked across every read boundary.
#[tokio::test]
async fn big_fragmented_messages_arrive_whole() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(echo_once(listener, Options::new()));
    let mut ws = connect(&url).await.unwrap();
    let pieces = [
        "héllo ".to_string(),
        "€😀é".repeat(40_000), // 360 KB
        "x".repeat(70_000),
        "😀".repeat(50_000), // 200 KB, four bytes a character
        "!".to_string(),
    ];
    for (i, piece) in pieces.iter().enumerate() {
        ws.write(wsock::Outgoing::Fragment {
            kind: wsock::DataKind::Text,
            payload: piece.as_bytes(),
            last: i == pieces.len() - 1,
        })
        .unwrap();
        ws.flush().await.unwrap();
    }
    let binary = Message::Binary((0..=255).cycle().take(3 << 20).collect());
    ws.send(binary.clone()).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Text(pieces.concat()));
    assert!(ws.read().await.unwrap() == binary);
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(server.await.unwrap().unwrap(), 2);
}

/// Invalid UTF-8 deep inside a big text frame (read straight into the
/// message) fails the connection with 1007, as anywhere else.
#[tokio::test]
async fn invalid_utf8_deep_in_a_big_text_frame_closes_with_1007() {
    let (listener, _) = listen().await;
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(echo_once(listener, Options::new()));
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(UPGRADE_REQUEST).await.unwrap();
    let mut response = [0u8; 129];
    let _ = tcp.read(&mut response).await.unwrap();
    // A masked text frame (all-zero key) of 400,000 bytes with one 0xFF at
    // 300,000, sent in pieces so that most of it is read in place.
    let len = 400_000u64;
    let mut frame = vec![0x81, 0xFF];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    tcp.write_all(&frame).await.unwrap();
    let mut payload = vec![b'a'; len as usize];
    payload[300_000] = 0xFF;
    for piece in payload.chunks(50_000) {
        // The server may already have failed and ended the connection.
        if tcp.write_all(piece).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Protocol(wsock::ProtocolError::InvalidUtf8)),
        "{err:?}"
    );
    let mut reply = Vec::new();
    let _ = tcp.read_to_end(&mut reply).await;
    assert_eq!(
        (reply[0], &reply[2..4]),
        (0x88, &[0x03, 0xEF][..]),
        "close 1007"
    );
}

#[tokio::test]
async fn a_client_still_sending_a_too_big_message_reads_the_1009() {
    // The server fails the connection at the frame's header and then reads
    // and drops the rest until the client ends the transport: closing the
    // socket with the client's data unread would reset the connection, and
    // the reset destroys the close frame before the client reads it.
    for split in [false, true] {
        let (listener, _) = listen().await;
        let addr = listener.local_addr().unwrap();
        let options = Options::new()
            .protocol(Config::new().max_message_size(64 * 1024))
            .close_timeout(Some(Duration::from_secs(10)));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = accept_with(tcp, options, |_| Ok(Acceptance::default()))
                .await
                .unwrap();
            let started = Instant::now();
            let read = if split {
                ws.split().0.read().await
            } else {
                let mut ws = ws;
                ws.read().await
            };
            (read, started.elapsed())
        });
        let client = tokio::task::spawn_blocking(move || send_too_much_and_read(addr, 900 * 1024));
        let (sent, frame) = client.await.unwrap().expect("the client reads a frame");
        // A browser that gets a reset while it sends reports 1006, whatever
        // it had received.
        sent.expect("no reset while the client sends");
        assert_eq!(
            frame[..4],
            [0x88, frame.len() as u8 - 2, 0x03, 0xF1],
            "close 1009"
        );
        let (read, took) = server.await.unwrap();
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

#[tokio::test]
async fn the_linger_after_a_failure_is_bounded_in_time_and_bytes() {
    // A peer that stays silent after its too-big frame's first 100 KB holds
    // the server for the close timeout; one that sends on and on, for the
    // linger's 1 MiB. Either way the server reports the failure.
    for (silent, timeout) in [(true, 1), (false, 60)] {
        let (listener, _) = listen().await;
        let addr = listener.local_addr().unwrap();
        let options = Options::new()
            .protocol(Config::new().max_message_size(64 * 1024))
            .close_timeout(Some(Duration::from_secs(timeout)));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default()))
                .await
                .unwrap();
            let started = Instant::now();
            (ws.read().await, started.elapsed())
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(UPGRADE_REQUEST).await.unwrap();
        tcp.write_all(&endless_frame_header()).await.unwrap();
        let sent = if silent { 100_000 } else { usize::MAX };
        let mut written = 0;
        let sending = async {
            while written < sent {
                match tcp.write(&[0; 16384]).await {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
            std::future::pending::<()>().await
        };
        let (read, took) = tokio::select! {
            result = server => result.unwrap(),
            _ = sending => unreachable!(),
        };
        assert!(
            matches!(read, Err(Error::Protocol(e)) if e.close_code() == CloseCode::MESSAGE_TOO_BIG),
            "silent {silent}: {read:?}"
        );
        check_linger(silent, took, written);
    }
}

/// A send after the peer's close was received is refused and says so.
#[tokio::test]
async fn a_send_after_the_peers_close_says_so() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept(tcp).await.unwrap();
        ws.write(wsock::Outgoing::Text("hi")).unwrap();
        ws.write(wsock::Outgoing::Close(Some((CloseCode::GOING_AWAY, "bye"))))
            .unwrap();
        ws.flush().await.unwrap();
        while ws.read().await.is_ok() {}
    });
    let mut ws = connect(&url).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Text("hi".into()));
    assert!(matches!(ws.read().await.unwrap(), Message::Close(Some(_))));
    let refused = ws.send(Message::Text("too late".into())).await.unwrap_err();
    assert!(
        matches!(refused, Error::PeerClosed(Some(CloseCode::GOING_AWAY))),
        "{refused:?}"
    );
    assert!(matches!(ws.read().await, Err(Error::ConnectionClosed)));
    server.await.unwrap();
}

/// A client sending far more than the server allows (and more than the
/// server drains after failing) has its send fail when the server gives
/// up: the error is the server's close, 1009, not a broken pipe.
#[tokio::test]
async fn a_client_whose_write_fails_reports_the_servers_close() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let options = Options::new().protocol(Config::new().max_message_size(64 * 1024));
        let mut ws = accept_with(tcp, options, |_| Ok(Acceptance::default()))
            .await
            .unwrap();
        ws.read().await.unwrap_err()
    });
    let mut ws = connect(&url).await.unwrap();
    let sent = ws.send(Message::Binary(vec![0; 256 << 20])).await;
    assert!(
        matches!(
            sent,
            Err(Error::PeerClosed(Some(CloseCode::MESSAGE_TOO_BIG)))
        ),
        "{sent:?}"
    );
    assert!(matches!(server.await.unwrap(), Error::Protocol(_)));
}

/// Errors name what failed: the URL as given, the address that refused.
#[tokio::test]
async fn connect_errors_name_the_url_and_the_address() {
    let err = connect("http://127.0.0.1/").await.unwrap_err();
    assert!(matches!(err, Error::Url { .. }), "{err:?}");
    assert!(err.to_string().contains("\"http://127.0.0.1/\""), "{err}");
    // A port nobody listens on (just freed).
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = connect(&format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

/// `connect` turns TCP keepalive on (60 s idle, 10 s between probes, 6
/// probes by default, or the options' values), and so does
/// `set_tcp_keepalive` on an accepted socket; `None` leaves it off.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn tcp_keepalive_on_connected_and_accepted_sockets() {
    for (options, expected) in [
        (Options::new(), Some(DEFAULT)),
        (Options::new().tcp_keepalive(Some(CUSTOM)), Some(CUSTOM)),
        (Options::new().tcp_keepalive(None), None),
    ] {
        let (listener, url) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            set_tcp_keepalive(&tcp, &options).unwrap();
            let ws = accept_with(tcp, options, |_| Ok(Acceptance::default()))
                .await
                .unwrap();
            keepalive_of(SockRef::from(ws.get_ref()))
        });
        let ws = ClientBuilder::new(&url)
            .options(options)
            .connect()
            .await
            .unwrap();
        assert_eq!(keepalive_of(SockRef::from(ws.get_ref().tcp())), expected);
        assert_eq!(server.await.unwrap(), expected);
    }
}
