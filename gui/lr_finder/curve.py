"""The curve a range test measured (what the LR finder tab shows) and its CSV export."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from engine.lr_curves import DEFAULT_END, DEFAULT_ITERS, DEFAULT_START, format_lr, lr_schedule
from engine.paths import atomic_file
from engine.records import LRFindRecord

CSV_HEADER = ["iteration", "lr", "loss", "smoothed_loss"]


@dataclass
class RangeSettings:
    """The test the user asked for: LR bounds as typed, steps and growth."""

    start_text: str = format_lr(DEFAULT_START)
    end_text: str = format_lr(DEFAULT_END)
    iters: int = DEFAULT_ITERS
    mode: str = "exp"

    def bounds(self) -> tuple[float, float] | None:
        """(start, end) when both are positive numbers and start < end; None otherwise."""
        try:
            start, end = float(self.start_text), float(self.end_text)
            lr_schedule(start, end, 2)
        except ValueError:
            return None
        return start, end

    def schedule(self) -> list[float]:
        """The LR of every step of this test ([] while the bounds are invalid)."""
        bounds = self.bounds()
        return [] if bounds is None else lr_schedule(*bounds, self.iters, self.mode)


@dataclass
class LRCurve:
    """Loss against LR, point by point while the test runs, then the job's result."""

    dataset: object = None  # the engine.data.Dataset it was measured on
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestions: dict[str, float | None] = field(default_factory=dict)
    stopped: str = ""  # "end" | "diverged" once finished

    def append(self, rec: LRFindRecord) -> None:
        self.lrs.append(rec["lr"])
        self.losses.append(rec["loss"])
        self.smoothed.append(rec["smoothed"])

    def finish(self, result: dict) -> None:
        """Take the job's result (the whole curve, its suggestions and why it stopped)."""
        self.lrs, self.losses = list(result["lrs"]), list(result["losses"])
        self.smoothed = list(result["smoothed"])
        self.suggestions = dict(result["suggestions"])
        self.stopped = result["stopped"]

    def __len__(self) -> int:
        return len(self.lrs)


def write_csv(curve: LRCurve, path) -> Path:
    """One row per step: iteration, lr, loss, smoothed loss (exact floats), written whole or not at all."""
    path = Path(path)
    with atomic_file(path, ".csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for i, row in enumerate(zip(curve.lrs, curve.losses, curve.smoothed, strict=False)):
            w.writerow([i, *(repr(float(v)) for v in row)])
    return path
