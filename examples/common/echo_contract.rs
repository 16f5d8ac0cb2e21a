//! What `echo_server` and `tokio_echo_server` share: the command line and
//! the parts of the contract in `../shared/EXAMPLES.md` that do not depend on
//! the adapter.

use std::process::ExitCode;
use wsock::CloseCode;
use wsock::blocking::{Acceptance, Options};
use wsock::handshake::server::Request;

/// The usage text, for the named server on the named adapter.
pub fn usage(name: &str, adapter: &str) -> String {
    format!(
        "\
Usage: {name} [--max-connections N] [--memory-budget MIB] ADDR

A WebSocket echo server on wsock's {adapter} adapter.

  ADDR                 address to listen on, e.g. 127.0.0.1:9001
  --max-connections N  connections served at once (default 256); more are
                       refused with HTTP 503
  --memory-budget MIB  memory for the messages being received and echoed,
                       shared by all connections (default 256); a message
                       that does not fit closes its connection with 1013
  --help               print this help

Echoes every text message as text and every binary message as binary, byte
for byte, up to 64 MiB per message (bigger: close 1009) while the memory
budget lasts (else: close 1013, try again later). A text message
`!close CODE REASON` is not echoed: the server starts the closing handshake
with that code and reason. Selects the subprotocol `echo` when offered and
declines every other subprotocol and every extension. Answers pings, echoes a
client's close code, then closes TCP. Logs one line when listening and one per
connection."
    )
}

/// The parsed command line.
pub struct Args {
    pub addr: String,
    pub max_connections: usize,
    /// `--memory-budget`, in bytes.
    pub memory_budget: usize,
}

/// The memory budget's default: 256 MiB for all connections' messages.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// Parses the command line; on `--help` or an error, the exit code.
pub fn parse_args(name: &str, adapter: &str) -> Result<Args, ExitCode> {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut max_connections = 256usize;
    let mut memory_budget = DEFAULT_MEMORY_BUDGET;
    let usage_error = |message: &str| {
        eprintln!("{name}: {message}\n\n{}", usage(name, adapter));
        ExitCode::from(2)
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{}", usage(name, adapter));
                return Err(ExitCode::SUCCESS);
            }
            "--max-connections" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => max_connections = n,
                _ => return Err(usage_error("--max-connections needs a positive number")),
            },
            "--memory-budget" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(mib) if mib > 0 && mib.checked_mul(1 << 20).is_some() => {
                    memory_budget = mib << 20;
                }
                _ => {
                    return Err(usage_error(
                        "--memory-budget needs a positive number of MiB",
                    ));
                }
            },
            other if other.starts_with('-') => {
                return Err(usage_error(&format!("unknown option {other}")));
            }
            other if addr.is_none() => addr = Some(other.to_string()),
            other => return Err(usage_error(&format!("unexpected argument {other}"))),
        }
    }
    match addr {
        Some(addr) => Ok(Args {
            addr,
            max_connections,
            memory_budget,
        }),
        None => Err(usage_error("missing ADDR")),
    }
}

/// The largest message echoed, per the contract.
const MAX_MESSAGE: u64 = 64 << 20;

/// The answer to a connection over the limit (the request is not read).
pub const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// The options of a connection: 64 MiB messages; a keepalive ping every
/// 30 s while a read waits, answered within 30 s or the connection is
/// dropped with 1011 (a peer that went silent, or a half-open connection,
/// is freed within a minute); the library's handshake (10 s), close (5 s)
/// and TCP keepalive defaults; permessage-deflate accepted when offered
/// (15-bit windows, context takeover, every message compressed).
pub fn options() -> Options {
    Options::new()
        .deflate(Some(wsock::blocking::DeflateOptions::default()))
        .protocol(
            wsock::Config::new()
                .max_message_size(MAX_MESSAGE)
                .max_frame_size(MAX_MESSAGE),
        )
        .keepalive(Some(wsock::blocking::Keepalive {
            interval: std::time::Duration::from_secs(30),
            timeout: std::time::Duration::from_secs(30),
        }))
}

/// The handshake decision: `echo` is selected when offered.
pub fn decide(request: &Request<'_>) -> Result<Acceptance, wsock::blocking::Rejection> {
    let echo = request.subprotocols().any(|p| p == "echo");
    Ok(Acceptance {
        subprotocol: echo.then(|| "echo".to_string()),
        ..Acceptance::default()
    })
}

/// A `!close CODE REASON` command in a text message: the close to start.
/// A code that may not be sent (or is not a number) becomes 1000 with the
/// whole text as the reason.
pub fn close_command(text: &str) -> Option<(CloseCode, &str)> {
    let command = text.strip_prefix("!close ")?;
    let (code, reason) = command.split_once(' ').unwrap_or((command, ""));
    let reason = truncate_reason(reason);
    Some(match code.parse::<u16>().map(CloseCode) {
        Ok(code) if code.is_sendable() => (code, reason),
        _ => (CloseCode::NORMAL, truncate_reason(command)),
    })
}

/// Cuts a reason to the 123 bytes a close frame allows, on a char boundary.
fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(wsock::close::MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// How a connection ended, as the log line says it.
pub fn ending(peer_close: Option<String>) -> String {
    match peer_close {
        Some(code) => format!("closed by the client ({code})"),
        None => "closed".to_string(),
    }
}

/// How long an echo server waits after a failed `accept` (out of file
/// descriptors, say), so that connections can end meanwhile: 10 ms after the
/// first failure, doubling up to 1 s while failures go on; one log line per
/// wait.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<std::time::Duration>,
}

impl AcceptBackoff {
    /// A failed accept: logs it and returns how long to wait.
    pub fn failed(&mut self, error: &std::io::Error) -> std::time::Duration {
        let delay = self
            .delay
            .map_or(std::time::Duration::from_millis(10), |d| {
                (d * 2).min(std::time::Duration::from_secs(1))
            });
        self.delay = Some(delay);
        eprintln!("accept failed: {error}; waiting {delay:?}");
        delay
    }

    /// A connection was accepted: the next failure waits briefly again.
    pub fn succeeded(&mut self) {
        self.delay = None;
    }
}

/// What echoing one message came to: `Ok(1)` when the echo was queued,
/// `Ok(0)` when the peer's close had already arrived (the peer reads no
/// more, so the echo is dropped and the loop reads on to the close), or the
/// error.
pub fn echo_outcome(
    queued: Result<(), wsock::blocking::Error>,
) -> Result<u64, wsock::blocking::Error> {
    match queued {
        Ok(()) => Ok(1),
        Err(wsock::blocking::Error::PeerClosed(_)) => Ok(0),
        Err(e) => Err(e),
    }
}
