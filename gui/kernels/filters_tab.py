"""The Network filters tab: a pretrained network's first-layer filters as colour tiles; click one to use it."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from gui.images import qimage_from_array
from gui.kernels.widget_tools import scrolled


class FilterGrid(QWidget):
    """The network's first-layer filters as clickable colour tiles."""

    filterClicked = Signal(int)
    TILE = 46
    GAP = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self._images: list[QImage] = []
        self.selected = -1
        self._hover = -1
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_tiles(self, tiles: np.ndarray) -> None:
        self._images = [qimage_from_array(t) for t in tiles]
        self.selected = -1
        self.updateGeometry()
        self.update()

    def count(self) -> int:
        return len(self._images)

    def _columns(self) -> int:
        return max(1, (self.width() + self.GAP) // (self.TILE + self.GAP))

    def tile_rect(self, i: int) -> QRectF:
        cols = self._columns()
        r, c = divmod(i, cols)
        return QRectF(c * (self.TILE + self.GAP), r * (self.TILE + self.GAP), self.TILE, self.TILE)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, w: int) -> int:
        cols = max(1, (w + self.GAP) // (self.TILE + self.GAP))
        return math.ceil(max(1, len(self._images)) / cols) * (self.TILE + self.GAP)

    def sizeHint(self) -> QSize:
        return QSize(16 * (self.TILE + self.GAP), self.heightForWidth(16 * (self.TILE + self.GAP)))

    def _index_at(self, pos) -> int:
        for i in range(len(self._images)):
            if self.tile_rect(i).contains(QPointF(pos)):
                return i
        return -1

    def mouseMoveEvent(self, event) -> None:
        i = self._index_at(event.position())
        if i != self._hover:
            self._hover = i
            self.setToolTip(f"Filter {i + 1}: click to load it as an RGB kernel" if i >= 0 else "")
            self.update()

    def leaveEvent(self, event) -> None:
        self._hover = -1
        self.update()

    def mousePressEvent(self, event) -> None:
        i = self._index_at(event.position())
        if i >= 0 and event.button() == Qt.LeftButton:
            self.selected = i
            self.update()
            self.filterClicked.emit(i)

    def resizeEvent(self, event) -> None:
        self.updateGeometry()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.SmoothPixmapTransform, False)
        for i, im in enumerate(self._images):
            rect = self.tile_rect(i)
            p.drawImage(rect, im)
            if i in (self.selected, self._hover):
                p.setPen(
                    QPen(self.palette().color(QPalette.Highlight if i == self.selected else QPalette.WindowText), 2)
                )
                p.drawRect(rect.adjusted(-1, -1, 1, 1))
        p.end()


class FiltersTab(QWidget):
    """What the filters are (``set_info``) above the grid of tiles; ``filterClicked(i)`` on a click."""

    filterClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        self.info = QLabel("The network's first-layer filters appear here.")
        self.info.setWordWrap(True)
        v.addWidget(self.info)
        self.grid = FilterGrid()
        self.grid.filterClicked.connect(self.filterClicked)
        v.addWidget(scrolled(self.grid), 1)

    # ------------------------------------------------------------ shown state
    def set_info(self, html_text: str) -> None:
        self.info.setText(html_text)

    def show_tiles(self, tiles: np.ndarray) -> None:
        self.grid.set_tiles(tiles)

    def clear(self) -> None:
        self.grid.set_tiles(np.zeros((0, 1, 1, 3), np.uint8))

    def show_selected(self, index: int) -> None:
        self.grid.selected = index
        self.grid.update()
