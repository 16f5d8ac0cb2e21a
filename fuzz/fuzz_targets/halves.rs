//! Fuzz target `halves`: see `wsock_fuzz::halves` in fuzz/checks/halves.rs for the input
//! format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::halves(data));
