"""What the Train form holds and how it becomes a TrainConfig: plain data and rules, no widgets.

The LR multipliers are parsed by the engine's rule (``parse_lr_multipliers``), so the form accepts
exactly what ``main.py train --lr-mult`` accepts and shows the same message when it refuses.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from engine.config import TrainConfig, can_continue, parse_lr_multipliers


@dataclass(frozen=True)
class FormValues:
    """The form's widgets, read as they are (the multipliers as typed)."""

    arch: str
    size: int
    bs: int
    precompute: bool
    aug: str
    schedule: str
    cycles_mode: bool  # the Cycles radio is chosen
    epochs: int
    cycles: int
    cycle_len: int
    cycle_mult: int
    unfreeze: bool
    mult_text: str
    opt: str
    wd: float
    frozen_views: int
    tta: bool


@dataclass(frozen=True)
class FormState:
    """What the form shows besides its values: the config they make and what it allows."""

    config: TrainConfig
    mult_error: str | None = None  # the engine's message when the multipliers are refused
    running: bool = False

    @property
    def views_apply(self) -> bool:
        return views_apply(self.config, self.mult_error)


def views_apply(config: TrainConfig, mult_error: str | None = None) -> bool:
    """Cached early-layer views need the early group frozen while the rest trains on images (the
    engine's rule, ``TrainConfig.caches_frozen_layers``)."""
    return mult_error is None and dataclasses.replace(config, frozen_views=1).caches_frozen_layers()


def multiplier_error(text: str) -> str | None:
    """The engine's one-line message when ``text`` is not valid LR multipliers, else None."""
    try:
        parse_lr_multipliers(text)
    except ValueError as exc:
        return str(exc)
    return None


def config_from_form(base: TrainConfig, form: FormValues, lr: float) -> FormState:
    """``base`` with the form's settings and ``lr``; settings the form does not show (seed, threads…) are
    kept. Refused multipliers leave the defaults in the config and their message in the state."""
    error = multiplier_error(form.mult_text)
    config = dataclasses.replace(
        base,
        arch=form.arch,
        size=form.size,
        bs=form.bs,
        lr=lr,
        epochs=form.epochs,
        cycles=form.cycles if form.cycles_mode and form.schedule == "sgdr" else None,
        cycle_len=form.cycle_len,
        cycle_mult=form.cycle_mult,
        schedule=form.schedule,
        precompute=form.precompute,
        aug=form.aug,
        unfreeze=form.unfreeze,
        lr_mult=TrainConfig.lr_mult if error else parse_lr_multipliers(form.mult_text),
        tta=form.tta,
        opt=form.opt,
        wd=form.wd,
        frozen_views=0,
        weights_file=base.weights_file if form.arch == base.arch else None,  # an imported file is per network
    )
    if views_apply(config, error):
        config = dataclasses.replace(config, frozen_views=form.frozen_views)
    return FormState(config, error)


# The head's shape, which Auto chooses (engine.recipes) and the form does not show: part of the model key.
HEAD_SHAPE = ("depths", "grid", "hidden")


def with_model_head(config: TrainConfig, learner, dataset) -> TrainConfig:
    """``config`` with the head shape (HEAD_SHAPE) of the current model when it can go on with it (an Auto
    model's head takes several depths, grid-pooled, 128 wide: Continue keeps them), else the defaults.
    Cached views need the last layer's head only, so with them a new model starts."""
    default = TrainConfig()
    plain = dataclasses.replace(config, **{k: getattr(default, k) for k in HEAD_SHAPE})
    if learner is None or getattr(learner, "model", None) is None or config.frozen_views:
        return plain
    mine = dataclasses.replace(config, **{k: getattr(learner.config, k) for k in HEAD_SHAPE})
    return mine if can_continue(learner, dataset, mine) else plain


def form_lr(value) -> float | None:
    """``value`` when the form's LR field takes it (a number, 0 < LR < 100), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 < value < 100 else None


def parse_lr_text(text: str) -> float | None:
    """The learning rate typed in the form, or None when it is not one (form_lr)."""
    try:
        return form_lr(float(text.strip()))
    except ValueError:
        return None


def layer_lrs(lr: float, lr_mult) -> list[float]:
    """The LR of the early layers, later layers and head (one multiplier applies to all three)."""
    mult = list(lr_mult) * 3 if len(lr_mult) == 1 else list(lr_mult)
    return [lr * m for m in mult]
