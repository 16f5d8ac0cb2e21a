//! Replays the fuzz corpus that is checked in through the fuzz targets' own
//! checks (`fuzz/checks.rs`, compiled here as a module): every seed in
//! `fuzz/seeds/<target>/` and every minimized crash in
//! `fuzz/regressions/<target>/`. A reproducer of a bug that is not fixed yet
//! fails this test, naming the file and the broken invariant.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::panic;
use std::path::Path;

/// A fuzz target's checks: panics when an invariant breaks.
type Check = fn(&[u8]);

/// The fuzz targets, by directory name.
const TARGETS: &[(&str, Check)] = &[
    ("frame_decoder", checks::frame_decoder),
    ("connection", checks::connection),
    ("halves", checks::halves),
    ("driver", checks::driver),
    ("handshake_server", checks::handshake_server),
    ("handshake_client", checks::handshake_client),
    ("utf8", checks::utf8),
    ("roundtrip", checks::roundtrip),
    ("deflate_negotiation", checks::deflate_negotiation),
    #[cfg(feature = "deflate")]
    ("inflate", checks::inflate),
];

/// Runs every file under `fuzz/<dir>/<target>/` through its target; returns
/// how many ran and the failures.
fn replay(dir: &str) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut ran = 0;
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            let data = std::fs::read(file).expect("readable corpus file");
            ran += 1;
            if let Err(cause) = panic::catch_unwind(|| check(&data)) {
                let why = cause
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| cause.downcast_ref::<&str>().copied())
                    .unwrap_or("panic");
                failures.push(format!("{}: {why}", file.display()));
            }
        }
    }
    (ran, failures)
}

fn assert_replays(dir: &str) {
    let (ran, failures) = replay(dir);
    assert!(
        failures.is_empty(),
        "{} of {ran} files in fuzz/{dir} fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The seed corpus passes every target's checks (and keeps them honest).
#[test]
fn seeds_pass_the_fuzz_checks() {
    let (ran, _) = replay("seeds");
    assert!(ran >= TARGETS.len(), "no seeds found under fuzz/seeds");
    assert_replays("seeds");
}

/// Every crash the fuzzers found, minimized, no longer fails.
#[test]
fn fuzz_regressions_stay_fixed() {
    assert_replays("regressions");
}
