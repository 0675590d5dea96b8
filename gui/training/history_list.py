"""The run history list: one line per saved run; select runs to overlay them, right-click to delete."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QMenu

from engine.lr_curves import format_lr
from engine.run_history import describe_run
from gui.training.charts import COMPARE_COLORS, MAX_COMPARE

PATH_ROLE = Qt.UserRole


def run_tooltip(run: dict) -> str:
    settings = [f"{k}: {format_lr(v) if k == 'lr' else v}" for k, v in run["settings"].items() if v is not None]
    metrics = [f"{k}: {v:.4g}" for k, v in run["metrics"].items()]
    return "\n".join([describe_run(run), run["dataset"], run["device"], *settings, *metrics])


class RunHistoryList(QListWidget):
    comparedChanged = Signal(list)  # the selected runs (at most MAX_COMPARE), in overlay order
    deleteRequested = Signal(list)  # paths of the runs to delete

    def __init__(self):
        super().__init__()
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.ElideMiddle)  # the tooltip has every setting
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemSelectionChanged.connect(self._on_selection)
        self._runs: dict[str, dict] = {}  # path → run (kept here, not converted into the items)

    def show_runs(self, runs: list[tuple[Path, dict]]) -> None:
        self.clear()
        self._runs.clear()
        for path, run in runs:
            self.addItem(self._item(path, run))

    def add_run(self, path: Path, run: dict) -> None:
        """A new run, at the top (newest first)."""
        self.insertItem(0, self._item(path, run))

    def remove_paths(self, paths: list[str]) -> None:
        for i in reversed(range(self.count())):
            if self.item(i).data(PATH_ROLE) in paths:
                self._runs.pop(self.item(i).data(PATH_ROLE), None)
                self.takeItem(i)

    def compared_runs(self) -> list[dict]:
        return [self._runs[item.data(PATH_ROLE)] for item in self.selectedItems()[:MAX_COMPARE]]

    def _item(self, path: Path, run: dict) -> QListWidgetItem:
        item = QListWidgetItem(describe_run(run))
        item.setData(PATH_ROLE, str(path))
        self._runs[str(path)] = run
        item.setToolTip(run_tooltip(run))
        return item

    def _on_selection(self) -> None:
        """Mark each overlaid run with its colour; tell which runs to overlay."""
        selected = self.selectedItems()[:MAX_COMPARE]
        for i in range(self.count()):
            self.item(i).setIcon(QIcon())
        for color, item in zip(COMPARE_COLORS, selected, strict=False):
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(color))
            item.setIcon(QIcon(swatch))
        self.comparedChanged.emit(self.compared_runs())

    def _menu(self, pos) -> None:
        items = self.selectedItems()
        if not items:
            return
        menu = QMenu(self)
        paths = [item.data(PATH_ROLE) for item in items]
        delete = QAction(f"Delete {len(items)} run{'s' if len(items) != 1 else ''} from history", menu)
        delete.triggered.connect(lambda: self.deleteRequested.emit(paths))
        menu.addAction(delete)
        menu.popup(self.viewport().mapToGlobal(pos))
