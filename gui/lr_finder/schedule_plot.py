"""The learning rate per iteration (the lesson's plot_lr): of this LR test, or of the planned training run."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.lr_curves import format_lr
from gui import theme
from gui.lr_finder.plot_style import loss_colour, lr_colour, style_plot

TEST, TRAIN = "test", "train"
PLOT_LR_TIP = (
    "The learning rate at each iteration — the lesson's plot_lr. During the LR test it grows step by step; "
    "in a training plan it follows the schedule Train will use (SGDR restarts show as repeated curves)."
)


class SchedulePlot(QWidget):
    viewChanged = Signal(str)  # TEST or TRAIN

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        sp = self.plot.getPlotItem()
        sp.setLogMode(x=False, y=True)
        sp.showGrid(x=True, y=True, alpha=0.15)
        sp.setLabel("left", "learning rate")
        sp.setLabel("bottom", "iteration")
        sp.setMenuEnabled(False)
        sp.hideButtons()
        for side in ("left", "bottom"):  # plain learning rates, never "(x0.001)" prefixes
            sp.getAxis(side).enableAutoSIPrefix(False)
        self.plot.setMinimumHeight(110)
        self.plot.setToolTip(PLOT_LR_TIP)
        style_plot(self.plot)
        self.planned = sp.plot([], [], pen=pg.mkPen(theme.muted_text(), width=1.5, style=Qt.DashLine))
        self.done = sp.plot([], [], pen=pg.mkPen(loss_colour(), width=2.5))
        # y is log10(lr) here, like x on the loss plot
        self.lr_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(lr_colour(), width=1.5, style=Qt.DotLine))
        sp.addItem(self.lr_line, ignoreBounds=True)
        self.view_combo = QComboBox()
        self.view_combo.addItem("This LR test", TEST)
        self.view_combo.addItem("Training plan at the chosen LR", TRAIN)
        self.view_combo.setToolTip(
            "Which learning-rate schedule the plot below shows: this test's, or the training run Train would "
            "start at the chosen rate (the lesson's plot_lr)."
        )
        self.note = QLabel()
        self.note.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        self.row = QHBoxLayout()  # the view adds the export buttons at its end
        self.row.addWidget(QLabel("Schedule:"))
        self.row.addWidget(self.view_combo)
        self.row.addWidget(self.note, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.row)
        lay.addWidget(self.plot)
        self.view_combo.currentIndexChanged.connect(lambda _i: self.viewChanged.emit(self.view_combo.currentData()))

    # ---- setters (show state; never write it)
    def show_lr(self, lr: float) -> None:
        self.lr_line.setValue(math.log10(lr))

    def show_test(self, planned: list[float], done: list[float]) -> None:
        """The test's planned LRs (dashed) and those it has run so far."""
        self.planned.setData(np.arange(len(planned)), np.asarray(planned, dtype=float))
        self.show_done(done)
        self.plot.getPlotItem().setLabel("bottom", "iteration of the LR test")
        self.note.setText("dashed: planned, solid: done, red dots: your LR")

    def show_done(self, done: list[float]) -> None:
        self.done.setData(np.arange(len(done)), np.asarray(done, dtype=float))

    def show_plan(self, plan: list[float], problem: str = "") -> None:
        """The training run's LR per iteration, or why there is none."""
        self.done.setData([], [])
        self.planned.setData(np.arange(len(plan)), np.asarray(plan, dtype=float))
        if plan:
            self.plot.getPlotItem().setLabel("bottom", "training iteration")
            self.note.setText(f"{len(plan)} iterations, peak LR {format_lr(max(plan))}")
        else:
            self.note.setText(problem)
