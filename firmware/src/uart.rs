//! UART0 of the LM3S6965 (a PL011) as a blocking `embedded_io` transport.
//!
//! Polled: `read` waits for at least one byte and returns what the receive
//! FIFO holds; `write` waits for room in the transmit FIFO. While waiting for
//! input the core sleeps in `WFI`: the UART's receive interrupt is enabled in
//! the UART and in the NVIC but masked by PRIMASK, so it wakes the core
//! without ever running a handler (QEMU then uses no host CPU either).
//!
//! A UART has no end of stream: `read` never returns 0, and a session's end
//! is only what the WebSocket closing handshake says.

use core::convert::Infallible;
use core::ptr;
use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::{NVIC, SYST, syst::SystClkSource};

const UART0: usize = 0x4000_C000;
const DR: usize = 0x000;
const FR: usize = 0x018;
const IBRD: usize = 0x024;
const FBRD: usize = 0x028;
const LCRH: usize = 0x02C;
const CTL: usize = 0x030;
const IM: usize = 0x038;

/// FR: receive FIFO empty.
const RXFE: u32 = 1 << 4;
/// FR: transmit FIFO full.
const TXFF: u32 = 1 << 5;
/// FR: still transmitting.
const BUSY: u32 = 1 << 3;

/// System control: run-mode clock gating register 1 (bit 0 clocks UART0).
const RCGC1: usize = 0x400F_E104;

/// The system clock after reset, in Hz. QEMU's model runs the LM3S6965 at
/// 12.5 MHz (200 MHz / 16, the reset SYSDIV); the chip itself at reset runs
/// from a 12 MHz oscillator.
pub const SYSTEM_CLOCK_HZ: u32 = 12_500_000;

/// UART0's interrupt number on the LM3S6965.
#[derive(Clone, Copy)]
struct Uart0Irq;

// SAFETY: 5 is UART0's position in the LM3S6965's vector table.
unsafe impl InterruptNumber for Uart0Irq {
    fn number(self) -> u16 {
        5
    }
}

fn reg(offset: usize) -> *mut u32 {
    (UART0 + offset) as *mut u32
}

fn read_reg(offset: usize) -> u32 {
    // SAFETY: a UART0 register: a valid, aligned MMIO address.
    unsafe { ptr::read_volatile(reg(offset)) }
}

fn write_reg(offset: usize, value: u32) {
    // SAFETY: as above; only `Uart0` (one instance) writes these.
    unsafe { ptr::write_volatile(reg(offset), value) }
}

/// UART0, set up for 115200 baud 8N1 with FIFOs (QEMU ignores the baud rate).
pub struct Uart0 {
    _only_one: (),
}

impl Uart0 {
    /// Clocks and configures UART0, and unmasks its interrupt in the NVIC
    /// (borrowed to show that). Call once: `Uart0` owns the hardware. Masks
    /// interrupts (PRIMASK) for the rest of the program.
    pub fn new(_nvic: &mut NVIC) -> Uart0 {
        cortex_m::interrupt::disable();
        // SAFETY: RCGC1 is a valid MMIO register; setting bit 0 only gates
        // UART0's clock on.
        unsafe {
            let rcgc1 = RCGC1 as *mut u32;
            ptr::write_volatile(rcgc1, ptr::read_volatile(rcgc1) | 1);
        }
        write_reg(CTL, 0);
        // 12 MHz / (16 × 115200) = 6.51: integer 6, fraction 0.51 × 64 ≈ 33.
        write_reg(IBRD, 6);
        write_reg(FBRD, 33);
        write_reg(LCRH, 0x60 | 0x10); // 8 data bits, FIFOs on
        write_reg(IM, (1 << 4) | (1 << 6)); // receive and receive-timeout interrupts
        write_reg(CTL, 1 | (1 << 8) | (1 << 9)); // UARTEN, TXE, RXE
        // SAFETY: PRIMASK is set above, so the interrupt only wakes `WFI`; no
        // handler runs and no critical section can be broken.
        unsafe { NVIC::unmask(Uart0Irq) };
        Uart0 { _only_one: () }
    }

    fn readable() -> bool {
        read_reg(FR) & RXFE == 0
    }

    /// Sleeps until the receive FIFO holds a byte.
    fn wait_readable() {
        loop {
            // Clear a stale wake-up first, then look: a byte that arrives
            // after the look pends the interrupt again and ends the WFI.
            NVIC::unpend(Uart0Irq);
            if Self::readable() {
                return;
            }
            cortex_m::asm::wfi();
        }
    }

    /// Discards input until the line has been quiet for `quiet_ms`
    /// milliseconds (at most 1000), timed by SysTick. Returns the number of
    /// bytes discarded.
    pub fn drain(&mut self, syst: &mut SYST, quiet_ms: u32) -> u32 {
        let reload = SYSTEM_CLOCK_HZ / 1000 * quiet_ms.min(1000);
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(reload.clamp(1, 0x00FF_FFFF));
        syst.clear_current();
        syst.enable_counter();
        let _ = syst.has_wrapped();
        let mut discarded = 0;
        while !syst.has_wrapped() {
            if Self::readable() {
                let _ = read_reg(DR);
                discarded += 1;
                syst.clear_current();
                let _ = syst.has_wrapped();
            }
        }
        syst.disable_counter();
        discarded
    }
}

impl embedded_io::ErrorType for Uart0 {
    type Error = Infallible;
}

impl embedded_io::Read for Uart0 {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        Self::wait_readable();
        let mut n = 0;
        while n < buf.len() && Self::readable() {
            // The low 8 bits are the byte; the error bits above are ignored.
            buf[n] = read_reg(DR) as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart0 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &byte in buf {
            while read_reg(FR) & TXFF != 0 {}
            write_reg(DR, u32::from(byte));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while read_reg(FR) & BUSY != 0 {}
        Ok(())
    }
}
