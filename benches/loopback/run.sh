#!/usr/bin/env bash
# Runs the loopback echo benchmark: an echo server per library on
# 127.0.0.1, each started fresh per run, driven by this package's raw-TCP
# load generator, servers alternated (A B C D …) for several rounds; prints
# the medians as markdown. Every echo is checked against what was sent.
#
#   benches/loopback/run.sh                   # 3 rounds × 7 scenarios × 7 servers, ~11 minutes
#   benches/loopback/run.sh --quick           # 1 short round (numbers are rough)
#   benches/loopback/run.sh --rounds 5 ...    # options of the `loopback` binary
#
# Per-run lines go to stderr and to target/loopback-raw.tsv.
set -euo pipefail
cd "$(dirname "$0")"

args=()
if [[ "${1:-}" == "--quick" ]]; then
  shift
  args+=(--rounds 1 --warm-up 0.3 --seconds 1)
fi

echo "wsock $(git -C ../.. describe --always --dirty 2>/dev/null || echo '?'); $(rustc --version)" >&2
cargo build --release --quiet --bins
# tokio_echo_server is the example itself, in the main crate's default release profile.
(cd ../.. && cargo build --release --quiet --example tokio_echo_server --features tokio)
rm -f target/loopback-raw.tsv
exec target/release/loopback --raw target/loopback-raw.tsv "${args[@]}" "$@"
