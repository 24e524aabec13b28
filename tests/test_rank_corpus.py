"""Ranking a corpus with batched capture gives the ranks of one text at a time, in every mode;
clue quality likewise; bad batch sizes are one clear line through the CLI."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import clues.augment as augment
import clues.capture as capture_module
import clues.clue_quality as quality
import clues.commands.analysis as analysis
import clues.models as model_loading
from clues.augment import MODES, RankedText, rank_corpus, rank_corpus_conditions, ranked_from_clues, ranked_from_tokens
from clues.capture import capture_attention
from clues.cli import main
from clues.clue_quality import clue_quality
from clues.contrast import contrast_maps
from clues.corpus import generate_biographies, write_tagged_csv
from clues.errors import InputError
from clues.models import cpu_has_bfloat16_matmul, load_model
from clues.runs import RunStore
from clues.shard import share_bounds
from clues.text import parse_tagged

from tiny import build_tokenizer, tiny_model_dir

REPO = Path(__file__).resolve().parent.parent
ACCELERATE = Path(sys.executable).parent / "accelerate"  # not on PATH when CI runs .venv/bin/python -m pytest


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rank")
    tokenizer = build_tokenizer()
    large = tiny_model_dir(folder / "large", "llama", layers=3, seed=1, tokenizer=tokenizer, initializer_range=0.3)
    small = tiny_model_dir(folder / "small", "llama", layers=2, seed=2, tokenizer=tokenizer, initializer_range=0.3)
    return large, small


@pytest.fixture(scope="module")
def models(folders):
    return tuple(load_model(f, device="cpu", dtype="float32") for f in folders)


@pytest.fixture(scope="module")
def corpus():
    people = list(generate_biographies(5, seed=3))
    # very different lengths in one corpus: a few words, and one long text
    return [parse_tagged("<name>Liam Thompson</name> was born."), *people,
            parse_tagged(" ".join(p.text for p in people[:3]))]


def one_at_a_time(texts, mode, large, small, own="small", importance="total", distance=5):
    """The ranking as it was before batching: one capture per text and model, ranked by hand from the
    ContrastResult (the contrast of the pair, or the trained model's maps against themselves)."""
    ranking = MODES[mode].ranking
    trained = {"large": large, "small": small}[own]
    ranked = []
    for item in texts:
        if ranking is None:
            ranked.append(ranked_from_tokens(item.text, trained.tokenizer, item.spans))
            continue
        if ranking == "contrast":
            result = contrast_maps(capture_attention(large, item.text), capture_attention(small, item.text),
                                   spans=item.spans, importance=importance, distance=distance)
        else:  # own attention, position: the trained model against itself
            maps = capture_attention(trained, item.text)
            result = contrast_maps(maps, maps, spans=item.spans, importance=importance, distance=distance)
        ranked.append(ranked_from_clues(result, ranking))
    return ranked


def assert_same_ranking(mine: list[RankedText], theirs: list[RankedText]):
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert a.text == b.text and a.fields == b.fields
        for name in ("starts", "ends", "ranks"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("mode, own, importance", [
    ("none", "small", "total"), ("random", "small", "total"), ("position", "small", "total"),
    ("attention", "small", "total"), ("attention", "large", "total"), ("position", "large", "total"),
    ("none", "large", "total"), ("contrast", "small", "total"),
    ("contrast", "small", "paper_mean"), ("contrast", "small", "far_mean"),
])
def test_batched_ranking_equals_one_at_a_time(models, corpus, monkeypatch, mode, own, importance):
    large, small = models
    expected = one_at_a_time(corpus, mode, large, small, own, importance)
    options = dict(large=large, small=small, own=own, distance=5)
    condition = f"{mode}:{importance}"
    assert_same_ranking(rank_corpus(corpus, condition, **options), expected)  # automatic batch size
    monkeypatch.setattr(augment, "RANK_CHUNK", 3)  # three chunks, batches of 2, 2, 1 in each
    assert_same_ranking(rank_corpus(corpus, condition, batching=dict(batch_size=2), progress=True, **options),
                        expected)


@pytest.mark.parametrize("own", ["small", "large"])
def test_several_conditions_read_one_capture_per_model(models, corpus, monkeypatch, own):
    """An experiment's conditions ranked together: each equals its one-at-a-time ranking, and
    each model runs once over the corpus whatever the number of conditions."""
    large, small = models
    conditions = ["none", "random:total", "position", "attention:total", "contrast", "contrast:paper_mean",
                  "contrast:far_mean"]
    captured = []
    real = capture_module.capture_attention_batch

    def counting(loaded, texts, **options):
        captured.append(("large" if loaded is large else "small", len(texts)))
        return real(loaded, texts, **options)

    monkeypatch.setattr(capture_module, "capture_attention_batch", counting)
    rankings = rank_corpus_conditions(corpus, conditions, large=large, small=small, own=own, distance=5)
    assert sorted(captured) == [("large", len(corpus)), ("small", len(corpus))]
    for condition, ranked in zip(conditions, rankings):
        mode, importance = augment.parse_condition(condition)
        assert_same_ranking(ranked, one_at_a_time(corpus, mode, large, small, own, importance))
    captured.clear()
    only_own = rank_corpus_conditions(corpus, conditions[2:4], large=large, small=small, own=own)
    assert captured == [(own, len(corpus))]  # position and own attention read the trained model alone
    assert_same_ranking(only_own[1], one_at_a_time(corpus, "attention", large, small, own, "total", 5))


def test_clue_quality_is_unchanged_by_batching(models, corpus, monkeypatch):
    """Every ranking gives the same rows batched or one text at a time, except the row-sum control:
    its quantity is 1/(i+1) in both models, so large − small is float rounding (~1e-8) and its order
    is that noise, which padding changes. Only its counts are compared."""
    large, small = models
    auto = clue_quality(large, small, corpus, k=3)
    monkeypatch.setattr(quality, "RANK_CHUNK", 2)
    one_by_one = clue_quality(large, small, corpus, k=3, batch_size=1)  # as capture_attention, text by text
    real = auto["ranking"] != quality.ROW_SUM
    assert real.sum() == 8 and list(auto["ranking"]) == list(one_by_one["ranking"])
    pd.testing.assert_frame_equal(auto[real], one_by_one[real])
    counts = ["ranking", "texts", "n_texts", "n_with_field"]
    pd.testing.assert_frame_equal(auto[~real][counts], one_by_one[~real][counts])


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size_is_refused_before_any_model_runs(corpus, bad):
    with pytest.raises(InputError, match="batch size must be a whole number"):
        rank_corpus(corpus, "none", batching=dict(batch_size=bad))
    with pytest.raises(InputError, match="memory budget must be a positive"):
        rank_corpus(corpus, "none", batching=dict(memory_budget_bytes=0))


@pytest.mark.parametrize("command", ["augment", "clue-quality", "experiment"])
@pytest.mark.parametrize("flag, value, message", [
    ("--batch-size", "0", "batch size must be a whole number"),
    ("--memory-budget", "0", "memory budget"),
])
def test_cli_bad_batch_size_is_one_line(folders, tmp_path, capsys, command, flag, value, message):
    large, small = folders
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(2, seed=0))
    if command == "experiment":
        flag = flag.replace("--", "--rank-")
        args = ["experiment", "--large", str(large), "--small", str(small), "--out", str(tmp_path / "x")]
    else:
        args = [command, "--large", str(large), "--small", str(small), "--input", str(source)]
        args += ["--out", str(tmp_path / "aug.csv")] if command == "augment" else []
    assert main([*args, flag, value]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err
    assert not (tmp_path / "aug.csv").exists() and not (tmp_path / "x").exists()


def test_cli_batch_size_gives_the_same_file(folders, tmp_path, capsys):
    large, small = folders
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(6, seed=0))
    common = ["augment", "--large", str(large), "--small", str(small), "--input", str(source), "--copies", "2",
              "--device", "cpu"]
    assert main([*common, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*common, "--out", str(tmp_path / "b.csv"), "--batch-size", "4", "--memory-budget", "64"]) == 0
    capsys.readouterr()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_cli_budget_too_small_says_what_one_text_needs_in_mib(folders, tmp_path, capsys):
    large, small = folders
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(3, seed=0))
    common = ["augment", "--large", str(large), "--small", str(small), "--input", str(source), "--device", "cpu"]
    assert main([*common, "--out", str(tmp_path / "a.csv"), "--memory-budget", "0.001"]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert "Traceback" not in captured.err and not (tmp_path / "a.csv").exists()
    assert "memory budget of 0.001 MiB is too small for one text" in error
    needed = float(re.search(r"needs about ([\d.]+) MiB", error).group(1))
    # the amount said, in the option's own unit, is enough
    assert main([*common, "--out", str(tmp_path / "a.csv"), "--memory-budget", str(math.ceil(needed))]) == 0


def test_shares_cover_the_corpus_in_order():
    for count in (0, 1, 2, 7, 10):
        for processes in (1, 2, 3, 4):
            bounds = [share_bounds(count, processes, i) for i in range(processes)]
            assert bounds[0][0] == 0 and bounds[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [e - s for s, e in bounds]
            assert max(sizes) - min(sizes) <= 1


def launch_two(cwd: Path, *arguments: str) -> subprocess.CompletedProcess:
    """`accelerate launch` of `clues <arguments>` as two gloo processes on the CPU; it must succeed."""
    if not ACCELERATE.is_file():
        pytest.skip(f"accelerate CLI not installed next to {sys.executable}")
    if torch.cuda.is_available():
        pytest.skip("the two-process CPU check is for machines without CUDA")
    command = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(29500 + (os.getpid() + 500) % 1000), "-m", "clues", *arguments]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.parametrize("mode, style", [("contrast", "mask"), ("attention", "space")])
def test_two_processes_write_the_same_file_as_one(folders, tmp_path, capsys, mode, style):
    """`accelerate launch` with two gloo processes on the CPU: each ranks half of the corpus,
    process 0 augments and writes; the file is byte for byte the single-process run's."""
    large, small = folders
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(7, seed=4))  # an odd count: shares of 3 and 4
    arguments = ["augment", "--large", str(large), "--small", str(small), "--input", str(source), "--mode", mode,
                 "--style", style, "--copies", "3", "--seed", "11", "--device", "cpu", "--batch-size", "2", "--json"]
    assert main([*arguments, "--out", str(tmp_path / "one.csv")]) == 0
    single = json.loads(capsys.readouterr().out)
    done = launch_two(tmp_path, *arguments, "--out", str(tmp_path / "two.csv"))
    sharded = json.loads(done.stdout)  # only process 0 printed
    assert sharded.pop("processes") == 2
    assert sharded == {**single, "out": str(tmp_path / "two.csv")}
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


@pytest.mark.slow
def test_a_launched_experiment_trains_on_the_corpora_one_process_writes(folders, tmp_path, capsys):
    """The experiment under `accelerate launch` (two gloo processes): rankings sharded, corpora the
    single process's byte for byte, written and reported once, both processes training together."""
    large, small = folders
    arguments = ["experiment", "--large", str(large), "--small", str(small), "--people", "5", "--conditions",
                 "none", "contrast", "--copies", "2", "--epochs", "1", "--seeds", "0", "--report", "", "--json"]
    assert main([*arguments, "--out", str(tmp_path / "one"), "--store", str(tmp_path / "one.sqlite")]) == 0
    single = json.loads(capsys.readouterr().out)
    done = launch_two(tmp_path, *arguments, "--out", str(tmp_path / "two"), "--store", str(tmp_path / "two.sqlite"))
    launched = json.loads(done.stdout)  # one JSON document: only process 0 printed
    assert done.stderr.count("[experiment] training experiment-contrast-seed0") == 1
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert {"experiment-none-seed0.csv", "experiment-contrast-seed0.csv", "test-people.csv"} <= set(names)
    for name in names:
        if name.endswith(".csv"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert [(r["condition"], r["run_id"]) for r in launched["runs"]] == \
        [(r["condition"], r["run_id"]) for r in single["runs"]]
    assert launched["attention"] == single["attention"]
    store = RunStore(tmp_path / "two.sqlite")
    assert [store.get_run(r["run_id"])["status"] for r in launched["runs"]] == ["finished", "finished"]


def test_bfloat16_ranking_is_close_to_float32(pair):
    """`--dtype bfloat16` is the fast CPU option (docs/benchmarks.md): its rankings may swap
    near-tied units but must keep the same units and nearly the same strongest clues."""
    texts = list(generate_biographies(12, seed=5))
    rankings = {}
    for dtype in ("float32", "bfloat16"):
        large, small = (load_model(path, device="cpu", dtype=dtype) for path in pair)
        assert large.model.dtype == getattr(torch, dtype)
        rankings[dtype] = rank_corpus(texts, "contrast", large=large, small=small)
    overlaps = []
    for exact, fast in zip(rankings["float32"], rankings["bfloat16"]):
        assert np.array_equal(exact.starts, fast.starts) and np.array_equal(exact.ends, fast.ends)
        assert np.array_equal(exact.ranks < 0, fast.ranks < 0)  # the same units are never dropped
        assert np.array_equal(np.sort(fast.ranks[fast.ranks >= 0]), np.arange((fast.ranks >= 0).sum()))
        top = [set(np.flatnonzero((r.ranks >= 0) & (r.ranks < 5))) for r in (exact, fast)]
        overlaps.append(len(top[0] & top[1]) / 5)
    assert np.mean(overlaps) >= 0.9, overlaps


@pytest.mark.parametrize("flags, has_bfloat16, hinted", [
    ([], True, True), (["--dtype", "float32"], True, False), ([], False, False),
])
def test_big_float32_ranking_on_a_bfloat16_cpu_suggests_the_fast_dtype(folders, tmp_path, capsys, monkeypatch,
                                                                       flags, has_bfloat16, hinted):
    monkeypatch.setattr(analysis, "BFLOAT16_HINT_TEXTS", 3)
    monkeypatch.setattr(model_loading, "cpu_has_bfloat16_matmul", lambda: has_bfloat16)
    large, small = folders
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(3, seed=0))
    assert main(["augment", "--large", str(large), "--small", str(small), "--input", str(source), "--copies", "1",
                 "--device", "cpu", "--out", str(tmp_path / "a.csv"), *flags]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "--dtype bfloat16" in line]
    assert len(notes) == int(hinted)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", True), ("fpu avx2 amx_bf16 amx_tile", True),
    ("fpu sse2 avx2 avx512f avx512bw", False), (None, False),
])
def test_cpu_bfloat16_check_reads_the_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:  # None: no such file (not Linux)
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: some CPU\nflags\t\t: {flags}\n")
    assert cpu_has_bfloat16_matmul(str(cpuinfo)) is expected
