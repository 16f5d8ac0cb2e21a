//! Fixed-work loops over wsock, for instruction counts under callgrind:
//! `wsock-icount WORKLOAD REPS` runs WORKLOAD REPS times. `run.sh` runs each
//! workload at 1 and 3 repetitions and reports the difference ÷ 2: the
//! instructions of one repetition, without the set-up. The same source is
//! built against two wsock trees (the API it uses is stable since 8b1964b).
//!
//! Workloads (each one repetition): `serverN` / `clientN` parse + unmask
//! ~1 MiB of N-byte binary frames in place with `Connection::receive` (a
//! 16 MiB frame for `server16m`); `enc_*` encode them; `echoN` is a client
//! and a server echoing N-byte messages in memory; `ws_readN` / `ws_echoN`
//! run the blocking adapter as a server reads (and echoes) whole messages,
//! over an in-memory transport that hands out 64 KiB per read.
use std::hint::black_box;
use std::io::{self, Read, Write};
use wsock::blocking::{Message, Options, Transport, WebSocket};
use wsock::{Config, Connection, Event, Outgoing, Role};

const UNLIMITED: Config = Config::new()
    .max_frame_size(u64::MAX)
    .max_message_size(u64::MAX);

struct Rng(u64);
impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
        for b in d {
            *b = self.try_next_u64()? as u8
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Rng {}

fn frames(size: usize, count: usize, masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; size + 14];
    let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
    let mut client = Connection::client(UNLIMITED, Rng(0x1234_5678));
    let mut server = Connection::server(UNLIMITED);
    for _ in 0..count {
        let n = if masked {
            client.encode(Outgoing::Binary(&payload), &mut buf).unwrap()
        } else {
            server.encode(Outgoing::Binary(&payload), &mut buf).unwrap()
        };
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn parse_all<R: rand_core::Rng>(conn: &mut Connection<R>, wire: &mut [u8]) -> usize {
    let (mut at, mut seen) = (0, 0);
    while at < wire.len() {
        let got = conn.receive(&mut wire[at..]).unwrap();
        if let Some(Event::Data(chunk)) = got.event {
            seen += chunk.payload.len();
        }
        at += got.consumed;
    }
    seen
}

/// An in-memory transport: reads come from `input` in `chunk`-byte pieces.
struct Mem {
    input: Vec<u8>,
    at: usize,
    chunk: usize,
    written: usize,
}
impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
impl Write for Mem {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.written += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Transport for Mem {}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args[2].parse().unwrap();
    let (kind, size, count) = match args[1].as_str() {
        "server16" => ("server", 16, 65536),
        "server125" => ("server", 125, 8192),
        "server4k" => ("server", 4096, 256),
        "server16m" => ("server", 16 << 20, 1),
        "client16" => ("client", 16, 65536),
        "client125" => ("client", 125, 8192),
        "client4k" => ("client", 4096, 256),
        "enc_client16" => ("enc_client", 16, 65536),
        "enc_server16" => ("enc_server", 16, 65536),
        "enc_client4k" => ("enc_client", 4096, 256),
        "echo16" => ("echo", 16, 1000),
        "echo4k" => ("echo", 4096, 100),
        "ws_read16" => ("ws_read", 16, 65536),
        "ws_read4k" => ("ws_read", 4096, 256),
        "ws_echo16" => ("ws_echo", 16, 65536),
        "ws_echo4k" => ("ws_echo", 4096, 256),
        w => panic!("unknown workload {w}"),
    };
    let mut total = 0usize;
    match kind {
        "server" | "client" => {
            let wire = frames(size, count, kind == "server");
            let mut buf = wire.clone();
            for _ in 0..reps {
                buf.copy_from_slice(&wire);
                total += if kind == "server" {
                    parse_all(&mut Connection::server(UNLIMITED), &mut buf)
                } else {
                    parse_all(&mut Connection::client(UNLIMITED, Rng(1)), &mut buf)
                };
            }
        }
        "enc_client" | "enc_server" => {
            let payload = vec![b'x'; size];
            let mut out = vec![0u8; (size + 14) * count];
            for _ in 0..reps {
                let mut n = 0;
                if kind == "enc_client" {
                    let mut c = Connection::client(UNLIMITED, Rng(3));
                    for _ in 0..count {
                        n += c.encode(Outgoing::Binary(&payload), &mut out[n..]).unwrap();
                    }
                } else {
                    let mut c = Connection::server(UNLIMITED);
                    for _ in 0..count {
                        n += c.encode(Outgoing::Binary(&payload), &mut out[n..]).unwrap();
                    }
                }
                total += black_box(&out)[n - 1] as usize + n;
            }
        }
        "echo" => {
            let payload = vec![b'x'; size];
            let mut to_server = vec![0u8; (size + 14) * count];
            let mut to_client = vec![0u8; (size + 14) * count];
            for _ in 0..reps {
                let mut client = Connection::client(Config::new(), Rng(3));
                let mut server = Connection::server(Config::new());
                let mut n = 0;
                for _ in 0..count {
                    n += client
                        .encode(Outgoing::Binary(&payload), &mut to_server[n..])
                        .unwrap();
                }
                let (mut at, mut back) = (0, 0);
                while at < n {
                    let got = server.receive(&mut to_server[at..n]).unwrap();
                    if let Some(Event::Data(chunk)) = got.event {
                        back += server
                            .encode(Outgoing::Binary(chunk.payload), &mut to_client[back..])
                            .unwrap();
                    }
                    at += got.consumed;
                }
                total += parse_all(&mut client, &mut to_client[..back]);
            }
        }
        "ws_read" | "ws_echo" => {
            // The blocking adapter as a server would use it: read() whole
            // messages through its 8 KiB read buffer filled by 64 KiB reads;
            // ws_echo also writes each back (queued, flushed per read).
            let wire = frames(size, count, true);
            for _ in 0..reps {
                let mem = Mem {
                    input: wire.clone(),
                    at: 0,
                    chunk: 64 * 1024,
                    written: 0,
                };
                let mut ws =
                    WebSocket::from_upgraded(mem, Role::Server, Options::new(), &[]).unwrap();
                for _ in 0..count {
                    match ws.read().unwrap() {
                        Message::Binary(b) => {
                            total += b.len();
                            if kind == "ws_echo" {
                                ws.write(Outgoing::Binary(&b)).unwrap();
                            }
                        }
                        _ => unreachable!(),
                    }
                }
                ws.flush().unwrap();
                total += ws.get_ref().written;
            }
        }
        _ => unreachable!(),
    }
    println!("{}", black_box(total));
}
