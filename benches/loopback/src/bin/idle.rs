//! `idle [--connections N] [--settle SECONDS] -- SERVER_COMMAND…` — the
//! user-space memory an idle WebSocket connection costs a server.
//!
//! Starts the server command (its first line of output must end with the
//! address it listens on: `listening 127.0.0.1:PORT`, or
//! `… listening on ws://127.0.0.1:PORT`), opens 16 connections so that the
//! server's runtime and threads exist, reads its resident set size
//! (`VmRSS` in `/proc/PID/status`), then opens N more connections (each
//! one's opening handshake done and its 101 read whole; no frame is
//! sent), waits for the server to settle, and reads the RSS again. Prints
//! one markdown row: the server, N, both RSS figures and the growth per
//! connection ((after − before) ÷ N). Every socket is on 127.0.0.1.
//!
//! ```text
//! ulimit -n 30000   # the generator and the server each hold N + 16 sockets
//! target/release/idle --connections 10000 -- ../../target/release/examples/tokio_echo_server --max-connections 20000 127.0.0.1:0
//! target/release/idle --connections 10000 -- target/release/server tokio-websockets 127.0.0.1:0
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

const WARM_CONNECTIONS: usize = 16;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut connections = 10_000usize;
    let mut settle = Duration::from_secs(2);
    let mut args = std::env::args().skip(1);
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connections" => {
                connections = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--connections needs a number")?
            }
            "--settle" => {
                settle = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .map(Duration::from_secs_f64)
                    .ok_or("--settle needs seconds")?
            }
            "--" => command.extend(args.by_ref()),
            other => {
                return Err(format!(
                    "unknown option {other} (the server command goes after --)"
                ));
            }
        }
    }
    let [program, server_args @ ..] = &command[..] else {
        return Err("usage: idle [--connections N] [--settle SECONDS] -- SERVER_COMMAND…".into());
    };
    let (mut child, addr) = start(program, server_args)?;
    let result = measure(&child, addr, connections, settle);
    let _ = child.kill();
    let _ = child.wait();
    let (before, after) = result?;
    let name = std::path::Path::new(program)
        .file_name()
        .map_or(program.clone(), |n| n.to_string_lossy().into_owned());
    let label = match server_args.first() {
        Some(lib) if name == "server" => lib.clone(),
        _ => name,
    };
    let per = (after as f64 - before as f64) * 1024.0 / connections as f64;
    println!("| server | idle connections | RSS before (KiB) | RSS after (KiB) | per connection |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| {label} | {connections} | {before} | {after} | {:.1} KiB ({per:.0} B) |",
        per / 1024.0
    );
    Ok(())
}

/// Starts the server and reads the address from its first line.
fn start(program: &str, args: &[String]) -> Result<(Child, SocketAddr), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    lines.read_line(&mut line).map_err(|e| e.to_string())?;
    // Keep draining its output (per-connection log lines) so it never blocks.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let addr: SocketAddr = line
        .split_whitespace()
        .last()
        .map(|a| a.trim_start_matches("ws://").trim_end_matches('/'))
        .and_then(|a| a.parse().ok())
        .ok_or(format!("{program} said {line:?}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr}: loopback addresses only"));
    }
    Ok((child, addr))
}

/// RSS before and after `connections` idle connections, in KiB.
fn measure(
    child: &Child,
    addr: SocketAddr,
    connections: usize,
    settle: Duration,
) -> Result<(u64, u64), String> {
    let pid = child.id();
    let mut held = Vec::with_capacity(WARM_CONNECTIONS + connections);
    for _ in 0..WARM_CONNECTIONS {
        held.push(open(addr)?);
    }
    std::thread::sleep(settle);
    let before = rss_kib(pid)?;
    for i in 0..connections {
        held.push(open(addr).map_err(|e| format!("connection {i}: {e}"))?);
    }
    std::thread::sleep(settle);
    let after = rss_kib(pid)?;
    // Every connection must still be open (the server may not have shed any).
    for (i, stream) in held.iter_mut().enumerate() {
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut byte = [0u8];
        match stream.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return Err(format!("connection {i} is no longer idle: {other:?}")),
        }
    }
    Ok((before, after))
}

/// Opens one connection and completes its opening handshake.
fn open(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => response.push(byte[0]),
            Ok(_) => return Err("the server closed during the handshake".into()),
            Err(e) => return Err(e.to_string()),
        }
        if response.len() > 4096 {
            return Err("handshake response too long".into());
        }
    }
    if !response.starts_with(b"HTTP/1.1 101") {
        return Err(format!(
            "not upgraded: {:?}",
            String::from_utf8_lossy(&response)
        ));
    }
    Ok(stream)
}

/// The resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS".into())
}
