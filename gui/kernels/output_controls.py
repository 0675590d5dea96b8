"""The Output box: how sums become 0–255 pixels, what lies beyond the edges, colour or grey."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox

from engine.kernels import BORDERS, MODES
from gui.kernels.widget_tools import set_quietly

MODE_LABELS = {
    "clip": "clip: round, clamp to 0–255",
    "abs": "abs: |sum|, clamped",
    "normalise": "normalise: stretch min–max to 0–255",
}
BORDER_LABELS = {"replicate": "replicate the edge pixel", "zero": "zeros outside", "reflect": "reflect (mirror)"}
GRAY_TIP = "Filter one grey image (BT.601 brightness) instead of R, G and B separately"
GRAY_OFF_TIP = "An RGB kernel uses the colour channels"


class OutputControls(QGroupBox):
    """``optionsEdited(mode, border, gray)`` on any user change; ``show_options`` shows them quietly."""

    optionsEdited = Signal(str, str, bool)

    def __init__(self, parent=None):
        super().__init__("Output", parent)
        self.mode_combo = QComboBox()
        for m in MODES:
            self.mode_combo.addItem(MODE_LABELS[m], m)
        self.mode_combo.setToolTip("How sums become 0–255 pixels")
        self.border_combo = QComboBox()
        for b in BORDERS:
            self.border_combo.addItem(BORDER_LABELS[b], b)
        self.border_combo.setToolTip("What the kernel reads beyond the image's edges")
        self.gray_check = QCheckBox("Grey: filter the brightness, not R, G, B")
        self.gray_check.setToolTip(GRAY_TIP)
        self.mode_combo.currentIndexChanged.connect(self._edited)
        self.border_combo.currentIndexChanged.connect(self._edited)
        self.gray_check.toggled.connect(self._edited)
        form = QFormLayout(self)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Border", self.border_combo)
        form.addRow(self.gray_check)

    def _edited(self, *_) -> None:
        self.optionsEdited.emit(
            self.mode_combo.currentData(), self.border_combo.currentData(), self.gray_check.isChecked()
        )

    # ------------------------------------------------------------ shown state
    def show_mode(self, mode: str) -> None:
        set_quietly(self.mode_combo, self.mode_combo.setCurrentIndex, self.mode_combo.findData(mode))

    def allow_gray(self, allowed: bool) -> None:
        """Grey is off the table while layer 1 holds an RGB kernel (it reads the three channels)."""
        self.gray_check.setEnabled(allowed)
        self.gray_check.setToolTip(GRAY_TIP if allowed else GRAY_OFF_TIP)
