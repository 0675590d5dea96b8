"""The Data tab: class list with counts, virtualised thumbnail grid, full image view, Problems view.

Assembles the view (what the user sees and does) and the controller (the dataset shown, the jobs).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.dataset.controller import DatasetController
from gui.dataset.image_dialog import ImageDialog
from gui.dataset.view import DatasetView
from gui.state import AppState


class DatasetBrowser(QWidget):
    verified = Signal(int)  # every image decoded: how many could not be
    badFilesFound = Signal(list)  # every image decoded: the paths that could not be

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.file_actions = []  # none for the window's File menu
        self.view = DatasetView()
        self.controller = DatasetController(state, self.view, parent=self)
        self.controller.verified.connect(self.verified)
        self.controller.badFilesFound.connect(self.badFilesFound)
        QVBoxLayout(self).addWidget(self.view)

    def show_error(self, path: str, message: str) -> None:
        """The path could not be opened as a dataset: say so in the Problems view."""
        self.controller.show_error(path, message)

    def open_image(self, row: int) -> ImageDialog:
        return self.controller.open_image(row)

    def shutdown(self) -> None:
        self.controller.shutdown()
