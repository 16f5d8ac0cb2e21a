//! `client URL` — an interactive WebSocket client on wsock's blocking adapter.
//!
//! The command-line contract (what it prints, how it closes, exit codes) is
//! fixed in `../shared/EXAMPLES.md`; other tools script against it. Its tokio
//! twin is `tokio_client`.

#[path = "common/client_contract.rs"]
mod contract;

use std::process::ExitCode;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};
use wsock::blocking::{ClientBuilder, Error, MaybeTlsStream, Message, Transport, WebSocket};
use wsock::{CloseCode, Outgoing};

/// How often the client looks at stdin while waiting for the server.
const POLL: Duration = Duration::from_millis(20);

/// How long the closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args = match contract::parse_args("client", "blocking") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let mut ws = match ClientBuilder::new(&args.url)
        .options(contract::options(&args))
        .connect()
    {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("client: cannot connect to {}: {e}", args.url);
            return ExitCode::FAILURE;
        }
    };
    match run(&mut ws, args.binary) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(ws: &mut WebSocket<MaybeTlsStream>, binary: bool) -> Result<(), Error> {
    let (tx, lines) = mpsc::channel();
    contract::read_stdin_lines(move |line| tx.send(line).is_ok());
    // Short read timeouts let one thread serve both stdin and the socket; a
    // timed-out read loses nothing and resumes where it stopped.
    ws.get_mut().set_timeout(Some(POLL))?;
    let mut stdout = std::io::stdout().lock();
    // Set once either side has sent a close: the handshake must end by then.
    let mut close_deadline: Option<Instant> = None;
    loop {
        while close_deadline.is_none() {
            match lines.try_recv() {
                Ok(Some(line)) => {
                    // A big message may take longer than the polling timeout
                    // to write, but not for ever.
                    ws.get_mut().set_timeout(Some(contract::WRITE_TIMEOUT))?;
                    match ws.send_frame(contract::line_frame(&line, binary)?) {
                        Err(e) if e.is_timeout() => return Err(contract::write_timed_out()),
                        sent => sent?,
                    }
                    ws.get_mut().set_timeout(Some(POLL))?;
                }
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
            Ok(Message::Text(text)) => contract::print_message(&mut stdout, Some(&text), &[])?,
            Ok(Message::Binary(bytes)) => contract::print_message(&mut stdout, None, &bytes)?,
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
