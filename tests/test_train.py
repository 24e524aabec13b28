"""Training on a tiny random Llama: the CLI path end to end, LoRA, stop, failures, kill, accelerate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pytest
import torch

import clues.evaluate as evaluate_module
import clues.train as train_module
from clues import FIELDS
from clues.cli import main
from clues.corpus import generate_biographies, write_tagged_csv
from clues.errors import InputError
from clues.models import load_model
from clues.runs import MEAN_FIELD, RunStore
from clues.train import PadCollator, TokenReplacer, TrainConfig, read_texts, set_threads, tokenize_texts, train

from tiny import build_tokenizer, tiny_model_dir

REPO = Path(__file__).resolve().parent.parent
# the accelerate CLI of the Python that runs the tests (a CI runs `.venv/bin/python -m pytest`
# without .venv/bin on its PATH, where `shutil.which("accelerate")` finds nothing)
ACCELERATE = Path(sys.executable).parent / "accelerate"
FACTS = [f for f in FIELDS if f != "name"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    people = generate_biographies(4, seed=0)
    write_tagged_csv(folder / "bios.csv", people)
    # the augmented corpus is plain text (tags gone), two variants a person
    pd.DataFrame({"text": [p.text for p in people] * 2}).to_csv(folder / "aug.csv", index=False)
    tiny_model_dir(folder / "model")
    return folder


def train_args(files, store, *extra):
    return ["train", "--model", str(files / "model"), "--data", str(files / "aug.csv"),
            "--eval", str(files / "bios.csv"), "--eval-shots", "1", "--batch-size", "4",
            "--max-length", "96", "--lr", "1e-3", "--store", str(store), *extra]


def test_tokenize_appends_eos_and_collator_masks_only_padding():
    tokenizer = build_tokenizer()
    rows = tokenize_texts(["Liam Thompson was born", "He"], tokenizer, max_length=5)
    assert all(r["input_ids"][-1] == tokenizer.eos_token_id for r in rows)
    assert len(rows[0]["input_ids"]) == 5
    batch = PadCollator(tokenizer.eos_token_id)(rows)  # pad id == eos: eos must stay in the loss
    short = len(rows[1]["input_ids"])
    assert batch["labels"][1, short - 1] == tokenizer.eos_token_id
    assert (batch["labels"][1, short:] == -100).all() and (batch["attention_mask"][1, short:] == 0).all()


def test_warmup_ratio_is_a_share_of_the_steps(tmp_path):
    config = TrainConfig(model="m", data="d", warmup_ratio=0.1)
    arguments = train_module.training_arguments(config, str(tmp_path), torch.device("cpu"), bf16=False)
    assert arguments.get_warmup_steps(100) == 10 and arguments.get_warmup_steps(1000) == 100


def test_read_texts_strips_tags_and_reports_bad_rows(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["<name>Ana Lee</name> was born in <city>Oslo</city>.", "plain a < b"]}).to_csv(path)
    assert read_texts(str(path)) == ["Ana Lee was born in Oslo.", "plain a < b"]
    pd.DataFrame({"body": ["x"]}).to_csv(path)
    with pytest.raises(InputError, match="no `text` column"):
        read_texts(str(path))
    pd.DataFrame({"text": ["fine", "<name>Ana <city>Oslo</city></name>"]}).to_csv(path)
    with pytest.raises(InputError, match="row 2"):
        read_texts(str(path))


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "Epochs must be"),
    (["--lr", "0"], "learning rate must be > 0"),
    (["--epochs", "2", "--stop-after-epoch", "3"], "Stop after epoch must be a whole number from 1 to epochs"),
    (["--eval-fields", "city,shoe_size"], "Unknown field"),
    (["--data", "/nope/missing.csv"], "does not exist"),
    (["--eval-shots-from", "/nope/shots.csv"], "does not exist"),
    (["--device", "tpu9"], "Unknown device"),
])
def test_bad_settings_fail_clearly_without_a_run(files, tmp_path, capsys, extra, message):
    store = tmp_path / "runs.sqlite"
    assert main(train_args(files, store) + extra) == 2
    assert message in capsys.readouterr().err
    assert RunStore(store).list_runs() == []


def test_full_training_run_through_the_cli(files, tmp_path, capsys):
    store_path = tmp_path / "runs.sqlite"
    saved = tmp_path / "saved"
    rc = main(train_args(files, store_path, "--epochs", "2", "--json", "--save", str(saved), "--name", "tiny"))
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    store = RunStore(store_path)
    run = store.get_run(result["run_id"])
    assert run["status"] == "finished" and run["name"] == "tiny" and run["config"]["epochs"] == 2
    frame = store.metrics(run["id"])
    losses = frame[frame["name"] == "loss"]
    assert list(losses["step"]) == [1, 2, 3, 4]  # 8 texts, batch 4, 2 epochs, logged every step
    assert losses["value"].iloc[-1] < losses["value"].iloc[0]
    assert {"learning_rate", "grad_norm"} <= set(frame["name"])
    evals = frame[frame["field"].notna()]
    assert sorted(evals["epoch"].unique()) == [0.0, 1.0, 2.0]  # epoch 0 is the baseline
    for epoch in (0.0, 1.0, 2.0):
        at = evals[evals["epoch"] == epoch]
        for name in ("em", "f1", "recall"):
            assert set(at[at["name"] == name]["field"]) == set(FACTS) | {MEAN_FIELD}
    assert ((evals["value"] >= 0) & (evals["value"] <= 1)).all()
    assert result["metrics"]["epoch"] == 2.0 and "f1/mean" in result["metrics"]
    assert (saved / "model.safetensors").is_file()
    assert load_model(str(saved)).n_layers == 2
    assert store.integrity_check()


def test_qa_shots_come_from_the_people_given(files, tmp_path, monkeypatch):
    """--eval-shots-from CSV: every solved example before a question is about one of that CSV's people (the paper
    draws its shots from its 9 real biographies), the question about an evaluated person; the setting is saved."""
    asked = {p.name for p in generate_biographies(4, seed=0)}
    others = [p for p in generate_biographies(12, seed=7) if p.name not in asked][:3]
    write_tagged_csv(tmp_path / "shots.csv", others)
    drawn = []
    real = evaluate_module.qa_examples

    def spy(people, **options):
        examples = real(people, **options)
        drawn.extend(examples)
        return examples

    monkeypatch.setattr(evaluate_module, "qa_examples", spy)
    store = tmp_path / "runs.sqlite"
    assert main(train_args(files, store, "--epochs", "1", "--no-probe", "--eval-shots-from",
                           str(tmp_path / "shots.csv"))) == 0
    assert drawn and all(e["name"] in asked for e in drawn)
    for example in drawn:
        *shots, question = example["prompt"].split("\n\n")
        assert shots and all(any(o.name in shot for o in others) for shot in shots)
        assert example["name"] in question
    assert RunStore(store).list_runs()[0]["config"]["eval_shot_data"] == str(tmp_path / "shots.csv")


def test_unknown_trainable_weights_are_one_line():
    with pytest.raises(InputError, match="Trainable must be one of all, mlp"):
        TrainConfig(model="m", data="d", trainable="attention").check_settings()


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_trainable_mlp_changes_only_the_mlp_weights(files, tmp_path, capsys, architecture):
    model_dir = tiny_model_dir(tmp_path / "model", arch=architecture)
    saved = tmp_path / "saved"
    args = train_args(files, tmp_path / "runs.sqlite", "--epochs", "1", "--no-probe", "--eval-fields", "city",
                      "--trainable", "mlp", "--lr", "1e-2", "--save", str(saved))
    args[args.index("--model") + 1] = str(model_dir)
    assert main(args) == 0, capsys.readouterr().err
    before, after = load_model(str(model_dir)).model.state_dict(), load_model(str(saved)).model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(".mlp." in name for name in changed), sorted(changed)
    assert RunStore(tmp_path / "runs.sqlite").get_run(1)["config"]["trainable"] == "mlp"


def test_lora_run_saves_only_the_adapter(files, tmp_path, capsys):
    store_path = tmp_path / "runs.sqlite"
    saved = tmp_path / "adapter"
    rc = main(train_args(files, store_path, "--epochs", "1", "--lora", "--lora-r", "4", "--no-probe",
                         "--eval-fields", "city,major", "--save", str(saved)))
    assert rc == 0
    assert "finished" in capsys.readouterr().out
    frame = RunStore(store_path).metrics(1)
    evals = frame[frame["field"].notna()]
    assert set(evals["field"]) == {"city", "major", MEAN_FIELD} and set(evals["name"]) == {"em", "f1"}
    assert (saved / "adapter_model.safetensors").is_file() and not (saved / "model.safetensors").exists()
    assert json.loads((saved / "adapter_config.json").read_text())["r"] == 4


def config_for(files, store_path, **changes) -> TrainConfig:
    settings = dict(model=str(files / "model"), data=str(files / "aug.csv"), epochs=1, lr=1e-3,
                    batch_size=2, max_length=64, store_path=str(store_path))
    return TrainConfig(**{**settings, **changes})


def test_stop_requested_while_queued(files, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("queued", {}, device="cpu")
    store.request_stop(run_id)
    assert train(config_for(files, store.path, run_id=run_id), store) == run_id
    assert store.get_run(run_id)["status"] == "stopped" and store.metrics(run_id).empty


def test_bad_settings_fail_an_attached_queued_run(files, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("queued by the app", {}, device="cpu")
    config = config_for(files, store.path, run_id=run_id, lr=-1.0)
    with pytest.raises(InputError):
        train(config, store)
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "learning rate" in run["error"]


def test_stop_after_epoch_cuts_the_same_schedule_at_that_epoch(files, tmp_path):
    """Early stopping at an epoch chosen on validation: the run follows the `epochs`-long schedule (so it is
    the longer run's trajectory up to there), ends at the chosen epoch and is finished, not stopped."""
    store = RunStore(tmp_path / "runs.sqlite")
    evaluated = dict(eval_data=str(files / "bios.csv"), eval_shots=1, batch_size=4)
    whole = train(config_for(files, store.path, epochs=3, **evaluated), store)
    cut = train(config_for(files, store.path, epochs=3, stop_after_epoch=1, **evaluated), store)
    assert store.get_run(cut)["status"] == "finished"
    frames = {run: store.metrics(run) for run in (whole, cut)}
    evals = {run: sorted(f[f["field"].notna()]["epoch"].unique()) for run, f in frames.items()}
    assert evals == {whole: [0.0, 1.0, 2.0, 3.0], cut: [0.0, 1.0]}
    rates = {run: list(f[f["name"] == "learning_rate"]["value"]) for run, f in frames.items()}
    assert len(rates[cut]) == 2 and rates[cut] == pytest.approx(rates[whole][:2])  # 8 texts, batch 4: 2 steps
    losses = {run: list(f[f["name"] == "loss"]["value"]) for run, f in frames.items()}
    assert losses[cut] == pytest.approx(losses[whole][:2], rel=1e-4)
    with pytest.raises(InputError, match="Stop after epoch must be .* not 4"):
        config_for(files, store.path, epochs=3, stop_after_epoch=4).check_settings()


def test_stop_request_stops_training_at_the_next_step(files, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")

    def stop_after_first_loss():
        while True:
            runs = store.list_runs()
            if runs and (store.metrics(runs[0]["id"])["name"] == "loss").any():
                store.request_stop(runs[0]["id"])
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=stop_after_first_loss, daemon=True)
    watcher.start()
    run_id = train(config_for(files, store.path, epochs=50, batch_size=1), store)
    watcher.join(5)
    run = store.get_run(run_id)
    steps = store.metrics(run_id)["step"].max()
    assert run["status"] == "stopped" and steps < 50 * 8


def test_failures_are_recorded(files, tmp_path, monkeypatch, capsys):
    store_path = tmp_path / "runs.sqlite"

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")

    monkeypatch.setattr(train_module, "_run_training", out_of_memory)
    assert main(train_args(files, store_path, "--epochs", "1")) == 2
    assert "Out of memory" in capsys.readouterr().err
    run = RunStore(store_path).get_run(1)
    assert run["status"] == "failed" and "--batch-size" in run["error"]

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(train_module, "_run_training", broken)
    with pytest.raises(RuntimeError):
        main(train_args(files, store_path, "--epochs", "1"))
    assert RunStore(store_path).get_run(2)["error"] == "RuntimeError: boom"


def test_thread_policy(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    store = RunStore(tmp_path / "runs.sqlite")
    mine = store.create_run("me", {}, "running", pid=os.getpid())
    try:
        set_threads(store, mine)  # OMP_NUM_THREADS is set by conftest: left alone
        assert torch.get_num_threads() == before
        monkeypatch.delenv("OMP_NUM_THREADS")
        set_threads(store, mine)
        assert torch.get_num_threads() == min(os.cpu_count() or 1, 4)
        store.create_run("other", {}, "running", pid=os.getpid())
        set_threads(store, mine)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_saved_run_trains_through_the_cli(files, tmp_path, capsys):
    store = RunStore(tmp_path / "runs.sqlite")
    config = config_for(files, store.path, eval_data=str(files / "bios.csv"), eval_shots=1, probe=False,
                        extra={"condition": "random"})
    run_id = store.create_run("saved", asdict(config), device="cpu")
    assert main(["train", "--run", str(run_id), "--store", str(store.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "finished"
    run = store.get_run(run_id)
    assert run["status"] == "finished" and [r["id"] for r in store.list_runs()] == [run_id]
    assert TrainConfig.from_dict(run["config"]) == replace(config, run_id=run_id)
    assert set(store.metrics(run_id)["name"]) >= {"loss", "em"}
    assert main(["train", "--run", str(run_id), "--store", str(store.path)]) == 2  # finished: not again
    assert "not queued" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("launch, saved", [
    (["--cpu", "--num_processes", "2"], False),  # accelerate runs ONE process for --cpu without an MPI hostfile
    (["--multi_gpu", "--num_processes", "2"], False),  # two real gloo processes on a machine without CUDA
    (["--multi_gpu", "--num_processes", "2"], True),  # the same, training a run's saved configuration
], ids=["cpu-flag", "two-processes", "two-processes-saved-run"])
def test_accelerate_launch(files, tmp_path, launch, saved):
    if not ACCELERATE.is_file():
        pytest.skip(f"accelerate CLI not installed next to {sys.executable}")
    if "--multi_gpu" in launch and torch.cuda.is_available():
        pytest.skip("the two-process CPU check is for machines without CUDA")
    store_path = tmp_path / "runs.sqlite"
    arguments = train_args(files, store_path, "--epochs", "1", "--eval-max-people", "2", "--eval-fields", "city",
                           "--json")
    if saved:  # as the app queues a run: its configuration saved in the store
        config = config_for(files, store_path, eval_data=str(files / "bios.csv"), eval_shots=1, batch_size=4,
                            max_length=96, eval_max_people=2, eval_fields=["city"])
        run_id = RunStore(store_path).create_run("saved", asdict(config), device="cpu")
        arguments = ["train", "--run", str(run_id), "--store", str(store_path), "--json"]
    command = [str(ACCELERATE), "launch", *launch, "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(29500 + os.getpid() % 1000),
               "-m", "clues", *arguments]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "finished"  # only rank 0 printed
    store = RunStore(store_path)
    assert [r["status"] for r in store.list_runs()] == ["finished"]  # only rank 0 created a run
    frame = store.metrics(1)
    losses = frame[frame["name"] == "loss"]
    processes = 2 if "--multi_gpu" in launch else 1
    assert list(losses["step"]) == list(range(1, 8 // (4 * processes) + 1))
    evals = frame[frame["field"] == "city"]
    assert list(evals[evals["name"] == "em"]["epoch"]) == [0.0, 1.0]  # rank 0 evaluated, once each


def test_an_attached_run_keeps_what_the_launcher_recorded(files, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("launched", {"extra": {"condition": "contrast", "alpha": 0.7}, "ui": "app"})
    config = TrainConfig(model=str(files / "model"), data=str(files / "aug.csv"), epochs=1, lr=1e-3,
                         batch_size=4, max_length=96, run_id=run_id, store_path=str(store.path),
                         extra={"note": "cli"})
    train(config, store)
    recorded = store.get_run(run_id)["config"]
    assert recorded["extra"] == {"condition": "contrast", "alpha": 0.7, "note": "cli"}
    assert recorded["ui"] == "app" and recorded["epochs"] == 1


def test_replace_changes_inputs_only_and_keeps_the_ends():
    """D-AR: inputs replaced at the rate asked, by ordinary tokens only; the labels stay the originals;
    padding, the first and the last token of each row are never touched; same seed, same draw."""
    rows = [{"input_ids": [1] + list(range(10, 60)) + [2]}, {"input_ids": [1, 10, 11, 12, 2]}]
    collate = PadCollator(0, TokenReplacer(0.5, 100, special_ids=[0, 1, 2], seed=3))
    batch = collate(rows)
    plain = PadCollator(0)(rows)
    assert torch.equal(batch["labels"], plain["labels"])
    assert torch.equal(batch["attention_mask"], plain["attention_mask"])
    changed = batch["input_ids"] != plain["input_ids"]
    assert not changed[:, 0].any() and not changed[0, -1] and not changed[1, 4:].any()
    assert 0.3 < changed[0, 1:-1].float().mean() < 0.7  # about half of the 50 inner tokens
    assert not torch.isin(batch["input_ids"][changed], torch.tensor([0, 1, 2])).any()
    again = PadCollator(0, TokenReplacer(0.5, 100, special_ids=[0, 1, 2], seed=3))(rows)
    assert torch.equal(again["input_ids"], batch["input_ids"])
    none = PadCollator(0, TokenReplacer(0.0, 100, special_ids=[0, 1, 2]))(rows)
    assert torch.equal(none["input_ids"], plain["input_ids"])
