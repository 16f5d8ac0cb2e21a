#!/usr/bin/env bash
# The network echo firmware (net_echo) on QEMU's emulated MPS2 AN385, its
# WebSocket port reachable at 127.0.0.1:PORT (loopback only: restrict=on).
# Builds it if needed, then runs QEMU in the foreground until killed
# (SIGTERM ends QEMU). Contract: ../shared/EXAMPLES.md.
#
# Usage: firmware/net-echo.sh PORT
set -euo pipefail
if [[ $# -ne 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 PORT" >&2
  exit 2
fi
PORT=$1
FW="$(cd "$(dirname "$0")" && pwd)"
unset CARGO_TARGET_DIR
(cd "$FW" && cargo build -q --release --bin net_echo --features net)
exec qemu-system-arm -cpu cortex-m3 -machine mps2-an385 -nographic -monitor none \
  -semihosting-config enable=on,target=native \
  -nic "user,model=lan9118,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:80" \
  -kernel "$FW/target/thumbv7m-none-eabi/release/net_echo"
