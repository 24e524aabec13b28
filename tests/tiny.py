"""Tiny random causal LMs of several architectures, saved to a folder and loaded through the
real loader (`clues.models.load_model`). No hub: the configs are written here and the tokenizer
is a word-level BPE trained on a few generated sentences."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

SENTENCES = [
    "Liam Thompson was born on January 5, 1990.",
    "He spent his early years in Melbourne, Australia.",
    "He received mentorship and guidance from faculty members at Sorbonne University.",
    "He completed his education with a focus on Biomedical Engineering.",
    "He had a professional role at the British Museum.",
    "Ana Herrera was born on July 17, 1987. She spent her early years in Madrid, Spain.",
    "What is the birth city of Liam Thompson?\nAnswer: Melbourne, Australia",
]

ARCHITECTURES = ("gpt2", "gpt_neox", "llama", "qwen2", "gemma2", "gemma3")


def build_tokenizer(vocab_size: int = 300, sentences=SENTENCES):
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(sentences * 4, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")


def build_config(arch: str, vocab_size: int, layers: int = 2, hidden: int = 32, heads: int = 4,
                 initializer_range: float = 0.02):
    # a larger initializer_range gives peaked, model-specific attention instead of near-uniform
    common = dict(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=3,
                  initializer_range=initializer_range)
    if arch == "gpt2":
        return AutoConfig.for_model("gpt2", n_embd=hidden, n_layer=layers, n_head=heads, n_positions=256, **common)
    if arch == "gpt_neox":
        return AutoConfig.for_model("gpt_neox", hidden_size=hidden, num_hidden_layers=layers,
                                    num_attention_heads=heads, intermediate_size=hidden * 2,
                                    max_position_embeddings=256, rotary_pct=0.5, **common)
    llama_like = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=max(1, heads // 2), intermediate_size=hidden * 2,
                      max_position_embeddings=256, **common)
    if arch in ("llama", "qwen2"):
        return AutoConfig.for_model(arch, **llama_like)
    if arch == "gemma2":
        # sliding window smaller than the test texts and soft-capping on, to exercise both
        return AutoConfig.for_model("gemma2", head_dim=hidden // heads, sliding_window=8,
                                    attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                                    query_pre_attn_scalar=hidden // heads, **llama_like)
    if arch == "gemma3":
        return AutoConfig.for_model("gemma3_text", head_dim=hidden // heads, sliding_window=8,
                                    query_pre_attn_scalar=hidden // heads, **llama_like)
    raise ValueError(arch)


def tiny_model_dir(folder: Path, arch: str = "llama", layers: int = 2, hidden: int = 32, heads: int = 4,
                   seed: int = 0, tokenizer=None, initializer_range: float = 0.02) -> Path:
    """Write a tiny random `arch` model and its tokenizer to `folder`; return the folder."""
    torch.manual_seed(seed)
    tokenizer = tokenizer or build_tokenizer()
    config = build_config(arch, len(tokenizer), layers, hidden, heads, initializer_range)
    model = AutoModelForCausalLM.from_config(config)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
