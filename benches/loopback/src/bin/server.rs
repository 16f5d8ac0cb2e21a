//! `server LIBRARY ADDR` — a WebSocket echo server on one library, for the
//! loopback benchmark. Prints `listening ADDR` once bound, then echoes every
//! text and binary message until killed.
//!
//! Each library is used the way its documentation shows an echo server,
//! with its fastest settings, TCP_NODELAY on every connection, and limits
//! of 64 MiB per message:
//!
//! - `wsock`: the std adapter (`wsock::blocking`), a thread per connection;
//!   `read` + `write`, so replies are queued and a read flushes them before
//!   it blocks: a burst of messages is answered with one write. Read buffer
//!   64 KiB (`Options::read_buffer_size`; the default 8 KiB was slower or
//!   equal in every A/B here; `WSOCK_READ_BUFFER=BYTES` overrides it).
//! - `wsock-poll`: the same std adapter on non-blocking sockets, all
//!   connections on one thread driven by epoll (`mio`), the model of the
//!   current-thread tokio peers: on every readiness event, `read` until
//!   `WouldBlock`, `write` each echo (queued; the next read or the final
//!   `flush` writes the batch). The opening handshake is done in blocking
//!   mode before the socket joins the loop.
//! - `tungstenite`: sync, a thread per connection; `read` + `send` (its
//!   `read` flushes only pongs and closes, so data replies need `send`).
//! - `fastwebsockets`: a current-thread tokio runtime; its echo example's
//!   `FragmentCollector` with `read_frame` + `write_frame` (each reply is
//!   written at once; vectored writes on).
//!   The HTTP upgrade is done by hand (its server upgrade needs hyper), then
//!   `WebSocket::after_handshake` on the raw `TcpStream`.
//! - `wsock-core-tokio` (a reference, not a shipped adapter): wsock's sans-IO
//!   `Connection` driven by hand on the same current-thread tokio runtime
//!   as the async peers: read what is there, decode every frame in place,
//!   encode each echo straight from the input buffer into one output
//!   buffer, one `write_all` per read. It shows what the core does without
//!   the thread-per-connection std adapter.
//! - `tokio-websockets`: a current-thread tokio runtime; `ServerBuilder::accept`,
//!   then `next` + `send` (its `next` flushes queued frames before each
//!   message, so `feed` would not batch either).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

const MAX_MESSAGE: usize = 64 << 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lib, addr] = &args[..] else {
        eprintln!("usage: server wsock|tungstenite|fastwebsockets|tokio-websockets ADDR");
        return ExitCode::from(2);
    };
    match lib.as_str() {
        "wsock" => threads(addr, wsock_conn),
        "wsock-poll" => wsock_poll(addr),
        "tungstenite" => threads(addr, tungstenite_conn),
        "fastwebsockets" => tasks(addr, fastwebsockets_conn),
        "tokio-websockets" => tasks(addr, tokio_websockets_conn),
        "wsock-core-tokio" => tasks(addr, wsock_core_conn),
        other => {
            eprintln!("server: unknown library {other}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

fn announce(addr: std::net::SocketAddr) {
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
}

/// Thread per connection.
fn threads(addr: &str, handle: fn(TcpStream)) {
    let listener = TcpListener::bind(addr).expect("bind");
    announce(listener.local_addr().expect("local address"));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || handle(stream));
    }
}

fn wsock_conn(stream: TcpStream) {
    use wsock::blocking::{Acceptance, Message, Options, accept_with};
    use wsock::{Config, Outgoing};
    let read_buffer = std::env::var("WSOCK_READ_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 10);
    let options = Options::new()
        .protocol(
            Config::new()
                .max_message_size(MAX_MESSAGE as u64)
                .max_frame_size(MAX_MESSAGE as u64),
        )
        .read_buffer_size(read_buffer);
    let Ok(mut ws) = accept_with(stream, options, |_| Ok(Acceptance::default())) else {
        return;
    };
    loop {
        let queued = match ws.read() {
            Ok(Message::Binary(bytes)) => ws.write(Outgoing::Binary(&bytes)),
            Ok(Message::Text(text)) => ws.write(Outgoing::Text(&text)),
            Ok(_) => Ok(()),
            Err(_) => return,
        };
        if queued.is_err() {
            return;
        }
    }
}

/// wsock's std adapter in one thread over non-blocking sockets (see the
/// module docs).
fn wsock_poll(addr: &str) {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    use std::collections::HashMap;
    use std::os::fd::AsRawFd;
    use wsock::blocking::{Acceptance, Error, Message, Options, WebSocket, accept_with};
    use wsock::{Config, Outgoing};

    let listener = TcpListener::bind(addr).expect("bind");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    announce(listener.local_addr().expect("local address"));
    let mut poll = Poll::new().expect("epoll");
    const LISTENER: Token = Token(usize::MAX);
    poll.registry()
        .register(
            &mut SourceFd(&listener.as_raw_fd()),
            LISTENER,
            Interest::READABLE,
        )
        .expect("register listener");
    let options = Options::new()
        .protocol(
            Config::new()
                .max_message_size(MAX_MESSAGE as u64)
                .max_frame_size(MAX_MESSAGE as u64),
        )
        .read_buffer_size(64 << 10);
    let mut conns: HashMap<usize, WebSocket<TcpStream>> = HashMap::new();
    let mut next = 0;
    let mut events = Events::with_capacity(1024);
    let would_block =
        |e: &Error| matches!(e, Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            panic!("epoll: {e}");
        }
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_nonblocking(false);
                    let Ok(ws) = accept_with(stream, options, |_| Ok(Acceptance::default())) else {
                        continue;
                    };
                    if ws.get_ref().set_nonblocking(true).is_err() {
                        continue;
                    }
                    let fd = ws.get_ref().as_raw_fd();
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if poll
                        .registry()
                        .register(&mut SourceFd(&fd), Token(next), interest)
                        .is_ok()
                    {
                        conns.insert(next, ws);
                        next += 1;
                    }
                }
                continue;
            }
            let id = event.token().0;
            let Some(ws) = conns.get_mut(&id) else {
                continue;
            };
            // Edge-triggered: work until the socket says WouldBlock.
            let alive = loop {
                let queued = match ws.read() {
                    Ok(Message::Binary(bytes)) => ws.write(Outgoing::Binary(&bytes)),
                    Ok(Message::Text(text)) => ws.write(Outgoing::Text(&text)),
                    Ok(_) => Ok(()),
                    Err(e) if would_block(&e) => match ws.flush() {
                        Ok(()) => break true,
                        Err(e) => break would_block(&e),
                    },
                    Err(_) => break false,
                };
                match queued {
                    Ok(()) => {}
                    // The frame was taken; the rest goes when writable.
                    Err(e) if would_block(&e) => {}
                    Err(_) => break false,
                }
            };
            if !alive {
                let ws = conns.remove(&id).expect("connection");
                let _ = poll
                    .registry()
                    .deregister(&mut SourceFd(&ws.get_ref().as_raw_fd()));
            }
        }
    }
}

fn tungstenite_conn(stream: TcpStream) {
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    while let Ok(message) = ws.read() {
        if (message.is_binary() || message.is_text()) && ws.send(message).is_err() {
            return;
        }
    }
}

/// Accepts on a current-thread tokio runtime and runs `handle` as a task
/// per connection.
fn tasks<F, Fut>(addr: &str, handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        announce(listener.local_addr().expect("local address"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(handle(stream));
        }
    });
}

async fn fastwebsockets_conn(mut stream: tokio::net::TcpStream) {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    if upgrade_by_hand(&mut stream).await.is_err() {
        return;
    }
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    // As its echo example: the collector hands out frames with the mask
    // removed (echoing `WebSocket::read_frame`'s frame as is would send the
    // client's key back with the mask bit set).
    let mut ws = FragmentCollector::new(ws);
    while let Ok(frame) = ws.read_frame().await {
        let reply = match frame.opcode {
            OpCode::Close => return,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await,
            _ => Ok(()),
        };
        if reply.is_err() {
            return;
        }
    }
}

/// The server side of the opening handshake (RFC 6455 §4.2.2), minimal:
/// the load generator sends nothing after its request until the 101.
async fn upgrade_by_hand(stream: &mut tokio::net::TcpStream) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut buf = [0u8; 2048];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || request.len() > 16 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let key = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let accept = wsock::handshake::accept_key(key.as_bytes());
    let accept = std::str::from_utf8(&accept).map_err(|_| std::io::ErrorKind::InvalidData)?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await
}

async fn tokio_websockets_conn(stream: tokio::net::TcpStream) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_websockets::{Limits, ServerBuilder};
    let accepted = ServerBuilder::new()
        .limits(Limits::default().max_payload_len(Some(MAX_MESSAGE)))
        .accept(stream)
        .await;
    let Ok((_request, mut ws)) = accepted else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_binary() || message.is_text()) && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// wsock's core on tokio, by hand (see the module docs).
async fn wsock_core_conn(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsock::{Config, Connection, DataKind, Event, Outgoing};
    if upgrade_by_hand(&mut stream).await.is_err() {
        return;
    }
    let mut conn = Connection::server(
        Config::new()
            .max_message_size(MAX_MESSAGE as u64)
            .max_frame_size(MAX_MESSAGE as u64),
    );
    let mut input = vec![0u8; 64 << 10];
    let mut output = vec![0u8; 64 << 10];
    // A message that arrived in several chunks is gathered here.
    let mut message = Vec::new();
    loop {
        let n = match stream.read(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut out_len = 0;
        let mut at = 0;
        // `receive` consumes all input when it reports no event (partial
        // headers are kept in the decoder), so the buffer starts empty again.
        while at < n {
            let Ok(got) = conn.receive(&mut input[at..n]) else {
                break;
            };
            at += got.consumed;
            let Some(event) = got.event else { break };
            let Event::Data(chunk) = event else {
                continue;
            };
            let payload = if chunk.first && chunk.last {
                chunk.payload
            } else {
                message.extend_from_slice(chunk.payload);
                if !chunk.last {
                    continue;
                }
                &message[..]
            };
            let frame = match chunk.kind {
                DataKind::Text => Outgoing::Text(std::str::from_utf8(payload).unwrap_or_default()),
                DataKind::Binary => Outgoing::Binary(payload),
            };
            let need = out_len + payload.len() + 14;
            if output.len() < need {
                output.resize(need, 0);
            }
            match conn.encode(frame, &mut output[out_len..]) {
                Ok(written) => out_len += written,
                Err(_) => return,
            }
            if chunk.last {
                message.clear();
            }
        }
        if conn.wants_transmit() {
            if output.len() < out_len + 2 * wsock::connection::MAX_CONTROL_FRAME_LEN {
                output.resize(out_len + 2 * wsock::connection::MAX_CONTROL_FRAME_LEN, 0);
            }
            out_len += conn.poll_transmit(&mut output[out_len..]);
        }
        if out_len > 0 && stream.write_all(&output[..out_len]).await.is_err() {
            return;
        }
        if conn.should_shutdown() {
            return;
        }
    }
}
