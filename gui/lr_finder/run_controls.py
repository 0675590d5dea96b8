"""The top row: Run and Cancel, the test's range, its progress and a one-line status."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QWidget

from gui import theme
from gui.lr_finder.curve import RangeSettings

RUN_KEYS = "Ctrl+R"  # also Ctrl+Return while the tab is shown (the view's shortcuts)


def bad_field_style() -> str:
    return f"border: 1px solid {theme.css(theme.error_text())};"


class RunControls(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    rangeEdited = Signal(object)  # RangeSettings

    def __init__(self, settings: RangeSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_button = QPushButton(QIcon.fromTheme("media-playback-start"), "Run")
        self.run_button.setToolTip(
            f"Test learning rates on the open dataset: a short training while the rate grows ({RUN_KEYS})."
        )
        self.cancel_button = QPushButton(QIcon.fromTheme("process-stop"), "Cancel")
        self.cancel_button.setToolTip("Stop the test; the model is left as it was.")
        self.cancel_button.setEnabled(False)
        self.start_edit = QLineEdit(settings.start_text)
        self.end_edit = QLineEdit(settings.end_text)
        for edit, tip in (
            (self.start_edit, "The smallest learning rate the test tries first, e.g. 1e-7."),
            (
                self.end_edit,
                "The largest learning rate the test grows to, e.g. 10 (it stops sooner if the loss blows up).",
            ),
        ):
            edit.setMaximumWidth(70)
            edit.setToolTip(tip)
        self.iters_spin = QSpinBox()
        self.iters_spin.setRange(5, 2000)
        self.iters_spin.setValue(settings.iters)
        self.iters_spin.setToolTip(
            "How many mini-batches the test trains on, one learning rate each; more steps give a smoother curve."
        )
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("exponential", "exp")
        self.mode_combo.addItem("linear", "linear")
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(settings.mode))
        self.mode_combo.setToolTip(
            "How the rate grows from step to step: exponential (the lesson's choice) gives every power of ten "
            "the same number of steps."
        )
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status = QLabel("Open a dataset, then find a learning rate here.")
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status.setWordWrap(True)  # a long message wraps instead of widening the window
        self.status.setMinimumWidth(120)
        self._lay_out()

        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.start_edit.textChanged.connect(self._emit_range)
        self.end_edit.textChanged.connect(self._emit_range)
        self.iters_spin.valueChanged.connect(self._emit_range)
        self.mode_combo.currentIndexChanged.connect(self._emit_range)

    def _lay_out(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addSpacing(12)
        for w in (QLabel("from"), self.start_edit, QLabel("to"), self.end_edit, QLabel("in"), self.iters_spin):
            row.addWidget(w)
        row.addWidget(QLabel("steps,"))
        row.addWidget(self.mode_combo)
        row.addSpacing(12)
        row.addWidget(self.progress)
        row.addWidget(self.status, 1)

    def _emit_range(self, *_) -> None:
        self.rangeEdited.emit(
            RangeSettings(
                self.start_edit.text(), self.end_edit.text(), self.iters_spin.value(), self.mode_combo.currentData()
            )
        )

    # ---- setters (show state; never write it)
    def show_range_valid(self, ok: bool) -> None:
        for edit in (self.start_edit, self.end_edit):
            edit.setStyleSheet("" if ok else bad_field_style())

    def show_running(self, running: bool, can_run: bool) -> None:
        self.run_button.setEnabled(can_run)
        self.cancel_button.setEnabled(running)
        for w in (self.start_edit, self.end_edit, self.iters_spin, self.mode_combo):
            w.setEnabled(not running)

    def show_progress(self, done: int | None, total: int = 0, fmt: str = "%v/%m") -> None:
        """A bar at done/total; ``done=None``: busy without a count."""
        if done is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
            self.progress.setFormat(fmt)
        self.progress.show()

    def hide_progress(self) -> None:
        self.progress.hide()

    def show_status(self, text: str) -> None:
        self.status.setText(text)
