#!/usr/bin/env bash
# Autobahn|TestSuite conformance run (via `kosoku`) with a strict pass/fail gate.
#
# Usage:
#   .ci/autobahn.sh server CMD [ARGS...]   test a server: CMD gets `127.0.0.1:PORT` appended
#   .ci/autobahn.sh client CMD [ARGS...]   test a client: CMD gets `ws://127.0.0.1:PORT` appended
#   .ci/autobahn.sh check DIR              re-run only the gate on an existing report directory
#   .ci/autobahn.sh venv                   only create/update the Python venv (.venv)
#   .ci/autobahn.sh --self-test            validate this script against the Python references
#
# Examples:
#   cargo build --release --examples
#   .ci/autobahn.sh server target/release/examples/echo_server
#   .ci/autobahn.sh client target/release/examples/autobahn_client
#
# The gate (exit 1 on violation): every case of sections 1-10 is OK, except 7.1.6, 7.13.1
# and 7.13.2, which are INFORMATIONAL by design (OK accepted); every case of sections 12-13
# (permessage-deflate: the peer must offer or accept it) is OK too; behaviorClose is OK
# everywhere (INFORMATIONAL also accepted for the three informational cases); and the
# report holds every selected case. Harness problems (peer never listened, kosoku never
# finished, no report) exit 2.
#
# Environment:
#   AUTOBAHN_OUT            report directory (default target/autobahn/server or .../client)
#   AUTOBAHN_CASES          case ids/globs to run, space separated (default: all 517)
#   AUTOBAHN_EXCLUDE        case ids/globs to skip, space separated
#   AUTOBAHN_PARALLELISM    kosoku -p in server mode (default 2)
#   AUTOBAHN_TIMEOUT        seconds allowed for the whole run (default 240)
#   AUTOBAHN_START_TIMEOUT  seconds to wait for the peer / kosoku to listen (default 60)
#   AUTOBAHN_ALLOW          known deviations, space separated: GLOB (any verdict but ERROR),
#                           GLOB=BEHAVIOR or GLOB=BEHAVIOR,CLOSE (`_` stands for a space,
#                           e.g. 7.1.5=FAILED,WRONG_CODE). Meant for --self-test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/.ci/autobahn.sh"
VENV="$ROOT/.venv"
# shellcheck source=install.sh
source "$ROOT/.ci/install.sh"
PY="$VENV/bin/python"
KOSOKU_VERSION=0.1.0
WEBSOCKETS_VERSION=17.4

log() { printf 'autobahn: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

usage() {
  sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# --- venv -------------------------------------------------------------------------------
ensure_venv() {
  if [[ ! -x "$PY" ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
    log "creating $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV"; then
      # Debian's own python3 ships venv (ensurepip) as a separate package.
      log "python3 -m venv failed; installing python3-venv"
      apt_install python3-venv >&2
      rm -rf "$VENV"
      python3 -m venv "$VENV"
    fi
  fi
  if ! "$PY" - "$KOSOKU_VERSION" "$WEBSOCKETS_VERSION" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
sys.exit(not (version("kosoku") == sys.argv[1] and version("websockets") == sys.argv[2]))
EOF
  then
    log "installing kosoku==$KOSOKU_VERSION websockets==$WEBSOCKETS_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
      "kosoku==$KOSOKU_VERSION" "websockets==$WEBSOCKETS_VERSION"
  fi
}

# --- processes --------------------------------------------------------------------------
# Every background process is started with setsid, so its pid is also its process-group
# id and the whole tree (e.g. `cargo run` and the binary it spawned) can be stopped.
PIDS=()

stop_group() { # pid: TERM the group, then KILL whatever is left after 5 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_group "$pid"; done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() { [[ -n "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]]; }

wait_listening() { # port pid what
  local port=$1 pid=$2 what=$3 deadline=$((SECONDS + ${AUTOBAHN_START_TIMEOUT:-60}))
  until listening "$port"; do
    kill -0 "$pid" 2>/dev/null || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
  log "$what is listening on 127.0.0.1:$port"
}

kosoku_selection() { # prints -i/-x arguments, one per line
  local g inc exc # read -a splits on spaces without pathname expansion of the globs
  read -ra inc <<<"${AUTOBAHN_CASES:-}"
  read -ra exc <<<"${AUTOBAHN_EXCLUDE:-}"
  for g in ${inc[@]+"${inc[@]}"}; do printf -- '-i\n%s\n' "$g"; done
  for g in ${exc[@]+"${exc[@]}"}; do printf -- '-x\n%s\n' "$g"; done
}

prepare_out() { # dir: remove a previous report (only kosoku's own files)
  mkdir -p "$1"
  find "$1" -maxdepth 1 -type f \( -name index.json -o -name index.html \
    -o -name '*_case_*.json' -o -name '*_case_*.html' -o -name expected-count \) -delete
}

show_log_tail() { # file title
  [[ -s "$1" ]] || return 0
  log "last lines of $2 ($1):"
  tail -n 20 "$1" | sed 's/^/    /' >&2
}

# --- server mode: kosoku is the client (fuzzingclient) ----------------------------------
run_server() {
  (($# > 0)) || usage
  local out=${AUTOBAHN_OUT:-$ROOT/target/autobahn/server}
  prepare_out "$out"
  local port addr pid kpid rc=0 problems=0
  port=$(free_port)
  addr="127.0.0.1:$port"
  mapfile -t sel < <(kosoku_selection)

  log "starting server: $* $addr"
  setsid "$@" "$addr" >"$out/server.log" 2>&1 </dev/null &
  pid=$!
  PIDS+=("$pid")
  if ! wait_listening "$port" "$pid" "server"; then
    show_log_tail "$out/server.log" "server output"
    die "server did not listen on $addr within ${AUTOBAHN_START_TIMEOUT:-60}s (or exited)"
  fi

  local t0=$SECONDS
  log "running kosoku -p ${AUTOBAHN_PARALLELISM:-2} ${sel[*]:-(all cases)} against $addr"
  # In the background, so that `wait` (unlike a foreground command) lets the INT/TERM
  # traps run at once.
  setsid timeout "${AUTOBAHN_TIMEOUT:-240}" "$VENV/bin/kosoku" -p "${AUTOBAHN_PARALLELISM:-2}" \
    ${sel[@]+"${sel[@]}"} -o "$out" "$addr" >"$out/kosoku.log" 2>&1 </dev/null &
  kpid=$!
  PIDS+=("$kpid")
  wait "$kpid" || rc=$?
  log "kosoku finished in $((SECONDS - t0))s (exit $rc; 1 just means some case was not" \
    "OK/NON-STRICT/INFORMATIONAL, e.g. UNIMPLEMENTED)"
  ((rc != 124)) || { show_log_tail "$out/kosoku.log" "kosoku output"; die "kosoku timed out"; }

  if ! kill -0 "$pid" 2>/dev/null; then
    log "FAIL: the server exited during the run"
    show_log_tail "$out/server.log" "server output"
    problems=1
  fi
  stop_group "$pid"
  [[ -f "$out/index.json" ]] || { show_log_tail "$out/kosoku.log" "kosoku output"; die "no $out/index.json"; }
  check_report "$out" || problems=1
  return "$problems"
}

# --- client mode: kosoku is the server (fuzzingserver) ----------------------------------
case_count() { # port: ask kosoku's /getCaseCount (also proves it is ready)
  "$PY" - "$1" <<'EOF'
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(f"ws://127.0.0.1:{sys.argv[1]}/getCaseCount", open_timeout=10) as ws:
        print(int(await ws.recv()))
asyncio.run(main())
EOF
}

run_client() {
  (($# > 0)) || usage
  local out=${AUTOBAHN_OUT:-$ROOT/target/autobahn/client}
  prepare_out "$out"
  local port url kpid cpid count rc=0 krc=0 problems=0 i
  port=$(free_port)
  url="ws://127.0.0.1:$port"
  mapfile -t sel < <(kosoku_selection)

  log "starting kosoku -m fuzzingserver ${sel[*]:-(all cases)} on 127.0.0.1:$port"
  setsid timeout "${AUTOBAHN_TIMEOUT:-240}" "$VENV/bin/kosoku" -m fuzzingserver \
    ${sel[@]+"${sel[@]}"} -o "$out" "127.0.0.1:$port" >"$out/kosoku.log" 2>&1 </dev/null &
  kpid=$!
  PIDS+=("$kpid")
  wait_listening "$port" "$kpid" "kosoku" || {
    show_log_tail "$out/kosoku.log" "kosoku output"
    die "kosoku did not listen on 127.0.0.1:$port"
  }
  count=$(case_count "$port") || die "could not read $url/getCaseCount"
  echo "$count" >"$out/expected-count"
  log "kosoku serves $count cases"

  local t0=$SECONDS
  log "running client: $* $url"
  setsid timeout "${AUTOBAHN_TIMEOUT:-240}" "$@" "$url" >"$out/client.log" 2>&1 </dev/null &
  cpid=$!
  PIDS+=("$cpid")
  wait "$cpid" || rc=$?
  log "client finished in $((SECONDS - t0))s (exit $rc)"
  if ((rc != 0)); then
    log "FAIL: the client exited with status $rc$( ((rc == 124)) && echo ' (timed out)')"
    show_log_tail "$out/client.log" "client output"
    problems=1
  fi

  # kosoku writes its report and exits on its own once the client visits /updateReports.
  for ((i = 0; i < 300; i++)); do
    kill -0 "$kpid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$kpid" 2>/dev/null; then
    stop_group "$kpid"
    show_log_tail "$out/client.log" "client output"
    die "kosoku still waiting 30s after the client exited: the client never visited" \
      "/updateReports?agent=NAME, so no report was written"
  fi
  wait "$kpid" || krc=$?
  ((krc != 124)) || die "kosoku timed out after ${AUTOBAHN_TIMEOUT:-240}s"
  [[ -f "$out/index.json" ]] || { show_log_tail "$out/kosoku.log" "kosoku output"; die "no $out/index.json"; }
  check_report "$out" || problems=1
  return "$problems"
}

# --- the gate ---------------------------------------------------------------------------
check_report() { # dir
  local selected=0
  [[ -n "${AUTOBAHN_CASES:-}${AUTOBAHN_EXCLUDE:-}" ]] && selected=1
  "$PY" - "$1" "$selected" "${AUTOBAHN_ALLOW:-}" <<'EOF'
import fnmatch, json, os, sys
from collections import Counter

out, selected, allow_spec = sys.argv[1], sys.argv[2] == "1", sys.argv[3].split()
INFO = {"7.1.6", "7.13.1", "7.13.2"}
FULL = {"1-10": 301, "12-13": 216}

allow = []  # (glob, behavior or None, behaviorClose or None)
for item in allow_spec:
    glob, _, verdict = item.partition("=")
    b, _, c = verdict.replace("_", " ").partition(",")
    allow.append((glob, b or None, c or None))

def group(cid):
    s = int(cid.split(".")[0])
    return "1-10" if s <= 10 else "12-13" if s in (12, 13) else "other"

def key(cid):
    return [int(p) for p in cid.split(".")]

def violation(cid, b, c):
    if group(cid) == "12-13":
        ok = b == "OK" and c == "OK"
    elif cid in INFO:
        ok = b in ("INFORMATIONAL", "OK") and c in ("INFORMATIONAL", "OK")
    else:
        ok = b == "OK" and c == "OK"
    if ok:
        return None
    for glob, ab, ac in allow:
        if fnmatch.fnmatchcase(cid, glob) and b != "ERROR" and (ab is None or ab == b) \
                and (ac is None if ab is None else (ac or "OK") == c):
            return "allowed"
    return "FAIL"

index = json.load(open(os.path.join(out, "index.json")))
bad = 0
if not index:
    print("FAIL: the report holds no agent"); sys.exit(1)
expected_total = None
try:
    expected_total = int(open(os.path.join(out, "expected-count")).read())
except OSError:
    pass

for agent, cases in index.items():
    print(f"agent {agent!r}: {len(cases)} cases in {out}/index.json")
    fails, allowed = [], []
    for g in ("1-10", "12-13", "other"):
        ids = sorted((c for c in cases if group(c) == g), key=key)
        if not ids and g == "other":
            continue
        beh = Counter(cases[c]["behavior"] for c in ids)
        clo = Counter(cases[c]["behaviorClose"] for c in ids)
        fmt = lambda ctr: ", ".join(f"{k} {v}" for k, v in sorted(ctr.items(), key=lambda kv: -kv[1])) or "-"
        print(f"  sections {g:5}: {len(ids):3} cases | behavior: {fmt(beh)} | behaviorClose: {fmt(clo)}")
        if not selected and g in FULL and len(ids) != FULL[g]:
            print(f"  FAIL: sections {g} should hold {FULL[g]} cases, the report has {len(ids)}")
            bad = 1
        if g == "other" and ids:
            print(f"  FAIL: unexpected sections: {', '.join(ids)}")
            bad = 1
    if expected_total is not None and len(cases) != expected_total:
        print(f"  FAIL: kosoku served {expected_total} cases but the report holds {len(cases)}"
              " (did the client visit /updateReports before running every case?)")
        bad = 1
    for cid in sorted(cases, key=key):
        r = cases[cid]
        v = violation(cid, r["behavior"], r["behaviorClose"])
        if v:
            (fails if v == "FAIL" else allowed).append((cid, r))
    slow = sorted(cases.items(), key=lambda kv: -kv[1]["duration"])[:5]
    print("  slowest: " + ", ".join(f"{c} {r['duration']} ms" for c, r in slow))
    line = lambda c, r: (f"    {c:9} behavior={r['behavior']:13} behaviorClose={r['behaviorClose']:16}"
                         f" remoteCloseCode={r['remoteCloseCode']}  {r['reportfile']}")
    if allowed:
        print(f"  {len(allowed)} deviation(s) allowed by AUTOBAHN_ALLOW:")
        for c, r in allowed:
            print(line(c, r))
    if fails:
        print(f"  FAIL: {len(fails)} case(s) violate the gate:")
        for c, r in fails:
            print(line(c, r))
        bad = 1
print(("FAIL" if bad else "PASS") + f": report in {out}/ (open index.html for details)")
sys.exit(bad)
EOF
}

# --- self-test --------------------------------------------------------------------------
# Known deviations of the `websockets` reference (not bugs of this script): it fails the
# connection before echoing a message that was already received in the same read
# (NON-STRICT in 3.x, 4.x, 5.15; 3.4 is timing-dependent), validates UTF-8 of fragmented
# messages late (NON-STRICT in 6.4.x), and answers a close in the middle of a fragmented
# message with 1002 instead of 1000 (7.1.5 FAILED / WRONG CODE).
REFERENCE_ALLOW="3.*=NON-STRICT 4.*=NON-STRICT 5.15=NON-STRICT 6.4.*=NON-STRICT 7.1.5=FAILED,WRONG_CODE"

self_test() {
  local role rc out
  for role in server client; do
    out="$ROOT/target/autobahn/self-test-$role"
    log "=== self-test ($role): the gate must pass with the reference's known deviations"
    local ref=reference_echo_server.py
    [[ $role == client ]] && ref=reference_echo_client.py
    AUTOBAHN_OUT=$out AUTOBAHN_ALLOW=$REFERENCE_ALLOW \
      "$SELF" "$role" "$PY" "$ROOT/.ci/$ref" || { log "self-test ($role) FAILED"; return 1; }

    log "=== self-test ($role): the strict gate must reject the same report (7.1.5 FAILED)"
    rc=0
    AUTOBAHN_ALLOW='' "$SELF" check "$out" >"$out/strict-check.txt" || rc=$?
    if ((rc != 1)) || ! grep -q '7\.1\.5 .*behavior=FAILED' "$out/strict-check.txt"; then
      cat "$out/strict-check.txt" >&2
      log "self-test ($role) FAILED: the strict gate exited $rc or did not list 7.1.5"
      return 1
    fi
    grep -E 'sections|violate' "$out/strict-check.txt" >&2
  done
  log "self-test PASSED"
}

# --- main -------------------------------------------------------------------------------
main() {
  (($# > 0)) || usage
  local mode=$1
  shift
  case $mode in
    server | client | --self-test) ;;
    venv)
      ensure_venv
      return
      ;;
    check)
      (($# == 1)) || usage
      [[ -f "$1/index.json" ]] || die "no $1/index.json"
      ensure_venv
      check_report "$1"
      return
      ;;
    -h | --help | *) usage ;;
  esac
  cd "$ROOT"
  ensure_venv
  local t0=$SECONDS rc=0
  case $mode in
    server) run_server "$@" || rc=$? ;;
    client) run_client "$@" || rc=$? ;;
    --self-test) self_test || rc=$? ;;
  esac
  log "total wall time $((SECONDS - t0))s"
  return "$rc"
}

main "$@"
