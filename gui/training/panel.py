"""The Train tab as the window sees it: a view (gui.training.view) and its controller
(gui.training.controller), the File-menu actions, and ``shutdown``.

The tab turns its form into a ``TrainConfig`` (kept in ``AppState.train_config`` for the LR finder),
runs ``Learner.fit`` in the learner slot it shares with the LR finder, and draws the plain-data
records the fit yields.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.config import TrainConfig
from gui.jobs import JobSlot
from gui.training.controller import TrainingController
from gui.training.view import TrainingView


class TrainingPanel(QWidget):
    """Settings form on the left; charts, epoch table and run history on the right."""

    def __init__(self, state, learner_slot: JobSlot | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        # shared with the other tab that trains the learner (a panel on its own gets its own)
        self.learner_slot = learner_slot or JobSlot("learner", self)
        self.view = TrainingView(self)
        self.controller = TrainingController(state, self.view, self.learner_slot, self)
        self.file_actions = [self.view.import_action, self.view.save_action]  # the window's File menu
        # the widgets other tabs' tests and the UI bench drive
        self.lr_edit = self.view.schedule_box.lr_edit
        self.start_button = self.view.run_box.start_button
        self.status_label = self.view.run_box.status_label
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        initial = state.train_config if isinstance(state.train_config, TrainConfig) else TrainConfig()
        self.controller.set_config(dataclasses.replace(initial, lr=state.lr))
        self.controller.reload_history()
        self.controller.show_ready()
        self._device_shown = False

    def showEvent(self, event) -> None:
        if not self._device_shown:  # naming the device imports torch: not before the window is up
            self._device_shown = True
            self.controller.show_device()
        super().showEvent(event)

    @property
    def running(self) -> bool:
        return self.controller.running

    def config(self) -> TrainConfig:
        return self.controller.config

    def set_config(self, config: TrainConfig) -> None:
        self.controller.set_config(config)

    def start(self) -> None:
        self.controller.start()

    def cancel(self) -> None:
        self.controller.cancel()

    def shutdown(self) -> None:
        self.controller.shutdown()

    def save_model(self, path) -> None:
        self.controller.save_model(path)

    def default_model_path(self) -> Path:
        return self.controller.default_model_path()

    def import_weights_file(self, arch: str, path: str, retry: bool = True) -> None:
        """Check and keep a local weights file for ``arch`` (a job); ``retry``: then start the run again."""
        self.controller.files.import_weights(arch, path, retry)
