"""The Image box: open, paste or save, the sample photos and the dataset's first image, fit, and what is shown."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout

from engine.paths import resources_dir
from gui import theme

SAMPLE_PHOTOS = (("chelsea.png", "Cat"), ("coffee.png", "Espresso"))


def sample_photo(name: str) -> Path:
    return resources_dir() / "photos" / name


class ImageControls(QGroupBox):
    """Buttons that ask for an image (or a save); ``set_info`` says what is shown."""

    openRequested = Signal()
    pasteRequested = Signal()
    saveRequested = Signal()
    fileRequested = Signal(str)  # a sample photo, by path
    datasetImageRequested = Signal()
    fitRequested = Signal()

    def __init__(self, parent=None):
        super().__init__("Image", parent)
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.open_button = self._button(QPushButton, "Open…", "Open an image file (or drop one on this tab)")
        self.paste_button = self._button(QPushButton, "Paste", "Use the image on the clipboard (Ctrl+V)")
        self.save_button = self._button(QPushButton, "Save result…", "Save the result image as shown (PNG, JPEG, …)")
        self.open_button.clicked.connect(self.openRequested)
        self.paste_button.clicked.connect(self.pasteRequested)
        self.save_button.clicked.connect(self.saveRequested)
        for b in (self.open_button, self.paste_button, self.save_button):
            row.addWidget(b)
        v.addLayout(row)
        v.addLayout(self._build_picks())
        self.info = QLabel()
        self.info.setObjectName("image_info")
        self.info.setWordWrap(True)
        self.info.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        v.addWidget(self.info)

    def _build_picks(self) -> QHBoxLayout:
        picks = QHBoxLayout()
        picks.addWidget(QLabel("Try:"))
        self.pick_buttons = {}
        for name, label in SAMPLE_PHOTOS:
            b = self._button(QToolButton, label, f"The sample photo {name}")
            b.clicked.connect(lambda _=False, n=name: self.fileRequested.emit(str(sample_photo(n))))
            picks.addWidget(b)
            self.pick_buttons[label] = b
        self.dataset_button = self._button(QToolButton, "Dataset image", "")
        self.dataset_button.clicked.connect(self.datasetImageRequested)
        picks.addWidget(self.dataset_button)
        fit = self._button(
            QToolButton, "Fit", "Show the whole image (drag to pan, scroll to zoom; both views move together)"
        )
        fit.clicked.connect(self.fitRequested)
        picks.addStretch(1)
        picks.addWidget(fit)
        return picks

    @staticmethod
    def _button(kind, text: str, tip: str):
        b = kind()
        b.setText(text)
        if tip:
            b.setToolTip(tip)
        return b

    # ------------------------------------------------------------ shown state
    def set_info(self, html_text: str) -> None:
        self.info.setText(html_text)

    def set_dataset_image(self, path: str | None) -> None:
        """The current dataset's first image (None: no dataset, the button is off)."""
        self.dataset_button.setEnabled(path is not None)
        self.dataset_button.setToolTip(
            f"The current dataset's first image: {path}" if path else "Open a dataset to try its first image here"
        )
