"""Training: continually pretrain one model under several dropout conditions and compare per-field
QA as it learns. Runs are separate processes (the page never waits for them)."""

import functools
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import streamlit as st

from clues import augment, classroom, figures, launch
from clues.errors import CluesError
from clues.experiment import chosen_per_condition, reported_experiments
from clues.importance import IMPORTANCE
from clues.models import DEMO_LEARNER, is_demo_pair
from clues.progress import human_seconds, overall, progress, total_steps
from clues.runs import ACTIVE, RunStore, slots
from clues.settings import DEFAULT_TRAIN, PAGE_CONDITIONS, PAGE_PEOPLE, PAGE_TRAINED, TrainConfig
from clues.ui import cache, importance_picker, seat, show, sidebar, state

ctx = sidebar.context()
st.title("Training")
st.caption("Continual pretraining on the biographies — plain, or with tokens dropped at random, by position "
           "(the control), by the model's own attention, or by the contrast — then few-shot QA per fact field "
           "after every epoch. "
           "Each condition is a separate `python -m clues train` process; on a CPU as many run at once as its "
           f"cores allow ({slots('cpu')} here), on a GPU one at a time. A run identical to one already "
           "queued, running or finished here (same settings, same data) is shared, not trained again.")

try:
    store = RunStore()
    store.reconcile()  # runs whose process died show as interrupted
except (CluesError, OSError) as error:
    show.error(f"The run store cannot be opened: {error}")
    show.stop()

new_tab, runs_tab = st.tabs(["New comparison", "Runs"])
START = "_train_start_requested"
NOTICE = "_train_notice"  # the last refused or partial Stop, said in one line until the next action
me, mode = seat.session_id(), seat.mode()


def request_start(again: bool = False) -> None:
    """The Start buttons' callback: it runs before the script, so the click's own run already draws
    the buttons disabled, before it spends seconds ranking tokens. `again`: a new seed, not shared."""
    st.session_state[START] = "again" if again else "start"
    st.session_state.pop(NOTICE, None)


def started_message(ids, name: str, seed: int, again: bool) -> str:
    shared = [i for i in ids if launch.shared_with(store.get_run(i), name)]
    new = [i for i in ids if i not in shared]
    listed = ", ".join(f"#{i}" for i in new)
    text = f"Started runs {listed}" + (f" with the new seed {seed}" if again else "") + ". " if new else ""
    if shared:
        text += (f"Shared runs {', '.join(f'#{i}' for i in shared)}: identical runs (same settings, same data) "
                 "were already here, so they were not queued again; their curves are shown live. ")
    return text + "The comparison stays above until you dismiss it."


# -- a new comparison ------------------------------------------------------------------------
with new_tab:
    show.require(ctx, text=False)
    live = st.container()  # the current comparison: progress and curves above the settings, in view
    c_model, c_method = st.columns([1.2, 3.2])
    # Beside the demo pair the bundled learner is offered too, and settings.PAGE_TRAINED comes first (the
    # comparison fits a lesson); beside another pair, its small model.
    demo = is_demo_pair(ctx.pair.large.ref, ctx.pair.small.ref)
    learner = demo and Path(DEMO_LEARNER, "config.json").is_file()
    first = PAGE_TRAINED if demo and (learner or PAGE_TRAINED != "learner") else "small"
    # In class mode the model trained is one of the teacher's pair (or the learner beside it), never a typed one.
    choices = [first] + [c for c in ("learner", "small", "large") if c != first and (learner or c != "learner")] \
        + ([] if mode.on else ["other"])
    if mode.on and st.query_params.get("train_model", choices[0]) not in choices:
        c_model.warning(classroom.MODEL_REFUSED)
    which = state.radio("Model to train", choices, "train_model", choices[0], where=c_model,
                        format_func={"learner": "the bundled learner", "small": "small of the pair",
                                     "large": "large of the pair", "other": "another model"}.get,
                        help="The large turned new biographies into answers best on validation people "
                             "(docs/defaults.json; `clues train` trains it by default). The learner is a small model "
                             "of the pair's family and tokenizer, ~4× cheaper per step: a quicker comparison.")
    other = ""
    if which == "other":
        other = state.text_input("Model", "train_other", "", where=c_model,
                                 placeholder="local folder, .gguf or hub id").strip()
    model_ref = {"learner": DEMO_LEARNER, "small": ctx.pair.small.ref, "large": ctx.pair.large.ref}.get(which, other)
    # "mlp" trains the blocks' MLP weights only (TrainConfig.trainable); the default is the one chosen on
    # validation people (settings.DEFAULT_TRAIN, docs/defaults.json).
    methods = {"mlp": "MLP weights only", "full": "every weight", "lora": "LoRA"}
    method = state.radio("Method", list(methods), "method", "mlp" if DEFAULT_TRAIN.trainable == "mlp" else "full",
                         where=c_method, format_func=methods.get,
                         help="Which weights learn. MLP only keeps the pretrained attention (how the model reads a "
                              "question and looks a person up) and stores the new facts in the feed-forward "
                              "weights; on validation people it answered far better (docs/defaults.json).")
    lora_r = state.number("LoRA rank", 1, 256, "lora_r", 16, where=c_method) if method == "lora" else 16
    # A mode ranks with the importance chosen below; "contrast:<definition>" names its own, so one
    # comparison can hold the contrast under two definitions side by side.
    condition_options = list(augment.MODES) + [f"contrast:{name}" for name in IMPORTANCE]
    # A row of its own: in a third of the width, 1280 px showed 3 of the 5 chosen conditions.
    conditions = state.multiselect("Conditions to compare", condition_options, "conditions",
                                   list(PAGE_CONDITIONS), format_func=launch.condition_label,
                                   help="**position** is the control: tokens dropped by position alone, "
                                        "earliest kept. contrast · paper_mean is the paper's definition.")
    # The experiments' choice per condition on validation people (docs/results*.json; the widest grid's per
    # condition), when one trained this model: at one learning rate for all, dropout conditions can fail to learn
    # at all where plain training learns.
    chosen = {c: v for c, v in chosen_per_condition(reported_experiments(), model_ref).items() if c in conditions}
    per_condition = state.checkbox(
        "Each condition with the α, β, learning rate and epochs the experiment chose on validation people",
        "train_chosen", bool(chosen), disabled=not chosen,
        help="The experiments (docs/results*.md) trained every condition at several α and learning rates on "
             "validation people and kept the best epoch of each (where two chose for a condition, the one that "
             "tried more settings counts); with this on, the conditions they chose for train "
             "with their α, β and learning rate on their schedule and stop at their epoch (at most the Epochs "
             "below); α, β and the learning rate below apply to the others. Offered when an experiment trained "
             "this model.")
    c_importance, c_distance, c_bias = st.columns([2, 1, 2])
    importance, distance = importance_picker.pick(c_importance, distance_where=c_distance,
                                                  key="train_importance", distance_key="train_distance")
    c_bias.caption("Ranks the contrast and own-attention conditions that name no importance. "
                   + importance_picker.describe(importance, distance))
    c_alpha, c_beta, c_copies, c_style = st.columns(4)
    default = augment.DEFAULT_AUGMENT
    alpha = state.slider("α", 0.0, 1.0, "train_alpha", default.alpha, where=c_alpha, step=0.05)
    beta = state.slider("β", 0.0, 0.3, "train_beta", default.beta, where=c_beta, step=0.005, format="%.3f")
    copies = state.number("Copies per text (K)", 1, 100, "train_copies", default.copies, where=c_copies)
    style = state.selectbox("Drop style", list(augment.DROP_STYLES), "train_style", default.style, where=c_style,
                            help="\n".join(f"- **{s}**: {h}" for s, h in augment.DROP_STYLE_HELP.items()))
    c_style.caption(augment.DROP_STYLE_HELP[style])
    c_epochs, c_lr, c_batch, c_seed = st.columns(4)
    train_default = DEFAULT_TRAIN
    epochs = state.number("Epochs", 1, 100, "epochs", train_default.epochs, where=c_epochs)
    lr = state.number("Learning rate", 1e-7, 1.0, "lr", train_default.lr, where=c_lr, format="%.0e", step=1e-4)
    batch_size = state.number("Batch size", 1, 512, "batch", train_default.batch_size, where=c_batch)
    seed = state.number("Seed", 0, 10 ** 9, "train_seed", 0, where=c_seed)
    # The experiment's stop, never past the Epochs asked for here.
    chosen = {c: {**v, "epoch": min(v["epoch"], int(epochs))} for c, v in chosen.items()} if per_condition else {}
    if chosen:
        st.caption("As the experiment chose on validation people: " + " · ".join(
            f"**{launch.condition_label(c)}** α {v['alpha']:g}, lr {v['lr']:g}, stops after epoch {v['epoch']} of "
            f"{v['epochs']}" for c, v in chosen.items()))
    c_source, c_n, c_cseed = st.columns([1.4, 1, 1])
    source = state.radio("Corpus", ["generated", "uploaded"], "train_src", "generated", where=c_source,
                         horizontal=True,
                         format_func={"generated": "Generated biographies", "uploaded": "Uploaded tagged CSV"}.get)
    n = state.number("Biographies (N)", 4, 5000, "train_n", PAGE_PEOPLE, where=c_n)
    if source == "generated":
        corpus_seed = state.number("Corpus seed", 0, 10 ** 9, "train_corpus_seed", 0, where=c_cseed)
        people = cache.generated(int(n), int(corpus_seed))
    else:
        people, _ = sidebar.upload_picker(c_source, "train_upload")
        people = people[: int(n)]
    trained_epochs = [chosen[c]["epoch"] if c in chosen else int(epochs) for c in conditions]
    steps = total_steps(len(people) * (int(copies) + 1), int(batch_size), max(trained_epochs, default=int(epochs)))
    st.caption(f"{len(people)} people × {int(copies) + 1} versions each = {len(people) * (int(copies) + 1)} "
               f"training texts a condition, up to about {steps} steps; QA on the same people before training and "
               f"after every epoch. The model learns the people from the biographies alone.")

    base = TrainConfig(model=model_ref, data="", epochs=int(epochs), lr=float(lr), batch_size=int(batch_size),
                       seed=int(seed), lora=method == "lora", lora_r=int(lora_r), eval_max_people=len(people),
                       trainable="mlp" if method == "mlp" else "all")
    augmentation = augment.AugmentSettings(alpha=float(alpha), beta=float(beta), copies=int(copies), style=style)
    comparison = launch.Comparison(base=base, people=people, conditions=list(conditions), augment=augmentation,
                                   label=which, importance=importance, chosen=chosen)
    # Runs with these settings in the store: Start shares them; "Run again" trains them anew with a new seed.
    key = launch.comparison_key(comparison)
    kept = [r for r in store.list_runs() if r["status"] in ("queued", "running", "finished")]
    exists = key in {launch.key_of(r) for r in kept}
    # This session's own comparison with these settings, still going, is not started twice.
    mine = {f["run_id"] for f in store.follows() if f["session"] == me}
    busy = key in {launch.key_of(r) for r in kept if r["id"] in mine and r["status"] in ACTIVE}
    starting = st.session_state.pop(START, False)
    c_start, c_again = st.columns([1, 1])
    c_start.button(f"Start {len(conditions)} run{'s' if len(conditions) != 1 else ''}", type="primary",
                   key="start-runs", on_click=request_start,
                   disabled=bool(starting) or busy or not conditions or not people)
    if exists:
        c_again.button("Run again (new seed)", key="run-again", on_click=request_start, args=(True,),
                       disabled=bool(starting) or not conditions or not people,
                       help="Trains these settings once more with a seed no run here used, instead of "
                            "sharing the runs already here.")
    if busy:
        st.caption("These settings are training already (above); change one to start another comparison.")
    elif exists:
        st.caption("Runs with these settings are already here: Start shares them (their curves, live), "
                   "Run again trains them anew with a new seed.")
    if starting and not busy or starting == "again":
        st.session_state.pop("_train_started", None)
        if starting == "again":  # a seed no run in the store used: nothing of it can be shared
            comparison.base.seed = 1 + max((int((r["config"] or {}).get("seed") or 0) for r in store.list_runs()),
                                           default=0)
        trained = {"small": ctx.small, "large": ctx.large}.get(which)

        def load_own():  # the model trained, when it is not of the pair
            return cache.load(model_ref, ctx.pair.small.device, ctx.pair.small.dtype, ctx.pair.small.trust_remote_code)

        @functools.cache  # on launch's first call, inside its spinner, after it has checked the comparison
        def rankings() -> dict:
            outside = None if trained is not None else load_own
            return launch.rank_conditions(people, conditions, importance, large=ctx.large, small=ctx.small,
                                          trained=which if trained is not None else "small", outside=outside,
                                          distance=distance)

        try:
            with live, st.spinner(f"Starting {len(conditions)} runs: ranking the tokens of {len(people)} "
                                  "biographies and writing the corpora…", show_time=True):
                folder, ids = launch.launch(
                    comparison, ranked_for=lambda c: rankings()[c], store=store, share=starting != "again",
                    session=me, limit=lambda new: classroom.run_limit(mode, len(store.active_started_by(me)), new))
        except CluesError as error:
            show.error(error)
        except OSError as error:
            show.error(f"Could not write the run files: {error.strerror or type(error).__name__}")
        except Exception as error:  # noqa: BLE001 — a message, not a traceback
            show.error(f"Could not start the runs: {type(error).__name__}: {error}")
        else:
            st.session_state["_train_batch"] = ids
            # No server path here: the files' folder is for the CLI (`clues runs show <id>`).
            st.session_state["_train_started"] = started_message(ids, folder.name, comparison.base.seed,
                                                                 starting == "again")
    # Kept until the next start: the page reruns itself when runs start or end, and the click's
    # own run is the only one that sees the button pressed.
    if started := st.session_state.get("_train_started"):
        live.success(started)


# -- live progress ---------------------------------------------------------------------------
def _elapsed(run) -> float | None:
    if not run.get("started_at"):
        return None
    end = datetime.fromisoformat(run["finished_at"]) if run.get("finished_at") else datetime.now(timezone.utc)
    return (end - datetime.fromisoformat(run["started_at"])).total_seconds()


def _steps(run, frame) -> tuple[int, int | None]:
    step = int(frame["step"].max()) if len(frame) and frame["step"].notna().any() else 0
    return launch.run_steps(run, step)


def _progress_line(run, frame, where, sharing: int) -> None:
    """One run's bar; `sharing`: how many comparisons follow it (more than one: it is shared)."""
    step, total = _steps(run, frame)
    done, left = progress(step, total or 0, _elapsed(run))
    status = run["status"]
    text = f"#{run['id']} {launch.condition_of(run)} — {status}"
    if status == "running" and total:
        text += f" · step {step}/{total} · ETA {human_seconds(left)}"
    if sharing > 1:
        text += f" · shared by {sharing} comparisons"
    c_bar, c_stop = where.columns([6, 1])
    c_bar.progress(done, text=text)
    if run.get("error") and status != "finished":
        c_bar.error(f"Run #{run['id']} {status}: {run['error']}")
    if status in ACTIVE and not run.get("stop_requested"):
        # a callback: it runs before the rerun the click starts, which then draws the run as stopping
        c_stop.button("Stop", key=f"stop-{run['id']}", help="Stops after the current step", on_click=_stop,
                      args=(run["id"],))
    elif status in ACTIVE:
        c_stop.caption("stopping…")


def _stop(run_id: int) -> None:
    """Stop a run, as the class mode allows: only a run this session follows, and a shared one only
    when no other session follows it (else this session leaves it and it goes on)."""
    refusal = classroom.stop_refusal(mode, run_id, me, store.followers(run_id))
    if refusal:
        st.session_state[NOTICE] = refusal
        return
    others = store.leave(run_id, me) - {me}
    notice = classroom.after_leaving(run_id, others) if mode.on else None
    if notice:
        st.session_state[NOTICE] = notice
    else:
        st.session_state.pop(NOTICE, None)
        store.request_stop(run_id)


def _whole(runs, frames) -> None:
    """One bar and one time left for the whole comparison: its runs share the device, as many at once
    as it has slots, so the time left is the steps left at the pace of the steps done."""
    parts = [(*_steps(run, frames[run["id"]]), _elapsed(run)) for run in runs]
    ended = sum(r["status"] not in ACTIVE for r in runs)
    at_once = min(len(runs) - ended, max(slots(r.get("device") or "cpu") for r in runs)) if runs else 1
    done, left = overall(((d, t, s) for d, t, s in parts if t), at_once=max(1, at_once))
    text = f"{ended} of {len(runs)} runs ended"
    if ended < len(runs):
        text += f" · about {human_seconds(left)} left" if left is not None else " · time left after the first steps"
    st.progress(done if ended < len(runs) else 1.0, text=text)


def _curves(runs, prefix: str, where) -> object:
    frame = launch.curves_frame(store, runs)
    has_eval = len(frame) and frame["field"].notna().any()
    if not len(frame):
        where.info("No metrics yet: the first point appears after the evaluation before training.")
        return frame
    if has_eval:
        show.figure(figures.metric_curves(frame, metric="em", title="QA exact match per field"),
                    f"{prefix}-em", download=f"{prefix}-qa-em", where=where)
    left, right = where.columns([1, 2])
    with left:
        show.figure(figures.loss_curves(frame), f"{prefix}-loss", download=f"{prefix}-loss")
    with right:
        if has_eval and (frame["name"] == "recall").any():
            show.figure(figures.metric_curves(frame, metric="recall", title="Recall probe per field"),
                        f"{prefix}-recall", download=f"{prefix}-recall")
    return frame


def _refresh_if_activity_changed(active_now: bool) -> None:
    """A fragment refreshes every REFRESH_ACTIVE_S while a run is active and every REFRESH_IDLE_S
    otherwise (so runs started from another browser show up); the interval is chosen on a full run,
    so when the activity changes, run the page again to choose the other one."""
    if active_now != any_active:
        st.rerun()


def live_view():
    """The newest comparison nobody dismissed (from the store: it survives reloads, page switches and
    other tabs), whole — every run, ended or not — and any other active run (the CLI, elsewhere)."""
    runs = store.list_runs()
    dismissed = store.dismissed()
    follows = store.follows()
    name, group = launch.current_comparison(runs, dismissed, follows, session=me)
    if notice := st.session_state.get(NOTICE):
        st.warning(notice)
    since = group[0]["created_at"] if group else ""
    others = [r for r in runs if r not in group and (r["status"] in ACTIVE or (  # what ran beside it
        launch.comparison_of(r) and launch.comparison_of(r) not in dismissed and (r["finished_at"] or "") >= since))]
    _refresh_if_activity_changed(any(r["status"] in ACTIVE for r in runs))
    if not group and not others:
        st.caption("No comparison yet: choose its settings below and start it. Past runs are on the Runs tab.")
        return
    frames = {r["id"]: store.metrics(r["id"]) for r in group + others}
    if group:
        c_title, c_dismiss = st.columns([5, 1])
        c_title.subheader(f"Comparison of {len(group)} conditions · started {group[0]['created_at'][:16]} UTC")
        if not any(r["status"] in ACTIVE for r in group):
            if c_dismiss.button("Dismiss", key="dismiss-comparison", help="Hide it here (it stays on the Runs tab)"):
                store.dismiss(name)
                st.rerun()
        _whole(group, frames)
    _curves(group + others, "live", st)
    sharing = Counter(f["run_id"] for f in follows)
    for run in group + others:  # below the curves: at 1280 × 800 the curves stay in view
        _progress_line(run, frames[run["id"]], st, sharing[run["id"]])


def runs_view():
    """Every run in the store (from any browser or the CLI), refreshed while one is active."""
    runs = store.list_runs()
    _refresh_if_activity_changed(any(r["status"] in ACTIVE for r in runs))
    if not runs:
        st.info("No runs yet.")
        return
    table = pd.DataFrame([{"id": r["id"], "condition": launch.condition_of(r), "status": r["status"],
                           "model": Path(str(r["config"].get("model") or "")).name,
                           "epochs": r["config"].get("epochs"), "created": r["created_at"],
                           "error": r.get("error") or ""} for r in runs])
    st.dataframe(table, hide_index=True, key="runs-table")
    ids = [r["id"] for r in runs]
    by_id = {r["id"]: r for r in runs}
    # the current comparison, whole (a reload once left out its first run, the plain baseline)
    name, group = launch.current_comparison(runs, store.dismissed(), store.follows(), session=me)
    default = [r["id"] for r in group] or ids[-4:]
    chosen = state.multiselect("Runs to compare", ids, f"compare-{name}" if name else "compare", default, url=False,
                               format_func=lambda i: f"#{i} {launch.condition_of(by_id[i])} "
                                                     f"({by_id[i]['status']})")
    metric = state.radio("Metric", ["em", "f1", "recall"], "compare_metric", "em", horizontal=True, url=False)
    if chosen:
        selected = [by_id[i] for i in chosen]
        frame = launch.curves_frame(store, selected)
        if len(frame):
            show.figure(figures.metric_curves(frame, metric=metric), "past-metric", download="runs-" + metric)
            show.figure(figures.loss_curves(frame), "past-loss", download="runs-loss")
            st.download_button("Download their metrics (CSV)", frame.to_csv(index=False), "runs-metrics.csv",
                               "text/csv", key="dl-runs", on_click="ignore")
        else:
            st.info("These runs have no metrics yet.")


REFRESH_ACTIVE_S, REFRESH_IDLE_S = 2, 5
any_active = any(r["status"] in ACTIVE for r in store.list_runs())
refresh_s = REFRESH_ACTIVE_S if any_active else REFRESH_IDLE_S
with live:
    st.fragment(live_view, run_every=refresh_s)()

# -- every run -------------------------------------------------------------------------------
with runs_tab:
    st.fragment(runs_view, run_every=refresh_s)()
