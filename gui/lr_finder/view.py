"""The LR finder tab's view: lays out its control groups, shows what the controller tells it and
emits what the user asks for. Its setters never write the model (AppState or the controller)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QPushButton, QSplitter, QVBoxLayout, QWidget

from gui.lr_finder.curve import LRCurve, RangeSettings
from gui.lr_finder.loss_plot import LossPlot
from gui.lr_finder.run_controls import RunControls
from gui.lr_finder.schedule_plot import SchedulePlot
from gui.lr_finder.suggestion_chips import SuggestionChips

EXPLAIN = (
    "The finder trains for a moment while the learning rate grows from tiny to huge; your model "
    "is left unchanged. Pick where the loss is still clearly falling — well before the bottom of "
    "the curve — and drag the red line there (or click a suggestion). Train uses that learning rate."
)
EXPORTS = {  # kind: (dialog title, default name, filter)
    "png": ("Export plot as PNG", "lr_finder.png", "PNG image (*.png)"),
    "csv": ("Export data as CSV", "lr_finder.csv", "CSV (*.csv)"),
}


class LRFinderView(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    rangeEdited = Signal(object)  # RangeSettings
    lrDropped = Signal(float)  # the line was dragged to this LR
    suggestionChosen = Signal(str)  # a chip or a marker was clicked
    scheduleViewChanged = Signal(str)  # "test" | "train"
    exportRequested = Signal(str, str)  # kind ("png" | "csv"), path

    def __init__(self, lr: float, settings: RangeSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.controls = RunControls(settings)
        self.explain = QLabel(EXPLAIN)
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: #4a5568;")
        self.chips = SuggestionChips()
        self.plot = LossPlot(lr)
        self.schedule = SchedulePlot()
        self.export_buttons = {
            "png": QPushButton(QIcon.fromTheme("document-save"), "Export PNG…"),
            "csv": QPushButton(QIcon.fromTheme("document-save-as"), "Export CSV…"),
        }
        for kind, button in self.export_buttons.items():
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, k=kind: self._ask_export(k))
            self.schedule.row.addWidget(button)  # beside the schedule so the LR row fits a small screen
        self._lay_out()

        self.controls.runRequested.connect(self.runRequested)
        self.controls.cancelRequested.connect(self.cancelRequested)
        self.controls.rangeEdited.connect(self.rangeEdited)
        self.chips.suggestionClicked.connect(self.suggestionChosen)
        self.plot.suggestionClicked.connect(self.suggestionChosen)
        self.plot.lrDropped.connect(self.lrDropped)
        self.plot.lineMoved.connect(self.chips.show_lr)  # a live readout while dragging
        self.schedule.viewChanged.connect(self.scheduleViewChanged)
        self.chips.show_lr(lr)

    def _lay_out(self) -> None:
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.plot)
        split.addWidget(self.schedule)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 180])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.controls)
        lay.addWidget(self.explain)
        lay.addWidget(self.chips)
        lay.addWidget(split, 1)

    def _ask_export(self, kind: str) -> None:
        title, name, filters = EXPORTS[kind]
        path, _ = QFileDialog.getSaveFileName(self, title, name, filters)
        if path:
            self.exportRequested.emit(kind, path)

    # ---- setters (show state; never write it)
    def show_lr(self, lr: float) -> None:
        self.plot.show_lr(lr)
        self.schedule.show_lr(lr)

    def show_curve(self, curve: LRCurve) -> None:
        self.plot.show_curve(curve)

    def show_suggestions(self, curve: LRCurve) -> None:
        self.chips.show_suggestions(curve.suggestions)
        self.plot.show_markers(curve)

    def show_running(self, running: bool, can_run: bool, can_export: bool) -> None:
        self.controls.show_running(running, can_run)
        for button in self.export_buttons.values():
            button.setEnabled(can_export)

    def show_status(self, text: str) -> None:
        self.controls.show_status(text)

    def show_export_error(self, message: str) -> None:
        QMessageBox.warning(self, "Export failed", message)
