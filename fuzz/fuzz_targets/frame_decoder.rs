//! Fuzz target `frame_decoder`: see `wsock_fuzz::frame_decoder` in fuzz/checks.rs for the input
//! format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::frame_decoder(data));
