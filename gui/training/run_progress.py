"""One run as its records arrive: the curves the charts draw and the progress and time left it shows.

Plain Python (no widgets): the controller feeds records in, the view draws what comes out.
"""

from __future__ import annotations

import math

from engine.lr_curves import LossSmoother

EPOCH_KEYS = ("epoch", "train_loss", "valid_loss", "accuracy", "seconds")


def format_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class RunCurves:
    """The current run's per-batch and per-epoch values, and which chart parts changed since last drawn."""

    def __init__(self):
        self.iteration: list[float] = []
        self.x: list[float] = []  # batch position in epochs, so runs with other batch sizes line up
        self.loss: list[float] = []
        self.smoothed: list[float] = []
        self.lr: list[float] = []
        self.epochs: list[dict] = []
        self.planned: list[float] = []
        self.sections: list[tuple[int, float, str]] = []  # (index in epochs, x where it starts, name)
        self._smoother = LossSmoother()  # streaming: each batch costs O(1), not a recomputed curve
        self.dirty: set[str] = set()

    def set_planned(self, lrs: list[float]) -> None:
        self.planned = list(lrs)
        self.dirty.add("planned")

    def add_batch(self, rec: dict) -> int:
        """Add a batch record; returns its iteration."""
        it = int(rec.get("iteration", len(self.loss)))
        loss = float(rec.get("loss", math.nan))
        self.iteration.append(it)
        self.x.append(float(rec.get("epoch", 0.0)))
        self.loss.append(loss)
        self.smoothed.append(self._smoother.update(loss))
        self.lr.append(float(rec.get("lr", math.nan)))
        self.dirty.add("batches")
        return it

    def start_section(self, name: str, x: float) -> None:
        """The epochs and batches that follow are a new part of the run (one of Auto's heads): the lines
        break here and the smoothed loss starts again."""
        if self.loss:
            for series in (self.iteration, self.x, self.loss, self.smoothed, self.lr):
                series.append(math.nan)
        self._smoother = LossSmoother()
        self.sections.append((len(self.epochs), x, name))
        self.dirty.update(("batches", "epochs"))

    def epoch_rows(self) -> list[dict]:
        """The epochs with an empty row between sections, so the charts' lines break there."""
        starts = {i for i, _, _ in self.sections if i > 0}
        rows = []
        for i, epoch in enumerate(self.epochs):
            if i in starts:
                rows.append({"epoch": math.nan})
            rows.append(epoch)
        return rows

    def add_epoch(self, rec: dict) -> dict:
        epoch = {k: rec.get(k) for k in EPOCH_KEYS}
        self.epochs.append(epoch)
        self.dirty.add("epochs")
        return epoch

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def batches(self) -> dict[str, list[float]]:
        """The per-batch series as the run history stores them."""
        return {"x": self.x, "loss": self.loss, "lr": self.lr, "iteration": self.iteration}


class RunClock:
    """Progress (per mille), its caption and the time left, from the planned iterations and the batches seen."""

    def __init__(self, started: float, total_epochs: int):
        self.started = started
        self.total_epochs = total_epochs
        self.total_iters = 0
        self._first: tuple[float, int] | None = None  # (time, iteration) of the first batch

    @property
    def first_batch_seen(self) -> bool:
        return self._first is not None

    def set_plan(self, total_iters: int) -> None:
        self.total_iters = total_iters

    def batch(self, it: int, now: float) -> tuple[int | None, str, str | None]:
        """(progress, caption, time-left text or None to leave it) after batch ``it``."""
        if self._first is None:
            self._first = (now, it)
        done, total = it + 1, self.total_iters
        if not total:
            return None, f"Iteration {done}", None
        per_epoch = total / self.total_epochs if self.total_epochs else 0.0
        epoch = min(self.total_epochs, int(it // per_epoch) + 1) if per_epoch else 1
        caption = f"Epoch {epoch}/{self.total_epochs} · iteration {done}/{total}"
        t0, it0 = self._first
        eta = None
        if it - it0 >= 2:
            rate = (now - t0) / (it - it0)
            eta = (
                f"About {format_seconds(rate * (total - done))} left ({1 / rate:.1f} it/s)"
                f" · elapsed {format_seconds(now - self.started)}"
            )
        return min(1000, int(1000 * done / total)), caption, eta


def record_text(rec: dict) -> tuple[int | None, str, str | None]:
    """(progress, caption, explanation) for a record that is not a batch or an epoch."""
    kind = rec.get("type")
    done, total = int(rec.get("done", 0)), max(1, int(rec.get("total", 1)))
    if kind == "precompute":
        split = rec.get("split", "")
        if rec.get("stage") == "frozen":
            return (
                int(1000 * done / total),
                f"Caching early-layer views ({split}): {done}/{total}",
                "Kept in memory for this training run; each epoch then runs only the later layers.",
            )
        return (
            int(1000 * done / total),
            f"Precomputing activations ({split}): {done}/{total}",
            "Cached: later runs and the LR finder reuse them.",
        )
    if kind == "evaluate":
        return (
            None,
            f"Test-time augmentation: {done}/{total} validation images",
            "Averaging predictions over flipped and zoomed views…",
        )
    return None, str(rec.get("message") or rec.get("stage") or kind or ""), None
