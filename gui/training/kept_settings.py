"""The Train tab's choices kept across restarts: the recipe, Auto's budget and the form's settings (Custom),
as one JSON value in the window's QSettings.

Only what the form shows is kept (not the head's shape, which follows the current model, nor seeds or
threads, which the form does not set). What is read back is checked as a run's settings are: a value of
the wrong type, or an LR the form's field refuses, is dropped; settings that cannot train, an unknown
recipe, or a value too long to be ours give the defaults, so a damaged or hand-edited file never stops
the window from opening. Auto's budget comes back in the chooser's steps (BUDGET_STEP_S).
"""

from __future__ import annotations

import json
import math

from engine.config import ARCHITECTURES, TrainConfig, config_dict, config_from_dict
from gui.training.recipes import BUDGET_STEP_S, MAX_BUDGET_S, MIN_BUDGET_S, RECIPES, Recipe
from gui.training.settings import form_lr

KEY = "train/settings"
MAX_CHARS = 4096  # what we write is under 600 characters
FORM_KEYS = (
    "arch", "size", "bs", "lr", "epochs", "cycles", "cycle_len", "cycle_mult", "schedule", "precompute",
    "aug", "unfreeze", "lr_mult", "opt", "wd", "frozen_views", "tta",
)  # fmt: skip


def kept_data(config: TrainConfig, recipe: Recipe) -> dict:
    form = config_dict(config)
    return {"recipe": recipe.name, "budget_s": recipe.budget_s, "config": {k: form[k] for k in FORM_KEYS}}


def _same_kind(value, default) -> bool:
    """Whether a read value can stand where the dataclass default stands (JSON has no tuples or int/float split)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)) or default is None:  # cycles: None or a count
        return value is None or (isinstance(value, (int, float)) and math.isfinite(value))
    if isinstance(default, tuple):
        return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return isinstance(value, type(default))


def config_from_kept(data) -> TrainConfig | None:
    """The form's settings read back, or None when they cannot train (the defaults then)."""
    if not isinstance(data, dict):
        return None
    default = config_dict(TrainConfig())
    kept = {k: data[k] for k in FORM_KEYS if k in data and _same_kind(data[k], default[k])}
    if "lr" in kept and form_lr(kept["lr"]) is None:
        del kept["lr"]
    for name in ("size", "bs", "epochs", "cycle_len", "cycle_mult", "frozen_views", "cycles"):
        if isinstance(kept.get(name), float):
            kept[name] = int(kept[name]) if kept[name].is_integer() else default[name]
    try:
        config = config_from_dict(kept)
        config.check()
    except (TypeError, ValueError):
        return None
    return config if config.arch in ARCHITECTURES else None


def recipe_from_kept(data) -> Recipe | None:
    name, budget = data.get("recipe"), data.get("budget_s")
    if name not in RECIPES or isinstance(budget, bool) or not isinstance(budget, (int, float)):
        return None
    if not MIN_BUDGET_S <= budget <= MAX_BUDGET_S:
        return None
    return Recipe(name, round(budget / BUDGET_STEP_S) * BUDGET_STEP_S)  # the range's ends are whole steps


class KeptSettings:
    """Reads and writes the Train tab's choices in ``settings`` (a QSettings, or None: nothing is kept)."""

    def __init__(self, settings=None):
        self.settings = settings

    def load(self) -> tuple[TrainConfig | None, Recipe | None]:
        """(form settings, recipe) as last kept; None for each part that is missing or unusable."""
        if self.settings is None:
            return None, None
        text = str(self.settings.value(KEY, "") or "{}")
        try:
            data = json.loads(text) if len(text) <= MAX_CHARS else None
        except (ValueError, TypeError, RecursionError):
            return None, None
        if not isinstance(data, dict):
            return None, None
        return config_from_kept(data.get("config")), recipe_from_kept(data)

    def save(self, config: TrainConfig, recipe: Recipe) -> None:
        if self.settings is not None:
            self.settings.setValue(KEY, json.dumps(kept_data(config, recipe)))
