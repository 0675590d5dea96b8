"""The Train tab's view: the current model on top; the settings form and run controls on the left;
charts, epoch table and run history on the right. It shows what the controller gives it and emits what the user asks for; its
``set_*``/``show_*`` methods never write AppState or the controller's state."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QLabel, QMessageBox, QScrollArea, QSplitter, QVBoxLayout, QWidget

from engine.config import TrainConfig
from gui.training.charts import TrainingCharts
from gui.training.data_controls import DataControls
from gui.training.epoch_table import EpochTable
from gui.training.history_list import RunHistoryBox
from gui.training.model_bar import ModelBar
from gui.training.model_controls import ModelControls
from gui.training.recipe_controls import RecipeControls
from gui.training.recipes import Recipe
from gui.training.run_controls import SAVE_KEYS, START_KEYS, RunControls
from gui.training.schedule_controls import ScheduleControls
from gui.training.settings import FormState, FormValues
from gui.training.tuning_controls import FineTuningControls


def _column(*widgets, margins=(0, 0, 0, 0), stretch_last: bool = False) -> QWidget:
    box = QWidget()
    col = QVBoxLayout(box)
    col.setContentsMargins(*margins)
    for w in widgets:
        col.addWidget(w)
    if stretch_last:
        col.addStretch(1)
    return box


class TrainingView(QWidget):
    settingsEdited = Signal()  # a setting changed: the controller reads values() and commits them
    recipeEdited = Signal()  # the recipe or Auto's budget changed: the controller reads recipe()
    settingsTyping = Signal()  # the multipliers are being typed: the controller previews them
    lrEdited = Signal(str)
    lrTyping = Signal(str)
    startRequested = Signal()
    cancelRequested = Signal()
    saveRequested = Signal()
    onnxRequested = Signal()
    clusterRequested = Signal()
    importRequested = Signal(bool)  # True: for the network a start failed for, then start again
    comparedChanged = Signal(list)  # ids of the history runs to overlay

    def __init__(self, parent: QWidget | None = None, make_preview: Callable[[], QWidget] | None = None):
        super().__init__(parent)
        self.model_bar = ModelBar()
        self.recipe_box = RecipeControls()
        self.model_box, self.data_box = ModelControls(), DataControls(make_preview)
        self.schedule_box, self.tuning_box = ScheduleControls(), FineTuningControls()
        self.settings_boxes = [self.model_box, self.data_box, self.schedule_box, self.tuning_box]
        self.recipe_boxes = [self.data_box, self.schedule_box, self.tuning_box]  # Custom's; hidden for the others
        self.run_box = RunControls()
        self.charts = TrainingCharts()
        self.epoch_table = EpochTable()
        self.history_box = RunHistoryBox()
        self.history = self.history_box.list
        self.error_box: QMessageBox | None = None
        self.cluster_dialog = None  # the last "Copy cluster command…" dialog
        self.import_action = QAction("Import weights…", self)
        self.import_action.setToolTip(
            "Use a local .pth file as the pretrained weights of the "
            "architecture chosen in the Train tab (for offline computers)"
        )
        self.save_action = QAction("Save trained model…", self)
        self.save_action.setShortcut(QKeySequence(SAVE_KEYS))
        self.save_action.setToolTip("Write the current model to a .pth file the Classify tab can open")
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self._left_column())
        splitter.addWidget(self._right_column())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([splitter.widget(0).minimumWidth(), 1000])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.model_bar)
        lay.addWidget(splitter, 1)
        self._connect()

    def _left_column(self) -> QWidget:
        """The settings scroll; the run controls stay in view under them, whatever the window's height."""
        form = _column(self.recipe_box, *self.settings_boxes, margins=(0, 0, 6, 0), stretch_last=True)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(form)
        width = form.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4
        scroll.setMinimumWidth(width)
        left = _column(scroll, self.run_box)
        left.layout().setStretch(0, 1)
        left.setMinimumWidth(width)
        return left

    def _right_column(self) -> QWidget:
        table = _column(QLabel("<b>Epochs</b> — this run"), self.epoch_table)
        bottom = QSplitter(Qt.Horizontal)
        bottom.addWidget(table)
        bottom.addWidget(self.history_box)
        bottom.setSizes([420, 480])
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.charts)
        right.addWidget(bottom)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([560, 220])
        return right

    def _connect(self) -> None:
        for box in self.settings_boxes:
            box.edited.connect(self.settingsEdited)
        self.recipe_box.edited.connect(self.recipeEdited)
        self.tuning_box.typing.connect(self.settingsTyping)
        self.schedule_box.lrEdited.connect(self.lrEdited)
        self.schedule_box.lrTyping.connect(self.lrTyping)
        self.model_box.importRequested.connect(lambda: self.importRequested.emit(True))
        self.import_action.triggered.connect(lambda: self.importRequested.emit(False))
        self.save_action.triggered.connect(self.saveRequested)
        self.run_box.startRequested.connect(self.startRequested)
        self.run_box.cancelRequested.connect(self.cancelRequested)
        self.run_box.saveRequested.connect(self.saveRequested)
        self.run_box.onnxRequested.connect(self.onnxRequested)
        self.run_box.clusterRequested.connect(self.clusterRequested)
        self.run_box.procs_spin.valueChanged.connect(self.settingsEdited)
        self.start_shortcut = QShortcut(QKeySequence(START_KEYS), self, context=Qt.WidgetWithChildrenShortcut)
        self.start_shortcut.activated.connect(self.run_box.start_if_enabled)
        self.history.comparedChanged.connect(self.comparedChanged)

    # ------------------------------------------------------------ the form (must not modify the backing model)
    def set_values(self, config: TrainConfig) -> None:
        """Put ``config`` into the widgets (no signals: this is not the user editing)."""
        with QSignalBlocker(self):
            for box in self.settings_boxes:
                box.set_values(config)

    def values(self) -> FormValues:
        fields = {}
        for box in self.settings_boxes:
            fields.update(box.values())
        return FormValues(**fields)

    def show_form(self, state: FormState) -> None:
        """Lock the settings during a run; enable and explain the settings that depend on others."""
        for box in (self.recipe_box, *self.settings_boxes):
            box.setEnabled(not state.running)
        for box in (self.data_box, self.schedule_box, self.tuning_box):
            box.show_state(state)

    def recipe(self) -> Recipe:
        return self.recipe_box.values()

    def show_recipe(self, recipe: Recipe, note: str) -> None:
        """The chosen recipe and what it trains; Custom's settings only under Custom (the Model group, the data
        and device, stays for every recipe)."""
        self.recipe_box.set_recipe(recipe, note)
        for box in self.recipe_boxes:
            box.setVisible(recipe.custom)
        self.run_box.show_custom(recipe.custom)

    def lr_text(self) -> str:
        return self.schedule_box.lr_edit.text()

    def show_lr(self, text: str, valid: bool = True) -> None:
        self.schedule_box.show_lr(text, valid)

    def show_lr_valid(self, valid: bool) -> None:
        self.schedule_box.show_lr_valid(valid)

    def show_device(self, text: str) -> None:
        self.model_box.device_label.setText(text)

    def show_weights(self, message: str | None) -> None:
        """The missing-weights box with ``message``; None hides it."""
        self.model_box.weights_box.show_message(message)

    def show_import_busy(self, busy: bool) -> None:
        self.model_box.weights_box.import_button.setEnabled(not busy)

    # ------------------------------------------------------------ the run
    def processes(self) -> int:
        """Processes to train in (1 unless this computer has 2+ GPUs and the user chose more)."""
        return self.run_box.procs_spin.value() if not self.run_box.procs_spin.isHidden() else 1

    def show_buttons(
        self, can_start: bool, can_cancel: bool, can_save: bool, start_tip: str = "", start_text: str = ""
    ) -> None:
        self.run_box.show_buttons(can_start, can_cancel, can_save, start_tip, start_text)
        self.save_action.setEnabled(can_save)

    def show_progress(self, value: int | None, caption: str | None = None) -> None:
        self.run_box.show_progress(value, caption)

    def show_eta(self, text: str) -> None:
        self.run_box.eta_label.setText(text)

    def show_status(self, text: str) -> None:
        self.run_box.status_label.setText(text)

    def show_error(self, title: str, message: str) -> None:
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # window-modal, does not block the event loop (jobs keep delivering)
        self.error_box = box
