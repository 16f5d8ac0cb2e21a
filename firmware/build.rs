//! Puts the board's memory map (memory.x for the LM3S6965; memory-an385.x
//! with feature `net`, for the MPS2 AN385 that `net_echo` runs on) where the
//! linker finds it as memory.x, and an empty device.x (the interrupt vectors
//! are in src/lib.rs), and links with cortex-m-rt's link.x.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory: &[u8] = if env::var_os("CARGO_FEATURE_NET").is_some() {
        include_bytes!("memory-an385.x")
    } else {
        include_bytes!("memory.x")
    };
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    fs::write(
        out.join("device.x"),
        "/* Interrupt vectors: `__INTERRUPTS` in src/lib.rs. */\n",
    )
    .expect("write device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=memory-an385.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
