//! What `client` and `tokio_client` share: the command line, stdin and
//! stdout as `../shared/EXAMPLES.md` fixes them.

use std::io::{BufRead, Write};
use std::process::ExitCode;

/// The usage text, for the named client on the named adapter.
pub fn usage(name: &str, adapter: &str) -> String {
    format!(
        "\
Usage: {name} [--binary] [--deflate] URL

An interactive WebSocket client on wsock's {adapter} adapter.

  URL       ws://host:port/path or wss://host:port/path
  --binary  send each stdin line as a binary message instead of text
  --deflate offer permessage-deflate (compression); without it no extension
            is offered
  --help    print this help

Each stdin line (without its line ending) is sent as one message; an empty
line sends an empty message. Each received text message is printed as is on
its own line; a binary message is printed as `binary:` and its bytes in
lowercase hex. Pings are answered and not printed. At stdin EOF the client
sends close 1000, waits for the closing handshake and exits 0. When the
server closes first, the client answers with the same code and exits 0.
Errors go to stderr with a non-zero exit status."
    )
}

/// The parsed command line.
pub struct Args {
    pub url: String,
    pub binary: bool,
    pub deflate: bool,
}

/// The connection's options: the library's defaults (timeouts, TCP
/// keepalive), and permessage-deflate offered with `--deflate`.
pub fn options(args: &Args) -> wsock::blocking::Options {
    wsock::blocking::Options::new()
        .deflate(args.deflate.then(wsock::blocking::DeflateOptions::default))
}

/// Parses the command line; on `--help` or an error, the exit code.
pub fn parse_args(name: &str, adapter: &str) -> Result<Args, ExitCode> {
    let mut binary = false;
    let mut deflate = false;
    let mut url = None;
    let usage_error = |message: &str| {
        eprintln!("{name}: {message}\n\n{}", usage(name, adapter));
        ExitCode::from(2)
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{}", usage(name, adapter));
                return Err(ExitCode::SUCCESS);
            }
            "--binary" => binary = true,
            "--deflate" => deflate = true,
            other if other.starts_with('-') => {
                return Err(usage_error(&format!("unknown option {other}")));
            }
            other if url.is_none() => url = Some(other.to_string()),
            other => return Err(usage_error(&format!("unexpected argument {other}"))),
        }
    }
    match url {
        Some(url) => Ok(Args {
            url,
            binary,
            deflate,
        }),
        None => Err(usage_error("missing URL")),
    }
}

/// Reads stdin on its own thread and hands each line (without its line
/// ending) to `send`, then `None` at EOF; stops when `send` returns false.
pub fn read_stdin_lines(send: impl Fn(Option<Vec<u8>>) -> bool + Send + 'static) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => {
                    send(None);
                    return;
                }
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if !send(Some(line)) {
                        return;
                    }
                }
            }
        }
    });
}

/// A stdin line as the message to send: text unless `--binary`.
pub fn line_frame(line: &[u8], binary: bool) -> std::io::Result<wsock::Outgoing<'_>> {
    if binary {
        return Ok(wsock::Outgoing::Binary(line));
    }
    std::str::from_utf8(line)
        .map(wsock::Outgoing::Text)
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stdin line is not UTF-8 (use --binary)",
            )
        })
}

/// Prints a received text message as is, a binary one as `binary:` + hex,
/// and flushes.
pub fn print_message(
    out: &mut impl Write,
    text: Option<&str>,
    bytes: &[u8],
) -> std::io::Result<()> {
    match text {
        Some(text) => out.write_all(text.as_bytes())?,
        None => {
            out.write_all(b"binary:")?;
            for b in bytes {
                write!(out, "{b:02x}")?;
            }
        }
    }
    out.write_all(b"\n")?;
    out.flush()
}

/// How long a message may take to go out: a server that takes none of it
/// for this long fails the client instead of hanging it.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The error for a message the server did not take within [`WRITE_TIMEOUT`].
pub fn write_timed_out() -> wsock::blocking::Error {
    wsock::blocking::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the server took no data for {} s", WRITE_TIMEOUT.as_secs()),
    ))
}
