//! Fuzz target `connection`: see `wsock_fuzz::connection` in fuzz/checks.rs for the input
//! format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::connection(data));
