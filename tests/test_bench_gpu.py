"""bench/bench_gpu.py's whole path (ranking, long capture, LoRA epoch) at tiny sizes on the CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_gpu_tiny_runs_on_cpu(tmp_path):
    out = tmp_path / "bench_gpu.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--tiny", "--device", "cpu",
                           "--n", "6", "--train-n", "4", "--length", "64", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["tiny"] and result["device"] == "cpu"
    assert result["ranking"]["texts"] == 6 and result["ranking"]["same_ranks"] == 6
    assert result["long_capture"]["tokens"] == 64
    assert result["lora"]["status"] == "finished" and result["lora"]["rows"] == 4 * 3
    assert "| ranking, batched" in done.stdout and "TINY CPU CHECK" in done.stdout
