//! `report [CRITERION_DIR]` — reads the results of `cargo bench --bench
//! compare` (`target/criterion/**/new/{benchmark,estimates}.json`) and prints
//! markdown tables: each library's time relative to `memcpy` of the same
//! bytes, frames/s relative to the best peer, and the targets.
//!
//! Times are criterion's median per-iteration estimates.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wsock_compare::{CEILINGS, LIBRARIES};

/// One benchmark: group (workload), function (library), parameter (size).
#[derive(Debug)]
struct Result {
    group: String,
    function: String,
    size: u64,
    /// Median time per iteration, ns.
    ns: f64,
    /// Frames per iteration.
    frames: u64,
}

fn find_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                out.push(path);
            } else {
                find_new_dirs(&path, out);
            }
        }
    }
}

fn load(dir: &Path) -> Option<Result> {
    let read = |name: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    let bench = read("benchmark.json")?;
    let estimates = read("estimates.json")?;
    let frames = bench["throughput"]["ElementsAndBytes"]["elements"].as_u64()?;
    Some(Result {
        group: bench["group_id"].as_str()?.to_string(),
        function: bench["function_id"].as_str()?.to_string(),
        size: bench["value_str"].as_str()?.parse().ok()?,
        ns: estimates["median"]["point_estimate"].as_f64()?,
        frames,
    })
}

fn human_size(size: u64) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn human_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/criterion"));
    let mut dirs = Vec::new();
    find_new_dirs(&root, &mut dirs);
    // (group, size) -> function -> result
    let mut table: BTreeMap<(String, u64), BTreeMap<String, Result>> = BTreeMap::new();
    for dir in dirs {
        if let Some(r) = load(&dir) {
            table
                .entry((r.group.clone(), r.size))
                .or_default()
                .insert(r.function.clone(), r);
        }
    }
    if table.is_empty() {
        eprintln!("report: no criterion results under {}", root.display());
        std::process::exit(1);
    }
    let group_order = |g: &str| match g {
        "parse_unmask/server_masked" => 0,
        "parse_unmask/client_unmasked" => 1,
        "encode/client_masked" => 2,
        _ => 3,
    };
    let mut rows: Vec<_> = table.into_iter().collect();
    rows.sort_by_key(|((g, s), _)| (group_order(g), *s));

    println!(
        "Time relative to `memcpy` of the same bytes (lower is better; < 1.00 is faster than memcpy),"
    );
    println!(
        "and frames/s relative to the best of tungstenite, fastwebsockets and tokio-websockets.\n"
    );
    print!("| workload | payload | memcpy |");
    for name in CEILINGS.iter().skip(1).chain(LIBRARIES.iter()) {
        print!(" {name} ÷ memcpy |");
    }
    println!(" wsock frames/s | best peer frames/s | wsock ÷ best peer |");
    print!("|---|---:|---:|");
    for _ in CEILINGS.iter().skip(1).chain(LIBRARIES.iter()) {
        print!("---:|");
    }
    println!("---:|---:|---:|");

    let mut targets = Vec::new();
    for ((group, size), by_fn) in &rows {
        let Some(memcpy) = by_fn.get("memcpy") else {
            continue;
        };
        print!(
            "| {group} | {} | {} |",
            human_size(*size),
            human_time(memcpy.ns)
        );
        for name in CEILINGS.iter().skip(1).chain(LIBRARIES.iter()) {
            match by_fn.get(*name) {
                Some(r) => print!(" {:.2} |", r.ns / memcpy.ns),
                None => print!(" – |"),
            }
        }
        let rate = |r: &Result| r.frames as f64 / (r.ns / 1e9);
        let ours = by_fn.get("wsock").map(rate);
        let best = LIBRARIES[1..]
            .iter()
            .filter_map(|name| by_fn.get(*name).map(|r| (rate(r), *name)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let fmt_rate = |r: f64| {
            if r >= 1e6 {
                format!("{:.1} M", r / 1e6)
            } else {
                format!("{:.0} k", r / 1e3)
            }
        };
        match (ours, best) {
            (Some(ours), Some((peer, name))) => println!(
                " {} | {} ({name}) | {:.2}× |",
                fmt_rate(ours),
                fmt_rate(peer),
                ours / peer
            ),
            _ => println!(" – | – | – |"),
        }
        // The targets.
        if let (Some(w), Some(ours), Some((peer, name))) = (by_fn.get("wsock"), ours, best) {
            let vs_memcpy = w.ns / memcpy.ns;
            if group.starts_with("parse_unmask") && *size == 16 {
                targets.push(format!(
                    "| {group}, 16 B frames: frames/s ≥ 2× the best peer | {:.2}× {name} | {} |",
                    ours / peer,
                    if ours / peer >= 2.0 { "met" } else { "missed" }
                ));
            }
            if group.starts_with("parse_unmask") && *size >= 4096 {
                targets.push(format!(
                    "| {group}, {}: time < memcpy's | {vs_memcpy:.2}× memcpy | {} |",
                    human_size(*size),
                    if vs_memcpy < 1.0 { "met" } else { "missed" }
                ));
            }
            if group.starts_with("encode") {
                targets.push(format!(
                    "| {group}, {}: time ≤ 1.2× memcpy's | {vs_memcpy:.2}× memcpy | {} |",
                    human_size(*size),
                    if vs_memcpy <= 1.2 { "met" } else { "missed" }
                ));
            }
        }
    }
    println!("\n| target (issue 6) | measured | |\n|---|---:|---|");
    for t in targets {
        println!("{t}");
    }
}
