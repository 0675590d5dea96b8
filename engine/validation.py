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


def _on_features(head, fs, device):
    for sl in batch_slices(len(fs), 512) or [slice(0, len(fs))]:
        x, y = fs.x[sl].to(device), fs.y[sl].to(device)
        if len(y):
            yield _score(head(x), y)


def _on_frozen(late, frozen, device):
    # the late layers as they are now, BN folded: about half the time of the module
    _, size, _, ch = frozen.valid.shape  # square: the crops are
    fast = fast_inference_copy(late, device, size, ch)
    n = len(frozen.valid_y)
    for sl in batch_slices(n, 256) or [slice(0, n)]:
        x = frozen.valid[sl].to(device).permute(0, 3, 1, 2)
        y = frozen.valid_y[sl].to(device)
        if len(y):
            yield _score(fast(x), y)


def _on_images(model, loader, bs: int, size: int, device, channels_last: bool, stop):
    m = len(loader.items)
    step = max(int(bs), 64)
    slices = [slice(i, min(m, i + step)) for i in range(0, m, step)]
    fast = fast_inference_copy(model, device, min(64, int(size)))
    for x, y in loader.iterate(np.arange(m), slices, stop, channels_last=channels_last):
        yield _score(fast(x), y)


def validate(learner, stop=None, frozen=None, late=None) -> tuple[float, float]:
    """(valid loss, accuracy) of ``learner``'s current model: on the cached valid features with
    precompute, on the cached early activations when ``frozen`` is given (``late``: the layers after
    them), else on the valid images."""
    model, config, device, amp = learner.model, learner.config, learner.device, learner.amp
    was = model.training
    model.eval()
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            if config.precompute and "valid" in learner.features:
                parts = _on_features(model.head[1:], learner.features["valid"], device)
            elif frozen is not None:
                parts = _on_frozen(late, frozen, device)
            else:
                loader = learner.image_loader("valid")
                parts = _on_images(model, loader, config.bs, config.size, device, learner.channels_last, stop)
            totals = np.array([0.0, 0, 0])
            for part in parts:
                totals += part
    finally:
        model.train(was)
    loss, correct, n = totals
    if n == 0:
        return float("nan"), float("nan")
    return float(loss / n), float(correct / n)
