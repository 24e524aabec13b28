"""A run store built by hand, logged as clues.train logs a run, whose numbers are known by hand.

Loss rows while training (no field) and, at epochs 0, 1, 2, the rows of `clues.train.evaluation_rows`
(per field, plus their mean under MEAN_FIELD). Epochs before the last score 0, so a number taken
from the wrong epoch shows. At the last epoch: em as given, f1 = (1 + em) / 2, recall = em unless
given; the near fields date and city em 0.9 and 0.8 in every run.
"""

from clues.corpus import FACT_FIELDS
from clues.runs import RunStore
from clues.train import evaluation_rows

CONTRAST = {0: (0.5, 0.4, 0.3), 1: (0.6, 0.6, 0.6), 2: (0.2, 0.3, 0.4)}  # em of university, major, company
NONE = {0: (0.2, 0.2, 0.2), 1: (0.7, 0.7, 0.7), 2: (0.1, 0.1, 0.1)}
# contrast − none per seed, mean over the far fields: 0.4 − 0.2, 0.6 − 0.7, 0.3 − 0.1 = +0.2, −0.1, +0.2
# mean 0.1; squared deviations 0.01 + 0.04 + 0.01 = 0.06, / (3 − 1) → std √0.03 (ddof 0: √0.02);
# standard error √0.03 / √3 = 0.1 → 95% interval 0.1 ± t(0.975, 2) · 0.1
T_975_2 = 4.302652729


def log_run(store, name, far_em, *, far_recall=None, fields=None, last_epoch=2) -> int:
    """One finished run; `far_em` (and `far_recall`) are university, major, company at the last epoch
    (fewer values leave the last fields out); `fields` limits the fields evaluated."""
    em = dict(zip(("date", "city", "university", "major", "company"), (0.9, 0.8, *far_em)))
    recall = dict(em, **dict(zip(("university", "major", "company"), far_recall or far_em)))
    fields = [f for f in FACT_FIELDS if f in (fields or em) and f in em]
    run_id = store.create_run(name, {"name": name}, "running")
    for epoch in range(last_epoch + 1):
        final = epoch == last_epoch
        qa = {f: {"em": em[f] if final else 0.0, "f1": (1 + em[f]) / 2 if final else 0.0, "n": 10} for f in fields}
        probe = {f: {"recall": recall[f] if final else 0.0, "n": 10} for f in fields}
        if epoch:
            store.log_metrics(run_id, [{"epoch": epoch - 0.5, "step": 10 * epoch - 5, "name": "loss", "value": 2.0}])
        store.log_metrics(run_id, evaluation_rows(qa, probe, float(epoch), 10 * epoch))
    store.finish(run_id, "finished")
    return run_id


def experiment_store(folder):
    """(store, runs) as `run_experiment` leaves them: conditions none and contrast, seeds 0, 1, 2."""
    store = RunStore(folder / "runs.sqlite")
    runs = []
    for seed in (0, 1, 2):
        for condition, table in (("none", NONE), ("contrast", CONTRAST)):
            run_id = log_run(store, f"experiment-{condition}-seed{seed}", table[seed])
            runs.append({"condition": condition, "seed": seed, "run_id": run_id, "alpha": 0.7, "beta": 0.05})
    return store, runs
