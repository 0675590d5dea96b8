"""Validation loss and accuracy during training, on whatever the model trains from: cached
features, cached early-layer activations, or the images (always without augmentation)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.features import fast_inference_copy
from engine.schedules import batch_slices


def _score(out: torch.Tensor, y: torch.Tensor) -> tuple[float, int, int]:
    out = out.float()
    return float(F.cross_entropy(out, y, reduction="sum")), int((out.argmax(1) == y).sum()), len(y)


def _on_features(head, fs, device, share):
    xs, ys = fs.x[share[0] :: share[1]], fs.y[share[0] :: share[1]]
    for sl in batch_slices(len(ys), 512) or [slice(0, len(ys))]:
        x, y = xs[sl].to(device), ys[sl].to(device)
        if len(y):
            yield _score(head(x), y)


def _on_frozen(late, frozen, device, share):
    # the late layers as they are now, BN folded: about half the time of the module
    _, size, _, ch = frozen.valid.shape  # square: the crops are
    fast = fast_inference_copy(late, device, size, ch)
    xs, ys = frozen.valid[share[0] :: share[1]], frozen.valid_y[share[0] :: share[1]]
    n = len(ys)
    for sl in batch_slices(n, 256) or [slice(0, n)]:
        x = xs[sl].to(device).permute(0, 3, 1, 2)
        y = ys[sl].to(device)
        if len(y):
            yield _score(fast(x), y)


def _on_images(model, loader, bs: int, size: int, device, channels_last: bool, stop, share):
    order = np.arange(share[0], len(loader.items), share[1])
    m = len(order)
    step = max(int(bs), 64)
    slices = [slice(i, min(m, i + step)) for i in range(0, m, step)]
    fast = fast_inference_copy(model, device, min(64, int(size)))
    for x, y in loader.iterate(order, slices, stop, channels_last=channels_last):
        yield _score(fast(x), y)


def validate(learner, stop=None, frozen=None, late=None) -> tuple[float, float]:
    """(valid loss, accuracy) of ``learner``'s current model: on the cached valid features with
    precompute, on the cached early activations when ``frozen`` is given (``late``: the layers after
    them), else on the valid images. With several processes, each scores its share and the sums are
    added up over all of them (the learner's begin/end_validation)."""
    model, config, device, amp = learner.model, learner.config, learner.device, learner.amp
    was = model.training
    model.eval()
    share = learner.begin_validation()
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            if config.precompute and "valid" in learner.features:
                parts = _on_features(model.head[1:], learner.features["valid"], device, share)
            elif frozen is not None:
                parts = _on_frozen(late, frozen, device, share)
            else:
                loader = learner.image_loader("valid")
                parts = _on_images(model, loader, config.bs, config.size, device, learner.channels_last, stop, share)
            totals = np.array([0.0, 0, 0])
            for part in parts:
                totals += part
    finally:
        model.train(was)
    loss, correct, n = learner.end_validation(totals)
    if n == 0:
        return float("nan"), float("nan")
    return float(loss / n), float(correct / n)
