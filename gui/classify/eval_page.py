"""The "Evaluate" tab's view: the metrics column beside the gallery and the large view."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QVBoxLayout, QWidget

from gui.classify.gallery import Gallery
from gui.classify.image_detail import ImageDetail
from gui.classify.metrics import MetricsColumn


class EvalPage(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.metrics = MetricsColumn()
        self.gallery = Gallery()
        self.detail = ImageDetail()
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.gallery)
        right.addWidget(self.detail)
        right.setSizes([330, 330])
        # the metrics column scrolls on small screens instead of forcing a tall window
        left = QScrollArea()
        left.setWidget(self.metrics)
        left.setWidgetResizable(True)
        left.setFrameShape(QFrame.NoFrame)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        left.viewport().setAutoFillBackground(False)
        self.metrics.setAutoFillBackground(False)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([430, 620])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 6, 4, 4)
        lay.addWidget(split)
