#!/usr/bin/env bash
# The chat example in a real headless Chromium: Debian's chromium, driven by
# Python Playwright (no browser download: the system one is used). Installs
# both when missing, builds the example, runs tests/browser/chat.py and leaves
# its screenshot in target/browser/chat.png (the README's picture is a copy).
#
# Usage: .ci/browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=install.sh
source .ci/install.sh
PLAYWRIGHT_VERSION=1.65.2

if ! command -v chromium >/dev/null; then
  apt_install chromium
fi
chromium --version 2>/dev/null || true

.ci/autobahn.sh venv
PY="$PWD/.venv/bin/python"
if ! "$PY" - "$PLAYWRIGHT_VERSION" 2>/dev/null <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("playwright") != sys.argv[1])
PYEOF
then
  echo "installing playwright==$PLAYWRIGHT_VERSION into .venv"
  "$PWD/.venv/bin/pip" install -q --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION"
fi

cargo build --release --example chat --features http
CHROMIUM="$(command -v chromium)" "$PY" tests/browser/chat.py \
  --chat target/release/examples/chat --screenshot target/browser/chat.png
