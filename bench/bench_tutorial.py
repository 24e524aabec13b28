"""Benchmark: docs/tutorial.ipynb from top to bottom in a fresh kernel, timed against its budget.

The notebook runs as tests/test_tutorial.py runs it (`execute_tutorial`: a temp folder, CLUES_HOME there,
this checkout's clues first on the kernel's path). Printed: the kernel's start, each code cell's seconds
(from the execution times nbclient records in the cell's metadata) with its tag, the whole run, and the
whole run ÷ BUDGET_S — the tutorial's promise (≤ 180 s on this project's 2-core CPU). A budget is a
speed goal, so it is measured here and not asserted by a test: the machines are shared and noisy.

    python bench/bench_tutorial.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
BUDGET_S = 180  # the tutorial's promise for the whole notebook on this project's CPU


def execute_tutorial(folder: Path, extra_cells: tuple[str, ...] = ()) -> tuple[nbformat.NotebookNode, float]:
    """(the notebook executed in a fresh kernel in `folder`, with `extra_cells` appended; its wall seconds)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in extra_cells)
    saved = {key: os.environ.get(key) for key in ("CLUES_HOME", "PYTHONPATH")}
    # the kernel inherits these: runs and corpora in the temp folder, this checkout's clues first
    os.environ["CLUES_HOME"] = str(folder / "home")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    try:
        client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=True,
                                         resources={"metadata": {"path": str(folder)}})
        start = time.monotonic()
        client.execute()
        seconds = time.monotonic() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook, seconds


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """Seconds from the kernel taking the cell to its reply (nbclient's recorded timing)."""
    timing = cell.get("metadata", {}).get("execution", {})
    began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (began and ended):
        return float("nan")
    return (datetime.fromisoformat(ended.replace("Z", "+00:00"))
            - datetime.fromisoformat(began.replace("Z", "+00:00"))).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="fresh-kernel runs (the median is reported)")
    args = parser.parse_args()
    totals, per_cell = [], {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            notebook, seconds = execute_tutorial(Path(folder))
        totals.append(seconds)
        code = [cell for cell in notebook.cells if cell["cell_type"] == "code"]
        for number, cell in enumerate(code, start=1):
            tags = ",".join(cell.get("metadata", {}).get("tags", [])) or "-"
            per_cell.setdefault((number, tags), []).append(cell_seconds(cell))
    total = statistics.median(totals)
    in_cells = sum(statistics.median(times) for times in per_cell.values())
    print(f"docs/tutorial.ipynb, median of {args.repeats} fresh-kernel run(s), OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.1f}\n")
    print("| cell | tag | s |\n|---|---|---|")
    for (number, tags), times in per_cell.items():
        print(f"| {number} | {tags} | {statistics.median(times):.1f} |")
    print(f"| kernel start and between cells | | {total - in_cells:.1f} |")
    print(f"\nwhole notebook {total:.0f} s; budget {BUDGET_S} s; ratio {total / BUDGET_S:.2f} "
          f"({'within' if total <= BUDGET_S else 'OVER'} its budget)")


if __name__ == "__main__":
    main()
