"""This run's epochs as a table: train loss, valid loss, accuracy, seconds."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

COLUMNS = ["epoch", "train loss", "valid loss", "accuracy", "time (s)"]


def _fmt(value, pattern: str) -> str:
    return pattern.format(value) if isinstance(value, (int, float)) and math.isfinite(value) else "–"


def epoch_row(rec: dict) -> list[str]:
    """The table's texts for one epoch record (a missing or non-finite value reads "–")."""
    epoch, acc = rec.get("epoch"), rec.get("accuracy")
    return [
        str(int(epoch)) if isinstance(epoch, (int, float)) and math.isfinite(epoch) else "–",
        _fmt(rec.get("train_loss"), "{:.4f}"),
        _fmt(rec.get("valid_loss"), "{:.4f}"),
        _fmt(100 * acc if isinstance(acc, (int, float)) else None, "{:.1f} %"),
        _fmt(rec.get("seconds"), "{:.1f}"),
    ]


class EpochTable(QTableWidget):
    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        # columns fit their text (a narrow window scrolls sideways instead of cutting "train loss" to "ain los")
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setAlternatingRowColors(True)

    def add_section(self, name: str) -> None:
        """A row across the table naming the part of the run whose epochs follow (Auto's stages)."""
        row = self.rowCount()
        self.insertRow(row)
        item = QTableWidgetItem(name)
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        self.setItem(row, 0, item)
        self.setSpan(row, 0, 1, len(COLUMNS))
        self.scrollToBottom()

    def add_epoch(self, rec: dict) -> None:
        row = self.rowCount()
        self.insertRow(row)
        for col, text in enumerate(epoch_row(rec)):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.setItem(row, col, item)
        self.scrollToBottom()
