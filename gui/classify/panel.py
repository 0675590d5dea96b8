"""Classify: drop or paste images for predictions, batch-predict a folder, and evaluate a model.

Three pages over the same model (the one trained in this session, a saved model file, or —
before any training — the pretrained ImageNet network):
  Drop images   · a streaming list of predictions with top-k bars, and a large view with Grad-CAM
  Batch predict · a sortable table over a folder or the dataset's test/, CSV and Kaggle export
  Evaluate      · accuracy, per-class precision/recall, a clickable confusion matrix and the
                  lesson's galleries (most correct / incorrect / uncertain), TTA on or off

The package: ``view`` (ClassifyView: model_bar, drop, batch and evaluate pages, all widgets) shows
state and emits intents; the controllers own the state and run every job through a JobSlot:
``models`` (ModelChoice), ``drop`` (DropController), ``batch`` (BatchController), ``evaluate``
(EvalController), each large view with its own ``Explainer`` (Grad-CAM). This class assembles them.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QVBoxLayout, QWidget

from gui.classify.batch_controller import BatchController
from gui.classify.drop_controller import DropController, sources_from_mime
from gui.classify.eval_controller import EvalController
from gui.classify.model_choice import ModelChoice, ModelEntry
from gui.classify.view import ClassifyView
from gui.state import AppState


class ClassifyPanel(QWidget):
    """The "Classify" tab."""

    def __init__(self, state: AppState, store=None, parent: QWidget | None = None, restore_current: bool = True):
        """``store``: the run store (engine.runs.RunStore) whose models and current model it lists;
        default: the per-user one. ``restore_current``: load the last session's current model itself
        (False where the window loads it into AppState, which this tab follows)."""
        super().__init__(parent)
        self.state = state
        self._closed = False
        self.setAcceptDrops(True)
        self.view = ClassifyView()
        self.models = ModelChoice(state, self.view.model_bar, store, self, restore=restore_current)
        self.drop = DropController(state, self.view.drop, self.models, self)
        self.batch = BatchController(state, self.view.batch, self.models, self)
        self.evaluate = EvalController(state, self.view.evaluate, self.models, self)
        self.models.imagenetFailed.connect(lambda m: QMessageBox.warning(self, "ImageNet model unavailable", m))
        self.models.fileFailed.connect(lambda m: QMessageBox.warning(self, "Cannot open model", m))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(self.view)
        act = QAction("Open model for classifying…", self)
        act.setToolTip("Load a saved Fovea model file and use it in the Classify tab")
        act.triggered.connect(self.view.model_bar.choose_file)
        self.file_actions = [act]  # the window puts these in its File menu

    # ------------------------------------------------------------ what the window, scripts and tests use
    def classify(self, sources) -> None:
        """Predict files, folders, URLs, QImages or arrays; rows stream into the Drop page's list."""
        self.drop.classify(sources)

    def paste(self) -> None:
        """Classify the image (file, link) on the clipboard."""
        if self.drop.paste():
            self.view.show_drop_page()

    def result_records(self) -> list[dict]:
        """The engine records shown in the Drop page's list, in order."""
        return [row.rec for row in self.drop.rows]

    @property
    def predicting(self) -> bool:
        """Drops are waiting or being predicted (or the model they need is loading)."""
        return self.drop.predicting

    @property
    def running(self) -> bool:
        """Any of the tab's jobs is running (predictions, model loads, Grad-CAM, evaluation, thumbnails)."""
        return any(slot.running for slot in self._slots())

    def current_entry(self) -> ModelEntry:
        return self.models.current_entry()

    def current_model(self):
        """The model in use, or None while it is still loading."""
        return self.models.current_model()

    def open_model_file(self, path: str) -> None:
        self.models.open_file(path)

    def shutdown(self) -> None:
        self._closed = True
        for controller in (self.models, self.drop, self.batch, self.evaluate):
            controller.shutdown()

    # ------------------------------------------------------------ Qt events
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._closed:
            self.models.preload()  # load the ImageNet network while the user picks a photo

    def dragEnterEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasUrls() or md.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        sources = sources_from_mime(event.mimeData())
        if sources:
            event.acceptProposedAction()
            self.view.show_drop_page()
            self.drop.classify(sources)

    def _slots(self) -> list:
        models = self.models
        return [
            models.imagenet_slot,
            models.file_slot,
            models.copy_slot,
            *(c.slot for c in (self.drop, self.batch, self.evaluate)),
            self.evaluate.thumbs,
            *(c.explainer.slot for c in (self.drop, self.batch, self.evaluate)),
        ]
