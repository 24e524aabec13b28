"""Token-dropout augmentation guided by a ranking of clues.

The token of rank r (0 = strongest clue) is dropped with probability p(r) = α(1 − e^(−βr)), so
strong clues are kept and the rest is thinned out; the model then has to lean on the clues.
Punctuation and special tokens are never dropped. Each text gets K copies plus the original.

`rank_text` is the one function that ranks a text (every page, command and the experiment go
through it, one text or a corpus at a time); `AugmentSettings` is the one object that says how a
ranked corpus is augmented. Everything after the ranking is vectorised over the whole corpus: all
texts are packed into one array of character codes, every copy's drops are drawn at once, and each
copy of the corpus is decoded in one go, instead of rebuilding a string for every dropped token.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from clues.capture import capture_pairs, check_batching
from clues.contrast import contrast_maps, is_punctuation, own_attention, word_units
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, check_importance
from clues.settings import DEFAULT_AUGMENT, DROP_STYLE_HELP, DROP_STYLES, MODE_NAMES, AugmentSettings  # noqa: F401
from clues.text import token_fields

_MARK = 0xE000  # a private-use code point marks where a mask placeholder goes


@dataclass
class RankedText:
    """A text split into droppable units with their rank.

    starts, ends: [U] character offsets of each unit, surrounding whitespace stripped
    ranks:        [U] 0 = strongest clue; −1 = never dropped (special token, punctuation, blank)
    fields:       [U] the fact field each unit belongs to, or None
    """

    text: str
    starts: np.ndarray
    ends: np.ndarray
    ranks: np.ndarray
    fields: list | None = None


def dropout_probability(ranks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """p(r) = α(1 − e^(−βr)) for rank r ≥ 0; 0 for units that are never dropped (r = −1)."""
    ranks = np.asarray(ranks)
    probability = alpha * (1.0 - np.exp(-beta * np.maximum(ranks, 0)))
    return np.where(ranks >= 0, probability, 0.0)


def flat_probability(ranks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Random dropout: every droppable unit with probability α, whatever its rank."""
    return np.where(np.asarray(ranks) >= 0, float(alpha), 0.0)


def no_dropout(ranks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.zeros(np.asarray(ranks).shape, dtype=np.float64)


# What ranks a mode's units (None: nothing; the trained model's tokens in their order):
#   contrast  importance(large) − importance(small)
#   own       the trained model's own received attention ("attention" in the paper)
#   position  the trained model's tokens, earliest first (no attention at all)
#   oracle    the tagged name's tokens first, the rest in a random order fixed by the text
RANKINGS = ("contrast", "own", "position", "oracle")


@dataclass(frozen=True)
class Mode:
    name: str
    ranking: str | None  # one of RANKINGS, or None
    probability: Callable[[np.ndarray, float, float], np.ndarray]
    description: str
    copies: bool = True  # False: the corpus is the originals alone (no K copies)
    replaces: bool = False  # True: training replaces input tokens at rate α (D-AR), targets the originals


MODES: dict[str, Mode] = {
    "none": Mode("none", None, no_dropout, "plain fine-tuning, step-matched: the originals, copied K times"),
    "plain": Mode("plain", None, no_dropout, "plain fine-tuning as the paper ran it: the originals once, same "
                  "epochs (1/(K+1) of the steps)", copies=False),
    "random": Mode("random", None, flat_probability, "every droppable token with probability α"),
    "attention": Mode("attention", "own", dropout_probability,
                      "ranked by the trained model's own received attention"),
    "contrast": Mode("contrast", "contrast", dropout_probability,
                     "ranked by received attention of the large minus the small model"),
    "position": Mode("position", "position", dropout_probability,
                     "control: ranked by position in the text, earliest first (no attention at all)"),
    "oracle": Mode("oracle", "oracle", dropout_probability,
                   "control from the tags: the name's tokens first, the rest in random order"),
    "replace": Mode("replace", None, no_dropout, "D-AR (outside baseline): while training, each input token is "
                    "replaced at random with probability α; the loss targets the original text", replaces=True),
}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    return mode


def parse_condition(condition: str, default_importance: str = DEFAULT_IMPORTANCE) -> tuple[str, str]:
    """A training condition is a mode, optionally with the importance that ranks it:
    "contrast" (the default importance) or "contrast:paper_mean". Returns (mode, importance)."""
    mode, _, importance = str(condition).partition(":")
    if mode not in MODES:
        raise InputError(f"Unknown condition {condition!r}; use one of {', '.join(MODES)}, "
                         "optionally with an importance as in contrast:paper_mean.")
    importance = importance or default_importance
    check_importance(importance)
    return mode, importance


def mode_probabilities(ranked: RankedText, mode: str, settings: AugmentSettings = DEFAULT_AUGMENT) -> np.ndarray:
    """[U] drop probability of each unit under a mode."""
    return MODES[check_mode(mode)].probability(ranked.ranks, settings.alpha, settings.beta)


def corpus_probabilities(ranked: Sequence[RankedText], mode: str,
                         settings: AugmentSettings = DEFAULT_AUGMENT) -> list[np.ndarray]:
    """[U] drop probabilities of every text under a mode: one call over the whole corpus's ranks (a
    unit's probability depends on its own rank only), then one view per text."""
    check_mode(mode)
    if not ranked:
        return []
    flat = MODES[mode].probability(np.concatenate([r.ranks for r in ranked]), settings.alpha, settings.beta)
    bounds = np.cumsum([0, *map(len, (r.ranks for r in ranked))]).tolist()
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


# ---- packing a corpus -------------------------------------------------------------------

@dataclass
class _Packed:
    codes: np.ndarray  # [N] code points of all texts, one after another (uint8 for Latin-1, else uint32); read-only
    bounds: np.ndarray  # [n + 1] where each text starts in `codes`
    starts: np.ndarray  # [U] global unit offsets
    ends: np.ndarray
    encoding: str  # how `codes` decodes back to text
    units: np.ndarray  # [n] how many units each text has


def _pack(texts: Sequence[RankedText]) -> _Packed:
    joined = "".join(t.text for t in texts)
    # Most corpora are Latin-1: one byte a character decodes many times faster than four.
    try:
        codes, encoding = np.frombuffer(joined.encode("latin-1"), dtype=np.uint8), "latin-1"
    except UnicodeEncodeError:
        codes, encoding = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32), "utf-32-le"
    lengths = np.fromiter((len(t.text) for t in texts), dtype=np.int64, count=len(texts))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    units = np.fromiter((len(t.starts) for t in texts), dtype=np.int64, count=len(texts))
    shift = np.repeat(bounds[:-1], units)
    starts = np.concatenate([t.starts for t in texts]).astype(np.int64) + shift
    ends = np.concatenate([t.ends for t in texts]).astype(np.int64) + shift
    return _Packed(codes, bounds, starts, ends, encoding, units)


def _in_order(starts: np.ndarray, ends: np.ndarray) -> bool:
    """Units one after another without overlap, as tokenizers give them (at least one unit)."""
    return bool(starts.size and (ends >= starts).all() and (starts[1:] >= ends[:-1]).all())


def _unit_of_char(size: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """[N] index of the unit covering each character; U (a never-dropped slot) elsewhere."""
    count = starts.size
    if _in_order(starts, ends) and starts[0] >= 0 and ends[-1] <= size:
        # units in order without overlap (as tokenizers give them): the characters are runs of
        # gap, unit, gap, unit, …, gap — one repeat of their owners
        edges = np.empty(2 * count + 2, dtype=np.int64)
        edges[0], edges[-1] = 0, size
        edges[1:-1:2], edges[2:-1:2] = starts, ends
        owners = np.full(2 * count + 1, count, dtype=np.intp)
        owners[1::2] = np.arange(count)
        return np.repeat(owners, np.diff(edges))
    owner = np.full(size, count, dtype=np.intp)
    lengths = ends - starts
    positions = np.repeat(starts - np.cumsum(np.concatenate([[0], lengths[:-1]])), lengths) + np.arange(lengths.sum())
    owner[positions] = np.repeat(np.arange(count, dtype=np.intp), lengths)
    return owner


def _with_space_before(packed: _Packed) -> np.ndarray:
    """[U] unit starts widened by one preceding whitespace character (for the remove style)."""
    before = np.maximum(packed.starts - 1, 0)
    is_space = np.isin(packed.codes[before], np.array([32, 9, 10])) & (packed.starts > 0)
    first_of_text = np.isin(packed.starts, packed.bounds)
    widened = np.where(is_space & ~first_of_text, before, packed.starts)
    # never overlap the previous unit (two units separated by exactly the space are fine)
    previous_end = np.concatenate([[0], packed.ends[:-1]])
    return np.maximum(widened, previous_end)


def _decode(codes: np.ndarray, bounds: np.ndarray, encoding: str) -> list[str]:
    """Decode a packed array in one go and cut it back into texts."""
    return _cut(codes.tobytes().decode(encoding), bounds.tolist())


def _cut(joined: str, bounds: list[int]) -> list[str]:
    return [joined[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class _Draw:
    """One augmentation's draw over a packed corpus."""

    packed: _Packed
    drops: np.ndarray  # [K, U] bool: which units each copy drops
    flags: np.ndarray  # [K, U + 1] uint8: drops, plus a last slot that is never dropped
    starts: np.ndarray  # [U] unit starts as the style drops them (widened for remove)

    @functools.cached_property
    def owner(self) -> np.ndarray:
        """[N] the unit each character belongs to (U: none, never dropped)."""
        return _unit_of_char(self.packed.codes.size, self.starts, self.packed.ends)


def _draw(texts: Sequence[RankedText], probabilities: Sequence[np.ndarray], copies: int, seed: int,
          style: str) -> _Draw:
    packed = _pack(texts)
    probability = np.concatenate([np.asarray(p, dtype=np.float64) for p in probabilities])
    rng = np.random.default_rng(seed)
    drops = rng.random((copies, probability.size), dtype=np.float32) < probability  # [K, U]
    starts = _with_space_before(packed) if style == "remove" else packed.starts
    # one byte per unit and copy, plus a last slot that is never dropped (characters outside units)
    flags = np.zeros((copies, probability.size + 1), dtype=np.uint8)
    flags[:, :-1] = drops
    return _Draw(packed, drops, flags, starts)


def augment_ranked(texts: Sequence[RankedText], probabilities: Sequence[np.ndarray],
                   settings: AugmentSettings = DEFAULT_AUGMENT, *, return_drops: bool = False):
    """For each text, [original, copy 1, …, copy K] with units dropped at the given probabilities.

    probabilities: one [U] array per text. Same settings and inputs → same output; the draw comes
    before the style, so the same seed drops the same units in every style.
    return_drops: also return which units each copy dropped, one [K, U] bool array per text:
    (versions, drops) instead of versions. copies may be 0 here (the originals alone, as the plain
    condition trains); users' settings go through `AugmentSettings.check`, which asks for ≥ 1.
    """
    replace(settings, copies=max(settings.copies, 1)).check()  # every other setting as users' are checked
    if not texts:
        return ([], []) if return_drops else []
    draw = _draw(texts, probabilities, settings.copies, settings.seed, settings.style)
    versions = _versions(texts, draw, settings.style, settings.placeholder)
    if not return_drops:
        return versions
    return versions, np.split(draw.drops, np.cumsum(draw.packed.units)[:-1], axis=1)


def _versions(texts: Sequence[RankedText], draw: _Draw, style: str, mask_text: str) -> list[list[str]]:
    packed, flags, owner, copies = draw.packed, draw.flags, draw.owner, draw.flags.shape[0]
    # One copy of the corpus at a time: its arrays stay in cache, and each is decoded in one go.
    if style == "space":
        # a dropped character c becomes c − (c − 32) = 32, in the codes' own wrapping arithmetic
        to_space = packed.codes - packed.codes.dtype.type(32)
        bounds = packed.bounds.tolist()
        rows = [_cut((packed.codes - flags[k].take(owner) * to_space).tobytes().decode(packed.encoding), bounds)
                for k in range(copies)]
    else:
        rows = [_render(packed, flags[k].take(owner).view(bool), draw.drops[k], style, mask_text)
                for k in range(copies)]
    return [[t.text, *row] for t, row in zip(texts, zip(*rows))] if copies else [[t.text] for t in texts]


def _render(packed: _Packed, dropped: np.ndarray, drops: np.ndarray, style: str, mask_text: str) -> list[str]:
    """One copy of the corpus in the remove or mask style. dropped: [N] per character; drops: [U] per unit."""
    keep = ~dropped
    codes = packed.codes
    if style == "mask":
        # the first character of each dropped unit stays, as a mark replaced by the placeholder
        codes = codes.astype(np.uint32)
        codes[packed.starts[drops]] = _MARK
        keep[packed.starts[drops]] = True
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    pieces = _decode(codes[keep], kept_before[packed.bounds],
                     "utf-32-le" if codes.dtype == np.uint32 else packed.encoding)
    if style == "mask":
        mark = chr(_MARK)
        pieces = [p.replace(mark, mask_text) for p in pieces]
    return pieces


# ---- the augmented corpus as CSV ---------------------------------------------------------

CSV_COLUMNS = ("text", "source", "copy")


def augmented_csv(texts: Sequence[RankedText], probabilities: Sequence[np.ndarray],
                  settings: AugmentSettings = DEFAULT_AUGMENT) -> bytes:
    """The augmented corpus as CSV bytes (UTF-8, columns text, source, copy; rows source-major: text
    0's original, its copies 1…K, then text 1, …; the draws of `augment_ranked`), written by the stdlib
    csv writer with pandas' settings (minimal quoting, `"` doubled, the platform's line ending), so it
    is the file `augment_corpus(...).to_csv(path, index=False)` writes."""
    versions = augment_ranked(texts, probabilities, settings)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=os.linesep)
    writer.writerow(CSV_COLUMNS)
    writer.writerows((text, source, copy) for source, texts in enumerate(versions) for copy, text in enumerate(texts))
    return buffer.getvalue().encode("utf-8")


def write_augmented_csv(path_or_buffer, texts: Sequence[RankedText], probabilities: Sequence[np.ndarray],
                        settings: AugmentSettings = DEFAULT_AUGMENT) -> int:
    """Write `augmented_csv(...)` to a path (folders made) or a file object (binary, or text); the number of rows."""
    data = augmented_csv(texts, probabilities, settings)
    if hasattr(path_or_buffer, "write"):
        path_or_buffer.write(data.decode("utf-8") if isinstance(path_or_buffer, io.TextIOBase) else data)
    else:
        path = Path(path_or_buffer)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return augmented_rows(len(texts), settings.copies)


def augmented_rows(texts: int, copies: int) -> int:
    """Rows of an augmented corpus: every text's original and its copies."""
    return texts * (copies + 1)


# ---- rankings from models ---------------------------------------------------------------

def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def ranked_from_clues(result, by: str = "contrast") -> RankedText:
    """Rank the units of a ContrastResult by contrast, by one model's own importance ("own": the
    result of `contrast.own_attention`, one model against itself), or by position (earliest first).

    One rule for what is never dropped: whatever the ContrastResult left out of its ranking
    (special tokens, the attention sink at position 0, blanks) and punctuation.
    """
    if by not in ("contrast", "own", "position"):
        raise InputError(f"Unknown ranking {by!r}; use contrast, own or position.")
    if by == "own" and result.large_maps is not result.small_maps:
        raise InputError("An own-attention ranking needs one model's maps against themselves "
                         "(clues.contrast.own_attention).")
    text = result.large_maps.text
    spans = [_strip_span(text, c.start, c.end) for c in result.clues]
    droppable = np.array([c.droppable and e > s for c, (s, e) in zip(result.clues, spans)], dtype=bool)
    if by == "position":
        scores = -np.arange(len(result.clues), dtype=np.float64)
    else:  # own: the model against itself, so its importance fills both sides
        scores = np.array([c.contrast if by == "contrast" else c.large for c in result.clues], dtype=np.float64)
    return _ranked(text, spans, droppable, scores, [c.field for c in result.clues])


def ranked_from_tokens(text: str, tokenizer=None, spans=()) -> RankedText:
    """Units without a model ranking (for the none/random modes): the tokenizer's tokens, else words."""
    stripped, droppable, fields = _token_units(text, tokenizer, spans)
    return _ranked(text, stripped, droppable, np.zeros(len(stripped)), fields)


def ranked_oracle(text: str, tokenizer=None, spans=()) -> RankedText:
    """The oracle control: the tokens of the tagged name first, the rest in a random order fixed by the
    text (the same text always gets the same order, so a preview and its corpus agree)."""
    stripped, droppable, fields = _token_units(text, tokenizer, spans)
    if not any(f == "name" for f in fields or ()):
        raise InputError("The oracle ranking needs the name tagged (<name>…</name>) in every text.")
    order = np.random.default_rng(zlib.crc32(text.encode("utf-8"))).random(len(stripped))  # [U] in [0, 1)
    scores = order + np.array([f == "name" for f in fields], dtype=np.float64)
    return _ranked(text, stripped, droppable, scores, fields)


def _token_units(text: str, tokenizer, spans) -> tuple[list, np.ndarray, list | None]:
    """The tokenizer's tokens (else words) as stripped spans, which of them may be dropped, their fields."""
    if tokenizer is not None:
        encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        units = [tuple(o) for o in encoded["offset_mapping"]]
    else:
        units = word_units(text)
    stripped = [_strip_span(text, s, e) for s, e in units]
    droppable = np.array([e > s and not is_punctuation(text[s:e]) for s, e in stripped], dtype=bool)
    return stripped, droppable, token_fields(stripped, spans) if spans else None


def _ranked(text, spans, droppable, scores, fields) -> RankedText:
    order = np.argsort(-np.where(droppable, scores, -np.inf), kind="stable")
    ranks = np.full(len(spans), -1, dtype=np.int64)
    n_droppable = int(droppable.sum())
    ranks[order[:n_droppable]] = np.arange(n_droppable)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    return RankedText(text, starts, ends, ranks, fields)


def summary(ranked: Sequence[RankedText], probabilities: Sequence[np.ndarray]) -> dict:
    """Expected drop rate over droppable units, and each field's expected survival rate."""
    ranks = np.concatenate([r.ranks for r in ranked]) if ranked else np.zeros(0)
    probability = np.concatenate(list(probabilities)) if ranked else np.zeros(0)
    droppable = ranks >= 0
    result = {"expected_drop_rate": float(probability[droppable].mean()) if droppable.any() else 0.0,
              "field_survival": {}}
    fields = [f for r in ranked for f in (r.fields or [None] * len(r.ranks))]
    for name in sorted({f for f in fields if f}):
        chosen = np.array([f == name for f in fields]) & droppable
        result["field_survival"][name] = float(1.0 - probability[chosen].mean()) if chosen.any() else 1.0
    return result


# ---- whole corpora ----------------------------------------------------------------------

RANK_CHUNK = 256  # texts captured per model before they are contrasted: a big corpus never holds all maps


def models_needed(ranking: str | None, own: str = "small") -> tuple[str, ...]:
    """Which models' maps a ranking reads: both for the contrast, the trained model's (`own`) for its
    own attention and for position (its tokens, with the contrast's exclusions), none otherwise."""
    return {"contrast": ("large", "small"), "own": (own,), "position": (own,)}.get(ranking, ())


def rank_text(item, ranking: str | None, maps: Mapping[str, object], *, own: str = "small", tokenizer=None,
              importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE) -> RankedText:
    """One text's units and their ranks under `ranking` (RANKINGS, or None): the one place a text is
    ranked, for the explorer, the augmentation lab, the training page, the CLI and the experiment.

    item: a TaggedText; maps: {"large": AttentionMaps, "small": AttentionMaps}, the models
    `models_needed(ranking, own)` names; own: which model is trained (its own attention, its tokens);
    tokenizer: the trained model's, for rankings that read no maps (None, oracle).
    """
    if ranking is None:
        return ranked_from_tokens(item.text, tokenizer, item.spans)
    if ranking == "oracle":
        return ranked_oracle(item.text, tokenizer, item.spans)
    if ranking == "contrast":
        result = contrast_maps(maps["large"], maps["small"], spans=item.spans, importance=importance,
                               distance=distance)
        return ranked_from_clues(result, "contrast")
    result = own_attention(maps[own], spans=item.spans, importance=importance, distance=distance)
    return ranked_from_clues(result, ranking)


def rank_corpus(texts, condition: str = "contrast", *, large=None, small=None, own: str = "small",
                distance: int = DEFAULT_DISTANCE, progress: bool = False, batching: dict | None = None
                ) -> list[RankedText]:  # many parameters: keyword-only: the pair, the trained model and how to batch
    """Rank every text's units as `condition` (a mode, optionally ":importance") needs: see
    `rank_text`. texts: TaggedText items. batching: `capture_attention_batch`'s batch_size and
    memory_budget_bytes (default: chosen from the device's memory). Texts are captured RANK_CHUNK
    at a time per model; the ranks equal those of one text at a time.
    """
    return rank_corpus_conditions(texts, [condition], large=large, small=small, own=own, distance=distance,
                                  progress=progress, batching=batching)[0]


# many parameters: keyword-only: the pair, the trained model and how to batch
def rank_corpus_conditions(texts, conditions: Sequence[str], *, large=None, small=None, own: str = "small",
                           distance: int = DEFAULT_DISTANCE, progress: bool = False,
                           batching: dict | None = None) -> list[list[RankedText]]:
    """`rank_corpus` for several conditions at once: [condition][text].

    Each text is captured once per model whatever the number of conditions (an experiment's
    contrast, contrast under paper_mean, own attention and position all read the same maps).
    """
    parsed = [parse_condition(c) for c in conditions]
    batching = batching or {}
    check_batching(**batching)
    models = {"large": large, "small": small}
    if models.get(own) is None:
        own = "small" if small is not None else "large"
    rankings = [MODES[mode].ranking for mode, _ in parsed]
    needed = [models_needed(r, own) for r in rankings]
    for (mode, _), names in zip(parsed, needed):
        if any(models[name] is None for name in names):
            raise InputError(f"Mode {mode!r} needs the model pair (large and small) to rank the tokens.")
    texts = list(texts)
    tokenizer = models[own].tokenizer if models[own] is not None else None
    label = f"ranking ({', '.join(mode for mode, _ in parsed)})"
    wanted = sorted(set().union(*needed))  # ["large", "small"], one of them, or none
    if wanted:
        second = models[wanted[1]] if len(wanted) == 2 else None
        captured = capture_pairs([item.text for item in texts], models[wanted[0]], second, chunk=RANK_CHUNK,
                                 **batching)
    else:  # none, random, oracle: the tokenizer's tokens only
        captured = ((None, None) for _ in texts)
    results: list[list[RankedText]] = [[] for _ in parsed]
    for item, (first_maps, second_maps) in zip(_progress(texts, progress, label), captured):
        maps = {wanted[0]: first_maps, wanted[-1]: second_maps} if wanted else {}
        for out, (_, importance), ranking in zip(results, parsed, rankings):
            out.append(rank_text(item, ranking, maps, own=own, tokenizer=tokenizer, importance=importance,
                                 distance=distance))
    return results


def augment_corpus(ranked: Sequence[RankedText], mode: str = "contrast",
                   settings: AugmentSettings = DEFAULT_AUGMENT) -> pd.DataFrame:
    """Augmented corpus as a DataFrame with columns text, source (row of the input), copy (0 = original).
    To write it to a file, `augment_corpus_csv` writes the same CSV without the frame.
    Mode "none" still writes K (identical) copies, so every condition trains for the same steps."""
    augmented = augment_ranked(ranked, corpus_probabilities(ranked, mode, settings), settings)
    rows = [(text, source, copy) for source, versions in enumerate(augmented) for copy, text in enumerate(versions)]
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def augment_corpus_csv(path_or_buffer, ranked: Sequence[RankedText], mode: str = "contrast",
                       settings: AugmentSettings = DEFAULT_AUGMENT) -> int:
    """Write the augmented corpus as CSV to a path or file object: the file
    `augment_corpus(...).to_csv(path_or_buffer, index=False)` writes. Returns the number of rows."""
    return write_augmented_csv(path_or_buffer, ranked, corpus_probabilities(ranked, mode, settings), settings)


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    return tqdm(items, desc=description, unit="text")
