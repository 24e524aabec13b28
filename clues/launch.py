"""Start comparisons as detached runs: one model trained under several dropout conditions.

A comparison is one `TrainConfig` (the base: model, epochs, learning rate …) plus what is
specific to comparing conditions: the people, the conditions, and the augmentation
(`AugmentSettings`). `condition_config` writes one condition's augmented corpus and returns the
TrainConfig that trains on it, its condition recorded in `extra`; the experiment builds its
in-process runs with it too. `rank_conditions` ranks a comparison's people for all its conditions
as `clues augment` would (each text captured once per model).

`launch` writes a comparison's files under `clues_home()/app-runs/<batch>/` (the people as a
tagged CSV, evaluated each epoch; one corpus per condition; a manifest) and starts every
condition with `clues.runs.start_run_process`: its TrainConfig is saved with a queued run in
the store, and a detached `python -m clues train --run <id>` trains exactly that. The store's
queue lets as many runs use a device as it has room for (`clues.runs.slots`); the app only reads
the store afterwards.

Shared runs: each run is saved with a `content_key` (its configuration and its data's bytes). A
launch with `share=True` gives a condition whose identical run is already queued, running or
finished that run instead of a copy, so a class starting the same comparison thirty times trains it
once. Every comparison records the runs it follows (`RunStore.follow`), its own and shared ones.

Also here: what the app shows of such runs (`condition_of`, `run_label`, `curves_frame`,
`rows_in`, `comparison_of`, `current_comparison`, `shared_with`, `run_steps`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from clues.augment import (
    DEFAULT_AUGMENT,
    MODES,
    AugmentSettings,
    augment_corpus_csv,
    augmented_rows,
    parse_condition,
    rank_corpus_conditions,
)
from clues.corpus import write_tagged_csv
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE
from clues.progress import total_steps
from clues.runs import clues_home, start_run_process
from clues.train import TrainConfig

CONDITION_LABELS = {"none": "plain (none)", "random": "random", "position": "position (control)",
                    "attention": "own attention", "contrast": "contrast", "oracle": "oracle (name kept)",
                    "plain": "plain (paper's steps)", "replace": "replace (D-AR)"}


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
    """Train `base` once per condition on the people, augmented as `augment` says (its seed is each
    run's training seed, `base.seed`).

    `base.data` and `base.eval_data` are filled in per condition by `launch`.
    """

    base: TrainConfig
    people: list
    conditions: list[str]
    augment: AugmentSettings = DEFAULT_AUGMENT
    label: str = ""  # which model, in words: e.g. "small" of the demo pair
    importance: str = DEFAULT_IMPORTANCE  # ranks the conditions that name no importance
    # Settings chosen per condition on validation people (`clues.experiment.chosen_per_condition`: α, β, lr,
    # the epoch to stop at and the schedule's epochs); a condition named here trains with them instead of
    # `augment`'s α, β and `base`'s lr and epochs.
    chosen: dict = field(default_factory=dict)

    def settings_for(self, condition: str, base: TrainConfig) -> tuple[AugmentSettings, TrainConfig]:
        """The augmentation and training settings `condition` runs with (its chosen ones where it has them)."""
        choice = self.chosen.get(condition)
        if not choice:
            return self.augment, base
        return (replace(self.augment, alpha=choice["alpha"], beta=choice["beta"]),
                replace(base, lr=choice["lr"], epochs=choice["epochs"], stop_after_epoch=choice["epoch"]))

    def validate(self) -> None:
        if not self.conditions:
            raise InputError("Pick at least one condition to train.")
        for condition in self.conditions:
            parse_condition(condition, self.importance)
        self.augment.check()
        if not str(self.base.model).strip():
            raise InputError("Name the model to train.")
        self.base.check_settings()
        for condition in self.chosen:
            augment, trained = self.settings_for(condition, self.base)
            augment.check(), trained.check_settings()
        if not self.people:
            raise InputError("The corpus is empty: generate or upload some biographies.")


# many parameters: keyword options beside one condition's four inputs (base, condition, file, ranking)
def condition_config(base: TrainConfig, condition: str, data: Path, ranked: Sequence, *, name: str,
                     augment: AugmentSettings = DEFAULT_AUGMENT, importance: str = DEFAULT_IMPORTANCE,
                     write: bool = True) -> TrainConfig:
    """Write `condition`'s augmented corpus of the ranked people to `data`; the TrainConfig that
    trains on it. With write=False, the same TrainConfig without writing the file (under a launch,
    process 0 writes it and the others train on it).

    `condition` is a mode, optionally with its importance ("contrast:paper_mean"; `importance` is
    recorded when it names none); `ranked` (one
    RankedText per person, `rank_conditions`) gives the units to drop and their ranking. The draw
    uses `base.seed`. The condition and the augmentation are recorded in the config's `extra`,
    kept with the run.
    """
    mode, importance = parse_condition(condition, importance)
    augment = replace(augment, seed=base.seed).check()
    written = augment if MODES[mode].copies else replace(augment, copies=0)  # plain: the originals alone
    if write:
        rows = augment_corpus_csv(data, list(ranked), mode, written)
    else:
        rows = augmented_rows(len(ranked), written.copies)
    extra = {**base.extra, "condition": condition, "mode": mode, "importance": importance,
             "augment": asdict(augment), "rows": rows}
    replace_rate = augment.alpha if MODES[mode].replaces else 0.0  # D-AR: at rate α, while training
    return replace(base, data=str(data), name=name, extra=extra, replace_rate=replace_rate)


# many parameters: the pair, the trained model and the ranking options: all keyword-only
def rank_conditions(people, conditions: Sequence[str], importance: str = DEFAULT_IMPORTANCE, *, large, small,
                    trained: str = "small", outside: Callable[[], object] | None = None,
                    distance: int = DEFAULT_DISTANCE) -> dict[str, list]:
    """{condition: its ranking of `people`} as `clues augment` ranks them, each text captured once
    per model for all conditions. `trained`: which model of the pair is trained (its own attention,
    position and tokens rank what is not the contrast). `outside` gives the model trained when it is
    not of the pair (called only if a condition needs it): it ranks its own attention, position and
    tokens; the contrast stays the pair's."""
    full = {c: condition_with_importance(c, importance) for c in conditions}
    by_outside = [c for c in conditions if outside is not None and MODES[parse_condition(c)[0]].ranking != "contrast"]
    groups = [(small, trained if outside is None else "small", [c for c in conditions if c not in by_outside])]
    if by_outside:
        groups.append((outside(), "small", by_outside))
    rankings = {}
    for ranker, own, group in groups:
        if group:
            ranked = rank_corpus_conditions(people, [full[c] for c in group], large=large, small=ranker, own=own,
                                            distance=distance)
            rankings.update(zip(group, ranked))
    return rankings


def condition_with_importance(condition: str, importance: str = DEFAULT_IMPORTANCE) -> str:
    """'contrast' → 'contrast:total' (the importance that ranks it spelled out)."""
    mode, importance = parse_condition(condition, importance)
    return f"{mode}:{importance}"


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


# Settings that say where a run's files are or what it is called, not what it learns: left out of its
# content key (the data files count by their bytes instead).
NOT_CONTENT = ("name", "data", "eval_data", "output_dir", "store_path", "run_id", "max_active")
EXTRA_NOT_CONTENT = ("folder", "label", "comparison_key", "content_key")


def content_key(config: TrainConfig) -> str:
    """A fingerprint of what a run learns: its configuration (paths and names left out) and the bytes
    of its training and evaluation data. Two runs with the same key train the same model the same way."""
    settings = {key: value for key, value in asdict(config).items() if key not in NOT_CONTENT}
    settings["extra"] = {key: value for key, value in config.extra.items() if key not in EXTRA_NOT_CONTENT}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in (config.data, config.eval_data):
        digest.update(b"\0" + (Path(path).read_bytes() if path else b""))
    return digest.hexdigest()[:24]


# many parameters: the comparison and its three inputs, then how it shares and whom it counts for
def launch(comparison: Comparison, *, ranked_for: Callable[[str], Sequence], store,
           home: Path | None = None, start=None, share: bool = False, session: str = "",
           limit: Callable[[int], None] | None = None) -> tuple[Path, list[int]]:
    """Write the comparison's files and start one queued run per condition; (folder, run ids).

    `ranked_for(condition)` gives the RankedText of every person for a condition (`rank_conditions`).
    `start(store, config_dict, name=…)` queues and starts a run (default `clues.runs.start_run_process`).
    With `share`, a condition whose run is identical (`content_key`) to one queued, running or finished
    in the store gets that run instead of a copy. Every run is recorded as followed by this comparison
    (its folder's name) and `session`. `limit(n)`, if given, is told how many new runs would be queued
    before any is, and may refuse by raising; the folder is then removed.
    """
    comparison.validate()
    start = start or start_run_process
    folder = new_batch_folder(Path(home or clues_home()) / "app-runs")
    configs = _write_conditions(comparison, folder, ranked_for, store)
    with store.sharing() if share else contextlib.nullcontext():
        found = [store.shared_run(config.extra["content_key"]) if share else None for config in configs]
        try:
            if limit is not None:
                limit(sum(run_id is None for run_id in found))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        ids = []
        for config, shared in zip(configs, found):
            run_id = shared or start(store, asdict(config), name=config.name)
            store.follow(folder.name, run_id, session=session, started=shared is None)
            ids.append(run_id)
    settings = {key: value for key, value in asdict(comparison).items() if key not in ("base", "people")}
    manifest = {"comparison": settings, "train": asdict(comparison.base), "people": len(comparison.people),
                "runs": {str(run_id): {"condition": config.extra["condition"], "data": config.data,
                                       "rows": config.extra["rows"], "shared": shared is not None}
                         for run_id, config, shared in zip(ids, configs, found)}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return folder, ids


def _write_conditions(comparison: Comparison, folder: Path, ranked_for, store) -> list[TrainConfig]:
    """The people's CSV and each condition's corpus in `folder`; each condition's TrainConfig, its
    content key in its extra."""
    people_csv = folder / "people.csv"
    write_tagged_csv(people_csv, comparison.people)
    base = replace(comparison.base, eval_data=str(people_csv), store_path=str(store.path),
                   extra={**comparison.base.extra, "folder": str(folder), "label": comparison.label,
                          "comparison_key": comparison_key(comparison)})
    configs = []
    for condition in comparison.conditions:
        augment, trained = comparison.settings_for(condition, base)
        config = condition_config(trained, condition, folder / f"{condition_slug(condition)}.csv",
                                  ranked_for(condition), name=run_name(condition, folder.name),
                                  augment=augment, importance=comparison.importance)
        config.extra["content_key"] = content_key(config)
        configs.append(config)
    return configs


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


def comparison_key(comparison: Comparison) -> str:
    """A fingerprint of a comparison's settings and people: the same comparison started twice has
    the same key (the app does not queue it again while it runs)."""
    text = json.dumps(asdict(comparison), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key_of(run: dict) -> str | None:
    """The `comparison_key` of the comparison a run was launched in (None: not launched so)."""
    return ((run.get("config") or {}).get("extra") or {}).get("comparison_key")


def comparison_of(run: dict) -> str | None:
    """The comparison a run belongs to: the name of its launch's folder (one per launch), or None
    for a run started otherwise (the CLI, the experiment)."""
    folder = ((run.get("config") or {}).get("extra") or {}).get("folder")
    return Path(str(folder)).name if folder else None


def memberships(runs: Sequence[dict], follows: Sequence[dict] = ()) -> list[tuple[str, int]]:
    """(comparison, run id) pairs, oldest first: those launches recorded (`RunStore.follows`: a shared run
    belongs to every comparison that follows it), then, for runs launched before that was recorded,
    the folder of their launch."""
    recorded = {int(f["run_id"]) for f in follows}
    legacy = [(comparison_of(r), r["id"]) for r in runs if r["id"] not in recorded and comparison_of(r)]
    return legacy + [(f["comparison"], int(f["run_id"])) for f in follows]


def current_comparison(runs: Sequence[dict], dismissed=(), follows: Sequence[dict] = (),
                       session: str | None = None) -> tuple[str | None, list[dict]]:
    """(name, runs) of the newest comparison nobody dismissed — `session`'s own newest when it has one
    — or (None, [])."""
    pairs = [(name, run_id) for name, run_id in memberships(runs, follows) if name not in dismissed]
    own = {f["comparison"] for f in follows if session and f["session"] == session}
    mine = [pair for pair in pairs if pair[0] in own]
    newest = (mine or pairs)[-1][0] if pairs else None
    ids = {run_id for name, run_id in pairs if name == newest}
    return newest, [run for run in runs if run["id"] in ids]


def shared_with(run: dict, comparison: str | None) -> bool:
    """True when `run` is shown in `comparison` but was queued by another one (its folder's)."""
    return bool(comparison) and comparison_of(run) not in (None, comparison)


def run_steps(run: dict, step: int | None) -> tuple[int, int | None]:
    """(steps done, steps in all) of a run from its last logged step and the rows its launch wrote
    (None when not recorded). A run that ended (finished, stopped, failed) has no steps left."""
    config = run.get("config") or {}
    rows = (config.get("extra") or {}).get("rows") or rows_in(config.get("data"))
    epochs = int(config.get("stop_after_epoch") or config.get("epochs") or 1)  # a chosen stop ends it there
    total = total_steps(rows, int(config.get("batch_size") or 1), epochs) if rows else None
    done = int(step or 0)
    if run.get("status") not in ("queued", "running"):
        return (total, total) if run.get("status") == "finished" and total else (done, done)
    return done, total


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
