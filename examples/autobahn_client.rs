//! `autobahn_client URL` — runs every case of an Autobahn|TestSuite
//! fuzzingserver (e.g. `kosoku -m fuzzingserver`) against wsock's client,
//! echoing text and binary messages as the suite expects.

use std::process::ExitCode;
use wsock::blocking::{ClientBuilder, Error, Message, Options};
use wsock::{Config, Outgoing};

const USAGE: &str = "\
Usage: autobahn_client [--tokio] [--agent NAME] URL

Runs every case of an Autobahn fuzzingserver at URL (e.g. ws://127.0.0.1:9001):
asks /getCaseCount, runs /runCase?case=N&agent=NAME for each case, echoing
every message, then asks /updateReports?agent=NAME.

  --tokio       use the tokio adapter (needs the `tokio` feature) instead of
                the blocking one
  --agent NAME  agent name in the reports (default: wsock)
  --help        print this help";

fn main() -> ExitCode {
    let mut agent = "wsock".to_string();
    let mut url = None;
    let mut tokio = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--tokio" => tokio = true,
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
    let result = if tokio {
        run_tokio(&base, &agent)
    } else {
        run(&base, &agent)
    };
    match result {
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
    match ws.close(wsock::CloseCode::NORMAL, "") {
        Err(e) if !suite_done(&e) => Err(e),
        _ => Ok(count),
    }
}

/// Whether an error ending the report connection means the suite is done:
/// it exits once the reports are written, ending the connection without a
/// closing handshake (EOF, or a reset if it exits first).
fn suite_done(e: &Error) -> bool {
    match e {
        Error::Protocol(wsock::ProtocolError::UnexpectedEof) => true,
        Error::Io(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
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

/// The options of a case's connection: messages up to 64 MiB, and
/// permessage-deflate offered (sections 12 and 13 test it) with
/// `client_no_context_takeover`, which some of the suite's cases need.
fn case_options() -> Options {
    let config = Config::new()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    Options::new()
        .protocol(config)
        .read_buffer_size(64 * 1024)
        .deflate(Some(wsock::blocking::DeflateOptions {
            // Offered, the suite's servers may ask for it (13.2, 13.5, 13.6).
            client_no_context_takeover: true,
            ..wsock::blocking::DeflateOptions::default()
        }))
}

/// An echo that the peer's close made moot (it reads no more) is dropped;
/// the loop reads on to the close.
fn echo(queued: Result<(), Error>) -> Result<(), Error> {
    match queued {
        Err(Error::PeerClosed(_)) => Ok(()),
        other => other,
    }
}

/// Echoes every message of one case until the suite closes the connection.
fn echo_case(url: &str) -> Result<(), Error> {
    let mut ws = ClientBuilder::new(url).options(case_options()).connect()?;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => echo(ws.write(Outgoing::Text(&text)))?,
            Ok(Message::Binary(bytes)) => echo(ws.write(Outgoing::Binary(&bytes)))?,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// The whole run on the tokio adapter: the same steps, `.await`ed.
#[cfg(feature = "tokio")]
fn run_tokio(base: &str, agent: &str) -> Result<u32, Error> {
    use wsock::tokio::ClientBuilder;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut ws = ClientBuilder::new(&format!("{base}/getCaseCount"))
            .connect()
            .await?;
        let count: u32 = loop {
            if let Message::Text(text) = ws.read().await? {
                break text.trim().parse().map_err(|_| {
                    Error::Io(std::io::Error::other(format!("bad case count {text:?}")))
                })?;
            }
        };
        let _ = ws.close(wsock::CloseCode::NORMAL, "").await;
        for case in 1..=count {
            let url = format!("{base}/runCase?case={case}&agent={agent}");
            if let Err(e) = echo_case_tokio(&url).await
                && !matches!(e, Error::Protocol(_) | Error::ConnectionClosed)
            {
                eprintln!("case {case}: {e}");
            }
        }
        let mut ws = ClientBuilder::new(&format!("{base}/updateReports?agent={agent}"))
            .connect()
            .await?;
        match ws.close(wsock::CloseCode::NORMAL, "").await {
            Err(e) if !suite_done(&e) => Err(e),
            _ => Ok(count),
        }
    })
}

#[cfg(feature = "tokio")]
async fn echo_case_tokio(url: &str) -> Result<(), Error> {
    let mut ws = wsock::tokio::ClientBuilder::new(url)
        .options(case_options())
        .connect()
        .await?;
    loop {
        match ws.read().await {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.feed(message).await?,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(not(feature = "tokio"))]
fn run_tokio(_: &str, _: &str) -> Result<u32, Error> {
    Err(Error::Io(std::io::Error::other(
        "built without the `tokio` feature: cargo run --features tokio --example autobahn_client",
    )))
}
