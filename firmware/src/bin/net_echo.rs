//! A WebSocket echo server on the MPS2 AN385 (Cortex-M3) as QEMU's
//! `mps2-an385` board emulates it, reached over its LAN9118 Ethernet NIC.
#![no_std]
#![no_main]

use cortex_m_rt::{ExceptionFrame, entry, exception};
use wsock_firmware::{println, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    println(&[b"net_echo: booted"]);
    wsock_firmware::exit(true)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wsock_firmware::panic()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    wsock_firmware::hard_fault(frame.pc())
}
