#!/usr/bin/env bash
# Runs the side-by-side benchmark (wsock, tungstenite, fastwebsockets,
# tokio-websockets, memcpy, byte-wise XOR) in one criterion run and prints
# the table of ratios as markdown.
#
#   benches/compare/run.sh            # full run (about 8 minutes)
#   benches/compare/run.sh --quick    # a short smoke run (numbers are rough)
#   benches/compare/run.sh -- FILTER  # extra arguments go to criterion
#
# Before a workload is timed, each library's output is checked; a wrong
# result aborts the run.
set -euo pipefail
cd "$(dirname "$0")"

args=()
if [[ "${1:-}" == "--quick" ]]; then
  shift
  args+=(--warm-up-time 0.1 --measurement-time 0.3 --sample-size 10)
fi
[[ "${1:-}" == "--" ]] && shift

echo "wsock $(git -C ../.. describe --always --dirty 2>/dev/null || echo '?'); $(rustc --version)" >&2
cargo build --release --quiet --bench compare --bin report
# Only this run's results go into the table.
rm -rf target/criterion
cargo bench --quiet --bench compare -- "${args[@]}" "$@" >target/compare.log 2>&1 || {
  tail -n 40 target/compare.log >&2
  exit 1
}
cargo run --release --quiet --bin report -- target/criterion
