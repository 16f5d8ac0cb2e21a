//! The load generator of the loopback echo benchmark: raw TCP, pre-built
//! masked frames, no WebSocket library.
//!
//! Each connection keeps `in_flight` messages outstanding: it sends that
//! many at once, and sends one more whenever an echo has fully arrived
//! (all replies found in one read go out in one vectored write). Every
//! echo is checked byte for byte against the message it answers (frame
//! header, length and payload, in order), during warm-up and measurement
//! alike, so a broken server fails the run instead of looking fast.
//!
//! Latency is per message, from the moment its frame is handed to the
//! socket (queued, in the closed loop) to the arrival of the read that
//! completes its echo. Sockets are non-blocking, driven by `mio` (epoll)
//! on a few threads.

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Short name for tables.
    pub name: &'static str,
    /// Concurrent connections.
    pub connections: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages outstanding per connection.
    pub in_flight: usize,
}

/// The scenarios: ours first, then the peers' published ones
/// (uWebSockets' `load_test`: one message in flight per connection).
pub const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "1 x 16 B x 1",
        connections: 1,
        size: 16,
        in_flight: 1,
    },
    Scenario {
        name: "1 x 16 B x 64",
        connections: 1,
        size: 16,
        in_flight: 64,
    },
    Scenario {
        name: "16 x 1 KiB x 16",
        connections: 16,
        size: 1024,
        in_flight: 16,
    },
    Scenario {
        name: "1 x 1 MiB x 2",
        connections: 1,
        size: 1 << 20,
        in_flight: 2,
    },
    Scenario {
        name: "100 x 20 B x 1",
        connections: 100,
        size: 20,
        in_flight: 1,
    },
    Scenario {
        name: "200 x 16 KiB x 1",
        connections: 200,
        size: 16 << 10,
        in_flight: 1,
    },
    Scenario {
        name: "500 x 16 KiB x 1",
        connections: 500,
        size: 16 << 10,
        in_flight: 1,
    },
];

/// How long to run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Before measuring (echoes checked, not counted).
    pub warm_up: Duration,
    /// The measured window.
    pub measure: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Echoes completed inside the window, per second.
    pub messages_per_sec: f64,
    /// Echoed payload bytes per second (one direction), in MB (10^6).
    pub mb_per_sec: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Echoes checked in the whole run (warm-up, window and drain).
    pub checked: u64,
    /// CPU time of the server process during the window, in cores (1.0 =
    /// one core busy all the time), if its pid was given.
    pub server_cpu: Option<f64>,
    /// CPU time of this process (the load generator) during the window, in cores.
    pub loadgen_cpu: Option<f64>,
}

/// User + system CPU time of a process so far, in clock ticks (100 Hz).
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Distinct messages per scenario; connection `c` sends message `(i + c) % K`
/// as its `i`-th, so a reply out of order or from another connection shows.
const VARIANTS: usize = 4;

/// The pre-built messages: masked frames and the payloads they carry.
struct Messages {
    frames: Vec<Vec<u8>>,
    payloads: Vec<Vec<u8>>,
}

impl Messages {
    fn new(size: usize) -> Self {
        let mut frames = Vec::new();
        let mut payloads = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for v in 0..VARIANTS {
            let payload: Vec<u8> = (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let key = [0x5a ^ v as u8, 0x3c, 0xa5 ^ (v as u8) << 4, 0x0f];
            let mut frame = vec![0x82];
            match size {
                0..=125 => frame.push(0x80 | size as u8),
                126..=0xffff => {
                    frame.push(0x80 | 126);
                    frame.extend_from_slice(&(size as u16).to_be_bytes());
                }
                _ => {
                    frame.push(0x80 | 127);
                    frame.extend_from_slice(&(size as u64).to_be_bytes());
                }
            }
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
            frames.push(frame);
            payloads.push(payload);
        }
        Messages { frames, payloads }
    }
}

/// Opens a TCP connection and performs the client handshake by hand,
/// checking the server's `Sec-WebSocket-Accept`.
pub fn connect(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so that nothing after the header block is consumed.
    while !response.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || response.len() > 8192 {
            return Err(io::Error::other("handshake: connection ended"));
        }
        response.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
    // RFC 6455 §1.3's example key and its accept value.
    if !text.starts_with("http/1.1 101") || !text.contains("s3pplmbitxaq9kygzzhzrbk+xoo=") {
        return Err(io::Error::other(format!("handshake refused: {text:?}")));
    }
    stream.set_read_timeout(None)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// The receive side of one connection: a small streaming frame checker.
struct Conn {
    sock: TcpStream,
    id: usize,
    /// Messages queued so far (the next one's sequence number).
    sent: u64,
    /// Echoes completed so far.
    received: u64,
    /// Frames to write: (variant, bytes of it already written).
    pending: VecDeque<(usize, usize)>,
    /// When each outstanding message was queued, oldest first.
    sent_at: VecDeque<Instant>,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[..len]`.
    len: usize,
    /// Payload bytes of the current echo still to come, and how many came.
    payload: Option<(usize, usize)>,
}

/// Counters of one thread.
struct Tally {
    histogram: Histogram<u64>,
    in_window: u64,
    checked: u64,
}

#[derive(Clone, Copy)]
enum Phase {
    WarmUp,
    Window,
    Drain,
}

/// Runs `scenario` against the echo server at `addr` on `threads` threads.
pub fn run(
    addr: SocketAddr,
    scenario: Scenario,
    timing: Timing,
    threads: usize,
    server_pid: Option<u32>,
) -> io::Result<Outcome> {
    let mut socks = Vec::with_capacity(scenario.connections);
    for _ in 0..scenario.connections {
        socks.push(connect(addr)?);
    }
    let messages = Messages::new(scenario.size);
    let threads = threads.clamp(1, scenario.connections);
    let mut groups: Vec<Vec<(usize, std::net::TcpStream)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (id, sock) in socks.into_iter().enumerate() {
        groups[id % threads].push((id, sock));
    }
    let start = Instant::now();
    let (tallies, cpu) = std::thread::scope(|s| {
        // Samples CPU times at the edges of the window.
        let sampler = s.spawn(move || {
            let pid = server_pid.map(|p| p.to_string());
            let sample = || (pid.as_deref().and_then(cpu_ticks), cpu_ticks("self"));
            std::thread::sleep((start + timing.warm_up).saturating_duration_since(Instant::now()));
            let before = sample();
            std::thread::sleep(
                (start + timing.warm_up + timing.measure).saturating_duration_since(Instant::now()),
            );
            let after = sample();
            let cores = |b: Option<u64>, a: Option<u64>| {
                Some((a? - b?) as f64 / 100.0 / timing.measure.as_secs_f64())
            };
            (cores(before.0, after.0), cores(before.1, after.1))
        });
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                let messages = &messages;
                s.spawn(move || drive(group, messages, scenario, timing, start))
            })
            .collect();
        let tallies = handles
            .into_iter()
            .map(|h| h.join().expect("load thread panicked"))
            .collect::<io::Result<Vec<Tally>>>();
        (tallies, sampler.join().expect("sampler panicked"))
    });
    let tallies = tallies?;
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let (mut in_window, mut checked) = (0, 0);
    for t in tallies {
        histogram.add(&t.histogram).expect("histogram bounds");
        in_window += t.in_window;
        checked += t.checked;
    }
    let secs = timing.measure.as_secs_f64();
    Ok(Outcome {
        messages_per_sec: in_window as f64 / secs,
        mb_per_sec: (in_window as f64 * scenario.size as f64) / secs / 1e6,
        p50_us: histogram.value_at_quantile(0.5) as f64 / 1e3,
        p99_us: histogram.value_at_quantile(0.99) as f64 / 1e3,
        checked,
        server_cpu: cpu.0,
        loadgen_cpu: cpu.1,
    })
}

/// One thread's event loop over its connections.
fn drive(
    group: Vec<(usize, std::net::TcpStream)>,
    messages: &Messages,
    scenario: Scenario,
    timing: Timing,
    start: Instant,
) -> io::Result<Tally> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let buf_len = (scenario.size + 14).clamp(16 << 10, 256 << 10);
    let mut conns: Vec<Conn> = Vec::with_capacity(group.len());
    for (i, (id, sock)) in group.into_iter().enumerate() {
        let mut sock = TcpStream::from_std(sock);
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        conns.push(Conn {
            sock,
            id,
            sent: 0,
            received: 0,
            pending: VecDeque::new(),
            sent_at: VecDeque::new(),
            buf: vec![0; buf_len],
            len: 0,
            payload: None,
        });
    }
    let mut tally = Tally {
        histogram: Histogram::new(3).expect("histogram"),
        in_window: 0,
        checked: 0,
    };
    let window_start = start + timing.warm_up;
    let window_end = window_start + timing.measure;
    let drain_end = window_end + Duration::from_secs(10);
    let now = Instant::now();
    for conn in &mut conns {
        for _ in 0..scenario.in_flight {
            conn.queue(messages, now);
        }
        conn.flush(messages)?;
    }
    loop {
        let now = Instant::now();
        let phase = if now < window_start {
            Phase::WarmUp
        } else if now < window_end {
            Phase::Window
        } else {
            Phase::Drain
        };
        if matches!(phase, Phase::Drain) {
            if conns.iter().all(|c| c.received == c.sent) {
                break;
            }
            if now > drain_end {
                return Err(io::Error::other("echoes missing 10 s after the window"));
            }
        }
        let deadline = match phase {
            Phase::WarmUp => window_start,
            Phase::Window => window_end,
            Phase::Drain => drain_end,
        };
        poll.poll(&mut events, Some(deadline.saturating_duration_since(now)))?;
        for event in &events {
            let conn = &mut conns[event.token().0];
            if event.is_readable() {
                conn.receive(messages, scenario, &mut tally, window_start, window_end)?;
            }
            conn.flush(messages)?;
        }
    }
    Ok(tally)
}

impl Conn {
    /// Queues the next message.
    fn queue(&mut self, _messages: &Messages, now: Instant) {
        let variant = (self.sent as usize + self.id) % VARIANTS;
        self.pending.push_back((variant, 0));
        self.sent_at.push_back(now);
        self.sent += 1;
    }

    /// Writes queued frames until done or the socket is full.
    fn flush(&mut self, messages: &Messages) -> io::Result<()> {
        while !self.pending.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .pending
                .iter()
                .take(64)
                .map(|&(v, off)| IoSlice::new(&messages.frames[v][off..]))
                .collect();
            let mut n = match self.sock.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            while n > 0 {
                let (v, off) = self.pending.front_mut().expect("written bytes were queued");
                let left = messages.frames[*v].len() - *off;
                if n >= left {
                    n -= left;
                    self.pending.pop_front();
                } else {
                    *off += n;
                    n = 0;
                }
            }
        }
        Ok(())
    }

    /// Reads all that is available, checks every echo, and queues the next
    /// messages (not after the window).
    fn receive(
        &mut self,
        messages: &Messages,
        scenario: Scenario,
        tally: &mut Tally,
        window_start: Instant,
        window_end: Instant,
    ) -> io::Result<()> {
        loop {
            let n = match self.sock.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    return Err(io::Error::other(format!(
                        "connection {} ended by the server",
                        self.id
                    )));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            self.len += n;
            let mut at = 0;
            loop {
                if let Some((left, done)) = self.payload {
                    let take = left.min(self.len - at);
                    let variant = (self.received as usize + self.id) % VARIANTS;
                    let want = &messages.payloads[variant][done..done + take];
                    if &self.buf[at..at + take] != want {
                        return Err(self.bad(format!(
                            "echo {} differs from the message sent",
                            self.received
                        )));
                    }
                    at += take;
                    if take < left {
                        self.payload = Some((left - take, done + take));
                        break;
                    }
                    self.payload = None;
                    self.complete(messages, scenario, tally, now, window_start, window_end);
                    continue;
                }
                // A header: 0x82, unmasked, the message's length.
                let have = &self.buf[at..self.len];
                if have.len() < 2 {
                    break;
                }
                let (len, header) = match have[1] {
                    126 if have.len() >= 4 => (u16::from_be_bytes([have[2], have[3]]) as usize, 4),
                    127 if have.len() >= 10 => (
                        u64::from_be_bytes(have[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => break,
                    b => (b as usize, 2),
                };
                if have[0] != 0x82 || have[1] & 0x80 != 0 || len != scenario.size {
                    return Err(self.bad(format!(
                        "echo {} has header {:02x?}, want a binary unmasked frame of {} bytes",
                        self.received,
                        &have[..header.min(have.len())],
                        scenario.size
                    )));
                }
                at += header;
                self.payload = Some((len, 0));
                if len == 0 {
                    continue;
                }
            }
            self.buf.copy_within(at..self.len, 0);
            self.len -= at;
            if self.len == self.buf.len() {
                return Err(self.bad("read buffer full".into()));
            }
        }
    }

    /// An echo fully arrived at `now`.
    fn complete(
        &mut self,
        messages: &Messages,
        _scenario: Scenario,
        tally: &mut Tally,
        now: Instant,
        window_start: Instant,
        window_end: Instant,
    ) {
        self.received += 1;
        tally.checked += 1;
        let sent_at = self
            .sent_at
            .pop_front()
            .expect("an echo answers a sent message");
        if now >= window_start && now < window_end {
            tally.in_window += 1;
            let ns = now.duration_since(sent_at).as_nanos().max(1) as u64;
            let _ = tally.histogram.record(ns);
        }
        if now < window_end {
            self.queue(messages, now);
        }
    }

    fn bad(&self, what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("connection {}: {what}", self.id),
        )
    }
}
