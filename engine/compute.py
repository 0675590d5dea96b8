"""How much of the machine training uses: torch CPU threads, and GPU out-of-memory as advice."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from engine.config import TrainConfig


def compute_threads(requested: int | None = None) -> int:
    """torch CPU threads: all cores, less one for the UI when there are 4 or more."""
    if requested:
        return max(1, int(requested))
    cores = os.cpu_count() or 1
    return cores - 1 if cores >= 4 else cores


@contextmanager
def torch_threads(n: int):
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def oom_message(config: TrainConfig) -> str:
    return (
        f"The GPU ran out of memory at batch size {config.bs} and {config.size} px images. "
        f"Try a smaller batch size (e.g. {max(2, config.bs // 2)}) or image size."
    )


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
