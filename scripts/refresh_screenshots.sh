#!/usr/bin/env bash
# Refresh the README's screenshots (docs/screenshots/*.png): runs the browser test, which drives the app
# on the bundled demo pair in Debian's Chromium, and the tutorial notebook (docs/tutorial.ipynb) executed and
# exported to HTML in the same Chromium, with CLUES_SCREENSHOTS pointing at docs/screenshots.
# Needs `bash scripts/setup.sh --dev` first. The test suite itself writes its screenshots to a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
CLUES_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_browser.py tests/test_tutorial.py "$@"
