//! `tokio_client URL` — `client` on wsock's tokio adapter: the same command
//! line, output and exit codes (`../shared/EXAMPLES.md`). One task waits on
//! stdin and the socket at once with `select!`, which the adapter's
//! cancel-safe `read` allows.

#[path = "common/client_contract.rs"]
mod contract;

use std::process::ExitCode;
use tokio::sync::mpsc;
use wsock::CloseCode;
use wsock::tokio::{ClientBuilder, Error, MaybeTlsStream, Message, WebSocket};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match contract::parse_args("tokio_client", "tokio") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let mut ws = match ClientBuilder::new(&args.url)
        .options(contract::options(&args))
        .connect()
        .await
    {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("tokio_client: cannot connect to {}: {e}", args.url);
            return ExitCode::FAILURE;
        }
    };
    match run(&mut ws, args.binary).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(ws: &mut WebSocket<MaybeTlsStream>, binary: bool) -> Result<(), Error> {
    let (tx, mut lines) = mpsc::unbounded_channel();
    contract::read_stdin_lines(move |line| tx.send(line).is_ok());
    let mut stdout = std::io::stdout().lock();
    loop {
        tokio::select! {
            line = lines.recv() => match line.flatten() {
                Some(line) => {
                    let frame = contract::line_frame(&line, binary)?;
                    ws.write(frame)?;
                    tokio::time::timeout(contract::WRITE_TIMEOUT, ws.flush())
                        .await
                        .map_err(|_| contract::write_timed_out())??;
                }
                None => {
                    // stdin ended: `close` sends close 1000 and prints
                    // nothing more; the handshake is bounded by the
                    // adapter's close timeout.
                    return close(ws, &mut stdout).await;
                }
            },
            message = ws.read() => match message {
                Ok(Message::Text(text)) => contract::print_message(&mut stdout, Some(&text), &[])?,
                Ok(Message::Binary(bytes)) => contract::print_message(&mut stdout, None, &bytes)?,
                // Pings were answered; the server's close was replied to (same
                // code) and the next read waits for the server to end TCP,
                // bounded by the close timeout.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => {}
                Err(Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(e),
            },
        }
    }
}

/// Our close: sent now, then messages are printed until the server's reply.
async fn close(
    ws: &mut WebSocket<MaybeTlsStream>,
    out: &mut impl std::io::Write,
) -> Result<(), Error> {
    ws.write(wsock::Outgoing::Close(Some((CloseCode::NORMAL, ""))))?;
    ws.flush().await?;
    loop {
        match ws.read().await {
            Ok(Message::Text(text)) => contract::print_message(out, Some(&text), &[])?,
            Ok(Message::Binary(bytes)) => contract::print_message(out, None, &bytes)?,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
