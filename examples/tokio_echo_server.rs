//! `tokio_echo_server ADDR` — `echo_server` on wsock's tokio adapter: the
//! same command line, output and behaviour (`../shared/EXAMPLES.md`), on a
//! multi-thread runtime with one worker per core.
//!
//! Memory, worst case: each connection holds a read buffer of 8 KiB (only
//! while a read is under way), a write queue under 128 KiB (the high-water
//! mark; messages of 16 KiB or more are written from the message itself)
//! and its task. The messages being received and echoed share one
//! [`Budget`] (`--memory-budget`, default 256 MiB): a message counts with
//! the capacity allocated for it from its first byte until its echo is
//! written out, so a peer that sends and never reads holds its message
//! there. A message that does not fit closes its connection with 1013. So
//! at most `max-connections × (8 KiB + 128 KiB + task) + budget`: with the
//! defaults 256 × 136 KiB + 256 MiB ≈ 290 MiB (without a budget it was
//! 256 × 64 MiB = 16 GiB).

#[path = "common/echo_contract.rs"]
mod contract;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use wsock::tokio::{Budget, Error, Message, WebSocket, accept_with, set_tcp_keepalive};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match contract::parse_args("tokio_echo_server", "tokio") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let listener = match TcpListener::bind(&args.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("tokio_echo_server: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().map_or(args.addr, |a| a.to_string());
    println!("tokio_echo_server listening on ws://{local}");
    serve(
        listener,
        args.max_connections,
        Budget::new(args.memory_budget),
    )
    .await;
    ExitCode::SUCCESS
}

/// Serves connections from `listener`, at most `max_connections` at once,
/// their messages within `budget`.
pub async fn serve(listener: TcpListener, max_connections: usize, budget: Budget) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut backoff = contract::AcceptBackoff::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tokio::time::sleep(backoff.failed(&e)).await;
                continue;
            }
        };
        backoff.succeeded();
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse_busy(stream));
            println!("{peer}: refused: {max_connections} connections already open");
            continue;
        };
        let budget = budget.clone();
        tokio::spawn(async move {
            let outcome = handle(stream, budget).await;
            drop(slot);
            println!("{peer}: {outcome}");
        });
    }
}

/// Answers 503 without reading the request (the server is full).
async fn refuse_busy(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(contract::BUSY)).await;
}

/// Serves one connection; returns the line to log.
async fn handle(stream: TcpStream, budget: Budget) -> String {
    let _ = stream.set_nodelay(true);
    let options = contract::options();
    // TCP keepalive (on by default): a client that vanished without a FIN
    // is found in about 2 minutes. `accept_with` takes any stream, so the
    // socket is ours to set; the blocking `accept_with` does it itself.
    let _ = set_tcp_keepalive(&stream, &options);
    let mut ws = match accept_with(stream, options, contract::decide).await {
        Ok(ws) => ws,
        Err(e) => return format!("handshake failed: {e}"),
    };
    ws.set_budget(budget);
    let mut echoed = 0u64;
    match echo(&mut ws, &mut echoed).await {
        Ok(how) => format!("{echoed} messages echoed, {how}"),
        Err(e) => format!("{echoed} messages echoed, failed: {e}"),
    }
}

/// Echoes until the connection ends; returns how it ended.
async fn echo(ws: &mut WebSocket<TcpStream>, echoed: &mut u64) -> Result<String, Error> {
    let mut peer_close = None;
    loop {
        // Replies are queued by `feed` (which waits while the queue is over
        // its high-water mark) and flushed before the next read waits, so a
        // burst of messages is answered with one write.
        match ws.read().await {
            Ok(Message::Text(text)) => {
                if let Some((code, reason)) = contract::close_command(&text) {
                    ws.close(code, reason).await?;
                    return Ok(format!("closed by the server with {} {reason:?}", code.0));
                }
                *echoed += contract::echo_outcome(ws.feed(Message::Text(text)).await)?;
            }
            Ok(Message::Binary(bytes)) => {
                *echoed += contract::echo_outcome(ws.feed(Message::Binary(bytes)).await)?;
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
