"""The dataset maker as a window of its own: File ▸ New dataset… in the main window opens it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from gui.dataset_maker.controller import DatasetMakerController
from gui.dataset_maker.view import DatasetMakerView


class DatasetMaker(QDialog):
    """Make a dataset: name it, add classes, add images (drop, paste, files, webcam), open it."""

    openRequested = Signal(str)  # the dataset folder; the window connects it to open_dataset

    def __init__(self, settings=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = DatasetMakerView(settings)
        self.controller = DatasetMakerController(self.view, settings, self)
        self.controller.openRequested.connect(self._on_open)
        self.controller.changed.connect(self._on_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.view)
        self.resize(860, 520)  # fits a 1024×576 screen with its title bar
        self._on_changed()

    def _on_changed(self) -> None:
        folder = self.controller.folder
        self.setWindowTitle(f"Make a dataset — {folder.name}" if folder is not None else "Make a dataset")

    def _on_open(self, folder: str) -> None:
        self.openRequested.emit(folder)
        self.accept()  # the main window now shows it; made changes show there when it is opened again

    def done(self, result: int) -> None:
        self.controller.cameras.cancel()  # the webcam goes off with the window
        super().done(result)

    def shutdown(self) -> None:
        self.controller.shutdown()
