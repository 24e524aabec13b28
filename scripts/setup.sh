#!/usr/bin/env bash
# Create the virtual environment .venv and install clues into it (works where the system Python is
# externally managed, PEP 668). `--dev` adds the test tools, ruff, and Debian's Chromium for the
# browser test. Run it again at any time: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" -r requirements.txt
if [ "${1:-}" = "--dev" ]; then
  "${PIP[@]}" -r requirements-dev.txt
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "color emoji"; then
    # Playwright cannot download its own browser here: the browser test drives Debian's. The emoji font draws
    # the page list's icons in the screenshots as a classroom machine shows them (without it: empty boxes).
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
  fi
fi
# Editable, so the app and tests run on this checkout; `pip install .` gives the same package.
"${PIP[@]}" --no-deps -e .
