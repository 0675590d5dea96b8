"""The Train tab's recipes as plain data (no widgets): which one, its budget, what it does in words, the
stages a preset trains (engine.presets.preset_configs: the same configs as ``main.py train --recipe``),
and Auto as one job that keeps its model as one stored run (engine.recipes.record_auto).

Auto trains its head candidates one after the other, each from epoch 1: ``AutoSections`` numbers their
epochs and iterations on from the previous ones and names each section by the stage it belongs to, so
the epoch table and charts read as one run in parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import TrainConfig
from engine.lr_curves import format_lr
from engine.presets import DEFAULT_BUDGET_S, PRESETS, preset_configs, preset_label
from gui.state import AutoLRTest
from gui.training.run_jobs import DivergedRun, WeightsMissing

AUTO, CUSTOM = "auto", "custom"
# Auto's time budget as the chooser offers it: 0.5 to 120 min in steps of 0.1 min
MIN_BUDGET_S, MAX_BUDGET_S, BUDGET_STEP_S = 30.0, 120 * 60.0, 6.0
RECIPES = tuple(PRESETS)  # auto, the lesson presets, custom: the chooser's order
AUTO_NOTE = (
    "Picks the LR with a short LR test, trains the new head until validation stops improving (keeping the "
    "best epoch), and fine-tunes deeper only when the budget allows and it helps."
)


@dataclass(frozen=True)
class Recipe:
    """The chosen recipe and Auto's time budget (kept while another recipe is chosen)."""

    name: str = AUTO
    budget_s: float = DEFAULT_BUDGET_S

    @property
    def custom(self) -> bool:
        return self.name == CUSTOM

    def label(self, name: str | None = None) -> str:
        return preset_label(name or self.name, self.budget_s)


def stage_text(config: TrainConfig) -> str:
    """One preset stage in words: what trains, on what, how long, at which LR."""
    if config.unfreeze:
        what = "whole network, LR multipliers " + ", ".join(f"{m:g}" for m in config.lr_mult)
    elif config.precompute:
        what = "head on precomputed activations"
    else:
        what = "head on the images"
    if config.aug != "none":
        what += ", augmented"
    if config.cycles:
        mult = f" ×{config.cycle_mult}" if config.cycle_mult != 1 else ""
        length = f"{config.cycles} SGDR cycles of {config.cycle_len} epoch{mult} ({config.total_epochs()} epochs)"
    else:
        length = f"{config.epochs} epochs"
    return f"{what}: {length} at LR {format_lr(config.lr)}"


def recipe_note(recipe: Recipe, base: TrainConfig) -> str:
    """What the chosen recipe trains, in a few lines ("" for Custom: the form says it)."""
    if recipe.name == AUTO:
        return AUTO_NOTE
    if recipe.custom:
        return ""
    stages = preset_configs(recipe.name, base)
    return "\n".join(f"{i}. {stage_text(c)}" for i, c in enumerate(stages, 1))


def auto_job(dataset, budget_s: float, store, base: TrainConfig, stop=None):
    """Auto (engine.recipes.auto_job) as the Train tab's job: its records, then its model kept as one run
    in ``store``. Cancelled before the end: nothing is stored. Returns Auto's result with ``run`` and
    ``store_error``; missing weights and divergence come back as values (gui.training.run_jobs)."""
    from engine import recipes
    from engine.models import WeightsUnavailable
    from engine.run_rules import Diverged

    try:
        result = yield from recipes.auto_job(dataset, budget_s, stop, base=base)
    except WeightsUnavailable as exc:
        return WeightsMissing(exc.arch, str(exc))
    except Diverged as exc:
        return DivergedRun(str(exc))
    run, error = recipes.record_auto(store, result["learner"], result)
    return {**result, "run": run, "store_error": error}


def auto_summary(result: dict) -> str:
    """The status after Auto: the accuracy, then which stages ran and why the others did not."""
    acc = result.get("accuracy")
    head = f"accuracy {100 * acc:.1f} %" if isinstance(acc, (int, float)) else "done"
    parts = []
    for stage in result.get("stages", []):
        if stage.get("ran"):
            kept = stage.get("kept")
            parts.append(stage["name"] + (" (not kept)" if kept is False else ""))
        else:
            parts.append(f"{stage['name']} skipped: {stage.get('why', '')}")
    return f"Auto trained: {head} at LR {format_lr(result.get('lr') or 0)}. Stages: {'; '.join(parts)}."


def auto_lr_test(result: dict) -> AutoLRTest:
    """Auto's LR test and chosen LR as the LR finder shows them."""
    depths = result.get("depths") or []
    tested = f"head on {len(depths)} depths" if depths else "head on the last layer"
    return AutoLRTest(result["lr_test"], float(result["lr"]), tested, result["learner"].dataset)


def section_name(stage: dict) -> str:
    """A stage record as the name of the epochs it starts: "head · 5 depths", "fine-tune"."""
    name, why = stage.get("name", ""), str(stage.get("why", ""))
    return f"{name} · {why.split(':')[0]}" if name == "head" and ":" in why else name


class AutoSections:
    """Renumbers Auto's records: every fit after a stage record starts a new section whose epochs and
    iterations follow the previous section's (instead of starting at 1 and 0 again)."""

    def __init__(self):
        self.stage: dict | None = None  # the last stage record
        self.pending = False  # a stage record came: the next batch or epoch starts a section
        self.epoch0 = self.iter0 = 0  # this section's offsets
        self.epochs = self.iters = 0  # the run so far (with offsets)
        self.names: list[str] = []

    def take(self, rec: dict) -> tuple[dict, str | None]:
        """(``rec`` renumbered, the name of the section it starts or None)."""
        kind, started = rec.get("type"), None
        if kind == "stage":
            self.stage, self.pending = rec, True
            return rec, None
        if kind not in ("batch", "epoch"):
            return rec, None
        if self.pending:
            self.pending = False
            self.epoch0, self.iter0 = self.epochs, self.iters
            started = section_name(self.stage or {})
            self.names.append(started)
        rec = {**rec, "epoch": rec["epoch"] + self.epoch0}
        if kind == "batch":
            rec["iteration"] = rec["iteration"] + self.iter0
            self.iters = max(self.iters, rec["iteration"] + 1)
        else:
            self.epochs = max(self.epochs, int(rec["epoch"]))
        return rec, started
