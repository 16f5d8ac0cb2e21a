//! `client URL` — an interactive WebSocket client on wsock's blocking adapter.
//!
//! The command-line contract (what it prints, how it closes, exit codes) is
//! fixed in `../shared/EXAMPLES.md`; other tools script against it.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};
use wsock::blocking::{ClientBuilder, Error, MaybeTlsStream, Message, Transport, WebSocket};
use wsock::{CloseCode, Outgoing};

const USAGE: &str = "\
Usage: client [--binary] URL

An interactive WebSocket client on wsock's blocking adapter.

  URL       ws://host:port/path or wss://host:port/path
  --binary  send each stdin line as a binary message instead of text
  --help    print this help

Each stdin line (without its line ending) is sent as one message; an empty
line sends an empty message. Each received text message is printed as is on
its own line; a binary message is printed as `binary:` and its bytes in
lowercase hex. Pings are answered and not printed. At stdin EOF the client
sends close 1000, waits for the closing handshake and exits 0. When the
server closes first, the client answers with the same code and exits 0.
Errors go to stderr with a non-zero exit status.";

/// How often the client looks at stdin while waiting for the server.
const POLL: Duration = Duration::from_millis(20);

/// How long the closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let mut binary = false;
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--binary" => binary = true,
            other if other.starts_with('-') => {
                return usage_error(&format!("unknown option {other}"));
            }
            other if url.is_none() => url = Some(other.to_string()),
            other => return usage_error(&format!("unexpected argument {other}")),
        }
    }
    let Some(url) = url else {
        return usage_error("missing URL");
    };
    let mut ws = match ClientBuilder::new(&url).connect() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("client: cannot connect to {url}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&mut ws, binary) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("client: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Lines from stdin, read on their own thread; `None` at EOF.
fn stdin_lines() -> Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

fn run(ws: &mut WebSocket<MaybeTlsStream>, binary: bool) -> Result<(), Error> {
    let lines = stdin_lines();
    // Short read timeouts let one thread serve both stdin and the socket; a
    // timed-out read loses nothing and resumes where it stopped.
    ws.get_mut().set_timeout(Some(POLL))?;
    let mut stdout = std::io::stdout().lock();
    // Set once either side has sent a close: the handshake must end by then.
    let mut close_deadline: Option<Instant> = None;
    loop {
        while close_deadline.is_none() {
            match lines.try_recv() {
                Ok(Some(line)) => send_line(ws, &line, binary)?,
                Ok(None) | Err(TryRecvError::Disconnected) => {
                    // stdin ended: start the close and keep printing what
                    // arrives until the server's close reply.
                    ws.send_frame(Outgoing::Close(Some((CloseCode::NORMAL, ""))))?;
                    close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if close_deadline.is_some_and(|deadline| Instant::now() > deadline) {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the closing handshake did not finish in time",
            )));
        }
        match ws.read() {
            Ok(Message::Text(text)) => print_line(&mut stdout, text.as_bytes())?,
            Ok(Message::Binary(bytes)) => {
                let mut line = b"binary:".to_vec();
                for b in bytes {
                    line.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                print_line(&mut stdout, &line)?;
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            // The server's close: if it came first, our reply (same code)
            // went out with this read. Either way, wait for the server to
            // end TCP.
            Ok(Message::Close(_)) => {
                close_deadline.get_or_insert_with(|| Instant::now() + CLOSE_TIMEOUT);
            }
            Err(e) if e.is_timeout() => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn send_line(ws: &mut WebSocket<MaybeTlsStream>, line: &[u8], binary: bool) -> Result<(), Error> {
    let frame = if binary {
        Outgoing::Binary(line)
    } else {
        Outgoing::Text(std::str::from_utf8(line).map_err(|_| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stdin line is not UTF-8 (use --binary)",
            ))
        })?)
    };
    // A big message may take longer than the polling timeout to write.
    ws.get_mut().set_timeout(None)?;
    ws.send_frame(frame)?;
    ws.get_mut().set_timeout(Some(POLL))?;
    Ok(())
}

fn print_line(out: &mut impl Write, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
