"""The confusion matrix: rows are the true class, columns the predicted one; a click picks a cell.

It stays readable for many classes in a narrow column: the cells are square and share the width (no
scroll bars), the counts' font scales with them, more than ``NAMED_COLUMNS`` columns are numbered (the
rows say which number is which class), long names are shortened, and every header and cell shows the
full class names on hover.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
)

from gui import theme

MAX_CELL = 84  # a few classes keep square-ish cells instead of filling the column
MIN_CELL = 18
NAMED_COLUMNS = 4  # up to this many classes the columns are named; beyond, numbered
ROW_LABEL = 16  # characters of a row's class name before it is shortened


def shorten(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def cell_colour(count: int, frac: float, diagonal: bool) -> QColor:
    """Right (diagonal) in the success colour, wrong in the error colour, deeper as the share of the true
    class grows; an empty cell is the plot background."""
    base = theme.plot_background()
    if not count:
        return base
    accent = theme.success_text() if diagonal else theme.error_text()
    return theme.blend(base, accent, 0.12 + 0.68 * frac)


class _CellDelegate(QStyledItemDelegate):
    """Counts in a font that fits the cell; a chosen cell keeps its colour (a selection would hide it)
    and is framed instead. Colours are taken when it is made, not while painting."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame = QColor(theme.plot_ink())

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        table = self.parent()
        font = QFont(option.font)
        font.setPixelSize(table.cell_pixels())
        font.setBold(index.row() == index.column())
        option.font = font

    def paint(self, painter, option, index) -> None:
        selected = bool(option.state & QStyle.State_Selected)
        option.state &= ~QStyle.State_Selected
        option.state &= ~QStyle.State_HasFocus
        super().paint(painter, option, index)
        if selected:
            painter.save()
            painter.setPen(QPen(self.frame, 3))
            painter.drawRect(option.rect.adjusted(1, 1, -2, -2))
            painter.restore()


class ConfusionMatrix(QTableWidget):
    """Rows: true class; columns: predicted class. Click a cell to see exactly those images."""

    cellChosen = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.Stretch)
            header.setMinimumSectionSize(MIN_CELL)
        self.horizontalHeader().setTextElideMode(Qt.ElideRight)
        self.setItemDelegate(_CellDelegate(self))
        self.setToolTip(
            "Rows: the true class. Columns: what the model predicted. "
            "The diagonal is correct; click any cell to see its images."
        )
        self.cellClicked.connect(self.cellChosen.emit)
        self._cell = MAX_CELL
        self.setFixedHeight(0)

    def cell_pixels(self) -> int:
        """The counts' font size for the current cell size."""
        return max(9, min(15, int(self._cell * 0.42)))

    def set_matrix(self, cm: np.ndarray, classes: list[str]) -> None:
        n = len(classes)
        self.clear()
        self.setRowCount(n)
        self.setColumnCount(n)
        self._set_headers(classes)
        rows = cm.sum(1)
        for i in range(n):
            for j in range(n):
                v = int(cm[i, j])
                frac = v / rows[i] if rows[i] else 0.0
                item = QTableWidgetItem(str(v))
                item.setTextAlignment(Qt.AlignCenter)
                fill = cell_colour(v, frac, i == j)
                item.setBackground(QBrush(fill))
                item.setForeground(QBrush(theme.ink_on(fill)))
                item.setToolTip(
                    f"true {classes[i]}, predicted {classes[j]}: {v} image(s) ({100 * frac:.0f} % of {classes[i]})"
                )
                self.setItem(i, j, item)
        self._fit()

    def _set_headers(self, classes: list[str]) -> None:
        numbered = len(classes) > NAMED_COLUMNS
        for j, name in enumerate(classes):
            col = QTableWidgetItem(str(j + 1) if numbered else f"→ {name}")
            col.setToolTip(f"Predicted: {name}")
            self.setHorizontalHeaderItem(j, col)
            row = QTableWidgetItem(f"{j + 1} {shorten(name, ROW_LABEL)}" if numbered else shorten(name, ROW_LABEL))
            row.setToolTip(f"True class: {name}" + (f" (column {j + 1})" if numbered else ""))
            self.setVerticalHeaderItem(j, row)

    def clear_matrix(self) -> None:
        """No matrix (no evaluation on show)."""
        self.clear()
        self.setRowCount(0)
        self.setColumnCount(0)
        self._fit()

    # ------------------------------------------------------------ size: square cells across the width
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        n = self.rowCount()
        if n == 0:
            self.setFixedHeight(0)
            return
        width = self.viewport().width() or self.width() - self.verticalHeader().width()
        cell = max(MIN_CELL, min(MAX_CELL, width // n))
        header = self.horizontalHeader().sizeHint().height()
        height = header + n * cell + 2 * self.frameWidth()
        if cell != self._cell or self.height() != height:
            self._cell = cell
            self.setFixedHeight(height)
            self.viewport().update()
