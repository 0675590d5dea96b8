"""The LR finder tab's view: lays out its control groups, shows what the controller tells it and
emits what the user asks for. Its setters never write the model (AppState or the controller)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton, QSplitter, QVBoxLayout, QWidget

from gui import dialogs, theme
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
EXPORTS = {  # kind: (dialog title, default name, filter, tooltip)
    "png": (
        "Export plot as PNG",
        "lr_finder.png",
        "PNG image (*.png)",
        "Save the loss plot as a picture, as you see it (Ctrl+S).",
    ),
    "csv": (
        "Export data as CSV",
        "lr_finder.csv",
        "CSV (*.csv)",
        "Save every step of the test (learning rate, loss, smoothed loss) as a spreadsheet file.",
    ),
}
DIALOG_KIND = "lr_plot"  # gui.dialogs remembers the last folder per kind of file
FRESH, THIS = "fresh", "this"  # answers to ask_trained


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
        self.explain.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        self.chips = SuggestionChips()
        self.plot = LossPlot(lr)
        self.schedule = SchedulePlot()
        self.export_buttons = {
            "png": QPushButton(QIcon.fromTheme("document-save"), "Export PNG…"),
            "csv": QPushButton(QIcon.fromTheme("document-save-as"), "Export CSV…"),
        }
        for kind, button in self.export_buttons.items():
            button.setToolTip(EXPORTS[kind][3])
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, k=kind: self._ask_export(k))
            self.schedule.row.addWidget(button)  # beside the schedule so the LR row fits a small screen
        self._lay_out()
        self._add_shortcuts()

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

    def _add_shortcuts(self) -> None:
        """Run (Ctrl+R, Ctrl+Return) and Save (Ctrl+S: the PNG) while this tab is shown."""
        for keys, action in (
            ("Ctrl+R", self._run_shortcut),
            ("Ctrl+Return", self._run_shortcut),
            (QKeySequence.Save, lambda: self._ask_export("png")),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)

    def _run_shortcut(self) -> None:
        if self.controls.run_button.isEnabled():
            self.runRequested.emit()

    def _ask_export(self, kind: str) -> None:
        if not self.export_buttons[kind].isEnabled():
            return
        title, name, filters, _tip = EXPORTS[kind]
        path, _ = dialogs.save_file_name(self, title, DIALOG_KIND, name, filters)
        if path:
            self.exportRequested.emit(kind, path)

    def ask_trained(self, notice: str) -> str | None:
        """Ask whether to test a fresh copy of an already trained model: FRESH, THIS, or None (cancel)."""
        box = QMessageBox(QMessageBox.Question, "The model is already trained", notice, parent=self)
        fresh = box.addButton("Test a fresh copy", QMessageBox.AcceptRole)
        this = box.addButton("Test this model", QMessageBox.ActionRole)
        box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(fresh)
        box.exec()
        return {fresh: FRESH, this: THIS}.get(box.clickedButton())

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
