#!/usr/bin/env bash
# Refresh the README's screenshots (docs/screenshots/*.png) from the teacher's rehearsal: bench/rehearsal.py
# replays a class at 1280×800 (a projector) on the bundled demo pair in Debian's Chromium, one small
# comparison included, and copies its screenshots to the names the README and docs use (rehearsal.py's
# DOCS_NAMES: explorer.png, augmentation.png, corpus.png, how_it_works.png, how-it-works-1280*.png,
# training.png). The tutorial notebook's test adds notebook-contrast.png (docs/tutorial.ipynb executed
# and exported to HTML in the same Chromium). The rehearsal's timings and every step's screenshot stay in
# a temp folder, printed at the end. Extra arguments go to the rehearsal (e.g. --skip-training).
# Needs `bash scripts/setup.sh --dev` first.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out="$(mktemp -d "${TMPDIR:-/tmp}/clues-rehearsal.XXXXXX")"
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/python bench/rehearsal.py --sizes 1280x800 --out "$out" \
    --docs docs/screenshots "$@"
CLUES_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_tutorial.py
echo "The rehearsal's timings and screenshots: $out"
