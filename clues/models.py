"""Load causal language models from a hub id, a local folder or a `.gguf` file.

Everything downstream (capture, training, evaluation) takes a `LoadedModel`, so the UI and
the CLI never touch transformers' loading details. With no hub reachable, an unknown id
fails at once with a message that says how to point at a local copy.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import torch
from huggingface_hub import constants as hub_constants
from transformers import AutoModelForCausalLM, AutoTokenizer

from clues.errors import InputError, ModelLoadError
from clues.settings import DEFAULT_TRAINED

# The bundled demo pair is package data of `clues`: clues/demo_models links to the checkout's
# assets/demo-models, and a wheel carries the files themselves (pyproject.toml, package-data).
# Resolved, so a checkout names assets/demo-models and an installed wheel its site-packages copy.
DEMO_PAIR = Path(str(resources.files("clues") / "demo_models")).resolve()
DEMO_LARGE = str(DEMO_PAIR / "large")
DEMO_SMALL = str(DEMO_PAIR / "small")
DEMO_LEARNER = str(DEMO_PAIR / "learner")  # the model the demo trains by default (same family, beside the pair)

# Same-family pairs the sidebar offers (large, small). They need a hub or a local copy.
PRESET_PAIRS: dict[str, tuple[str, str]] = {
    "Demo pair (bundled, offline)": (DEMO_LARGE, DEMO_SMALL),
    "GPT-2 XL / GPT-2": ("openai-community/gpt2-xl", "openai-community/gpt2"),
    "Pythia 1.4B / 160M": ("EleutherAI/pythia-1.4b", "EleutherAI/pythia-160m"),
    "Qwen2.5 7B / 0.5B": ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-0.5B"),
    "SmolLM2 1.7B / 135M": ("HuggingFaceTB/SmolLM2-1.7B", "HuggingFaceTB/SmolLM2-135M"),
    "Gemma 2 9B / 2B": ("google/gemma-2-9b", "google/gemma-2-2b"),
    "Llama 3 70B / 8B": ("meta-llama/Meta-Llama-3-70B", "meta-llama/Meta-Llama-3-8B"),
}


def check_demo_pair(large: str = DEMO_LARGE, small: str = DEMO_SMALL) -> None:
    """Raise ModelLoadError (one clear line) unless both folders of the demo pair hold a model."""
    if not all(Path(folder, "config.json").is_file() for folder in (large, small)):
        raise ModelLoadError(
            f"The bundled demo pair is not built yet ({Path(large).parent}). Build it with "
            "`python -m clues demo build`, or choose another pair (--large and --small on the command line).")


DEMO_MODELS = {"large": DEMO_LARGE, "small": DEMO_SMALL, "learner": DEMO_LEARNER}


def default_trained(large: str, small: str, which: str = DEFAULT_TRAINED) -> str:
    """The model trained when none is named: beside the bundled pair, the bundled model `which` names (by default
    `clues.settings.DEFAULT_TRAINED`, chosen on validation people, docs/defaults.json; the Training page passes
    PAGE_TRAINED); beside any other pair, its small model."""
    chosen = DEMO_MODELS[which]
    return chosen if is_demo_pair(large, small) and Path(chosen, "config.json").is_file() else small


def is_demo_pair(large: str, small: str) -> bool:
    """Whether `large` and `small` are the bundled demo pair's folders."""
    return Path(large).resolve() == Path(DEMO_LARGE) and Path(small).resolve() == Path(DEMO_SMALL)


def demo_report() -> dict | None:
    """What the bundled pair's build measured (its build.json: QA, attention to the name, clue quality),
    or None when the pair is not built."""
    path = DEMO_PAIR / "build.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    ref: str
    device: torch.device  # where its inputs go (with a device_map: the embeddings', or the CPU when they are offloaded)
    dtype: torch.dtype

    @property
    def n_layers(self) -> int:
        return int(self.model.config.get_text_config().num_hidden_layers)

    @property
    def n_heads(self) -> int:
        return int(self.model.config.get_text_config().num_attention_heads)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def context_length(self) -> int | None:
        config = self.model.config.get_text_config()
        for key in ("max_position_embeddings", "n_positions", "n_ctx"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return None


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device: str | torch.device | None) -> torch.device | None:
    """`device` as a torch.device (None or "" stays None: the default device), or one clear line
    (InputError) when it names no device or one this machine lacks: cuda on a CPU-only torch,
    cuda:3 beside one GPU, mps off a Mac. Every command that takes --device checks it here first."""
    if device is None or device == "":
        return None
    name = str(device)
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"Unknown device {name!r}; use cpu, cuda, cuda:N or mps.") from error
    kind = resolved.type
    if kind == "cpu":
        return resolved
    backend = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    available = backend is not None and hasattr(backend, "is_available") and backend.is_available()
    if not available:
        what = {"cuda": "CUDA", "mps": "MPS (Apple GPU)"}.get(kind, f"a {kind} device")
        raise InputError(f"Device {name!r} asked for, but {what} is not available here; use --device cpu.")
    count = torch.cuda.device_count() if kind == "cuda" else getattr(backend, "device_count", lambda: 1)()
    if resolved.index is not None and resolved.index >= count:
        raise InputError(f"Device {name!r} asked for, but this machine has {count} {kind} device(s), "
                         f"{kind}:0 to {kind}:{count - 1}.")
    return resolved


def default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def cpu_has_bfloat16_matmul(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when this CPU multiplies bfloat16 matrices in hardware (avx512_bf16 or AMX): there
    bfloat16 matrix products run ~4.5× faster than float32 (docs/benchmarks.md). Linux only."""
    try:
        with open(cpuinfo) as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None or dtype == "auto":
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ModelLoadError(f"Unknown dtype {dtype!r}; use one of {', '.join(names)} or 'auto'.")
    return names[dtype]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "0") not in ("0", "", "false", "False")


_HUB_REACHABLE: bool | None = None


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the model hub answers within a few seconds (checked once per process).

    Without this, transformers retries an unreachable hub for about a minute before failing.
    The name lookup runs in a thread because socket timeouts do not cover DNS.
    """
    global _HUB_REACHABLE
    if _HUB_REACHABLE is None:
        host = urlparse(hub_constants.ENDPOINT).hostname or ""
        answer: list[bool] = []

        def probe():
            try:
                socket.create_connection((host, 443), timeout=timeout_s).close()
                answer.append(True)
            except OSError:
                answer.append(False)

        worker = threading.Thread(target=probe, daemon=True)
        worker.start()
        worker.join(timeout_s)
        _HUB_REACHABLE = bool(answer and answer[0])
    return _HUB_REACHABLE


def describe_ref(ref: str) -> str:
    """'gguf', 'folder' or 'hub' — how `ref` will be loaded."""
    path = Path(ref).expanduser()
    if ref.endswith(".gguf"):
        return "gguf"
    # A hub id looks like a relative path ("owner/name"): only existing or explicit paths are folders.
    if path.exists() or ref.startswith((".", "/", "~")) or ref.count("/") > 1:
        return "folder"
    return "hub"


def _check_local(ref: str) -> Path:
    path = Path(ref).expanduser()
    if ref.endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {ref!r} does not exist. Give the path to a local .gguf file.")
        return path
    if not path.exists():
        raise ModelLoadError(
            f"Model folder {ref!r} does not exist. Give a folder written by save_pretrained "
            "(with config.json), a .gguf file, or a hub id.")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{ref!r} is not a model folder: it has no config.json. Point at the folder that "
            "save_pretrained wrote (config.json, *.safetensors, tokenizer files).")
    return path


def load_model(ref: str, *, device: str | torch.device | None = None,
               dtype: str | torch.dtype | None = None, trust_remote_code: bool = False,
               device_map: str | dict | None = None, offload_folder: str | None = None) -> LoadedModel:
    """Load a causal LM and its tokenizer for analysis, in eval mode.

    The attention implementation is left as transformers picks it (usually sdpa): capture switches
    to its own for one pass and back (`capture.attention_implementation`), so training keeps the fast one.

    `trust_remote_code` stays off unless the caller asks for it: it runs code from the model's
    repository on this machine. `device_map="auto"` (or accelerate's {module: device} map, "disk"
    needing `offload_folder`) spreads a model too big for one device; `device` is then ignored and
    the loaded model's device is the one its inputs go to (the embeddings').
    """
    ref = str(ref).strip()
    if not ref:
        raise ModelLoadError("No model given. Name a hub id, a local model folder or a .gguf file.")
    kind = describe_ref(ref)
    if kind != "hub":
        _check_local(ref)
    device = check_device(device) or default_device()
    dtype = resolve_dtype(dtype, device)
    source, extra = _source_and_kwargs(ref, kind)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **extra)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype, trust_remote_code=trust_remote_code,
            device_map=device_map, offload_folder=offload_folder, **extra)
    except MemoryError as error:
        raise ModelLoadError(f"Not enough memory to load {ref!r}; choose a smaller model or dtype "
                             "(e.g. --dtype bfloat16).") from error
    except Exception as error:  # a broken file fails in many ways (struct.error, JSON errors …)
        raise ModelLoadError(_load_failure_message(ref, kind, error)) from error
    if device_map is None:
        model.to(device)
    else:
        device = model.get_input_embeddings().weight.device
        device = torch.device("cpu") if device.type == "meta" else device  # offloaded: inputs stay on the CPU
    model.eval()
    _ensure_pad_token(tokenizer)
    return LoadedModel(model=model, tokenizer=tokenizer, ref=ref, device=device, dtype=dtype)


def _source_and_kwargs(ref: str, kind: str) -> tuple[str, dict]:
    if kind == "gguf":
        path = Path(ref).expanduser().resolve()
        return str(path.parent), {"gguf_file": path.name}
    if kind == "folder":
        return str(Path(ref).expanduser()), {"local_files_only": True}
    # Offline or unreachable: only the local cache, so a missing model fails at once.
    return ref, {"local_files_only": True} if hub_offline() or not hub_reachable() else {}


def _load_failure_message(ref: str, kind: str, error: Exception) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if kind == "hub":
        return (f"Could not load {ref!r} from the model hub ({first_line}). With no hub reachable "
                "(offline, or HF_HUB_OFFLINE=1), download the model elsewhere and give the path of the "
                "local copy (the folder save_pretrained wrote) instead of the hub id.")
    if kind == "gguf":
        return (f"Could not read the GGUF file {ref!r} ({first_line}). It may be truncated or an "
                "architecture transformers cannot dequantise; try a complete file or a "
                "save_pretrained folder.")
    return (f"Could not load the model folder {ref!r} ({first_line}). Check that it holds "
            "config.json, the weights (*.safetensors) and the tokenizer files.")


def _ensure_pad_token(tokenizer) -> None:
    # Batched generation and training need padding; causal LMs often ship without a pad token.
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token


def make_trainable(model: torch.nn.Module) -> torch.nn.Module:
    """Let the Trainer and peft train a model read from a `.gguf` file; return the same model.

    transformers reads a GGUF through its GGUF "quantizer": the model comes back marked as
    quantized (`hf_quantizer`, `is_quantized`, `config.quantization_config`), so the Trainer
    refuses full fine-tuning ("purely quantized models") and LoRA ("QuantizationMethod.GGUF …
    do not support training"), and `save_pretrained` refuses to write it. But the loader has
    already dequantized every weight to an ordinary float tensor, so the marker only describes
    where the weights came from; clearing it is what transformers itself does when a GGUF is
    loaded with `dequantize=True`. Weights the loader kept packed in GGUF blocks (uint8, which
    it does for some architectures when the optional `kernels` package is installed) cannot be
    trained: those fail here with a clear message. Any other quantization is left alone.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    method = getattr(getattr(quantizer, "quantization_config", None), "quant_method", None)
    if quantizer is None or str(getattr(method, "value", method)).lower() != "gguf":
        return model
    packed = [name for name, p in model.named_parameters() if not p.is_floating_point()]
    if packed:
        raise ModelLoadError(
            f"{len(packed)} weight(s) of this GGUF model (e.g. {packed[0]}) are kept packed in GGUF "
            "blocks, which cannot be trained. Uninstall the optional `kernels` package so that "
            "transformers dequantizes the file when loading it, or train a save_pretrained folder.")
    quantizer.remove_quantization_config(model)  # drops hf_quantizer, the config entry, is_quantized
    return model
