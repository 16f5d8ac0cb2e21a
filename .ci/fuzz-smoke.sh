#!/usr/bin/env bash
# Smoke-fuzzing: builds every fuzz target and runs each for a bounded time
# with its seeds and dictionary. Any crash, timeout or out-of-memory fails
# the run (exit 1), and the reproducer is kept under target/fuzz-crashes/
# with the command that replays it. See fuzz/README.md.
#
#   FUZZ_SECONDS=30 .ci/fuzz-smoke.sh               # every target, 30 s each
#   FUZZ_TARGETS="utf8 roundtrip" .ci/fuzz-smoke.sh  # some targets
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
started=$(date +%s)

seconds="${FUZZ_SECONDS:-30}"
read -r -a targets <<<"${FUZZ_TARGETS:-frame_decoder connection halves driver handshake_server handshake_client utf8 roundtrip deflate_negotiation inflate}"

# shellcheck source=install.sh
source "$root/.ci/install.sh"
ensure_nightly
ensure_cargo_fuzz

# AddressSanitizer's quarantine of freed memory (256 MiB by default) would
# take half of the 512 MiB RSS limit; keep it small so the limit catches
# real growth.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=64}"

cd fuzz
echo "=== building the fuzz targets"
cargo +nightly fuzz build

dict_for() {
    case "$1" in
        handshake_*) echo dict/http.dict ;;
        deflate_*) echo dict/deflate.dict ;;
        *) echo dict/ws.dict ;;
    esac
}

crashes="$root/target/fuzz-crashes"
failed=()
for t in "${targets[@]}"; do
    echo "=== $t: ${seconds}s"
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$root/target/fuzz-smoke-$t.log"
    mkdir -p "$(dirname "$log")"
    # New corpus entries go to corpus/$t (git-ignored); seeds/$t is read only.
    if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 \
        -dict="$(dict_for "$t")" -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' "$log" | sed 's/^/    /'
        continue
    fi
    failed+=("$t")
    echo "!!! $t FAILED; the last lines of its log ($log):"
    grep -E 'panicked at|^thread|ERROR: libFuzzer|SUMMARY' -A2 "$log" | head -20 | sed 's/^/    /'
    mkdir -p "$crashes/$t"
    found=0
    while read -r artifact; do
        [ -f "$artifact" ] || continue
        found=1
        cp "$artifact" "$crashes/$t/"
        echo "    reproducer: $crashes/$t/$(basename "$artifact")"
        echo "    replay:     (cd fuzz && cargo +nightly fuzz run $t $crashes/$t/$(basename "$artifact"))"
    done < <(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
    if [ "$found" = 0 ]; then
        echo "    (no reproducer was written: see the log)"
    fi
done

echo "=== fuzz smoke: ${#targets[@]} targets x ${seconds}s in $(($(date +%s) - started))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "!!! fuzz smoke FAILED: ${failed[*]} (reproducers in $crashes)" >&2
    exit 1
fi
echo "=== fuzz smoke passed"
