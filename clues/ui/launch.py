"""Start training comparisons from the app (no streamlit here).

A comparison is one run folder under `clues_home()/app-runs/` holding the people (tagged CSV,
evaluated each epoch) and one augmented corpus per condition, plus a manifest; each condition
becomes a queued run in the store and a detached `python -m clues train …` process
(`clues.runs.start_run_process`, an argument list, never a shell string). The store's queue lets
one run at a time use a device; the app only reads the store afterwards.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from clues.errors import InputError

CONDITION_LABELS = {"none": "plain (none)", "random": "random", "attention": "own attention",
                    "contrast": "contrast"}


@dataclass
class Comparison:
    model: str  # what is trained: a folder, .gguf or hub id
    conditions: list[str]
    alpha: float = 0.7
    beta: float = 0.05
    copies: int = 10
    style: str = "mask"
    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 0
    lora: bool = False
    lora_r: int = 16
    eval_shots: int = 3
    eval_max_people: int | None = None
    probe: bool = True
    device: str | None = None
    label: str = ""  # e.g. "small of the demo pair"
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        from clues.augment import MODES, validate

        if not self.conditions:
            raise InputError("Pick at least one condition to train.")
        unknown = [c for c in self.conditions if c not in MODES]
        if unknown:
            raise InputError(f"Unknown condition(s) {', '.join(unknown)}; use some of {', '.join(MODES)}.")
        validate(self.alpha, self.beta, self.copies, self.style)
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise InputError("Epochs and batch size must be at least 1 and the learning rate above 0.")
        if not str(self.model).strip():
            raise InputError("Name the model to train.")


def train_arguments(comparison: Comparison, data: Path, people: Path, name: str) -> list[str]:
    """The `python -m clues train` arguments of one condition (a list, never a shell string)."""
    c = comparison
    argv = ["--model", str(c.model), "--data", str(data), "--eval", str(people), "--epochs", str(c.epochs),
            "--lr", f"{c.lr:g}", "--batch-size", str(c.batch_size), "--seed", str(c.seed), "--name", name,
            "--eval-shots", str(c.eval_shots)]
    if c.eval_max_people:
        argv += ["--eval-max-people", str(c.eval_max_people)]
    if c.lora:
        argv += ["--lora", "--lora-r", str(c.lora_r)]
    if not c.probe:
        argv.append("--no-probe")
    if c.device:
        argv += ["--device", c.device]
    return argv


def run_name(condition: str, batch: str) -> str:
    return f"{condition} · {batch}"


def condition_of(run: dict) -> str:
    """The condition of a run the app started (from its name or data file), else its name."""
    name = str(run.get("name") or "")
    first = name.split(" · ")[0]
    if first in CONDITION_LABELS:
        return first
    data = Path(str(run.get("config", {}).get("data") or "")).stem
    return data if data in CONDITION_LABELS else name


def run_label(run: dict) -> str:
    return f"{condition_of(run)} #{run['id']}"


def launch(comparison: Comparison, people, *, ranked_for: Callable[[str], Sequence] | None, store,
           home: Path | None = None, start=None) -> tuple[Path, list[int]]:
    """Write the comparison's files and start one queued run per condition; (folder, run ids).

    `ranked_for(condition)` gives the RankedText of every person for a condition (the units to
    drop and, for attention and contrast, their ranking), or None to let `augment_corpus` rank.
    """
    from clues.augment import augment_corpus
    from clues.corpus import write_tagged_csv
    from clues.runs import clues_home, start_run_process

    comparison.validate()
    if not people:
        raise InputError("The corpus is empty: generate or upload some biographies.")
    start = start or start_run_process
    batch = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(home or clues_home()) / "app-runs" / batch
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = folder.with_name(f"{batch}-{suffix}")
    folder.mkdir(parents=True)
    people_csv = folder / "people.csv"
    write_tagged_csv(people_csv, people)
    ids = []
    manifest = {"comparison": asdict(comparison), "people": len(people), "runs": {}}
    for condition in comparison.conditions:
        ranked = ranked_for(condition) if ranked_for else None
        frame = augment_corpus(people, condition, alpha=comparison.alpha, beta=comparison.beta,
                               copies=comparison.copies, seed=comparison.seed, style=comparison.style,
                               ranked=list(ranked) if ranked is not None else None)
        data = folder / f"{condition}.csv"
        frame.to_csv(data, index=False)
        name = run_name(condition, folder.name)
        argv = train_arguments(comparison, data, people_csv, name)
        # What the page shows until the process records its full settings (train() replaces this).
        config = {"argv": argv, "model": str(comparison.model), "data": str(data), "eval_data": str(people_csv),
                  "epochs": comparison.epochs, "batch_size": comparison.batch_size, "lr": comparison.lr,
                  "lora": comparison.lora, "seed": comparison.seed, "condition": condition,
                  "folder": str(folder), "rows": len(frame)}
        run_id = start(argv, store, name=name, config=config, device=comparison.device or _default_device())
        ids.append(run_id)
        manifest["runs"][str(run_id)] = {"condition": condition, "data": str(data), "rows": len(frame)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return folder, ids


def _default_device() -> str | None:
    """The device name a training process will queue on (None: let it say itself)."""
    import torch

    return None if torch.cuda.is_available() else "cpu"


def rows_in(path: str | None) -> int | None:
    """Number of data rows of a run's training CSV (for its progress), None if unreadable."""
    if not path:
        return None
    try:
        import pandas as pd

        return int(len(pd.read_csv(path, usecols=["text"])))
    except (OSError, ValueError):
        return None


def curves_frame(store, runs: Sequence[dict]):
    """Every metric row of `runs`, with a `label` column naming the run, for the figures."""
    import pandas as pd

    frames = []
    for run in runs:
        frame = store.metrics(run["id"])
        if len(frame):
            frame.insert(0, "label", run_label(run))
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["label", "run_id", "epoch", "step", "field", "name", "value", "created_at"])
    return pd.concat(frames, ignore_index=True)
