//! Stack high-water mark by painting.
//!
//! cortex-m-rt puts the stack at the top of RAM (`_stack_start`), growing
//! down towards the end of the statics (`_stack_end`). [`paint`] fills the
//! unused part, from `_stack_end` up to just below the current stack
//! pointer, with a pattern; [`peak`] finds the lowest word that is no longer
//! the pattern. Everything above it has been used at some point since the
//! reset, including the startup code's and `main`'s own frames.
//!
//! Nothing runs concurrently (no interrupt handler is enabled), and a word
//! below the stack pointer belongs to no live frame, so writing it is sound.

use core::ptr;

/// The paint: unlikely as data, and not a valid address in flash or RAM.
pub const PATTERN: u32 = 0xC5AC_CE55;

/// Bytes left unpainted just below the stack pointer, for safety.
const MARGIN: usize = 32;

unsafe extern "C" {
    /// The top of the stack (the end of RAM), from cortex-m-rt's link.x.
    static _stack_start: u32;
    /// The lowest address the stack may use (the end of the statics).
    static _stack_end: u32;
}

// Only the symbols' addresses are taken; they are never read.
fn top() -> usize {
    ptr::addr_of!(_stack_start) as usize
}

fn bottom() -> usize {
    ptr::addr_of!(_stack_end) as usize
}

/// The stack's size in bytes: all RAM that the statics leave.
pub fn size() -> u32 {
    (top() - bottom()) as u32
}

/// Paints the unused stack. Call it once, first thing in `main`.
#[inline(never)]
pub fn paint() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut at = bottom();
    while at + 4 <= sp - MARGIN {
        // SAFETY: `at` is word-aligned (link.x asserts `_stack_end % 4 == 0`),
        // lies in RAM between the statics and the stack pointer, and no live
        // frame or static is there: this function's own frame is above `sp`,
        // and it calls nothing that would push below it.
        unsafe { ptr::write_volatile(at as *mut u32, PATTERN) };
        at += 4;
    }
}

/// The most stack used since the reset, in bytes: from the top of RAM down
/// to the lowest word that is no longer the paint.
pub fn peak() -> u32 {
    let mut at = bottom();
    let top = top();
    // SAFETY: every address read is a word-aligned RAM address below the top.
    while at < top && unsafe { ptr::read_volatile(at as *const u32) } == PATTERN {
        at += 4;
    }
    (top - at) as u32
}
