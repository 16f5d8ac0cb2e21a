//! `axum_echo ADDR` — an axum server with a WebSocket echo route at `/ws`,
//! upgraded by `wsock::tokio::upgrade`:
//!
//! ```text
//! cargo run --example axum_echo --features http -- 127.0.0.1:8080
//! cargo run --example tokio_client --features tokio -- ws://127.0.0.1:8080/ws
//! ```
//!
//! Every text and binary message is echoed; the subprotocol `echo` is
//! selected when offered. `GET /` answers in plain HTTP, from the same
//! server.

#[path = "common/http_server_args.rs"]
mod args;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use std::process::ExitCode;
use wsock::tokio::upgrade::{self, Upgraded};
use wsock::tokio::{Acceptance, Error, Message, Options, WebSocket};

const USAGE: &str = "\
Usage: axum_echo ADDR

An axum server on ADDR (e.g. 127.0.0.1:8080) with a WebSocket echo route at
/ws (wsock's http upgrade) and a plain HTTP page at /.";

#[tokio::main]
async fn main() -> ExitCode {
    let (listener, local) = match args::listen("axum_echo", USAGE).await {
        Ok(listening) => listening,
        Err(code) => return code,
    };
    println!("axum_echo listening on ws://{local}/ws");
    let app = Router::new()
        .route("/", get(|| async { "a WebSocket echo is at /ws\n" }))
        .route("/ws", get(ws));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("axum_echo: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Answers the upgrade request and serves the WebSocket in a task of its own.
async fn ws(mut request: Request) -> Response {
    let decide = |request: &wsock::handshake::server::Request<'_>| {
        let echo = request.subprotocols().find(|p| *p == "echo");
        Ok(Acceptance {
            subprotocol: echo.map(String::from),
            ..Acceptance::default()
        })
    };
    let (response, websocket) = match upgrade::on(&mut request, Options::new(), decide) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            println!("refused: {refusal}");
            return refusal.into_response();
        }
    };
    tokio::spawn(async move {
        let outcome = match websocket.await {
            Ok(mut ws) => echo(&mut ws).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(echoed) => println!("{echoed} messages echoed, closed"),
            Err(e) => println!("failed: {e}"),
        }
    });
    response
}

/// Echoes until the closing handshake is over; returns how many messages.
async fn echo(ws: &mut WebSocket<Upgraded>) -> Result<u64, Error> {
    let mut echoed = 0;
    loop {
        match ws.read().await {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                ws.send(message).await?;
                echoed += 1;
            }
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(echoed),
            Err(e) => return Err(e),
        }
    }
}
