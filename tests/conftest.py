"""Shared test set-up: one torch thread, no hub, and the model pair the app tests run on."""

import os

# One torch thread per test process: on a 2-core machine two busy processes with 2 threads
# each run many times slower than with 1.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from clues.models import DEMO_LARGE, DEMO_SMALL  # noqa: E402

from tiny import build_tokenizer, tiny_model_dir  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pair(tmp_path_factory) -> tuple[str, str]:
    """(large, small) folders: the bundled demo pair, or a tiny pair of one family."""
    if all((Path(p) / "config.json").is_file() for p in (DEMO_LARGE, DEMO_SMALL)):
        return DEMO_LARGE, DEMO_SMALL
    folder = tmp_path_factory.mktemp("pair")
    tokenizer = build_tokenizer()
    large = tiny_model_dir(folder / "large", "llama", layers=4, hidden=64, heads=4, seed=1, tokenizer=tokenizer,
                           initializer_range=0.2)
    small = tiny_model_dir(folder / "small", "llama", layers=2, hidden=32, heads=2, seed=2, tokenizer=tokenizer,
                           initializer_range=0.2)
    return str(large), str(small)
