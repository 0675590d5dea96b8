"""The Classify tab's view: the model bar above three pages (Drop images, Batch predict, Evaluate)."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from gui.classify.batch_page import BatchPage
from gui.classify.drop_page import DropPage
from gui.classify.eval_page import EvalPage
from gui.classify.model_bar import ModelBar


class ClassifyView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_bar = ModelBar()
        self.drop = DropPage()
        self.batch = BatchPage()
        self.evaluate = EvalPage()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.drop, "Drop images")
        self.tabs.addTab(self.batch, "Batch predict")
        self.tabs.addTab(self.evaluate, "Evaluate")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.model_bar)
        lay.addWidget(self.tabs, 1)

    def show_drop_page(self) -> None:
        self.tabs.setCurrentWidget(self.drop)
