#!/usr/bin/env bash
# The whole test suite: the README's test command, also run by .ci/run.
# Installs what it needs (rustup targets and components, a Python venv with
# kosoku, websockets and playwright, Chromium, QEMU, cargo-fuzz) and stops
# loudly at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=install.sh
source .ci/install.sh

# Each step says when it starts (seconds since the suite began): CI's budget is 45 minutes.
step() { printf '\n=== %s (at %d s)\n' "$*" "$SECONDS"; }
trap 'echo; echo "FAILED at: ${BASH_COMMAND}" >&2' ERR

step "toolchain and targets"
rustc --version
rustup target add thumbv7m-none-eabi >/dev/null
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --all-targets --all-features -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "no_std builds: the core needs neither std nor alloc"
cargo build --no-default-features
cargo build --no-default-features --target thumbv7m-none-eabi
cargo build --no-default-features --features alloc --target thumbv7m-none-eabi
# permessage-deflate: inflating needs no allocator; compressing needs alloc, not std.
cargo build --no-default-features --features inflate --target thumbv7m-none-eabi
cargo build --no-default-features --features deflate --target thumbv7m-none-eabi

step "each feature on its own builds warning-free (dead code hides behind --all-features)"
for features in "" tls tokio http embedded-io-async; do
    echo "features: default ${features}"
    cargo check --lib --features "$features"
done
cargo check --lib --no-default-features --features alloc,embedded-io-async
cargo check --lib --no-default-features --features std,tokio,http

step "MSRV: the library builds with Rust 1.88 (rust-version in Cargo.toml)"
rustup toolchain install 1.88 --profile minimal >/dev/null
CARGO_TARGET_DIR=target/msrv cargo +1.88 build --all-features --lib

step "tests: unit, integration, properties, doc (default features)"
cargo test --all-features

step "tests without std or alloc in the library"
cargo test --no-default-features --lib

step "Miri: the crate's only unsafe code (AVX2 masking in src/mask.rs), with AVX2 on"
ensure_nightly miri rust-src
RUSTFLAGS="$RUSTFLAGS -C target-feature=+avx2" CARGO_TARGET_DIR=target/miri \
    cargo +nightly miri test --lib mask::

step "Python venv for conformance and interop (kosoku, websockets)"
.ci/autobahn.sh venv

step "interop with Python websockets (both directions)"
WSOCK_PYTHON="$PWD/.venv/bin/python" cargo test --all-features --test interop_python -- --ignored

# Sections 12-13 (permessage-deflate, 216 cases) take most of the time: the suite's Python
# side compresses and frames 1000 messages per case.
export AUTOBAHN_TIMEOUT=1500

step "Autobahn conformance, server role: echo_server, then tokio_echo_server"
cargo build --release --examples --features tokio,http
.ci/autobahn.sh server target/release/examples/echo_server
AUTOBAHN_OUT=target/autobahn/tokio-server .ci/autobahn.sh server target/release/examples/tokio_echo_server

step "Autobahn conformance, client role: autobahn_client on both adapters, side by side"
# The suite runs a client's cases one after another, on one core: two runs at once use both.
AUTOBAHN_OUT=target/autobahn/client .ci/autobahn.sh client target/release/examples/autobahn_client \
    >target/autobahn-client.log 2>&1 &
blocking_client=$!
AUTOBAHN_OUT=target/autobahn/tokio-client .ci/autobahn.sh client target/release/examples/autobahn_client --tokio \
    >target/autobahn-tokio-client.log 2>&1 &
tokio_client=$!
status=0
wait "$blocking_client" || status=1
wait "$tokio_client" || status=1
echo "--- blocking adapter"; cat target/autobahn-client.log
echo "--- tokio adapter"; cat target/autobahn-tokio-client.log
[[ $status -eq 0 ]]

step "axum_echo: an axum server upgraded by wsock::tokio::upgrade echoes tokio_client's lines"
EXAMPLES=target/release/examples
"$EXAMPLES/axum_echo" 127.0.0.1:0 >target/axum_echo.log &
AXUM_ECHO=$!
for _ in $(seq 100); do grep -q '^axum_echo listening on ' target/axum_echo.log && break; sleep 0.1; done
url=$(sed -n 's/^axum_echo listening on //p' target/axum_echo.log)
echoed=$(printf 'one\ntwo\n' | timeout 10 "$EXAMPLES/tokio_client" "$url") || true
kill "$AXUM_ECHO"
wait "$AXUM_ECHO" 2>/dev/null || true
[[ "$echoed" == $'one\ntwo' ]] || { echo "axum_echo at '$url' echoed: '$echoed'" >&2; false; }

step "the browser chat: three tabs of headless Chromium talk through examples/chat"
.ci/browser.sh

step "the demo runs"
cargo run --release --example demo

step "embedded: other targets, core test vectors on an emulated Cortex-M3, echo firmwares, the network firmware with Autobahn 1-10, footprint"
.ci/embedded.sh

step "smoke-fuzzing: every fuzz target for a bounded time (FUZZ_SECONDS, default 30)"
.ci/fuzz-smoke.sh

step "all checks passed"
