"""Sharded ranking: `accelerate launch -m clues augment …` ranks a corpus on many devices.

Every process launched by accelerate (or torchrun) runs the same command. `launched_processes()`
says whether there are several; `launched_state(device)` joins them (gloo on CPUs, NCCL on GPUs;
`clues.train` joins its processes with it too) and `ranking_processes(device)` also leaves the group at the end.
`rank_sharded` gives each process a contiguous share of the corpus (`share_bounds`), ranks it on
that process's device, and hands every process the whole ranking in corpus order
(`rank_sharded_conditions` does it for several conditions at once, as the experiment needs). Process 0
then augments and writes, once, over the whole corpus, so the output is the same file as a
single-process run with the same seed.

The rankings travel as JSON bytes in a uint8 tensor (all_gather), never pickled. A model bigger
than one device is not sharded: load it once with `--device-map auto` (`load_model(device_map=…)`) in a
single process; `clues augment` refuses both at once.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist
from accelerate import PartialState

from clues.augment import RankedText, rank_corpus_conditions


def launched_processes() -> int:
    """How many processes accelerate/torchrun launched for this command (1 when run alone)."""
    value = os.environ.get("WORLD_SIZE", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def launched_state(device: str | None = None):
    """The accelerate state of a launched process (ranking or training): gloo on CPUs, the
    process's own GPU otherwise, made the way TrainingArguments makes it.

    Without CUDA (or when the user asks for the CPU) a plain PartialState() would ignore the
    launch and report one process; PartialState(cpu=True) sets up the gloo group instead.
    """
    cpu = (device or "").startswith("cpu") or not torch.cuda.is_available() or \
        os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return PartialState(cpu=cpu)


@contextmanager
def ranking_processes(device: str | None = None):
    """The accelerate state of a launched command (None when run alone), for a `with` block that
    ends the process group cleanly: the processes wait for each other (process 0 writing the
    output), then leave the group. (A gloo process that exits still in its group can abort with
    "terminate called without an active exception", and the launcher then kills the others.)"""
    if launched_processes() <= 1:
        yield None
        return
    state = launched_state(device)
    try:
        yield state
    except BaseException:
        _leave()  # no barrier: the others may be inside a collective this process never reaches
        raise
    state.wait_for_everyone()
    _leave()


def _leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def process_device(device: str | None, state) -> str | None:
    """Where a process loads its models: its own device under a launch (unless the user named
    the CPU or one device, e.g. cuda:1), else the user's --device."""
    if state is None or (device not in (None, "cuda")):
        return device
    return str(state.device)


def share_bounds(count: int, processes: int, index: int) -> tuple[int, int]:
    """[start, end) of process `index`'s contiguous share of `count` texts (sizes differ by ≤ 1)."""
    return index * count // processes, (index + 1) * count // processes


def rank_sharded(texts, condition: str, state, **options) -> list[RankedText]:
    """`rank_corpus` of the whole corpus, each process ranking its share; every process gets all.

    state: an accelerate PartialState (process_index, num_processes, device); `options` are
    rank_corpus's (the models already on `state.device`).
    """
    return rank_sharded_conditions(texts, [condition], state, **options)[0]


def rank_sharded_conditions(texts, conditions, state, **options) -> list[list[RankedText]]:
    """`rank_corpus_conditions` ([condition][text]) of the whole corpus, each process ranking its share
    (each text captured once per model for all conditions); every process gets all, in corpus order."""
    texts = list(texts)
    start, end = share_bounds(len(texts), state.num_processes, state.process_index)
    mine = rank_corpus_conditions(texts[start:end], conditions, **options)
    if state.num_processes == 1:
        return mine
    payload = json.dumps([[_record(r) for r in ranked] for ranked in mine]).encode("utf-8")
    shares = [json.loads(part) for part in _all_gather_bytes(payload, _collective_device(state))]
    return [[_ranked(item.text, record)
             for item, record in zip(texts, [r for share in shares for r in share[c]], strict=True)]
            for c in range(len(conditions))]


def _record(ranked: RankedText) -> dict:
    return {"starts": ranked.starts.tolist(), "ends": ranked.ends.tolist(), "ranks": ranked.ranks.tolist(),
            "fields": None if ranked.fields is None else list(ranked.fields)}


def _ranked(text: str, record: dict) -> RankedText:
    return RankedText(text, np.asarray(record["starts"], dtype=np.int64), np.asarray(record["ends"], dtype=np.int64),
                      np.asarray(record["ranks"], dtype=np.int64), record["fields"])


def _collective_device(state) -> torch.device:
    """Where the group's tensors must live: the GPU for NCCL, the CPU for gloo."""
    return torch.device(state.device) if dist.get_backend() == "nccl" else torch.device("cpu")


def _all_gather_bytes(payload: bytes, device: torch.device) -> list[bytes]:
    """Every process's bytes, in process order, on every process (padded to the longest)."""
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    mine = torch.zeros(longest, dtype=torch.uint8, device=device)
    mine[:len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(device)
    parts = [torch.zeros_like(mine) for _ in sizes]
    dist.all_gather(parts, mine)
    return [part[:int(s.item())].cpu().numpy().tobytes() for part, s in zip(parts, sizes, strict=True)]
