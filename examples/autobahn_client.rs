//! `autobahn_client URL` — runs every case of an Autobahn|TestSuite
//! fuzzingserver (e.g. `kosoku -m fuzzingserver`) against wsock's client,
//! echoing text and binary messages as the suite expects.

use std::process::ExitCode;
use wsock::blocking::{ClientBuilder, Error, Message, Options};
use wsock::{Config, Outgoing};

const USAGE: &str = "\
Usage: autobahn_client [--agent NAME] URL

Runs every case of an Autobahn fuzzingserver at URL (e.g. ws://127.0.0.1:9001):
asks /getCaseCount, runs /runCase?case=N&agent=NAME for each case, echoing
every message, then asks /updateReports?agent=NAME.

  --agent NAME  agent name in the reports (default: wsock)
  --help        print this help";

fn main() -> ExitCode {
    let mut agent = "wsock".to_string();
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--agent" => match args.next() {
                Some(name) => agent = name,
                None => return usage_error("--agent needs a name"),
            },
            other if other.starts_with('-') => {
                return usage_error(&format!("unknown option {other}"));
            }
            other if url.is_none() => url = Some(other.trim_end_matches('/').to_string()),
            other => return usage_error(&format!("unexpected argument {other}")),
        }
    }
    let Some(base) = url else {
        return usage_error("missing URL");
    };
    match run(&base, &agent) {
        Ok(count) => {
            println!("autobahn_client: ran {count} cases as agent {agent}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("autobahn_client: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn run(base: &str, agent: &str) -> Result<u32, Error> {
    let count = case_count(base)?;
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        // A case's outcome is judged by the suite; errors here are expected
        // in the cases that test them.
        if let Err(e) = echo_case(&url)
            && !matches!(e, Error::Protocol(_) | Error::ConnectionClosed)
        {
            eprintln!("case {case}: {e}");
        }
    }
    let mut ws = ClientBuilder::new(&format!("{base}/updateReports?agent={agent}")).connect()?;
    // The suite exits once the reports are written, ending this connection
    // without a closing handshake (EOF, or a reset if it exits first): that
    // is its way of saying it is done.
    match ws.close(wsock::CloseCode::NORMAL, "") {
        Ok(()) | Err(Error::Protocol(wsock::ProtocolError::UnexpectedEof)) => Ok(count),
        Err(Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Ok(count)
        }
        Err(e) => Err(e),
    }
}

fn case_count(base: &str) -> Result<u32, Error> {
    let mut ws = ClientBuilder::new(&format!("{base}/getCaseCount")).connect()?;
    let count = loop {
        match ws.read()? {
            Message::Text(text) => {
                break text.trim().parse().map_err(|_| {
                    Error::Io(std::io::Error::other(format!("bad case count {text:?}")))
                })?;
            }
            _ => continue,
        }
    };
    let _ = ws.close(wsock::CloseCode::NORMAL, "");
    Ok(count)
}

/// Echoes every message of one case until the suite closes the connection.
fn echo_case(url: &str) -> Result<(), Error> {
    let config = Config::new()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    let mut ws = ClientBuilder::new(url)
        .options(Options::new().protocol(config).read_buffer_size(64 * 1024))
        .connect()?;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => ws.write(Outgoing::Text(&text))?,
            Ok(Message::Binary(bytes)) => ws.write(Outgoing::Binary(&bytes))?,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
