//! Fuzz target `deflate_negotiation`: see `wsock_fuzz::deflate_negotiation` in fuzz/checks.rs for
//! the input format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::deflate_negotiation(data));
