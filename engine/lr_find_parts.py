"""What the LR finder trains for a Learner (engine.lr_finder): the module, the learner's optimizer, the
layer groups' LR multipliers, the loss and an endless stream of shuffled training batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.batches import feature_batches


@dataclass
class LRFindParts:
    module: nn.Module  # what the LR test trains (head on features, or the whole model)
    optimizer: torch.optim.Optimizer  # the learner's real optimizer (the finder restores its state)
    lr_mults: list[float]  # one per optimizer.param_groups: group lr = lr * mult
    loss_fn: Callable  # loss_fn(module(x), y) -> scalar tensor
    batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]  # endless shuffled train batches, on device
    iters_per_epoch: int


def lr_find_parts(learner) -> LRFindParts:
    """``learner``'s parts for the LR finder, after ``learner.prepare()``."""
    if learner.model is None:
        raise ValueError("prepare the learner first (build the model / precompute)")
    config = learner.config
    learner._apply_freeze()
    opt = learner._ensure_optimizer()
    module = learner._trainable()
    if config.precompute and "train" not in learner.features:
        raise ValueError("precompute is on but the features are not computed yet: run prepare() first")
    seed = [config.seed, 7919]

    def batches():
        rng = np.random.default_rng(seed)
        epoch = 0
        while True:
            got = False
            source = (
                feature_batches(learner.features["train"], config.bs, rng, learner.device)
                if config.precompute
                else learner._image_batches(rng, config.seed * 7919 + epoch)
            )
            for x, y in source:
                got = True
                yield x, y
            if not got:
                raise ValueError("no usable training images")
            epoch += 1

    def loss_fn(out, y):
        return F.cross_entropy(out.float(), y, label_smoothing=config.label_smoothing)

    return LRFindParts(
        module=module,
        optimizer=opt,
        lr_mults=learner._lr_mults(),
        loss_fn=loss_fn,
        batches=batches,
        iters_per_epoch=learner.iters_per_epoch(),
    )
