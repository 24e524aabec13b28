"""Start comparisons as detached runs: one model trained under several dropout conditions.

A comparison is one `TrainConfig` (the base: model, epochs, learning rate …) plus what is
specific to comparing conditions: the people, the conditions, and the augmentation (α, β,
copies, style). `condition_config` writes one condition's augmented corpus and returns the
TrainConfig that trains on it, its condition recorded in `extra`; the experiment builds its
in-process runs with it too. `rank_conditions` ranks a comparison's people for all its conditions
as `clues augment` would (each text captured once per model).

`launch` writes a comparison's files under `clues_home()/app-runs/<batch>/` (the people as a
tagged CSV, evaluated each epoch; one corpus per condition; a manifest) and starts every
condition with `clues.runs.start_run_process`: its TrainConfig is saved with a queued run in
the store, and a detached `python -m clues train --run <id>` trains exactly that. The store's
queue lets one run at a time use a device; the app only reads the store afterwards.

Also here: what the app shows of such runs (`condition_of`, `run_label`, `curves_frame`,
`rows_in`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from clues.augment import MODES, augment_corpus_csv, augmented_rows, parse_condition, rank_corpus_conditions
from clues.augment import validate as validate_augmentation
from clues.corpus import write_tagged_csv
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE
from clues.runs import clues_home, start_run_process
from clues.train import TrainConfig

CONDITION_LABELS = {"none": "plain (none)", "random": "random", "position": "position (control)",
                    "attention": "own attention", "contrast": "contrast"}


def condition_label(condition: str) -> str:
    """'contrast', 'contrast:paper_mean' → words for menus and legends."""
    mode, _, importance = str(condition).partition(":")
    label = CONDITION_LABELS.get(mode, mode)
    return f"{label} · {importance}" if importance else label


def condition_slug(condition: str) -> str:
    """'contrast:paper_mean' → 'contrast-paper_mean': a condition as part of a file name."""
    return str(condition).replace(":", "-")


def is_condition(value) -> bool:
    try:
        parse_condition(str(value))
    except InputError:
        return False
    return True


@dataclass
class Comparison:
    """Train `base` once per condition on the people, augmented as α, β, copies and style say.

    `base.data` and `base.eval_data` are filled in per condition by `launch`.
    """

    base: TrainConfig
    people: list
    conditions: list[str]
    alpha: float = 0.7
    beta: float = 0.05
    copies: int = 10
    style: str = "mask"
    label: str = ""  # which model, in words: e.g. "small" of the demo pair
    importance: str = DEFAULT_IMPORTANCE  # ranks the conditions that name no importance

    def validate(self) -> None:
        if not self.conditions:
            raise InputError("Pick at least one condition to train.")
        for condition in self.conditions:
            parse_condition(condition, self.importance)
        validate_augmentation(self.alpha, self.beta, self.copies, self.style)
        if not str(self.base.model).strip():
            raise InputError("Name the model to train.")
        self.base.check_settings()
        if not self.people:
            raise InputError("The corpus is empty: generate or upload some biographies.")


def condition_config(base: TrainConfig, people, condition: str, data: Path, *, name: str, alpha: float,
                     beta: float, copies: int, style: str, ranked=None,
                     importance: str = DEFAULT_IMPORTANCE, write: bool = True) -> TrainConfig:
    """Write `condition`'s augmented corpus of `people` to `data`; the TrainConfig that trains on it.
    With write=False, the same TrainConfig without writing the file (under a launch, process 0
    writes it and the others train on it).

    `condition` is a mode, optionally with its importance ("contrast:paper_mean"; `importance` is
    used when it names none). The augmentation draws with `base.seed`; `ranked` (RankedText per
    person) gives the units to drop and their ranking, None to let `augment_corpus_csv` rank. The
    condition and the augmentation are recorded in the config's `extra`, kept with the run.
    """
    mode, importance = parse_condition(condition, importance)
    if write:
        rows = augment_corpus_csv(data, people, mode, alpha=alpha, beta=beta, copies=copies, seed=base.seed,
                                  style=style, ranked=list(ranked) if ranked is not None else None,
                                  importance=importance)
    else:
        validate_augmentation(alpha, beta, copies, style, mode)
        rows = augmented_rows(len(people), copies)
    extra = {**base.extra, "condition": condition, "mode": mode, "importance": importance, "alpha": alpha,
             "beta": beta, "copies": copies, "style": style, "rows": rows}
    return replace(base, data=str(data), name=name, extra=extra)


def rank_conditions(people, conditions: Sequence[str], importance: str = DEFAULT_IMPORTANCE, *, large, small,
                    attention_of: str = "small", own: Callable[[], object] | None = None,
                    distance: int = DEFAULT_DISTANCE) -> dict[str, list]:
    """{condition: its ranking of `people`} as `clues augment` ranks them, each text captured once
    per model for all conditions. `own` gives the model trained when it is not of the pair (called
    only if a condition needs it): it ranks its own attention, position and tokens; the contrast
    stays the pair's."""
    parsed = {c: parse_condition(c, importance) for c in conditions}
    by_own = [c for c in conditions if own is not None and MODES[parsed[c][0]].ranking in ("small", "position")]
    groups = [(small, attention_of if own is None else "small", [c for c in conditions if c not in by_own])]
    if by_own:
        groups.append((own(), "small", by_own))
    rankings = {}
    for ranker, of, group in groups:
        if group:
            ranked = rank_corpus_conditions(people, [parsed[c] for c in group], large=large, small=ranker,
                                            attention_of=of, distance=distance)
            rankings.update(zip(group, ranked))
    return rankings


def run_name(condition: str, batch: str) -> str:
    return f"{condition} · {batch}"


def new_batch_folder(root: Path) -> Path:
    """A new folder root/<YYYYmmdd-HHMMSS>[-n], created here and by no one else.

    Two sessions can start comparisons in the same second: mkdir without exist_ok is the claim
    (checking exists() first and then creating lets both pick the same name, and one fails).
    """
    root.mkdir(parents=True, exist_ok=True)
    batch = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1, 10_000):
        folder = root / (batch if suffix == 1 else f"{batch}-{suffix}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"No free batch folder name under {root} for {batch}")


def launch(comparison: Comparison, *, ranked_for: Callable[[str], Sequence] | None, store,
           home: Path | None = None, start=None) -> tuple[Path, list[int]]:
    """Write the comparison's files and start one queued run per condition; (folder, run ids).

    `ranked_for(condition)` gives the RankedText of every person for a condition, or None to let
    `augment_corpus_csv` rank. `start(store, config_dict, name=…)` queues and starts a run (default
    `clues.runs.start_run_process`).
    """
    comparison.validate()
    start = start or start_run_process
    folder = new_batch_folder(Path(home or clues_home()) / "app-runs")
    people_csv = folder / "people.csv"
    write_tagged_csv(people_csv, comparison.people)
    base = replace(comparison.base, eval_data=str(people_csv), store_path=str(store.path),
                   extra={**comparison.base.extra, "folder": str(folder), "label": comparison.label})
    settings = {key: value for key, value in asdict(comparison).items() if key not in ("base", "people")}
    manifest = {"comparison": settings, "train": asdict(comparison.base), "people": len(comparison.people),
                "runs": {}}
    ids = []
    for condition in comparison.conditions:
        ranked = ranked_for(condition) if ranked_for else None
        data = folder / f"{condition_slug(condition)}.csv"
        config = condition_config(base, comparison.people, condition, data,
                                  name=run_name(condition, folder.name), alpha=comparison.alpha,
                                  beta=comparison.beta, copies=comparison.copies, style=comparison.style,
                                  ranked=ranked, importance=comparison.importance)
        run_id = start(store, asdict(config), name=config.name)
        ids.append(run_id)
        manifest["runs"][str(run_id)] = {"condition": condition, "data": config.data,
                                         "rows": config.extra["rows"]}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return folder, ids


# -- what the app shows of these runs ---------------------------------------------------------

def condition_of(run: dict) -> str:
    """The condition of a comparison's run (recorded in its config, else from its name or data
    file), else its name."""
    config = run.get("config") or {}
    recorded = (config.get("extra") or {}).get("condition")
    if recorded and is_condition(recorded):
        return recorded
    name = str(run.get("name") or "")
    first = name.split(" · ")[0]
    if is_condition(first):
        return first
    data = Path(str(config.get("data") or "")).stem
    return data if is_condition(data) else name


def run_label(run: dict) -> str:
    return f"{condition_of(run)} #{run['id']}"


def rows_in(path: str | None) -> int | None:
    """Number of data rows of a run's training CSV (for its progress), None if unreadable."""
    if not path:
        return None
    try:
        return int(len(pd.read_csv(path, usecols=["text"])))
    except (OSError, ValueError):
        return None


def curves_frame(store, runs: Sequence[dict]):
    """Every metric row of `runs`, with a `label` column naming the run, for the figures."""
    frames = []
    for run in runs:
        frame = store.metrics(run["id"])
        if len(frame):
            frame.insert(0, "label", run_label(run))
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["label", "run_id", "epoch", "step", "field", "name", "value", "created_at"])
    return pd.concat(frames, ignore_index=True)
