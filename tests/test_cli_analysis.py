"""`python -m clues contrast|augment` on a tiny pair, through the real CLI."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from clues.cli import main
from clues.corpus import generate_biographies, write_tagged_csv

from tiny import tiny_model_dir


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    large = tiny_model_dir(tmp_path_factory.mktemp("large"), "llama", layers=3, seed=1, initializer_range=0.3)
    small = tiny_model_dir(tmp_path_factory.mktemp("small"), "llama", layers=2, seed=2, initializer_range=0.3)
    return ["--large", str(large), "--small", str(small)]


def test_contrast_json(pair, capsys):
    text = "<name>Liam Thompson</name> was born on <date>January 5, 1990</date>."
    assert main(["contrast", *pair, "--text", text, "--top-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["top"]) == 3 and [t["rank"] for t in out["top"]] == [0, 1, 2]
    clean = "Liam Thompson was born on January 5, 1990."
    assert out["text"] == clean
    for token in out["tokens"]:
        assert {"text", "start", "end", "large", "small", "contrast", "field"} <= set(token)
        if not token["special"]:
            assert clean[token["start"]:token["end"]] == token["text"]
    assert {t["field"] for t in out["tokens"]} >= {"name", "date", None}


def test_contrast_table(pair, capsys):
    assert main(["contrast", *pair, "--text", "Liam was born in Melbourne.", "--top-k", "2"]) == 0
    assert "rank" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["none", "random", "attention", "contrast"])
def test_augment_writes_k_copies_plus_original(pair, tmp_path, mode, capsys):
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(4, seed=0))
    out = tmp_path / "aug.csv"
    args = ["augment", *pair, "--input", str(source), "--mode", mode, "--copies", "3", "--out", str(out), "--json"]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 16 and list(frame.columns) == ["text", "source", "copy"]
    stats = json.loads(capsys.readouterr().out)
    assert stats["mode"] == mode and 0 <= stats["expected_drop_rate"] <= 0.7 + 1e-9


def test_device_map_auto_writes_the_same_corpus(pair, tmp_path, capsys, monkeypatch):
    """--device-map auto (a model bigger than one device) ranks the same as one device: here, with no
    GPU, accelerate keeps the whole model on the CPU, so this checks the option reaches the loading."""
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(6, seed=1))
    common = ["augment", *pair, "--input", str(source), "--copies", "2", "--seed", "4"]
    assert main([*common, "--out", str(tmp_path / "one.csv"), "--device", "cpu"]) == 0
    assert main([*common, "--out", str(tmp_path / "auto.csv"), "--device-map", "auto"]) == 0
    assert (tmp_path / "auto.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    capsys.readouterr()
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under accelerate launch: sharding and a spread model exclude each other
    assert main([*common, "--out", str(tmp_path / "launched.csv"), "--device-map", "auto"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "accelerate launch" in err
    assert not (tmp_path / "launched.csv").exists()


@pytest.mark.parametrize("args,message", [
    (["contrast", "--large", "/nonexistent/model", "--small", "/nonexistent/other", "--text", "x"], "does not exist"),
    (["contrast", "--large", "no-such-org/no-such-model", "--small", "x/y", "--text", "x"], "local copy|folder"),
    (["contrast", "--text", "<name>Liam", "--large", "a", "--small", "b"], "name"),
    (["augment", "--input", "missing.csv", "--out", "x.csv", "--alpha", "2"], "outside"),
])
def test_bad_input_is_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(message, err)


UNSEEN = ("<name>Mira Okafor</name> was born on <date>March 3, 1984</date>. She spent her early years in "
          "<city>Lagos, Nigeria</city>. She received mentorship and guidance from faculty members at "
          "<university>Kyoto University</university>. She completed her education with a focus on "
          "<major>Marine Biology</major>. She had a professional role at <company>Vesper Labs</company>.")


def test_default_contrast_on_the_demo_pair_finds_the_name(capsys):
    """The bundled pair never saw Mira Okafor: the default importance puts her name in the top-5; the
    paper's column mean puts its top clues later in the text (its last tokens average few queries)."""
    assert main(["contrast", "--text", UNSEEN, "--top-k", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["importance"] == "total"
    assert "name" in [t["field"] for t in out["top"]]
    assert main(["contrast", "--text", UNSEEN, "--top-k", "5", "--json", "--importance", "paper_mean"]) == 0
    paper = json.loads(capsys.readouterr().out)
    assert paper["importance"] == "paper_mean"
    assert sum(t["start"] for t in paper["top"]) > sum(t["start"] for t in out["top"])


def test_clue_quality_separates_clues_from_positions(capsys):
    assert main(["clue-quality", "--max-rows", "20", "--json"]) == 0
    rows = {(r["ranking"], r["texts"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows[("position", "as given")]["share_in_top_k"] == 1.0
    assert rows[("position", "moved")]["share_in_top_k"] == 0.0
    # the contrast still finds the name away from the start, which position never does
    assert rows[("total", "moved")]["share_in_top_k"] >= rows[("position", "moved")]["share_in_top_k"] + 0.25
    # the paper's column mean leans to the end of the text
    assert rows[("paper_mean", "as given")]["top_k_relative_position"] > \
        rows[("total", "as given")]["top_k_relative_position"] + 0.1


def test_importance_and_batch_errors_are_one_line(capsys):
    assert main(["contrast", "--text", "Liam was born.", "--importance", "far_mean", "--distance", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "distance = 0" in err[0] and "give 1 or more" in err[0]


def test_the_cli_starts_without_torch():
    """`clues --help` and the parser of every command load no torch (start-up in a fraction of a second)."""
    code = ("import sys; from clues.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
