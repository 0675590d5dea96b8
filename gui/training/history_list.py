"""The run history: one line per stored run (engine.runs) naming its dataset; select runs to overlay
them, right-click to use a run's model or delete runs; the open dataset's runs or all, and the cap."""

from __future__ import annotations

import math

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.lr_curves import format_lr
from engine.run_records import run_summary
from gui import theme
from gui.training.charts import MAX_COMPARE, compare_colour

ID_ROLE = Qt.UserRole


def format_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def describe_run(rec: dict) -> str:
    """One line: "run 7 · sample · resnet34 · 3 epochs · 81.2 % · done" (a record's odd values shown
    as text, never trusted to be numbers)."""
    s = run_summary(rec)
    n = s["epochs"]
    parts = [f"run {s['id']}", str(s["dataset"] or "?"), str(s["arch"]), f"{n} epoch{'s' if n != 1 else ''}"]
    acc = _number(s["best_accuracy"])
    if acc is not None:
        parts.append(f"{100 * acc:.1f} %")
    parts.append(s["state"])
    return " · ".join(parts)


def run_tooltip(rec: dict, size: int) -> str:
    s = run_summary(rec)
    config = rec["configs"][-1]
    lines = [describe_run(rec), f"Dataset: {s['dataset_path']}", f"Started {s['created']}"]
    loss = _number(s["best_valid_loss"])
    if s["best_epoch"] is not None and loss is not None:
        lines.append(f"Best epoch {s['best_epoch']}: valid loss {loss:.4f}")
    keys = ("size", "bs", "lr", "epochs", "cycles", "cycle_len", "cycle_mult", "precompute", "unfreeze", "aug")
    for k in (k for k in keys if config.get(k) is not None):
        value = config[k]
        lines.append(f"{k}: {format_lr(value) if k == 'lr' and _number(value) else value}"[:200])
    if s["message"]:
        lines.append(str(s["message"])[:500])
    lines.append(f"On disk: {format_bytes(size)}")
    return "\n".join(lines)


class RunHistoryList(QListWidget):
    comparedChanged = Signal(list)  # the selected run ids (at most MAX_COMPARE), in overlay order
    deleteRequested = Signal(list)  # run ids
    useRequested = Signal(int)  # run id whose best model becomes current

    def __init__(self):
        super().__init__()
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.ElideMiddle)  # the tooltip has every setting
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.setToolTip(
            "Stored runs, newest first. Select runs (Ctrl/Shift-click) to overlay their curves, dashed; "
            "right-click to use a run's model or delete runs"
        )
        self.customContextMenuRequested.connect(self._menu)
        self.itemSelectionChanged.connect(self._on_selection)
        self._sizes: dict[int, int] = {}

    def show_runs(self, runs: list[dict], sizes: dict[int, int]) -> None:
        """Show these run records (newest first) with the bytes each uses; keeps the selection it can."""
        selected = set(self.compared_ids())
        self._sizes = dict(sizes)
        with QSignalBlocker(self):
            self.clear()
            for rec in runs:
                item = QListWidgetItem(describe_run(rec))
                item.setData(ID_ROLE, rec["id"])
                item.setToolTip(run_tooltip(rec, sizes.get(rec["id"], 0)))
                self.addItem(item)
                item.setSelected(rec["id"] in selected)
        self._on_selection()

    def run_ids(self) -> list[int]:
        return [self.item(i).data(ID_ROLE) for i in range(self.count())]

    def compared_ids(self) -> list[int]:
        return [item.data(ID_ROLE) for item in self.selectedItems()[:MAX_COMPARE]]

    def _on_selection(self) -> None:
        """Mark each overlaid run with its colour; tell which runs to overlay."""
        selected = self.selectedItems()[:MAX_COMPARE]
        for i in range(self.count()):
            self.item(i).setIcon(QIcon())
        for i, item in enumerate(selected):
            swatch = QPixmap(12, 12)
            swatch.fill(compare_colour(i))
            item.setIcon(QIcon(swatch))
        self.comparedChanged.emit(self.compared_ids())

    def menu_actions(self, ids: list[int]) -> list[QAction]:
        """The context menu's actions for these runs (also what tests trigger)."""
        actions = []
        if len(ids) == 1:
            use = QAction(f"Use run {ids[0]}'s best model", self)
            use.triggered.connect(lambda: self.useRequested.emit(ids[0]))
            actions.append(use)
        size = format_bytes(sum(self._sizes.get(i, 0) for i in ids))
        delete = QAction(f"Delete {len(ids)} run{'s' if len(ids) != 1 else ''} and their models ({size})", self)
        delete.triggered.connect(lambda: self.deleteRequested.emit(ids))
        actions.append(delete)
        return actions

    def _menu(self, pos) -> None:
        ids = [item.data(ID_ROLE) for item in self.selectedItems()]
        if not ids:
            return
        menu = QMenu(self)
        for action in self.menu_actions(ids):
            action.setParent(menu)
            menu.addAction(action)
        menu.popup(self.viewport().mapToGlobal(pos))


class RunHistoryBox(QWidget):
    """The list with its options: all datasets or the open one's, how many runs to keep, the disk used."""

    allDatasetsToggled = Signal(bool)
    capEdited = Signal(int)  # runs to keep per dataset

    def __init__(self):
        super().__init__()
        self.list = RunHistoryList()
        self.all_check = QCheckBox("All datasets")
        self.all_check.setToolTip("Show the runs of every dataset, not only the open dataset's")
        self.keep_spin = QSpinBox()
        self.keep_spin.setRange(1, 999)
        self.keep_spin.setPrefix("Keep ")
        self.keep_spin.setSuffix(" per dataset")
        self.keep_spin.setToolTip(
            "How many runs of each dataset the store keeps; older runs and their models are deleted after a "
            "run (never the model in use)"
        )
        self.disk_label = QLabel()
        self.disk_label.setToolTip("Disk space the stored runs and their models use")
        self.note = QLabel()  # damaged records, a store that cannot be written
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.css(theme.error_text())};")
        self.note.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Run history</b>"))
        top.addStretch(1)
        top.addWidget(self.all_check)
        bottom = QHBoxLayout()
        bottom.addWidget(self.keep_spin)
        bottom.addStretch(1)
        bottom.addWidget(self.disk_label)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(top)
        col.addWidget(self.list, 1)
        col.addLayout(bottom)
        col.addWidget(self.note)
        self.all_check.toggled.connect(self.allDatasetsToggled)
        self.keep_spin.editingFinished.connect(lambda: self.capEdited.emit(self.keep_spin.value()))

    def show_cap(self, keep: int | None) -> None:
        with QSignalBlocker(self.keep_spin):
            self.keep_spin.setValue(keep or self.keep_spin.maximum())

    def show_disk(self, total: int) -> None:
        self.disk_label.setText(f"{format_bytes(total)} used")

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
