"""The form's Fine-tuning group: unfreeze with LR multipliers, optimiser, weight decay, cached views, TTA."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QSpinBox

from engine.config import MAX_FROZEN_VIEWS, TrainConfig
from engine.lr_curves import format_lr
from gui import theme
from gui.training.settings import FormState, layer_lrs

VIEWS_TIP = (
    "Cached views: with the early layers kept frozen (first multiplier 0) and precompute off: run "
    "them once on this many augmented copies of each training image and keep the "
    "results in memory, so each epoch only runs the later layers — about twice as "
    "fast. Each epoch picks one copy per image."
)


class FineTuningControls(QGroupBox):
    edited = Signal()
    typing = Signal()  # the multipliers are being typed: show what they give, commit on editing finished

    def __init__(self):
        super().__init__("Fine-tuning")
        self.unfreeze_check = QCheckBox("Unfreeze all layers")
        self.unfreeze_check.setToolTip(
            "Unfreeze: train the pretrained layers too, not only the new head, each layer group with its own "
            "learning rate (differential learning rates). Needs precompute off"
        )
        self.mult_edit = QLineEdit()
        self.mult_edit.setToolTip(
            "LR multipliers: the learning rate is multiplied by these for the early layers, the later layers and "
            "the head, e.g. 0.01, 0.1, 1 — early layers (edges, textures) need the smallest changes"
        )
        self.mult_note = QLabel()
        self.mult_note.setWordWrap(True)
        self.opt_combo = QComboBox()
        self.opt_combo.addItem("SGD with momentum (the lesson's)", "sgd")
        self.opt_combo.addItem("AdamW", "adamw")
        self.opt_combo.setToolTip(
            "How the weights follow the gradient. AdamW (with weight decay about 0.1 and "
            "LR about 3e-3) often fine-tunes an unfrozen network better on small datasets."
        )
        self.wd_spin = QDoubleSpinBox()
        self.wd_spin.setDecimals(4)
        self.wd_spin.setRange(0.0, 1.0)
        self.wd_spin.setSingleStep(0.01)
        self.wd_spin.setToolTip("Weight decay pulls the weights a little towards zero each step, against overfitting")
        self.views_spin = QSpinBox()
        self.views_spin.setRange(0, MAX_FROZEN_VIEWS)
        self.views_spin.setSpecialValueText("off")
        self.tta_check = QCheckBox("Test-time augmentation (TTA)")
        self.tta_check.setToolTip(
            "TTA (test-time augmentation): measure the final accuracy on the average prediction over flipped "
            "and zoomed copies of each validation image, usually a little better"
        )
        form = QFormLayout(self)
        form.addRow(self.unfreeze_check)
        form.addRow("LR multipliers", self.mult_edit)
        form.addRow(self.mult_note)
        form.addRow("Optimiser", self.opt_combo)
        form.addRow("Weight decay", self.wd_spin)
        form.addRow("Cached views", self.views_spin)
        form.addRow(self.tta_check)
        for check in (self.unfreeze_check, self.tta_check):
            check.toggled.connect(self.edited)
        self.opt_combo.currentIndexChanged.connect(self.edited)
        self.wd_spin.valueChanged.connect(self.edited)
        self.views_spin.valueChanged.connect(self.edited)
        self.mult_edit.editingFinished.connect(self.edited)
        self.mult_edit.textEdited.connect(self.typing)

    def set_values(self, config: TrainConfig) -> None:
        with QSignalBlocker(self):
            self.unfreeze_check.setChecked(config.unfreeze)
            self.mult_edit.setText(", ".join(f"{m:g}" for m in config.lr_mult))
            self.tta_check.setChecked(config.tta)
            self.opt_combo.setCurrentIndex(max(0, self.opt_combo.findData(config.opt)))
            self.wd_spin.setValue(config.wd)
            self.views_spin.setValue(config.frozen_views)

    def values(self) -> dict:
        return {
            "unfreeze": self.unfreeze_check.isChecked(),
            "mult_text": self.mult_edit.text(),
            "tta": self.tta_check.isChecked(),
            "opt": self.opt_combo.currentData(),
            "wd": self.wd_spin.value(),
            "frozen_views": self.views_spin.value(),
        }

    def show_state(self, state: FormState) -> None:
        """The layer groups' learning rates, or why the multipliers are refused (must not modify the backing model)."""
        c = state.config
        self.mult_edit.setEnabled(c.unfreeze)
        if state.mult_error:
            note = state.mult_error  # the engine's words, as the CLI prints them
        elif c.unfreeze:
            lrs = layer_lrs(c.lr, c.lr_mult)
            note = "Learning rates: " + " · ".join(
                f"{name} {format_lr(lr)}" for name, lr in zip(("early", "later", "head"), lrs, strict=True)
            )
        else:
            note = "Only the new head trains while the body is frozen."
        if c.unfreeze and c.precompute:
            note += "\nUnfreezing needs the full network: untick precompute to train the pretrained layers."
        self.mult_note.setText(note)
        ink = theme.error_text() if state.mult_error else theme.muted_text()
        self.mult_note.setStyleSheet(f"color: {theme.css(ink)};")
        self.views_spin.setEnabled(state.views_apply)
        needs = "" if state.views_apply else "\nNeeds: Unfreeze on, precompute off, first LR multiplier 0."
        self.views_spin.setToolTip(VIEWS_TIP + needs)
