//! A polled driver for the SMSC LAN9118 Ethernet controller, as the MPS2
//! AN385 board (and QEMU's `mps2-an385`) maps it at `0x4020_0000`, and a
//! smoltcp [`Device`] over it.
//!
//! The chip is a MAC and PHY with FIFOs behind 32-bit registers (SMSC
//! LAN9118 datasheet, "System Control and Status Registers"): frames go out
//! through the TX data FIFO (two command words, then the frame as
//! little-endian words), and come in through the RX status FIFO (one word
//! per frame: its length, FCS included, in bits 29:16) and the RX data FIFO
//! (the frame as words, then the FCS). No DMA, no descriptors: one frame
//! buffer each way in [`Lan9118`] is all the RAM the driver uses.
//!
//! Polled: frames are only moved when smoltcp asks. The chip's interrupt
//! line (a frame received) is enabled so that a main loop can sleep until
//! a frame arrives; its handler only calls [`acknowledge_interrupt`].

use core::ptr;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Where the AN385 maps the chip.
pub const BASE: usize = 0x4020_0000;
/// The chip's interrupt on the AN385 (an input of the Cortex-M3's NVIC).
pub const IRQ: u16 = 13;

const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const TX_STATUS_FIFO: usize = 0x48;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5C;
const BYTE_TEST: usize = 0x64;
const FIFO_INT: usize = 0x68;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_DP_CTRL: usize = 0x78;
const RX_FIFO_INF: usize = 0x7C;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xA4;
const MAC_CSR_DATA: usize = 0xA8;

/// BYTE_TEST reads this on a chip wired the right way round.
const BYTE_TEST_VALUE: u32 = 0x8765_4321;
/// ID_REV's chip id (bits 31:16).
const CHIP_ID: u32 = 0x0118;

/// HW_CFG: soft reset (self-clearing).
const HW_CFG_SRST: u32 = 1 << 0;
/// PMT_CTRL: the chip is ready after a reset.
const PMT_READY: u32 = 1 << 0;
/// TX_CFG: the transmitter on.
const TX_ON: u32 = 1 << 1;
/// IRQ_CFG: the line enabled, active high, push-pull.
const IRQ_EN_HIGH_PUSH_PULL: u32 = (1 << 8) | (1 << 4) | (1 << 0);
/// INT_STS / INT_EN: the RX status FIFO holds more entries than its level.
const RSFL_INT: u32 = 1 << 3;
/// RX_DP_CTRL: skip the rest of the current frame.
const RX_FFWD: u32 = 1 << 31;

/// MAC_CSR_CMD: busy (start), read.
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;
/// MAC CSRs.
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
/// MAC_CR: full duplex, transmitter and receiver on (unicast to our
/// address and broadcast; the reset value's promiscuous mode off).
const MAC_CR_FDPX: u32 = 1 << 20;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;

/// TX command A: first and last segment (a frame in one buffer); bits
/// 10:0 the buffer's length.
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;

/// RX status: error summary.
const RX_STATUS_ERROR: u32 = 1 << 15;

/// The largest frame handled: 1514 bytes (MTU 1500 and the Ethernet
/// header), rounded up to whole words.
pub const FRAME_LEN: usize = 1516;
/// The MTU smoltcp is told (the frame without FCS).
const MTU: usize = 1514;
/// Room a frame needs in the TX data FIFO: the frame and the command words.
const TX_ROOM: u32 = FRAME_LEN as u32 + 8;

fn read(offset: usize) -> u32 {
    // SAFETY: a register of the chip: a valid, aligned MMIO address on this
    // board; reading it has no effect beyond the chip's documented ones.
    unsafe { ptr::read_volatile((BASE + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as above; only `Lan9118` (one instance) writes the chip.
    unsafe { ptr::write_volatile((BASE + offset) as *mut u32, value) }
}

/// Why the chip could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// BYTE_TEST did not read 0x87654321: no chip, or a wrong bus width.
    ByteTest(u32),
    /// ID_REV names another chip.
    ChipId(u32),
    /// The soft reset did not finish.
    Reset,
}

/// One frame buffer each way: all the RAM the driver uses (lent to it, so
/// that it can live in a zeroed static).
pub struct Buffers {
    pub rx: [u8; FRAME_LEN],
    pub tx: [u8; FRAME_LEN],
}

impl Buffers {
    /// Zeroed buffers (`const`, for statics).
    pub const fn new() -> Self {
        Buffers {
            rx: [0; FRAME_LEN],
            tx: [0; FRAME_LEN],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// The chip, set up, with its frame buffers.
pub struct Lan9118 {
    mac: [u8; 6],
    rx: &'static mut [u8; FRAME_LEN],
    tx: &'static mut [u8; FRAME_LEN],
}

impl Lan9118 {
    /// Resets and sets up the chip: the transmitter and receiver on, full
    /// duplex, the MAC address the chip holds (from its EEPROM; QEMU's
    /// `-nic` gives one), and the interrupt line raised while received
    /// frames wait. Call once: `Lan9118` owns the hardware.
    pub fn new(buffers: &'static mut Buffers) -> Result<Lan9118, InitError> {
        let test = read(BYTE_TEST);
        if test != BYTE_TEST_VALUE {
            return Err(InitError::ByteTest(test));
        }
        let id = read(ID_REV);
        if id >> 16 != CHIP_ID {
            return Err(InitError::ChipId(id));
        }
        write(HW_CFG, HW_CFG_SRST);
        let mut ready = false;
        for _ in 0..100_000 {
            if read(HW_CFG) & HW_CFG_SRST == 0 && read(PMT_CTRL) & PMT_READY != 0 {
                ready = true;
                break;
            }
        }
        if !ready {
            return Err(InitError::Reset);
        }
        let low = mac_read(MAC_ADDRL);
        let high = mac_read(MAC_ADDRH);
        let mac = [
            low as u8,
            (low >> 8) as u8,
            (low >> 16) as u8,
            (low >> 24) as u8,
            high as u8,
            (high >> 8) as u8,
        ];
        write(TX_CFG, TX_ON);
        mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);
        // Interrupt as soon as one RX status entry waits (level 0).
        write(FIFO_INT, read(FIFO_INT) & !0xFF);
        write(INT_STS, u32::MAX);
        write(INT_EN, RSFL_INT);
        write(IRQ_CFG, IRQ_EN_HIGH_PUSH_PULL);
        Ok(Lan9118 {
            mac,
            rx: &mut buffers.rx,
            tx: &mut buffers.tx,
        })
    }

    /// The chip's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Received frames wait in the RX FIFO.
    pub fn rx_pending(&self) -> bool {
        Self::frames_waiting() > 0
    }

    /// Frames waiting in the RX FIFO.
    fn frames_waiting() -> u32 {
        (read(RX_FIFO_INF) >> 16) & 0xFF
    }

    /// Reads the next good frame into `self.rx`; returns its length without
    /// the FCS. Frames with errors or too long for the buffer are skipped.
    fn receive_frame(&mut self) -> Option<usize> {
        while Self::frames_waiting() > 0 {
            let status = read(RX_STATUS_FIFO);
            // The length counts the 4-byte FCS that follows the frame.
            let len = ((status >> 16) & 0x3FFF) as usize;
            let words = len.div_ceil(4);
            if status & RX_STATUS_ERROR != 0 || len < 4 || len - 4 > MTU {
                skip_frame(words);
                continue;
            }
            let frame_words = (len - 4).div_ceil(4);
            for word in self.rx[..frame_words * 4].chunks_exact_mut(4) {
                word.copy_from_slice(&read(RX_DATA_FIFO).to_le_bytes());
            }
            // The FCS (and the frame's last word when they share one).
            for _ in frame_words..words {
                let _ = read(RX_DATA_FIFO);
            }
            return Some(len - 4);
        }
        None
    }

    /// The TX data FIFO has room for a whole frame.
    fn can_transmit() -> bool {
        read(TX_FIFO_INF) & 0xFFFF >= TX_ROOM
    }
}

/// Acknowledges the chip's interrupt: its line drops until the next frame
/// arrives. For the interrupt handler (a single register write, which does
/// not disturb a FIFO transfer that it interrupts).
pub fn acknowledge_interrupt() {
    write(INT_STS, RSFL_INT);
}

/// Drops a frame of `words` words from the RX data FIFO: the chip's fast
/// forward for long ones, reads for short ones (the datasheet asks for
/// reads under 4 words).
fn skip_frame(words: usize) {
    if words >= 4 {
        write(RX_DP_CTRL, RX_FFWD);
        while read(RX_DP_CTRL) & RX_FFWD != 0 {}
    } else {
        for _ in 0..words {
            let _ = read(RX_DATA_FIFO);
        }
    }
}

/// Sends `frame` (padded to whole words) as one frame of `len` bytes.
fn send_frame(frame: &[u8], len: usize) {
    write(TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len as u32);
    // Command B: the packet's length (bits 10:0), and a tag, unused.
    write(TX_DATA_FIFO, len as u32);
    for word in frame.chunks_exact(4) {
        write(
            TX_DATA_FIFO,
            u32::from_le_bytes([word[0], word[1], word[2], word[3]]),
        );
    }
    // Statuses are not looked at: drop them so that their FIFO never fills.
    while (read(TX_FIFO_INF) >> 16) & 0xFF != 0 {
        let _ = read(TX_STATUS_FIFO);
    }
}

fn mac_wait() {
    while read(MAC_CSR_CMD) & CSR_BUSY != 0 {}
}

fn mac_read(csr: u32) -> u32 {
    mac_wait();
    write(MAC_CSR_CMD, CSR_BUSY | CSR_READ | csr);
    mac_wait();
    read(MAC_CSR_DATA)
}

fn mac_write(csr: u32, value: u32) {
    mac_wait();
    write(MAC_CSR_DATA, value);
    write(MAC_CSR_CMD, CSR_BUSY | csr);
    mac_wait();
}

/// A received frame, for smoltcp.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room for a frame to send, for smoltcp.
pub struct TxToken<'a> {
    buf: &'a mut [u8; FRAME_LEN],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let result = f(&mut self.buf[..len]);
        send_frame(&self.buf[..len.div_ceil(4) * 4], len);
        result
    }
}

impl Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if !Self::can_transmit() {
            return None;
        }
        let len = self.receive_frame()?;
        Some((
            RxToken {
                frame: &self.rx[..len],
            },
            TxToken { buf: self.tx },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Self::can_transmit().then_some(TxToken { buf: self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}
