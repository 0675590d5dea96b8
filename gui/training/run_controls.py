"""Start, Cancel and Save, with the run's progress, time left and status under them.

The labels keep a fixed minimum height (a line for the time left, three for the status), so the
buttons stay where they are when a run starts and the texts change (a click aimed at Cancel lands).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

STATUS_LINES = 3


class RunControls(QWidget):
    startRequested = Signal()
    cancelRequested = Signal()
    saveRequested = Signal()

    def __init__(self):
        super().__init__()
        self.start_button = QPushButton(QIcon.fromTheme("media-playback-start"), "Start training")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(30)
        self.cancel_button = QPushButton(QIcon.fromTheme("process-stop"), "Cancel")
        self.save_button = QPushButton(QIcon.fromTheme("document-save"), "Save model…")
        self.save_button.setToolTip(
            "Write the trained model to one file (weights, classes, preprocessing, "
            "metrics), or export it as ONNX for other runtimes"
        )
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.eta_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status_label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        line = self.fontMetrics().lineSpacing()
        self.eta_label.setMinimumHeight(line)
        self.status_label.setMinimumHeight(STATUS_LINES * line)
        self._lay_out()
        self.start_button.clicked.connect(self.startRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.save_button.clicked.connect(self.saveRequested)

    def _lay_out(self) -> None:
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 6, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.start_button, 2)
        row.addWidget(self.cancel_button, 1)
        col.addLayout(row)
        col.addWidget(self.save_button)
        col.addWidget(self.progress)
        col.addWidget(self.eta_label)
        col.addWidget(self.status_label)

    def show_buttons(self, can_start: bool, can_cancel: bool, can_save: bool, start_tip: str = "") -> None:
        self.start_button.setEnabled(can_start)
        self.start_button.setToolTip(start_tip)
        self.cancel_button.setEnabled(can_cancel)
        self.save_button.setEnabled(can_save)

    def show_progress(self, value: int | None, caption: str | None = None) -> None:
        """Progress in per mille (None: leave it) and its caption (None: leave it)."""
        if value is not None:
            self.progress.setValue(value)
        if caption is not None:
            self.progress.setFormat(caption)
