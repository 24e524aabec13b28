"""The settings that travel as objects, with their one set of defaults.

Light on purpose (no torch, numpy or pandas): the CLI builds every `--help` from these defaults
without loading a model library, and the app, the experiment and a training run use the same
objects. `clues.augment` and `clues.train` use them; `AugmentSettings` is saved with every corpus and
run it made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from clues.corpus import FACT_FIELDS
from clues.errors import InputError

DROP_STYLES = ("space", "remove", "mask")
DROP_STYLE_HELP = {
    "space": "a dropped token's characters become spaces (the paper's released script); later text keeps its place",
    "remove": "a dropped token and the space before it disappear; later tokens move forward",
    "mask": "a dropped token becomes a placeholder (default '_'); the model sees that something was there",
}
# The augmentation modes of clues.augment.MODES, by name (checked there).
MODE_NAMES = ("none", "plain", "random", "attention", "contrast", "position", "oracle", "replace")
MAX_COPIES = 1000
# Which weights a training run updates. "mlp": only each block's feed-forward (MLP) weights; attention,
# embeddings and norms stay as pretrained. On validation people the learner turned one new biography
# into answers far better so (docs/defaults.json): the pretrained attention that reads a question and
# looks the person up is kept, and facts go where transformers store them, the MLPs.
# Full fine-tuning only: with LoRA the adapters learn, whatever this says.
TRAINABLE = {"all": "every weight", "mlp": "only the feed-forward (MLP) weights of each block"}
# The conditions `clues experiment` compares by default (each a mode, optionally ":importance").
DEFAULT_CONDITIONS = ("none", "plain", "random", "position", "attention", "contrast", "contrast:paper_mean",
                      "oracle", "replace")
# α and β tried per condition when the experiment chooses them on validation people (--select); 0.3 gives
# replace a D-AR-like rate and random a milder one.
SELECTION_ALPHAS = (0.3, 0.7)
SELECTION_BETAS = (0.05,)
# Learning rates tried per condition with --select: the training default (chosen for plain training on
# validation people) and a quarter of it (the paper searched 5e-5 to 1e-3 per method).
SELECTION_LRS = (2e-3, 5e-4)
# The Training page's default comparison: few enough to finish in minutes on a laptop CPU.
PAGE_CONDITIONS = ("none", "random", "position", "contrast", "oracle")
PAGE_PEOPLE = 50  # generated biographies in the page's default comparison (bench/page_comparison.py times it)
# The model the page's default comparison trains beside the demo pair: DEFAULT_TRAINED, the large. The comparison
# trains 5 conditions × 11 versions of every text and must end within 10 minutes on a 2-core CPU: with each condition
# stopping at the epoch the experiment chose for it on validation people (docs/results-wider-grid.json) the large
# ends in ~6 min and learns the near facts (the learner, ~4× cheaper per step, ends in ~2 min but answered dates at
# 0.38); bench/page_comparison.py measures both (docs/benchmarks.md).
PAGE_TRAINED = "large"


@dataclass(frozen=True)
class AugmentSettings:
    """How a ranked corpus is augmented: the one object the CLI, the app, the experiment and a
    training run pass around and save. Its defaults are every face's defaults.

    alpha, beta: p(r) = α(1 − e^(−βr)); copies: K augmented copies per text (plus the original);
    style: how a dropped token disappears (DROP_STYLES); placeholder: what the mask style writes;
    seed: the draw (same seed → same drops in every style).
    """

    alpha: float = 0.7
    beta: float = 0.05
    copies: int = 10
    style: str = "mask"
    placeholder: str = "_"
    seed: int = 0

    def check(self) -> AugmentSettings:
        """Raise InputError naming the first setting out of range; return self."""
        if not 0.0 <= self.alpha <= 1.0:
            raise InputError(f"α = {self.alpha} is outside [0, 1]: it is a probability (the paper uses 0.6–0.7).")
        if self.beta < 0 or not math.isfinite(self.beta):
            raise InputError(f"β = {self.beta} must be a finite number ≥ 0 (the paper uses 0.01–0.05).")
        if not 1 <= self.copies <= MAX_COPIES:
            raise InputError(f"copies = {self.copies}: give between 1 and {MAX_COPIES} augmented copies per text "
                             "(each text is trained as its original plus that many copies; the paper uses 10).")
        if self.style not in DROP_STYLES:
            raise InputError(f"Unknown drop style {self.style!r}; choose one of {', '.join(DROP_STYLES)}.")
        if self.style == "mask" and not self.placeholder:
            raise InputError("The mask style needs a placeholder (e.g. _).")
        return self


DEFAULT_AUGMENT = AugmentSettings()


@dataclass
class TrainConfig:
    """Everything one training run needs; saved with the run in the store (`asdict`, JSON)."""

    model: str
    data: str
    eval_data: str | None = None
    epochs: int = 10
    # Early stopping at an epoch chosen on validation people (the experiment's selection): the learning-rate
    # schedule still runs over `epochs`, so the run is the validation run's trajectory cut at that epoch.
    stop_after_epoch: int | None = None
    lr: float = 2e-3
    batch_size: int = 8
    max_length: int = 256
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_target: str = "all-linear"
    seed: int = 0
    name: str | None = None
    output_dir: str | None = None
    eval_fields: list[str] | None = None
    eval_shots: int = 5
    # Where the solved examples come from: a tagged CSV of other people (the paper draws them from its 9 real
    # biographies, data/biography_real.csv); None: the other evaluated people.
    eval_shot_data: str | None = None
    eval_max_people: int | None = 100
    eval_batch_size: int = 16
    probe: bool = True
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    replace_rate: float = 0.0  # D-AR: share of input tokens replaced at random; the loss targets the originals
    trainable: str = "mlp"  # which weights learn in full fine-tuning (a key of TRAINABLE); LoRA trains its adapters
    logging_steps: int = 1
    device: str | None = None
    store_path: str | None = None
    run_id: int | None = None
    save_model: bool = False
    max_active: int | None = None  # runs at once on its device; None: as many as clues.runs.slots allows
    extra: dict = field(default_factory=dict)  # notes kept with the run: a comparison's condition, α, β …

    @classmethod
    def from_dict(cls, settings: dict) -> "TrainConfig":
        """The configuration saved with a run (`asdict` of a TrainConfig), checked for unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise InputError(f"Unknown training setting(s) {', '.join(unknown)}; a saved configuration "
                             "holds only TrainConfig's fields.")
        missing = [key for key in ("model", "data") if not settings.get(key)]
        if missing:
            raise InputError(f"The configuration names no {' and no '.join(missing)} to train.")
        return cls(**settings)

    def validate(self) -> None:
        """Raise InputError for a setting that cannot work, saying how to fix it."""
        self.check_settings()
        _check_csv(self.data, "training data")
        if self.eval_data:
            _check_csv(self.eval_data, "evaluation data")
        if self.eval_shot_data:
            _check_csv(self.eval_shot_data, "QA shot data")

    def check_settings(self) -> None:
        """`validate` without looking for the data files (a launcher checks before writing them)."""
        checks = [
            (isinstance(self.epochs, int) and self.epochs >= 1,
             f"epochs must be a whole number >= 1, not {self.epochs!r}"),
            (self.stop_after_epoch is None or (isinstance(self.stop_after_epoch, int)
                                               and 1 <= self.stop_after_epoch <= self.epochs),
             f"stop after epoch must be a whole number from 1 to epochs ({self.epochs}), "
             f"not {self.stop_after_epoch!r}"),
            (self.lr > 0 and math.isfinite(self.lr), f"the learning rate must be > 0, not {self.lr!r}"),
            (self.batch_size >= 1, f"the batch size must be >= 1, not {self.batch_size!r}"),
            (self.max_length >= 4, f"max length must be >= 4 tokens, not {self.max_length!r}"),
            (self.lora_r >= 1 and self.lora_alpha > 0, "LoRA rank must be >= 1 and alpha > 0"),
            (self.eval_shots >= 0, f"the number of shots must be >= 0, not {self.eval_shots!r}"),
            (self.eval_max_people is None or self.eval_max_people >= 1, "eval max people must be >= 1"),
            (0 <= self.warmup_ratio < 1, f"the warmup ratio must be in [0, 1), not {self.warmup_ratio!r}"),
            (self.weight_decay >= 0, "weight decay must be >= 0"),
            (0 <= self.replace_rate < 1, f"the replace rate must be in [0, 1), not {self.replace_rate!r}"),
            (self.trainable in TRAINABLE, f"trainable must be one of {', '.join(TRAINABLE)}, not {self.trainable!r}"),
            (self.logging_steps >= 1, "logging steps must be >= 1"),
            (self.max_active is None or self.max_active >= 1, "max active runs must be >= 1"),
            (self.save_model is False or bool(self.output_dir), "saving the model needs an output folder (--save DIR)"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message[0].upper() + message[1:] + ".")
        from clues.models import check_device  # noqa: PLC0415 — torch, only when a run is checked

        check_device(self.device)
        unknown = [f for f in self.eval_fields or [] if f not in FACT_FIELDS]
        if unknown:
            raise InputError(f"Unknown field(s) {', '.join(unknown)}: QA asks about some of "
                             f"{', '.join(FACT_FIELDS)} (not the name).")

    def run_name(self) -> str:
        return self.name or f"{Path(self.model).name}-{'lora' if self.lora else 'full'}"


def _check_csv(path: str, what: str) -> None:
    if not Path(path).expanduser().is_file():
        raise InputError(f"The {what} file {path!r} does not exist. Give a CSV with a `text` column.")


# The training defaults of `clues train`, `clues experiment` and the Training page (a placeholder model
# and data: only the settings are read). Chosen on validation people (docs/defaults.md).
DEFAULT_TRAIN = TrainConfig(model="", data="")
DEFAULT_TRAINED = "large"  # which bundled model learns by default (clues.models.default_trained)
