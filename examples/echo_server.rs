//! `echo_server ADDR` — a WebSocket echo server on wsock's blocking adapter.
//!
//! The command-line contract (what it prints, how it closes) is fixed in
//! `../shared/EXAMPLES.md`; other tools script against it. Its tokio twin is
//! `tokio_echo_server`.
//!
//! Memory, worst case: each connection holds an 8 KiB read buffer, a write
//! queue of at most 64 KiB (bigger messages are written from the message
//! itself, in 64 KiB pieces) and a thread (2 MiB of stack reserved, a few
//! pages of it touched). The messages being received and echoed share one
//! [`Budget`] (`--memory-budget`, default 256 MiB): a message counts with
//! the capacity allocated for it from its first byte until the
//! connection's next read, after its echo is written, so a peer that sends
//! and never reads holds its message there. A message that does not fit
//! closes its connection with 1013. So at most
//! `max-connections × (8 KiB + 64 KiB + touched stack) + budget`: with the
//! defaults 256 × 72 KiB + 256 MiB ≈ 274 MiB plus the stacks' touched pages
//! (without a budget it was 256 × 64 MiB = 16 GiB).

#[path = "common/echo_contract.rs"]
mod contract;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;
use wsock::Outgoing;
use wsock::blocking::{Budget, Error, Message, WebSocket, accept_with};

fn main() -> ExitCode {
    let args = match contract::parse_args("echo_server", "blocking") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let listener = match TcpListener::bind(&args.addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().map_or(args.addr, |a| a.to_string());
    println!("echo_server listening on ws://{local}");
    serve(
        &listener,
        args.max_connections,
        &Budget::new(args.memory_budget),
    );
    ExitCode::SUCCESS
}

/// Serves connections from `listener` until it fails, at most
/// `max_connections` at once, their messages within `budget`.
pub fn serve(listener: &TcpListener, max_connections: usize, budget: &Budget) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut backoff = contract::AcceptBackoff::default();
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                thread::sleep(backoff.failed(&e));
                continue;
            }
        };
        backoff.succeeded();
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
        let budget = budget.clone();
        let name = format!("ws {peer}");
        let spawned = thread::Builder::new().name(name).spawn(move || {
            let outcome = handle(stream, budget);
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
    let _ = stream.write_all(contract::BUSY);
}

/// Serves one connection; returns the line to log.
fn handle(stream: TcpStream, budget: Budget) -> String {
    let _ = stream.set_nodelay(true);
    let mut ws = match accept_with(stream, contract::options(), contract::decide) {
        Ok(ws) => ws,
        Err(e) => return format!("handshake failed: {e}"),
    };
    ws.set_budget(budget);
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
                if let Some((code, reason)) = contract::close_command(&text) {
                    ws.close(code, reason)?;
                    return Ok(format!("closed by the server with {} {reason:?}", code.0));
                }
                *echoed += contract::echo_outcome(ws.write(Outgoing::Text(&text)))?;
            }
            Ok(Message::Binary(bytes)) => {
                *echoed += contract::echo_outcome(ws.write(Outgoing::Binary(&bytes)))?;
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(frame)) => {
                peer_close =
                    Some(frame.map_or_else(|| "no code".to_string(), |f| f.code.to_string()));
            }
            Err(Error::ConnectionClosed) => return Ok(contract::ending(peer_close)),
            Err(e) => return Err(e),
        }
    }
}
