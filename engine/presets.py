"""The recipes' names and the lesson presets' stages, without torch (engine.recipes imports torch; the
window must start without it, and the Train tab lists the recipes at start).
engine.recipes (Auto) uses these.
"""

from __future__ import annotations

from dataclasses import replace

from engine.config import TrainConfig

PRESETS = {
    "auto": "Auto, up to {budget}",
    "lesson1": "Lesson 1: fit(0.01, 3)",
    "lesson1-unfreeze": "Lesson 1 + unfreeze + SGDR",
    "custom": "Custom",
}
DEFAULT_BUDGET_S = 120.0
# Settings that say where and on what a run trains, not how: a preset keeps them from ``base``.
KEPT = ("arch", "size", "bs", "seed", "weights_file", "device", "threads", "workers")


def preset_label(name: str, budget_s: float = DEFAULT_BUDGET_S) -> str:
    minutes = budget_s / 60
    return PRESETS[name].format(budget=f"{minutes:g} min" if minutes >= 1 else f"{budget_s:g} s")


def kept(base: TrainConfig | None) -> TrainConfig:
    """Only ``base``'s data/device settings (KEPT), every other setting the default."""
    base = base or TrainConfig()
    return TrainConfig(**{k: getattr(base, k) for k in KEPT})


def preset_configs(name: str, base: TrainConfig | None = None) -> list[TrainConfig]:
    """The stages of a lesson preset, keeping ``base``'s data/device settings (KEPT).

    "lesson1": fit(0.01, 3) on precomputed activations — exactly ``train --precompute --lr 0.01
    --epochs 3``. "lesson1-unfreeze": then augmentation on the images, 3 cycles of 1 epoch, then
    unfrozen with differential LRs, 3 SGDR cycles from 1 epoch doubling (the lesson's sequence).
    """
    start = replace(kept(base), precompute=True, lr=0.01, epochs=3)
    if name == "lesson1":
        return [start]
    if name == "lesson1-unfreeze":
        aug = replace(start, precompute=False, aug="side_on", cycles=3, cycle_len=1)
        deep = replace(aug, unfreeze=True, lr_mult=(0.01, 0.1, 1.0), cycle_mult=2)
        return [start, aug, deep]
    raise ValueError(f"unknown recipe '{name}' (choose {', '.join(n for n in PRESETS if n != 'custom')})")
