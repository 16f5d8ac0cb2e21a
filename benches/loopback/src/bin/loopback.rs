//! `loopback [OPTIONS]` — runs every scenario against every echo server on
//! 127.0.0.1, alternating the servers (A B C D A B C D …) for a number of
//! rounds, and prints the medians as a markdown table.
//!
//! Options: `--rounds N` (3), `--warm-up S` (1), `--seconds S` (3),
//! `--threads N` (load-generator threads, 2), `--servers a,b,…`,
//! `--scenarios 1,2,…` (1-based indices into the list), `--raw FILE`
//! (append one line per run), `--connect 127.0.0.1:PORT` (drive a server
//! started by hand, e.g. under a profiler, instead of starting them).
//!
//! Each server runs as its own process (`server LIBRARY 127.0.0.1:0`, built
//! beside this binary), started fresh for every run and killed after it.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;
use wsock_loopback::{Outcome, SCENARIOS, Scenario, Timing, run};

/// The servers in the order they alternate; `wsock-core-tokio` is a
/// reference (wsock's core on tokio, not a shipped adapter), not a peer.
const SERVERS: [&str; 7] = [
    "wsock",
    "wsock-poll",
    "tokio_echo_server",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "wsock-core-tokio",
];

struct Args {
    rounds: usize,
    timing: Timing,
    threads: usize,
    servers: Vec<String>,
    scenarios: Vec<Scenario>,
    raw: Option<String>,
    /// Drive a server that is already running here instead of starting one.
    connect: Option<SocketAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rounds: 3,
        timing: Timing {
            warm_up: Duration::from_secs(1),
            measure: Duration::from_secs(3),
        },
        threads: 2,
        servers: SERVERS.iter().map(|s| s.to_string()).collect(),
        scenarios: SCENARIOS.to_vec(),
        raw: None,
        connect: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let secs = |v: String| {
            v.parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|e| format!("{v}: {e}"))
        };
        match flag.as_str() {
            "--rounds" => args.rounds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--warm-up" => args.timing.warm_up = secs(value()?)?,
            "--seconds" => args.timing.measure = secs(value()?)?,
            "--threads" => args.threads = value()?.parse().map_err(|e| format!("{e}"))?,
            "--servers" => args.servers = value()?.split(',').map(String::from).collect(),
            "--scenarios" => {
                args.scenarios = value()?
                    .split(',')
                    .map(|i| {
                        i.parse::<usize>()
                            .ok()
                            .and_then(|i| SCENARIOS.get(i.wrapping_sub(1)).copied())
                            .ok_or(format!("no scenario {i}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--raw" => args.raw = Some(value()?),
            "--connect" => {
                let addr: SocketAddr = value()?.parse().map_err(|e| format!("{e}"))?;
                if !addr.ip().is_loopback() {
                    return Err("--connect: loopback addresses only".into());
                }
                args.connect = Some(addr);
                args.servers = vec!["external".into()];
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

/// wsock's `tokio_echo_server` example, built by `run.sh` in the main
/// crate's default release profile, as a user builds it.
const TOKIO_ECHO_SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../target/release/examples/tokio_echo_server"
);

/// Starts `server LIBRARY 127.0.0.1:0` (or the `tokio_echo_server` example)
/// and reads the address it bound from its first line.
fn start_server(lib: &str) -> Result<(Child, SocketAddr), String> {
    let (program, args) = if lib == "tokio_echo_server" {
        let args = ["--max-connections", "4096", "127.0.0.1:0"];
        (std::path::PathBuf::from(TOKIO_ECHO_SERVER), args.to_vec())
    } else {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        (exe.with_file_name("server"), vec![lib, "127.0.0.1:0"])
    };
    let mut child = Command::new(&program)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    // The example logs a line per connection: keep its pipe drained.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let addr = line
        .split_whitespace()
        .last()
        .map(|a| a.trim_start_matches("ws://").trim_end_matches('/'))
        .and_then(|a| a.parse().ok())
        .ok_or(format!("{lib} server said {line:?}"))?;
    Ok((child, addr))
}

fn stop_server(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("loopback: {e}");
            return ExitCode::from(2);
        }
    };
    let mut raw = args.raw.as_ref().map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("raw results file")
    });
    // results[scenario][server] = outcomes over the rounds
    let mut results: Vec<Vec<Vec<Outcome>>> =
        vec![vec![Vec::new(); args.servers.len()]; args.scenarios.len()];
    let mut failed = false;
    const COLUMNS: &str =
        "messages/s | MB/s | p50 µs | p99 µs | server cores | load-gen cores | echoes checked";
    eprintln!("round | scenario | server | {COLUMNS}");
    if let Some(file) = raw.as_mut() {
        let _ = writeln!(
            file,
            "round\tscenario\tserver\t{}",
            COLUMNS.replace(" | ", "\t")
        );
    }
    for round in 1..=args.rounds {
        for (si, scenario) in args.scenarios.iter().enumerate() {
            for (li, lib) in args.servers.iter().enumerate() {
                let started = match args.connect {
                    Some(addr) => Ok((None, addr)),
                    None => start_server(lib).map(|(child, addr)| (Some(child), addr)),
                };
                let (child, addr) = match started {
                    Ok(started) => started,
                    Err(e) => {
                        eprintln!("loopback: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let pid = child.as_ref().map(Child::id);
                let outcome = run(addr, *scenario, args.timing, args.threads, pid);
                if let Some(child) = child {
                    stop_server(child);
                }
                match outcome {
                    Ok(o) => {
                        let cells = [
                            format!("{:.0}", o.messages_per_sec),
                            format!("{:.2}", o.mb_per_sec),
                            format!("{:.1}", o.p50_us),
                            format!("{:.1}", o.p99_us),
                            format!("{:.2}", o.server_cpu.unwrap_or(f64::NAN)),
                            format!("{:.2}", o.loadgen_cpu.unwrap_or(f64::NAN)),
                            o.checked.to_string(),
                        ];
                        eprintln!(
                            "round {round} | {} | {lib} | {}",
                            scenario.name,
                            cells.join(" | ")
                        );
                        if let Some(file) = raw.as_mut() {
                            let _ = writeln!(
                                file,
                                "{round}\t{}\t{lib}\t{}",
                                scenario.name,
                                cells.join("\t")
                            );
                        }
                        results[si][li].push(o);
                    }
                    Err(e) => {
                        eprintln!("round {round} | {} | {lib}: FAILED: {e}", scenario.name);
                        failed = true;
                    }
                }
                // Let sockets and threads of the killed server go.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    print_tables(&args, &results);
    if failed {
        eprintln!(
            "loopback: some runs failed (see above); their servers are left out of the medians"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_tables(args: &Args, results: &[Vec<Vec<Outcome>>]) {
    println!(
        "Medians of {} rounds; each run {:.1} s warm-up + {:.1} s measured; load generator: {} thread(s).\n",
        args.rounds,
        args.timing.warm_up.as_secs_f64(),
        args.timing.measure.as_secs_f64(),
        args.threads
    );
    println!(
        "| scenario (conns × size × in flight) | server | messages/s | MB/s | p50 µs | p99 µs | server CPU (cores) | load-gen CPU (cores) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut summary = Vec::new();
    for (si, scenario) in args.scenarios.iter().enumerate() {
        let mut best_peer: Option<(f64, &str)> = None;
        let mut ours = None;
        let mut polled = None;
        let mut core = None;
        let mut tokio = None;
        for (li, lib) in args.servers.iter().enumerate() {
            let runs = &results[si][li];
            if runs.is_empty() {
                println!("| {} | {lib} | failed | | | | | |", scenario.name);
                continue;
            }
            let m = |f: fn(&Outcome) -> f64| median(runs.iter().map(f).collect());
            let rate = m(|o| o.messages_per_sec);
            println!(
                "| {} | {lib} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
                scenario.name,
                rate,
                m(|o| o.mb_per_sec),
                m(|o| o.p50_us),
                m(|o| o.p99_us),
                m(|o| o.server_cpu.unwrap_or(f64::NAN)),
                m(|o| o.loadgen_cpu.unwrap_or(f64::NAN)),
            );
            if lib == "wsock" {
                ours = Some(rate);
            } else if lib == "wsock-poll" {
                polled = Some(rate);
            } else if lib == "wsock-core-tokio" {
                core = Some(rate);
            } else if lib == "tokio_echo_server" {
                tokio = Some(rate);
            } else if best_peer.is_none_or(|(r, _)| rate > r) {
                best_peer = Some((rate, lib.as_str()));
            }
        }
        summary.push((scenario.name, ours, polled, tokio, core, best_peer));
    }
    println!();
    println!(
        "| scenario | best peer | its messages/s | wsock, thread per connection | ÷ best peer | wsock-poll, one thread | ÷ best peer | tokio_echo_server, multi-thread | ÷ best peer | wsock core on tokio ÷ best peer |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ratio = |a: Option<f64>, b: Option<(f64, &str)>| match (a, b) {
        (Some(a), Some((b, _))) => format!("{:.2}×", a / b),
        _ => "–".into(),
    };
    let count = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.0}"));
    for (name, ours, polled, tokio, core, best) in summary {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            best.map_or("–", |b| b.1),
            best.map_or("–".into(), |b| format!("{:.0}", b.0)),
            count(ours),
            ratio(ours, best),
            count(polled),
            ratio(polled, best),
            count(tokio),
            ratio(tokio, best),
            ratio(core, best),
        );
    }
}
