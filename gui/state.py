"""AppState: the one model the panels share (dataset, learning rate, current model, learner).

Views read it and subscribe to its signals; controllers call its setters. Setters
emit only on a real change, which keeps two-way bindings (LR line ↔ LR field) loop-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:  # only for annotations: the window starts without importing torch
    from engine.config import TrainConfig
    from engine.data import Dataset
    from engine.models import FoveaModel
    from engine.training import Learner


@dataclass(frozen=True)
class AutoLRTest:
    """The LR test Auto ran for the head it kept, and the LR it chose from it (its valley)."""

    lr_test: dict  # engine.lr_finder.lr_find_job's result: lrs, losses, smoothed, suggestions, stopped…
    lr: float
    tested: str  # on what, in words: "head on the last layer"
    dataset: object  # the engine.data.Dataset it ran on


class AppState(QObject):
    datasetChanged = Signal(object)  # Dataset | None
    lrChanged = Signal(float)
    modelChanged = Signal(object)  # FoveaModel | None: the trained or loaded model Classify uses
    imagesDropped = Signal(list)  # image file paths/urls dropped on the window, to classify
    learnerChanged = Signal(object)  # Learner | None, shared by Train and the LR finder
    trainConfigChanged = Signal(object)  # TrainConfig: the Train panel's settings
    lrTestRangeChanged = Signal(object)  # (lowest, highest) LR the LR finder's last test reached, or None
    autoLRTestChanged = Signal(object)  # AutoLRTest | None: Auto's LR test, shown by the LR finder
    statusMessage = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._dataset: Dataset | None = None
        self._lr: float = 1e-2
        self._model: FoveaModel | None = None
        self._learner: Learner | None = None
        self._train_config: TrainConfig | None = None
        self._lr_test_range: tuple[float, float] | None = None
        self._auto_lr_test: AutoLRTest | None = None

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    def set_dataset(self, dataset: Dataset | None) -> None:
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
    def model(self) -> FoveaModel | None:
        return self._model

    def set_model(self, model: FoveaModel | None) -> None:
        self._model = model
        self.modelChanged.emit(model)

    @property
    def learner(self) -> Learner | None:
        return self._learner

    def set_learner(self, learner: Learner | None) -> None:
        if learner is self._learner:
            return
        self._learner = learner
        self.learnerChanged.emit(learner)

    @property
    def train_config(self) -> TrainConfig | None:
        return self._train_config

    def set_train_config(self, config: TrainConfig) -> None:
        self._train_config = config
        self.trainConfigChanged.emit(config)

    @property
    def lr_test_range(self) -> tuple[float, float] | None:
        """The (lowest, highest) learning rate the LR finder's last finished test reached on this dataset,
        or None before any (Train warns before an LR above it: engine.run_rules.lr_warning)."""
        return self._lr_test_range

    def set_lr_test_range(self, lr_range: tuple[float, float] | None) -> None:
        lr_range = None if lr_range is None else (float(lr_range[0]), float(lr_range[1]))
        if lr_range == self._lr_test_range:
            return
        self._lr_test_range = lr_range
        self.lrTestRangeChanged.emit(lr_range)

    @property
    def auto_lr_test(self) -> AutoLRTest | None:
        """The LR test of the last Auto run and the LR it chose (None before any)."""
        return self._auto_lr_test

    def set_auto_lr_test(self, test: AutoLRTest | None) -> None:
        self._auto_lr_test = test
        self.autoLRTestChanged.emit(test)

    def status(self, message: str) -> None:
        """Show a passing message in the window's status bar."""
        self.statusMessage.emit(message)
