"""The two pictures side by side, original and result, zoomed and panned together, with a hover mark."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from gui import theme

MARK_SERIES = 1  # the hover mark: theme.series_colour(1), an orange that reads on photos and on both themes


class Pictures(QWidget):
    """Titles over two linked image views. ``pixelHovered(x, y)`` while the mouse is over a pixel of
    either picture, ``hoverLeft`` when it leaves them."""

    pixelHovered = Signal(int, int)
    hoverLeft = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.views = pg.GraphicsLayoutWidget()
        self.views.setBackground(theme.pane())  # behind the pictures: a step off the window, light or dark
        self.views.setAcceptDrops(False)  # drops go to the tab
        self.views.viewport().setAcceptDrops(False)
        self.views.ci.setSpacing(8)
        self.view_original = self.views.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.view_result = self.views.addViewBox(row=0, col=1, lockAspect=True, invertY=True, enableMenu=False)
        self.view_result.setXLink(self.view_original)  # one zoom/pan for both
        self.view_result.setYLink(self.view_original)
        self.original_item = pg.ImageItem()
        self.result_item = pg.ImageItem()
        self.view_original.addItem(self.original_item)
        self.view_result.addItem(self.result_item)
        self.marks = [self._add_mark(vb) for vb in (self.view_original, self.view_result)]
        self.views.scene().sigMouseMoved.connect(self._mouse_moved)
        self.views.viewport().installEventFilter(self)
        self.title_original = self._title("Original")
        self.title_result = self._title("Result")
        titles = QHBoxLayout()
        titles.setContentsMargins(0, 0, 0, 0)
        titles.addWidget(self.title_original, 1)
        titles.addWidget(self.title_result, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(titles)
        layout.addWidget(self.views, 1)

    @staticmethod
    def _title(text: str) -> QLabel:
        label = QLabel(text)
        label.setAlignment(Qt.AlignCenter)
        label.setTextFormat(Qt.RichText)
        label.setStyleSheet("font-size: 11pt; padding: 2px;")
        label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # equal halves
        label.setWordWrap(True)  # a long layer title wraps in a narrow window
        return label

    @staticmethod
    def _add_mark(vb) -> QGraphicsRectItem:
        mark = QGraphicsRectItem()
        pen = QPen(theme.series_colour(MARK_SERIES), 2)
        pen.setCosmetic(True)
        mark.setPen(pen)
        mark.setZValue(10)
        mark.hide()
        vb.addItem(mark)
        return mark

    # ------------------------------------------------------------ shown state
    def show_original(self, image: np.ndarray) -> None:
        self.original_item.setImage(image, levels=(0, 255), autoLevels=False)

    def show_result(self, image: np.ndarray | None) -> None:
        if image is None:
            self.result_item.clear()
        else:
            self.result_item.setImage(image, levels=(0, 255), autoLevels=False)

    def set_titles(self, original: str, result: str) -> None:
        self.title_original.setText(original)
        self.set_result_title(result)

    def set_result_title(self, text: str) -> None:
        self.title_result.setText(text)

    def fit(self, width: int, height: int) -> None:
        self.view_original.setRange(QRectF(0, 0, width, height), padding=0.02)

    def mark(self, x: int, y: int, size: int) -> None:
        """Outline the size×size neighbourhood of pixel (x, y) in both pictures."""
        r = size // 2
        for m in self.marks:
            m.setRect(QRectF(x - r, y - r, size, size))
            m.show()

    def unmark(self) -> None:
        for m in self.marks:
            m.hide()

    # ------------------------------------------------------------ hover
    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Leave and obj is self.views.viewport():
            self.hoverLeft.emit()
        return super().eventFilter(obj, event)

    def _mouse_moved(self, pos) -> None:
        image = self.original_item.image
        if image is not None:
            h, w = image.shape[:2]
            for vb in (self.view_original, self.view_result):
                if vb.sceneBoundingRect().contains(pos):
                    p = vb.mapSceneToView(pos)
                    x, y = int(math.floor(p.x())), int(math.floor(p.y()))
                    if 0 <= x < w and 0 <= y < h:
                        self.pixelHovered.emit(x, y)
                        return
        self.hoverLeft.emit()
