//! Fuzz target `utf8`: see `wsock_fuzz::utf8` in fuzz/checks.rs for the input
//! format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::utf8(data));
