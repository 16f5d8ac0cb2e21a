//! A WebSocket echo server on the chip, reached over UART0.
//!
//! Under QEMU, `-serial tcp:127.0.0.1:PORT,server=on,wait=on` puts UART0 on
//! a loopback TCP port, so any WebSocket client on the host can connect to
//! `ws://127.0.0.1:PORT/`. The session loop, its buffers and its limits are
//! `wsock_firmware::server`'s (shared with `echo_deflate`); this binary
//! declines every extension, permessage-deflate included.
#![no_std]
#![no_main]

// Measured without wsock's `inflate`: with it, the session keeps an
// inflating branch that `echo` never takes (+112 B of flash).
#[cfg(feature = "deflate")]
compile_error!(
    "`echo` is built and measured without feature `deflate`: build `echo_deflate` alone \
     (cargo build --release --bin echo_deflate --features deflate)"
);

use core::convert::Infallible;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use wsock::embedded::{Error, blocking};
use wsock::handshake::server::Accept;
use wsock_firmware::server::{self, CONFIG, Open, Session};
use wsock_firmware::stack;
use wsock_firmware::uart::Uart0;

/// The plain opening handshake: extensions declined.
struct Plain;

impl Open for Plain {
    const BANNER: &'static [u8] =
        b"echo: WebSocket echo server on UART0, serving sessions one after another";

    #[inline(never)]
    fn open<'a>(
        &'a mut self,
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
}

#[entry]
fn main() -> ! {
    stack::paint();
    server::run(&mut Plain)
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
