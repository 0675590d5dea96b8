"""The learning-rate range test (Leslie Smith; fastai's ``lr_find``) and LR suggestions.

The test trains for a few iterations while the learning rate grows from tiny to huge,
recording the loss at each step. Where the loss is still falling clearly is a good
learning rate. The model and optimizer are put back exactly as they were afterwards,
whatever happens (done, diverged, cancelled, failed).
"""
from __future__ import annotations

import copy
import math
import threading
import time
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from engine.jobs import check

DEFAULT_START, DEFAULT_END, DEFAULT_ITERS = 1e-7, 10.0, 100
MODES = ("exp", "linear")


# ---------------------------------------------------------------- schedule

def lr_schedule(start: float = DEFAULT_START, end: float = DEFAULT_END, iters: int = DEFAULT_ITERS,
                mode: str = "exp") -> list[float]:
    """The LR at every iteration of a range test: exponential (even steps on a log scale) or linear."""
    start, end, iters = float(start), float(end), int(iters)
    if mode not in MODES:
        raise ValueError(f"unknown LR schedule '{mode}' (choose exp or linear)")
    if iters < 1:
        raise ValueError(f"the LR test needs at least 1 iteration (got {iters})")
    if not (math.isfinite(start) and math.isfinite(end)) or start <= 0 or end <= 0:
        raise ValueError(f"LR bounds must be positive numbers (got {start:g} → {end:g})")
    if end <= start:
        raise ValueError(f"the end LR ({end:g}) must be larger than the start LR ({start:g})")
    if iters == 1:
        return [start]
    steps = np.arange(iters) / (iters - 1)
    if mode == "exp":
        lrs = start * (end / start) ** steps
    else:
        lrs = start + (end - start) * steps
    return [float(v) for v in lrs]


def default_iters(iters_per_epoch: int | None, cap: int = DEFAULT_ITERS) -> int:
    """fastai 0.7's rule: ``cap`` iterations, or one epoch when an epoch is shorter."""
    if iters_per_epoch is None or iters_per_epoch < 1:
        return cap
    return min(cap, int(iters_per_epoch))


# ---------------------------------------------------------------- range test

def lr_range_test(module: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
                  batches: Callable[[], Iterator] | Iterable, start: float = DEFAULT_START,
                  end: float = DEFAULT_END, iters: int | None = DEFAULT_ITERS, mode: str = "exp",
                  beta: float = 0.98, diverge: float = 4.0, lr_mults: Sequence[float] | None = None,
                  stop: threading.Event | None = None, iters_per_epoch: int | None = None,
                  seed: int | None = None):
    """Generator: train with a growing LR, yield one record per iteration, restore everything after.

    Yields ``{"type": "lr_find", "iteration", "total", "lr", "loss", "smoothed"}`` (plain floats) and
    returns ``{"lrs", "losses", "smoothed", "stopped"}`` where ``stopped`` is ``"end"`` or ``"diverged"``.
    ``batches``: an iterable of (x, y) or a callable returning one (endless, shuffled, on device).
    ``iters=None``: 100, or one epoch when ``iters_per_epoch`` is smaller.
    ``lr_mults``: one factor per optimizer param group (differential LRs): group lr = lr × mult.
    ``diverge``: stop once the smoothed loss exceeds this many times the best smoothed loss.
    ``seed``: seed torch's RNG (dropout masks) for the test so the same run gives the same curve.
    The weights, buffers, gradients, optimizer state and hyper-parameters, train/eval modes and
    the torch RNG are restored bit-for-bit in ``finally`` — after the end, a divergence stop,
    a cancel (``stop`` set) or an exception.
    """
    if iters is None:
        iters = default_iters(iters_per_epoch)
    schedule = lr_schedule(start, end, iters, mode)
    groups = optimizer.param_groups
    mults = [1.0] * len(groups) if lr_mults is None else [float(m) for m in lr_mults]
    if len(mults) != len(groups):
        raise ValueError(f"{len(mults)} LR multipliers for {len(groups)} parameter groups")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"smoothing beta must be in [0, 1) (got {beta})")

    # Deep copies: state_dict() returns live tensors that training would overwrite.
    saved_model = copy.deepcopy(module.state_dict())
    saved_optim = copy.deepcopy(optimizer.state_dict())
    saved_grads = [None if p.grad is None else p.grad.detach().clone() for p in module.parameters()]
    saved_modes = [(m, m.training) for m in module.modules()]
    saved_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None

    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    stopped = "end"
    try:
        if seed is not None:
            torch.default_generator.manual_seed(int(seed))
            if cuda_rng is not None:
                torch.cuda.manual_seed_all(int(seed))
        source = iter(batches() if callable(batches) else batches)
        module.train()
        avg, best = 0.0, math.inf
        for i, lr in enumerate(schedule):
            check(stop)
            for group, mult in zip(groups, mults):
                group["lr"] = lr * mult
            try:
                x, y = next(source)
            except StopIteration:
                raise ValueError(f"the batches ran out after {i} of {iters} iterations") from None
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(module(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                stopped = "diverged"
                break
            loss.backward()
            optimizer.step()
            avg = beta * avg + (1.0 - beta) * value
            smooth = avg / (1.0 - beta ** (i + 1))     # debiased: early values are not pulled to 0
            lrs.append(lr)
            losses.append(value)
            smoothed.append(smooth)
            yield {"type": "lr_find", "iteration": i, "total": len(schedule), "lr": lr,
                   "loss": value, "smoothed": smooth}
            if not math.isfinite(smooth) or (i > 0 and smooth > diverge * best):
                stopped = "diverged"
                break
            best = min(best, smooth)
        return {"lrs": lrs, "losses": losses, "smoothed": smoothed, "stopped": stopped}
    finally:
        with torch.no_grad():
            module.load_state_dict(saved_model)
            for p, g in zip(module.parameters(), saved_grads):
                p.grad = g
        # Also restores every group's hyper-parameters (lr, momentum…) that the test overwrote.
        optimizer.load_state_dict(saved_optim)
        for m, mode_ in saved_modes:
            m.training = mode_
        torch.set_rng_state(saved_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


# ---------------------------------------------------------------- suggestions

def _clean(lrs, losses) -> tuple[np.ndarray, np.ndarray]:
    """Paired float arrays, cut at the first non-finite loss or non-positive LR (the curve ended)."""
    a = np.asarray(list(lrs), dtype=float).ravel()
    b = np.asarray(list(losses), dtype=float).ravel()
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    bad = ~(np.isfinite(a) & np.isfinite(b) & (a > 0))
    if bad.any():
        n = int(np.argmax(bad))
        a, b = a[:n], b[:n]
    return a, b


def _is_flat(losses: np.ndarray) -> bool:
    span = float(losses.max() - losses.min())
    return span <= 1e-6 * max(1.0, float(np.abs(losses).max()))


def suggest_valley(lrs, losses) -> float | None:
    """The middle of the longest descent (fastai v2's "valley"): robust on noisy curves.

    Finds the longest run of ever-lower losses (a longest decreasing subsequence, so single
    noisy bumps do not break it) and suggests the LR half-way along it.
    """
    x, y = _clean(lrs, losses)
    n = len(y)
    if n < 2 or _is_flat(y):
        return None
    length = np.ones(n, dtype=int)
    first = np.arange(n)          # where the descent ending at i begins
    for i in range(1, n):
        lower = np.nonzero(y[:i] > y[i])[0]
        if len(lower):
            j = lower[np.argmax(length[lower])]
            length[i] = length[j] + 1
            first[i] = first[j]
    end = int(np.argmax(length))   # earliest among the longest
    if length[end] < 2:
        return None                # the loss never went down
    begin = int(first[end])
    return float(x[begin + (end - begin) // 2])


def suggest_min_div10(lrs, losses) -> float | None:
    """The LR of the lowest loss divided by 10 (the lesson's rule of thumb)."""
    x, y = _clean(lrs, losses)
    if len(y) < 2 or _is_flat(y):
        return None
    i = int(np.argmin(y))
    if i == 0:
        return None                # lowest at the very start: the loss never fell
    return float(x[i] / 10.0)


def suggest_steepest(lrs, losses) -> float | None:
    """Where the loss falls fastest per decade of LR (steepest negative slope on log-x)."""
    x, y = _clean(lrs, losses)
    if len(y) < 2 or _is_flat(y):
        return None
    logx = np.log10(x)
    if np.any(np.diff(logx) <= 0):
        order = np.argsort(logx, kind="stable")
        logx, x, y = logx[order], x[order], y[order]
        keep = np.concatenate([[True], np.diff(logx) > 0])
        logx, x, y = logx[keep], x[keep], y[keep]
        if len(y) < 2:
            return None
    slope = np.gradient(y, logx) if len(y) >= 3 else np.diff(y) / np.diff(logx)
    i = int(np.argmin(slope))
    if slope[i] >= 0:
        return None
    return float(x[i])


def suggest_slide(lrs, losses, window: int = 15, thresh: float = 0.005) -> float | None:
    """fastai v2's "slide" rule: slide a window leftwards from the divergent end until the
    loss slope at its two ends agrees (the curve has flattened into a stable basin); suggest
    the window's left end. Slopes are measured on losses scaled to [0, 1], so ``thresh``
    does not depend on the loss's units."""
    x, y = _clean(lrs, losses)
    n = len(y)
    if n < 4 or _is_flat(y) or int(np.argmin(y)) == 0:
        return None                # too short, flat, or the loss never fell
    window = max(2, min(int(window), n // 3))
    scaled = (y - y.min()) / (y.max() - y.min())
    grad = np.gradient(scaled)
    for right in range(n - 1, window - 1, -1):
        left = right - window
        if abs(grad[right] - grad[left]) <= thresh:
            return float(x[left])
    return None


SUGGESTERS: dict[str, Callable] = {
    "valley": suggest_valley,
    "min_div10": suggest_min_div10,
    "steepest": suggest_steepest,
    "slide": suggest_slide,
}
DEFAULT_SUGGESTION = "valley"
SUGGESTION_LABELS = {"valley": "valley", "min_div10": "min ÷ 10", "steepest": "steepest", "slide": "slide"}
# One colour per rule, shared by the app's plot and the CLI's PNG so both read the same.
SUGGESTION_COLORS = {"valley": "#2ca02c", "min_div10": "#ff7f0e", "steepest": "#d62728", "slide": "#9467bd"}


def format_lr(lr: float | None) -> str:
    """A learning rate as people write it: 0.01, 3e-4, 1.6e-2."""
    if lr is None or not math.isfinite(lr):
        return "—"
    if 1e-3 <= lr < 100:
        return f"{lr:.3g}"
    mantissa, exponent = f"{lr:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def loss_view_range(losses, smoothed) -> tuple[float, float] | None:
    """A loss-axis range that shows the whole smoothed curve without the raw explosion squashing it."""
    sm = np.asarray([v for v in smoothed if math.isfinite(v)], dtype=float)
    raw = np.asarray([v for v in losses if math.isfinite(v)], dtype=float)
    if len(sm) == 0:
        return None
    lo = float(min(sm.min(), np.percentile(raw, 2) if len(raw) else sm.min()))
    hi = float(sm.max())
    pad = 0.06 * (hi - lo) if hi > lo else max(0.05 * abs(hi), 1e-3)
    return lo - pad, hi + pad


def suggest_all(lrs, losses) -> dict[str, float | None]:
    """Every suggestion on a curve, name → LR (None where a rule finds nothing).

    Like fastai, the first tenth (nothing learnt yet) and the last few points (the explosion)
    are left out, when the curve is long enough to spare them.
    """
    x, y = _clean(lrs, losses)
    n = len(y)
    skip_start, skip_end = n // 10, 5 if n >= 20 else 0
    x, y = x[skip_start:n - skip_end], y[skip_start:n - skip_end]
    out = {}
    for name, fn in SUGGESTERS.items():
        out[name] = fn(x, y)
    return out


# ---------------------------------------------------------------- job

def lr_find_job(learner, start: float = DEFAULT_START, end: float = DEFAULT_END,
                iters: int | None = DEFAULT_ITERS, mode: str = "exp", stop: threading.Event | None = None,
                diverge: float = 4.0):
    """Job: prepare the learner (model, cached features; its records are passed on), then run the
    range test on a copy of ``learner.lr_find_parts()``'s module and optimizer.

    Returns ``{"lrs", "losses", "smoothed", "suggestions", "stopped", "iters_per_epoch", "seconds"}``.
    """
    yield from learner.prepare(stop=stop)
    check(stop)
    parts = learner.lr_find_parts()
    # Test a private copy (one deepcopy keeps the optimizer pointing at the copied parameters):
    # the learner's own model is never touched, even for the moment the test runs, so a save or
    # a prediction made meanwhile sees the real weights. lr_range_test still restores its copy.
    module, optimizer = copy.deepcopy((parts.module, parts.optimizer))
    old_threads = torch.get_num_threads()
    threads = _test_threads(learner)
    t0 = time.perf_counter()
    try:
        if threads != old_threads:
            torch.set_num_threads(threads)
        result = yield from lr_range_test(module, optimizer, parts.loss_fn, parts.batches,
                                          start=start, end=end, iters=iters, mode=mode,
                                          lr_mults=parts.lr_mults, stop=stop, diverge=diverge,
                                          iters_per_epoch=parts.iters_per_epoch,
                                          seed=getattr(learner.config, "seed", 0))
    finally:
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)
    result["seconds"] = time.perf_counter() - t0
    result["iters_per_epoch"] = int(parts.iters_per_epoch)
    result["suggestions"] = suggest_all(result["lrs"], result["smoothed"])
    return result


def _test_threads(learner) -> int:
    """CPU threads for the test. The head on cached activations is a few small matrix products per
    step: one thread is faster than several (and far faster when other work keeps the cores busy —
    6× in our bench). The whole network uses what training uses."""
    config = getattr(learner, "config", None)
    if getattr(config, "precompute", False):
        return 1
    try:
        from engine.training import compute_threads
    except ImportError:
        return torch.get_num_threads()
    return compute_threads(getattr(config, "threads", None))
