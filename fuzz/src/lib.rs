//! The checks behind the fuzz targets, in `fuzz/checks.rs` so that the main
//! crate's `tests/fuzz_regressions.rs` compiles the very same file.

#[path = "../checks.rs"]
mod checks;

pub use checks::*;
