//! Fuzz target `inflate`: see `wsock_fuzz::inflate` in fuzz/checks/inflate.rs for
//! the input format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::inflate(data));
