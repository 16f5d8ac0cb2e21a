//! The echo servers' memory stays bounded by their budget when peers send
//! big messages and never read: `examples/echo_server` and
//! `examples/tokio_echo_server`, run in this process with a 32 MiB budget,
//! take 20 connections that each send an 8 MiB message and read nothing.
//! Without a budget the server would hold 20 × 8 MiB = 160 MiB for good
//! (each echo is stuck on a peer that does not read); with it, the peak
//! heap grows by less than the budget plus the connections' buffers, the
//! peak RSS by less than the budget plus a stated overhead, at most 4 of
//! the messages are echoed and the other connections are closed with 1013.
//!
//! The heap is counted by this test's global allocator (bytes allocated
//! and not freed, and their peak); RSS is the process's (`VmHWM` of
//! `/proc/self/status`, the peak, reset before each run by writing 5 to
//! `/proc/self/clear_refs`). The clients are raw sockets writing from one
//! 64 KiB buffer each, so they add little. Linux only.
#![cfg(target_os = "linux")]
// Both examples include their shared contract module, as they do when built.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

#[cfg(feature = "tokio")]
#[allow(dead_code)]
#[path = "../examples/tokio_echo_server.rs"]
mod tokio_echo_server;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use wsock::blocking::Budget;

const CONNECTIONS: usize = 20;
const MESSAGE: usize = 8 << 20;
const BUDGET: usize = 32 << 20;
/// What the heap may hold besides the budget: per connection an 8 KiB
/// read buffer and a 64 KiB write buffer, and the clients' 64 KiB buffers
/// (20 × 136 KiB ≈ 2.7 MiB). The budget covers the messages, and while a
/// message buffer grows, the old and the new buffer together. Measured:
/// 32–33 MiB above the start; without a budget all 20 messages (160 MiB)
/// are held.
const HEAP_OVERHEAD: usize = 4 << 20;
/// What the resident memory may hold besides the budget: the heap's
/// overhead, the threads' touched stacks and what the allocator keeps of
/// freed messages (glibc's per-thread arenas keep some of them resident).
/// Measured: 21–55 MiB above the start (16 runs), one of 73 MiB before a
/// growing buffer's old copy was counted in the budget; without a budget
/// 120–193 MiB.
const RSS_OVERHEAD: usize = 64 << 20;

/// The process's heap: bytes allocated and not yet freed, and the most
/// there were since [`reset_peak`]. A realloc that moves the block counts
/// the old and the new block together, as they briefly are.
struct Heap;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are atomics, which never allocate.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new.is_null() {
            return new;
        }
        if new == ptr {
            if new_size > layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        } else {
            grow(new_size);
            shrink(layout.size());
        }
        new
    }
}

#[global_allocator]
static HEAP: Heap = Heap;

/// One run at a time: the peak RSS is the whole process's.
static RUNS: Mutex<()> = Mutex::new(());

const UPGRADE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A `/proc/self/status` field, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: usize = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib << 10
}

/// A raw client: opening handshake done, nothing read past the 101.
fn handshake(addr: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(UPGRADE_REQUEST).unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8];
    while !response.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        response.push(byte[0]);
    }
    assert!(response.starts_with(b"HTTP/1.1 101"), "{response:?}");
    tcp
}

/// Writes one masked binary frame of `MESSAGE` zero bytes (a zero mask
/// key leaves them as they are) from a 64 KiB buffer; the server may end
/// TCP half way (1013), so write errors end it quietly.
fn send_big_message(mut tcp: TcpStream) {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(MESSAGE as u64).to_be_bytes());
    header.extend_from_slice(&[0; 4]);
    if tcp.write_all(&header).is_err() {
        return;
    }
    let piece = vec![0u8; 64 << 10];
    for _ in 0..MESSAGE / piece.len() {
        if tcp.write_all(&piece).is_err() {
            return;
        }
    }
}

/// What a client finds when it finally reads: its echo, or a close code.
#[derive(Debug, PartialEq)]
enum Outcome {
    Echoed,
    Closed(u16),
}

fn outcome(tcp: &mut TcpStream) -> Outcome {
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).unwrap();
    match head[0] {
        0x82 => Outcome::Echoed,
        0x88 => Outcome::Closed(u16::from_be_bytes([head[2], head[3]])),
        other => panic!("unexpected first byte {other:#x}"),
    }
}

/// Opens the connections, lets each send its message and never read until
/// all writes are done; returns the peak heap and RSS growth and the outcomes.
fn run(addr: &str) -> (Growth, Vec<Outcome>) {
    // The peak so far is forgotten: from here VmHWM is the peak of this run.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_bytes("VmRSS:");
    let heap_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(heap_before, Ordering::Relaxed);
    let start = Instant::now();
    let clients: Vec<TcpStream> = (0..CONNECTIONS).map(|_| handshake(addr)).collect();
    let writers: Vec<_> = clients
        .iter()
        .map(|tcp| {
            let tcp = tcp.try_clone().unwrap();
            thread::spawn(move || send_big_message(tcp))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    // The server has read what it will read: let it settle.
    thread::sleep(Duration::from_millis(300));
    let peak = status_bytes("VmHWM:");
    let heap_peak = PEAK.load(Ordering::Relaxed);
    let outcomes = clients
        .into_iter()
        .map(|mut tcp| outcome(&mut tcp))
        .collect();
    eprintln!(
        "{addr}: RSS before {} MiB, peak {} MiB; heap before {} MiB, peak {} MiB; in {:?}",
        before >> 20,
        peak >> 20,
        heap_before >> 20,
        heap_peak >> 20,
        start.elapsed()
    );
    let growth = Growth {
        heap: heap_peak - heap_before,
        rss: peak.saturating_sub(before),
    };
    (growth, outcomes)
}

/// How much more memory the process held at its peak than before a run.
struct Growth {
    /// Heap bytes allocated and not freed.
    heap: usize,
    /// Resident memory.
    rss: usize,
}

fn check(growth: Growth, outcomes: &[Outcome]) {
    let echoed = outcomes.iter().filter(|o| **o == Outcome::Echoed).count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == Outcome::Closed(1013))
        .count();
    eprintln!(
        "peak growth: heap {} MiB, RSS {} MiB; {echoed} echoed, {refused} closed with 1013",
        growth.heap >> 20,
        growth.rss >> 20
    );
    assert!(
        growth.heap < BUDGET + HEAP_OVERHEAD,
        "peak heap grew by {} MiB, over the {} MiB budget + {} MiB",
        growth.heap >> 20,
        BUDGET >> 20,
        HEAP_OVERHEAD >> 20
    );
    assert!(
        growth.rss < BUDGET + RSS_OVERHEAD,
        "peak RSS grew by {} MiB, over the {} MiB budget + {} MiB",
        growth.rss >> 20,
        BUDGET >> 20,
        RSS_OVERHEAD >> 20
    );
    assert!((1..=BUDGET / MESSAGE).contains(&echoed), "{outcomes:?}");
    assert_eq!(echoed + refused, CONNECTIONS, "{outcomes:?}");
}

#[test]
fn blocking_echo_server_memory_is_bounded_by_its_budget() {
    let _one = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || echo_server::serve(&listener, 256, &Budget::new(BUDGET)));
    let (growth, outcomes) = run(&addr);
    check(growth, &outcomes);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_echo_server_memory_is_bounded_by_its_budget() {
    let _one = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tokio_echo_server::serve(listener, 256, wsock::tokio::Budget::new(BUDGET)).await;
        });
    });
    let (growth, outcomes) = run(&addr);
    check(growth, &outcomes);
}
