//! wsock against tungstenite, fastwebsockets and tokio-websockets on the
//! workloads of `benches/core.rs`, with `memcpy` and a byte-wise XOR as
//! reference ceilings, all in one run. Within every workload the libraries
//! run one after the other (wsock, tungstenite, fastwebsockets,
//! tokio-websockets, memcpy, xor), so a slow phase of the machine hits a
//! workload rather than one library.
//!
//! Before a workload is timed, every library's result is checked against an
//! independent decoder (`check_frames`) or the expected payloads, so a broken
//! path cannot look fast.
//!
//! `./run.sh` runs this and prints the table of ratios (`src/bin/report.rs`).

use bytes::Bytes;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use std::hint::black_box;
use std::time::Duration;
use wsock::Connection;
use wsock_compare::*;

/// Runs every parser once on a fresh copy of `wire` and checks its payloads.
fn verify_parsers(
    rt: &tokio::runtime::Runtime,
    wire: &[u8],
    masked: bool,
    size: usize,
    count: usize,
) {
    let expected = payload(size);
    let fail = |lib: &str, e: String| panic!("{lib}, {size} B, masked={masked}: {e}");
    let mut check = PayloadCheck::new(&expected);
    parse_wsock(&mut wire.to_vec(), masked, |p| check.see(p));
    check.finish(count).unwrap_or_else(|e| fail("wsock", e));
    let mut check = PayloadCheck::new(&expected);
    parse_tungstenite(wire, masked, count, |p| check.see(p));
    check
        .finish(count)
        .unwrap_or_else(|e| fail("tungstenite", e));
    let mut check = PayloadCheck::new(&expected);
    parse_fastwebsockets(rt, wire, masked, count, |p| check.see(p));
    check
        .finish(count)
        .unwrap_or_else(|e| fail("fastwebsockets", e));
    let mut check = PayloadCheck::new(&expected);
    parse_tokio_websockets(rt, wire, masked, count, |p| check.see(p));
    check
        .finish(count)
        .unwrap_or_else(|e| fail("tokio-websockets", e));
    // The XOR ceiling: applied twice it gives the input back.
    let mut copy = wire.to_vec();
    xor_bytewise(&mut copy, [1, 2, 3, 4]);
    xor_bytewise(&mut copy, [1, 2, 3, 4]);
    assert!(copy == wire, "xor_bytewise is not an involution");
}

fn parse_unmask(c: &mut Criterion) {
    let rt = runtime();
    for (role, masked) in [("server_masked", true), ("client_unmasked", false)] {
        let mut group = c.benchmark_group(format!("parse_unmask/{role}"));
        for (size, count) in SIZES {
            let wire = frames(size, count, masked);
            verify_parsers(&rt, &wire, masked, size, count);
            if size >= 1 << 20 {
                group.sample_size(20).sampling_mode(SamplingMode::Flat);
            }
            group.throughput(Throughput::ElementsAndBytes {
                elements: count as u64,
                bytes: wire.len() as u64,
            });
            // wsock unmasks in place, so its payloads flip every run; the
            // headers stay intact and the work is the same (as core.rs).
            let mut inplace = wire.clone();
            group.bench_function(BenchmarkId::new("wsock", size), |b| {
                b.iter(|| {
                    let mut n = 0;
                    parse_wsock(black_box(&mut inplace), masked, |p| n += p.len());
                    n
                })
            });
            group.bench_function(BenchmarkId::new("tungstenite", size), |b| {
                b.iter(|| {
                    let mut n = 0;
                    parse_tungstenite(black_box(&wire), masked, count, |p| n += p.len());
                    n
                })
            });
            group.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
                b.iter(|| {
                    let mut n = 0;
                    parse_fastwebsockets(&rt, black_box(&wire), masked, count, |p| n += p.len());
                    n
                })
            });
            group.bench_function(BenchmarkId::new("tokio-websockets", size), |b| {
                b.iter(|| {
                    let mut n = 0;
                    parse_tokio_websockets(&rt, black_box(&wire), masked, count, |p| n += p.len());
                    n
                })
            });
            let mut copy = vec![0u8; wire.len()];
            group.bench_function(BenchmarkId::new("memcpy", size), |b| {
                b.iter(|| copy.copy_from_slice(black_box(&wire)))
            });
            group.bench_function(BenchmarkId::new("xor", size), |b| {
                b.iter(|| xor_bytewise(black_box(&mut inplace), [1, 2, 3, 4]))
            });
        }
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("encode/client_masked");
    for (size, count) in &SIZES[..4] {
        let (size, count) = (*size, *count);
        let payload_vec = payload(size);
        let shared = Bytes::from(payload_vec.clone());
        let mut lent = payload_vec.clone();
        let mut out = vec![0u8; (size + 14) * count];

        let mut client = Connection::client(UNLIMITED, mask_rng());
        let sink = VecSink::default();
        let mut tung = tungstenite_client(&sink);
        let fast_sink = VecSink::default();
        let mut fast = fastwebsockets_client(&fast_sink);
        let tokio_sink = VecSink::default();
        let mut tokio_ws = tokio_websockets_client(&tokio_sink);

        // Every encoder's output decodes to `count` masked copies of the payload.
        let check = |lib: &str, wire: &[u8]| {
            check_frames(wire, true, &payload_vec, count)
                .unwrap_or_else(|e| panic!("{lib} encode, {size} B: {e}"));
        };
        let n = encode_wsock(&mut client, &payload_vec, count, &mut out);
        check("wsock", &out[..n]);
        encode_tungstenite(&mut tung, &shared, count);
        check("tungstenite", &sink.bytes());
        encode_fastwebsockets(&rt, &mut fast, &fast_sink, &mut lent, count, true);
        check("fastwebsockets", &fast_sink.bytes());
        encode_tokio_websockets(&rt, &mut tokio_ws, &shared, count);
        check("tokio-websockets", &tokio_sink.bytes());

        group.throughput(Throughput::ElementsAndBytes {
            elements: count as u64,
            bytes: (size * count) as u64,
        });
        group.bench_function(BenchmarkId::new("wsock", size), |b| {
            b.iter(|| encode_wsock(&mut client, black_box(&payload_vec), count, &mut out))
        });
        group.bench_function(BenchmarkId::new("tungstenite", size), |b| {
            b.iter(|| encode_tungstenite(&mut tung, black_box(&shared), count))
        });
        group.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
            b.iter(|| {
                encode_fastwebsockets(
                    &rt,
                    &mut fast,
                    &fast_sink,
                    black_box(&mut lent),
                    count,
                    false,
                )
            })
        });
        group.bench_function(BenchmarkId::new("tokio-websockets", size), |b| {
            b.iter(|| encode_tokio_websockets(&rt, &mut tokio_ws, black_box(&shared), count))
        });
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| {
                let mut at = 0;
                for _ in 0..count {
                    out[at..at + size].copy_from_slice(black_box(&payload_vec));
                    at += size;
                }
                at
            })
        });
        group.bench_function(BenchmarkId::new("xor", size), |b| {
            b.iter(|| {
                let key = [1, 2, 3, 4];
                let mut at = 0;
                for _ in 0..count {
                    let src = black_box(&payload_vec);
                    for (i, (o, p)) in out[at..at + size].iter_mut().zip(src).enumerate() {
                        *o = p ^ key[i & 3];
                    }
                    at += size;
                }
                at
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse_unmask, encode
}
criterion_main!(benches);
