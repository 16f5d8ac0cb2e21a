//! `echo_server ADDR` — a WebSocket echo server on wsock's blocking adapter.
//!
//! The command-line contract (what it prints, how it closes) is fixed in
//! `../shared/EXAMPLES.md`; other tools script against it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;
use wsock::blocking::{Acceptance, Error, Message, Options, WebSocket, accept_with};
use wsock::{CloseCode, Config, Outgoing};

const USAGE: &str = "\
Usage: echo_server [--max-connections N] ADDR

A WebSocket echo server on wsock's blocking adapter.

  ADDR                 address to listen on, e.g. 127.0.0.1:9001
  --max-connections N  connections served at once (default 256); more are
                       refused with HTTP 503
  --help               print this help

Echoes every text message as text and every binary message as binary, byte
for byte, up to 64 MiB per message (bigger: close 1009). A text message
`!close CODE REASON` is not echoed: the server starts the closing handshake
with that code and reason. Selects the subprotocol `echo` when offered and
declines every other subprotocol and every extension. Answers pings, echoes a
client's close code, then closes TCP. Logs one line when listening and one per
connection.";

/// The largest message echoed, per the contract.
const MAX_MESSAGE: u64 = 64 << 20;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut max_connections = 256usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--max-connections" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => max_connections = n,
                _ => return usage_error("--max-connections needs a positive number"),
            },
            other if other.starts_with('-') => {
                return usage_error(&format!("unknown option {other}"));
            }
            other if addr.is_none() => addr = Some(other.to_string()),
            other => return usage_error(&format!("unexpected argument {other}")),
        }
    }
    let Some(addr) = addr else {
        return usage_error("missing ADDR");
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("echo_server listening on ws://{local}");
    serve(&listener, max_connections);
    ExitCode::SUCCESS
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("echo_server: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn serve(listener: &TcpListener, max_connections: usize) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "unknown".into(), |a: SocketAddr| a.to_string());
        if active.fetch_add(1, Ordering::SeqCst) >= max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            refuse_busy(stream);
            println!("{peer}: refused: {max_connections} connections already open");
            continue;
        }
        let counter = Arc::clone(&active);
        let name = format!("ws {peer}");
        let spawned = thread::Builder::new().name(name).spawn(move || {
            let outcome = handle(stream);
            counter.fetch_sub(1, Ordering::SeqCst);
            println!("{peer}: {outcome}");
        });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            eprintln!("cannot start a connection thread: {e}");
        }
    }
}

/// Answers 503 without reading the request (the server is full).
fn refuse_busy(mut stream: TcpStream) {
    use std::io::Write;
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
}

/// Serves one connection; returns the line to log.
fn handle(stream: TcpStream) -> String {
    let _ = stream.set_nodelay(true);
    let options = Options::new().protocol(
        Config::new()
            .max_message_size(MAX_MESSAGE)
            .max_frame_size(MAX_MESSAGE),
    );
    let ws = accept_with(stream, options, |request| {
        let echo = request.subprotocols().any(|p| p == "echo");
        Ok(Acceptance {
            subprotocol: echo.then(|| "echo".to_string()),
            ..Acceptance::default()
        })
    });
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(e) => return format!("handshake failed: {e}"),
    };
    let mut echoed = 0u64;
    match echo(&mut ws, &mut echoed) {
        Ok(how) => format!("{echoed} messages echoed, {how}"),
        Err(e) => format!("{echoed} messages echoed, failed: {e}"),
    }
}

/// Echoes until the connection ends; returns how it ended.
fn echo(ws: &mut WebSocket<TcpStream>, echoed: &mut u64) -> Result<String, Error> {
    let mut peer_close = None;
    loop {
        // Replies are queued by `write` and flushed before the next blocking
        // read, so a burst of messages is answered with one write.
        match ws.read() {
            Ok(Message::Text(text)) => {
                if let Some(command) = text.strip_prefix("!close ") {
                    let (code, reason) = parse_close_command(command);
                    ws.close(code, reason)?;
                    return Ok(format!("closed by the server with {} {reason:?}", code.0));
                }
                ws.write(Outgoing::Text(&text))?;
                *echoed += 1;
            }
            Ok(Message::Binary(bytes)) => {
                ws.write(Outgoing::Binary(&bytes))?;
                *echoed += 1;
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(frame)) => {
                peer_close =
                    Some(frame.map_or_else(|| "no code".to_string(), |f| f.code.to_string()));
            }
            Err(Error::ConnectionClosed) => {
                return Ok(match peer_close {
                    Some(code) => format!("closed by the client ({code})"),
                    None => "closed".to_string(),
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// `CODE REASON` → a close code and reason; a code that may not be sent
/// (or is not a number) becomes 1000 with the whole text as the reason.
fn parse_close_command(command: &str) -> (CloseCode, &str) {
    let (code, reason) = command.split_once(' ').unwrap_or((command, ""));
    let reason = truncate_reason(reason);
    match code.parse::<u16>().map(CloseCode) {
        Ok(code) if code.is_sendable() => (code, reason),
        _ => (CloseCode::NORMAL, truncate_reason(command)),
    }
}

/// Cuts a reason to the 123 bytes a close frame allows, on a char boundary.
fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(wsock::close::MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
