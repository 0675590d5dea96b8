"""The Problems tab: every file that cannot be used, where it is and why."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from engine.data import Problem


class ProblemsTable(QTableWidget):
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
                self.setItem(r, c, item)
        self.setUpdatesEnabled(True)

    def clear_rows(self) -> None:
        self.setRowCount(0)
