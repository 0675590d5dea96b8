"""The Train tab: settings, Start/Cancel, live charts, epoch table and run history.

The panel is a thin view over ``engine.training``: it turns its form into a
``TrainConfig`` (kept in ``AppState.train_config`` for the LR finder), runs
``Learner.fit`` as a ``QtJob`` and draws the plain-data records it yields. Plot
items are created once; records only append to arrays and a ~20 Hz timer pushes
them into the items with ``setData``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.models import (
    ARCHITECTURES,
    WeightsUnavailable,
    device_name,
    export_onnx,
    import_weights,
    pick_device,
    weights_on_disk,
)
from engine.paths import data_dir
from engine.training import AUGMENTATIONS, SCHEDULES, Learner, TrainConfig
from gui.jobs import JobSlot, QtJob

ARCH_LABELS = {
    "efficientnet_lite0": "EfficientNet-Lite0",
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
}
ARCH_TIPS = {
    "efficientnet_lite0": "Fast and accurate; weights included (works offline). The default.",
    "resnet18": "Small ResNet; weights are downloaded once (or imported)",
    "resnet34": "The lesson's network; weights are downloaded once (or imported)",
    "resnet50": "Larger and slower ResNet; weights are downloaded once (or imported)",
}
PTH_FILTER = "Fovea model (*.pth)"
ONNX_FILTER = "ONNX, for other runtimes (*.onnx)"
SCHEDULE_LABELS = {"sgdr": "SGDR (cosine, restarts)", "one_cycle": "One-cycle", "constant": "Constant"}
AUG_LABELS = {"none": "None", "side_on": "Side-on photos", "top_down": "Top-down (satellite, microscope)"}
AUG_TIPS = {
    "none": "Train on the images as they are",
    "side_on": "Mirror left-right, rotate ±10°, zoom up to 10 %, vary brightness and contrast",
    "top_down": "Any of the 8 flips/quarter turns, plus small rotations, zoom and lighting",
}
# Settings that define the network: a Learner with other values is not reused. Precompute is not one:
# the engine continues the same model with precompute off (then augmentation, unfreeze), as in lesson 1.
MODEL_KEYS = ("arch", "size", "weights_file", "device")
REDRAW_MS = 50  # ~20 Hz
MAX_COMPARE = 6  # history runs overlaid at once
MAX_SAVED_POINTS = 2000  # per-batch points kept in a history file
HISTORY_LIMIT = 200
SMOOTH_BETA = 0.98
COLORS = {
    "train": "#1f77b4",
    "valid": "#ff7f0e",
    "acc": "#2ca02c",
    "raw": "#9ecae1",
    "planned": "#d0d0d0",
    "lr": "#1f77b4",
}
COMPARE_COLORS = ["#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


# ---------------------------------------------------------------- GUI-side job helpers


class _WeightsMissing:
    """What the fit job returns instead of raising when pretrained weights are missing."""

    def __init__(self, exc: WeightsUnavailable):
        self.arch, self.message = exc.arch, str(exc)


def fit_job(learner: Learner, stop=None):
    """``learner.fit`` as a job; a missing-weights error comes back as a value the panel can act on."""
    try:
        return (yield from learner.fit(stop=stop))
    except WeightsUnavailable as exc:
        return _WeightsMissing(exc)


def call_job(fn, *args, stop=None):
    """Run a short blocking call (import weights, save a model) off the UI thread."""
    return fn(*args)
    yield  # unreachable: makes this a generator


def smoothed(values: np.ndarray, beta: float = SMOOTH_BETA) -> np.ndarray:
    """Debiased exponential moving average (the LR finder's and fastai's loss smoothing)."""
    out = np.full(len(values), math.nan)
    avg, n = 0.0, 0
    for i, v in enumerate(values):
        if math.isfinite(v):  # a missing point does not reset the average
            avg = beta * avg + (1 - beta) * float(v)
            n += 1
        if n:
            out[i] = avg / (1 - beta**n)
    return out


def format_lr(lr: float) -> str:
    return f"{lr:.4g}" if 1e-3 <= lr < 100 else f"{lr:.3g}"


def format_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def parse_multipliers(text: str) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        return None
    if len(values) != 3 or not all(math.isfinite(v) and v >= 0 for v in values) or not all(values[1:]):
        return None
    return values


# ---------------------------------------------------------------- run history (plain files)


def runs_dir() -> Path:
    return data_dir("runs")


def _thin(values: list, limit: int = MAX_SAVED_POINTS) -> list:
    if len(values) <= limit:
        return list(values)
    idx = np.linspace(0, len(values) - 1, limit).round().astype(int)
    return [values[i] for i in idx]


def save_run(run: dict) -> Path:
    """Write one run's settings, metrics and curves as JSON (atomically) into the runs folder."""
    folder = runs_dir()
    stem = f"{run['created'].replace(':', '').replace('-', '')}-{run['settings']['arch']}"
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_runs(limit: int = HISTORY_LIMIT) -> list[tuple[Path, dict]]:
    """Saved runs, newest first; unreadable files are skipped."""
    out = []
    for path in sorted(runs_dir().glob("*.json"), reverse=True)[:limit]:
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(run, dict) and "settings" in run:
                out.append((path, run))
        except (OSError, ValueError):
            continue
    return out


def describe_run(run: dict) -> str:
    s, m = run["settings"], run.get("metrics", {})
    when = run.get("created", "")[5:16].replace("T", " ")  # MM-DD HH:MM
    if s.get("cycles"):
        n = sum(s["cycle_len"] * s["cycle_mult"] ** c for c in range(s["cycles"]))
        length = f"{s['cycles']} cycles, {n} ep"
    else:
        length = f"{s.get('epochs')} ep"
    flags = [
        f
        for f, on in (
            ("continued", run.get("continued")),
            ("pre", s.get("precompute")),
            ("unfrozen", s.get("unfreeze")),
            (s.get("aug"), s.get("aug") not in (None, "none") and not s.get("precompute")),
            ("TTA", s.get("tta")),
        )
        if on
    ]
    acc = m.get("accuracy")
    acc_text = f"{100 * acc:.1f} %" if isinstance(acc, (int, float)) else "–"
    status = "" if run.get("status", "done") == "done" else f" ({run['status']})"
    return (
        f"{acc_text}  ·  {s['arch']} {s['size']}px · {length} · lr {format_lr(s['lr'])}"
        f"{' · ' + ', '.join(flags) if flags else ''}  ·  {when}{status}"
    )


# ---------------------------------------------------------------- the panel


class TrainingPanel(QWidget):
    """Settings form on the left; charts, epoch table and run history on the right."""

    def __init__(self, state, learner_slot=None, parent=None):
        super().__init__(parent)
        # shared with the other tab that trains the learner (a panel on its own gets its own)
        self.learner_slot = learner_slot or JobSlot("learner", self)
        self.import_action = QAction("Import weights…", self)
        self.import_action.setToolTip(
            "Use a local .pth file as the pretrained weights of the "
            "architecture chosen in the Train tab (for offline computers)"
        )
        self.import_action.triggered.connect(lambda: self.choose_weights_file(retry=False))
        self.save_action = QAction("Save trained model (or export ONNX)…", self)
        self.save_action.triggered.connect(self.choose_save_path)
        self.file_actions = [self.import_action, self.save_action]  # the window puts these in its File menu
        self.state = state
        self._job: QtJob | None = None  # the running fit
        self._active = False
        self._aux: QtJob | None = None  # import weights / save model
        self._aux_active = False
        self._learner: Learner | None = None  # the learner of the current/last run
        self._config: TrainConfig | None = None
        self._run_started = 0.0
        self._first_batch_at: float | None = None
        self._first_batch_iter = 0
        self._total_iters = 0
        self._iters_per_epoch = 0.0
        self._dirty: set[str] = set()  # chart parts changed since the last redraw
        self._missing_arch: str | None = None
        self._error_box: QMessageBox | None = None
        self._reset_curves()

        self._build_form()
        self._build_charts()
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self._form_scroll)
        splitter.addWidget(self._right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([self._form_scroll.minimumWidth(), 1000])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)

        state.lrChanged.connect(self._on_state_lr)
        state.datasetChanged.connect(self._on_dataset)
        self.lr_edit.setText(format_lr(state.lr))
        self._connect_form()
        initial = state.train_config if isinstance(state.train_config, TrainConfig) else TrainConfig()
        self.set_config(dataclasses.replace(initial, lr=state.lr))
        self.reload_history()
        self._update_enabled()
        self.status_label.setText(self._ready_text())

    # ------------------------------------------------------------ building
    def _build_form(self) -> None:
        form_widget = QWidget()
        col = QVBoxLayout(form_widget)
        col.setContentsMargins(0, 0, 6, 0)

        # model
        box = QGroupBox("Model")
        f = QFormLayout(box)
        self.arch_combo = QComboBox()
        for arch in ARCHITECTURES:
            self.arch_combo.addItem(ARCH_LABELS.get(arch, arch), arch)
            self.arch_combo.setItemData(self.arch_combo.count() - 1, ARCH_TIPS.get(arch, ""), Qt.ToolTipRole)
        self.arch_combo.setToolTip("The ImageNet-pretrained network to fine-tune")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(32, 512)
        self.size_spin.setSingleStep(32)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Images are resized and centre-cropped to this square size")
        self.bs_spin = QSpinBox()
        self.bs_spin.setRange(2, 1024)
        self.bs_spin.setToolTip("Images per training step; lower it if the GPU runs out of memory")
        self.device_label = QLabel(device_name(pick_device()))
        self.device_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        f.addRow("Architecture", self.arch_combo)
        f.addRow("Image size", self.size_spin)
        f.addRow("Batch size", self.bs_spin)
        f.addRow("Device", self.device_label)
        # shown when the chosen architecture's weights are not on this computer
        self.weights_box = QFrame()
        self.weights_box.setObjectName("weightsBox")
        self.weights_box.setStyleSheet(
            "#weightsBox { background: #fff4e5; border: 1px solid #f0b429; border-radius: 4px; }"
        )
        wl = QVBoxLayout(self.weights_box)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.weights_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.import_button = QPushButton("Import weights file…")
        self.import_button.setToolTip("Choose a local .pth state dict for this architecture; it is checked and kept")
        wl.addWidget(self.weights_label)
        wl.addWidget(self.import_button, 0, Qt.AlignLeft)
        self.weights_box.hide()
        f.addRow(self.weights_box)
        col.addWidget(box)

        # data
        box = QGroupBox("Data")
        f = QFormLayout(box)
        self.precompute_check = QCheckBox("Precompute activations")
        self.precompute_check.setToolTip(
            "Run the frozen network once over every image and cache the result; "
            "then only the new head trains, in seconds"
        )
        self.aug_combo = QComboBox()
        for aug in AUGMENTATIONS:
            self.aug_combo.addItem(AUG_LABELS.get(aug, aug), aug)
            self.aug_combo.setItemData(self.aug_combo.count() - 1, AUG_TIPS.get(aug, ""), Qt.ToolTipRole)
        self.aug_note = QLabel()
        self.aug_note.setWordWrap(True)
        self.aug_note.setStyleSheet("color: #8a5a00;")
        f.addRow(self.precompute_check)
        f.addRow("Augmentation", self.aug_combo)
        f.addRow(self.aug_note)
        col.addWidget(box)

        # schedule
        box = QGroupBox("Schedule")
        f = QFormLayout(box)
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Learning rate (shared with the LR finder tab), e.g. 0.01 or 1e-2")
        self.lr_edit.setMaximumWidth(110)
        self.schedule_combo = QComboBox()
        for s in SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_LABELS.get(s, s), s)
        self.epochs_radio = QRadioButton("Epochs")
        self.cycles_radio = QRadioButton("Cycles")
        self._length_group = QButtonGroup(self)
        self._length_group.addButton(self.epochs_radio)
        self._length_group.addButton(self.cycles_radio)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.cycles_spin = QSpinBox()
        self.cycles_spin.setRange(1, 20)
        self.cycle_len_spin = QSpinBox()
        self.cycle_len_spin.setRange(1, 100)
        self.cycle_len_spin.setPrefix("len ")
        self.cycle_mult_spin = QSpinBox()
        self.cycle_mult_spin.setRange(1, 4)
        self.cycle_mult_spin.setPrefix("× ")
        self.cycles_spin.setToolTip("SGDR restarts: number of cosine cycles")
        self.cycle_len_spin.setToolTip("Epochs in the first cycle (cycle_len)")
        self.cycle_mult_spin.setToolTip("Each cycle is this many times longer than the previous (cycle_mult)")
        ep_row = QHBoxLayout()
        ep_row.addWidget(self.epochs_radio)
        ep_row.addWidget(self.epochs_spin)
        ep_row.addStretch(1)
        cy_row = QHBoxLayout()
        cy_row.addWidget(self.cycles_radio)
        cy_row.addWidget(self.cycles_spin)
        cy_row.addWidget(self.cycle_len_spin)
        cy_row.addWidget(self.cycle_mult_spin)
        self.length_note = QLabel()
        self.length_note.setStyleSheet("color: #555;")
        f.addRow("Learning rate", self.lr_edit)
        f.addRow("Schedule", self.schedule_combo)
        f.addRow(ep_row)
        f.addRow(cy_row)
        f.addRow(self.length_note)
        col.addWidget(box)

        # fine-tuning
        box = QGroupBox("Fine-tuning")
        f = QFormLayout(box)
        self.unfreeze_check = QCheckBox("Unfreeze all layers")
        self.unfreeze_check.setToolTip(
            "Train the pretrained layers too, each layer group with its own learning rate (differential learning rates)"
        )
        self.mult_edit = QLineEdit()
        self.mult_edit.setToolTip("Learning-rate multipliers for early layers, later layers, head")
        self.mult_note = QLabel()
        self.mult_note.setStyleSheet("color: #555;")
        self.mult_note.setWordWrap(True)
        self.opt_combo = QComboBox()
        self.opt_combo.addItem("SGD with momentum (the lesson's)", "sgd")
        self.opt_combo.addItem("AdamW", "adamw")
        self.opt_combo.setToolTip(
            "How the weights follow the gradient. AdamW (with weight decay about 0.1 and "
            "LR about 3e-3) often fine-tunes an unfrozen network better on small datasets."
        )
        self.wd_spin = QDoubleSpinBox()
        self.wd_spin.setDecimals(4)
        self.wd_spin.setRange(0.0, 1.0)
        self.wd_spin.setSingleStep(0.01)
        self.wd_spin.setToolTip("Weight decay: pulls weights towards zero each step (regularisation)")
        self.views_spin = QSpinBox()
        self.views_spin.setRange(0, 32)
        self.views_spin.setSpecialValueText("off")
        self.views_spin.setToolTip(
            "With the early layers kept frozen (first multiplier 0) and precompute off: run "
            "them once on this many augmented copies of each training image and keep the "
            "results in memory, so each epoch only runs the later layers — about twice as "
            "fast. Each epoch picks one copy per image."
        )
        self.tta_check = QCheckBox("Test-time augmentation (TTA)")
        self.tta_check.setToolTip(
            "Measure the final accuracy on the average prediction over flipped and "
            "zoomed copies of each validation image"
        )
        f.addRow(self.unfreeze_check)
        f.addRow("LR multipliers", self.mult_edit)
        f.addRow(self.mult_note)
        f.addRow("Optimiser", self.opt_combo)
        f.addRow("Weight decay", self.wd_spin)
        f.addRow("Cached views", self.views_spin)
        f.addRow(self.tta_check)
        col.addWidget(box)
        self._settings_boxes = [w for w in form_widget.findChildren(QGroupBox)]

        # run
        self.start_button = QPushButton(QIcon.fromTheme("media-playback-start"), "Start training")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(30)
        self.cancel_button = QPushButton(QIcon.fromTheme("process-stop"), "Cancel")
        self.save_button = QPushButton(QIcon.fromTheme("document-save"), "Save model…")
        self.save_button.setToolTip(
            "Write the trained model to one file (weights, classes, preprocessing, "
            "metrics), or export it as ONNX for other runtimes"
        )
        # the run controls stay in view under the scrolling settings, whatever the window's height
        run_widget = QWidget()
        run_col = QVBoxLayout(run_widget)
        run_col.setContentsMargins(0, 6, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.start_button, 2)
        row.addWidget(self.cancel_button, 1)
        run_col.addLayout(row)
        run_col.addWidget(self.save_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.eta_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        run_col.addWidget(self.progress)
        run_col.addWidget(self.eta_label)
        run_col.addWidget(self.status_label)
        col.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(form_widget)
        width = form_widget.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4
        scroll.setMinimumWidth(width)
        left = QWidget()
        left_col = QVBoxLayout(left)
        left_col.setContentsMargins(0, 0, 0, 0)
        left_col.addWidget(scroll, 1)
        left_col.addWidget(run_widget)
        left.setMinimumWidth(width)
        self._form_scroll = left

    def _plot(self, title: str, x_label: str, y_label: str, units: str = "") -> pg.PlotWidget:
        w = pg.PlotWidget()
        w.setTitle(title, size="10pt")
        w.setLabel("bottom", x_label)
        w.setLabel("left", y_label, units=units or None)
        for side in ("left", "bottom"):  # losses and LRs are plain numbers: no "(x0.001)" prefixes
            w.getAxis(side).enableAutoSIPrefix(False)
        w.showGrid(x=True, y=True, alpha=0.2)
        w.setMenuEnabled(False)
        w.setMinimumHeight(170)
        return w

    def _build_charts(self) -> None:
        def pen(color, width=2, style=Qt.SolidLine):
            return pg.mkPen(QColor(color), width=width, style=style)

        self.loss_plot = self._plot("Training loss per batch", "epoch", "loss")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.batch_raw_item = self.loss_plot.plot([], [], pen=pen(COLORS["raw"], 1), name="batch")
        self.batch_smooth_item = self.loss_plot.plot([], [], pen=pen(COLORS["train"]), name="smoothed")

        self.epoch_plot = self._plot("Loss per epoch", "epoch", "loss")
        self.epoch_plot.addLegend(offset=(-10, 10))
        self.train_item = self.epoch_plot.plot(
            [], [], pen=pen(COLORS["train"]), symbol="o", symbolSize=6, symbolBrush=COLORS["train"], name="train"
        )
        self.valid_item = self.epoch_plot.plot(
            [], [], pen=pen(COLORS["valid"]), symbol="s", symbolSize=6, symbolBrush=COLORS["valid"], name="valid"
        )

        self.acc_plot = self._plot("Validation accuracy", "epoch", "accuracy", "%")
        self.acc_plot.addLegend(offset=(-10, -10))
        self.acc_item = self.acc_plot.plot(
            [], [], pen=pen(COLORS["acc"]), symbol="o", symbolSize=6, symbolBrush=COLORS["acc"], name="this run"
        )

        self.lr_plot = self._plot("Learning rate schedule (plot_lr)", "iteration", "learning rate")
        self.lr_plot.addLegend(offset=(-10, 10))
        # planned: a wide pale band under the actual per-batch line, so both stay visible where they agree
        self.planned_item = self.lr_plot.plot([], [], pen=pen(COLORS["planned"], 6), name="planned")
        self.lr_item = self.lr_plot.plot([], [], pen=pen(COLORS["lr"], 2), name="actual (per batch)")

        # comparison overlays: a fixed pool, filled by setData when history runs are selected
        self.compare_items: list[dict[str, pg.PlotDataItem]] = []
        for color in COMPARE_COLORS:
            self.compare_items.append(
                {
                    "batch": self.loss_plot.plot([], [], pen=pen(color, 1)),
                    "valid": self.epoch_plot.plot(
                        [],
                        [],
                        pen=pen(color, 2, Qt.DashLine),
                        symbol="s",
                        symbolSize=5,
                        symbolBrush=color,
                        symbolPen=None,
                    ),
                    "acc": self.acc_plot.plot(
                        [],
                        [],
                        pen=pen(color, 2, Qt.DashLine),
                        symbol="o",
                        symbolSize=5,
                        symbolBrush=color,
                        symbolPen=None,
                    ),
                    "lr": self.lr_plot.plot([], [], pen=pen(color, 1)),
                }
            )

        charts = QWidget()
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.epoch_plot, 0, 1)
        grid.addWidget(self.lr_plot, 1, 0)
        grid.addWidget(self.acc_plot, 1, 1)

        self.epoch_table = QTableWidget(0, 5)
        self.epoch_table.setHorizontalHeaderLabels(["epoch", "train loss", "valid loss", "accuracy", "time (s)"])
        self.epoch_table.verticalHeader().hide()
        self.epoch_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.epoch_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        # columns fit their text (a narrow window scrolls sideways instead of cutting "train loss" to "ain los")
        self.epoch_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.epoch_table.horizontalHeader().setStretchLastSection(True)
        self.epoch_table.setAlternatingRowColors(True)

        hist = QWidget()
        hl = QVBoxLayout(hist)
        hl.setContentsMargins(0, 0, 0, 0)
        hist_label = QLabel("<b>Run history</b> — select runs (Ctrl/Shift-click) to overlay their curves, dashed")
        hist_label.setWordWrap(True)
        hl.addWidget(hist_label)
        self.history_list = QListWidget()
        self.history_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.history_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.history_list.setTextElideMode(Qt.ElideMiddle)  # the tooltip has every setting
        self.history_list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.history_list.customContextMenuRequested.connect(self._history_menu)
        self.history_list.itemSelectionChanged.connect(self._on_history_selection)
        hl.addWidget(self.history_list)
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("<b>Epochs</b> — this run"))
        tl.addWidget(self.epoch_table)

        bottom = QSplitter(Qt.Horizontal)
        bottom.addWidget(table_box)
        bottom.addWidget(hist)
        bottom.setSizes([420, 480])
        right = QSplitter(Qt.Vertical)
        right.addWidget(charts)
        right.addWidget(bottom)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([560, 220])
        self._right = right

    def _connect_form(self) -> None:
        for combo in (self.arch_combo, self.aug_combo, self.schedule_combo, self.opt_combo):
            combo.currentIndexChanged.connect(self._on_form_changed)
        for spin in (
            self.size_spin,
            self.bs_spin,
            self.epochs_spin,
            self.cycles_spin,
            self.cycle_len_spin,
            self.cycle_mult_spin,
            self.wd_spin,
            self.views_spin,
        ):
            spin.valueChanged.connect(self._on_form_changed)
        for check in (self.precompute_check, self.unfreeze_check, self.tta_check, self.epochs_radio):
            check.toggled.connect(self._on_form_changed)
        self.lr_edit.editingFinished.connect(self._on_lr_edited)
        self.lr_edit.textEdited.connect(self._check_lr_text)
        self.mult_edit.editingFinished.connect(self._on_form_changed)
        self.mult_edit.textEdited.connect(lambda _t: self._refresh_form())
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self.choose_save_path)
        self.import_button.clicked.connect(lambda: self.choose_weights_file(retry=True))

    # ------------------------------------------------------------ settings <-> TrainConfig
    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (the LR goes to AppState, the form follows it)."""
        blockers = [
            QSignalBlocker(w)
            for w in (
                self.arch_combo,
                self.aug_combo,
                self.schedule_combo,
                self.size_spin,
                self.bs_spin,
                self.epochs_spin,
                self.cycles_spin,
                self.cycle_len_spin,
                self.cycle_mult_spin,
                self.precompute_check,
                self.unfreeze_check,
                self.tta_check,
                self.epochs_radio,
                self.cycles_radio,
                self.opt_combo,
                self.wd_spin,
                self.views_spin,
            )
        ]
        idx = self.arch_combo.findData(config.arch)
        if idx < 0:  # an architecture not in the menu (e.g. a test backbone): list it
            self.arch_combo.addItem(config.arch, config.arch)
            idx = self.arch_combo.count() - 1
        self.arch_combo.setCurrentIndex(idx)
        self.size_spin.setValue(config.size)
        self.bs_spin.setValue(config.bs)
        self.precompute_check.setChecked(config.precompute)
        self.aug_combo.setCurrentIndex(max(0, self.aug_combo.findData(config.aug)))
        self.schedule_combo.setCurrentIndex(max(0, self.schedule_combo.findData(config.schedule)))
        self.epochs_spin.setValue(config.epochs)
        self.cycles_radio.setChecked(config.cycles is not None)
        self.epochs_radio.setChecked(config.cycles is None)
        self.cycles_spin.setValue(config.cycles or 1)
        self.cycle_len_spin.setValue(config.cycle_len)
        self.cycle_mult_spin.setValue(config.cycle_mult)
        self.unfreeze_check.setChecked(config.unfreeze)
        self.mult_edit.setText(", ".join(f"{m:g}" for m in config.lr_mult))
        self.tta_check.setChecked(config.tta)
        self.opt_combo.setCurrentIndex(max(0, self.opt_combo.findData(config.opt)))
        self.wd_spin.setValue(config.wd)
        self.views_spin.setValue(config.frozen_views)
        del blockers
        self._base_config = config  # keeps the settings the form does not show (seed, optimizer, …)
        self.state.set_lr(config.lr)
        self._on_form_changed()

    def config(self) -> TrainConfig:
        """The form's settings as a TrainConfig (LR from AppState)."""
        cycles_mode = self.cycles_radio.isChecked() and self.schedule_combo.currentData() == "sgdr"
        mult = parse_multipliers(self.mult_edit.text()) or TrainConfig().lr_mult
        return dataclasses.replace(
            self._base_config,
            arch=self.arch_combo.currentData(),
            size=self.size_spin.value(),
            bs=self.bs_spin.value(),
            lr=self.state.lr,
            epochs=self.epochs_spin.value(),
            cycles=self.cycles_spin.value() if cycles_mode else None,
            cycle_len=self.cycle_len_spin.value(),
            cycle_mult=self.cycle_mult_spin.value(),
            schedule=self.schedule_combo.currentData(),
            precompute=self.precompute_check.isChecked(),
            aug=self.aug_combo.currentData(),
            unfreeze=self.unfreeze_check.isChecked(),
            lr_mult=mult,
            tta=self.tta_check.isChecked(),
            opt=self.opt_combo.currentData(),
            wd=self.wd_spin.value(),
            frozen_views=self.views_spin.value() if self._views_apply() else 0,
        )

    def _on_form_changed(self, *_args) -> None:
        if self.sender() is self.arch_combo:
            self._base_config = dataclasses.replace(self._base_config, weights_file=None)
            self._check_weights_on_disk()
        self._refresh_form()
        config = self.config()
        if config != self.state.train_config:
            self.state.set_train_config(config)

    def _refresh_form(self) -> None:
        """Enable/explain dependent settings (never writes the model)."""
        pre = self.precompute_check.isChecked()
        unfreeze = self.unfreeze_check.isChecked()
        sgdr = self.schedule_combo.currentData() == "sgdr"
        idle = not self.running
        self.aug_combo.setEnabled(idle and not pre)
        if pre:
            self.aug_note.setText(
                "Augmentation is off while precompute is on: the cached activations come from "
                "the original images. Untick precompute to train with augmentation."
            )
        elif unfreeze or self.aug_combo.currentData() != "none":
            self.aug_note.setText("Every batch runs through the whole network (slower than precompute).")
        else:
            self.aug_note.setText("")
        self.aug_note.setVisible(bool(self.aug_note.text()))
        if not sgdr and self.cycles_radio.isChecked():
            self.epochs_radio.setChecked(True)
        self.cycles_radio.setEnabled(idle and sgdr)
        cycles_mode = self.cycles_radio.isChecked() and sgdr
        self.epochs_spin.setEnabled(idle and not cycles_mode)
        for w in (self.cycles_spin, self.cycle_len_spin, self.cycle_mult_spin):
            w.setEnabled(idle and cycles_mode)
        if cycles_mode:
            n = sum(
                self.cycle_len_spin.value() * self.cycle_mult_spin.value() ** c for c in range(self.cycles_spin.value())
            )
            self.length_note.setText(
                f"= {n} epoch{'s' if n != 1 else ''} in {self.cycles_spin.value()} "
                f"cosine cycle{'s' if self.cycles_spin.value() != 1 else ''}"
            )
        else:
            self.length_note.setText("Cycles (SGDR restarts) need the SGDR schedule." if not sgdr else "")
        self.length_note.setVisible(bool(self.length_note.text()))
        self.mult_edit.setEnabled(idle and unfreeze)
        mult = parse_multipliers(self.mult_edit.text())
        if mult is None:
            self.mult_note.setText("Three numbers, e.g. 0.01, 0.1, 1 (the first may be 0: early layers stay frozen)")
            self.mult_note.setStyleSheet("color: #c0392b;")
        else:
            lrs = " · ".join(
                f"{name} {format_lr(self.state.lr * m)}"
                for name, m in zip(("early", "later", "head"), mult, strict=False)
            )
            self.mult_note.setText(
                ("Learning rates: " + lrs) if unfreeze else "Only the new head trains while the body is frozen."
            )
            self.mult_note.setStyleSheet("color: #555;")
        if unfreeze and pre:
            self.mult_note.setText(
                self.mult_note.text() + "\nUnfreezing needs the full network: "
                "untick precompute to train the pretrained layers."
            )
        self.views_spin.setEnabled(idle and self._views_apply())
        self.views_spin.setToolTip(
            self.views_spin.toolTip().split("\n")[0]
            + ("" if self._views_apply() else "\nNeeds: Unfreeze on, precompute off, first LR multiplier 0.")
        )

    def _views_apply(self) -> bool:
        """Cached early-layer views need the early group frozen while the rest trains on images."""
        mult = parse_multipliers(self.mult_edit.text())
        return (
            self.unfreeze_check.isChecked()
            and not self.precompute_check.isChecked()
            and mult is not None
            and mult[0] == 0
        )

    # ------------------------------------------------------------ learning rate (two-way with AppState)
    def _on_state_lr(self, lr: float) -> None:
        current = self._parse_lr(self.lr_edit.text())
        if current is None or not math.isclose(current, lr, rel_tol=1e-6):
            self.lr_edit.setText(format_lr(lr))
        self.lr_edit.setStyleSheet("")
        self._refresh_form()
        config = self.config()
        if config != self.state.train_config:
            self.state.set_train_config(config)

    @staticmethod
    def _parse_lr(text: str) -> float | None:
        try:
            v = float(text.strip())
        except ValueError:
            return None
        return v if math.isfinite(v) and 0 < v < 100 else None

    def _check_lr_text(self, text: str) -> None:
        self.lr_edit.setStyleSheet("" if self._parse_lr(text) is not None else "color: #c0392b;")

    def _on_lr_edited(self) -> None:
        lr = self._parse_lr(self.lr_edit.text())
        if lr is None:  # put back the value in use
            self.lr_edit.setText(format_lr(self.state.lr))
            self.lr_edit.setStyleSheet("")
            return
        self.state.set_lr(lr)

    # ------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        """A fit is in progress (from Start until its last signal has been handled)."""
        return self._active

    def _learner_for(self, config: TrainConfig) -> Learner:
        """The shared learner when it can continue with ``config`` (same data and network), else a new one."""
        learner = self.state.learner
        if (
            learner is not None
            and learner.dataset is self.state.dataset
            and all(getattr(learner.config, k) == getattr(config, k) for k in MODEL_KEYS)
        ):
            learner.config = config
            return learner
        learner = Learner(self.state.dataset, config)
        self.state.set_learner(learner)
        return learner

    def start(self) -> None:
        """Train with the form's settings (continuing the shared model when compatible)."""
        if self.running or self.state.dataset is None:
            return
        if self.learner_slot.running:
            self._status("The LR finder is running on this model: wait for it (or cancel it), then press Start.")
            return
        if parse_multipliers(self.mult_edit.text()) is None and self.unfreeze_check.isChecked():
            self._show_error("Invalid learning-rate multipliers", self.mult_note.text())
            return
        self._on_lr_edited()
        config = self.config()
        self.state.set_train_config(config)
        learner = self._learner_for(config)
        continuing = learner.model is not None
        self._continued = continuing
        self._learner, self._config = learner, config
        self.weights_box.hide()
        self._reset_curves()
        self._clear_chart_items()
        self.epoch_table.setRowCount(0)
        self._run_started = time.monotonic()
        self._first_batch_at = None
        self._set_planned_schedule(learner)
        job = self.learner_slot.start(fit_job, learner, owner="Train")
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.ended.connect(self._on_ended)
        self._job = job
        self._active = True
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.eta_label.setText("")
        what = "Continuing training of" if continuing else "Training"
        self._status(f"{what} {config.arch} at {config.size} px on {learner.device.type.upper()}…")
        self._update_enabled()
        self._refresh_form()
        self._timer.start()

    def cancel(self) -> None:
        if self.running:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self._status("Cancelling… (stops after the current batch)")

    def shutdown(self) -> None:
        """Cancel running jobs and wait for their threads (closing, tests)."""
        for job in (self._job, self._aux):
            if job is not None:
                job.cancel()
                job.wait(30)
        self._timer.stop()

    def _set_planned_schedule(self, learner: Learner) -> None:
        try:
            planned = list(learner.schedule())
        except Exception:  # the engine may need prepare() first; the first batch sets it then
            planned = []
        self._planned = planned
        self._total_iters = len(planned)
        epochs = self._config.total_epochs()
        self._iters_per_epoch = self._total_iters / epochs if self._total_iters and epochs else 0.0
        self._dirty.add("planned")
        self._update_x_ranges()

    def _update_x_ranges(self) -> None:
        """Show the whole planned run (and any compared runs) from the start, so progress is visible."""
        epochs = [self._config.total_epochs()] if self._config is not None else []
        iters = [self._total_iters] if self._total_iters else []
        for item in self.history_list.selectedItems()[:MAX_COMPARE]:
            run = item.data(Qt.UserRole + 1)
            if run.get("epochs"):
                epochs.append(max(float(e["epoch"]) for e in run["epochs"]))
            if run.get("batches", {}).get("iteration"):
                iters.append(max(run["batches"]["iteration"]) + 1)
        if epochs:
            n = max(epochs)
            self.loss_plot.setXRange(0, n, padding=0.02)
            self.epoch_plot.setXRange(0.5, n + 0.5, padding=0)
            self.acc_plot.setXRange(0.5, n + 0.5, padding=0)
        if iters:
            self.lr_plot.setXRange(0, max(iters), padding=0.02)

    # ------------------------------------------------------------ records
    def _on_progress(self, rec: dict) -> None:
        if self.sender() is not self._job or not isinstance(rec, dict):
            return
        kind = rec.get("type")
        if kind == "batch":
            self._on_batch(rec)
        elif kind == "epoch":
            self._on_epoch(rec)
        elif kind == "precompute":
            done, total = int(rec.get("done", 0)), max(1, int(rec.get("total", 1)))
            self.progress.setValue(int(1000 * done / total))
            if rec.get("stage") == "frozen":
                self.progress.setFormat(f"Caching early-layer views ({rec.get('split', '')}): {done}/{total}")
                self.eta_label.setText(
                    "Kept in memory for this training run; each epoch then runs only the later layers."
                )
            else:
                self.progress.setFormat(f"Precomputing activations ({rec.get('split', '')}): {done}/{total}")
                self.eta_label.setText("Cached: later runs and the LR finder reuse them.")
        elif kind == "evaluate":
            done, total = int(rec.get("done", 0)), max(1, int(rec.get("total", 1)))
            self.progress.setFormat(f"Test-time augmentation: {done}/{total} validation images")
            self.eta_label.setText("Averaging predictions over flipped and zoomed views…")
        else:
            text = rec.get("message") or rec.get("stage") or kind
            if text:
                self.progress.setFormat(str(text))

    def _on_batch(self, rec: dict) -> None:
        now = time.monotonic()
        if self._first_batch_at is None and self._learner is not None:
            # features are ready now: the engine's batch count is exact (broken images dropped)
            self._set_planned_schedule(self._learner)
        it = int(rec.get("iteration", len(self._batch_loss)))
        if self._first_batch_at is None:
            self._first_batch_at, self._first_batch_iter = now, it
        self._batch_iter.append(it)
        self._batch_epoch.append(float(rec.get("epoch", 0.0)))
        loss = float(rec.get("loss", math.nan))
        self._batch_loss.append(loss)
        if math.isfinite(loss):  # debiased EMA, updated per batch (not recomputed per redraw)
            self._ema = SMOOTH_BETA * self._ema + (1 - SMOOTH_BETA) * loss
            self._ema_n += 1
        self._batch_smooth.append(self._ema / (1 - SMOOTH_BETA**self._ema_n) if self._ema_n else math.nan)
        self._batch_lr.append(float(rec.get("lr", math.nan)))
        self._dirty.add("batches")
        total = self._total_iters
        done = it + 1
        if total:
            self.progress.setValue(min(1000, int(1000 * done / total)))
            n_ep = self._config.total_epochs()
            ep = min(n_ep, int(it // self._iters_per_epoch) + 1) if self._iters_per_epoch else 1
            self.progress.setFormat(f"Epoch {ep}/{n_ep} · iteration {done}/{total}")
            steps = it - self._first_batch_iter
            if steps >= 2:
                rate = (now - self._first_batch_at) / steps
                self.eta_label.setText(
                    f"About {format_seconds(rate * (total - done))} left "
                    f"({1 / rate:.1f} it/s) · elapsed {format_seconds(now - self._run_started)}"
                )
        else:
            self.progress.setFormat(f"Iteration {done}")

    def _on_epoch(self, rec: dict) -> None:
        self._epochs.append({k: rec.get(k) for k in ("epoch", "train_loss", "valid_loss", "accuracy", "seconds")})
        self._add_table_row(self._epochs[-1])
        self._dirty.add("epochs")

    def _add_table_row(self, rec: dict) -> None:
        row = self.epoch_table.rowCount()
        self.epoch_table.insertRow(row)

        def fmt(v, f):
            return f.format(v) if isinstance(v, (int, float)) and math.isfinite(v) else "–"

        values = [
            str(int(rec["epoch"])) if isinstance(rec.get("epoch"), (int, float)) else "–",
            fmt(rec.get("train_loss"), "{:.4f}"),
            fmt(rec.get("valid_loss"), "{:.4f}"),
            fmt(100 * rec["accuracy"] if isinstance(rec.get("accuracy"), (int, float)) else None, "{:.1f} %"),
            fmt(rec.get("seconds"), "{:.1f}"),
        ]
        for col, text in enumerate(values):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.epoch_table.setItem(row, col, item)
        self.epoch_table.scrollToBottom()

    def _on_finished(self, result) -> None:
        if self.sender() is not self._job:
            return
        if isinstance(result, _WeightsMissing):
            self._show_missing_weights(result)
            self._status("Training did not start: pretrained weights missing.")
            return
        result = result if isinstance(result, dict) else {}
        learner = self._learner
        self.progress.setValue(1000)
        self.progress.setFormat("Done")
        secs = time.monotonic() - self._run_started
        acc, vloss = result.get("accuracy"), result.get("valid_loss")
        parts = []
        if isinstance(acc, (int, float)):
            parts.append(f"accuracy {100 * acc:.1f} %")
        if result.get("tta") and isinstance(result.get("accuracy_without_tta"), (int, float)):
            parts[-1] += f" with TTA (without: {100 * result['accuracy_without_tta']:.1f} %)"
        if isinstance(vloss, (int, float)):
            parts.append(f"valid loss {vloss:.4f}")
        self.eta_label.setText(f"Finished in {format_seconds(secs)}")
        self._status("Trained: " + ", ".join(parts) + ". The Classify tab now uses this model.")
        self._record_run("done", result, secs)
        if learner is not None and learner.model is not None:
            self.state.set_model(learner.model)

    def _on_failed(self, message: str) -> None:
        if self.sender() is not self._job:
            return
        self.progress.setFormat("Failed")
        self._status(f"Training failed: {message}")
        self._show_error("Training failed", message)

    def _on_cancelled(self) -> None:
        if self.sender() is not self._job:
            return
        self.progress.setFormat("Cancelled")
        self.eta_label.setText("")
        secs = time.monotonic() - self._run_started
        kept = ""
        if self._epochs:
            self._record_run(
                "cancelled",
                {"history": list(self._epochs), **{k: self._epochs[-1].get(k) for k in ("accuracy", "valid_loss")}},
                secs,
            )
            kept = f" after {len(self._epochs)} epoch{'s' if len(self._epochs) != 1 else ''}"
        if self._learner is not None and self._learner.model is not None and self._epochs:
            self.state.set_model(self._learner.model)
        self._status(f"Cancelled{kept}. The model keeps its last completed step.")

    def _on_ended(self, _kind: str) -> None:
        if self.sender() is not self._job:
            return
        self._active = False
        self._timer.stop()
        self._redraw()
        self._set_idle(None)

    def _on_dataset(self, dataset) -> None:
        self._update_enabled()
        if not self.running:
            self.status_label.setText(self._ready_text())

    def _ready_text(self) -> str:
        ds = self.state.dataset
        if ds is None:
            return "Open a dataset to train on (File ▸ Open)."
        return (
            f"Ready to train on {ds.root.name}: {len(ds.classes)} classes, {len(ds.train)} training and "
            f"{len(ds.valid)} validation images."
        )

    def _set_idle(self, message: str | None) -> None:
        if message is not None:
            self._status(message)
        self._update_enabled()
        self._refresh_form()

    def _update_enabled(self) -> None:
        running = self.running
        for box in self._settings_boxes:
            box.setEnabled(not running)
        self.start_button.setEnabled(not running and self.state.dataset is not None and self._aux_idle())
        self.start_button.setToolTip("" if self.state.dataset is not None else "Open a dataset first")
        self.cancel_button.setEnabled(running)
        model = self._learner.model if self._learner is not None else None
        self.save_button.setEnabled(not running and model is not None and self._aux_idle())
        self.save_action.setEnabled(self.save_button.isEnabled())

    def _aux_idle(self) -> bool:
        return not self._aux_active

    def _status(self, text: str) -> None:
        self.status_label.setText(text)
        self.state.statusMessage.emit(text)

    def _show_error(self, title: str, message: str) -> None:
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # window-modal, does not block the event loop (jobs keep delivering)
        self._error_box = box

    # ------------------------------------------------------------ weights / saving
    def _check_weights_on_disk(self) -> None:
        """Say at once, not at Start, when the chosen architecture's weights still need a download."""
        arch = self.arch_combo.currentData()
        if self._missing_arch == arch:
            return  # the box already explains a failed attempt
        if weights_on_disk(arch):
            self.weights_box.hide()
            return
        self.weights_label.setText(
            f"{ARCH_LABELS.get(arch, arch)}'s ImageNet weights are not on this computer "
            f"yet. Start downloads them once (needs the internet); offline, import a "
            f"weights file (.pth state dict) instead."
        )
        self.weights_box.show()

    def _show_missing_weights(self, missing: _WeightsMissing) -> None:
        self._missing_arch = missing.arch
        self.weights_label.setText(missing.message)
        self.weights_box.show()

    def choose_weights_file(self, retry: bool = True) -> None:
        arch = (self._missing_arch if retry else None) or self.arch_combo.currentData()
        path, _ = QFileDialog.getOpenFileName(
            self, f"Import weights for {arch}", str(Path.home()), "PyTorch weights (*.pth *.pt *.bin);;All files (*)"
        )
        if path:
            self.import_weights_file(arch, path, retry)

    def import_weights_file(self, arch: str, path: str, retry: bool = True) -> None:
        """Check and keep a local weights file for ``arch`` (a job); ``retry``: then start the run again."""
        self._status(f"Checking {Path(path).name} for {arch}…")
        job = QtJob(call_job, import_weights, arch, path, parent=self)
        job.finished.connect(lambda dest, a=arch: self._weights_imported(a, dest, retry))
        job.failed.connect(
            lambda msg: (self._status(f"Import failed: {msg}"), self._show_error("Could not import weights", msg))
        )
        job.ended.connect(lambda _k: self.import_button.setEnabled(True))
        self.import_button.setEnabled(False)
        self._start_aux(job)

    def _weights_imported(self, arch: str, dest, retry: bool) -> None:
        self.import_button.setEnabled(True)
        retry = retry and arch == self._missing_arch  # start again only after a start that failed for it
        if arch == self._missing_arch:
            self._missing_arch = None
        self._check_weights_on_disk()
        self._update_enabled()
        if retry and arch == self.arch_combo.currentData():
            self._status(f"Imported weights for {arch} ({dest}). Starting…")
            self.start()
        else:
            self._status(f"Imported weights for {arch} ({dest}).")

    def default_model_path(self) -> Path:
        ds = self._learner.dataset if self._learner is not None else self.state.dataset
        name = ds.root.name if ds is not None else "model"
        arch = self._config.arch if self._config else self.arch_combo.currentData()
        return data_dir("models") / f"{name}-{arch}.pth"

    def choose_save_path(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save model", str(self.default_model_path()), f"{PTH_FILTER};;{ONNX_FILTER};;All files (*)"
        )
        if path:
            suffix = ".onnx" if chosen == ONNX_FILTER else ".pth"
            if chosen in (PTH_FILTER, ONNX_FILTER) and Path(path).suffix.lower() not in (".pth", ".onnx"):
                path += suffix
            elif chosen == ONNX_FILTER and Path(path).suffix.lower() == ".pth":
                path = str(Path(path).with_suffix(".onnx"))
            self.save_model(path)

    def save_model(self, path) -> None:
        """Write the trained model on a job thread: a Fovea model file, or ONNX when ``path`` ends in .onnx."""
        if self._learner is None or self._learner.model is None or self.running:
            return
        if str(path).lower().endswith(".onnx"):
            job = QtJob(call_job, export_onnx, self._learner.model, str(path), parent=self)
        else:
            job = QtJob(call_job, self._learner.save, str(path), parent=self)
        job.finished.connect(lambda p: self._status(f"Saved model to {p}"))
        job.failed.connect(
            lambda msg: (self._status(f"Saving failed: {msg}"), self._show_error("Could not save the model", msg))
        )
        self._start_aux(job)

    def _start_aux(self, job: QtJob) -> None:
        """Run a short side job (import, save); Start/Save wait for it."""
        self._aux, self._aux_active = job, True

        def ended(_kind):
            if job is self._aux:
                self._aux_active = False
            self._update_enabled()

        job.ended.connect(ended)
        job.start()
        self._update_enabled()

    # ------------------------------------------------------------ history
    def _record_run(self, status: str, result: dict, seconds: float) -> None:
        config = self._config
        metrics = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics["seconds"] = round(seconds, 2)
        ds = self._learner.dataset if self._learner is not None else self.state.dataset
        run = {
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "status": status,
            "continued": self._continued,
            "dataset": str(ds.root) if ds is not None else "",
            "classes": list(ds.classes) if ds is not None else [],
            "device": device_name(self._learner.device) if self._learner is not None else "",
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()},
            "metrics": metrics,
            "epochs": list(self._epochs),
            "batches": {
                "x": _thin(self._batch_x()),
                "loss": _thin(self._batch_loss),
                "lr": _thin(self._batch_lr),
                "iteration": _thin(self._batch_iter),
            },
        }
        try:
            path = save_run(run)
        except OSError as exc:
            self._status(f"Could not save the run history: {exc}")
            return
        self._add_history_item(path, run, top=True)

    def reload_history(self) -> None:
        self.history_list.clear()
        for path, run in load_runs():
            self._add_history_item(path, run)

    def _add_history_item(self, path: Path, run: dict, top: bool = False) -> None:
        item = QListWidgetItem(describe_run(run))
        item.setData(Qt.UserRole, str(path))
        item.setData(Qt.UserRole + 1, run)
        s = run["settings"]
        tip = [f"{k}: {v}" for k, v in s.items() if v is not None]
        tip += [f"{k}: {v:.4g}" for k, v in run.get("metrics", {}).items()]
        item.setToolTip(f"{describe_run(run)}\n{run.get('dataset', '')}\n{run.get('device', '')}\n" + "\n".join(tip))
        if top:
            self.history_list.insertItem(0, item)
        else:
            self.history_list.addItem(item)

    def _history_menu(self, pos) -> None:
        items = self.history_list.selectedItems()
        if not items:
            return
        menu = QMenu(self)
        delete = QAction(f"Delete {len(items)} run{'s' if len(items) != 1 else ''} from history", menu)
        delete.triggered.connect(lambda: self.delete_runs(items))
        menu.addAction(delete)
        menu.popup(self.history_list.viewport().mapToGlobal(pos))

    def delete_runs(self, items: list[QListWidgetItem]) -> None:
        for item in items:
            try:
                Path(item.data(Qt.UserRole)).unlink(missing_ok=True)
            except OSError as exc:
                self._status(f"Could not delete {item.data(Qt.UserRole)}: {exc}")
                continue
            self.history_list.takeItem(self.history_list.row(item))

    def _on_history_selection(self) -> None:
        selected = self.history_list.selectedItems()[:MAX_COMPARE]
        for i in range(self.history_list.count()):
            self.history_list.item(i).setIcon(QIcon())
        for slot, items in enumerate(self.compare_items):
            if slot >= len(selected):
                for it in items.values():
                    it.setData([], [])
                continue
            run = selected[slot].data(Qt.UserRole + 1)
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(COMPARE_COLORS[slot]))
            selected[slot].setIcon(QIcon(swatch))
            ep = run.get("epochs", [])
            xs = [float(e["epoch"]) for e in ep]
            items["valid"].setData(xs, [_num(e.get("valid_loss")) for e in ep])
            items["acc"].setData(xs, [100 * _num(e.get("accuracy")) for e in ep])
            b = run.get("batches", {})
            loss = np.asarray(b.get("loss", []), dtype=float)
            items["batch"].setData(
                np.asarray(b.get("x", []), dtype=float)[: len(loss)], smoothed(loss) if len(loss) else loss
            )
            lrs = b.get("lr", [])
            items["lr"].setData(
                np.asarray(b.get("iteration", range(len(lrs))), dtype=float)[: len(lrs)], np.asarray(lrs, dtype=float)
            )
        self._update_x_ranges()

    # ------------------------------------------------------------ charts
    def _reset_curves(self) -> None:
        self._batch_iter: list[int] = []
        self._batch_epoch: list[float] = []
        self._batch_loss: list[float] = []
        self._batch_lr: list[float] = []
        self._batch_smooth: list[float] = []
        self._ema, self._ema_n = 0.0, 0
        self._epochs: list[dict] = []
        self._planned: list[float] = []

    def _clear_chart_items(self) -> None:
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

    def _batch_x(self) -> list[float]:
        """Batch positions in epochs (so runs with other batch sizes line up)."""
        return list(self._batch_epoch)

    def _redraw(self) -> None:
        """Push what changed to the charts (each setData repaints a plot: unchanged ones are left alone,
        so the UI thread stays free for the user while the job's thread holds the GIL)."""
        dirty, self._dirty = self._dirty, set()
        if "planned" in dirty and self._planned:
            self.planned_item.setData(np.arange(len(self._planned), dtype=float), np.asarray(self._planned))
        if "batches" in dirty and self._batch_loss:
            loss = np.asarray(self._batch_loss, dtype=float)
            x = np.asarray(self._batch_x(), dtype=float)
            self.batch_raw_item.setData(x, loss)
            self.batch_smooth_item.setData(x, np.asarray(self._batch_smooth, dtype=float))
            self.lr_item.setData(np.asarray(self._batch_iter, dtype=float), np.asarray(self._batch_lr, dtype=float))
        if "epochs" in dirty and self._epochs:
            xs = [float(e["epoch"]) for e in self._epochs]
            self.train_item.setData(xs, [_num(e.get("train_loss")) for e in self._epochs])
            self.valid_item.setData(xs, [_num(e.get("valid_loss")) for e in self._epochs])
            self.acc_item.setData(xs, [100 * _num(e.get("accuracy")) for e in self._epochs])


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and v is not None else math.nan
