"""The experiment end to end on a tiny pair: runs, summary, attention numbers, the report."""

import json

import pytest

from clues.cli import main
from tiny import tiny_model_dir


@pytest.mark.slow
def test_experiment_end_to_end(tmp_path, capsys):
    large = tiny_model_dir(tmp_path / "large", "llama", layers=3, seed=1, initializer_range=0.3)
    small = tiny_model_dir(tmp_path / "small", "llama", layers=2, seed=2, initializer_range=0.3)
    report = tmp_path / "docs" / "results.md"
    args = ["experiment", "--large", str(large), "--small", str(small), "--people", "5", "--epochs", "1",
            "--copies", "1", "--conditions", "none", "contrast", "--shots", "1", "--batch-size", "4",
            "--out", str(tmp_path / "out"), "--store", str(tmp_path / "runs.sqlite"), "--report", str(report)]
    assert main(args) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["condition"] for r in results["runs"]] == ["none", "contrast"]
    for condition in ("none", "contrast"):
        assert set(results["summary"][condition]["em"]) == {"date", "city", "university", "major", "company"}
    attention = results["attention"]
    assert attention["texts"] == 5 and 0 <= attention["name_in_top_k"] <= 1
    assert all(0 <= v["large"] <= 1 for v in attention["to_name"].values())
    text = report.read_text()
    assert "Attention to the name" in text and "What holds on the demo" in text
    assert (tmp_path / "docs" / "figures" / "experiment-em.png").stat().st_size > 1000


def test_bad_experiment_settings_are_clear(capsys):
    assert main(["experiment", "--conditions", "plain", "--people", "10"]) == 2
    assert "Unknown condition" in capsys.readouterr().err


@pytest.mark.slow
def test_seeds_run_apart_merge_into_one_report(tmp_path):
    large = tiny_model_dir(tmp_path / "large", "llama", layers=3, seed=1, initializer_range=0.3)
    small = tiny_model_dir(tmp_path / "small", "llama", layers=2, seed=2, initializer_range=0.3)
    common = ["experiment", "--large", str(large), "--small", str(small), "--people", "4", "--epochs", "1",
              "--copies", "1", "--conditions", "none", "random", "--shots", "1", "--batch-size", "4",
              "--store", str(tmp_path / "runs.sqlite"), "--report", ""]
    for seed in (0, 1):
        assert main([*common, "--seeds", str(seed), "--out", str(tmp_path / f"s{seed}")]) == 0
    report = tmp_path / "results.md"
    assert main(["experiment", "--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--report", str(report)]) == 0
    text = report.read_text()
    assert "seeds [0, 1]" in text and "± " in text
