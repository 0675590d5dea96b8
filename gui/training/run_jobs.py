"""The Train tab's run as a job, and the words for its outcome (no widgets).

``fit_job`` is ``engine.run_training.train_run`` — every run from the window is recorded in the run
store — with the two outcomes the tab acts on returned as values instead of raised: pretrained
weights missing (offer the import) and divergence (the engine has put the previous model back).
"""

from __future__ import annotations


class WeightsMissing:
    """What the fit job returns instead of raising when pretrained weights are missing."""

    def __init__(self, arch: str, message: str):
        self.arch, self.message = arch, message


class DivergedRun:
    """What the fit job returns when the loss blew up (engine.run_rules.Diverged): the run is stored as
    diverged and the model from before it is current again."""

    def __init__(self, message: str):
        self.message = message


def fit_job(learner, store, configs=None, stop=None):
    """``train_run(learner, store, configs)`` as a job (``configs``: its stages, default the learner's
    config); missing weights and divergence come back as values."""
    from engine.models import WeightsUnavailable
    from engine.run_rules import Diverged
    from engine.run_training import train_run

    try:
        return (yield from train_run(learner, store, configs, stop=stop))
    except WeightsUnavailable as exc:
        return WeightsMissing(exc.arch, str(exc))
    except Diverged as exc:
        return DivergedRun(str(exc))


def start_text(continues: bool, processes: int = 1) -> str:
    """The Start button's words: Continue when the current model goes on, else Start."""
    words = "Continue training" if continues else "Start training"
    return f"{words} ({processes} processes)" if processes > 1 else words


def result_parts(result: dict) -> list[str]:
    """The final metrics as the status line says them."""
    parts = []
    acc, vloss = result.get("accuracy"), result.get("valid_loss")
    if isinstance(acc, (int, float)):
        parts.append(f"accuracy {100 * acc:.1f} %")
        if result.get("tta") and isinstance(result.get("accuracy_without_tta"), (int, float)):
            parts[-1] += f" with TTA (without: {100 * result['accuracy_without_tta']:.1f} %)"
    if isinstance(vloss, (int, float)):
        parts.append(f"valid loss {vloss:.4f}")
    return parts
