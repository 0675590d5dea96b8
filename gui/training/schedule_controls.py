"""The form's Schedule group: learning rate, schedule, and a length in epochs or in SGDR cycles."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
)

from engine.config import SCHEDULES, TrainConfig
from gui import theme
from gui.training.settings import FormState

SCHEDULE_LABELS = {"sgdr": "SGDR (cosine, restarts)", "one_cycle": "One-cycle", "constant": "Constant"}


def _spin(low: int, high: int, prefix: str = "", tip: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setPrefix(prefix)
    spin.setToolTip(tip)
    return spin


class ScheduleControls(QGroupBox):
    edited = Signal()
    lrEdited = Signal(str)  # editing finished: the text to use as the learning rate
    lrTyping = Signal(str)

    def __init__(self):
        super().__init__("Schedule")
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip(
            "The learning rate: how big a step the weights take each batch, e.g. 0.01 or 1e-2 (shared with the "
            "LR finder tab, which helps you choose it)"
        )
        self.lr_edit.setMaximumWidth(110)
        self.schedule_combo = QComboBox()
        for s in SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_LABELS.get(s, s), s)
        self.schedule_combo.setToolTip(
            "How the learning rate changes during training. SGDR (stochastic gradient descent with restarts): "
            "it falls along a cosine curve and jumps back up at each restart, which helps find a flatter minimum"
        )
        self.epochs_radio = QRadioButton("Epochs")
        self.epochs_radio.setToolTip("Train for a number of epochs (one epoch: every training image once)")
        self.cycles_radio = QRadioButton("Cycles")
        self.cycles_radio.setToolTip("Train in SGDR cycles: the learning rate restarts at the start of each cycle")
        self._length_group = QButtonGroup(self)
        self._length_group.addButton(self.epochs_radio)
        self._length_group.addButton(self.cycles_radio)
        self.epochs_spin = _spin(1, 500, tip="How many times training goes through every training image")
        self.cycles_spin = _spin(
            1, 20, tip="How many SGDR cycles: the learning rate restarts high at the start of each"
        )
        self.cycle_len_spin = _spin(
            1,
            100,
            "len ",
            "Cycle length (cycle_len, the “len”): how many epochs the first SGDR cycle lasts before the rate restarts",
        )
        self.cycle_mult_spin = _spin(
            1,
            4,
            "× ",
            "Cycle multiplier (cycle_mult): each cycle lasts this many times longer than the one before; "
            "len 1 × 2 gives cycles of 1, 2, 4… epochs",
        )
        self.length_note = QLabel()
        self.length_note.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        self._lay_out()
        for spin in (self.epochs_spin, self.cycles_spin, self.cycle_len_spin, self.cycle_mult_spin):
            spin.valueChanged.connect(self.edited)
        self.schedule_combo.currentIndexChanged.connect(self.edited)
        self.epochs_radio.toggled.connect(self.edited)
        self.lr_edit.editingFinished.connect(lambda: self.lrEdited.emit(self.lr_edit.text()))
        self.lr_edit.textEdited.connect(self.lrTyping)

    def _lay_out(self) -> None:
        epochs_row = QHBoxLayout()
        epochs_row.addWidget(self.epochs_radio)
        epochs_row.addWidget(self.epochs_spin)
        epochs_row.addStretch(1)
        cycles_row = QHBoxLayout()
        for w in (self.cycles_radio, self.cycles_spin, self.cycle_len_spin, self.cycle_mult_spin):
            cycles_row.addWidget(w)
        form = QFormLayout(self)
        form.addRow("Learning rate", self.lr_edit)
        form.addRow("Schedule", self.schedule_combo)
        form.addRow(epochs_row)
        form.addRow(cycles_row)
        form.addRow(self.length_note)

    def set_values(self, config: TrainConfig) -> None:
        with QSignalBlocker(self):
            self.schedule_combo.setCurrentIndex(max(0, self.schedule_combo.findData(config.schedule)))
            self.epochs_spin.setValue(config.epochs)
            self.cycles_radio.setChecked(config.cycles is not None)
            self.epochs_radio.setChecked(config.cycles is None)
            self.cycles_spin.setValue(config.cycles or 1)
            self.cycle_len_spin.setValue(config.cycle_len)
            self.cycle_mult_spin.setValue(config.cycle_mult)

    def values(self) -> dict:
        return {
            "schedule": self.schedule_combo.currentData(),
            "cycles_mode": self.cycles_radio.isChecked(),
            "epochs": self.epochs_spin.value(),
            "cycles": self.cycles_spin.value(),
            "cycle_len": self.cycle_len_spin.value(),
            "cycle_mult": self.cycle_mult_spin.value(),
        }

    def show_lr(self, text: str, valid: bool = True) -> None:
        if text != self.lr_edit.text():
            self.lr_edit.setText(text)
        self.show_lr_valid(valid)

    def show_lr_valid(self, valid: bool) -> None:
        self.lr_edit.setStyleSheet("" if valid else f"color: {theme.css(theme.error_text())};")

    def show_state(self, state: FormState) -> None:
        """Cycles only with SGDR; say how many epochs the cycles make (must not modify the backing model)."""
        c = state.config
        sgdr = c.schedule == "sgdr"
        with QSignalBlocker(self):
            if not sgdr:
                self.epochs_radio.setChecked(True)
        self.cycles_radio.setEnabled(sgdr)
        cycles_mode = c.cycles is not None
        self.epochs_spin.setEnabled(not cycles_mode)
        for w in (self.cycles_spin, self.cycle_len_spin, self.cycle_mult_spin):
            w.setEnabled(cycles_mode)
        if cycles_mode:
            n = c.total_epochs()
            note = f"= {n} epoch{'s' if n != 1 else ''} in {c.cycles} cosine cycle{'s' if c.cycles != 1 else ''}"
        else:
            note = "Cycles (SGDR restarts) need the SGDR schedule." if not sgdr else ""
        self.length_note.setText(note)
        self.length_note.setVisible(bool(note))
