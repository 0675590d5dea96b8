"""Learning-rate curves as numbers: loss smoothing, the LR suggestions and how an LR is written.

numpy only (no torch), so the window can import it at start-up; the LR finder job, the
training charts and the CLI all use these, so each rule exists once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine.config import MAX_LR_FIND_ITERS

DEFAULT_START, DEFAULT_END, DEFAULT_ITERS = 1e-7, 10.0, 100
MODES = ("exp", "linear")
SMOOTH_BETA = 0.98  # fastai's: the LR finder's curve and the training charts' smoothed loss


def lr_schedule(
    start: float = DEFAULT_START, end: float = DEFAULT_END, iters: int = DEFAULT_ITERS, mode: str = "exp"
) -> list[float]:
    """The LR at every iteration of a range test: exponential (even steps on a log scale) or linear."""
    start, end, iters = float(start), float(end), int(iters)
    if mode not in MODES:
        raise ValueError(f"unknown LR schedule '{mode}' (choose exp or linear)")
    if not 1 <= iters <= MAX_LR_FIND_ITERS:
        raise ValueError(f"the LR test takes 1 to {MAX_LR_FIND_ITERS:,} iterations (got {iters:,})")
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


class LossSmoother:
    """Debiased exponential moving average, one value at a time: early values are not pulled to 0,
    and a non-finite value is skipped without resetting the average."""

    def __init__(self, beta: float = SMOOTH_BETA):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"smoothing beta must be in [0, 1) (got {beta})")
        self.beta, self._avg, self._n = float(beta), 0.0, 0

    def update(self, value: float) -> float:
        """Add one loss; return the smoothed loss so far (NaN until a finite value arrived)."""
        if math.isfinite(value):
            self._avg = self.beta * self._avg + (1.0 - self.beta) * float(value)
            self._n += 1
        return self._avg / (1.0 - self.beta**self._n) if self._n else math.nan


def smooth_losses(values, beta: float = SMOOTH_BETA) -> np.ndarray:
    """The debiased moving average of a whole loss series (see ``LossSmoother``)."""
    smoother = LossSmoother(beta)
    return np.array([smoother.update(float(v)) for v in values], dtype=float)


def round_lr(lr: float) -> float:
    """Three significant digits: what a label shows is exactly what training gets."""
    return float(f"{lr:.3g}")


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
    first = np.arange(n)  # where the descent ending at i begins
    for i in range(1, n):
        lower = np.nonzero(y[:i] > y[i])[0]
        if len(lower):
            j = lower[np.argmax(length[lower])]
            length[i] = length[j] + 1
            first[i] = first[j]
    end = int(np.argmax(length))  # earliest among the longest
    if length[end] < 2:
        return None  # the loss never went down
    begin = int(first[end])
    return float(x[begin + (end - begin) // 2])


def suggest_min_div10(lrs, losses) -> float | None:
    """The LR of the lowest loss divided by 10 (the lesson's rule of thumb)."""
    x, y = _clean(lrs, losses)
    if len(y) < 2 or _is_flat(y):
        return None
    i = int(np.argmin(y))
    if i == 0:
        return None  # lowest at the very start: the loss never fell
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
        return None  # too short, flat, or the loss never fell
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
    x, y = x[skip_start : n - skip_end], y[skip_start : n - skip_end]
    out = {}
    for name, fn in SUGGESTERS.items():
        out[name] = fn(x, y)
    return out
