//! Keepalive on the tokio adapter: pings go out while a read waits, a peer
//! that answers keeps the connection, and one that stops answering gets a
//! close with 1011 and loses the connection within the deadline — whole
//! and split.
#![cfg(feature = "tokio")]

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsock::tokio::{
    Acceptance, Error, Keepalive, Message, Options, WebSocket, accept_with, connect,
};

const KEEPALIVE: Keepalive = Keepalive {
    interval: Duration::from_millis(50),
    timeout: Duration::from_millis(150),
};

async fn keepalive_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

async fn accept_one(listener: &TcpListener) -> WebSocket<TcpStream> {
    let (tcp, _) = listener.accept().await.unwrap();
    let options = Options::new().keepalive(Some(KEEPALIVE));
    accept_with(tcp, options, |_| Ok(Acceptance::default()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_peer_that_answers_keeps_the_connection() {
    let (listener, url) = keepalive_server().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener).await;
        // Reads wait through many keepalive rounds (they return the pongs)
        // until the client's text, after 600 ms.
        let mut pongs = 0;
        loop {
            match ws.read().await.unwrap() {
                Message::Pong(_) => pongs += 1,
                text => break ws.send(text).await.unwrap(),
            }
        }
        (ws, pongs)
    });
    let mut client = connect(&url).await.unwrap();
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(600);
    // The client's reads answer each ping (auto-pong) as it arrives.
    while let Ok(read) = tokio::time::timeout_at(until, client.read()).await {
        match read.unwrap() {
            Message::Ping(payload) => {
                assert_eq!(payload, b"wsock keepalive");
                pings += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        pings >= 4,
        "{pings} keepalive pings in 600 ms (one every 50 ms)"
    );
    client
        .send(Message::Text("still here".into()))
        .await
        .unwrap();
    loop {
        match client.read().await.unwrap() {
            Message::Ping(_) => continue,
            m => break assert_eq!(m, Message::Text("still here".into())),
        }
    }
    let (_ws, pongs) = server.await.unwrap();
    assert!(pongs >= 4, "{pongs} pongs");
}

/// A raw TCP client that completes the handshake, then never reads or
/// answers; returns the stream.
async fn silent_peer(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        response.push(tcp.read_u8().await.unwrap());
    }
    assert!(response.starts_with(b"HTTP/1.1 101"));
    tcp
}

/// What the silent peer finds on its socket afterwards: our pings, then
/// the close with 1011 and its reason, then the end of the stream.
async fn check_silent_peer_got_1011(mut tcp: TcpStream) {
    let mut wire = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut wire))
        .await
        .expect("the server ended the transport")
        .unwrap();
    let ping = [&[0x89, 15][..], b"wsock keepalive"].concat();
    assert!(wire.starts_with(&ping), "{wire:?}");
    let mut close = vec![0x88, 2 + 22, 0x03, 0xF3]; // 1011
    close.extend_from_slice(b"keepalive ping timeout");
    assert!(wire.ends_with(&close), "{wire:?}");
}

/// Against a silent peer, `wait` (a read of some kind on the accepted
/// WebSocket) fails with the keepalive's timeout in time, and the peer
/// finds the pings and the 1011 close on its socket.
async fn check_keepalive_fails(wait: impl AsyncFnOnce(WebSocket<TcpStream>) -> Error) {
    let (listener, url) = keepalive_server().await;
    let peer = tokio::spawn(async move { silent_peer(&url).await });
    let ws = accept_one(&listener).await;
    let started = Instant::now();
    let error = wait(ws).await;
    let elapsed = started.elapsed();
    assert!(error.is_timeout(), "{error}");
    assert!(error.to_string().contains("keepalive"), "{error}");
    // First ping after 50 ms, unanswered 150 ms later.
    assert!(
        elapsed >= Duration::from_millis(190) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    check_silent_peer_got_1011(peer.await.unwrap()).await;
}

#[tokio::test]
async fn a_silent_peer_gets_1011_and_the_read_fails_in_time() {
    check_keepalive_fails(async |mut ws| ws.read().await.unwrap_err()).await;
}

#[tokio::test]
async fn zero_copy_reads_keep_alive_too() {
    check_keepalive_fails(async |mut ws| ws.read_event_with(|_| ()).await.unwrap_err()).await;
}

#[tokio::test]
async fn a_split_read_half_keeps_alive() {
    check_keepalive_fails(async |ws| {
        let (mut read, _write) = ws.split();
        read.read().await.unwrap_err()
    })
    .await;
}
