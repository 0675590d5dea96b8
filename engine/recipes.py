"""Auto, the default recipe (the lesson's presets are engine.presets, without torch).

``auto_job(learner_or_dataset, budget_s, stop)`` is Auto as one job:

1. features: pooled activations of several depths of the frozen body — max ‖ mean of each, and for
   the middle ones also the means of a ``GRID`` × ``GRID`` split of the map (where a pattern is) —
   computed once and cached (engine.features; the cache key names the depths and the grid);
2. head (``HIDDEN`` wide, on the depths side by side): a short LR test on the cached activations (the
   LR is its valley suggestion), then the head trains with early stopping (``PATIENCE`` epochs without
   a better validation score) and its best epoch is kept (the held-out data is never looked at). A
   second candidate, the head on the last layer alone, was dropped: on the 1,000-image tuning draws
   it lost by 5 to 9 points, on the built-in sample by 1, and cost a quarter of the heads' time;
3. fine-tune: the late body trains too (differential LRs, augmentation) only when the head leaves
   enough validation errors to show a gain and the time budget leaves room for it, epoch by epoch
   while it fits, and is kept only when it beats the head on validation.

It yields the usual training records plus ``{"type": "stage", "name", "why"}`` (engine.records.StageRecord)
and returns which stages ran and why, the chosen LR, depths and LR-test curve (see auto_job).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import torch

from engine.compute import compute_threads, torch_threads
from engine.config import TrainConfig
from engine.data import Dataset
from engine.lr_finder import lr_find_job
from engine.networks import multi_depths
from engine.presets import DEFAULT_BUDGET_S, kept
from engine.state_copy import cpu_state
from engine.training import Learner

MAX_HEAD_EPOCHS = 30
PATIENCE = 4  # head epochs without a better validation score before Auto stops
# the fine-tune stage runs only when the budget has room for this many epochs: recipe (b) needed 12 to
# gain on the head (README, Performance); with 3, on 2 CPU cores, it never beat the head and took the budget
FINE_TUNE_EPOCHS = 10
# ... and when the head leaves at least this many validation images wrong: with fewer, a better model
# cannot be told from noise (on the built-in sample the head misses 3 of 100; fine-tuning took 25 s)
FINE_TUNE_MIN_ERRORS = 10
# the multi-depth head also takes each middle depth's means over a GRID × GRID split of the map: where a
# pattern is (Fashion-MNIST: sleeves, collars). Validation of tuning draws 7 / 8, Auto: 2×2 85.4 / 87.0 %,
# 3×3 86.4 / 88.6 %, 4×4 88.2 / 89.6 %; a fixed 512-wide head on five depths: no grid 82.8 / 86.6 %, 2×2 86.0 / 87.4 %
GRID = 4
# Auto's heads' hidden width: on the tuning draws 128 was as good as fastai's 512 (+0.4 to +0.8 points) at
# under half its cost; a linear head (0) was 0.2 to 2 points worse
HIDDEN = 128
FALLBACK_LR = 1e-3  # when the LR test finds no valley (a flat or diverging curve)


def auto_head_config(base: TrainConfig | None = None, depths: tuple[int, ...] = (), grid: int = 0) -> TrainConfig:
    """Auto's head stage: AdamW on the precomputed activations, one cosine cycle over MAX_HEAD_EPOCHS
    (early stopping ends it sooner)."""
    return replace(
        kept(base),
        precompute=True,
        opt="adamw",
        wd=1e-2,
        epochs=MAX_HEAD_EPOCHS,
        schedule="sgdr",
        depths=depths,
        grid=grid if depths else 0,
        hidden=HIDDEN,
    )


def _stage(name: str, why: str) -> dict:
    return {"type": "stage", "name": name, "why": why}


def _score(record: dict) -> tuple[float, float]:
    """Validation score of an epoch: accuracy first, then the lower loss."""
    return (float(record["accuracy"]), -float(record["valid_loss"]))


# ---------------------------------------------------------------- stages


def fit_keeping_best(learner: Learner, stop=None, patience: int = PATIENCE, deadline: float | None = None):
    """Job: ``learner.fit()`` until validation has not improved for ``patience`` epochs (or the next
    epoch would pass ``deadline``, a perf_counter time), then the best epoch's weights are put back.
    Returns {"best": its epoch record, "epochs": epochs run, "why": why it stopped}."""
    best, best_state, since, epochs, why = None, None, 0, 0, "ran every planned epoch"
    t_last = time.perf_counter()
    gen = learner.fit(stop)
    try:
        for rec in gen:
            yield rec
            if rec.get("type") != "epoch":
                continue
            epochs += 1
            now = time.perf_counter()
            if best is None or _score(rec) > _score(best):
                best, best_state, since = rec, cpu_state(learner.model), 0
            else:
                since += 1
            if since >= patience:
                why = f"validation did not improve for {patience} epochs"
                break
            if deadline is not None and now + (now - t_last) > deadline:
                why = "the time budget would run out during the next epoch"
                break
            t_last = now
    finally:
        gen.close()
    if best_state is not None:
        learner.model.load_state_dict(best_state)
        learner.model.eval()
        learner.metrics = {k: best[k] for k in ("accuracy", "valid_loss", "train_loss")} | {"epochs": best["epoch"]}
    return {"best": best, "epochs": epochs, "why": why}


def _head_candidate(learner: Learner, stop, label: str, deadline: float | None = None):
    """Job: LR test (valley) then the head with early stopping; returns a candidate dict."""
    threads = learner.config.threads
    if learner.device.type == "cpu" and threads is None:
        # a head on cached activations is a few small matrix products a step: one thread is faster than
        # several, far faster when other work keeps the cores busy (engine.lr_finder measured 6×)
        learner.config = replace(learner.config, threads=1)
    test = yield from lr_find_job(learner, stop=stop)
    valley = test["suggestions"].get("valley")
    lr = float(valley) if valley else FALLBACK_LR
    learner.config = replace(learner.config, lr=lr)
    yield _stage(
        "head",
        f"{label}: LR {lr:.2g} from the LR test's valley" if valley else f"{label}: no valley, LR {lr:g}",
    )
    out = yield from fit_keeping_best(learner, stop, deadline=deadline)
    learner.config = replace(learner.config, threads=threads)
    return {"learner": learner, "lr": lr, "lr_test": test, "label": label, **out}


def _forward_seconds(learner: Learner) -> float:
    """Seconds of one forward pass of a training batch through the whole model (for estimates)."""
    c, model = learner.config, learner.model
    n = min(16, int(c.bs))  # a small batch, scaled: the estimate itself must not cost much
    x = torch.zeros(n, 3, int(c.size), int(c.size), device=learner.device)
    with torch.no_grad(), torch_threads(compute_threads(None)):
        model.eval()
        t0 = time.perf_counter()
        model(x.contiguous(memory_format=torch.channels_last))
        return (time.perf_counter() - t0) * int(c.bs) / n


def _fine_tune_config(win: Learner) -> TrainConfig:
    """The fine-tune stage: late body and head on augmented images, early body frozen (its outputs
    cached per view when the head takes the last layer only)."""
    c = win.config
    views = 0 if c.depths else 4
    return replace(
        c,
        precompute=False,
        unfreeze=True,
        lr_mult=(0.0, 0.1, 1.0),
        aug="side_on",
        lr=min(c.lr, 1e-3),
        frozen_views=views,
        epochs=MAX_HEAD_EPOCHS,
    )


def _fine_tune_epoch_seconds(win: Learner) -> float:
    """A rough, pessimistic estimate: forward, backward and update ≈ 3 forwards of every batch."""
    n = len(win.dataset.train) + len(win.dataset.valid) / 3
    return 3.0 * _forward_seconds(win) * n / max(1, int(win.config.bs))


def _fine_tune(win: Learner, head: dict, deadline: float, stop):
    """Job: the fine-tune stage when the budget has room for FINE_TUNE_EPOCHS; kept only when validation
    improves."""
    errors = round((1 - float(head["best"]["accuracy"])) * len(win.features.get("valid", win.dataset.valid)))
    if errors < FINE_TUNE_MIN_ERRORS:
        why = f"the head misses only {errors} validation image(s), too few to show a better model"
        yield _stage("fine-tune", f"skipped: {why}")
        return {"name": "fine-tune", "ran": False, "why": why}
    left = deadline - time.perf_counter()
    epoch_s = _fine_tune_epoch_seconds(win)
    if left < FINE_TUNE_EPOCHS * epoch_s:
        yield _stage("fine-tune", f"skipped: about {epoch_s:.0f} s an epoch, {max(0.0, left):.0f} s left of the budget")
        return {"name": "fine-tune", "ran": False, "why": "not enough time left in the budget"}
    yield _stage("fine-tune", f"about {epoch_s:.0f} s an epoch, {left:.0f} s left: the late layers train too")
    head_config, before, metrics = win.config, cpu_state(win.model), dict(win.metrics)
    win.config = _fine_tune_config(win)
    out = yield from fit_keeping_best(win, stop, patience=2, deadline=deadline)
    best = out["best"]
    if best is not None and _score(best) > _score(head["best"]):
        why = f"validation {best['accuracy']:.2%} > head's {head['best']['accuracy']:.2%}: kept ({out['why']})"
        return {"name": "fine-tune", "ran": True, "kept": True, "why": why, "epochs": out["epochs"]}
    win.model.load_state_dict(before)
    win.model.eval()
    win.config, win.metrics, win.features = head_config, metrics, {}
    got = f"{best['accuracy']:.2%}" if best else "no epoch"
    why = f"validation {got} did not beat the head's {head['best']['accuracy']:.2%}: the head's model is kept"
    yield _stage("fine-tune", why)
    return {"name": "fine-tune", "ran": True, "kept": False, "why": why, "epochs": out["epochs"]}


def _learner_from(learner_or_dataset, base: TrainConfig | None) -> tuple[Dataset, TrainConfig]:
    if isinstance(learner_or_dataset, Learner):
        return learner_or_dataset.dataset, base or learner_or_dataset.config
    return learner_or_dataset, base or TrainConfig()


def auto_job(
    learner_or_dataset,
    budget_s: float = DEFAULT_BUDGET_S,
    stop: threading.Event | None = None,
    base: TrainConfig | None = None,
    fine_tune: bool = True,
):
    """Job: the Auto recipe (this module's doc). ``base``: data/device settings (default: the given
    learner's config). Returns {"learner": the trained Learner, "stages": [{"name", "ran", "why", "seconds"
    (from the start to the stage's end), and for a fine-tune that ran "kept" and "epochs"}],
    "lr", "lr_test", "depths", "grid", "accuracy", "valid_loss", "best_epoch", "epochs_run" (every stage's
    epochs), "seconds"}."""
    t0 = time.perf_counter()
    deadline = t0 + float(budget_s)
    dataset, base = _learner_from(learner_or_dataset, base)
    depths = multi_depths(base.arch)
    deep = Learner(dataset, auto_head_config(base, depths, GRID))
    yield _stage(
        "features",
        f"pooled activations of body layers {', '.join(map(str, depths))} (the middle ones also on a "
        f"{GRID}×{GRID} grid), cached per file",
    )
    yield from deep.prepare(stop)
    stages = [
        {"name": "features", "ran": True, "why": f"{len(depths)} depths stored", "seconds": time.perf_counter() - t0}
    ]
    label = f"{len(depths)} depths"
    yield _stage("head", f"{label}: LR test on the cached activations")
    win = yield from _head_candidate(deep, stop, label, deadline)  # the budget bounds the head too
    why = f"{label}: validation {win['best']['accuracy']:.2%} at epoch {win['best']['epoch']}; {win['why']}"
    yield _stage("head", why)
    stages.append({"name": "head", "ran": True, "why": why, "seconds": time.perf_counter() - t0})
    learner = win["learner"]
    if fine_tune:
        stages.append((yield from _fine_tune(learner, win, deadline, stop)))
    else:
        stages.append({"name": "fine-tune", "ran": False, "why": "off"})
    stages[-1]["seconds"] = learner.metrics["seconds"] = time.perf_counter() - t0
    return {
        "learner": learner,
        "stages": stages,
        "lr": win["lr"],
        "lr_test": win["lr_test"],
        "depths": list(learner.config.depths),
        "grid": int(learner.config.grid),
        "accuracy": learner.metrics.get("accuracy"),
        "valid_loss": learner.metrics.get("valid_loss"),
        "best_epoch": win["best"]["epoch"],
        "epochs_run": win["epochs"] + stages[-1].get("epochs", 0),
        "seconds": learner.metrics["seconds"],
    }


def record_auto(store, learner: Learner, result: dict) -> tuple[int | None, str]:
    """Keep the model Auto chose as one run in ``store`` (engine.runs.RunStore): its checkpoint, metrics
    and the stages in the run's message. Returns (run id, store error or "")."""
    from engine.config import config_dict

    run = store.start_run(learner.dataset, config_dict(learner.config), device=str(learner.device))
    m = learner.metrics
    epoch = {"epoch": int(m.get("epochs", 1)), "seconds": result["seconds"]}
    epoch.update(accuracy=m["accuracy"], valid_loss=m["valid_loss"], train_loss=m.get("train_loss", float("nan")))
    learner.weights_from = run.record_epoch(epoch, learner.model, config_dict(learner.config))
    stages = "; ".join(f"{s['name']}: {s['why']}" for s in result["stages"])
    totals = {"accuracy": m["accuracy"], "valid_loss": m["valid_loss"], "epochs": int(result.get("epochs_run", 1))}
    run.finish("done", f"Auto: {stages}", totals)  # "epochs": what the stages trained, not the one kept
    learner.weights_from["state"] = "done"
    return run.id, run.error or ""
