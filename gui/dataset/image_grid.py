"""The virtualised thumbnail grid: only the rows on screen are drawn (and their thumbnails asked for)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListView

from engine.thumbnails import THUMB_SIZE

CELL = QSize(THUMB_SIZE + 20, THUMB_SIZE + 28)


class ImageGrid(QListView):
    imageChosen = Signal(QModelIndex)  # double-click, or Enter/Return on the current thumbnail

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.Batched)  # 25,000 items lay out in slices, the UI keeps running
        self.setBatchSize(400)
        self.setGridSize(CELL)
        self.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.setSpacing(4)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.ElideMiddle)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setToolTip("Double-click an image (or press Enter) to see it full size with its details")
        self.doubleClicked.connect(self.imageChosen)

    def keyPressEvent(self, event) -> None:
        index = self.currentIndex()
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and index.isValid():
            self.imageChosen.emit(index)
            event.accept()
            return
        super().keyPressEvent(event)
