"""Bad input through the CLI, case by case: each gets one clear line (exit 2), never a traceback,
and what can still be done is done (a too-long text is cut with a notice; differing tokenizers
are compared per word). Plus a fuzz of the argument handling."""

import re
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clues.capture
from clues import experiment as experiment_module
from clues.cli import main
from clues.corpus import generate_biographies, write_tagged_csv
from clues.errors import CluesError, InputError
from clues.models import check_device

from tiny import build_tokenizer, tiny_model_dir

BIO = "<name>Liam Thompson</name> was born on <date>January 5, 1990</date>."


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    large = tiny_model_dir(root / "large", "llama", layers=3, seed=1)
    small = tiny_model_dir(root / "small", "llama", layers=2, seed=2)
    other = tiny_model_dir(root / "other", "qwen2", seed=3,
                           tokenizer=build_tokenizer(100, ["zebra quartz", "Liam was born"]))
    paths = {"large": str(large), "small": str(small), "other": str(other)}
    write_tagged_csv(root / "bios.csv", generate_biographies(6, seed=0))
    write_tagged_csv(root / "one.csv", generate_biographies(1, seed=0))
    (root / "no_text.csv").write_text("name,bio\nLiam,hello\n")
    (root / "empty_row.csv").write_text(
        'text\n"<name>Liam Thompson</name> was born on <date>May 1, 1990</date>."\n""\n')
    (root / "latin1.csv").write_bytes("text\nJos\xe9 was born\n".encode("latin-1"))
    (root / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (root / "no_company.csv").write_text('text\n"<name>Liam Thompson</name> was born on <date>May 1, 1990</date>."\n'
                                         '"<name>Ana Ruiz</name> was born on <date>June 2, 1991</date>."\n')
    (root / "truncated.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x01")
    (root / "not_a_model").mkdir()
    (root / "not_a_model" / "notes.txt").write_text("hello")
    for name in ("bios", "one", "no_text", "empty_row", "latin1", "binary", "no_company", "truncated.gguf",
                 "not_a_model"):
        paths[name] = str(root / (name if "." in name or name == "not_a_model" else f"{name}.csv"))
    paths["root"] = str(root)
    return paths


def pair(f, large="large", small="small"):
    return ["--large", f[large], "--small", f[small]]


# (case, argv builder, expected exit code, pattern in the message)
CASES = [
    ("empty text", lambda f: ["contrast", *pair(f), "--text", ""], 2, "empty"),
    ("whitespace-only text", lambda f: ["contrast", *pair(f), "--text", "  \n\t "], 2, "empty"),
    ("unclosed tag", lambda f: ["contrast", *pair(f), "--text", "<name>Liam was born"], 2, "<name>"),
    ("nested tag", lambda f: ["contrast", *pair(f), "--text", "<name><date>x</date></name>"], 2, "nest|inside"),
    ("unknown tag", lambda f: ["contrast", *pair(f), "--text", "<foo>x</foo> was born"], 2, "foo"),
    ("csv without a text column", lambda f: ["augment", "--input", f["no_text"], "--mode", "random",
                                             "--out", f["root"] + "/o.csv"], 2, "text"),
    ("csv not UTF-8", lambda f: ["augment", "--input", f["latin1"], "--mode", "random",
                                 "--out", f["root"] + "/o.csv"], 2, "UTF-8"),
    ("not a csv at all", lambda f: ["augment", "--input", f["binary"], "--mode", "random",
                                    "--out", f["root"] + "/o.csv"], 2, "CSV|UTF-8|text"),
    ("missing csv", lambda f: ["augment", "--input", f["root"] + "/nope.csv", "--out", "o.csv"], 2, "exist|not found"),
    ("hub id offline", lambda f: ["contrast", "--large", "no-such-org/no-such-model", "--small", f["small"],
                                  "--text", BIO], 2, "local copy"),
    ("folder that is not a model", lambda f: ["contrast", "--large", f["not_a_model"], "--small", f["small"],
                                              "--text", BIO], 2, "config.json"),
    ("truncated gguf", lambda f: ["contrast", "--large", f["truncated.gguf"], "--small", f["small"],
                                  "--text", BIO], 2, "GGUF"),
    ("alpha above 1", lambda f: ["augment", "--input", f["bios"], "--alpha", "1.5", "--out", "o.csv"], 2, "α"),
    ("beta negative", lambda f: ["augment", "--input", f["bios"], "--beta", "-0.1", "--out", "o.csv"], 2, "β"),
    ("copies 0", lambda f: ["augment", "--input", f["bios"], "--copies", "0", "--out", "o.csv"], 2, "copies"),
    ("copies huge", lambda f: ["augment", "--input", f["bios"], "--copies", "1000000", "--out", "o.csv"], 2, "copies"),
    ("unknown mode", lambda f: ["augment", "--input", f["bios"], "--mode", "clever", "--out", "o.csv"], 2, "mode"),
    ("epochs 0", lambda f: ["train", "--model", f["small"], "--data", f["bios"], "--epochs", "0",
                            "--store", f["root"] + "/runs.sqlite"], 2, "poch"),
    ("top-k 0", lambda f: ["contrast", *pair(f), "--text", BIO, "--top-k", "0"], 2, "top-k"),
    ("row outside the csv", lambda f: ["contrast", *pair(f), "--csv", f["bios"], "--row", "99"], 2, "row"),
    ("field the corpus lacks", lambda f: ["evaluate", "--model", f["small"], "--data", f["no_company"],
                                          "--fields", "company", "--shots", "0"], 2, "company"),
    ("unknown run", lambda f: ["runs", "show", "9999", "--store", f["root"] + "/runs.sqlite"], 2, "9999"),
]

WORKS = [
    ("text longer than the context", lambda f: ["contrast", *pair(f), "--text", BIO * 40], "left out"),
    ("tokenizers differ", lambda f: ["contrast", *pair(f, small="other"), "--text", BIO], "per word"),
    ("csv with an empty row", lambda f: ["augment", "--input", f["empty_row"], "--mode", "random",
                                         "--out", f["root"] + "/o.csv"], "wrote 11 rows"),
    ("training data with a single row", lambda f: ["train", "--model", f["small"], "--data", f["one"],
                                                   "--eval", f["one"], "--epochs", "1", "--lr", "1e-3",
                                                   "--store", f["root"] + "/runs.sqlite"], ""),
]


@pytest.mark.parametrize("case,build,code,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_line(files, case, build, code, pattern, capsys):
    assert main(build(files)) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("clues ")]
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("case,build,pattern", WORKS, ids=[c[0] for c in WORKS])
def test_odd_but_usable_input_still_works(files, case, build, pattern, capsys):
    assert main(build(files)) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert re.search(pattern, out.out + out.err)


def missing_devices() -> list[str]:
    """Device names this machine lacks: cuda on a CPU-only torch, one GPU past the last, mps off a Mac."""
    names = [f"cuda:{torch.cuda.device_count() + 1}", "meta", "tpu9"]
    if not torch.cuda.is_available():
        names.append("cuda")
    if not torch.backends.mps.is_available():
        names.append("mps")
    return names


DEVICE_COMMANDS = {
    "contrast": lambda f: ["contrast", *pair(f), "--text", BIO],
    "augment": lambda f: ["augment", *pair(f), "--input", f["bios"], "--mode", "contrast",
                          "--out", f["root"] + "/device.csv"],
    "evaluate": lambda f: ["evaluate", "--model", f["small"], "--data", f["bios"], "--shots", "0"],
    "clue-quality": lambda f: ["clue-quality", *pair(f), "--input", f["bios"]],
    "train": lambda f: ["train", "--model", f["small"], "--data", f["bios"], "--epochs", "1",
                        "--store", f["root"] + "/runs.sqlite"],
}


@pytest.mark.parametrize("device", missing_devices())
@pytest.mark.parametrize("command", list(DEVICE_COMMANDS))
def test_a_device_the_machine_lacks_gets_one_clear_line(files, command, device, capsys):
    assert main([*DEVICE_COMMANDS[command](files), "--device", device]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"clues {command}: error: ")
    assert repr(device) in err and ("cpu" in err or "device(s)" in err), err


def test_device_check_names_what_is_there():
    assert check_device(None) is None and check_device("") is None
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="Unknown device 'tpu9'"):
        check_device("tpu9")
    count = torch.cuda.device_count()
    with pytest.raises(InputError, match=f"cuda:{count + 1}"):
        check_device(f"cuda:{count + 1}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_on_a_cpu_only_torch_in_a_fresh_process(files):
    done = subprocess.run([sys.executable, "-m", "clues", "contrast", *pair(files), "--text", BIO,
                           "--device", "cuda"], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "clues contrast: error: Device 'cuda' asked for, but CUDA is not available here; use --device cpu."]


def test_a_model_without_attention_weights_is_a_clear_error(files, monkeypatch, capsys):
    # neither the block-wise function nor an attention module's returned weights are reached
    monkeypatch.setattr(clues.capture, "_run_blockwise", lambda model, ids, reducer: False)
    monkeypatch.setattr(clues.capture, "attention_modules", lambda model: [])
    assert main(["contrast", *pair(files), "--text", BIO]) == 2
    assert "cannot return weights" in capsys.readouterr().err


def test_a_hundred_thousand_rows(tmp_path, capsys):
    source = tmp_path / "big.csv"
    write_tagged_csv(source, generate_biographies(100_000, seed=0))
    assert main(["augment", "--input", str(source), "--mode", "random", "--copies", "1",
                 "--out", str(tmp_path / "aug.csv")]) == 0
    assert "wrote 200000 rows" in capsys.readouterr().out


def _checked_only(config, **_):
    config.validate()
    raise CluesError("stopped here: the fuzz test checks arguments, it does not run the experiment")


WORDS = st.sampled_from(["contrast", "augment", "bios", "runs", "train", "evaluate", "experiment", "--text",
                         "--alpha", "--beta", "--copies", "--mode", "--input", "--out", "--large", "--small",
                         "--top-k", "--n", "--seed", "--json", "--epochs", "list", "show", "-1", "0", "1e9",
                         "nan", "inf", "x", "", "<name>", "</name>", "random", "contrast", "/nonexistent"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(WORDS, max_size=8))
def test_fuzzed_arguments_never_crash(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLUES_HOME", str(tmp_path))
    # `experiment` with valid arguments would train for half an hour: its settings are checked, then it stops
    monkeypatch.setattr(experiment_module, "run_experiment", _checked_only)
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own usage errors (exit 2) and --help (exit 0)
        assert stop.code in (0, 2)
    else:
        assert code in (0, 2)
