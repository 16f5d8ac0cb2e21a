//! `chat ADDR` — a browser chat: an axum server that serves the page at `/`
//! and the WebSocket at `/ws` on the same port, upgraded by
//! `wsock::tokio::upgrade`.
//!
//! ```text
//! cargo run --example chat --features http -- 127.0.0.1:8080
//! ```
//!
//! then open <http://127.0.0.1:8080/> in two browser tabs. A page's first
//! message is its name; after that its text messages are chat lines and its
//! binary messages files (up to 1 MiB), relayed to every tab (the sender's
//! too, so every tab shows the same order). The server tells the pages who
//! joins and leaves (`events.rs`), and closes a client that sends a message
//! over the limit (1009), more than 20 messages a second on average (1008),
//! or cannot keep up with what the others send (1008). The page is plain
//! HTML and JavaScript in `page/`, served by this program.

#[path = "../common/http_server_args.rs"]
mod args;
mod events;
mod rate;
mod room;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use events::Limits;
use rate::Rate;
use room::{Inbox, Item, Kick, MemberId, Room};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsock::tokio::upgrade::{self, Upgraded};
use wsock::tokio::{Acceptance, Error, Keepalive, Message, Options, ReadHalf, WriteHalf};
use wsock::{CloseCode, Config, Outgoing};

const USAGE: &str = "\
Usage: chat ADDR

A browser chat on ADDR (e.g. 127.0.0.1:8080): open http://ADDR/ in a few
tabs. The page is at /, the WebSocket at /ws.

Limits: files up to 1 MiB, 20 messages a second per client (bursts of 40),
100 clients, 8 MiB waiting for one client; a client over a limit is closed
with 1009 (message too big) or 1008 (too fast, too slow).";

/// The largest file a page may send.
const MAX_FILE: usize = 1 << 20;
/// The largest message: a file and the page's header for it (type, name).
const MAX_MESSAGE: usize = MAX_FILE + 1024;
const RATE_PER_SECOND: u32 = 20;
const RATE_BURST: u32 = 40;
const MAX_MEMBERS: usize = 100;
/// What may wait for one client before it is dropped as too slow.
const OUTBOX_BYTES: usize = 8 << 20;
/// How long a page has to send its name.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest name, in characters.
const MAX_NAME: usize = 24;

const TOO_FAST: Kick = Kick {
    code: CloseCode::POLICY_VIOLATION,
    reason: "too many messages: more than 20 a second",
};
const BAD_NAME: Kick = Kick {
    code: CloseCode::POLICY_VIOLATION,
    reason: "send a name of 1 to 24 characters first",
};

#[tokio::main]
async fn main() -> ExitCode {
    let (listener, local) = match args::listen("chat", USAGE).await {
        Ok(listening) => listening,
        Err(code) => return code,
    };
    println!("chat listening on http://{local}/");
    let limits = Limits {
        max_message: MAX_MESSAGE,
        max_file: MAX_FILE,
        rate_per_second: RATE_PER_SECOND,
    };
    let room = Arc::new(Room::new(limits, MAX_MEMBERS, OUTBOX_BYTES));
    let app = Router::new()
        .route(
            "/",
            get(|| page("text/html; charset=utf-8", include_str!("page/index.html"))),
        )
        .route(
            "/chat.js",
            get(|| {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("page/chat.js"),
                )
            }),
        )
        .route(
            "/chat.css",
            get(|| page("text/css; charset=utf-8", include_str!("page/chat.css"))),
        )
        .route("/ws", get(ws))
        .with_state(room);
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("chat: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

/// Upgrades the request and serves the client in a task of its own.
async fn ws(State(room): State<Arc<Room>>, mut request: Request) -> Response {
    let options = Options::new()
        .protocol(
            Config::new()
                .max_message_size(MAX_MESSAGE as u64)
                .max_frame_size(MAX_MESSAGE as u64),
        )
        .keepalive(Some(Keepalive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }));
    let accept = |_: &wsock::handshake::server::Request<'_>| Ok(Acceptance::default());
    let (response, websocket) = match upgrade::on(&mut request, options, accept) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    tokio::spawn(async move {
        match websocket.await {
            Ok(websocket) => {
                let (reader, writer) = websocket.split();
                serve(reader, writer, &room).await;
            }
            Err(e) => println!("upgrade failed: {e}"),
        }
    });
    response
}

/// One client, from its name to its leaving.
async fn serve(mut reader: ReadHalf<Upgraded>, writer: WriteHalf<Upgraded>, room: &Room) {
    let name = match tokio::time::timeout(JOIN_TIMEOUT, reader.read()).await {
        Ok(Ok(Message::Text(name))) => name,
        Ok(Err(_)) => return,
        Ok(Ok(_)) | Err(_) => return refuse(reader, writer, BAD_NAME).await,
    };
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME || name.chars().any(char::is_control) {
        return refuse(reader, writer, BAD_NAME).await;
    }
    let (id, inbox, welcome) = match room.join(name) {
        Ok(joined) => joined,
        Err(e) => return refuse(reader, writer, e.kick()).await,
    };
    println!("{name} joined");
    let writing = tokio::spawn(write_out(writer, inbox, welcome));
    let why = read_in(&mut reader, room, id).await;
    room.leave(id, why.as_deref());
    println!(
        "{name} left{}",
        why.map(|w| format!(": {w}")).unwrap_or_default()
    );
    let _ = writing.await;
}

/// Relays the client's messages to the room until it is gone; returns why
/// when it did not just close.
async fn read_in(reader: &mut ReadHalf<Upgraded>, room: &Room, id: MemberId) -> Option<String> {
    let mut rate = Rate::new(RATE_PER_SECOND, RATE_BURST, Instant::now());
    loop {
        let message = match reader.read().await {
            Ok(message) => message,
            Err(Error::ConnectionClosed) => return None,
            Err(e) => return Some(e.to_string()),
        };
        if matches!(message, Message::Text(_) | Message::Binary(_)) && !rate.allow(Instant::now()) {
            // Closed for it; what it sends until the close is ignored.
            room.kick(id, TOO_FAST);
            continue;
        }
        match message {
            Message::Text(text) => room.say(id, &text),
            Message::Binary(bytes) => room.share(id, bytes),
            _ => {}
        }
    }
}

/// Writes what the room sends the client, batching what has piled up into
/// one flush, until it leaves or is kicked (then closes with the kick's code).
async fn write_out(mut writer: WriteHalf<Upgraded>, mut inbox: Inbox, welcome: String) {
    if writer.send(Message::Text(welcome)).await.is_err() {
        return;
    }
    let mut batch: Vec<Item> = Vec::new();
    loop {
        let flushing = !batch.is_empty();
        tokio::select! {
            biased;
            kick = &mut inbox.kick => {
                // Err: the member left; the read half has ended the connection.
                if let Ok(kick) = kick {
                    let _ = writer.close(kick.code, kick.reason).await;
                }
                return;
            }
            item = inbox.items.recv(), if !flushing => {
                let Some(item) = item else { return };
                batch.push(item);
                while let Ok(item) = inbox.items.try_recv() {
                    batch.push(item);
                }
                for item in &batch {
                    let frame = match item {
                        Item::Text(text) => Outgoing::Text(text),
                        Item::Binary(bytes) => Outgoing::Binary(bytes),
                    };
                    if writer.write(frame).is_err() {
                        return;
                    }
                }
            }
            flushed = writer.flush(), if flushing => {
                if flushed.is_err() {
                    return;
                }
                for item in batch.drain(..) {
                    inbox.written(&item);
                }
            }
        }
    }
}

/// Closes a client that may not join, reading until its close arrives.
async fn refuse(mut reader: ReadHalf<Upgraded>, mut writer: WriteHalf<Upgraded>, kick: Kick) {
    let drain = async { while reader.read().await.is_ok() {} };
    let _ = tokio::join!(writer.close(kick.code, kick.reason), drain);
}
