"""The Problems tab: every file that cannot be used, where it is and why."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from engine.data import Problem


class ProblemsTable(QTableWidget):
    problemChosen = Signal(str, str)  # the file's full path and its split: double-click or Enter on a row

    def __init__(self, parent=None):
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["File", "Split", "Problem"])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.Interactive)
        self.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.setColumnWidth(0, 420)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.verticalHeader().hide()
        self.setWordWrap(False)
        self.setToolTip("Double-click a row (or press Enter) to see the file with its details")
        self.cellDoubleClicked.connect(lambda row, _col: self._choose(row))

    def _choose(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None:
            self.problemChosen.emit(item.data(Qt.UserRole), item.data(Qt.UserRole + 1) or "")

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.currentRow() >= 0:
            self._choose(self.currentRow())
            return
        super().keyPressEvent(event)

    # ---- setters (show state; never write it)
    def add_problems(self, problems: list[Problem], root: Path | None = None) -> None:
        """One row per problem; paths inside ``root`` (the dataset folder) are shown relative to it."""
        self.setUpdatesEnabled(False)
        for p in problems:
            r = self.rowCount()
            self.insertRow(r)
            shown = p.path
            if root is not None:
                try:
                    shown = str(Path(p.path).relative_to(root))
                except ValueError:
                    pass
            for c, text in enumerate((shown, p.split or "—", p.reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(p.path if c == 0 else text)
                item.setData(Qt.UserRole, p.path)
                item.setData(Qt.UserRole + 1, p.split or "")
                self.setItem(r, c, item)
        self.setUpdatesEnabled(True)

    def clear_rows(self) -> None:
        self.setRowCount(0)
