"""AppState: the one model the panels share (dataset, learning rate, current model).

Views read it and subscribe to its signals; controllers call its setters. Setters
emit only on a real change, which keeps two-way bindings (LR line ↔ LR field) loop-free.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QObject, Signal


class AppState(QObject):
    datasetChanged = Signal(object)      # engine.data.Dataset or None
    lrChanged = Signal(float)
    modelChanged = Signal(object)        # engine.models.FoveaModel or None (trained/loaded model)
    imagesDropped = Signal(list)         # image file paths/urls dropped on the window, to classify
    learnerChanged = Signal(object)      # engine.training.Learner or None (shared by Train and LR finder)
    trainConfigChanged = Signal(object)  # engine.training.TrainConfig (the Train panel's settings)
    statusMessage = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._dataset = None
        self._lr = 1e-2
        self._model = None
        self._learner = None
        self._train_config = None

    @property
    def dataset(self):
        return self._dataset

    def set_dataset(self, dataset) -> None:
        self._dataset = dataset
        self.datasetChanged.emit(dataset)

    @property
    def lr(self) -> float:
        return self._lr

    def set_lr(self, lr: float) -> None:
        lr = float(lr)
        if not math.isfinite(lr) or lr <= 0:
            return
        if math.isclose(lr, self._lr, rel_tol=1e-9):
            return
        self._lr = lr
        self.lrChanged.emit(lr)

    @property
    def model(self):
        return self._model

    def set_model(self, model) -> None:
        self._model = model
        self.modelChanged.emit(model)

    @property
    def learner(self):
        return self._learner

    def set_learner(self, learner) -> None:
        if learner is self._learner:
            return
        self._learner = learner
        self.learnerChanged.emit(learner)

    @property
    def train_config(self):
        return self._train_config

    def set_train_config(self, config) -> None:
        self._train_config = config
        self.trainConfigChanged.emit(config)
