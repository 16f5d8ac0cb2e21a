#!/usr/bin/env bash
# Instruction counts of benches/deflate.rs's workloads, one repetition each
# (about 1 MiB of text), as markdown: wsock beside the raw backend doing the
# same bytes, and the ratio.
#
#   benches/deflate-icount.sh [WORKLOAD ...]   # e.g. receive/256B/wsock_core/takeover
#
# Needs valgrind. Each workload runs under callgrind twice, with 1 and with 2
# repetitions, and the difference is one repetition: set-up and the first
# repetition's allocations drop out. Counts do not move with the machine's
# load, so small differences are real; but they are instructions, not time
# (cache misses and memory traffic do not show).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "deflate-icount: valgrind is not installed" >&2; exit 2; }

bin=$(cargo bench --quiet --bench deflate --features deflate --no-run --message-format=json |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)

count() { # workload reps
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --icount "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
one_rep() { # workload
  local one two
  one=$(count "$1" 1)
  two=$(count "$1" 2)
  echo $((two - one))
}

# Each row: a workload, the one it is compared with, and what they are.
rows=()
if (($# > 0)); then
  for w in "$@"; do rows+=("$w -"); done
else
  for size in 256B 4096B 65536B; do
    for mode in takeover no_takeover; do
      for who in wsock_blocking wsock_core miniz_oxide; do
        rows+=("send/$size/$who/$mode send/$size/zlib-rs/$mode")
      done
      for who in wsock_blocking wsock_core zlib-rs; do
        rows+=("receive/$size/$who/$mode receive/$size/miniz_oxide/$mode")
      done
    done
    rows+=("receive_level6/$size/wsock_core/takeover receive_level6/$size/miniz_oxide/takeover")
  done
fi

declare -A counts
echo "| workload | instructions | compared with | its instructions | ratio |"
echo "|---|---:|---|---:|---:|"
for row in "${rows[@]}"; do
  read -r w base <<<"$row"
  [[ -n "${counts[$w]:-}" ]] || counts[$w]=$(one_rep "$w")
  if [[ "$base" == "-" ]]; then
    printf '| %s | %s | | | |\n' "$w" "${counts[$w]}"
    continue
  fi
  [[ -n "${counts[$base]:-}" ]] || counts[$base]=$(one_rep "$base")
  printf '| %s | %s | %s | %s | %s |\n' "$w" "${counts[$w]}" "$base" "${counts[$base]}" \
    "$(python3 -c "print(f'{${counts[$w]}/${counts[$base]}:.3f}')")"
done
