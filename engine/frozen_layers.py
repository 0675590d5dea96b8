"""Cached activations of the frozen early layers (``TrainConfig.frozen_views``).

With the early layer group kept frozen (LR multiplier 0) and precompute off, that group runs once per
training image and view — the image, its mirror, random augmented copies — and once per valid image;
the late layers then train on the cached activations, each epoch on one view per image.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from engine.batches import augment_batch
from engine.config import FROZEN_CACHE_BYTES, TrainConfig
from engine.features import fast_inference_copy, forward_batch_size, weights_fingerprint
from engine.jobs import check
from engine.schedules import batch_slices


@dataclass
class FrozenActivations:
    """Outputs of the frozen early layer group, cached so the late layers train without running it."""

    key: tuple  # what they were computed from (model, early weights, aug, views, seed)
    train: Tensor  # (views, N, H, W, C) float16: view v of training image i is train[v, i]
    train_y: Tensor  # (N,) int64
    valid: Tensor  # (M, H, W, C) float32 (validation must match the model on the images)
    valid_y: Tensor  # (M,) int64
    views: int  # views cached (fewer than asked when RAM would not hold them)


class FrozenPrefix(nn.Module):
    """Frozen leading layers (an inference copy, run without autograd) followed by trainable ones."""

    def __init__(self, prefix: nn.Module, rest: nn.Module):
        super().__init__()
        self.prefix, self.rest = prefix.requires_grad_(False), rest

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            h = self.prefix(x)
        return self.rest(h)

    def train(self, mode: bool = True) -> FrozenPrefix:
        super().train(mode)
        self.prefix.eval()
        return self


def early_group(model) -> nn.Module:
    return nn.Sequential(*model.layer_groups()[0])


def frozen_key(model, built_for: tuple, config: TrainConfig) -> tuple:
    """What cached activations depend on: the model, the early weights, aug, views and seed."""
    c = config
    return (built_for, weights_fingerprint(early_group(model)), c.aug, int(c.frozen_views), int(c.seed))


def _views_that_fit(config: TrainConfig, per_image: int, n_train: int, n_valid: int) -> int:
    budget = FROZEN_CACHE_BYTES - n_valid * per_image * 4
    views = 1 if config.aug == "none" else int(config.frozen_views)
    return min(views, max(0, budget) // max(1, n_train * per_image * 2))


def _view(x: Tensor, v: int, aug: str, gen: torch.Generator) -> Tensor:
    if v == 0:
        return x
    if v == 1:  # the mirror image: the most useful view for photos
        return x.flip(3).contiguous(memory_format=torch.channels_last)
    return augment_batch(x, aug, gen).contiguous(memory_format=torch.channels_last)


def _cache_split(early, loader, split: str, n: int, views: int, dtype, shape, config, device, gen, stop):
    """Job part: run ``early`` over one split in ``views`` views; returns (activations, labels)."""
    h, w, ch = shape
    buf = torch.empty((views, n, h, w, ch), dtype=dtype)
    labels = torch.empty(n, dtype=torch.int64)
    rows, total = 0, n * views
    yield {"type": "precompute", "split": split, "done": 0, "total": total, "stage": "frozen"}
    bs = forward_batch_size(device)
    with torch.inference_mode():
        for x, y in loader.iterate(np.arange(n), batch_slices(n, bs) or [slice(0, n)], stop, channels_last=True):
            check(stop)
            k = len(y)
            for v in range(views):
                # channels-last (N, C, H, W) is (N, H, W, C) in memory: copied as is
                buf[v, rows : rows + k] = early(_view(x, v, config.aug, gen)).permute(0, 2, 3, 1).to("cpu", dtype)
            labels[rows : rows + k] = y.cpu()
            rows += k
            yield {"type": "precompute", "split": split, "done": rows * views, "total": total, "stage": "frozen"}
    return buf[:, :rows], labels[:rows]


def cache_frozen_layers(
    model,
    key: tuple,
    config: TrainConfig,
    device: torch.device,
    counts: tuple[int, int],
    loader_for: Callable[[str], object],
    stop: threading.Event | None = None,
):
    """Job: run the frozen early group over every training image in each view and every valid image.

    ``counts``: (train images, valid images); ``loader_for(split)``: an engine.batches.ImageBatches.
    Yields precompute records with ``stage="frozen"``; returns the FrozenActivations, or None when not
    even one view fits in FROZEN_CACHE_BYTES (then the frozen layers run on every batch)."""
    size = int(config.size)
    early = fast_inference_copy(early_group(model), device, min(64, size))
    with torch.inference_mode():
        probe = early(torch.zeros(1, 3, size, size, device=device).contiguous(memory_format=torch.channels_last))
    _, ch, h, w = probe.shape
    n_train, n_valid = counts
    views = _views_that_fit(config, ch * h * w, n_train, n_valid)
    if views < 1:
        return None
    gen = torch.Generator().manual_seed(config.seed * 7919 + 101)
    out = {}
    try:
        for split, n, v_count, dtype in (
            ("train", n_train, views, torch.float16),
            ("valid", n_valid, 1, torch.float32),
        ):
            out[split] = yield from _cache_split(
                early, loader_for(split), split, n, v_count, dtype, (h, w, ch), config, device, gen, stop
            )
    finally:
        del early
    return FrozenActivations(key, out["train"][0], out["train"][1], out["valid"][0][0], out["valid"][1], views)


def frozen_batches(
    frozen: FrozenActivations, bs: int, rng: np.random.Generator, device: torch.device, order=None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Shuffled batches of cached early activations, each image in one randomly chosen view;
    ``order``: the images to use, in order (default: all of them, shuffled by ``rng``)."""
    n = frozen.train.shape[1]
    order = torch.from_numpy(rng.permutation(n) if order is None else np.asarray(order))
    views = torch.from_numpy(rng.integers(frozen.train.shape[0], size=n))
    for sl in batch_slices(len(order), int(bs)):
        idx = order[sl]
        x = frozen.train[views[idx], idx].to(device, non_blocking=True)
        # (B, H, W, C) → channels-last (B, C, H, W) without a copy; float32 for training
        yield x.permute(0, 3, 1, 2).float(), frozen.train_y[idx].to(device)
