"""The current run on screen: its records go into ``RunCurves``; a ~20 Hz timer pushes what changed to
the charts; the progress bar and time left follow the batches; compared runs set the x ranges too."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from engine.config import TrainConfig
from gui.training.run_progress import RunClock, RunCurves, record_text
from gui.training.view import TrainingView

REDRAW_MS = 50  # ~20 Hz


class RunCharts(QObject):
    def __init__(self, view: TrainingView, compared: Callable[[], list[dict]], parent: QObject | None = None):
        super().__init__(parent)
        self.view, self.compared = view, compared
        self.curves, self.clock = RunCurves(), RunClock(time.monotonic(), 0)
        self._config: TrainConfig | None = None
        self._planned: Callable[[], list[float]] = list
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)

    def begin(self, config: TrainConfig, planned: Callable[[], list[float]]) -> None:
        """A new run: empty charts and table, the planned schedule (``planned()``, when it can tell)."""
        self._config, self._planned = config, planned
        self.curves, self.clock = RunCurves(), RunClock(time.monotonic(), config.total_epochs())
        self.view.charts.clear_run()
        self.view.epoch_table.setRowCount(0)
        self._set_planned_schedule()
        self._timer.start()

    def end(self) -> None:
        self._timer.stop()
        self.redraw()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.clock.started

    def _set_planned_schedule(self) -> None:
        try:
            planned = list(self._planned())
        except Exception:  # the engine may need prepare() first; the first batch sets it then
            planned = []
        self.curves.set_planned(planned)
        self.clock.set_plan(len(planned))
        self.fit_x_ranges()

    def fit_x_ranges(self) -> None:
        """The whole planned run (and any compared runs) from the start, so progress is visible."""
        epochs = [self._config.total_epochs()] if self._config is not None else []
        iterations = [self.clock.total_iters] if self.clock.total_iters else []
        for run in self.compared():
            if run["epochs"]:
                epochs.append(max(e["epoch"] for e in run["epochs"]))
            if run["batches"]["iteration"]:
                iterations.append(max(run["batches"]["iteration"]) + 1)
        self.view.charts.fit_x_ranges(epochs, iterations)

    def show_compared(self) -> None:
        self.view.charts.show_compared(self.compared())
        self.fit_x_ranges()

    def redraw(self) -> None:
        """Push what changed to the charts (each setData repaints a plot: unchanged ones are left alone,
        so the UI thread stays free for the user while the job's thread holds the GIL)."""
        dirty, curves, charts = self.curves.take_dirty(), self.curves, self.view.charts
        if "planned" in dirty and curves.planned:
            charts.show_planned(curves.planned)
        if "batches" in dirty and curves.loss:
            charts.show_batches(curves.x, curves.loss, curves.smoothed, curves.iteration, curves.lr)
        if "epochs" in dirty and curves.epochs:
            charts.show_epochs(curves.epochs)

    def add(self, rec: dict) -> None:
        """A batch, epoch or other progress record of the run."""
        kind = rec.get("type")
        if kind == "batch":
            if not self.clock.first_batch_seen:  # the features are ready: the engine's batch count is exact
                self._set_planned_schedule()
            value, caption, eta = self.clock.batch(self.curves.add_batch(rec), time.monotonic())
        elif kind == "epoch":
            self.view.epoch_table.add_epoch(self.curves.add_epoch(rec))
            if self.clock.total_iters == 0:  # a run in other processes: no batches, epochs tell progress
                done = len(self.curves.epochs)
                total = max(1, self._config.total_epochs() if self._config else done)
                self.view.show_progress(int(1000 * done / total), f"epoch {done} of {total}")
            return
        else:
            value, caption, eta = record_text(rec)
        if caption:
            self.view.show_progress(value, caption)
        if eta is not None:
            self.view.show_eta(eta)
