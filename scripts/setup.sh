#!/usr/bin/env bash
# Install what clues needs. `--dev` adds the test tools and Debian's Chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt
if [ "${1:-}" = "--dev" ]; then
  python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  if ! command -v chromium >/dev/null 2>&1; then
    # Playwright cannot download its own browser here: the browser test drives Debian's.
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
  fi
fi
python3 -m pip install --quiet --disable-pip-version-check --no-deps -e .
