"""LR finder panel: run the range test, watch the curve draw, drag a line to the learning rate you want.

The line is a view of ``AppState.lr``: dragging it (drag finished) or clicking a suggestion
writes the state; the state's ``lrChanged`` moves the line. The Train panel's LR field is
bound to the same state, so the two stay in sync without talking to each other.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.lr_curves import (
    DEFAULT_END,
    DEFAULT_ITERS,
    DEFAULT_START,
    DEFAULT_SUGGESTION,
    SUGGESTERS,
    SUGGESTION_COLORS,
    SUGGESTION_LABELS,
    format_lr,
    loss_view_range,
    lr_schedule,
    round_lr,
)
from gui.jobs import JobSlot, QtJob

LIVE_MS = 40  # live curve: at most 25 redraws a second while points stream in
SMOOTH_PEN = pg.mkPen("#1f5fa8", width=2.5)
RAW_PEN = pg.mkPen(QColor(31, 95, 168, 70), width=1)
LINE_PEN = pg.mkPen("#c0392b", width=2)
LINE_HOVER_PEN = pg.mkPen("#e74c3c", width=4)

EXPLAIN = (
    "The finder trains for a moment while the learning rate grows from tiny to huge; your model "
    "is left unchanged. Pick where the loss is still clearly falling — well before the bottom of "
    "the curve — and drag the red line there (or click a suggestion). Train uses that learning rate."
)
SUGGESTION_TIPS = {
    "valley": "The middle of the longest stretch where the loss keeps falling (fastai's default).",
    "min_div10": "The learning rate of the lowest loss, divided by 10 (the lesson's rule of thumb).",
    "steepest": "Where the loss falls fastest as the learning rate grows.",
    "slide": "Just before the curve flattens out ahead of the blow-up (fastai's slide rule).",
}


def _dot_icon(color: str) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.NoPen)
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pm)


class LRFinderPanel(QWidget):
    def __init__(self, state, learner_slot=None, parent=None):
        super().__init__(parent)
        # shared with the other tab that trains the learner (a panel on its own gets its own)
        self.learner_slot = learner_slot or JobSlot("learner", self)
        self.file_actions = []  # none for the window's File menu
        self.state = state
        self.job: QtJob | None = None
        self._generation = 0
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.suggestions: dict[str, float | None] = {}
        self.stopped = ""
        self._planned: list[float] = []

        # ---- controls
        self.run_button = QPushButton(QIcon.fromTheme("media-playback-start"), "Run")
        self.run_button.setToolTip("Run the learning-rate range test on the open dataset")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(QIcon.fromTheme("process-stop"), "Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.start_edit = QLineEdit(format_lr(DEFAULT_START))
        self.end_edit = QLineEdit(format_lr(DEFAULT_END))
        for edit, tip in (
            (self.start_edit, "First learning rate of the test"),
            (self.end_edit, "Last learning rate of the test"),
        ):
            edit.setMaximumWidth(70)
            edit.setToolTip(tip)
            edit.textChanged.connect(self._check_bounds)
        self.iters_spin = QSpinBox()
        self.iters_spin.setRange(5, 2000)
        self.iters_spin.setValue(DEFAULT_ITERS)
        self.iters_spin.setToolTip("Number of mini-batches; the test stops early once the loss blows up")
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("exponential", "exp")
        self.mode_combo.addItem("linear", "linear")
        self.mode_combo.setToolTip("How the learning rate grows from step to step")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status = QLabel("Open a dataset, then press Run.")
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status.setWordWrap(True)  # a long message wraps instead of widening the window
        self.status.setMinimumWidth(120)

        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addSpacing(12)
        for w in (
            QLabel("from"),
            self.start_edit,
            QLabel("to"),
            self.end_edit,
            QLabel("in"),
            self.iters_spin,
            QLabel("steps,"),
            self.mode_combo,
        ):
            top.addWidget(w)
        top.addSpacing(12)
        top.addWidget(self.progress)
        top.addWidget(self.status, 1)

        self.explain = QLabel(EXPLAIN)
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: #4a5568;")

        # ---- LR readout and suggestions
        self.lr_label = QLabel()
        self.lr_label.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.lr_label.setToolTip("The learning rate Train will use (the same value as the Train tab's field)")
        self.suggestion_buttons: dict[str, QPushButton] = {}
        chips = QHBoxLayout()
        chips.addWidget(self.lr_label)
        chips.addSpacing(16)
        chips.addWidget(QLabel("Suggestions:"))
        for name in SUGGESTERS:
            b = QPushButton(_dot_icon(SUGGESTION_COLORS[name]), f"{SUGGESTION_LABELS[name]}  —")
            b.setToolTip(SUGGESTION_TIPS[name] + " Click to move the line there.")
            b.setEnabled(False)
            b.setFlat(True)
            b.clicked.connect(lambda _=False, n=name: self.snap_to(n))
            self.suggestion_buttons[name] = b
            chips.addWidget(b)
        chips.addStretch(1)
        self.export_png_button = QPushButton(QIcon.fromTheme("document-save"), "Export PNG…")
        self.export_png_button.clicked.connect(self._ask_export_png)
        self.export_csv_button = QPushButton(QIcon.fromTheme("document-save-as"), "Export CSV…")
        self.export_csv_button.clicked.connect(self._ask_export_csv)
        for b in (self.export_png_button, self.export_csv_button):
            b.setEnabled(False)

        # ---- loss vs LR (log x)
        self.plot = pg.PlotWidget()
        pi = self.plot.getPlotItem()
        pi.setLogMode(x=True, y=False)
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setLabel("bottom", "learning rate (log scale)")
        pi.setLabel("left", "loss")
        pi.setMenuEnabled(False)
        pi.hideButtons()
        pi.setMouseEnabled(x=False, y=False)  # dragging is for the line, not for panning
        self.legend = pi.addLegend(
            offset=(-10, 10), labelTextColor="#333333", brush=pg.mkBrush(255, 255, 255, 225), pen=pg.mkPen("#d0d5dc")
        )
        self.raw_curve = pi.plot([], [], pen=RAW_PEN, name="loss of each batch")
        self.smooth_curve = pi.plot([], [], pen=SMOOTH_PEN, name="smoothed loss")
        # Marker positions are in view coordinates: log10(lr) on the x axis.
        self.markers = pg.ScatterPlotItem(
            size=13, pen=pg.mkPen("w", width=1.5), hoverable=True, hoverSize=17, tip=self._marker_tip
        )
        self.markers.setZValue(20)
        self.markers.sigClicked.connect(self._marker_clicked)
        pi.addItem(self.markers)
        self.line = pg.InfiniteLine(
            pos=math.log10(state.lr),
            angle=90,
            movable=True,
            pen=LINE_PEN,
            hoverPen=LINE_HOVER_PEN,
            label="",
            labelOpts={"position": 0.93, "color": "#c0392b", "fill": (255, 255, 255, 230), "movable": True},
        )
        font = self.line.label.textItem.font()
        font.setBold(True)
        self.line.label.textItem.setFont(font)
        self.line.setZValue(30)
        self.line.setToolTip("Drag to choose the learning rate")
        pi.addItem(self.line, ignoreBounds=True)
        self.line.sigPositionChanged.connect(self._line_moved)
        self.line.sigPositionChangeFinished.connect(self._line_dropped)
        self._set_x_range(DEFAULT_START, DEFAULT_END)

        # ---- the schedule (the lesson's plot_lr)
        self.sched_plot = pg.PlotWidget()
        sp = self.sched_plot.getPlotItem()
        sp.setLogMode(x=False, y=True)
        sp.showGrid(x=True, y=True, alpha=0.15)
        sp.setLabel("left", "learning rate")
        sp.setLabel("bottom", "iteration")
        sp.setMenuEnabled(False)
        sp.hideButtons()
        for side in ("left", "bottom"):  # plain learning rates, never "(x0.001)" prefixes
            sp.getAxis(side).enableAutoSIPrefix(False)
        self.sched_plot.setMinimumHeight(130)
        self.sched_planned = sp.plot([], [], pen=pg.mkPen("#9aa5b1", width=1.5, style=Qt.DashLine))
        self.sched_done = sp.plot([], [], pen=pg.mkPen("#1f5fa8", width=2.5))
        # y is log10(lr) here, like x on the loss plot
        self.sched_lr_line = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen("#c0392b", width=1.5, style=Qt.DotLine)
        )
        sp.addItem(self.sched_lr_line, ignoreBounds=True)
        self.sched_view = QComboBox()
        self.sched_view.addItem("This LR test", "test")
        self.sched_view.addItem("Training plan at the chosen LR", "train")
        self.sched_view.setToolTip(
            "Learning rate per iteration: during this test, or in the planned training run (the lesson's plot_lr)"
        )
        self.sched_view.currentIndexChanged.connect(self._refresh_schedule)
        self.sched_note = QLabel()
        self.sched_note.setStyleSheet("color: #4a5568;")
        sched_box = QWidget()
        sl = QVBoxLayout(sched_box)
        sl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Schedule:"))
        row.addWidget(self.sched_view)
        row.addWidget(self.sched_note, 1)
        row.addWidget(self.export_png_button)  # exports sit here so the LR row fits a small screen
        row.addWidget(self.export_csv_button)
        sl.addLayout(row)
        sl.addWidget(self.sched_plot)

        split = QSplitter(Qt.Vertical)
        split.addWidget(self.plot)
        split.addWidget(sched_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 180])

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.explain)
        lay.addLayout(chips)
        lay.addWidget(split, 1)

        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_MS)
        self._live_timer.timeout.connect(self._draw_live)

        state.lrChanged.connect(self._on_state_lr)
        state.datasetChanged.connect(self._on_dataset)
        if hasattr(state, "trainConfigChanged"):
            state.trainConfigChanged.connect(lambda _c: self._refresh_schedule())
        self._line_moved()
        self._refresh_schedule()
        self._update_buttons()

    # ------------------------------------------------------------ state ↔ line
    def line_lr(self) -> float:
        return 10.0 ** self.line.value()

    def _line_moved(self, *_):
        """Any move (drag or code): live label and readout only; the state is written on drop."""
        text = format_lr(self.line_lr())
        self.line.label.setFormat(f"LR {text}")
        self.lr_label.setText(f"Learning rate: {text}")

    def _line_dropped(self, *_):
        self.state.set_lr(round_lr(self.line_lr()))
        self._show_lr(self.state.lr)  # snap to the rounded value even when the state did not change

    def _on_state_lr(self, lr: float):
        self._show_lr(lr)

    def _show_lr(self, lr: float):
        pos = math.log10(lr)
        if abs(self.line.value() - pos) > 1e-12:
            self.line.setValue(pos)
        self.sched_lr_line.setValue(pos)
        if self.sched_view.currentData() == "train":
            self._refresh_schedule()

    def snap_to(self, name: str) -> None:
        """Move the line to a suggestion and make it the learning rate."""
        lr = self.suggestions.get(name)
        if lr is None:
            return
        self.state.set_lr(round_lr(lr))
        self._show_lr(self.state.lr)

    def _marker_clicked(self, _item, points, _ev=None):
        if len(points):
            self.snap_to(points[0].data())

    def _marker_tip(self, x, y, data):
        return f"{SUGGESTION_LABELS.get(data, data)}: {format_lr(10**x)} — click to use"

    # ------------------------------------------------------------ running
    def _bounds(self) -> tuple[float, float] | None:
        try:
            start, end = float(self.start_edit.text()), float(self.end_edit.text())
            lr_schedule(start, end, 2)
        except ValueError:
            return None
        return start, end

    def _check_bounds(self, *_):
        ok = self._bounds() is not None
        for e in (self.start_edit, self.end_edit):
            e.setStyleSheet("" if ok else "border: 1px solid #c0392b;")
        self._update_buttons()

    def _learner(self):
        """The shared learner (mid-training, unfrozen… whatever Train made), or a new one for the dataset."""
        from engine.training import Learner, TrainConfig

        learner = self.state.learner
        config = self.state.train_config or TrainConfig()
        if (
            learner is not None
            and getattr(learner, "dataset", self.state.dataset) is self.state.dataset
            and _same_model(learner.config, config)
        ):
            if self.state.train_config is not None:
                learner.config = config  # e.g. unfreeze ticked since: test what Train would train
            return learner
        learner = Learner(self.state.dataset, config)
        self.state.set_learner(learner)  # training reuses its model and cached activations
        return learner

    def run(self) -> None:
        if self.running or self.state.dataset is None:
            return
        bounds = self._bounds()
        if bounds is None:
            self.status.setText("The start LR must be a positive number smaller than the end LR.")
            return
        start, end = bounds
        iters, mode = self.iters_spin.value(), self.mode_combo.currentData()
        if self.learner_slot.running:
            self.status.setText("Training is running: wait for it to finish (or cancel it), then run the finder.")
            return
        try:
            learner = self._learner()
        except Exception as exc:  # bad settings from the Train panel: say so, keep the app alive
            self.status.setText(f"Cannot start: {exc}")
            return
        self._generation += 1
        gen = self._generation
        self.lrs, self.losses, self.smoothed, self.suggestions, self.stopped = [], [], [], {}, ""
        self._planned = lr_schedule(start, end, iters, mode)
        self._set_x_range(start, end)
        self._draw()
        self._show_suggestions()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Preparing the model…")
        from engine.lr_finder import lr_find_job

        job = self.learner_slot.start(lr_find_job, learner, start, end, iters, mode, owner="LR finder")
        job.progress.connect(lambda rec, g=gen: self._on_progress(g, rec))
        job.finished.connect(lambda res, g=gen: self._on_finished(g, res))
        job.failed.connect(lambda msg, g=gen: self._on_failed(g, msg))
        job.cancelled.connect(lambda g=gen: self._on_cancelled(g))
        job.ended.connect(lambda _k: self._update_buttons())
        self.job = job
        self._update_buttons()
        self._refresh_schedule()

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling…")

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(30)

    def _on_progress(self, gen: int, rec: dict) -> None:
        if gen != self._generation:
            return  # a record from a run that was replaced
        kind = rec.get("type")
        if kind == "precompute":
            total = max(1, int(rec.get("total", 1)))
            self.progress.setRange(0, total)
            self.progress.setValue(int(rec.get("done", 0)))
            self.progress.setFormat(f"{rec.get('split', '')} %v/%m")
            self.status.setText("Computing activations once (Train reuses them)…")
        elif kind == "lr_find":
            self.lrs.append(rec["lr"])
            self.losses.append(rec["loss"])
            self.smoothed.append(rec["smoothed"])
            if rec["iteration"] == 0:
                self.progress.setRange(0, int(rec["total"]))
                self.progress.setFormat("%v/%m")
                self.status.setText("Testing learning rates…")
            self.progress.setValue(rec["iteration"] + 1)
            if not self._live_timer.isActive():  # points arrive ~100/s: draw them at most every LIVE_MS
                self._live_timer.start()

    def _draw_live(self) -> None:
        """Show the points that arrived since the last frame (one redraw per LIVE_MS, not per point)."""
        self._draw()
        if self.sched_view.currentData() == "test":
            self.sched_done.setData(np.arange(len(self.lrs)), np.asarray(self.lrs))

    def _on_finished(self, gen: int, result: dict) -> None:
        if gen != self._generation:
            return
        self._live_timer.stop()
        self.lrs, self.losses, self.smoothed = list(result["lrs"]), list(result["losses"]), list(result["smoothed"])
        self.suggestions = dict(result["suggestions"])
        self.stopped = result["stopped"]
        self.progress.hide()
        self._draw()
        self._show_suggestions()
        self._refresh_schedule()
        n = len(self.lrs)
        how = (
            f"stopped at LR {format_lr(self.lrs[-1])} when the loss blew up"
            if self.stopped == "diverged"
            else "ran every step"
        )
        best = self.suggestions.get(DEFAULT_SUGGESTION)
        tip = (
            f" Suggested: {format_lr(best)} (valley)."
            if best is not None
            else " No clear descent: try a wider range or more steps."
        )
        self.status.setText(f"{n} steps in {result.get('seconds', 0):.1f} s, {how}.{tip}")

    def _on_failed(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self.progress.hide()
        self.status.setText(f"The LR finder failed: {message}")
        if hasattr(self.state, "statusMessage"):
            self.state.statusMessage.emit(f"LR finder: {message}")

    def _on_cancelled(self, gen: int) -> None:
        if gen != self._generation:
            return
        self.progress.hide()
        self.status.setText(f"Cancelled after {len(self.lrs)} steps; the model is unchanged.")

    def _update_buttons(self) -> None:
        running = self.running
        self.run_button.setEnabled(not running and self.state.dataset is not None and self._bounds() is not None)
        self.cancel_button.setEnabled(running)
        for w in (self.start_edit, self.end_edit, self.iters_spin, self.mode_combo):
            w.setEnabled(not running)
        has = bool(self.lrs) and not running
        self.export_png_button.setEnabled(has)
        self.export_csv_button.setEnabled(has)

    def _on_dataset(self, dataset) -> None:
        if self.running:
            self.cancel()
        self._generation += 1  # drop anything still arriving from the old dataset
        self.lrs, self.losses, self.smoothed, self.suggestions, self.stopped = [], [], [], {}, ""
        self._draw()
        self._show_suggestions()
        self.status.setText(
            "Press Run to test learning rates on this dataset."
            if dataset is not None
            else "Open a dataset, then press Run."
        )
        self._update_buttons()
        self._refresh_schedule()

    # ------------------------------------------------------------ drawing
    def _set_x_range(self, start: float, end: float) -> None:
        self.plot.getPlotItem().setXRange(math.log10(start), math.log10(end), padding=0.02)

    def _draw(self) -> None:
        x = np.asarray(self.lrs, dtype=float)
        self.raw_curve.setData(x, np.asarray(self.losses, dtype=float))
        self.smooth_curve.setData(x, np.asarray(self.smoothed, dtype=float))
        yr = loss_view_range(self.losses, self.smoothed)
        if yr is not None:
            self.plot.getPlotItem().setYRange(*yr, padding=0)

    def _show_suggestions(self) -> None:
        spots = []
        # the default suggestion last, so its marker is drawn on top when two coincide
        names = sorted(self.suggestion_buttons, key=lambda n: n == DEFAULT_SUGGESTION)
        for name in names:
            button = self.suggestion_buttons[name]
            lr = self.suggestions.get(name)
            button.setText(f"{SUGGESTION_LABELS[name]}  {format_lr(lr)}")
            button.setEnabled(lr is not None)
            f = button.font()
            f.setBold(name == DEFAULT_SUGGESTION and lr is not None)
            button.setFont(f)
            if lr is not None and self.lrs:
                y = float(np.interp(math.log10(lr), np.log10(self.lrs), self.smoothed))
                spots.append({"pos": (math.log10(lr), y), "data": name, "brush": pg.mkBrush(SUGGESTION_COLORS[name])})
        self.markers.setData(spots)

    def _refresh_schedule(self, *_) -> None:
        which = self.sched_view.currentData()
        sp = self.sched_plot.getPlotItem()
        self.sched_lr_line.setValue(math.log10(self.state.lr))
        if which == "test":
            planned = self._planned or self._planned_from_controls()
            self.sched_planned.setData(np.arange(len(planned)), np.asarray(planned))
            self.sched_done.setData(np.arange(len(self.lrs)), np.asarray(self.lrs, dtype=float))
            sp.setLabel("bottom", "iteration of the LR test")
            self.sched_note.setText("dashed: planned, blue: done, red: your LR")
            return
        plan = self._training_plan()
        self.sched_done.setData([], [])
        if plan:
            self.sched_planned.setData(np.arange(len(plan)), np.asarray(plan))
            sp.setLabel("bottom", "training iteration")
            self.sched_note.setText(f"{len(plan)} iterations, peak LR {format_lr(max(plan))}")
        else:
            self.sched_planned.setData([], [])
            self.sched_note.setText("Open a dataset to see the training plan.")

    def _planned_from_controls(self) -> list[float]:
        b = self._bounds()
        if b is None:
            return []
        return lr_schedule(b[0], b[1], self.iters_spin.value(), self.mode_combo.currentData())

    def _training_plan(self) -> list[float]:
        """Learner.schedule() for the Train settings with the chosen LR (cheap: no model is built)."""
        if self.state.dataset is None:
            return []
        from engine.training import Learner, TrainConfig

        config = dataclasses.replace(self.state.train_config or TrainConfig(), lr=self.state.lr)
        try:
            return list(Learner(self.state.dataset, config).schedule())
        except (ValueError, ZeroDivisionError) as exc:
            self.sched_note.setText(str(exc))
            return []

    # ------------------------------------------------------------ export
    def export_png(self, path) -> Path:
        path = Path(path)
        if not self.plot.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def export_csv(self, path) -> Path:
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "lr", "loss", "smoothed_loss"])
            for i, row in enumerate(zip(self.lrs, self.losses, self.smoothed, strict=False)):
                w.writerow([i, *(repr(float(v)) for v in row)])
        return path

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot as PNG", "lr_finder.png", "PNG image (*.png)")
        if path:
            self._export(self.export_png, path)

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export data as CSV", "lr_finder.csv", "CSV (*.csv)")
        if path:
            self._export(self.export_csv, path)

    def _export(self, fn, path) -> None:
        try:
            fn(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        self.status.setText(f"Saved {path}")


# Settings that change the network or its cached inputs (the Train panel reuses a learner by the same rule).
MODEL_KEYS = ("arch", "size", "precompute", "weights_file", "device")


def _same_model(a, b) -> bool:
    """Whether a learner built with config ``a`` has the network and inputs that config ``b`` asks for."""
    return all(getattr(a, k, None) == getattr(b, k, None) for k in MODEL_KEYS)
