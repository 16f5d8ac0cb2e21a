//! `chat_server ADDR` — a broadcast chat on wsock's blocking adapter, one
//! reader thread and one writer thread per client ([`WebSocket::split`]).
//!
//! The command-line contract is fixed in `../shared/EXAMPLES.md`: every text
//! or binary message a client sends goes to every *other* client, unchanged
//! and in the order it was received; clients send and receive at once; a
//! client that cannot keep up is dropped with close 1008 instead of stalling
//! the others.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;
use wsock::blocking::{Error, Message, Options, WebSocket, WriteHalf, accept_with};
use wsock::{CloseCode, Config};

const USAGE: &str = "\
Usage: chat_server ADDR

A broadcast chat server on wsock's blocking adapter.

  ADDR    address to listen on, e.g. 127.0.0.1:9002
  --help  print this help

Every text or binary message a client sends is relayed, unchanged, to every
other connected client, in the order the server received it; the sender gets
no copy. Clients may send and receive at the same time. A client's close is
answered and the others keep chatting. A client more than 1024 messages
behind, or whose socket takes no data for 10 s, is dropped with close 1008. Logs one line when listening and one per
connection.";

/// Messages waiting for one client before it counts as too slow.
const OUTBOX: usize = 1024;

/// How long a write to a client may block before it counts as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest message relayed (bigger: close 1009).
const MAX_MESSAGE: u64 = 16 << 20;

/// A relayed message, shared by every outbox it is in.
type Shared = Arc<Message>;

/// The outboxes of the connected clients, by client number.
#[derive(Default)]
struct Room {
    outboxes: Mutex<HashMap<u64, SyncSender<Shared>>>,
}

impl Room {
    /// Adds a client; its writer thread drains the returned outbox.
    fn join(&self, id: u64) -> Receiver<Shared> {
        let (tx, rx) = sync_channel(OUTBOX);
        self.lock().insert(id, tx);
        rx
    }

    /// Removes a client: its writer thread sees its outbox close.
    fn leave(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Queues `message` for every client but `from`. A full outbox means
    /// that client is too slow: it is removed (its writer closes it).
    fn relay(&self, from: u64, message: Message) {
        let message = Arc::new(message);
        self.lock().retain(|&id, outbox| {
            id == from
                || match outbox.try_send(Arc::clone(&message)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        println!("client {id}: too slow, dropped");
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SyncSender<Shared>>> {
        self.outboxes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> ExitCode {
    let mut addr = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
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
            eprintln!("chat_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("chat_server listening on ws://{local}");
    serve(&listener);
    ExitCode::SUCCESS
}

#[cfg_attr(test, allow(dead_code))]
fn usage_error(message: &str) -> ExitCode {
    eprintln!("chat_server: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Accepts clients for ever, two threads each.
pub fn serve(listener: &TcpListener) {
    let room = Arc::new(Room::default());
    for (id, stream) in (1u64..).zip(listener.incoming()) {
        let Ok(stream) = stream else { continue };
        let room = Arc::clone(&room);
        thread::spawn(move || match chat(id, stream, &room) {
            Ok(()) => println!("client {id}: closed"),
            Err(e) => println!("client {id}: {e}"),
        });
    }
}

/// One client: this thread reads and relays, a second one writes.
fn chat(id: u64, stream: TcpStream, room: &Room) -> Result<(), Error> {
    let peer = stream.peer_addr()?;
    let options = Options::new()
        .protocol(Config::new().max_message_size(MAX_MESSAGE))
        .handshake_timeout(Some(Duration::from_secs(10)));
    // Joined before the handshake ends, so that a client is sent everything
    // relayed after its handshake response.
    let outbox = room.join(id);
    let halves =
        accept_with(stream, options, |_| Ok(Default::default())).and_then(WebSocket::split);
    let (mut reader, writer) = match halves {
        Ok(halves) => halves,
        Err(e) => {
            room.leave(id);
            return Err(e);
        }
    };
    // A client that stops reading cannot hold its writer for ever.
    reader.get_ref().set_write_timeout(Some(WRITE_TIMEOUT))?;
    println!("client {id}: connected from {peer}");
    let writer = thread::spawn(move || write_outbox(writer, &outbox));
    let result = loop {
        match reader.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => room.relay(id, message),
            Ok(_) => {} // pings are answered, the close is replied to
            Err(Error::ConnectionClosed) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    room.leave(id);
    let _ = writer.join();
    result
}

/// Sends a client its outbox in order, batching what is waiting into one
/// write. When the room drops the client, or a write fails or times out,
/// closes it with 1008 (bounded by the close timeout).
fn write_outbox(mut writer: WriteHalf<TcpStream>, outbox: &Receiver<Shared>) {
    while let Ok(message) = outbox.recv() {
        let mut sent = writer.write(message.as_outgoing());
        while let (Ok(()), Ok(more)) = (&sent, outbox.try_recv()) {
            sent = writer.write(more.as_outgoing());
        }
        if sent.and_then(|()| writer.flush()).is_err() {
            break;
        }
    }
    // The client left (then the connection is closing already), the room
    // dropped it, or it stopped taking data.
    if writer.state() == wsock::State::Open {
        let _ = writer.close(CloseCode::POLICY_VIOLATION, "too slow");
    }
}
