//! What the host suites against the echo firmwares under QEMU share
//! (tests/qemu_echo.rs for `echo`, tests/qemu_echo_deflate.rs for
//! `echo_deflate`): the firmware's address, one session at a time on the
//! UART's one line, reads with a bound, echoes, the close a UART allows, the
//! `!stack` report, and the Python client's run.
//!
//! The UART has no end of stream: after the closing handshake the firmware
//! cannot end TCP. So the clients here read until the firmware's close
//! frame and then drop the connection, instead of waiting for TCP to end.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use wsock::CloseCode;
use wsock::blocking::{ClientBuilder, CloseFrame, MaybeTlsStream, Message, Options, WebSocket};

/// The bound on every read; an emulated chip answers in milliseconds.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The bound on the Python client's whole run.
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(30);
/// The firmware's largest message (`MESSAGE_LEN` in firmware/src/server.rs).
pub const MESSAGE_LEN: usize = 1024;
/// After a failed session the firmware discards input until the line has
/// been quiet for 200 ms (`QUIET_MS` in firmware/src/server.rs); the next
/// client waits longer.
pub const AFTER_FAILURE: Duration = Duration::from_millis(600);

/// One session at a time: QEMU's UART is one serial line.
static LINE: Mutex<()> = Mutex::new(());

pub fn take_line() -> MutexGuard<'static, ()> {
    // A failed test must not fail the others: the line itself is fine.
    LINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The firmware's address (host:port), from the environment variable `var`.
pub fn addr(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "${var} is not set: these tests need the echo firmware running under QEMU \
             with its UART on that address (host:port). Run .ci/embedded.sh, or see \
             firmware/README.md to start it by hand."
        )
    })
}

pub fn url(var: &str) -> String {
    format!("ws://{}/", addr(var))
}

/// Our std client, connected with `options` to the firmware at `url`.
pub fn connect(url: &str, options: Options) -> WebSocket<MaybeTlsStream> {
    let ws = ClientBuilder::new(url)
        .options(options)
        .connect()
        .unwrap_or_else(|e| panic!("cannot open a WebSocket to the firmware at {url}: {e}"));
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(TIMEOUT))
        .expect("set the read timeout");
    ws
}

pub fn read(ws: &mut WebSocket<MaybeTlsStream>, what: &str) -> Message {
    ws.read()
        .unwrap_or_else(|e| panic!("reading {what} from the firmware failed: {e}"))
}

pub fn echo(ws: &mut WebSocket<MaybeTlsStream>, message: Message) {
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
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends a close with `code` and reads until the firmware's close frame;
/// then the connection is dropped (the firmware cannot end TCP).
pub fn close(mut ws: WebSocket<MaybeTlsStream>, code: u16) {
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

/// Reads the close the firmware fails the session with: its code.
pub fn failure_code(ws: &mut WebSocket<MaybeTlsStream>, what: &str) -> CloseCode {
    match read(ws, what) {
        Message::Close(Some(frame)) => frame.code,
        other => panic!("expected a close for {what}, got {other:?}"),
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

/// The end of a full session: a ping (its pong comes back), `!stack` (a
/// peak under the stack's size, printed), and a close with `code`.
pub fn ping_stack_and_close(mut ws: WebSocket<MaybeTlsStream>, code: u16) {
    ws.send(Message::Ping(b"host".to_vec()))
        .expect("send a ping");
    assert_eq!(read(&mut ws, "the pong"), Message::Pong(b"host".to_vec()));
    let (peak, size) = peak_stack(&mut ws);
    assert!(0 < peak && peak < size, "peak stack {peak} of {size} bytes");
    println!("firmware: peak stack {peak} of {size} bytes");
    close(ws, code);
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

/// Runs tests/python/qemu_echo_client.py with `args`; passes if it exits 0
/// and prints `ok qemu_echo_client`. Returns its stdout.
pub fn python_client(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/qemu_echo_client.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args(args)
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
    out
}
