//! Fuzz target `handshake_server`: see `wsock_fuzz::handshake_server` in fuzz/checks.rs for the input
//! format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::handshake_server(data));
