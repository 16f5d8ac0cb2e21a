//! A WebSocket echo server on the chip, reached over UART0.
//!
//! Under QEMU, `-serial tcp:127.0.0.1:PORT,server=on,wait=on` puts UART0 on
//! a loopback TCP port, so any WebSocket client on the host can connect to
//! `ws://127.0.0.1:PORT/`. Sessions are served one after another, forever:
//! the opening handshake, then text and binary messages echoed back (up to
//! [`MESSAGE_LEN`] bytes; a larger one fails the session with 1009), pings
//! answered, and the closing handshake. The text message `!stack` is answered
//! with the stack's high-water mark instead of an echo.
//!
//! After each session a line goes to the host's stdout over semihosting:
//! how the session ended and the peak stack so far.
//!
//! A UART has no end of stream, so a session's end is the closing handshake.
//! After a session that failed, the rest of what the client sent (say the
//! payload of a message that was too large) is still on the line: it is
//! discarded until the line is quiet for [`QUIET_MS`], so that the next
//! handshake starts on a clean line. Clients reconnecting after a failed
//! session should wait a little longer than that.
#![no_std]
#![no_main]

use core::convert::Infallible;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use wsock::embedded::{Error, Message, blocking};
use wsock::handshake::server::Accept;
use wsock::{Config, Outgoing};
use wsock_firmware::uart::Uart0;
use wsock_firmware::{TakeOnce, decimal, print, print_all, println, stack};

/// The input buffer: it must hold the client's whole handshake request.
/// Python `websockets` and wsock send about 250 bytes; a larger request is
/// refused with 431. Frames of any size stream through it.
const INPUT_LEN: usize = 512;
/// The output buffer: our 101 response (about 130 bytes) and at least two
/// control frames (2 × 131 bytes); larger frames stream through it.
const OUTPUT_LEN: usize = 512;
/// The largest message echoed; a larger one is refused with 1009.
const MESSAGE_LEN: usize = 1024;
/// How long the line must be quiet after a failed session.
const QUIET_MS: u32 = 200;

const CONFIG: Config = Config::new()
    .max_frame_size(MESSAGE_LEN as u64)
    .max_message_size(MESSAGE_LEN as u64);

/// Every buffer, in one static so that RAM use is fixed at link time.
struct Buffers {
    input: [u8; INPUT_LEN],
    output: [u8; OUTPUT_LEN],
    message: [u8; MESSAGE_LEN],
}

static BUFFERS: TakeOnce<Buffers> = TakeOnce::new(Buffers {
    input: [0; INPUT_LEN],
    output: [0; OUTPUT_LEN],
    message: [0; MESSAGE_LEN],
});

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: the only place that takes the core peripherals, before
    // anything else could.
    let mut core = unsafe { cortex_m::Peripherals::steal() };
    let mut uart = Uart0::new(&mut core.NVIC);
    let Some(buffers) = BUFFERS.take() else {
        wsock_firmware::exit(false)
    };
    println(&[b"echo: WebSocket echo server on UART0, serving sessions one after another"]);
    let mut sessions: u32 = 0;
    loop {
        sessions = sessions.wrapping_add(1);
        let outcome = serve(&mut uart, buffers);
        report(sessions, &outcome);
        if outcome.is_err() {
            let dropped = uart.drain(&mut core.SYST, QUIET_MS);
            let mut digits = [0; 10];
            println(&[
                b"echo: discarded ",
                decimal(dropped, &mut digits),
                b" bytes left on the line",
            ]);
        }
    }
}

/// The WebSocket of one session.
type Session<'a> = blocking::WebSocket<'a, &'a mut Uart0>;

/// Serves one session; returns the number of messages echoed.
#[inline(never)]
fn serve(uart: &mut Uart0, buffers: &mut Buffers) -> Result<u32, Error<Infallible>> {
    // Used where it was returned: `?` would move the WebSocket (about
    // 500 bytes) out of the result into a second place in this frame.
    let mut opened = open(uart, &mut buffers.input, &mut buffers.output);
    let ws = match &mut opened {
        Ok(ws) => ws,
        Err(_) => return opened.map(|_| 0),
    };
    let mut echoed: u32 = 0;
    loop {
        match ws.read(&mut buffers.message) {
            Ok(Message::Text("!stack")) => send_stack_report(ws)?,
            Ok(Message::Text(text)) => ws.send(Outgoing::Text(text))?,
            Ok(Message::Binary(bytes)) => ws.send(Outgoing::Binary(bytes))?,
            // Pings were answered by `read`; the close reply was sent too, and
            // the next `read` ends the session.
            Ok(_) => continue,
            Err(Error::ConnectionClosed) => return Ok(echoed),
            Err(e) => return Err(e),
        }
        echoed = echoed.wrapping_add(1);
    }
}

/// The opening handshake. Not inlined, so that the handshake's parser state
/// (the header array alone is 24 × 16 bytes) is off the stack before the
/// first message is read, instead of sharing one frame with `serve`.
#[inline(never)]
fn open<'a>(
    uart: &'a mut Uart0,
    input: &'a mut [u8],
    output: &'a mut [u8],
) -> Result<Session<'a>, Error<Infallible>> {
    blocking::accept(
        uart,
        CONFIG,
        input,
        output,
        |_request| Ok(Accept::default()),
    )
}

/// Answers `!stack`. Not inlined, so that its reply buffer is not in
/// `serve`'s frame, which is on the stack under every `read`.
#[inline(never)]
fn send_stack_report(ws: &mut Session<'_>) -> Result<(), Error<Infallible>> {
    let mut reply = [0u8; 48];
    let n = stack_report(&mut reply);
    // ASCII only, so always UTF-8.
    let text = core::str::from_utf8(&reply[..n]).unwrap_or("?");
    ws.send(Outgoing::Text(text))
}

/// Writes `peak stack P of S bytes` into `out`; returns its length.
fn stack_report(out: &mut [u8; 48]) -> usize {
    let (mut a, mut b) = ([0; 10], [0; 10]);
    let parts: [&[u8]; 5] = [
        b"peak stack ",
        decimal(stack::peak(), &mut a),
        b" of ",
        decimal(stack::size(), &mut b),
        b" bytes",
    ];
    let mut n = 0;
    for part in parts {
        out[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}

/// One line per session on the host's stdout. Not inlined, so that its
/// buffers are not in `main`'s frame, which is under every session.
#[inline(never)]
fn report(session: u32, outcome: &Result<u32, Error<Infallible>>) {
    let (mut a, mut b) = ([0; 10], [0; 10]);
    print(b"echo: session ");
    print(decimal(session, &mut a));
    match outcome {
        Ok(echoed) => {
            print(b": closed normally after ");
            print(decimal(*echoed, &mut b));
            print(b" messages");
        }
        Err(e) => {
            print(b": failed: ");
            describe(e);
        }
    }
    let mut line = [0u8; 48];
    let n = stack_report(&mut line);
    println(&[b"; ", &line[..n]]);
}

/// What went wrong, without `core::fmt`.
fn describe(e: &Error<Infallible>) {
    let mut digits = [0; 10];
    match e {
        Error::Handshake(h) => print_all(&[
            b"handshake refused with HTTP ",
            decimal(u32::from(h.status()), &mut digits),
        ]),
        Error::Protocol(p) => print_all(&[
            p.close_reason().as_bytes(),
            b", close code ",
            decimal(u32::from(p.close_code().0), &mut digits),
        ]),
        Error::TransportClosed => print(b"transport closed"),
        Error::Send(_) => print(b"cannot send"),
        _ => print(b"other error"),
    }
}

/// A panic handler without `core::fmt` (see README.md for the size of
/// `panic-semihosting`'s formatted message).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wsock_firmware::panic()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    wsock_firmware::hard_fault(frame.pc())
}
