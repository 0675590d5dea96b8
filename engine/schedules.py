"""Learning-rate schedules and epoch arithmetic: SGDR, one-cycle, constant; batches per epoch;
the lesson's two-stage recipe. No torch: the window draws the planned schedule with these."""

from __future__ import annotations

import math
from dataclasses import replace

from engine.config import WARMUP_FRACTION, TrainConfig


def sgdr_schedule(lr: float, iters_per_epoch: int, cycles: int, cycle_len: int = 1, cycle_mult: int = 1) -> list[float]:
    """SGDR (Loshchilov & Hutter) learning rates, one per iteration.

    Cycle c lasts n_c = cycle_len · cycle_mult^c epochs; at step t of it
    lr_t = lr/2 · (1 + cos(π t / n_c)), restarting at lr. The first w = ⌈n_0/20⌉ steps
    are a warm-up: lr_t × (0.01 + 0.99 t/w).
    """
    out: list[float] = []
    first = cycle_len * iters_per_epoch
    warm = max(1, math.ceil(first * WARMUP_FRACTION))
    for c in range(cycles):
        n = cycle_len * cycle_mult**c * iters_per_epoch
        for t in range(n):
            value = lr / 2 * (1 + math.cos(math.pi * t / n))
            if c == 0 and t < warm:
                value *= 0.01 + 0.99 * t / warm
            out.append(value)
    return out


def one_cycle_schedule(
    lr: float, total: int, pct_start: float = 0.25, div: float = 25.0, final_div: float = 1e4
) -> list[float]:
    """Leslie Smith's 1cycle: cosine up from lr/div to lr over pct_start, then down to lr/final_div."""
    up = max(1, int(round(total * pct_start)))
    out = []
    for t in range(total):
        if t < up:
            a, b, p = lr / div, lr, t / up
        else:
            a, b, p = lr, lr / final_div, (t - up) / max(1, total - up - 1)
        out.append(b + (a - b) / 2 * (1 + math.cos(math.pi * p)))
    return out


def planned_schedule(config: TrainConfig, iters_per_epoch: int) -> list[float]:
    """The LR of every iteration of a fit with ``config`` (head group; other groups × lr_mult)."""
    total = config.total_epochs() * iters_per_epoch
    if config.schedule == "constant":
        return [float(config.lr)] * total
    if config.schedule == "one_cycle":
        return one_cycle_schedule(config.lr, total)
    if config.cycles is None:  # one cosine over all epochs
        return sgdr_schedule(config.lr, iters_per_epoch, 1, int(config.epochs), 1)
    return sgdr_schedule(config.lr, iters_per_epoch, int(config.cycles), int(config.cycle_len), int(config.cycle_mult))


def batch_count(n: int, bs: int) -> int:
    """Batches per epoch: a last batch of a single image joins the one before (BatchNorm needs 2)."""
    if n < 2:
        return 0
    full, rest = divmod(n, bs)
    return max(1, full + (1 if rest >= 2 else 0))


def batch_slices(n: int, bs: int) -> list[slice]:
    count = batch_count(n, bs)
    out = [slice(i * bs, min(n, (i + 1) * bs)) for i in range(count)]
    if out and out[-1].stop < n:
        out[-1] = slice(out[-1].start, n)
    return out


def staged_configs(config: TrainConfig, head_epochs: int | None = None) -> list[TrainConfig]:
    """The lesson's recipe as fits: with precompute plus augmentation or unfreeze, first train
    the head on precomputed features (``head_epochs``, default: the same schedule), then the
    same model with precompute off."""
    if not config.precompute or (config.aug == "none" and not config.unfreeze):
        return [config]
    head = replace(config, aug="none", unfreeze=False, tta=False)
    if head_epochs is not None:
        head = replace(head, cycles=None, epochs=int(head_epochs))
    return [head, replace(config, precompute=False)]
