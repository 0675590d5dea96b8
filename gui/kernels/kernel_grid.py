"""The kernel's numbers: an N×N grid of scrubbable number cells, tinted like a heat map of the weights."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QSizePolicy, QWidget

from engine.kernels import format_number
from gui import theme

POSITIVE, NEGATIVE = 0, 3  # theme.series_colour: blue for positive weights, red for negative ones


def weight_colour(v: float, top: float) -> QColor:
    """The plot background for 0 (white or dark, as the palette), towards blue for positive and red for
    negative weights, stronger when larger."""
    base = theme.series_colour(POSITIVE if v > 0 else NEGATIVE)
    a = 0.0 if v == 0 else 0.15 + 0.45 * min(1.0, abs(v) / top)
    return theme.blend(theme.plot_background(), base, a)


class ScrubSpinBox(QDoubleSpinBox):
    """A number cell: type a value, use the wheel/arrows, or drag left/right to scrub it live."""

    PIXELS_PER_STEP = 6

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRange(-999.0, 999.0)
        self.setDecimals(4)
        self.setSingleStep(1.0)
        self.setButtonSymbols(QDoubleSpinBox.NoButtons)
        self.setAlignment(Qt.AlignCenter)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self.setToolTip("Type a number, scroll, or drag left/right (Shift: steps of 0.1)")
        self.lineEdit().setCursor(Qt.SizeHorCursor)
        self.lineEdit().installEventFilter(self)
        self._press: tuple[float, float] | None = None
        self._scrubbing = False

    def textFromValue(self, value: float) -> str:
        return format_number(value)

    def eventFilter(self, obj, event) -> bool:
        t = event.type()
        if t == QEvent.MouseButtonPress and event.button() == Qt.LeftButton:
            self._press = (event.globalPosition().x(), self.value())
            self._scrubbing = False
        elif t == QEvent.MouseMove and self._press is not None and event.buttons() & Qt.LeftButton:
            dx = event.globalPosition().x() - self._press[0]
            if not self._scrubbing and abs(dx) > 3:
                self._scrubbing = True
                self.lineEdit().deselect()
            if self._scrubbing:
                step = 0.1 if event.modifiers() & Qt.ShiftModifier else self.singleStep()
                value = self._press[1] + round(dx / self.PIXELS_PER_STEP) * step
                self.setValue(round(value / step) * step if step >= 1 else round(value, 4))
                return True
        elif t == QEvent.MouseButtonRelease and self._press is not None:
            self._press = None
            if self._scrubbing:
                self._scrubbing = False
                return True
        return super().eventFilter(obj, event)


class NumberSpinBox(QDoubleSpinBox):
    """A spin box that shows 16 rather than 16.000."""

    def textFromValue(self, value: float) -> str:
        return format_number(value)


class KernelGrid(QWidget):
    """N×N number cells; cellEdited(row, col, value) when the user changes one."""

    cellEdited = Signal(int, int, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setAlignment(Qt.AlignHCenter)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(3)
        self.cells: list[list[ScrubSpinBox]] = []
        self._values = np.zeros((3, 3))
        self.set_size(3)

    @property
    def size(self) -> int:
        return len(self.cells)

    def set_size(self, n: int) -> None:
        if n == self.size:
            return
        for row in self.cells:
            for cell in row:
                self._layout.removeWidget(cell)
                cell.hide()
                cell.deleteLater()
        self.cells = []
        for r in range(n):
            row = []
            for c in range(n):
                cell = ScrubSpinBox(self)
                cell.setFixedWidth({3: 60, 5: 52}.get(n, 44))
                cell.setObjectName(f"cell_{r}_{c}")
                cell.valueChanged.connect(lambda v, r=r, c=c: self._edited(r, c, v))
                self._layout.addWidget(cell, r, c)
                row.append(cell)
            self.cells.append(row)
        self._values = np.zeros((n, n))

    def set_values(self, k: np.ndarray) -> None:
        """Show a kernel (no cellEdited)."""
        self.set_size(k.shape[0])
        self._values = np.array(k, dtype=np.float64)
        for r, row in enumerate(self.cells):
            for c, cell in enumerate(row):
                cell.blockSignals(True)
                cell.setValue(float(k[r, c]))
                cell.blockSignals(False)
        self._tint()

    def set_step(self, step: float) -> None:
        for row in self.cells:
            for cell in row:
                cell.setSingleStep(step)

    def _edited(self, r: int, c: int, v: float) -> None:
        self._values[r, c] = v
        self._tint()
        self.cellEdited.emit(r, c, v)

    def _tint(self) -> None:
        """Blue for positive, red for negative weights, stronger for larger ones (a heat map of the kernel)."""
        top = float(np.abs(self._values).max()) or 1.0
        for r, row in enumerate(self.cells):
            for c, cell in enumerate(row):
                col = weight_colour(self._values[r, c], top)
                pal = cell.palette()
                if pal.color(QPalette.Base) != col:
                    pal.setColor(QPalette.Base, col)
                    pal.setColor(QPalette.Text, theme.ink_on(col))
                    cell.setPalette(pal)
