//! The echo server that `echo` and `echo_deflate` share: its buffers, the
//! session loop over UART0, the `!stack` reply and the per-session report.
//! Each binary only says how a session's opening handshake is made
//! ([`Open`]): `echo` declines extensions, `echo_deflate` accepts
//! permessage-deflate.
//!
//! Sessions are served one after another, forever: the opening handshake,
//! then text and binary messages echoed back (up to [`MESSAGE_LEN`] bytes;
//! a larger one fails the session with 1009), pings answered, and the
//! closing handshake. The text message `!stack` is answered with the
//! stack's high-water mark instead of an echo.
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

use crate::uart::Uart0;
use crate::{TakeOnce, decimal, print, print_all, println, stack};
use core::convert::Infallible;
use wsock::embedded::{Error, Message, blocking};
use wsock::{Config, Outgoing};

/// The input buffer: it must hold the client's whole handshake request.
/// Python `websockets` and wsock send about 250 bytes; a larger request is
/// refused with 431. Frames of any size stream through it.
pub const INPUT_LEN: usize = 512;
/// The output buffer: our 101 response (about 130 bytes; 200 with
/// permessage-deflate's header) and at least two control frames (2 × 131
/// bytes); larger frames stream through it.
pub const OUTPUT_LEN: usize = 512;
/// The largest message echoed (inflated, for a compressed one); a larger
/// one is refused with 1009.
pub const MESSAGE_LEN: usize = 1024;
/// How long the line must be quiet after a failed session.
pub const QUIET_MS: u32 = 200;

/// The limits of an uncompressed session.
pub const CONFIG: Config = Config::new()
    .max_frame_size(MESSAGE_LEN as u64)
    .max_message_size(MESSAGE_LEN as u64);

/// Every buffer of a session, in one static so that RAM use is fixed at
/// link time.
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

/// The WebSocket of one session.
pub type Session<'a> = blocking::WebSocket<'a, &'a mut Uart0>;

/// How a binary opens a session: its opening handshake.
pub trait Open {
    /// The line printed at start.
    const BANNER: &'static [u8];

    /// The opening handshake over `uart`, with the session's buffers.
    /// Implementations should not be inlined, so that the handshake's
    /// parser state (the header array alone is 24 × 16 bytes) is off the
    /// stack before the first message is read, instead of sharing one frame
    /// with the session loop.
    fn open<'a>(
        &'a mut self,
        uart: &'a mut Uart0,
        input: &'a mut [u8],
        output: &'a mut [u8],
    ) -> Result<Session<'a>, Error<Infallible>>;
}

/// Serves sessions over UART0 one after another, forever, with the static
/// buffers and `opener`'s handshake. Call it from `main` after
/// [`stack::paint`]. Inlined into `main`, as when it was `main`'s body
/// (measured: 20 B of flash less than a function of its own).
#[inline(always)]
pub fn run<O: Open>(opener: &mut O) -> ! {
    // SAFETY: the only place that takes the core peripherals, before
    // anything else could.
    let mut core = unsafe { cortex_m::Peripherals::steal() };
    let mut uart = Uart0::new(&mut core.NVIC);
    let Some(buffers) = BUFFERS.take() else {
        crate::exit(false)
    };
    println(&[O::BANNER]);
    let mut sessions: u32 = 0;
    loop {
        sessions = sessions.wrapping_add(1);
        let outcome = serve(&mut uart, buffers, opener);
        report::<O>(sessions, &outcome);
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

/// Serves one session; returns the number of messages echoed.
#[inline(never)]
fn serve<O: Open>(
    uart: &mut Uart0,
    buffers: &mut Buffers,
    opener: &mut O,
) -> Result<u32, Error<Infallible>> {
    // Used where it was returned: `?` would move the WebSocket (about
    // 500 bytes) out of the result into a second place in this frame.
    let mut opened = opener.open(uart, &mut buffers.input, &mut buffers.output);
    let ws = match &mut opened {
        Ok(ws) => ws,
        Err(_) => return opened.map(|_| 0),
    };
    let mut echoed: u32 = 0;
    loop {
        match ws.read(&mut buffers.message) {
            Ok(Message::Text("!stack")) => send_stack_report::<O>(ws)?,
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

// The helpers below are generic over the binary's `O` although they do not
// use it, so that each binary's crate instantiates them, as when they lived
// in echo.rs: as plain functions of this crate they were inlined otherwise
// after LTO, and `echo` measured 196 B larger (22780 B against 22584 B;
// 52 B with only `stack_report` and `describe` plain).

/// Answers `!stack`. Not inlined, so that its reply buffer is not in
/// `serve`'s frame, which is on the stack under every `read`.
#[inline(never)]
#[allow(
    clippy::extra_unused_type_parameters,
    reason = "instantiated per binary: see above"
)]
fn send_stack_report<O: Open>(ws: &mut Session<'_>) -> Result<(), Error<Infallible>> {
    let mut reply = [0u8; 48];
    let n = stack_report::<O>(&mut reply);
    // ASCII only, so always UTF-8.
    let text = core::str::from_utf8(&reply[..n]).unwrap_or("?");
    ws.send(Outgoing::Text(text))
}

/// Writes `peak stack P of S bytes` into `out`; returns its length.
#[allow(
    clippy::extra_unused_type_parameters,
    reason = "instantiated per binary: see above"
)]
fn stack_report<O: Open>(out: &mut [u8; 48]) -> usize {
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
/// buffers are not in `run`'s frame, which is under every session.
#[inline(never)]
#[allow(
    clippy::extra_unused_type_parameters,
    reason = "instantiated per binary: see above"
)]
fn report<O: Open>(session: u32, outcome: &Result<u32, Error<Infallible>>) {
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
            describe::<O>(e);
        }
    }
    let mut line = [0u8; 48];
    let n = stack_report::<O>(&mut line);
    println(&[b"; ", &line[..n]]);
}

/// What went wrong, without `core::fmt`.
#[allow(
    clippy::extra_unused_type_parameters,
    reason = "instantiated per binary: see above"
)]
fn describe<O: Open>(e: &Error<Infallible>) {
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
