"""A model given as a `.gguf` file: a real file the tests write (tiny_gguf.py), read through the
real loader, analysed, and trained (full fine-tuning and LoRA) through `clues train`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from peft import PeftModel

from clues.capture import capture_attention
from clues.cli import main
from clues.contrast import contrast_text
from clues.corpus import generate_biographies, write_tagged_csv
from clues.errors import ModelLoadError
from clues.models import load_model, make_trainable
from clues.runs import RunStore
from clues.text import parse_tagged

from tiny_gguf import tiny_gguf_file, tiny_llama, write_gguf

TAGGED = ("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. He spent his early years in "
          "<city>Melbourne, Australia</city>.")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    people = generate_biographies(2, seed=0)
    write_tagged_csv(folder / "bios.csv", people)
    pd.DataFrame({"text": [p.text for p in people]}).to_csv(folder / "aug.csv", index=False)
    tiny_gguf_file(folder, seed=0, name="tiny.gguf")
    tiny_gguf_file(folder, seed=1, name="other.gguf", layers=3, initializer_range=0.3)
    return folder


def test_the_written_file_reads_back_as_the_model_it_came_from(tmp_path):
    model, tokenizer = tiny_llama(seed=3, initializer_range=0.3)
    loaded = load_model(str(write_gguf(tmp_path / "m.gguf", model, tokenizer)), device="cpu", dtype="float32")
    text = "Liam Thompson was born in Melbourne, Australia."
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    assert loaded.tokenizer(text, return_tensors="pt")["input_ids"].tolist() == ids.tolist()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids).logits, model(ids).logits, atol=1e-5, rtol=1e-5)
    assert (loaded.n_layers, loaded.n_heads, loaded.context_length) == (2, 4, 256)


def test_analysis_of_a_gguf_pair(files):
    large = load_model(str(files / "other.gguf"), device="cpu")
    small = load_model(str(files / "tiny.gguf"), device="cpu")
    item = parse_tagged(TAGGED)
    maps = capture_attention(small, item.text, per_layer=True)
    assert maps.per_layer.shape[0] == 2 and maps.tokens[0] == "<s>"
    torch.testing.assert_close(maps.mean.sum(-1), torch.ones(len(maps.tokens)), atol=1e-4, rtol=0)
    result = contrast_text(large, small, item.text, spans=item.spans)
    assert result.level == "token"  # one tokenizer: token-level contrast
    assert any(c.rank is not None for c in result.clues)
    assert {"name", "date", "city"} <= {c.field for c in result.clues}


def test_loading_a_gguf_leaves_the_quantization_marker_that_make_trainable_clears(files):
    """Reading a .gguf marks the model quantized (which the Trainer and peft refuse), though every
    weight is an ordinary float tensor; make_trainable clears the marker and nothing else."""
    loaded = load_model(str(files / "tiny.gguf"), device="cpu")
    model = loaded.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    if not getattr(model, "is_quantized", False):
        pytest.skip("this transformers does not mark GGUF models quantized")
    assert make_trainable(model) is model
    assert not model.is_quantized and getattr(model, "hf_quantizer", None) is None
    assert getattr(model.config, "quantization_config", None) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    make_trainable(model)  # a second call (or a model never quantized) is a no-op


def test_make_trainable_refuses_packed_gguf_weights(files):
    loaded = load_model(str(files / "tiny.gguf"), device="cpu")
    model = loaded.model
    if getattr(model, "hf_quantizer", None) is None:
        pytest.skip("this transformers does not mark GGUF models quantized")
    layer = model.model.layers[0].mlp.up_proj
    layer.weight = torch.nn.Parameter(torch.zeros(layer.out_features, 34, dtype=torch.uint8),
                                      requires_grad=False)  # as GgufLinear keeps blocks
    with pytest.raises(ModelLoadError, match="packed"):
        make_trainable(model)


def train_args(files, store, *extra):
    return ["train", "--model", str(files / "tiny.gguf"), "--data", str(files / "aug.csv"),
            "--eval", str(files / "bios.csv"), "--eval-shots", "1", "--eval-fields", "city",
            "--no-probe", "--batch-size", "2", "--max-length", "64", "--lr", "1e-3",
            "--epochs", "1", "--device", "cpu", "--store", str(store), *extra]


def test_full_fine_tuning_of_a_gguf_model_through_the_cli(files, tmp_path, capsys):
    saved = tmp_path / "saved"
    assert main(train_args(files, tmp_path / "runs.sqlite", "--json", "--save", str(saved))) == 0
    result = json.loads(capsys.readouterr().out)
    run = RunStore(tmp_path / "runs.sqlite").get_run(result["run_id"])
    assert run["status"] == "finished" and run["error"] is None
    frame = RunStore(tmp_path / "runs.sqlite").metrics(run["id"])
    assert (frame["name"] == "loss").sum() == 1  # 2 texts, batch 2, 1 epoch
    assert sorted(frame[frame["field"].notna()]["epoch"].unique()) == [0.0, 1.0]
    # the trained weights save as an ordinary model folder, which loads and differs from the file
    assert (saved / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((saved / "config.json").read_text())
    trained, original = load_model(str(saved), device="cpu"), load_model(str(files / "tiny.gguf"), device="cpu")
    ids = original.tokenizer("Liam Thompson was born", return_tensors="pt")["input_ids"]
    assert trained.tokenizer("Liam Thompson was born", return_tensors="pt")["input_ids"].tolist() == ids.tolist()
    with torch.no_grad():
        assert not torch.allclose(trained.model(ids).logits, original.model(ids).logits)


def test_lora_on_a_gguf_model_through_the_cli(files, tmp_path, capsys):
    saved = tmp_path / "adapter"
    assert main(train_args(files, tmp_path / "runs.sqlite", "--lora", "--lora-r", "4", "--save", str(saved))) == 0
    assert "finished" in capsys.readouterr().out
    run = RunStore(tmp_path / "runs.sqlite").get_run(1)
    assert run["status"] == "finished" and run["error"] is None
    assert (saved / "adapter_model.safetensors").is_file() and not (saved / "model.safetensors").exists()
    assert json.loads((saved / "adapter_config.json").read_text())["r"] == 4
    # the adapter goes back onto the model read from the same file, and changes what it predicts
    base = load_model(str(files / "tiny.gguf"), device="cpu")
    ids = base.tokenizer("Liam Thompson was born", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = base.model(ids).logits
        adapted = PeftModel.from_pretrained(base.model, str(saved)).eval()
        assert not torch.allclose(adapted(ids).logits, before)
