#!/usr/bin/env bash
# The whole performance comparison in one command: the side-by-side parse and
# encode benchmark (compare/, ~9 minutes), then the loopback echo servers
# (loopback/, ~9 minutes). Prints both markdown tables; run it on an idle
# machine. `benches/run.sh --quick` makes a short, rough pass of both.
set -euo pipefail
if [[ $# -gt 0 && "$1" != "--quick" ]]; then
  echo "usage: benches/run.sh [--quick]" >&2
  exit 2
fi
cd "$(dirname "$0")"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r)" >&2
echo "## Side-by-side (benches/compare)"
echo
compare/run.sh "$@"
echo
echo "## Loopback echo (benches/loopback)"
echo
loopback/run.sh "$@"
