"""Memory the weights need once loaded: parameters counted from the files (a GGUF's tensor shapes,
not its file size) × the bytes of the precision, or guessed from the name; sizes written for people."""

import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import clues.memory as memory
from clues.memory import (
    count_parameters,
    gguf_parameters,
    guess_parameters,
    human_bytes,
    human_count,
    local_memory_estimate,
    memory_estimate,
    weight_file_bytes,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
gguf = pytest.importorskip("gguf")
from tiny_gguf import tiny_gguf_file, tiny_llama  # noqa: E402


def test_memory_helpers():
    assert guess_parameters("Qwen/Qwen2.5-7B") == 7e9
    assert guess_parameters("EleutherAI/pythia-160m") == 160e6
    assert guess_parameters("meta-llama/Meta-Llama-3-70B") == 70e9
    assert guess_parameters("openai-community/gpt2") == 124e6
    assert guess_parameters("/some/folder") is None
    assert memory_estimate("google/gemma-2-2b", "bfloat16", None) == (4e9, "guessed from the name")
    assert memory_estimate("x", "auto", 1234) == (1234.0, "from the weight files")
    assert human_count(37_500) == "38 k" and human_count(3.4e6) == "3.4 M"
    assert human_bytes(881.9 * 1024) == "881.9 KB"


def test_a_gguf_counts_its_parameters_not_its_file_size(tmp_path):
    path = tiny_gguf_file(tmp_path, seed=0)
    model, _ = tiny_llama(seed=0)
    parameters = sum(p.numel() for p in model.parameters())
    assert gguf_parameters(path) == count_parameters(str(path)) == parameters
    assert memory_estimate(str(path), "float32", path.stat().st_size, parameters=parameters) == \
        (parameters * 4.0, "counted from the weight files")
    assert memory_estimate(str(path), "bfloat16", parameters=parameters)[0] == parameters * 2.0


def test_a_quantized_gguf_is_counted_from_its_shapes_without_dequantizing(tmp_path):
    """Q8_0 stores ~1 byte a weight: the loaded float32 model is ~4× the file."""
    path = tmp_path / "q8.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    weights = np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)
    packed = gguf.quants.quantize(weights, gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.ffn_up.weight", packed, raw_shape=packed.shape,
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert gguf_parameters(path) == weights.size
    loaded, _ = memory_estimate(str(path), "float32", parameters=count_parameters(str(path)))
    assert loaded == weights.size * 4 and loaded > 3.5 * path.stat().st_size


def test_a_safetensors_folder_counts_its_parameters(tmp_path):
    save_file({"a": np.zeros((3, 4), np.float16), "b": np.zeros(5, np.float16)}, str(tmp_path / "model.safetensors"))
    assert count_parameters(str(tmp_path)) == 17
    assert count_parameters(str(tmp_path / "missing")) is None


def test_a_local_model_is_estimated_from_its_files_else_its_name(tmp_path, monkeypatch):
    save_file({"a": np.zeros((3, 4), np.float16), "b": np.zeros(5, np.float16)}, str(tmp_path / "model.safetensors"))
    assert local_memory_estimate(str(tmp_path), "bfloat16") == (34.0, "counted from the weight files")
    assert weight_file_bytes(str(tmp_path)) == (tmp_path / "model.safetensors").stat().st_size
    monkeypatch.setattr(memory, "count_parameters", lambda ref: None)  # e.g. a .gguf without the gguf package
    assert local_memory_estimate(str(tmp_path), "bfloat16") == \
        (float((tmp_path / "model.safetensors").stat().st_size), "from the weight files")
    assert local_memory_estimate("Qwen/Qwen2.5-7B", "bfloat16") == (7e9 * 2, "guessed from the name")
    assert local_memory_estimate("", "float32") == (None, "unknown")
