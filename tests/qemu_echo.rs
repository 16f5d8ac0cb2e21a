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
//! them the tests fail, loudly. tests/support/qemu.rs has the helpers
//! (shared with tests/qemu_echo_deflate.rs).
#![cfg(feature = "std")]

use std::thread;

use wsock::CloseCode;
use wsock::blocking::{MaybeTlsStream, Message, Options, WebSocket};

#[allow(dead_code)]
#[path = "support/qemu.rs"]
mod qemu;
use qemu::{
    AFTER_FAILURE, MESSAGE_LEN, close, echo, failure_code, pattern, ping_stack_and_close,
    python_client, take_line,
};

const ADDR_VAR: &str = "WSOCK_QEMU_ECHO_ADDR";

fn connect() -> WebSocket<MaybeTlsStream> {
    qemu::connect(&qemu::url(ADDR_VAR), Options::new())
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
    ping_stack_and_close(ws, 4001);
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
    let code = failure_code(&mut ws, "a message too big");
    assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
    drop(ws);
    thread::sleep(AFTER_FAILURE);
    // The line is clean again.
    let mut ws = connect();
    echo(&mut ws, Message::Text("after 1009".into()));
    close(ws, 1000);
}

#[test]
#[ignore = "needs QEMU: run by .ci/embedded.sh"]
fn python_client_echo_session() {
    let _line = take_line();
    python_client(&[&qemu::url(ADDR_VAR)]);
}
