"""One fit, step by step: a training step, an epoch (then validation), the final metrics.

``engine.training.Learner.fit`` drives these; they read and update the learner they are given.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from engine.compute import is_oom, oom_message
from engine.frozen_layers import FrozenActivations
from engine.jobs import check
from engine.records import BatchRecord, EpochRecord
from engine.run_rules import DivergenceGuard
from engine.validation import validate


@dataclass
class Fit:
    """One fit in progress: what trains, how, and how far it got."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    mults: list[float]
    lrs: list[float]
    iters_per_epoch: int
    epochs: int
    frozen: FrozenActivations | None
    iteration: int = 0
    history: list[dict] = field(default_factory=list)
    guard: DivergenceGuard | None = None  # made at the first step (it needs the class count)


def train_step(learner, fit: Fit, x: Tensor, y: Tensor) -> BatchRecord:
    lr = fit.lrs[min(fit.iteration, len(fit.lrs) - 1)]
    for group, mult in zip(fit.optimizer.param_groups, fit.mults, strict=False):
        group["lr"] = lr * mult
    try:
        loss = learner.step(fit.module, fit.optimizer, x, y)
    except Exception as exc:
        if is_oom(exc):
            fit.optimizer.zero_grad(set_to_none=True)
            if learner.device.type == "cuda":
                torch.cuda.empty_cache()
            raise RuntimeError(oom_message(learner.config)) from None
        raise
    if fit.guard is None:
        fit.guard = DivergenceGuard(len(learner.dataset.classes))
    fit.guard.check(loss, lr, fit.iteration)  # raises engine.run_rules.Diverged in this very batch
    fit.iteration += 1
    it = fit.iteration
    return {"type": "batch", "epoch": it / fit.iters_per_epoch, "iteration": it - 1, "loss": loss, "lr": lr}


def train_epoch(learner, fit: Fit, epoch: int, stop=None) -> Generator[BatchRecord, None, EpochRecord]:
    """Job part: one epoch of training, then validation; returns the epoch record."""
    t0 = time.perf_counter()
    rng = np.random.default_rng([learner.config.seed, learner.fits, epoch])
    learner.train_mode(fit.module)
    losses = []
    for x, y in learner.epoch_batches(fit, rng, epoch, stop):
        check(stop)
        record = train_step(learner, fit, x, y)
        losses.append(record["loss"])
        yield record
    check(stop)
    valid_loss, accuracy = validate(learner, stop, fit.frozen, fit.module)
    return {
        "type": "epoch",
        "epoch": epoch + 1,
        "train_loss": float(np.mean(losses)) if losses else float("nan"),
        "valid_loss": valid_loss,
        "accuracy": accuracy,
        "seconds": time.perf_counter() - t0,
    }


def fit_result(learner, fit: Fit, start: float, stop=None):
    """Job part: the fit's final metrics (with TTA when asked)."""
    last = fit.history[-1]
    result = {
        "accuracy": last["accuracy"],
        "valid_loss": last["valid_loss"],
        "train_loss": last["train_loss"],
        "history": fit.history,
        "epochs": fit.epochs,
        "iterations": fit.iteration,
        "tta": False,
    }
    if learner.config.tta:
        ev = yield from learner.evaluate(tta=True, stop=stop)
        result.update(
            accuracy=float(ev.accuracy), valid_loss=float(ev.loss), tta=True, accuracy_without_tta=last["accuracy"]
        )
    result["seconds"] = time.perf_counter() - start
    learner.metrics = {k: v for k, v in result.items() if k != "history"}
    return result


def make_optimizer(model: nn.Module, config) -> torch.optim.Optimizer:
    """One optimizer over the model's three layer groups (frozen ones carry no gradients): ``config.opt``
    ("adamw" or SGD with momentum), its LR and weight decay."""
    groups = [{"params": [p for m in g for p in m.parameters()]} for g in model.layer_groups()]
    # foreach (multi-tensor) updates on every device: on a CPU torch would loop over the parameters
    # in Python, holding the GIL the window needs (AdamW over the whole network: 24 → 14 ms a step)
    if config.opt == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99), weight_decay=config.wd, foreach=True)
    return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, weight_decay=config.wd, foreach=True)
