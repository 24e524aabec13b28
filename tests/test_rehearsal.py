"""bench/rehearsal.py without the comparison at 1280×800: every step is timed and has its screenshot.

The rehearsal starts its own server on a temporary CLUES_HOME; timings are only listed, never judged.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
STEPS = ["first-view", "generated", "seed", "top-k", "one-head", "augmentation", "alpha", "corpus", "how-it-works",
         *(f"how-it-works-{n}" for n in range(1, 7)), "training", "back", "back-2", "forward"]

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} to drive")]
pytest.importorskip("playwright.sync_api")


def test_the_rehearsal_times_and_shoots_every_step(tmp_path, pair):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "CLUES_DEMO_LARGE": pair[0], "CLUES_DEMO_SMALL": pair[1]}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "rehearsal.py"), "--out", str(tmp_path),
                           "--sizes", "1280x800", "--skip-training"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "timings.json").read_text())
    run = report["sizes"]["1280x800"]
    assert run["error"] is None
    assert [s["step"] for s in run["steps"]] == STEPS
    for step in run["steps"]:
        assert (tmp_path / step["screenshot"]).stat().st_size > 0, step
        assert step["seconds"] >= 0 and step["history"] >= 1 and step["smallest_font_px"]
    table = (tmp_path / "timings.md").read_text()
    assert all(f"| {name} |" in table for name in STEPS)
