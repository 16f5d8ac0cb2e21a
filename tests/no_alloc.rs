//! No allocation on the frame path: a counting global allocator watches
//! the core (connection, driver, message reassembly into a slice) and the
//! std adapter's zero-copy reads while thousands of frames go through, and
//! the std adapter writing 1 MiB frames through its 64 KiB write buffer.
//!
//! The allocator counts per thread, so the test harness's own threads do
//! not disturb the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use wsock::driver::{Driver, Next};
use wsock::message::{MessageAssembler, SliceBuffer};
use wsock::{Config, Connection, DataKind, Event, Outgoing};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a thread-local Cell that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract; forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded as is; `ptr` came from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

/// Client → server → client through drivers over fixed buffers: text,
/// binary, fragments, pings, all reassembled into slices. Zero allocations.
#[test]
fn core_frame_path_allocates_nothing() {
    let mut client = Driver::new(
        Connection::client(Config::new(), TestRng(3)),
        [0u8; 4096],
        [0u8; 4096],
    );
    let mut server = Driver::new(Connection::server(Config::new()), [0u8; 4096], [0u8; 4096]);
    let mut storage = [0u8; 2048];
    let mut assembler = MessageAssembler::new(SliceBuffer::new(&mut storage));
    let payload = [b'x'; 700];

    let before = allocations();
    let mut messages = 0u64;
    for round in 0..2000 {
        client
            .queue(Outgoing::Text("hello, zero allocations"))
            .unwrap();
        client
            .queue(Outgoing::Binary(&payload[..round % 700]))
            .unwrap();
        client
            .queue(Outgoing::Fragment {
                kind: DataKind::Binary,
                payload: &payload[..100],
                last: false,
            })
            .unwrap();
        client.queue(Outgoing::Ping(b"p")).unwrap();
        client
            .queue(Outgoing::Fragment {
                kind: DataKind::Binary,
                payload: &payload[..50],
                last: true,
            })
            .unwrap();
        // Move the client's output into the server's input.
        let wire = client.pending_output();
        let n = wire.len();
        server.input_space()[..n].copy_from_slice(wire);
        server.input_filled(n);
        client.output_written(n);
        loop {
            let step = server.poll_event(|event, _| match event {
                Event::Data(chunk) => assembler.push(&chunk).unwrap().is_some(),
                _ => false,
            });
            match step {
                Next::Ready(Ok(true)) => messages += 1,
                Next::Ready(Ok(false)) => {}
                // The owed pong, before the driver asks for a read.
                Next::Write => {
                    let n = server.pending_output().len();
                    server.output_written(n);
                }
                Next::Read => break,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(messages, 2000 * 3);
    assert_eq!(allocations() - before, 0, "the frame path allocated");
}

/// The std adapter's zero-copy read path: once its write queue has grown to
/// the size of a batch (a few doublings during the first reads), reading
/// frames with `read_event_with` and echoing them with `write` allocates
/// nothing per frame.
#[test]
fn std_adapter_read_event_path_allocates_nothing_per_frame() {
    use std::net::{TcpListener, TcpStream};
    use wsock::blocking::{Options, WebSocket};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let frames = 5000usize;
    let sender = std::thread::spawn(move || {
        // Pre-built masked frames, written raw: no WebSocket library here.
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut wire = Vec::new();
        for i in 0..frames {
            wire.extend_from_slice(&[0x82, 0x80 | 32, 1, 2, 3, 4]);
            wire.extend_from_slice(&[(i % 251) as u8; 32]);
        }
        std::io::Write::write_all(&mut stream, &wire).unwrap();
        stream
    });
    let (tcp, _) = listener.accept().unwrap();
    let mut ws = WebSocket::from_upgraded(tcp, wsock::Role::Server, Options::new(), &[]).unwrap();
    let mut echo = [0u8; 32];
    // Warm up: the first batches size the write queue.
    let mut read_one = |ws: &mut WebSocket<TcpStream>| {
        let len = ws
            .read_event_with(|event| match event {
                Event::Data(chunk) => {
                    echo[..chunk.payload.len()].copy_from_slice(chunk.payload);
                    chunk.payload.len()
                }
                _ => 0,
            })
            .unwrap();
        ws.write(Outgoing::Binary(&echo[..len])).unwrap();
    };
    let warm_up = 1000;
    for _ in 0..warm_up {
        read_one(&mut ws);
    }
    let before = allocations();
    for _ in warm_up..frames {
        read_one(&mut ws);
    }
    ws.flush().unwrap();
    assert_eq!(allocations() - before, 0, "allocated on the frame path");
    drop(sender.join().unwrap());
}

/// A transport that takes every byte and keeps only their count.
struct CountingSink {
    written: u64,
}

impl std::io::Read for CountingSink {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl wsock::blocking::Transport for CountingSink {}

/// The std adapter writes frames of 64 KiB and more through its write
/// buffer: after the first one, a 1 MiB message costs no allocation (the
/// buffer never grows to the frame's size), masked or not.
#[test]
fn std_adapter_writes_big_frames_through_its_buffer() {
    use wsock::blocking::{Options, WebSocket};
    let payload = vec![0x5Au8; 1 << 20];
    for role in [wsock::Role::Server, wsock::Role::Client] {
        let sink = CountingSink { written: 0 };
        let mut ws = WebSocket::from_upgraded(sink, role, Options::new(), &[]).unwrap();
        ws.write(Outgoing::Binary(&payload)).unwrap();
        ws.flush().unwrap();
        let before = allocations();
        for _ in 0..4 {
            ws.write(Outgoing::Binary(&payload)).unwrap();
            ws.flush().unwrap();
        }
        assert_eq!(
            allocations() - before,
            0,
            "{role:?}: allocated per big frame"
        );
        // Header: 2 + 8 length bytes, plus 4 for the client's mask key.
        let header = if role == wsock::Role::Client { 14 } else { 10 };
        assert_eq!(ws.get_ref().written, 5 * (header + (1 << 20)), "{role:?}");
    }
}
