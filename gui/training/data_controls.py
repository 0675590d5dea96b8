"""The form's Data group: precompute and augmentation (off while precompute is on), with the
augmentation preview (gui.augment_preview) under the choice, folded away until asked for."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QToolButton, QWidget

from engine.config import AUGMENTATIONS, TrainConfig
from gui import theme
from gui.training.settings import FormState

AUG_LABELS = {"none": "None", "side_on": "Side-on photos", "top_down": "Top-down (satellite, microscope)"}
AUG_TIPS = {
    "none": "Train on the images as they are",
    "side_on": "Mirror left-right, rotate ±10°, zoom up to 10 %, vary brightness and contrast",
    "top_down": "Any of the 8 flips/quarter turns, plus small rotations, zoom and lighting",
}


class DataControls(QGroupBox):
    edited = Signal()

    def __init__(self, make_preview: Callable[[], QWidget] | None = None):
        super().__init__("Data")
        self.precompute_check = QCheckBox("Precompute activations")
        self.precompute_check.setToolTip(
            "Precompute: run the pretrained network once over every image and keep its activations; "
            "then only the new last layers train, in seconds (no augmentation while it is on)"
        )
        self.aug_combo = QComboBox()
        for aug in AUGMENTATIONS:
            self.aug_combo.addItem(AUG_LABELS.get(aug, aug), aug)
            self.aug_combo.setItemData(self.aug_combo.count() - 1, AUG_TIPS.get(aug, ""), Qt.ToolTipRole)
        self.aug_combo.setToolTip(
            "Augmentation: each epoch, train on randomly changed copies (mirrored, turned, zoomed) so the model "
            "learns what stays the same; choose the kind that fits your photos"
        )
        self.aug_note = QLabel()
        self.aug_note.setWordWrap(True)
        self.aug_note.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        self.make_preview = make_preview  # built when first unfolded: it decodes images in a job
        self.preview: QWidget | None = None
        self.preview_button = QToolButton()
        self.preview_button.setText("Preview augmented images")
        self.preview_button.setCheckable(True)
        self.preview_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.preview_button.setArrowType(Qt.RightArrow)
        self.preview_button.setToolTip("Show a few training images as the chosen augmentation changes them")
        form = QFormLayout(self)
        form.addRow(self.precompute_check)
        form.addRow("Augmentation", self.aug_combo)
        form.addRow(self.aug_note)
        form.addRow(self.preview_button)
        self.preview_button.setVisible(make_preview is not None)
        self._form = form
        self.preview_button.toggled.connect(self._show_preview)
        self.precompute_check.toggled.connect(self.edited)
        self.aug_combo.currentIndexChanged.connect(self.edited)

    def _show_preview(self, shown: bool) -> None:
        self.preview_button.setArrowType(Qt.DownArrow if shown else Qt.RightArrow)
        if shown and self.preview is None and self.make_preview is not None:
            self.preview = self.make_preview()
            self._form.addRow(self.preview)
        if self.preview is not None:
            self.preview.setVisible(shown)

    def set_values(self, config: TrainConfig) -> None:
        with QSignalBlocker(self):
            self.precompute_check.setChecked(config.precompute)
            self.aug_combo.setCurrentIndex(max(0, self.aug_combo.findData(config.aug)))

    def values(self) -> dict:
        return {"precompute": self.precompute_check.isChecked(), "aug": self.aug_combo.currentData()}

    def show_state(self, state: FormState) -> None:
        """Enable and explain augmentation (must not modify the backing model)."""
        c = state.config
        self.aug_combo.setEnabled(not c.precompute)
        if c.precompute:
            note = (
                "Augmentation is off while precompute is on: the cached activations come from "
                "the original images. Untick precompute to train with augmentation."
            )
        elif c.unfreeze or c.aug != "none":
            note = "Every batch runs through the whole network (slower than precompute)."
        else:
            note = ""
        self.aug_note.setText(note)
        self.aug_note.setVisible(bool(note))
