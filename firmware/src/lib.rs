//! What the firmware binaries share: stack painting, semihosting output
//! without the formatting machinery, the LM3S6965's UART0, a byte queue for
//! in-memory transports, and the echo server's session loop.
//!
//! - `tests` (src/bin/tests.rs) runs the core's test vectors on the chip.
//! - `echo` (src/bin/echo.rs) is a WebSocket echo server on UART0.
//! - `echo_deflate` (src/bin/echo_deflate.rs, feature `deflate`) is the same
//!   server accepting permessage-deflate: it inflates the client's messages
//!   through a 512-byte window and echoes them uncompressed.
//!
//! - `net_echo` (src/bin/net_echo.rs, feature `net`) is a WebSocket echo
//!   server over Ethernet on the MPS2 AN385: the LAN9118 NIC
//!   (src/lan9118.rs), smoltcp, and wsock's async adapter on a few TCP
//!   sockets at once (src/net.rs).
//!
//! The first three run under QEMU's `lm3s6965evb` board, `net_echo` under
//! `mps2-an385`; see README.md.
#![no_std]

#[cfg(feature = "net")]
pub mod lan9118;
#[cfg(feature = "net")]
pub mod net;
pub mod ring;
pub mod server;
pub mod stack;
pub mod uart;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use cortex_m_semihosting::{debug, hio};

/// Interrupts of the LM3S6965 (QEMU's model wires 64 into its NVIC; the
/// chip uses fewer). cortex-m-rt's default table has 240 entries (960
/// bytes of flash); this one has what the chip can raise.
const INTERRUPTS: usize = 64;

unsafe extern "C" {
    /// cortex-m-rt's handler for everything without a handler of its own.
    fn DefaultHandler();
}

/// The device part of the vector table (cortex-m-rt feature `device`). No
/// interrupt handler runs in these programs: interrupts only wake `WFI`.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [unsafe extern "C" fn(); INTERRUPTS] = [DefaultHandler; INTERRUPTS];

/// A static whose contents are handed out once, as `&'static mut`: how the
/// binaries keep their large buffers out of the stack, with RAM use fixed at
/// link time (zero-initialized, so in `.bss`).
pub struct TakeOnce<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reachable only through the one `&mut` that `take`
// hands out, which needs `T: Send` to move to another context.
unsafe impl<T: Send> Sync for TakeOnce<T> {}

impl<T> TakeOnce<T> {
    /// Wraps `value` (`const`, for statics).
    pub const fn new(value: T) -> Self {
        TakeOnce {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, the first time only.
    // A `&mut` from `&self` is the point: the flag makes it unique.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut T> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the flag lets this run once, so this is the only reference
        // to the value there will ever be.
        Some(unsafe { &mut *self.value.get() })
    }
}

/// Writes `bytes` to the host's stdout through semihosting (ignoring a
/// missing host: output is best effort).
pub fn print(bytes: &[u8]) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

/// Writes each part in turn.
pub fn print_all(parts: &[&[u8]]) {
    for part in parts {
        print(part);
    }
}

/// Writes each part in turn, then a newline.
pub fn println(parts: &[&[u8]]) {
    print_all(parts);
    print(b"\n");
}

/// Ends the QEMU process with exit status 0 (`ok`) or 1.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a semihosting host.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Decimal digits of `n`, written into `buf` (no `core::fmt`).
pub fn decimal(n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Reports a panic and exits with status 1, without its message or
/// location: formatting the message links `core::fmt`, and the locations
/// keep every source path in flash, together about 4.5 KiB (see README.md).
/// The `echo` binary's panic handler; `tests` uses `panic-semihosting`.
pub fn panic() -> ! {
    println(&[b"panic (echo's handler prints no message: run `tests` for details)"]);
    exit(false)
}

/// Reports a HardFault and exits with status 1. Call it from the binary's
/// `#[exception] unsafe fn HardFault(frame: &ExceptionFrame) -> !`.
pub fn hard_fault(pc: u32) -> ! {
    let mut digits = [0; 10];
    println(&[b"HardFault at pc ", decimal(pc, &mut digits)]);
    exit(false)
}
