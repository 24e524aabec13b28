"""The run store: round trip, WAL, two writer processes, reconcile, stop, queue, launcher, CLI,
and a real training process killed mid-run."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from clues import launch, runs
from clues.augment import AugmentSettings, rank_corpus
from clues.cli import main
from clues.corpus import generate_biographies, write_tagged_csv
from clues.errors import CluesError, InputError
from clues.models import load_model
from clues.runs import MEAN_FIELD, RunStore, device_key, pid_alive, start_run_process
from clues.settings import DEFAULT_TRAIN
from clues.train import TrainConfig

from tiny import build_tokenizer, tiny_model_dir


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.sqlite")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_round_trip(store):
    run_id = store.create_run("r1", {"lr": 1e-3, "fields": ["city"]})
    run = store.get_run(run_id)
    assert run["status"] == "queued" and run["config"] == {"lr": 1e-3, "fields": ["city"]}
    assert store.try_claim(run_id, os.getpid(), "cpu")
    store.log_metrics(run_id, [{"epoch": 0.5, "step": 2, "name": "loss", "value": 3.0}])
    store.log_metrics(run_id, [{"epoch": 1, "step": 4, "field": "city", "name": "em", "value": 0.25},
                               {"epoch": 1, "step": 4, "field": MEAN_FIELD, "name": "em", "value": 0.25}])
    store.finish(run_id, "finished")
    run = store.get_run(run_id)
    assert run["status"] == "finished" and run["device"] == "cpu" and run["finished_at"]
    frame = store.metrics(run_id)
    assert list(frame["name"]) == ["loss", "em", "em"]
    assert frame["field"].isna().tolist() == [True, False, False]
    assert store.epoch_summary(run_id) == {"loss": 3.0, "epoch": 1.0, "em/city": 0.25, "em/mean": 0.25}
    assert [r["id"] for r in store.list_runs()] == [run_id]
    with pytest.raises(CluesError, match="No run with id 99"):
        store.get_run(99)
    with pytest.raises(ValueError):
        store.finish(run_id, "exploded")


def test_wal_mode_and_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUES_HOME", str(tmp_path / "home"))
    store = RunStore()
    assert store.path == tmp_path / "home" / "runs.sqlite"
    assert store.journal_mode() == "wal"
    assert store.integrity_check()


def _writer(path: str, run_id: int, worker: int, n: int) -> None:
    store = RunStore(path)
    for step in range(n):
        store.log_metrics(run_id, [{"epoch": step / n, "step": step, "name": f"w{worker}", "value": step},
                                   {"epoch": step / n, "step": step, "field": "city", "name": f"w{worker}",
                                    "value": -step}])
        if step % 10 == 0:
            store.stop_requested(run_id)


def test_two_writer_processes_do_not_corrupt(store):
    run_id = store.create_run("shared", {})
    context = multiprocessing.get_context("spawn")  # real separate interpreters
    workers = [context.Process(target=_writer, args=(str(store.path), run_id, w, 150)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    frame = store.metrics(run_id)
    assert frame.groupby("name").size().to_dict() == {"w0": 300, "w1": 300}
    assert store.integrity_check()


def _opener(path: str, barrier) -> None:
    barrier.wait()
    RunStore(path).create_run("opened at once", {})


def test_processes_opening_a_new_store_at_once_all_get_in(tmp_path):
    """The first opening switches the file to WAL; SQLite refuses a concurrent switch with
    'database is locked' at once, without the busy timeout (two launched processes hit it)."""
    context = multiprocessing.get_context("fork")  # a fork starts in milliseconds: the openings collide
    for attempt in range(8):
        path = tmp_path / f"new-{attempt}.sqlite"
        barrier = context.Barrier(4)
        workers = [context.Process(target=_opener, args=(str(path), barrier)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0] * 4, f"attempt {attempt}"
        store = RunStore(path)
        assert len(store.list_runs()) == 4 and store.journal_mode() == "wal" and store.integrity_check()


def test_reconcile_marks_dead_runs_interrupted(store):
    dead = store.create_run("dead", {}, "running", pid=dead_pid())
    alive = store.create_run("alive", {}, "running", pid=os.getpid())
    fresh = store.create_run("just queued", {})  # no pid yet: its process is starting
    dead_queued = store.create_run("dead queued", {}, pid=dead_pid())
    done = store.create_run("done", {}, "finished", pid=dead_pid())
    assert sorted(store.reconcile()) == [dead, dead_queued]
    statuses = {r["id"]: r["status"] for r in store.list_runs()}
    assert statuses == {dead: "interrupted", alive: "running", fresh: "queued",
                        dead_queued: "interrupted", done: "finished"}
    assert store.get_run(dead)["error"]


def test_stop_request_and_stop_while_queued(store):
    running = store.create_run("a", {}, "running", device="cpu", pid=os.getpid())
    queued = store.create_run("b", {}, device="cpu")
    assert not store.stop_requested(queued)
    store.request_stop(queued)
    assert store.stop_requested(queued) and store.get_run(queued)["stop_requested"]
    assert store.wait_for_turn(queued, "cpu", poll_s=0.01, timeout_s=5) is False
    assert not store.stop_requested(running)


def test_queue_one_active_per_device_in_id_order(store):
    me = os.getpid()
    first = store.create_run("first", {}, device="cpu", pid=me)
    second = store.create_run("second", {}, device="cpu", pid=me)
    third = store.create_run("third", {}, device="cpu", pid=me)
    other = store.create_run("other device", {}, device="cuda:0", pid=me)
    assert not store.try_claim(second, me, "cpu")  # first is older
    assert store.try_claim(first, me, "cpu")
    assert not store.try_claim(second, me, "cpu")  # first is running
    assert store.try_claim(other, me, "cuda:0")  # another device has its own slot
    store.finish(first, "finished")
    assert not store.try_claim(third, me, "cpu")  # second waits ahead of it
    assert store.try_claim(second, me, "cpu")
    assert store.try_claim(third, me, "cpu", max_active=2)
    with pytest.raises(CluesError, match="waited"):
        store.wait_for_turn(store.create_run("late", {}, device="cpu"), "cpu", poll_s=0.01, timeout_s=0.05)


def test_a_dead_queued_run_does_not_block_the_queue(store):
    store.create_run("crashed while queued", {}, device="cpu", pid=dead_pid())
    waiting = store.create_run("next", {}, device="cpu", pid=os.getpid())
    assert store.try_claim(waiting, os.getpid(), "cpu")


def test_start_run_process_saves_the_configuration_and_trains_it(store):
    with pytest.raises(TypeError):
        start_run_process(store, "--model m --data d")
    # A missing data file fails at once: the launcher and the child's reading of the saved
    # configuration are what is tested.
    config = asdict(TrainConfig(model="some/model", data="/nope/missing.csv", device="cpu"))
    run_id = start_run_process(store, config, name="bad data")
    run = store.get_run(run_id)
    assert run["pid"] and run["device"] == "cpu" and run["log_path"].endswith(f"run-{run_id}.log")
    assert run["config"] == config
    deadline = time.monotonic() + 60
    while pid_alive(run["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "does not exist" in run["error"]
    with open(run["log_path"]) as log:
        assert "does not exist" in log.read()


def test_device_key_is_the_queue_name_of_a_device():
    assert device_key("cpu") == device_key(torch.device("cpu")) == "cpu"
    assert device_key("cuda") == device_key("cuda:0") == "cuda:0" and device_key("cuda:1") == "cuda:1"
    assert device_key(None) == ("cuda:0" if torch.cuda.is_available() else "cpu")


def test_slots_fill_the_cores_at_each_runs_threads(monkeypatch):
    """Issue 17: on a CPU as many runs go at once as the cores allow at the threads each run uses;
    one per GPU."""
    monkeypatch.setattr(runs, "usable_cores", lambda: 8)
    assert runs.slots("cpu", 1) == 8 and runs.slots("cpu", 3) == 2 and runs.slots("cpu", 16) == 1
    assert runs.slots("cuda:0", 1) == 1 and runs.slots("cuda:1") == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert runs.run_threads() == 2 and runs.slots("cpu") == 4
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert runs.run_threads() == 4 and runs.slots("cpu") == 2  # alone a run takes up to 4 threads
    assert TrainConfig(model="m", data="d").max_active is None  # the default: as many as slots allows


def test_a_full_cpu_queues_the_next_run(store, monkeypatch):
    me = os.getpid()
    ids = [store.create_run(f"run {i}", {}, device="cpu", pid=me) for i in range(3)]
    monkeypatch.setattr(runs, "usable_cores", lambda: 2)
    at_once = runs.slots("cpu", 1)
    assert [store.try_claim(i, me, "cpu", at_once) for i in ids] == [True, True, False]
    store.finish(ids[0], "finished")
    assert store.try_claim(ids[2], me, "cpu", at_once)


def test_train_run_reads_the_saved_configuration(store, tmp_path, capsys):
    base = ["train", "--store", str(store.path)]
    unknown = store.create_run("old", {"model": "m", "data": "d.csv", "argv": ["--model", "m"]}, device="cpu")
    assert main(base + ["--run", str(unknown)]) == 2
    assert "Unknown training setting(s) argv" in capsys.readouterr().err
    assert store.get_run(unknown)["status"] == "failed"
    queued = store.create_run("queued", asdict(TrainConfig(model="m", data="d.csv")), device="cpu")
    assert main(base + ["--run", str(queued), "--epochs", str(DEFAULT_TRAIN.epochs + 1), "--lora"]) == 2
    assert "drop --epochs, --lora" in capsys.readouterr().err
    assert store.get_run(queued)["status"] == "queued"  # a typo on the command line fails no run
    assert main(["train", "--store", str(store.path), "--epochs", "1"]) == 2
    assert "Give --model and --data, or --run ID" in capsys.readouterr().err


# -- launching a comparison -------------------------------------------------------------------

def test_launch_writes_the_files_and_saves_one_config_per_condition(tmp_path):
    calls = []

    def start(store, config, *, name):
        calls.append((config, name))
        return store.create_run(name, config, "queued", device=device_key(config["device"]))

    people = generate_biographies(3, seed=2)
    store = RunStore(tmp_path / "runs.sqlite")
    base = TrainConfig(model="some/model", data="", epochs=2, batch_size=4, lora=True, lora_r=8)
    comparison = launch.Comparison(base=base, people=people, conditions=["none", "random"],
                                   augment=AugmentSettings(copies=2))
    rankings = launch.rank_conditions(people, comparison.conditions, large=None, small=None)  # no model: words
    folder, ids = launch.launch(comparison, ranked_for=rankings.get, store=store, home=tmp_path, start=start)
    assert len(ids) == 2 and folder.parent == tmp_path / "app-runs"
    config, name = calls[1]
    saved = TrainConfig.from_dict(config)  # the run's configuration is one TrainConfig
    assert saved.model == "some/model" and saved.lora and saved.lora_r == 8 and saved.epochs == 2
    assert Path(saved.data) == folder / "random.csv" and Path(saved.eval_data) == folder / "people.csv"
    assert saved.batch_size == 4 and saved.extra["rows"] == 3 * 3 and saved.name == name
    assert saved.extra["condition"] == "random" and saved.extra["augment"]["copies"] == 2
    assert saved.extra["augment"] == {**vars(AugmentSettings(copies=2)), "seed": base.seed}
    assert store.get_run(ids[1])["config"] == config
    assert base.data == "" and base.extra == {}  # the caller's base is left as it was
    assert launch.condition_of(store.get_run(ids[1])) == "random"
    assert launch.run_label(store.get_run(ids[0])) == f"none #{ids[0]}"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["comparison"]["conditions"] == ["none", "random"] and manifest["people"] == 3
    with pytest.raises(Exception, match="at least one condition"):
        launch.launch(launch.Comparison(base=base, people=people, conditions=[]), ranked_for=rankings.get,
                      store=store, home=tmp_path, start=start)
    with pytest.raises(InputError, match="copies = 0"):
        launch.launch(launch.Comparison(base=base, people=people, conditions=["none"],
                                        augment=AugmentSettings(copies=0)), ranked_for=rankings.get,
                      store=store, home=tmp_path, start=start)
    with pytest.raises(InputError, match="Epochs must be"):
        launch.launch(launch.Comparison(base=TrainConfig(model="m", data="", epochs=0), people=people,
                                        conditions=["none"]), ranked_for=rankings.get, store=store, home=tmp_path,
                      start=start)



def test_a_condition_with_chosen_settings_trains_and_stops_as_chosen(tmp_path):
    """Comparison.chosen (the experiment's choice per condition): that condition's α, β, lr, schedule and stop
    epoch; a condition without a choice keeps the comparison's own; a stop outside its schedule is refused."""
    calls = []

    def start(store, config, *, name):
        calls.append(config)
        return store.create_run(name, config, "queued", device=device_key(config["device"]))

    people = generate_biographies(3, seed=2)
    store = RunStore(tmp_path / "runs.sqlite")
    base = TrainConfig(model="some/model", data="", epochs=2, lr=2e-3)
    chosen = {"random": {"alpha": 0.3, "beta": 0.01, "lr": 5e-4, "epoch": 8, "epochs": 12}}
    comparison = launch.Comparison(base=base, people=people, conditions=["none", "random"],
                                   augment=AugmentSettings(copies=2, alpha=0.7), chosen=chosen)
    rankings = launch.rank_conditions(people, comparison.conditions, large=None, small=None)
    _, ids = launch.launch(comparison, ranked_for=rankings.get, store=store, home=tmp_path, start=start)
    plain, dropped = (TrainConfig.from_dict(c) for c in calls)
    assert (plain.lr, plain.epochs, plain.stop_after_epoch, plain.extra["augment"]["alpha"]) == (2e-3, 2, None, 0.7)
    assert (dropped.lr, dropped.epochs, dropped.stop_after_epoch) == (5e-4, 12, 8)
    assert (dropped.extra["augment"]["alpha"], dropped.extra["augment"]["beta"]) == (0.3, 0.01)
    done, total = launch.run_steps(store.get_run(ids[1]), 0)
    assert total == 8 * 2  # 9 rows in batches of 8: 2 steps an epoch, until the chosen stop
    late = {"random": {**chosen["random"], "epoch": 13}}
    with pytest.raises(InputError, match="Stop after epoch must be .* not 13"):
        launch.launch(launch.Comparison(base=base, people=people, conditions=["random"], chosen=late),
                      ranked_for=rankings.get, store=store, home=tmp_path, start=start)

def _recording_start(calls):
    def start(store, config, *, name):
        calls.append(name)
        return store.create_run(name, config, "queued", device=device_key(config["device"]))
    return start


def test_an_identical_comparison_shares_the_runs_already_in_the_store(tmp_path):
    """Issue 17: the same comparison started again (another session, the same settings and data) gets
    the runs queued, running or finished in the store instead of copies; a new seed trains anew."""
    calls = []
    start = _recording_start(calls)
    people = generate_biographies(3, seed=2)
    store = RunStore(tmp_path / "runs.sqlite")
    base = TrainConfig(model="some/model", data="", epochs=2, batch_size=4)
    comparison = launch.Comparison(base=base, people=people, conditions=["none", "random"],
                                   augment=AugmentSettings(copies=2))
    rankings = launch.rank_conditions(people, comparison.conditions, large=None, small=None)

    def go(compared, **options):
        return launch.launch(compared, ranked_for=rankings.get, store=store, home=tmp_path, start=start,
                             **options)

    first_folder, first = go(comparison, share=True, session="a")
    keys = [store.get_run(i)["config"]["extra"]["content_key"] for i in first]
    assert len(set(keys)) == 2 and len(calls) == 2
    second_folder, second = go(comparison, share=True, session="b")
    assert second == first and len(calls) == 2  # nothing queued
    manifest = json.loads((second_folder / "manifest.json").read_text())
    assert [r["shared"] for r in manifest["runs"].values()] == [True, True]
    assert store.followers(first[0]) == {"a", "b"}
    assert launch.shared_with(store.get_run(first[0]), second_folder.name)
    assert not launch.shared_with(store.get_run(first[0]), first_folder.name)
    # b's newest comparison is its own; a new session sees the newest of all
    follows = store.follows()
    assert launch.current_comparison(store.list_runs(), (), follows, session="a")[0] == first_folder.name
    assert launch.current_comparison(store.list_runs(), (), follows)[0] == second_folder.name
    store.finish(first[0], "finished")
    store.finish(first[1], "failed", "boom")  # a failed run is not shared: it is queued again
    _, third = go(comparison, share=True, session="c")
    assert third[0] == first[0] and third[1] not in first and len(calls) == 3
    _, copies = go(comparison)  # without share (the notebook): copies
    assert not set(copies) & set(first + third)
    _, reseeded = go(launch.Comparison(base=TrainConfig(model="some/model", data="", epochs=2, batch_size=4, seed=1),
                                       people=people, conditions=["none"], augment=AugmentSettings(copies=2)),
                     share=True)
    assert reseeded[0] not in first + third + copies
    assert store.active_started_by("a") == []  # its runs ended: one finished, one failed
    assert store.active_started_by("c") == [third[1]]

    def refuse(new):
        raise InputError(f"no room for {new} runs")

    before = set((tmp_path / "app-runs").iterdir())
    with pytest.raises(InputError, match="no room for 1 runs"):
        go(launch.Comparison(base=replace(base, seed=7), people=people, conditions=["none"],
                             augment=AugmentSettings(copies=2)), share=True, limit=refuse)
    assert set((tmp_path / "app-runs").iterdir()) == before  # its folder went with it


def test_the_content_key_is_the_configuration_and_the_datas_bytes(tmp_path):
    data, other = tmp_path / "a.csv", tmp_path / "b.csv"
    data.write_text("text\nAna was born in Lisbon.\n")
    other.write_text("text\nAna was born in Lisbon.\n")
    config = TrainConfig(model="m", data=str(data), name="one", extra={"condition": "none", "folder": "x"})
    moved = replace(config, data=str(other), name="two", store_path="s", extra={"condition": "none", "folder": "y"})
    assert launch.content_key(config) == launch.content_key(moved)  # where the files are does not count
    assert launch.content_key(config) != launch.content_key(replace(config, lr=config.lr * 2))
    other.write_text("text\nAna was born in Porto.\n")
    assert launch.content_key(config) != launch.content_key(moved)  # what they hold does


def test_thirty_sessions_starting_the_same_comparison_at_once_queue_it_once(tmp_path):
    calls = []
    start = _recording_start(calls)
    people = generate_biographies(3, seed=2)
    store = RunStore(tmp_path / "runs.sqlite")
    comparison = launch.Comparison(base=TrainConfig(model="m", data="", epochs=1), people=people,
                                   conditions=["none", "random", "plain"])
    rankings = launch.rank_conditions(people, comparison.conditions, large=None, small=None)
    barrier = threading.Barrier(30)

    def session(number):
        barrier.wait()
        return launch.launch(comparison, ranked_for=rankings.get, store=RunStore(store.path), home=tmp_path,
                             start=start, share=True, session=str(number))[1]

    with ThreadPoolExecutor(30) as pool:
        ids = list(pool.map(session, range(30)))
    assert len(calls) == 3 and all(i == ids[0] for i in ids)
    assert len(store.list_runs()) == 3 and len(store.follows()) == 90
    assert store.integrity_check()


def test_comparisons_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(launch.time, "strftime", lambda fmt: "20261127-080000")
    taken = tmp_path / "app-runs" / "20261127-080000"
    taken.mkdir(parents=True)
    # Another session claims the name after any check this one makes: only mkdir itself can tell.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert launch.new_batch_folder(tmp_path / "app-runs") == taken.with_name("20261127-080000-2")
    monkeypatch.undo()

    monkeypatch.setattr(launch.time, "strftime", lambda fmt: "20261127-090000")
    barrier = threading.Barrier(8)

    def claim(_):
        barrier.wait()
        return launch.new_batch_folder(tmp_path / "app-runs")

    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(claim, range(8)))
    assert len(set(folders)) == 8 and all(f.is_dir() and not any(f.iterdir()) for f in folders)


def test_a_comparisons_rankings_come_from_the_right_model(tmp_path):
    """The pair ranks every condition, except that a model trained from outside the pair ranks its
    own attention, position and tokens; it is loaded only when a condition needs it."""
    tokenizer = build_tokenizer()
    large, small, other = (load_model(tiny_model_dir(tmp_path / name, "llama", layers=layers, seed=seed,
                                                     tokenizer=tokenizer, initializer_range=0.3), device="cpu")
                           for name, layers, seed in (("large", 3, 1), ("small", 2, 2), ("other", 2, 3)))
    people = generate_biographies(4, seed=1)
    loads = []

    def outside():
        loads.append(1)
        return other

    def same(a, b):
        return all(np.array_equal(x.ranks, y.ranks) and np.array_equal(x.starts, y.starts) for x, y in zip(a, b))

    conditions = ["none", "attention", "position", "contrast", "contrast:paper_mean"]
    pair = launch.rank_conditions(people, conditions, "total", large=large, small=small)
    for condition in conditions:
        full = condition if ":" in condition else f"{condition}:total"
        assert same(pair[condition], rank_corpus(people, full, large=large, small=small))
    by_large = launch.rank_conditions(people, ["attention"], large=large, small=small, trained="large")
    assert same(by_large["attention"], rank_corpus(people, "attention", large=large, small=small, own="large"))
    assert not same(by_large["attention"], pair["attention"])
    assert launch.rank_conditions(people, ["contrast", "contrast:paper_mean"], large=large, small=small,
                                  outside=outside) and not loads
    ranked_outside = launch.rank_conditions(people, conditions, large=large, small=small, outside=outside)
    assert len(loads) == 1
    for condition in ("none", "attention", "position"):
        assert same(ranked_outside[condition], rank_corpus(people, condition, small=other))
    assert not same(ranked_outside["attention"], pair["attention"])  # (position: one tokenizer, the same order)
    assert all(same(ranked_outside[c], pair[c]) for c in ("none", "contrast", "contrast:paper_mean"))


def test_condition_of_reads_the_recorded_condition_first():
    assert launch.condition_of({"name": "my run", "config": {"extra": {"condition": "contrast"}}}) == "contrast"
    assert launch.condition_of({"name": "random · 2025", "config": {}}) == "random"
    assert launch.condition_of({"name": "x", "config": {"data": "/a/attention.csv"}}) == "attention"
    assert launch.condition_of({"name": "x", "config": {}}) == "x"


def test_cli_runs_list_show_export_stop(store, tmp_path, capsys):
    run_id = store.create_run("cli run", {"lr": 0.1}, "running", device="cpu", pid=os.getpid())
    store.log_metrics(run_id, [{"epoch": 1, "step": 3, "field": "city", "name": "f1", "value": 0.5},
                               {"epoch": 1, "step": 3, "name": "loss", "value": 2.5}])
    base = ["runs", "--store", str(store.path)]
    assert main(base + ["list"]) == 0
    assert "cli run" in capsys.readouterr().out
    assert main(["runs", "list", "--store", str(store.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "cli run"
    assert main(base + ["show", str(run_id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["f1/city"] == 0.5
    for suffix in ("csv", "parquet", "json"):
        out = tmp_path / f"metrics.{suffix}"
        assert main(base + ["export", str(run_id), "--out", str(out)]) == 0
        frame = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[suffix](out)
        assert sorted(frame["name"]) == ["f1", "loss"]
    assert main(base + ["export", str(run_id), "--out", str(tmp_path / "m.xlsx")]) == 2
    assert main(base + ["show", "42"]) == 2
    assert "No run with id 42" in capsys.readouterr().err
    assert main(base + ["stop", str(run_id)]) == 0
    assert store.stop_requested(run_id)
    store.finish(run_id, "stopped")
    assert main(base + ["stop", str(run_id)]) == 2


def wait_for(predicate, timeout_s=120.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_killed_run_keeps_its_metrics_and_frees_the_queue(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    people = tmp_path / "bios.csv"
    write_tagged_csv(people, generate_biographies(4, seed=0))
    model = tiny_model_dir(tmp_path / "model")
    # one run at a time on the device (max_active 1), whatever runs.slots would allow on this machine
    config = asdict(TrainConfig(model=str(model), data=str(people), eval_data=str(people), epochs=200,
                                eval_shots=1, eval_max_people=2, probe=False, batch_size=2, lr=1e-3,
                                max_active=1))
    run_id = start_run_process(store, config, name="to be killed")
    second = start_run_process(store, config, name="queued behind it")

    def epoch_one_logged():
        frame = store.metrics(run_id)
        return ((frame["epoch"] == 1.0) & (frame["field"] == MEAN_FIELD)).any()

    try:
        wait_for(epoch_one_logged, what="epoch 1 metrics")
        assert store.get_run(second)["status"] == "queued"  # max_active 1: it waits for the slot
    finally:
        pid = store.get_run(run_id)["pid"]
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 30, "the killed process to end")
    assert store.integrity_check()
    assert store.reconcile() == [run_id]
    assert store.get_run(run_id)["status"] == "interrupted"
    frame = store.metrics(run_id)
    assert set(frame[frame["field"] == MEAN_FIELD]["epoch"]) >= {0.0, 1.0}
    assert (frame["name"] == "loss").sum() >= 2

    # the queued run takes the freed slot; `runs stop` then ends it at its next step
    wait_for(lambda: (store.metrics(second)["name"] == "loss").any(), what="the second run to train")
    assert main(["runs", "stop", str(second), "--store", str(store.path)]) == 0
    wait_for(lambda: store.get_run(second)["status"] == "stopped", 60, "the second run to stop")
    assert store.get_run(second)["finished_at"] and store.integrity_check()
