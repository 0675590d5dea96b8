"""The current run on screen: its records go into ``RunCurves``; a ~20 Hz timer pushes what changed to
the charts; the progress bar and time left follow the batches; compared runs set the x ranges too.

An Auto run (``budget_s``) has no plan: its progress is the time spent of its budget, its stage records go
to the stage log, and its parts (gui.training.recipes.AutoSections) are numbered on and named."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from engine.config import TrainConfig
from gui.training.recipes import AutoSections
from gui.training.run_progress import RunClock, RunCurves, format_seconds, record_text
from gui.training.view import TrainingView

# One chart per tick: a redraw of all four at once kept the UI thread busy 50–90 ms in one go (each plot
# repaints in 10–20 ms while a job runs), so each tick updates the next chart that changed.
REDRAW_MS = 40


# (chart part, the RunCurves group whose change it shows), in drawing order
_CHART_PARTS = (
    ("planned", "planned"),
    ("batch losses", "batches"),
    ("lrs", "batches"),
    ("epoch losses", "epochs"),
    ("accuracy", "epochs"),
)


class RunCharts(QObject):
    def __init__(self, view: TrainingView, compared: Callable[[], list[dict]], parent: QObject | None = None):
        super().__init__(parent)
        self.view, self.compared = view, compared
        self.curves, self.clock = RunCurves(), RunClock(time.monotonic(), 0)
        self._config: TrainConfig | None = None
        self._planned: Callable[[], list[float]] = list
        self._epochs = 0  # the planned run's epochs (all its stages)
        self.auto: AutoSections | None = None  # an Auto run's parts
        self.budget_s = 0.0
        self._pending: list[str] = []  # chart parts still to draw this round
        self._ending = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)

    def begin(
        self, config: TrainConfig, planned: Callable[[], list[float]], epochs: int = 0, budget_s: float | None = None
    ) -> None:
        """A new run: empty charts and table, the planned schedule (``planned()``, when it can tell) over
        ``epochs`` (default: the config's); ``budget_s``: an Auto run of up to that many seconds."""
        self._config, self._planned = config, planned
        self._epochs = epochs or config.total_epochs()
        self.auto, self.budget_s = (AutoSections(), float(budget_s)) if budget_s else (None, 0.0)
        self.curves, self.clock = RunCurves(), RunClock(time.monotonic(), self._epochs)
        self._pending, self._ending = [], False
        self.view.charts.clear_run()
        self.view.epoch_table.setRowCount(0)
        self.view.run_box.stage_log.clear_stages(self.auto is not None)
        self.view.charts.show_planned_entry(self.auto is None)
        if self.auto is not None:
            self.view.charts.auto_x_ranges()
        else:
            self._set_planned_schedule()
        self._timer.start()

    def end(self, now: bool = False) -> None:
        """The run ended: draw what is left one chart a frame, as during the run (drawing the last
        changes of all four at once paused the window for 40-60 ms), then stop; ``now``: all at once."""
        self._ending = True
        if now:
            self.redraw(everything=True)
            self.redraw(everything=True)  # what changed since the parts already queued
            self._timer.stop()
        elif not self._timer.isActive():
            self._timer.start()

    @property
    def drawing(self) -> bool:
        """Charts still being brought up to date (the run's last frames)."""
        return self._timer.isActive()

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
        if self.auto is not None:
            return
        epochs = [self._epochs] if self._config is not None else []
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

    def redraw(self, everything: bool = False) -> None:
        """Push what changed to the charts, one chart per call (``everything``: all of them now). Each
        setData repaints a plot; unchanged ones are left alone, so the UI thread stays free."""
        if not self._pending:
            dirty = self.curves.take_dirty()
            self._pending = [part for part, group in _CHART_PARTS if group in dirty]
        while self._pending:
            self._draw(self._pending.pop(0))
            if not everything:
                return
        if self._ending:
            self._timer.stop()  # the run ended and every chart shows all of it

    def _draw(self, part: str) -> None:
        curves, charts = self.curves, self.view.charts
        if part == "planned" and curves.planned:
            charts.show_planned(curves.planned)
        elif part == "batch losses" and curves.loss:
            charts.show_batch_losses(curves.x, curves.loss, curves.smoothed)
        elif part == "lrs" and curves.loss:
            charts.show_lrs(curves.iteration, curves.lr)
        elif part == "epoch losses" and curves.epochs:
            charts.show_epoch_losses(curves.epoch_rows())
        elif part == "accuracy" and curves.epochs:
            charts.show_accuracy(curves.epoch_rows())
            charts.show_sections([(x, name) for _, x, name in curves.sections])

    def add(self, rec: dict) -> None:
        """A batch, epoch or other progress record of the run."""
        if self.auto is not None:
            self._add_auto(rec)
            return
        kind = rec.get("type")
        if kind == "batch":
            if not self.clock.first_batch_seen:  # the features are ready: the engine's batch count is exact
                self._set_planned_schedule()
            value, caption, eta = self.clock.batch(self.curves.add_batch(rec), time.monotonic())
        elif kind == "epoch":
            self.view.epoch_table.add_epoch(self.curves.add_epoch(rec))
            if self.clock.total_iters == 0:  # a run in other processes: no batches, epochs tell progress
                done = len(self.curves.epochs)
                total = max(1, self._epochs or done)
                self.view.show_progress(int(1000 * done / total), f"epoch {done} of {total}")
            return
        else:
            value, caption, eta = record_text(rec)
        if caption:
            self.view.show_progress(value, caption)
        if eta is not None:
            self.view.show_eta(eta)

    def _add_auto(self, rec: dict) -> None:
        """An Auto record: stages to the log, parts numbered on, progress as the share of the budget spent."""
        rec, started = self.auto.take(rec)
        kind = rec.get("type")
        if kind == "stage":
            self.view.run_box.stage_log.add_stage(rec.get("name", ""), rec.get("why", ""))
            return
        if started:
            self.curves.start_section(started, float(self.auto.epoch0))
            self.view.epoch_table.add_section(started)
        part = self.auto.names[-1] if self.auto.names else "Auto"
        if kind == "batch":
            self.curves.add_batch(rec)
            caption = f"{part} · epoch {int(rec['epoch'] - self.auto.epoch0) + 1} · iteration {rec['iteration'] + 1}"
        elif kind == "epoch":
            self.view.epoch_table.add_epoch(self.curves.add_epoch(rec))
            caption = None
        elif kind == "lr_find":
            caption = f"LR test: {int(rec.get('iteration', 0)) + 1}/{int(rec.get('total', 1))}"
        else:
            caption = record_text(rec)[1]
        spent = self.seconds
        self.view.show_progress(min(999, int(1000 * spent / max(1e-9, self.budget_s))), caption)
        self.view.show_eta(f"Elapsed {format_seconds(spent)} of up to {format_seconds(self.budget_s)}")
