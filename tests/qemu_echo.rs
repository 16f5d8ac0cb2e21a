//! The echo firmware (`firmware/src/bin/echo.rs`) on an emulated Cortex-M3,
//! reached from the host: QEMU puts the chip's UART0 on a loopback TCP
//! port, and clients connect to it one after another (QEMU takes one serial
//! connection at a time, so the tests here take turns).
//!
//! * our std client (`wsock::blocking`): handshake, text, binary with 7- and
//!   16-bit lengths, the largest message, a ping, `!stack`, a close; several
//!   sessions back to back; a message over the firmware's limit gets 1009;
//! * the Python `websockets` client (`tests/python/qemu_echo_client.py`).
//!
//! The firmware must be running under QEMU with its UART on
//! `$WSOCK_QEMU_ECHO_ADDR` (e.g. `127.0.0.1:4567`): `.ci/embedded.sh` starts
//! it and runs `cargo test --test qemu_echo -- --ignored`; firmware/README.md
//! shows how by hand. The Python client needs `$WSOCK_PYTHON` or
//! `<repo>/.venv/bin/python` (created by `.ci/autobahn.sh venv`). Without
//! them the tests fail, loudly.
//!
//! The UART has no end of stream: after the closing handshake the firmware
//! cannot end TCP. So the clients here read until the firmware's close
//! frame and then drop the connection, instead of waiting for TCP to end.
#![cfg(feature = "std")]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use wsock::CloseCode;
use wsock::blocking::{ClientBuilder, CloseFrame, MaybeTlsStream, Message, WebSocket};

const ADDR_VAR: &str = "WSOCK_QEMU_ECHO_ADDR";
/// The bound on every read; an emulated chip answers in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The bound on the Python client's whole run.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(30);
/// The firmware's largest message (`MESSAGE_LEN` in echo.rs).
const MESSAGE_LEN: usize = 1024;
/// After a failed session the firmware discards input until the line has
/// been quiet for 200 ms (`QUIET_MS` in echo.rs); the next client waits longer.
const AFTER_FAILURE: Duration = Duration::from_millis(600);

/// One session at a time: QEMU's UART is one serial line.
static LINE: Mutex<()> = Mutex::new(());

fn take_line() -> MutexGuard<'static, ()> {
    // A failed test must not fail the others: the line itself is fine.
    LINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn addr() -> String {
    std::env::var(ADDR_VAR).unwrap_or_else(|_| {
        panic!(
            "${ADDR_VAR} is not set: these tests need the echo firmware running under QEMU \
             with its UART on that address (host:port). Run .ci/embedded.sh, or see \
             firmware/README.md to start it by hand."
        )
    })
}

fn url() -> String {
    format!("ws://{}/", addr())
}

fn connect() -> WebSocket<MaybeTlsStream> {
    let url = url();
    let ws = ClientBuilder::new(&url)
        .connect()
        .unwrap_or_else(|e| panic!("cannot open a WebSocket to the firmware at {url}: {e}"));
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(TIMEOUT))
        .expect("set the read timeout");
    ws
}

fn read(ws: &mut WebSocket<MaybeTlsStream>, what: &str) -> Message {
    ws.read()
        .unwrap_or_else(|e| panic!("reading {what} from the firmware failed: {e}"))
}

fn echo(ws: &mut WebSocket<MaybeTlsStream>, message: Message) {
    let what = match &message {
        Message::Text(t) => format!("the echo of a text of {} bytes", t.len()),
        Message::Binary(b) => format!("the echo of a binary of {} bytes", b.len()),
        other => format!("the answer to {other:?}"),
    };
    ws.send(message.clone())
        .unwrap_or_else(|e| panic!("sending for {what} failed: {e}"));
    assert!(read(ws, &what) == message, "{what} differs");
}

/// Bytes 0, 1, …, 250, 0, 1, … (as the firmware's tests use).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends a close with `code` and reads until the firmware's close frame;
/// then the connection is dropped (the firmware cannot end TCP).
fn close(mut ws: WebSocket<MaybeTlsStream>, code: u16) {
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode(code),
        reason: "bye".into(),
    })))
    .expect("send the close frame");
    loop {
        match read(&mut ws, "the close reply") {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode(code), "the firmware echoes the code");
                return;
            }
            Message::Close(None) => panic!("the close reply has no code"),
            _ => continue,
        }
    }
}

/// The peak stack the firmware reports for `!stack`: `peak stack P of S bytes`.
fn peak_stack(ws: &mut WebSocket<MaybeTlsStream>) -> (u32, u32) {
    ws.send(Message::Text("!stack".into()))
        .expect("send !stack");
    let Message::Text(report) = read(ws, "the answer to !stack") else {
        panic!("!stack is answered with text");
    };
    let words: Vec<&str> = report.split(' ').collect();
    match words[..] {
        ["peak", "stack", peak, "of", size, "bytes"] => (
            peak.parse().expect("a number of bytes"),
            size.parse().expect("a number of bytes"),
        ),
        _ => panic!("!stack answered {report:?}"),
    }
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_echo_session() {
    let _line = take_line();
    let mut ws = connect();
    assert_eq!(ws.subprotocol(), None);
    echo(&mut ws, Message::Text("héllo from the host ☃".into()));
    echo(&mut ws, Message::Binary(pattern(100)));
    echo(&mut ws, Message::Binary(pattern(300))); // a 16-bit length
    echo(&mut ws, Message::Binary(pattern(MESSAGE_LEN)));
    echo(&mut ws, Message::Text(String::new()));
    ws.send(Message::Ping(b"host".to_vec()))
        .expect("send a ping");
    assert_eq!(read(&mut ws, "the pong"), Message::Pong(b"host".to_vec()));
    let (peak, size) = peak_stack(&mut ws);
    assert!(0 < peak && peak < size, "peak stack {peak} of {size} bytes");
    println!("firmware: peak stack {peak} of {size} bytes");
    close(ws, 4001);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_sessions_back_to_back() {
    let _line = take_line();
    for i in 0..3 {
        let mut ws = connect();
        echo(&mut ws, Message::Text(format!("session {i}")));
        close(ws, 1000);
    }
}

/// §10.4: a message over the firmware's 1 KiB limit fails the session with
/// 1009, from its header; the firmware then discards the rest of it and
/// serves the next session.
#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn std_client_message_too_big_gets_1009() {
    let _line = take_line();
    let mut ws = connect();
    ws.send(Message::Binary(pattern(MESSAGE_LEN + 1)))
        .expect("send a message over the limit");
    match read(&mut ws, "the close for a message too big") {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
    drop(ws);
    thread::sleep(AFTER_FAILURE);
    // The line is clean again.
    let mut ws = connect();
    echo(&mut ws, Message::Text("after 1009".into()));
    close(ws, 1000);
}

fn python() -> PathBuf {
    let path = std::env::var_os("WSOCK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python {} does not exist: set $WSOCK_PYTHON to a Python with `websockets`, or \
         create the venv with `.ci/autobahn.sh venv`",
        path.display()
    );
    path
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn python_client_echo_session() {
    let _line = take_line();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/qemu_echo_client.py");
    let mut child = Command::new(python())
        .arg(&script)
        .arg(url())
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the Python client") {
            break status;
        }
        if start.elapsed() > PYTHON_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the Python client did not finish in {PYTHON_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut out);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut err);
    }
    print!("{out}");
    assert!(
        status.success() && out.contains("ok qemu_echo_client"),
        "the Python client failed ({status}):\n{out}{err}"
    );
}
