//! What `axum_echo` and `chat` share: their command line (`NAME ADDR` or
//! `--help`) and the listening socket.

use std::process::ExitCode;
use tokio::net::TcpListener;

/// Parses `ADDR` (or `--help`, which prints `usage`) and listens on it;
/// returns the listener and its address, or the exit code after saying why.
pub async fn listen(name: &str, usage: &str) -> Result<(TcpListener, String), ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = match args.as_slice() {
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{usage}");
            return Err(ExitCode::SUCCESS);
        }
        [addr] if !addr.starts_with('-') => addr,
        _ => {
            eprintln!("{usage}");
            return Err(ExitCode::from(2));
        }
    };
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("{name}: cannot listen on {addr}: {e}");
        ExitCode::FAILURE
    })?;
    let local = listener
        .local_addr()
        .map_or(addr.clone(), |a| a.to_string());
    Ok((listener, local))
}
