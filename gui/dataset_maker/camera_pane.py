"""Webcam: look for cameras, show the live picture, capture frames into the selected class."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from engine.camera import NO_CAMERA
from gui.images import pixmap_for

PREVIEW = 240


class CameraPane(QWidget):
    lookRequested = Signal()
    startRequested = Signal(int)  # camera index
    stopRequested = Signal()
    captureRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.status = QLabel("Press Look for cameras to use a webcam.")
        self.status.setWordWrap(True)
        self.cameras = QComboBox()
        self.look_button = QPushButton("Look for cameras")
        self.look_button.clicked.connect(self.lookRequested)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Show the camera's live picture")
        self.start_button.clicked.connect(self._on_start)
        self.capture_button = QPushButton("Capture")
        self.capture_button.setToolTip("Add the picture shown now to the selected class")
        self.capture_button.clicked.connect(self.captureRequested)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setMinimumSize(PREVIEW, PREVIEW * 3 // 4)
        self.preview.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self._streaming = False

        row = QHBoxLayout()
        row.addWidget(self.cameras, 1)
        row.addWidget(self.look_button)
        actions = QHBoxLayout()
        actions.addWidget(self.start_button)
        actions.addWidget(self.capture_button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(row)
        layout.addLayout(actions)
        layout.addWidget(self.preview, 1)
        self.set_cameras(None)

    # ------------------------------------------------------------ setters (never write the model)
    def set_searching(self) -> None:
        self.status.setText("Looking for cameras…")
        self.look_button.setEnabled(False)
        self.start_button.setEnabled(False)

    def set_cameras(self, cameras: list | None, error: str = "") -> None:
        """``None``: not looked yet; ``[]``: none found (says so and turns the buttons off)."""
        self.cameras.clear()
        for cam in cameras or []:
            self.cameras.addItem(cam.name, cam.index)
        self.look_button.setEnabled(True)
        self.look_button.setText("Look for cameras" if cameras is None else "Look again")
        if error:
            self.status.setText(error)
        elif cameras is None:
            self.status.setText("Press Look for cameras to use a webcam.")
        elif not cameras:
            self.status.setText(NO_CAMERA)
        else:
            n = len(cameras)
            self.status.setText(f"{n} camera{'s' if n != 1 else ''} found: press Start, then Capture.")
        self.cameras.setEnabled(bool(cameras))
        self.set_streaming(False)

    def set_streaming(self, streaming: bool, can_capture: bool = True) -> None:
        self._streaming = streaming
        self.start_button.setText("Stop" if streaming else "Start")
        self.start_button.setEnabled(streaming or self.cameras.count() > 0)
        self.capture_button.setEnabled(streaming and can_capture)
        if not streaming:
            self.preview.clear()

    def show_frame(self, frame) -> None:
        side = max(1, min(self.preview.width(), self.preview.height() * 4 // 3))
        self.preview.setPixmap(pixmap_for(frame, side))

    # ------------------------------------------------------------ user input -> intent signals
    def _on_start(self) -> None:
        if self._streaming:
            self.stopRequested.emit()
        elif self.cameras.count():
            self.startRequested.emit(int(self.cameras.currentData()))
