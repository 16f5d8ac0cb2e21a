//! What a tokio server's connections hold in memory: an idle connection
//! (handshake done, nothing to read) holds no read buffer or write queue,
//! and a connection that echoed a big message gives its memory back once
//! it is idle again — whole and split.
//!
//! The server runs on its own thread, on a current-thread runtime; a
//! counting allocator tracks the bytes each thread holds (allocated minus
//! freed there), so the clients' memory on other threads is not counted.
#![cfg(feature = "tokio")]

use std::cell::Cell;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use wsock::tokio::{Message, WebSocket, accept, connect};

#[path = "support/counting.rs"]
mod counting;

const CONNECTIONS: usize = 50;
const BIG: usize = 1 << 20;

/// How the server's connections are served.
#[derive(Clone, Copy)]
enum Serving {
    Whole,
    Split,
    /// Split, only the read half used (the write half is held, idle).
    ReadHalfOnly,
}

/// Asks the server thread for the bytes it holds and how many connections
/// it has accepted.
type Report = oneshot::Sender<(isize, usize)>;

/// Starts an echo server on its own thread; returns its `ws://` URL and a
/// way to ask it for its memory.
fn start_server(serving: Serving) -> (String, mpsc::UnboundedSender<Report>) {
    start_server_with(serving, None)
}

/// [`start_server`], its accepted sockets with send and receive buffers
/// of this size.
fn start_server_with(
    serving: Serving,
    socket_buffers: Option<u32>,
) -> (String, mpsc::UnboundedSender<Report>) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<Report>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = match socket_buffers {
                Some(size) => small_buffer_listener(size),
                None => TcpListener::bind("127.0.0.1:0").await.unwrap(),
            };
            url_tx
                .send(format!("ws://{}/", listener.local_addr().unwrap()))
                .unwrap();
            let accepted = std::rc::Rc::new(Cell::new(0usize));
            let counted = accepted.clone();
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    tokio::task::spawn_local(async move {
                        while let Some(reply) = report_rx.recv().await {
                            let _ = reply.send((counting::held(), counted.get()));
                        }
                    });
                    loop {
                        let (tcp, _) = listener.accept().await.unwrap();
                        let accepted = accepted.clone();
                        tokio::task::spawn_local(async move {
                            let ws = accept(tcp).await.unwrap();
                            accepted.set(accepted.get() + 1);
                            match serving {
                                Serving::Whole => echo(ws).await,
                                Serving::Split => echo_split(ws).await,
                                Serving::ReadHalfOnly => read_only(ws).await,
                            }
                        });
                    }
                })
                .await;
        });
    });
    (url_rx.recv().unwrap(), report_tx)
}

/// A loopback listener whose accepted sockets have send and receive
/// buffers of `size` bytes (they inherit the listener's, on Linux).
fn small_buffer_listener(size: u32) -> TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(size).unwrap();
    socket.set_recv_buffer_size(size).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(64).unwrap()
}

async fn echo(mut ws: WebSocket<tokio::net::TcpStream>) {
    while let Ok(message) = ws.read().await {
        if let m @ (Message::Text(_) | Message::Binary(_)) = message
            && ws.send(m).await.is_err()
        {
            return;
        }
    }
}

/// The read half on this task, the write half on another.
async fn echo_split(ws: WebSocket<tokio::net::TcpStream>) {
    let (mut read, mut write) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(1);
    tokio::task::spawn_local(async move {
        while let Some(m) = rx.recv().await {
            if write.send(m).await.is_err() {
                return;
            }
        }
    });
    while let Ok(message) = read.read().await {
        if let m @ (Message::Text(_) | Message::Binary(_)) = message
            && tx.send(m).await.is_err()
        {
            return;
        }
    }
}

/// Reads events with the read half until the end (`read_event_with` does
/// not wait for the pongs it owes to be written); the write half sends
/// nothing.
async fn read_only(ws: WebSocket<tokio::net::TcpStream>) {
    let (mut read, _write) = ws.split();
    while read.read_event_with(|_| ()).await.is_ok() {}
}

async fn report(server: &mpsc::UnboundedSender<Report>) -> (isize, usize) {
    let (tx, rx) = oneshot::channel();
    server.send(tx).unwrap();
    rx.await.unwrap()
}

/// The server's memory once `accepted` connections are in and it is idle.
async fn idle_memory(server: &mpsc::UnboundedSender<Report>, accepted: usize) -> isize {
    loop {
        let (_, n) = report(server).await;
        if n >= accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let every connection reach its pending read.
    tokio::time::sleep(Duration::from_millis(100)).await;
    report(server).await.0
}

async fn check(serving: Serving, per_idle_connection: isize) {
    let (url, server) = start_server(serving);
    let mut clients = vec![connect(&url).await.unwrap()];
    // One round trip first: the runtime's and the allocator's first-use costs.
    clients[0].send(Message::Text("warm".into())).await.unwrap();
    clients[0].read().await.unwrap();
    let before = idle_memory(&server, 1).await;

    for _ in 1..CONNECTIONS {
        clients.push(connect(&url).await.unwrap());
    }
    let idle = idle_memory(&server, CONNECTIONS).await;
    let per = (idle - before) / (CONNECTIONS as isize - 1);
    assert!(
        per <= per_idle_connection,
        "an idle connection holds {per} bytes on the server"
    );

    // Big messages both ways on every connection, then idle again.
    let big = Message::Binary((0..=255).cycle().take(BIG).collect());
    for ws in &mut clients {
        ws.send(big.clone()).await.unwrap();
    }
    for ws in &mut clients {
        assert_eq!(ws.read().await.unwrap(), big);
    }
    let after = idle_memory(&server, CONNECTIONS).await;
    // The thread keeps up to 256 KiB of spare buffers for the next
    // connection that wakes; allow a little more for the runtime's own
    // bookkeeping. An 8 KiB buffer kept by every connection would exceed
    // this (400 KiB), a 64 KiB one by far (3.2 MiB).
    assert!(
        after - idle <= 256 * 1024 + 8 * 1024,
        "{} bytes still held after the big messages ({CONNECTIONS} connections)",
        after - idle
    );
}

#[tokio::test]
async fn idle_connections_hold_no_buffers_and_give_memory_back() {
    check(Serving::Whole, 4096).await;
}

#[tokio::test]
async fn idle_split_connections_hold_no_buffers_and_give_memory_back() {
    check(Serving::Split, 6144).await;
}

/// A peer that sends pings as fast as it can and never reads: the server
/// owes it pongs it cannot write. Its memory must stay bounded (owed pongs
/// collapse to the latest behind unwritten bytes) even when its read half
/// reads on while replies wait. `held` tells what the server holds.
async fn ping_flood(url: &str, held: impl AsyncFn() -> isize) {
    use std::io::{Read, Write};
    let before = held().await;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_string();
    // Small socket buffers on both sides (see `small_buffer_listener`), so
    // that the kernel holds few of the pongs: the rest would be the server's.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    let tcp = tcp.into_std().unwrap();
    tcp.set_nonblocking(false).unwrap();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tcp = tcp;
        write!(
            tcp,
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        let mut byte = [0u8];
        while !response.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            response.push(byte[0]);
        }
        assert!(response.starts_with(b"HTTP/1.1 101"));
        // Masked pings of 125 bytes (mask 0: the payload goes as it is).
        let mut ping = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
        ping.extend(std::iter::repeat_n(b'p', 125));
        let burst: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * 512)
            .collect();
        let mut sent = 0usize;
        // 64 MiB of pings: their pongs are far more than socket buffers hold.
        while sent < 64 << 20 && tcp.write_all(&burst).is_ok() {
            sent += burst.len();
            let _ = sent_tx.send(sent);
        }
    });
    // Let the flood run until the server has read and owed a lot.
    let mut sent = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) && sent < 64 << 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        while let Ok(n) = sent_rx.try_recv() {
            sent = n;
        }
    }
    let held = held().await - before;
    assert!(
        sent > 2 << 20,
        "the server read only {sent} bytes of pings: it stopped reading too early to tell"
    );
    assert!(
        held < 512 << 10,
        "the server holds {held} bytes after reading {sent} bytes of pings"
    );
}

#[tokio::test]
async fn a_peer_that_pings_and_never_reads_cannot_grow_a_read_half() {
    let (url, server) = start_server_with(Serving::ReadHalfOnly, Some(4096));
    ping_flood(&url, async || report(&server).await.0).await;
}

/// The same against the blocking adapter's read half, on a thread of its
/// own that publishes what it holds after every event, while the write
/// half is stuck writing a big message the peer never reads (so the read
/// half cannot write its pongs itself).
#[tokio::test]
async fn a_peer_that_pings_and_never_reads_cannot_grow_a_blocking_read_half() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicIsize, Ordering};
    let listener = small_buffer_listener(4096).into_std().unwrap();
    listener.set_nonblocking(false).unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let held = Arc::new(AtomicIsize::new(counting::held()));
    let published = held.clone();
    std::thread::spawn(move || {
        published.store(counting::held(), Ordering::SeqCst);
        let (tcp, _) = listener.accept().unwrap();
        let ws = wsock::blocking::accept(tcp).unwrap();
        let (mut read, mut write) = ws.split().unwrap();
        std::thread::spawn(move || write.send(Message::Binary(vec![0; 16 << 20])));
        while read.read_event_with(|_| ()).is_ok() {
            published.store(counting::held(), Ordering::SeqCst);
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    ping_flood(&url, async || held.load(Ordering::SeqCst)).await;
}

/// Peers that announce a big frame (8 MiB), send 70 KiB of it and stall:
/// a connection holds about what it sent, not what was announced (the
/// payload is read straight into the message, at most 256 KiB ahead; 120
/// KB measured), and at most twice what it sent plus 64 KiB.
#[tokio::test]
async fn a_peer_that_stalls_inside_a_big_frame_holds_what_it_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PEERS: usize = 20;
    const SENT: usize = 70 * 1024;
    let (url, server) = start_server(Serving::Whole);
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut warm = connect(&url).await.unwrap();
    warm.send(Message::Text("warm".into())).await.unwrap();
    warm.read().await.unwrap();
    let before = idle_memory(&server, 1).await;
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
        let mut response = [0u8; 129];
        let _ = tcp.read(&mut response).await.unwrap();
        // A masked binary frame (all-zero key) announcing 8 MiB.
        let mut frame = vec![0x82, 0xFF];
        frame.extend_from_slice(&(8u64 << 20).to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.resize(frame.len() + SENT, 7);
        tcp.write_all(&frame).await.unwrap();
        peers.push(tcp);
    }
    let stalled = idle_memory(&server, PEERS + 1).await;
    let per = (stalled - before) / PEERS as isize;
    assert!(
        per <= (2 * SENT + 64 * 1024) as isize,
        "a stalled connection holds {per} bytes after sending {SENT}"
    );
}
