#!/usr/bin/env bash
# Instruction counts per repetition of each workload in src/main.rs, for the
# working tree and for REV (default: HEAD), side by side, as markdown:
#
#   benches/icount/run.sh [REV] [WORKLOAD ...]
#
# Needs valgrind (Debian: apt-get install valgrind). Counts are deterministic
# for a given binary and input: they do not move with the machine's load, so
# small differences are real — but they are instructions, not time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rev=${1:-HEAD}
shift || true
workloads=("$@")
if ((${#workloads[@]} == 0)); then
  workloads=(server16 server125 server4k server16m client16 client125 client4k
    enc_client16 enc_server16 enc_client4k echo16 echo4k ws_read16 ws_read4k ws_echo16 ws_echo4k)
fi
command -v valgrind >/dev/null || { echo "icount: valgrind is not installed" >&2; exit 2; }

sha=$(git -C "$root" rev-parse --short "$rev")
work="$root/target/icount"
tree="$work/tree-$sha"
harness="$work/harness-$sha"
if [[ ! -d "$tree" ]]; then
  git -C "$root" worktree add --detach -q "$tree" "$sha"
fi
rm -rf "$harness" && mkdir -p "$harness"
cp -r "$here/src" "$harness/"
sed "s|path = \"../..\"|path = \"$tree\"|" "$here/Cargo.toml" >"$harness/Cargo.toml"

echo "building the harness against $sha and against the working tree" >&2
(cd "$harness" && cargo build --release --quiet)
(cd "$here" && cargo build --release --quiet)

count() { # binary workload reps
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_rep() { # binary workload
  local one three
  one=$(count "$1" "$2" 1)
  three=$(count "$1" "$2" 3)
  echo $(((three - one) / 2))
}

echo "| workload | $sha | working tree | ratio |"
echo "|---|---:|---:|---:|"
for w in "${workloads[@]}"; do
  a=$(per_rep "$harness/target/release/wsock-icount" "$w")
  b=$(per_rep "$here/target/release/wsock-icount" "$w")
  printf '| %s | %s | %s | %s |\n' "$w" "$a" "$b" "$(python3 -c "print(f'{$b/$a:.3f}')")"
done
