"""The notebook's verbs: the whole method in a few calls, with the paper's defaults, and the bundled
demo pair wherever no model is given. `import clues` reaches them lazily (clues/__init__.py), so
the command line still starts without torch.

    pair = clues.load_pair()                                  # the bundled demo pair
    found = clues.contrast_text("<name>Liam Thompson</name> was born on …")   # shows itself
    people = clues.biographies(40, seed=1)
    clues.measure_clue_quality(people)                        # clues or positions?
    ranked = clues.rank_corpus(people, "contrast")
    corpus = clues.augment_corpus(ranked, "contrast")         # α 0.7, β 0.05, 10 copies, mask
    runs = clues.compare_training(people, ["none", "contrast"], epochs=3)   # shows its curves
    clues.evaluate_model(people)                              # few-shot QA and the recall probe
    clues.read_runs(*runs.ids)                                # the curves again, from the run store

Each verb calls the module function that the CLI and the app call (contrast_text, rank_corpus,
clue_quality, launch, train, evaluate_qa); results that show themselves are in clues.display.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from clues import clue_quality as quality
from clues import contrast as contrast_module
from clues import launch
from clues.augment import augment_corpus  # a verb as it is: ranked texts in, the augmented corpus out
from clues.augment import rank_corpus as rank_module_corpus
from clues.corpus import generate_biographies, read_tagged_csv, write_tagged_csv
from clues.display import ClueQuality, RunCurves, TextContrast
from clues.errors import InputError
from clues.evaluate import evaluate_qa, recall_probe
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, check_importance
from clues.models import DEMO_LARGE, DEMO_SMALL, LoadedModel, check_demo_pair, default_trained, load_model
from clues.runs import RunStore, clues_home, start_run_process
from clues.settings import DEFAULT_AUGMENT, DEFAULT_TRAIN, PAGE_TRAINED, AugmentSettings, TrainConfig
from clues.text import TaggedText, parse_tagged
from clues.train import train


@dataclass(frozen=True)
class Pair:
    """A large and a small model of one family, loaded (`clues.models.LoadedModel` each)."""

    large: LoadedModel
    small: LoadedModel

    def __repr__(self) -> str:
        def one(model: LoadedModel) -> str:
            return (f"{Path(model.ref).name} ({model.n_layers} layers × {model.n_heads} heads, "
                    f"{model.n_parameters / 1e6:.1f} M parameters)")
        return f"Pair(large={one(self.large)}, small={one(self.small)}, on {self.large.device})"


_PAIRS: dict[tuple, Pair] = {}


def load_pair(large: str | None = None, small: str | None = None, *, device: str | None = None,
              dtype: str | None = None) -> Pair:
    """Load a large and a small model (each a hub id, a local folder or a .gguf file); without them, the
    bundled demo pair. Loaded once per process: asking again for the same models returns the same pair."""
    if (large is None) != (small is None):
        raise InputError("Give both models of the pair (large and small), or neither for the bundled demo pair.")
    if large is None:
        check_demo_pair()
        large, small = DEMO_LARGE, DEMO_SMALL
    key = (str(large), str(small), str(device), str(dtype))
    if key not in _PAIRS:
        _PAIRS[key] = Pair(load_model(large, device=device, dtype=dtype), load_model(small, device=device, dtype=dtype))
    return _PAIRS[key]


def _pair(pair: Pair | tuple[str, str] | None) -> Pair:
    if pair is None:
        return load_pair()
    if isinstance(pair, Pair):
        return pair
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        return load_pair(*pair)
    raise InputError(f"pair: give clues.load_pair(…) or (large, small), not {type(pair).__name__}.")


def _tagged(text: str | TaggedText) -> TaggedText:
    if isinstance(text, TaggedText):
        return text
    if not isinstance(text, str):
        raise InputError(f"Give a text (a string, fields tagged as <name>…</name>), not {type(text).__name__}.")
    return parse_tagged(text)


def _people(texts) -> list[TaggedText]:
    """A corpus as tagged texts: a list of TaggedText or tagged strings, or a tagged CSV's path."""
    if isinstance(texts, (str, Path)):
        if not Path(texts).expanduser().is_file():
            raise InputError(f"{str(texts)!r} is no file: give a tagged CSV's path, or a list of texts.")
        return list(read_tagged_csv(Path(texts).expanduser()))
    items = [_tagged(text) for text in texts]
    if not items:
        raise InputError("The corpus is empty: give some tagged texts (clues.biographies(40) makes some).")
    return items


def _store(store: RunStore | str | None) -> RunStore:
    return store if isinstance(store, RunStore) else RunStore(store)


def _changed(config: TrainConfig, changes: dict) -> TrainConfig:
    """`config` with some of its settings changed (epochs=3, lr=…), unknown names refused in one line."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise InputError(f"Unknown training setting(s) {', '.join(unknown)}; TrainConfig has "
                         f"{', '.join(sorted(known - {'model', 'data', 'eval_data', 'extra'}))}.")
    return replace(config, **changes)


# -- the verbs -----------------------------------------------------------------------------------

def contrast_text(text: str | TaggedText, pair: Pair | None = None, *, top_k: int = 10, view: str = "mean",
                  importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE) -> TextContrast:
    """Contrast one text (fields tagged as <name>…</name>, or none): which tokens the large model attends
    to more than the small one. Shows the text shaded by contrast, the top-k clues boxed and the ranked
    table; `.heatmaps()`, `.received_figure()`, `.position_figure()` give the explorer's figures."""
    if not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"top_k = {top_k!r}: mark 1 or more clues.")
    item, pair = _tagged(text), _pair(pair)
    result = contrast_module.contrast_text(pair.large, pair.small, item.text, view=view, spans=item.spans,
                                           importance=importance, distance=distance)
    return TextContrast(result, item, top_k)


def biographies(n: int = 100, seed: int = 0, *, varied: bool = True) -> list[TaggedText]:
    """`n` synthetic tagged biographies (name, date, city, university, major, company), seeded."""
    if not isinstance(n, int) or n < 1:
        raise InputError(f"n = {n!r}: ask for 1 or more biographies.")
    return generate_biographies(n, seed=seed, varied=varied)


def read_corpus(path: str | Path, *, max_rows: int | None = None) -> list[TaggedText]:
    """The tagged biographies of a CSV with a `text` column (the paper's format)."""
    return list(read_tagged_csv(Path(path).expanduser(), max_rows=max_rows))


def measure_clue_quality(texts, pair: Pair | None = None, *, field: str = "name", k: int = 5,
                         importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE) -> ClueQuality:
    """Clues or positions? For every ranking (the contrast under each importance definition, position
    alone, the reference code's row sum): the share of texts with a `field` token in its top-k, as given
    and moved away from the start. Shows its figure (`importance` outlined) and table."""
    check_importance(importance)
    items, pair = _people(texts), _pair(pair)
    frame = quality.clue_quality(pair.large, pair.small, items, field=field, k=k, distance=distance)
    return ClueQuality(frame, field=field, k=k, importance=importance)


def rank_corpus(texts, condition: str = "contrast", pair: Pair | None = None, *, trained: str = "small",
                distance: int = DEFAULT_DISTANCE) -> list:
    """Rank every text's tokens as `condition` needs (a mode such as contrast, position, random, oracle,
    optionally ":importance"); `trained`: the model of the pair whose tokens and own attention rank what
    the contrast does not. The RankedText list that `augment_corpus` drops tokens from."""
    if trained not in ("small", "large"):
        raise InputError(f"trained = {trained!r}: the model of the pair that is trained, small or large.")
    pair = _pair(pair)
    return rank_module_corpus(_people(texts), condition, large=pair.large, small=pair.small, own=trained,
                              distance=distance)


# many parameters: what to train on and with; every training setting is a keyword of TrainConfig
def train_model(data, *, model: str | None = None, eval_people=None, name: str | None = None,
                config: TrainConfig = DEFAULT_TRAIN, store: RunStore | str | None = None,
                **changes) -> RunCurves:
    """Continually pretrain `model` (default: the demo pair's model chosen on validation people) on `data`
    (augment_corpus's frame, a list of texts or a CSV with a `text` column), with few-shot QA on `eval_people`
    after every epoch. Settings: `config` (the CLI's defaults), any of them changed by keyword (epochs=3, lr=…).
    Runs here, recorded in the run store (default: the app's); returns the run, which shows its curves."""
    people = _people(eval_people) if eval_people is not None else []
    config = _changed(config, {"eval_max_people": len(people) or None, **changes})
    texts, store = _training_texts(data), _store(store)
    folder = launch.new_batch_folder(clues_home() / "notebook-runs")  # the run's files: its texts and people
    data_csv = texts if isinstance(texts, Path) else folder / "train.csv"
    if not isinstance(texts, Path):
        pd.DataFrame({"text": texts}).to_csv(data_csv, index=False)
    if people:
        write_tagged_csv(folder / "people.csv", people)
    config = replace(config, model=str(model or default_trained(DEMO_LARGE, DEMO_SMALL)), data=str(data_csv),
                     eval_data=str(folder / "people.csv") if people else None, name=name or config.name,
                     store_path=str(store.path))
    return RunCurves([train(config, store)], store)


def _training_texts(data) -> Path | list[str]:
    """A training CSV's path as given, or the texts to write into one (checked before anything is written)."""
    if isinstance(data, (str, Path)):
        if not Path(data).expanduser().is_file():
            raise InputError(f"The training data {str(data)!r} is no file: give a CSV with a `text` column.")
        return Path(data).expanduser()
    if isinstance(data, pd.DataFrame):
        if "text" not in data.columns:
            raise InputError("The training frame has no `text` column (augment_corpus writes one).")
        texts = data["text"].astype(str).tolist()
    else:
        texts = [item.text if isinstance(item, TaggedText) else str(item) for item in data]
    if not texts:
        raise InputError("No training texts given.")
    return texts


# many parameters: the comparison (people, conditions, pair, model) and its settings, by keyword
def compare_training(people, conditions: Sequence[str] = ("none", "contrast"), pair: Pair | None = None, *,
                     model: str | None = None, augment: AugmentSettings = DEFAULT_AUGMENT,
                     config: TrainConfig = DEFAULT_TRAIN, importance: str = DEFAULT_IMPORTANCE,
                     store: RunStore | str | None = None, background: bool = False, **changes) -> RunCurves:
    """Train one model once per condition on the people's augmented biographies and compare per-field QA
    as it learns: the app's Training page. The model defaults to the one the page trains beside the pair
    (settings.PAGE_TRAINED beside the demo pair). Runs one after another here, or with `background=True`
    as detached `clues train` processes (then `.wait()`); returns the runs, which show their curves."""
    items, pair, store = _people(people), _pair(pair), _store(store)
    model = str(model or default_trained(pair.large.ref, pair.small.ref, PAGE_TRAINED))
    base = _changed(replace(config, model=model), {"eval_max_people": len(items), **changes})
    comparison = launch.Comparison(base=base, people=items, conditions=list(conditions), augment=augment,
                                   importance=importance, label=Path(model).name)
    comparison.validate()
    trained = {pair.small.ref: "small", pair.large.ref: "large"}.get(model)

    @functools.cache  # ranked on launch's first call, after it has checked the comparison
    def rankings() -> dict:
        outside = None if trained else functools.cache(lambda: load_model(model, device=pair.small.device))
        return launch.rank_conditions(items, comparison.conditions, importance, large=pair.large, small=pair.small,
                                      trained=trained or "small", outside=outside)

    start = start_run_process if background else _train_here
    _, ids = launch.launch(comparison, ranked_for=lambda condition: rankings()[condition], store=store, start=start)
    return RunCurves(ids, store)


def _train_here(store: RunStore, config: dict, *, name: str = "run") -> int:
    """launch's `start`, in this process: train the condition now and return its run id."""
    return train(TrainConfig.from_dict({**config, "name": name}), store)


def evaluate_model(people, model: str | LoadedModel | None = None, *, shots: int = 5, fields=None,
                   probe: bool = True) -> pd.DataFrame:
    """Few-shot QA (exact match, F1) per fact field of `model` (default: the demo pair's trained model) about the
    people, and the share of facts it completes from the name alone (recall probe): `clues evaluate`."""
    items = _people(people)
    loaded = model if isinstance(model, LoadedModel) else load_model(str(model or default_trained(DEMO_LARGE,
                                                                                                  DEMO_SMALL)))
    qa = evaluate_qa(loaded.model, loaded.tokenizer, items, fields=fields, shots=shots)
    recall = recall_probe(loaded.model, loaded.tokenizer, items, fields=fields) if probe and len(items) >= 2 else {}
    rows = [{"field": name, "em": scores["em"], "f1": scores["f1"], "n": scores["n"],
             **({"recall": recall[name]["recall"]} if name in recall else {})} for name, scores in qa.items()]
    return pd.DataFrame(rows)


def read_runs(*run_ids: int, store: RunStore | str | None = None) -> RunCurves:
    """Runs of the store (default: the app's), or all of them: their curves, read when displayed."""
    store = _store(store)
    ids = list(run_ids) or [run["id"] for run in store.list_runs()]
    for run_id in ids:
        store.get_run(run_id)  # a missing id: one line that says how to list them
    return RunCurves(ids, store)


__all__ = ["AugmentSettings", "DEFAULT_AUGMENT", "DEFAULT_TRAIN", "Pair", "TrainConfig", "augment_corpus",
           "biographies", "compare_training", "contrast_text", "evaluate_model", "load_pair", "measure_clue_quality",
           "rank_corpus", "read_corpus", "read_runs", "train_model"]
