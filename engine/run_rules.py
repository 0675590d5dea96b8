"""Rules about training runs that the window and the CLI share: when a run has diverged, which
learning rates get a warning before Start, why a new model starts, and whether a model is trained.

No torch here: the window imports this at start-up.

The divergence rule (``DivergenceGuard``), checked after every batch:
- a batch loss that is not a finite number stops the run at once;
- so does a smoothed loss (the charts' debiased moving average, β 0.98) above ``DIVERGE_FACTOR`` (4)
  times its reference: the smoothed loss after the first ``REFERENCE_BATCHES`` (3) batches, but never
  less than the loss of guessing at random, ln(number of classes) (until then, the floor alone). The factor is the LR finder's; the
  floor keeps a model that is already trained (loss 0.05) from being stopped by ordinary noise: it has
  to get 4× worse than guessing. An exploding loss (LR 10: 1e31 after a few batches) moves the
  smoothed loss past the limit in the batch where it happens.
"""

from __future__ import annotations

import math

from engine.config import MODEL_KEYS, TrainConfig, can_continue
from engine.lr_curves import LossSmoother, format_lr

DIVERGE_FACTOR = 4.0
REFERENCE_BATCHES = 3
HIGH_LR = 1.0  # at or above: warn before Start

DIVERGED_ADVICE = "Lower the learning rate (e.g. 10× smaller) or use the LR finder to choose one."


class Diverged(ValueError):
    """Training stopped because the loss blew up (see ``DivergenceGuard``)."""

    def __init__(self, iteration: int, loss: float, lr: float, limit: float | None = None):
        self.iteration, self.loss, self.lr, self.limit = int(iteration), float(loss), float(lr), limit
        if math.isfinite(loss):
            what = f"the smoothed loss rose to {loss:.4g}, far above where it started (limit {limit:.3g})"
        else:
            what = f"the loss became {loss:g}"
        super().__init__(
            f"Training diverged at iteration {iteration + 1}: {what} with learning rate {format_lr(lr)}, "
            f"which is too high. {DIVERGED_ADVICE}"
        )


class DivergenceGuard:
    """Feed every batch loss to ``check``; it raises ``Diverged`` in the batch where the rule trips."""

    def __init__(self, n_classes: int = 2, factor: float = DIVERGE_FACTOR, reference_batches: int = REFERENCE_BATCHES):
        self.floor = math.log(max(2, int(n_classes)))  # the loss of a uniform guess
        self.factor, self.reference_batches = float(factor), int(reference_batches)
        self.reference: float | None = None
        self.smoothed = math.nan
        self._smoother = LossSmoother()
        self._seen = 0

    @property
    def limit(self) -> float:
        """The smoothed loss above which the run counts as diverged."""
        return self.factor * max(self.reference if self.reference is not None else 0.0, self.floor)

    def check(self, loss: float, lr: float, iteration: int) -> None:
        if not math.isfinite(loss):
            raise Diverged(iteration, loss, lr)
        self.smoothed = self._smoother.update(loss)
        self._seen += 1
        if self.smoothed > self.limit:
            raise Diverged(iteration, self.smoothed, lr, self.limit)
        if self._seen == self.reference_batches:  # set only once it passed: an early explosion is no reference
            self.reference = self.smoothed


def lr_warning(lr: float, lr_finder_range: tuple[float, float] | None = None) -> str | None:
    """What to tell the user before Start about ``lr``, or None when it looks reasonable.

    ``lr_finder_range``: the (lowest, highest) LR the LR finder's last test actually reached on this model.
    """
    lr = float(lr)
    if lr >= HIGH_LR:
        return (
            f"A learning rate of {format_lr(lr)} is very high (1 or more): training will most likely diverge. "
            "Try 0.01, or use the LR finder."
        )
    if lr_finder_range is not None and lr > float(lr_finder_range[1]):
        return (
            f"A learning rate of {format_lr(lr)} is above what the LR finder tested (up to "
            f"{format_lr(float(lr_finder_range[1]))}): nobody knows how the loss behaves there. "
            "Choose an LR where the finder's curve still falls."
        )
    return None


_KEY_NAMES = {
    "arch": "architecture",
    "size": "image size",
    "weights_file": "pretrained weights",
    "device": "device",
    "depths": "feature depths",
    "grid": "pooling grid",
    "hidden": "head width",
}


def new_model_reason(learner, dataset, config: TrainConfig) -> str | None:
    """Why Start would begin a new model instead of continuing ``learner``, or None when it continues
    (the rule itself is ``engine.config.can_continue``; this only names what differs)."""
    if can_continue(learner, dataset, config):
        return None
    if learner is None or getattr(learner, "model", None) is None:
        return "A new model starts from the pretrained weights."
    if learner.dataset is not dataset:
        if dataset is not None and list(learner.dataset.classes) != list(dataset.classes):
            return "The classes changed: a new model starts from the pretrained weights."
        return "Another dataset is open: a new model starts from the pretrained weights."
    for key in MODEL_KEYS:
        old, new = getattr(learner.config, key), getattr(config, key)
        if old != new:
            return f"The {_KEY_NAMES[key]} changed ({old} → {new}): a new model starts from the pretrained weights."
    return "A new model starts from the pretrained weights."


def is_trained(learner) -> bool:
    """Whether ``learner``'s model has been trained (in this session, or it came from a stored run)."""
    if learner is None or getattr(learner, "model", None) is None:
        return False
    return bool(learner.history) or bool(getattr(learner, "weights_from", {}).get("epoch"))


def lr_finder_notice(learner) -> str | None:
    """What the LR finder says before testing an already trained model, or None for a fresh one."""
    if not is_trained(learner):
        return None
    came = learner.weights_from
    which = f" (run {came['run']}, epoch {came['epoch']})" if came.get("run") is not None else ""
    return (
        f"This model is already trained{which}: near a minimum the loss hardly changes with the learning "
        "rate, so the curve is flat and its suggestions mean little. Test a fresh copy from the pretrained "
        "weights instead? (This model stays as it is either way.)"
    )
