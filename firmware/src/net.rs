//! What the network firmware runs on besides the NIC: a millisecond clock
//! (SysTick), a smoltcp TCP socket as an `embedded-io-async` stream, and
//! a tiny executor that polls a fixed set of tasks between polls of the
//! network stack, sleeping in `WFI` when nothing happened.
//!
//! The executor has no wakers: every task is polled after every poll of
//! the interface, which is what a handful of sockets on one chip needs.
//! The core sleeps until an interrupt: the NIC's (a frame arrived; its
//! handler only acknowledges it) or SysTick's millisecond tick. (QEMU
//! treats `WFE` as a no-op, so only `WFI` lets an idle QEMU rest.)

use core::cell::{Cell, RefCell};
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll, Waker};
use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::exception;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;

/// The AN385's CPU clock in QEMU's model (SYSCLK), which SysTick counts.
pub const CPU_HZ: u32 = 25_000_000;

static MILLIS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// Starts the millisecond clock (SysTick's exception, every millisecond).
pub fn start_clock(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CPU_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since [`start_clock`] (wraps after 49 days).
pub fn millis() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// The time for smoltcp.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(i64::from(millis()))
}

/// The sockets, shared by the interface's poll and the tasks (never
/// borrowed across an `await`).
pub type Sockets = RefCell<SocketSet<'static>>;

/// What ends a connection early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// The connection ended (reset, or closed before the operation).
    Closed,
    /// The peer sent nothing before the stream's deadline
    /// ([`TcpStream::new`]).
    TimedOut,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NetError::Closed => "the TCP connection ended",
            NetError::TimedOut => "timed out",
        })
    }
}

impl core::error::Error for NetError {}

impl embedded_io::Error for NetError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            NetError::Closed => embedded_io::ErrorKind::ConnectionReset,
            NetError::TimedOut => embedded_io::ErrorKind::TimedOut,
        }
    }
}

/// One TCP socket as a byte stream: `read` waits for data (0 at the
/// peer's FIN), `write` for room in the socket's send buffer; `flush`
/// returns at once (the interface sends what is queued on its next poll).
pub struct TcpStream<'s> {
    sockets: &'s Sockets,
    handle: SocketHandle,
    deadline: &'s Cell<Option<u32>>,
}

impl<'s> TcpStream<'s> {
    /// The stream of socket `handle` (a TCP socket) in `sockets`. While
    /// `deadline` holds a time ([`millis`]) that has passed, a `read` that
    /// finds no data fails with [`NetError::TimedOut`]; the owner sets and
    /// clears it (a `Cell`, since the stream itself is lent away).
    pub fn new(
        sockets: &'s Sockets,
        handle: SocketHandle,
        deadline: &'s Cell<Option<u32>>,
    ) -> Self {
        TcpStream {
            sockets,
            handle,
            deadline,
        }
    }
}

/// Runs `f` on the socket `handle` of `sockets`.
pub fn with_socket<R>(
    sockets: &Sockets,
    handle: SocketHandle,
    f: impl FnOnce(&mut tcp::Socket<'static>) -> R,
) -> R {
    f(sockets.borrow_mut().get_mut::<tcp::Socket<'static>>(handle))
}

impl embedded_io::ErrorType for TcpStream<'_> {
    type Error = NetError;
}

impl embedded_io_async::Read for TcpStream<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|_| {
            with_socket(self.sockets, self.handle, |s| {
                if s.can_recv() {
                    Poll::Ready(s.recv_slice(buf).map_err(|_| NetError::Closed))
                } else if !s.may_recv() {
                    Poll::Ready(Ok(0))
                } else if self
                    .deadline
                    .get()
                    .is_some_and(|at| millis().wrapping_sub(at) < u32::MAX / 2)
                {
                    Poll::Ready(Err(NetError::TimedOut))
                } else {
                    Poll::Pending
                }
            })
        })
        .await
    }
}

impl embedded_io_async::Write for TcpStream<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|_| {
            with_socket(self.sockets, self.handle, |s| {
                if !s.may_send() {
                    Poll::Ready(Err(NetError::Closed))
                } else if s.can_send() {
                    Poll::Ready(s.send_slice(buf).map_err(|_| NetError::Closed))
                } else {
                    Poll::Pending
                }
            })
        })
        .await
    }

    async fn flush(&mut self) -> Result<(), NetError> {
        Ok(())
    }
}

/// Sleeps until an interrupt unless `busy()` says there is work (checked
/// with interrupts masked, so that an interrupt after the check still
/// ends the sleep); the handlers run after it.
pub fn sleep_unless(busy: impl FnOnce() -> bool) {
    cortex_m::interrupt::free(|_| {
        if !busy() {
            cortex_m::asm::wfi();
        }
    });
}

/// Returns `Pending` once, so that the executor polls the network first.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|_| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            Poll::Pending
        }
    })
    .await
}

/// Polls every task of `tasks` once (a task that finished is polled no
/// more: the firmware's tasks never finish).
pub fn poll_all<F: Future<Output = ()>, const N: usize>(
    tasks: Pin<&mut [F; N]>,
    done: &mut [bool; N],
) {
    let mut cx = Context::from_waker(Waker::noop());
    // SAFETY: structural pinning of the array's elements: the array is
    // pinned, so its elements never move; each is only reached here, as a
    // pinned reference.
    let tasks = unsafe { tasks.get_unchecked_mut() };
    for (task, done) in tasks.iter_mut().zip(done.iter_mut()) {
        if *done {
            continue;
        }
        // SAFETY: see above.
        let task = unsafe { Pin::new_unchecked(task) };
        *done = task.poll(&mut cx).is_ready();
    }
}
