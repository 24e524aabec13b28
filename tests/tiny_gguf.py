"""A tiny random Llama written as a real `.gguf` file (weights and tokenizer), with the `gguf`
package's writer, the way llama.cpp's converter lays it out. No hub, no download: the model and
its byte-level BPE tokenizer come from `tiny.py`.

Read back by transformers' GGUF loader, the file gives the same logits as the model it was
written from (`test_gguf.py` checks it), which is what says the layout below is right.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from gguf import GGUFWriter
from transformers import AutoModelForCausalLM

from tiny import build_config, build_tokenizer

# transformers' parameter name (inside model.layers.N) -> llama.cpp's tensor name (inside blk.N)
LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
NORMAL, CONTROL = 1, 3  # llama.cpp's token types


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's converter reorders each head's Q/K rows (rotary halves interleaved);
    transformers' GGUF loader undoes it, so a faithful file must apply it."""
    rows = weights.shape[0]
    return (weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def tiny_llama(seed: int = 0, layers: int = 2, hidden: int = 32, heads: int = 4,
               initializer_range: float = 0.02):
    """A random LlamaForCausalLM (untied head) and its tokenizer, both from tiny.py."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    config = build_config("llama", len(tokenizer), layers, hidden, heads, initializer_range)
    config.tie_word_embeddings = False  # the file carries output.weight
    model = AutoModelForCausalLM.from_config(config).eval()
    return model, tokenizer


def write_gguf(path: Path, model, tokenizer, name: str = "tiny-llama") -> Path:
    """Write `model` (a LlamaForCausalLM) and its byte-level BPE `tokenizer` as a GGUF file."""
    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    path = Path(path)
    writer = GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(0)  # all F32

    # tokenizer.ggml.*: a gpt2-style (byte-level) BPE with its vocabulary in id order
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    assert [vocab[t] for t in tokens] == list(range(len(tokens))), "token ids must be dense"
    special = set(tokenizer.all_special_tokens)
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([CONTROL if t in special else NORMAL for t in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_add_bos_token(True)

    state = {k: v.detach().to(torch.float32).cpu().numpy() for k, v in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for layer in range(config.num_hidden_layers):
        for ours, theirs in LAYER_TENSORS.items():
            weights = state[f"model.layers.{layer}.{ours}"]
            if theirs == "attn_q.weight":
                weights = llama_cpp_permute(weights, config.num_attention_heads)
            elif theirs == "attn_k.weight":
                weights = llama_cpp_permute(weights, config.num_key_value_heads)
            writer.add_tensor(f"blk.{layer}.{theirs}", np.ascontiguousarray(weights))
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_gguf_file(folder: Path, seed: int = 0, name: str = "tiny.gguf", **sizes) -> Path:
    """Write a tiny random Llama with its tokenizer to `folder / name`; return the file's path."""
    model, tokenizer = tiny_llama(seed=seed, **sizes)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_gguf(folder / name, model, tokenizer)
