//! `server LIBRARY ADDR` — a WebSocket echo server on one library, for the
//! loopback benchmark. Prints `listening ADDR` once bound, then echoes every
//! text and binary message until killed.
//!
//! Each library is used the way its documentation shows an echo server,
//! with its fastest settings, TCP_NODELAY on every connection, and limits
//! of 64 MiB per message:
//!
//! - `wsock`: the std adapter (`wsock::blocking`), a thread per connection;
//!   `read_event_and_reply`, echoing each message while its chunk is
//!   borrowed from the read buffer (messages of 16 KiB and more zero-copy,
//!   by vectored writes; smaller ones queued, and a read flushes the queue
//!   before it blocks: a burst of messages is answered with one write; a
//!   message that arrived in pieces is gathered first). Read buffer
//!   64 KiB (`Options::read_buffer_size`; the default 8 KiB was slower or
//!   equal in every A/B here; `WSOCK_READ_BUFFER=BYTES` overrides it).
//! - `wsock-poll`: the same std adapter and echo on non-blocking sockets, all
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
//!   core's `Driver` stepped by hand on the same current-thread tokio
//!   runtime as the async peers: it answers Read / Write / event, each
//!   echo is queued straight from the input buffer into one output buffer
//!   while the chunk is borrowed, and all frames already read are answered
//!   before the one `write_all`. It shows what the core does without the
//!   thread-per-connection std adapter.
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
    use wsock::Config;
    use wsock::blocking::{Acceptance, Options, accept_with};
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
    let mut echo = Echo::default();
    while let Ok(Ok(())) = ws.read_event_and_reply(|event, writer| echo.answer(event, writer)) {}
}

/// wsock's echo, answering each chunk while it is borrowed from the read
/// buffer: a message that arrived in one chunk is echoed from there (big
/// ones zero-copy, by vectored writes); one that arrived in pieces is
/// gathered first, as the load generator wants whole frames back.
#[derive(Default)]
struct Echo {
    message: Vec<u8>,
}

impl Echo {
    fn answer<S: wsock::blocking::Transport>(
        &mut self,
        event: wsock::Event<'_>,
        mut writer: wsock::blocking::Writer<'_, S>,
    ) -> Result<(), wsock::blocking::Error> {
        let wsock::Event::Data(chunk) = event else {
            return Ok(());
        };
        let whole = |payload| wsock::Outgoing::Fragment {
            kind: chunk.kind,
            payload,
            last: true,
        };
        if chunk.first && chunk.last {
            return writer.write(whole(chunk.payload));
        }
        self.message.extend_from_slice(chunk.payload);
        if !chunk.last {
            return Ok(());
        }
        let sent = writer.write(whole(&self.message));
        self.message.clear();
        sent
    }
}

/// wsock's std adapter in one thread over non-blocking sockets (see the
/// module docs).
fn wsock_poll(addr: &str) {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    use std::collections::HashMap;
    use std::os::fd::AsRawFd;
    use wsock::Config;
    use wsock::blocking::{Acceptance, Error, Options, WebSocket, accept_with};

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
    let mut echoes: HashMap<usize, Echo> = HashMap::new();
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
            let echo = echoes.entry(id).or_default();
            let alive = loop {
                let queued =
                    match ws.read_event_and_reply(|event, writer| echo.answer(event, writer)) {
                        Ok(queued) => queued,
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
                echoes.remove(&id);
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

/// wsock's core on tokio, by hand (see the module docs): the `Driver`'s
/// step, with each echo queued while its chunk is borrowed.
/// The echo of the tokio servers on wsock, queued while the chunk is
/// borrowed: at once when the chunk is a whole message, else once its last
/// piece is gathered in `message` (the load generator wants whole frames).
fn echo_chunk<R: rand_core::Rng, O: wsock::driver::OutputBuffer>(
    event: wsock::Event<'_>,
    reply: &mut wsock::driver::Reply<'_, R, O>,
    message: &mut Vec<u8>,
) -> Result<(), wsock::SendError> {
    let wsock::Event::Data(chunk) = event else {
        return Ok(());
    };
    let whole = |payload| wsock::Outgoing::Fragment {
        kind: chunk.kind,
        payload,
        last: true,
    };
    if chunk.first && chunk.last {
        return reply.queue(whole(chunk.payload));
    }
    message.extend_from_slice(chunk.payload);
    if !chunk.last {
        return Ok(());
    }
    let queued = reply.queue(whole(message));
    message.clear();
    queued
}

async fn wsock_core_conn(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsock::driver::{Driver, Next};
    use wsock::{Config, Connection};
    if upgrade_by_hand(&mut stream).await.is_err() {
        return;
    }
    let conn = Connection::server(
        Config::new()
            .max_message_size(MAX_MESSAGE as u64)
            .max_frame_size(MAX_MESSAGE as u64),
    );
    let mut driver = Driver::new(conn, vec![0u8; 64 << 10], Vec::new());
    // A message that arrived in several chunks is gathered here.
    let mut message = Vec::new();
    loop {
        let next =
            driver.poll_event(|event, mut reply| echo_chunk(event, &mut reply, &mut message));
        match next {
            Next::Ready(Ok(Ok(()))) => {}
            Next::Ready(_) | Next::Shutdown => return,
            Next::Read => match stream.read(driver.input_space()).await {
                Ok(n) => driver.input_filled(n),
                Err(_) => return,
            },
            Next::Write => {
                let n = driver.pending_output().len();
                if stream.write_all(driver.pending_output()).await.is_err() {
                    return;
                }
                driver.output_written(n);
            }
        }
    }
}
