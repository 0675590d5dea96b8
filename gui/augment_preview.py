"""Augmentation preview for the Train tab: augmented copies of a few training images, as training makes
them (fastai's show_batch), for the preset chosen in the Train settings. "Shuffle" picks other images
and other random augmentations.

It reads AppState (the dataset and the train config) and never writes it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from engine.augment_preview import PREVIEW_COPIES, PREVIEW_IMAGES, augment_preview, preview_images
from engine.config import DEFAULT_ARCH
from gui.images import pixmap_for
from gui.jobs import JobSlot

CELL = 72
PRESET_TEXT = {
    "none": "None: every epoch sees each image as it is (resized and centre-cropped).",
    "side_on": "Side-on: each epoch, a random copy — mirrored, turned up to 10°, zoomed up to 10 %, a little "
    "lighter or darker.",
    "top_down": "Top-down: each epoch, a random copy — any of the 8 turns and mirrors, plus the side-on changes.",
}


class AugmentPreview(QWidget):
    """A grid of images × augmented copies, a caption and a Shuffle button."""

    shown = Signal()  # a new grid is on screen (tests, screenshots)

    def __init__(
        self, state, parent: QWidget | None = None, images: int = PREVIEW_IMAGES, copies: int = PREVIEW_COPIES
    ):
        super().__init__(parent)
        self.state = state
        self.images, self.copies = images, copies
        self.seed = 0
        self.grid: list[list[object]] = []  # the last result: rows of (H, W, 3) uint8 arrays
        self._key: tuple | None = None
        self.slot = JobSlot("augmentation preview", self)

        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setToolTip("Show other training images with other random augmentations")
        self.shuffle_button.clicked.connect(self.shuffle)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Augmentation preview</b>"), 1)
        top.addWidget(self.shuffle_button)

        self.cells = [[self._cell() for _ in range(copies)] for _ in range(images)]
        cells = QGridLayout()
        cells.setSpacing(3)
        for r, row in enumerate(self.cells):
            for c, label in enumerate(row):
                cells.addWidget(label, r, c)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.caption)
        layout.addLayout(cells)
        layout.addStretch(1)

        state.datasetChanged.connect(self._on_dataset_changed)
        state.trainConfigChanged.connect(self._on_config_changed)
        self.refresh(force=True)

    @staticmethod
    def _cell() -> QLabel:
        label = QLabel()
        label.setFixedSize(CELL, CELL)
        label.setAlignment(Qt.AlignCenter)
        label.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        return label

    def settings(self) -> tuple[str, int, str]:
        """(preset, image size, architecture) from the Train settings."""
        config = self.state.train_config
        if config is None:
            return "none", 128, DEFAULT_ARCH
        return config.aug, int(config.size), config.arch

    # ------------------------------------------------------------ model changes -> view
    def _on_dataset_changed(self, _dataset) -> None:
        self.refresh(force=True)

    def _on_config_changed(self, _config) -> None:
        self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Recompute when the dataset, the preset, the size or the seed changed."""
        preset, size, arch = self.settings()
        dataset = self.state.dataset
        key = (id(dataset), preset, size, arch, self.seed)
        if key == self._key and not force:
            return
        self._key = key
        self.shuffle_button.setEnabled(dataset is not None)
        if dataset is None or not dataset.train:
            self.slot.cancel()
            self._show([], "Open a dataset to see what augmentation does to its training images.")
            return
        paths = preview_images(dataset, self.images, self.seed)
        self.caption.setText(f"{PRESET_TEXT.get(preset, preset)} (working…)")
        self.slot.start(
            augment_preview,
            paths,
            preset,
            size,
            self.copies,
            self.seed,
            arch,
            owner="augmentation preview",
            on_finished=lambda grid, p=preset: self._show(grid, PRESET_TEXT.get(p, p)),
            on_failed=lambda msg: self._show([], f"The preview failed: {msg}"),
        )

    # ------------------------------------------------------------ view changes -> controller
    def shuffle(self) -> None:
        self.seed += 1
        self.refresh()

    def _show(self, grid: list, caption: str) -> None:
        self.grid = grid
        self.caption.setText(caption)
        for r, row in enumerate(self.cells):
            for c, label in enumerate(row):
                arr = grid[r][c] if r < len(grid) and c < len(grid[r]) else None
                pm = pixmap_for(arr, CELL)
                if pm is None:
                    label.clear()
                else:
                    label.setPixmap(pm)
        self.shown.emit()

    def shutdown(self) -> None:
        self.slot.shutdown()
