//! A WebSocket echo server on the MPS2 AN385 (Cortex-M3) as QEMU's
//! `mps2-an385` board emulates it, reached over its LAN9118 Ethernet NIC.
//!
//! The chip is 10.0.2.15/24 on QEMU's user-mode network (gateway
//! 10.0.2.2) and serves WebSockets on TCP port 80; `-nic
//! user,model=lan9118,restrict=on,hostfwd=tcp:127.0.0.1:PORT-:80` makes it
//! `ws://127.0.0.1:PORT/` on the host (firmware/net-echo.sh PORT).
//!
//! [`SOCKETS`] sessions are served at once, each a task of the tiny
//! executor in `wsock_firmware::net` on its own TCP socket and buffers.
//! Messages stream through: a message that fits the message buffer is
//! echoed whole; a larger one is echoed as a fragmented message, each
//! fragment sent as soon as the buffer fills, so no message is too large
//! for RAM (the limit, [`MAX_MESSAGE`], is the echo server's). Text is
//! checked as UTF-8 by wsock as it arrives. Pings are answered; a close
//! is echoed with its code, then the firmware closes TCP. The text
//! `!stack` is answered with the stack's high-water mark, and
//! `!close CODE REASON` starts the closing handshake with that code. A
//! client that does not finish its handshake in [`HANDSHAKE_MS`] is
//! dropped, so that stalled clients cannot take every socket.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::pin::pin;
use core::task::Poll;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use smoltcp::iface::{
    Config as IfaceConfig, Interface, PollResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};
use wsock::embedded::{Error, asynch};
use wsock::handshake::server::Accept;
use wsock::{CloseCode, Config, DataKind, Event, Outgoing};
use wsock_firmware::lan9118::{self, Lan9118};
use wsock_firmware::net::{self, NetError, Sockets, TcpStream, with_socket};
use wsock_firmware::{TakeOnce, decimal, print, println, stack};

/// Sessions served at once: one TCP socket and one set of buffers each.
const SOCKETS: usize = 4;
/// The TCP port served.
const PORT: u16 = 80;
/// Each socket's TCP receive buffer (the window the host may fill).
const TCP_RX: usize = 4096;
/// Each socket's TCP send buffer.
const TCP_TX: usize = 3072;
/// The WebSocket input buffer: holds a handshake request; frames of any
/// size stream through it in chunks of at most this size.
const INPUT_LEN: usize = 1024;
/// The WebSocket output buffer: our 101 response and control frames;
/// larger frames stream through it.
const OUTPUT_LEN: usize = 512;
/// The message buffer: a message up to this size is echoed whole; a larger
/// one goes back as fragments of up to this size. At least `INPUT_LEN`
/// over the fragment threshold (`MESSAGE_LEN - INPUT_LEN`), since a chunk
/// from the input buffer must always fit.
const MESSAGE_LEN: usize = 2048;
/// The largest message echoed (as `examples/echo_server`); a larger one
/// gets 1009 from its header. RAM does not limit it: messages stream.
const MAX_MESSAGE: u64 = 64 << 20;
/// How long a client may take to send its whole handshake request: a
/// client that connects and stalls would hold a socket (of four) forever.
const HANDSHAKE_MS: u32 = 5000;
/// How long a closing socket may wait for the peer's FIN.
const CLOSE_WAIT_MS: u32 = 2000;

const CONFIG: Config = Config::new()
    .max_frame_size(MAX_MESSAGE)
    .max_message_size(MAX_MESSAGE);

/// One session's memory.
struct SessionBuffers {
    tcp_rx: [u8; TCP_RX],
    tcp_tx: [u8; TCP_TX],
    input: [u8; INPUT_LEN],
    output: [u8; OUTPUT_LEN],
    message: [u8; MESSAGE_LEN],
}

const EMPTY: SessionBuffers = SessionBuffers {
    tcp_rx: [0; TCP_RX],
    tcp_tx: [0; TCP_TX],
    input: [0; INPUT_LEN],
    output: [0; OUTPUT_LEN],
    message: [0; MESSAGE_LEN],
};

/// The WebSocket side of a session's memory (the TCP buffers are lent to
/// smoltcp).
struct WsBuffers {
    input: &'static mut [u8; INPUT_LEN],
    output: &'static mut [u8; OUTPUT_LEN],
    message: &'static mut [u8; MESSAGE_LEN],
}

/// The buffers, zeroed (in `.bss`).
struct Statics {
    sessions: [SessionBuffers; SOCKETS],
    nic: lan9118::Buffers,
}

static STATICS: TakeOnce<Statics> = TakeOnce::new(Statics {
    sessions: [EMPTY; SOCKETS],
    nic: lan9118::Buffers::new(),
});

/// smoltcp's slots for the sockets (not all zeros: in `.data`).
static SOCKET_SLOTS: TakeOnce<[SocketStorage<'static>; SOCKETS]> =
    TakeOnce::new([SocketStorage::EMPTY; SOCKETS]);

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: the only place that takes the core peripherals, before
    // anything else could.
    let mut core = unsafe { cortex_m::Peripherals::steal() };
    let (Some(statics), Some(slots)) = (STATICS.take(), SOCKET_SLOTS.take()) else {
        wsock_firmware::exit(false)
    };
    let mut nic = match Lan9118::new(&mut statics.nic) {
        Ok(nic) => nic,
        Err(_) => {
            println(&[b"net_echo: no LAN9118 at 0x40200000"]);
            wsock_firmware::exit(false)
        }
    };
    net::start_clock(&mut core.SYST);
    // SAFETY: the NIC's handler (`DefaultHandler` below) only writes the
    // chip's INT_STS, which no critical section here depends on.
    unsafe { NVIC::unmask(NicIrq) };

    let mac = EthernetAddress(nic.mac());
    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ethernet(mac)),
        &mut nic,
        net::now(),
    );
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(Ipv4Address::new(10, 0, 2, 15).into(), 24));
    });
    let _ = iface
        .routes_mut()
        .add_default_ipv4_route(Ipv4Address::new(10, 0, 2, 2));

    // One socket at a time: an array of sockets built with `map` and
    // mapped again was copied through main's frame (1.3 KiB more stack,
    // measured). main's frame is still 10.3 KiB: the tasks (4 × 1024 B), a
    // second slot of their size where `from_fn` builds them (shared with
    // `SocketSet::add`'s temporaries), and the sessions' steps inlined into
    // main (LLVM's stack-frame-layout remarks).
    let mut set = SocketSet::new(&mut slots[..]);
    let mut handles = [SocketHandle::default(); SOCKETS];
    let mut ws_buffers: [Option<WsBuffers>; SOCKETS] = [const { None }; SOCKETS];
    for ((b, handle), ws) in statics
        .sessions
        .iter_mut()
        .zip(handles.iter_mut())
        .zip(ws_buffers.iter_mut())
    {
        *handle = set.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut b.tcp_rx[..]),
            tcp::SocketBuffer::new(&mut b.tcp_tx[..]),
        ));
        *ws = Some(WsBuffers {
            input: &mut b.input,
            output: &mut b.output,
            message: &mut b.message,
        });
    }
    let sockets: Sockets = core::cell::RefCell::new(set);
    banner();

    let tasks: [_; SOCKETS] = core::array::from_fn(|i| {
        let buffers = ws_buffers[i]
            .take()
            .unwrap_or_else(|| wsock_firmware::exit(false));
        serve(&sockets, handles[i], buffers, i as u32 + 1)
    });
    let mut digits = [0; 10];
    println(&[
        b"net_echo: each session's task takes ",
        decimal(core::mem::size_of_val(&tasks[0]) as u32, &mut digits),
        b" bytes of stack",
    ]);
    let mut tasks = pin!(tasks);
    let mut done = [false; SOCKETS];
    loop {
        let before = iface.poll(net::now(), &mut nic, &mut sockets.borrow_mut());
        net::poll_all(tasks.as_mut(), &mut done);
        let after = iface.poll(net::now(), &mut nic, &mut sockets.borrow_mut());
        if before == PollResult::None && after == PollResult::None {
            net::sleep_unless(|| nic.rx_pending());
        }
    }
}

/// The NIC's interrupt number, for the NVIC.
#[derive(Clone, Copy)]
struct NicIrq;

// SAFETY: the LAN9118's input of the AN385's NVIC.
unsafe impl cortex_m::interrupt::InterruptNumber for NicIrq {
    fn number(self) -> u16 {
        lan9118::IRQ
    }
}

fn banner() {
    let (mut a, mut b, mut c) = ([0; 10], [0; 10], [0; 10]);
    println(&[
        b"net_echo: WebSocket echo server on 10.0.2.15:80 (LAN9118), ",
        decimal(SOCKETS as u32, &mut a),
        b" sessions at once, messages up to ",
        decimal(MAX_MESSAGE as u32, &mut b),
        b" bytes, streamed through a ",
        decimal(MESSAGE_LEN as u32, &mut c),
        b"-byte buffer",
    ]);
}

/// Serves sessions on one socket, one after another, forever.
async fn serve(sockets: &Sockets, handle: SocketHandle, buffers: WsBuffers, id: u32) {
    let mut sessions: u32 = 0;
    loop {
        // Listen until a connection is established (a reset one goes back
        // to listening; a closed socket listens again).
        core::future::poll_fn(|_| {
            with_socket(sockets, handle, |s| match s.state() {
                tcp::State::Closed => {
                    let _ = s.listen(PORT);
                    s.set_ack_delay(None);
                    s.set_nagle_enabled(false);
                    Poll::Pending
                }
                tcp::State::Listen | tcp::State::SynReceived => Poll::Pending,
                _ => Poll::Ready(()),
            })
        })
        .await;
        sessions = sessions.wrapping_add(1);
        let deadline = Cell::new(None);
        let outcome = session(
            TcpStream::new(sockets, handle, &deadline),
            &deadline,
            &mut buffers.input[..],
            &mut buffers.output[..],
            &mut buffers.message[..],
        )
        .await;
        close(sockets, handle).await;
        report(id, sessions, &outcome);
    }
}

/// Closes the socket: FIN after what is queued, then waits (discarding
/// input) for the peer's FIN or [`CLOSE_WAIT_MS`], and frees the socket.
async fn close(sockets: &Sockets, handle: SocketHandle) {
    with_socket(sockets, handle, |s| s.close());
    let start = net::millis();
    loop {
        let finished = with_socket(sockets, handle, |s| {
            while s.can_recv() {
                let _ = s.recv(|data| (data.len(), ()));
            }
            matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait)
        });
        if finished || net::millis().wrapping_sub(start) > CLOSE_WAIT_MS {
            break;
        }
        net::yield_now().await;
    }
    with_socket(sockets, handle, |s| s.abort());
    // Let the interface send the abort's RST (if any) before listening again.
    net::yield_now().await;
}

/// What `read_event_with` saw.
enum Got {
    Data { last: bool },
    Control,
}

/// One session: the handshake, then messages echoed until the close.
/// Returns the number of messages echoed.
async fn session(
    stream: TcpStream<'_>,
    deadline: &Cell<Option<u32>>,
    input: &mut [u8],
    output: &mut [u8],
    message: &mut [u8],
) -> Result<u32, Error<NetError>> {
    let accept = asynch::accept(stream, CONFIG, input, output, |request| {
        let echo = request.subprotocols().any(|p| p == "echo");
        Ok(Accept {
            subprotocol: echo.then_some("echo"),
            ..Accept::default()
        })
    });
    deadline.set(Some(net::millis().wrapping_add(HANDSHAKE_MS)));
    let opened = accept.await;
    deadline.set(None);
    let mut ws = opened?;
    let mut echoed: u32 = 0;
    let mut fill = 0usize;
    let mut kind = DataKind::Binary;
    // A fragment of the current message has been sent.
    let mut streaming = false;
    loop {
        let got = ws
            .read_event_with(|event| match event {
                Event::Data(chunk) => {
                    if chunk.first {
                        kind = chunk.kind;
                        fill = 0;
                        streaming = false;
                    }
                    let n = chunk.payload.len().min(message.len() - fill);
                    message[fill..fill + n].copy_from_slice(&chunk.payload[..n]);
                    fill += n;
                    Got::Data { last: chunk.last }
                }
                _ => Got::Control,
            })
            .await;
        match got {
            Ok(Got::Control) => ws.flush().await?,
            Ok(Got::Data { last: true }) if !streaming => {
                let payload = &message[..fill];
                match kind {
                    DataKind::Text => {
                        // Checked by wsock as it arrived.
                        let text = core::str::from_utf8(payload).unwrap_or("");
                        if text == "!stack" {
                            send_stack_report(&mut ws).await?;
                        } else if let Some((code, reason)) = close_command(text) {
                            ws.close(code, reason).await?;
                        } else {
                            ws.send(Outgoing::Text(text)).await?;
                        }
                    }
                    DataKind::Binary => ws.send(Outgoing::Binary(payload)).await?,
                }
                echoed = echoed.wrapping_add(1);
                fill = 0;
            }
            Ok(Got::Data { last }) => {
                if last || fill > message.len() - INPUT_LEN {
                    ws.send(Outgoing::Fragment {
                        kind,
                        payload: &message[..fill],
                        last,
                    })
                    .await?;
                    streaming = !last;
                    fill = 0;
                    if last {
                        echoed = echoed.wrapping_add(1);
                    }
                }
            }
            Err(Error::ConnectionClosed) => return Ok(echoed),
            Err(e) => return Err(e),
        }
    }
}

/// `!close CODE REASON`: the code and reason to close with.
fn close_command(text: &str) -> Option<(CloseCode, &str)> {
    let rest = text.strip_prefix("!close ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok()?;
    Some((CloseCode(code), reason))
}

/// Answers `!stack` with `peak stack P of S bytes`.
async fn send_stack_report(
    ws: &mut asynch::WebSocket<'_, TcpStream<'_>>,
) -> Result<(), Error<NetError>> {
    let (mut a, mut b) = ([0; 10], [0; 10]);
    let parts: [&[u8]; 5] = [
        b"peak stack ",
        decimal(stack::peak(), &mut a),
        b" of ",
        decimal(stack::size(), &mut b),
        b" bytes",
    ];
    let mut reply = [0u8; 48];
    let mut n = 0;
    for part in parts {
        reply[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    // ASCII only, so always UTF-8.
    let text = core::str::from_utf8(&reply[..n]).unwrap_or("?");
    ws.send(Outgoing::Text(text)).await
}

/// One line per session on the host's stdout.
fn report(socket: u32, session: u32, outcome: &Result<u32, Error<NetError>>) {
    let (mut a, mut b, mut c) = ([0; 10], [0; 10], [0; 10]);
    print(b"net_echo: socket ");
    print(decimal(socket, &mut a));
    print(b" session ");
    print(decimal(session, &mut b));
    match outcome {
        Ok(echoed) => {
            print(b": closed normally after ");
            print(decimal(*echoed, &mut c));
            print(b" messages");
        }
        Err(Error::Handshake(h)) => {
            print(b": handshake refused with HTTP ");
            print(decimal(u32::from(h.status()), &mut c));
        }
        Err(Error::Protocol(p)) => {
            print(b": failed: ");
            print(p.close_reason().as_bytes());
            print(b", close code ");
            print(decimal(u32::from(p.close_code().0), &mut c));
        }
        Err(Error::Io(NetError::TimedOut)) => print(b": handshake timed out"),
        Err(Error::Io(_)) | Err(Error::TransportClosed) => print(b": connection lost"),
        Err(_) => print(b": failed"),
    }
    let (mut d, mut e) = ([0; 10], [0; 10]);
    println(&[
        b"; peak stack ",
        decimal(stack::peak(), &mut d),
        b" of ",
        decimal(stack::size(), &mut e),
        b" bytes",
    ]);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wsock_firmware::panic()
}

/// The NIC's interrupt (the only one enabled besides SysTick) only wakes
/// the main loop: acknowledged, the chip's line drops.
#[exception]
unsafe fn DefaultHandler(_irq: i16) {
    lan9118::acknowledge_interrupt();
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    wsock_firmware::hard_fault(frame.pc())
}
