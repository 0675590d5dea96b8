"""The form's Data group: precompute and augmentation (off while precompute is on)."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel

from engine.config import AUGMENTATIONS, TrainConfig
from gui.training.settings import FormState

AUG_LABELS = {"none": "None", "side_on": "Side-on photos", "top_down": "Top-down (satellite, microscope)"}
AUG_TIPS = {
    "none": "Train on the images as they are",
    "side_on": "Mirror left-right, rotate ±10°, zoom up to 10 %, vary brightness and contrast",
    "top_down": "Any of the 8 flips/quarter turns, plus small rotations, zoom and lighting",
}


class DataControls(QGroupBox):
    edited = Signal()

    def __init__(self):
        super().__init__("Data")
        self.precompute_check = QCheckBox("Precompute activations")
        self.precompute_check.setToolTip(
            "Run the frozen network once over every image and cache the result; "
            "then only the new head trains, in seconds"
        )
        self.aug_combo = QComboBox()
        for aug in AUGMENTATIONS:
            self.aug_combo.addItem(AUG_LABELS.get(aug, aug), aug)
            self.aug_combo.setItemData(self.aug_combo.count() - 1, AUG_TIPS.get(aug, ""), Qt.ToolTipRole)
        self.aug_note = QLabel()
        self.aug_note.setWordWrap(True)
        self.aug_note.setStyleSheet("color: #8a5a00;")
        form = QFormLayout(self)
        form.addRow(self.precompute_check)
        form.addRow("Augmentation", self.aug_combo)
        form.addRow(self.aug_note)
        self.precompute_check.toggled.connect(self.edited)
        self.aug_combo.currentIndexChanged.connect(self.edited)

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
