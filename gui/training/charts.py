"""The four training charts: loss per batch, loss per epoch, LR schedule (plot_lr) and accuracy.

Plot items are made once; updates only call ``setData``. A fixed pool of dashed items overlays runs
chosen in the history.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QWidget

from engine.lr_curves import smooth_losses
from gui import theme

MAX_SECTIONS = 4  # parts of one run marked on the charts (Auto: its head, then fine-tuning)
MAX_COMPARE = 5  # history runs overlaid at once (the theme has 8 series colours, 3 are this run's)
SERIES = {"train": 0, "valid": 1, "acc": 2, "lr": 0}  # this run's series (theme.series_colour)


def colour(name: str) -> QColor:
    """This run's series colours from the theme; the per-batch raw loss and the planned LR are paler."""
    if name == "raw":
        return theme.blend(theme.series_colour(0), theme.plot_background(), 0.55)
    if name == "planned":
        return theme.blend(theme.plot_ink(), theme.plot_background(), 0.8)
    return theme.series_colour(SERIES[name])


def compare_colour(i: int) -> QColor:
    """The colour of the ``i``-th overlaid history run (the list's swatches use it too)."""
    return theme.series_colour(3 + i)


def _pen(color: QColor, width: float = 2, style=Qt.SolidLine):
    return pg.mkPen(QColor(color), width=width, style=style)


def _plot(title: str, x_label: str, y_label: str, units: str = "") -> pg.PlotWidget:
    w = pg.PlotWidget(background=theme.plot_background())
    for side in ("left", "bottom"):
        w.getAxis(side).setTextPen(theme.plot_ink())
        w.getAxis(side).setPen(theme.plot_ink())
    w.setTitle(title, size="10pt", color=theme.plot_ink())
    w.setLabel("bottom", x_label)
    w.setLabel("left", y_label, units=units or None)
    for side in ("left", "bottom"):  # losses and LRs are plain numbers: no "(x0.001)" prefixes
        w.getAxis(side).enableAutoSIPrefix(False)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    w.setMinimumHeight(128)  # two rows of charts still leave a 1024×576 screen room for the rest
    return w


def nice_ceiling(x: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``x`` (1 for anything up to 1)."""
    if not math.isfinite(x) or x <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= x)


def _finite_max(values) -> float | None:
    """The largest of ``values`` leaving out NaN (the gaps between a run's parts); None when none is left."""
    a = np.asarray(values, dtype=float)
    return float(np.nanmax(a)) if a.size and not np.isnan(a).all() else None


def _last_epoch(epochs: list[dict]) -> float | None:
    return _finite_max([_num(e.get("epoch")) for e in epochs])


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) else math.nan


def _epoch_series(epochs: list[dict], key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    return [float(e["epoch"]) for e in epochs], [scale * _num(e.get(key)) for e in epochs]


class TrainingCharts(QWidget):
    def __init__(self):
        super().__init__()
        self.stepped_x = False  # Auto: x ranges grow in steps (auto_x_ranges)
        self._x_end: dict = {}  # each plot's x range ends here (_show_x)
        self.loss_plot = _plot("Training loss per batch", "epoch", "loss")
        self.epoch_plot = _plot("Loss per epoch", "epoch", "loss")
        self.acc_plot = _plot("Validation accuracy", "epoch", "accuracy", "%")
        self.lr_plot = _plot("Learning rate schedule (plot_lr)", "iteration", "learning rate")
        self._make_run_items()
        self.compare_items = [self._compare_items(compare_colour(i)) for i in range(MAX_COMPARE)]
        self.section_lines = [self._section_line() for _ in range(MAX_SECTIONS)]
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.epoch_plot, 0, 1)
        grid.addWidget(self.lr_plot, 1, 0)
        grid.addWidget(self.acc_plot, 1, 1)

    def _make_run_items(self) -> None:
        marks = dict(symbolSize=6)
        self.loss_plot.addLegend(offset=(-10, 10), labelTextColor=theme.plot_ink())
        self.batch_raw_item = self.loss_plot.plot([], [], pen=_pen(colour("raw"), 1), name="batch")
        self.batch_smooth_item = self.loss_plot.plot([], [], pen=_pen(colour("train")), name="smoothed")
        self.epoch_plot.addLegend(offset=(-10, 10), labelTextColor=theme.plot_ink())
        self.train_item = self.epoch_plot.plot(
            [], [], pen=_pen(colour("train")), symbol="o", symbolBrush=colour("train"), name="train", **marks
        )
        self.valid_item = self.epoch_plot.plot(
            [], [], pen=_pen(colour("valid")), symbol="s", symbolBrush=colour("valid"), name="valid", **marks
        )
        self.acc_plot.addLegend(offset=(-10, -10), labelTextColor=theme.plot_ink())
        self.acc_item = self.acc_plot.plot(
            [], [], pen=_pen(colour("acc")), symbol="o", symbolBrush=colour("acc"), name="this run", **marks
        )
        self.lr_legend = self.lr_plot.addLegend(offset=(-10, 10), labelTextColor=theme.plot_ink())
        # planned: a wide pale band under the actual per-batch line, so both stay visible where they agree
        self.planned_item = self.lr_plot.plot([], [], pen=_pen(colour("planned"), 6), name="planned")
        self.lr_item = self.lr_plot.plot([], [], pen=_pen(colour("lr"), 2), name="actual (per batch)")

    def _compare_items(self, color: QColor) -> dict[str, pg.PlotDataItem]:
        """One history run's overlay: dashed epoch curves, thin per-batch lines, no legend entries."""
        dashed = dict(pen=_pen(color, 2, Qt.DashLine), symbolSize=5, symbolBrush=color, symbolPen=None)
        return {
            "batch": self.loss_plot.plot([], [], pen=_pen(color, 1)),
            "valid": self.epoch_plot.plot([], [], symbol="s", **dashed),
            "acc": self.acc_plot.plot([], [], symbol="o", **dashed),
            "lr": self.lr_plot.plot([], [], pen=_pen(color, 1)),
        }

    def _section_line(self) -> pg.InfiniteLine:
        """A dotted vertical line, hidden until a part of the run starts there, named at the top."""
        ink = theme.plot_ink()
        line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=_pen(theme.blend(ink, theme.plot_background(), 0.5), 1, Qt.DotLine),
            label="",
            labelOpts={
                "position": 0.04,
                "color": ink,
                "anchors": [(0, 1), (0, 1)],
                "fill": theme.blend(theme.plot_background(), ink, 0.08),
            },
        )
        line.hide()
        self.acc_plot.addItem(line, ignoreBounds=True)
        return line

    def show_sections(self, sections: list[tuple[float, str]]) -> None:
        """Mark where each part of the run starts (x in epochs), named (Auto's heads and fine-tuning)."""
        for i, line in enumerate(self.section_lines):
            line.setVisible(i < len(sections))  # first: a hidden line's label does not update
            if i < len(sections):
                x, name = sections[i]
                line.setValue(x + 0.5)
                line.label.setFormat(name.split(" · ")[-1])  # "2 depths": the table names the stage in full
                line.label.setPosition(0.04 + 0.16 * i)  # stepped: parts a few epochs long keep readable names

    def show_planned_entry(self, shown: bool) -> None:
        """The "planned" LR entry only for runs with a plan (Auto has none: its LR comes from its LR test)."""
        if shown and self.lr_legend.getLabel(self.planned_item) is None:
            self.lr_legend.removeItem(self.lr_item)  # keep the order: planned, then actual
            self.lr_legend.addItem(self.planned_item, "planned")
            self.lr_legend.addItem(self.lr_item, "actual (per batch)")
        elif not shown:
            self.lr_legend.removeItem(self.planned_item)

    def auto_x_ranges(self) -> None:
        """Runs of unknown length (Auto): the x axes grow with the data, in steps (nice_ceiling) rather
        than with every point, so an axis is redrawn a few times a run, not at every frame."""
        self.stepped_x = True
        self.fit_x_ranges([1.0], [1.0])  # then each plot grows on its own (_grow_x)

    def _grow_x(self, plot: pg.PlotWidget, x_max: float | None) -> None:
        """Under Auto, widen ``plot``'s x range to the next step when its data passes the end (only that
        plot: one repaint, not four)."""
        if self.stepped_x and x_max is not None and math.isfinite(x_max) and x_max > self._x_end.get(plot, 0):
            self._show_x(plot, nice_ceiling(x_max))

    def _show_x(self, plot: pg.PlotWidget, n: float) -> None:
        """``plot``'s x axis from the start to ``n`` (per-epoch plots centre each epoch: 0.5 … n + 0.5)."""
        if plot in (self.epoch_plot, self.acc_plot):
            plot.setXRange(0.5, n + 0.5, padding=0)
        else:
            plot.setXRange(0, n, padding=0.02)
        self._x_end[plot] = n

    def clear_run(self) -> None:
        self.stepped_x = False
        for item in (
            self.batch_raw_item,
            self.batch_smooth_item,
            self.train_item,
            self.valid_item,
            self.acc_item,
            self.planned_item,
            self.lr_item,
        ):
            item.setData([], [])
        self.show_sections([])

    def show_planned(self, lrs: list[float]) -> None:
        self.planned_item.setData(np.arange(len(lrs), dtype=float), np.asarray(lrs, dtype=float))

    def show_batch_losses(self, x, loss, smoothed) -> None:
        x = np.asarray(x, dtype=float)
        self._grow_x(self.loss_plot, _finite_max(x))
        gaps = dict(connect="finite")  # a NaN point between parts of a run breaks the line there
        self.batch_raw_item.setData(x, np.asarray(loss, dtype=float), **gaps)
        self.batch_smooth_item.setData(x, np.asarray(smoothed, dtype=float), **gaps)

    def show_lrs(self, iterations, lrs) -> None:
        its = np.asarray(iterations, dtype=float)
        last = _finite_max(its)
        self._grow_x(self.lr_plot, None if last is None else last + 1)
        self.lr_item.setData(its, np.asarray(lrs, dtype=float), connect="finite")

    def show_epoch_losses(self, epochs: list[dict]) -> None:
        self._grow_x(self.epoch_plot, _last_epoch(epochs))
        self.train_item.setData(*_epoch_series(epochs, "train_loss"), connect="finite")
        self.valid_item.setData(*_epoch_series(epochs, "valid_loss"), connect="finite")

    def show_accuracy(self, epochs: list[dict]) -> None:
        self._grow_x(self.acc_plot, _last_epoch(epochs))
        self.acc_item.setData(*_epoch_series(epochs, "accuracy", 100), connect="finite")

    def show_compared(self, runs: list[dict]) -> None:
        """Overlay up to MAX_COMPARE history runs ({"epochs", "batches"} as RunHistoryController.compared gives them), in pool order."""
        for i, items in enumerate(self.compare_items):
            if i >= len(runs):
                for item in items.values():
                    if item.xData is not None and len(item.xData):  # an empty item left alone: no repaint
                        item.setData([], [])
                continue
            run = runs[i]
            items["valid"].setData(*_epoch_series(run["epochs"], "valid_loss"))
            items["acc"].setData(*_epoch_series(run["epochs"], "accuracy", 100))
            b = run["batches"]
            n = min(len(b["x"]), len(b["loss"]))
            items["batch"].setData(np.asarray(b["x"][:n], dtype=float), smooth_losses(b["loss"][:n]))
            iterations = b["iteration"] or list(range(len(b["lr"])))
            n = min(len(iterations), len(b["lr"]))
            items["lr"].setData(np.asarray(iterations[:n], dtype=float), np.asarray(b["lr"][:n], dtype=float))

    def fit_x_ranges(self, epochs: list[float], iterations: list[float]) -> None:
        """Show the longest of these runs whole from the start, so progress is visible."""
        if epochs:
            for plot in (self.loss_plot, self.epoch_plot, self.acc_plot):
                self._show_x(plot, max(epochs))
        if iterations:
            self._show_x(self.lr_plot, max(iterations))
