"""The learning-rate range test (Leslie Smith; fastai's ``lr_find``) as an engine job.

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
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from engine.jobs import check
from engine.lr_curves import (
    DEFAULT_END,
    DEFAULT_ITERS,
    DEFAULT_START,
    SMOOTH_BETA,
    LossSmoother,
    default_iters,
    lr_schedule,
    suggest_all,
)
from engine.state_copy import clone_state

# ---------------------------------------------------------------- range test


def lr_range_test(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    batches: Callable[[], Iterator] | Iterable,
    start: float = DEFAULT_START,
    end: float = DEFAULT_END,
    iters: int | None = DEFAULT_ITERS,
    mode: str = "exp",
    beta: float = SMOOTH_BETA,
    diverge: float = 4.0,
    lr_mults: Sequence[float] | None = None,
    stop: threading.Event | None = None,
    iters_per_epoch: int | None = None,
    seed: int | None = None,
):
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
    smoother = LossSmoother(beta)

    # Copies: state_dict() returns live tensors that training would overwrite.
    saved_model = clone_state(module.state_dict())
    saved_optim = clone_state(optimizer.state_dict())
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
        best = math.inf
        for i, lr in enumerate(schedule):
            check(stop)
            for group, mult in zip(groups, mults, strict=False):
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
            smooth = smoother.update(value)
            lrs.append(lr)
            losses.append(value)
            smoothed.append(smooth)
            yield {
                "type": "lr_find",
                "iteration": i,
                "total": len(schedule),
                "lr": lr,
                "loss": value,
                "smoothed": smooth,
            }
            if not math.isfinite(smooth) or (i > 0 and smooth > diverge * best):
                stopped = "diverged"
                break
            best = min(best, smooth)
        return {"lrs": lrs, "losses": losses, "smoothed": smoothed, "stopped": stopped}
    finally:
        with torch.no_grad():
            module.load_state_dict(saved_model)
            for p, g in zip(module.parameters(), saved_grads, strict=False):
                p.grad = g
        # Also restores every group's hyper-parameters (lr, momentum…) that the test overwrote.
        optimizer.load_state_dict(saved_optim)
        for m, mode_ in saved_modes:
            m.training = mode_
        torch.set_rng_state(saved_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


# ---------------------------------------------------------------- job


def lr_find_job(
    learner,
    start: float = DEFAULT_START,
    end: float = DEFAULT_END,
    iters: int | None = DEFAULT_ITERS,
    mode: str = "exp",
    stop: threading.Event | None = None,
    diverge: float = 4.0,
):
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
        result = yield from lr_range_test(
            module,
            optimizer,
            parts.loss_fn,
            parts.batches,
            start=start,
            end=end,
            iters=iters,
            mode=mode,
            lr_mults=parts.lr_mults,
            stop=stop,
            diverge=diverge,
            iters_per_epoch=parts.iters_per_epoch,
            seed=getattr(learner.config, "seed", 0),
        )
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
        from engine.compute import compute_threads
    except ImportError:
        return torch.get_num_threads()
    return compute_threads(getattr(config, "threads", None))
