//! Criterion benchmarks of wsock's sans-IO core: parsing + unmasking,
//! encoding, masking, UTF-8 validation, handshakes, and an in-memory echo.
//!
//! `cargo bench --bench core` (add `-- NAME` to filter). Every group reports
//! bytes/s and frames/s (or messages/s); `memcpy` of the same bytes is
//! benchmarked alongside as the reference ceiling.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wsock::handshake::client::{ClientHandshake, ClientRequest};
use wsock::handshake::server::{Accept, Request};
use wsock::handshake::{EMPTY_HEADER, Url, accept_key};
use wsock::utf8::Utf8Validator;
use wsock::{Config, Connection, Event, Outgoing, mask::apply_mask};

#[path = "../tests/support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

/// No limits in the way of the biggest workload.
const UNLIMITED: Config = Config::new()
    .max_frame_size(u64::MAX)
    .max_message_size(u64::MAX);

/// Payload sizes of the frame workloads, and how many frames make one buffer
/// (about 1 MiB of payload, or one 16 MiB frame).
const SIZES: [(usize, usize); 5] = [
    (16, 65536),
    (125, 8192),
    (4096, 256),
    (65536, 16),
    (16 << 20, 1),
];

/// `count` binary frames of `size` bytes, masked (client → server) or not.
fn frames(size: usize, count: usize, masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; size + 14];
    let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
    let mut client = Connection::client(UNLIMITED, TestRng(0x1234_5678));
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

/// Decodes every frame in `wire` in place; returns the payload bytes seen.
fn parse_all<R: rand_core::Rng>(conn: &mut Connection<R>, wire: &mut [u8]) -> usize {
    let mut at = 0;
    let mut seen = 0;
    while at < wire.len() {
        let got = conn.receive(&mut wire[at..]).unwrap();
        if let Some(Event::Data(chunk)) = got.event {
            seen += chunk.payload.len();
        }
        at += got.consumed;
    }
    seen
}

fn parse_unmask(c: &mut Criterion) {
    for (role, masked) in [("server_masked", true), ("client_unmasked", false)] {
        let mut group = c.benchmark_group(format!("parse_unmask/{role}"));
        for (size, count) in SIZES {
            let mut wire = frames(size, count, masked);
            let bytes = wire.len() as u64;
            group.throughput(Throughput::ElementsAndBytes {
                elements: count as u64,
                bytes,
            });
            group.bench_function(BenchmarkId::from_parameter(size), |b| {
                // Unmasking in place flips the payload each run; the headers
                // stay intact, so the same buffer serves every iteration.
                b.iter(|| {
                    if masked {
                        parse_all(&mut Connection::server(UNLIMITED), black_box(&mut wire))
                    } else {
                        parse_all(
                            &mut Connection::client(UNLIMITED, TestRng(1)),
                            black_box(&mut wire),
                        )
                    }
                })
            });
            let mut copy = vec![0u8; wire.len()];
            group.bench_function(BenchmarkId::new("memcpy", size), |b| {
                b.iter(|| copy.copy_from_slice(black_box(&wire)))
            });
        }
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (size, count) in &SIZES[..4] {
        let (size, count) = (*size, *count);
        let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut out = vec![0u8; (size + 14) * count];
        group.throughput(Throughput::ElementsAndBytes {
            elements: count as u64,
            bytes: (size * count) as u64,
        });
        group.bench_function(BenchmarkId::new("client_masked", size), |b| {
            let mut client = Connection::client(UNLIMITED, TestRng(9));
            b.iter(|| {
                let mut at = 0;
                for _ in 0..count {
                    at += client
                        .encode(Outgoing::Binary(black_box(&payload)), &mut out[at..])
                        .unwrap();
                }
                at
            })
        });
        group.bench_function(BenchmarkId::new("server_unmasked", size), |b| {
            let mut server = Connection::server(UNLIMITED);
            b.iter(|| {
                let mut at = 0;
                for _ in 0..count {
                    at += server
                        .encode(Outgoing::Binary(black_box(&payload)), &mut out[at..])
                        .unwrap();
                }
                at
            })
        });
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| {
                let mut at = 0;
                for _ in 0..count {
                    out[at..at + size].copy_from_slice(black_box(&payload));
                    at += size;
                }
                at
            })
        });
    }
    group.finish();
}

fn masking(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [16usize, 125, 4096, 65536, 1 << 20] {
        let mut data = vec![0xA5u8; size];
        let mut copy = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut data), [1, 2, 3, 4], 1))
        });
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| copy.copy_from_slice(black_box(&data)))
        });
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    let ascii: String = "The quick brown fox jumps over the lazy dog. ".repeat(1500);
    let mixed: String = "Grüße, κόσμε, 世界, 😀 — ".repeat(1500);
    for (name, text) in [("ascii", &ascii), ("mixed", &mixed)] {
        let bytes = text.as_bytes();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("whole", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(bytes)).unwrap();
                v.finish().unwrap();
            })
        });
        // Chunk sizes that split code points at every possible offset.
        for chunk in [1usize, 7, 61] {
            group.bench_function(BenchmarkId::new(format!("chunks_of_{chunk}"), name), |b| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    for piece in black_box(bytes).chunks(chunk) {
                        v.feed(piece).unwrap();
                    }
                    v.finish().unwrap();
                })
            });
        }
        group.bench_function(BenchmarkId::new("core_str_from_utf8", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(bytes)).unwrap().len())
        });
    }
    group.finish();
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    group.bench_function("server_parse_and_accept", |b| {
        let mut out = [0u8; 512];
        b.iter(|| {
            let mut headers = [EMPTY_HEADER; 32];
            let req = Request::parse(black_box(REQUEST), &mut headers, 8192)
                .unwrap()
                .unwrap();
            let chosen = req.subprotocols().find(|p| *p == "chat");
            req.accept(
                &Accept {
                    subprotocol: chosen,
                    ..Accept::default()
                },
                &mut out,
            )
            .unwrap()
        })
    });
    let mut rng = TestRng(5);
    let request = ClientRequest {
        subprotocols: &["chat"],
        ..ClientRequest::new(Url::parse("ws://server.example.com/chat").unwrap())
    };
    let hs = ClientHandshake::new(request, &mut rng);
    let mut response =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Accept: "
            .to_vec();
    response.extend_from_slice(&accept_key(hs.key().as_bytes()));
    response.extend_from_slice(b"\r\n\r\n");
    group.bench_function("client_validate_response", |b| {
        b.iter(|| {
            let mut headers = [EMPTY_HEADER; 32];
            hs.receive(black_box(&response), &mut headers)
                .unwrap()
                .unwrap()
                .len
        })
    });
    group.finish();
}

/// A client sends N messages to a server, which echoes each back: both
/// sides encode, parse and unmask, all in memory.
fn echo_in_memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_in_memory");
    for (size, count) in [(16usize, 1000usize), (4096, 100)] {
        let payload = vec![b'x'; size];
        group.throughput(Throughput::ElementsAndBytes {
            elements: count as u64,
            bytes: (2 * size * count) as u64,
        });
        group.bench_function(
            BenchmarkId::new("messages", format!("{count}x{size}B")),
            |b| {
                let mut to_server = vec![0u8; (size + 14) * count];
                let mut to_client = vec![0u8; (size + 14) * count];
                b.iter(|| {
                    let mut client = Connection::client(Config::new(), TestRng(3));
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
                    parse_all(&mut client, &mut to_client[..back])
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    parse_unmask,
    encode,
    masking,
    utf8,
    handshake,
    echo_in_memory
);
criterion_main!(benches);
