"""The confusion matrix: rows are the true class, columns the predicted one; a click picks a cell."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
)

from gui.classify.display import TEXT

CELL_HEIGHT = 84  # up to 6 classes the matrix keeps square-ish cells instead of filling the column


class _CellDelegate(QStyledItemDelegate):
    """Keep a chosen cell's colour (a blue selection would hide it) and frame it instead."""

    def paint(self, painter, option, index) -> None:
        selected = bool(option.state & QStyle.State_Selected)
        option.state &= ~QStyle.State_Selected
        option.state &= ~QStyle.State_HasFocus
        super().paint(painter, option, index)
        if selected:
            painter.save()
            painter.setPen(QPen(TEXT, 3))
            painter.drawRect(option.rect.adjusted(1, 1, -2, -2))
            painter.restore()


def cell_colour(count: int, frac: float, diagonal: bool) -> QColor:
    """Green on the diagonal (right), red off it (wrong), deeper as the share of the true class grows."""
    if diagonal:
        return QColor.fromHsvF(0.36, 0.15 + 0.55 * frac, 0.98 - 0.25 * frac)
    return QColor.fromHsvF(0.0, 0.08 + 0.7 * frac, 0.99 - 0.1 * frac) if count else QColor("white")


class ConfusionMatrix(QTableWidget):
    """Rows: true class; columns: predicted class. Click a cell to see exactly those images."""

    cellChosen = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.setItemDelegate(_CellDelegate(self))
        self.setToolTip(
            "Rows: the true class. Columns: what the model predicted. "
            "The diagonal is correct; click any cell to see its images."
        )
        self.cellClicked.connect(self.cellChosen.emit)

    def set_matrix(self, cm: np.ndarray, classes: list[str]) -> None:
        n = len(classes)
        self.clear()
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"→ {c}" for c in classes])
        self.setVerticalHeaderLabels(classes)
        rows = cm.sum(1)
        for i in range(n):
            for j in range(n):
                v = int(cm[i, j])
                frac = v / rows[i] if rows[i] else 0.0
                item = QTableWidgetItem(str(v))
                item.setTextAlignment(Qt.AlignCenter)
                item.setBackground(QBrush(cell_colour(v, frac, i == j)))
                f = item.font()
                f.setBold(i == j)
                item.setFont(f)
                item.setToolTip(
                    f"true {classes[i]}, predicted {classes[j]}: {v} image(s) ({100 * frac:.0f} % of {classes[i]})"
                )
                self.setItem(i, j, item)
        self.setMaximumHeight(self.horizontalHeader().height() + 4 + n * CELL_HEIGHT if n <= 6 else 16777215)

    def clear_matrix(self) -> None:
        """No matrix (no evaluation on show)."""
        self.clear()
        self.setRowCount(0)
        self.setColumnCount(0)
