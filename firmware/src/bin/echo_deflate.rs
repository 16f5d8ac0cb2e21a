//! The echo server of `echo` (`wsock_firmware::server`, over UART0) that
//! accepts permessage-deflate (RFC 7692): it asks the client for
//! `client_max_window_bits=9`, inflates the client's compressed messages
//! through a 512-byte window into the message buffer (held to
//! [`MESSAGE_LEN`] inflated bytes: a larger message, however small on the
//! wire, fails the session with 1009), and echoes them uncompressed, which
//! the RFC allows. Offers without `client_max_window_bits` cannot be held
//! to that window and are declined: the session goes on uncompressed.
//!
//! The inflater (the window and miniz_oxide's decompressor state, about
//! 11 KB) is a static like the buffers, set up once at start and reset by
//! every handshake that agrees on compression. Built with the package's
//! feature `deflate` (wsock's `inflate`), so that `echo` is built and
//! measured without it.
#![no_std]
#![no_main]

use core::convert::Infallible;
use core::mem::MaybeUninit;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use wsock::Config;
use wsock::deflate::{Inflater, MessageInflater};
use wsock::embedded::{Error, Inflate, blocking};
use wsock::handshake::server::Accept;
use wsock_firmware::server::{self, MESSAGE_LEN, Open, Session};
use wsock_firmware::uart::Uart0;
use wsock_firmware::{TakeOnce, stack};

/// The client's LZ77 window: 2^9 bytes, `client_max_window_bits=9`.
const WINDOW_LEN: usize = 512;

/// The limits: [`MESSAGE_LEN`] inflated bytes per message; a compressed
/// frame may be a little longer on the wire (incompressible data grows by
/// up to 1/1024 + 64 bytes, which the core allows a compressed message).
const CONFIG: Config = Config::new()
    .max_frame_size((MESSAGE_LEN + MESSAGE_LEN / 1024 + 64) as u64)
    .max_message_size(MESSAGE_LEN as u64);

/// The inflater with its window, made at start (its constructor is not
/// `const`). Uninitialized until then, so in `.bss`: a `None` here would
/// put 11 KB of initial value in `.data`, and in flash.
static INFLATER: TakeOnce<MaybeUninit<MessageInflater<[u8; WINDOW_LEN]>>> =
    TakeOnce::new(MaybeUninit::uninit());

/// The opening handshake that accepts permessage-deflate.
struct Inflating {
    inflater: &'static mut MessageInflater<[u8; WINDOW_LEN]>,
}

impl Open for Inflating {
    const BANNER: &'static [u8] = b"echo: WebSocket echo server on UART0 with permessage-deflate \
        (client_max_window_bits=9: a 512-byte window), serving sessions one after another";

    #[inline(never)]
    fn open<'a>(
        &'a mut self,
        uart: &'a mut Uart0,
        input: &'a mut [u8],
        output: &'a mut [u8],
    ) -> Result<Session<'a>, Error<Infallible>> {
        // Context takeover: the client may refer back into earlier messages.
        let inflate = Inflate::new(&mut *self.inflater, false);
        blocking::accept_inflating(uart, CONFIG, input, output, inflate, |_request| {
            Ok(Accept::default())
        })
    }
}

#[entry]
fn main() -> ! {
    stack::paint();
    let Some(slot) = INFLATER.take() else {
        wsock_firmware::exit(false)
    };
    // A power of two from 256 B to 32 KiB: always accepted.
    let Ok(inflater) = Inflater::new([0; WINDOW_LEN], false) else {
        wsock_firmware::exit(false)
    };
    let inflater = slot.write(MessageInflater::new(inflater));
    server::run(&mut Inflating { inflater })
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
