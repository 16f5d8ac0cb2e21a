//! Fuzz target `driver`: see `wsock_fuzz::driver` in fuzz/checks/driver.rs for the input
//! format and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsock_fuzz::driver(data));
