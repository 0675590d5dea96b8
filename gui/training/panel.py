"""The Train tab as the window sees it: a view (gui.training.view) and its controller
(gui.training.controller), the File-menu actions, and ``shutdown``.

The tab turns its form into a ``TrainConfig`` (kept in ``AppState.train_config`` for the LR finder),
runs the chosen recipe in the learner slot it shares with the LR finder — Auto (engine.recipes.auto_job,
the default), a lesson preset's stages or the form's settings (Custom) through
``engine.run_training.train_run`` — every run recorded in the run store, and draws the records it yields.

Injected: ``store`` (the run store; default: the per-user one), ``settings`` (the window's QSettings: the
recipe and form are kept there for the next start; None: not kept), ``lr_range`` (a callable giving the LR
finder's last tested (low, high) range, or None: Start warns above it). ``set_bad_files(paths)`` takes
what the Data tab's verification found unreadable (left out of the counts shown).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.config import TrainConfig
from engine.runs import RunStore
from gui.augment_preview import AugmentPreview
from gui.jobs import JobSlot
from gui.training.controller import TrainingController
from gui.training.kept_settings import KeptSettings
from gui.training.recipes import Recipe
from gui.training.view import TrainingView


class TrainingPanel(QWidget):
    """Settings form on the left; charts, epoch table and run history on the right."""

    def __init__(
        self,
        state,
        learner_slot: JobSlot | None = None,
        parent: QWidget | None = None,
        store: RunStore | None = None,
        lr_range: Callable[[], tuple[float, float] | None] | None = None,
        settings=None,
    ):
        super().__init__(parent)
        self.state = state
        # shared with the other tab that trains the learner (a panel on its own gets its own)
        self.learner_slot = learner_slot or JobSlot("learner", self)
        self.store = store if store is not None else RunStore()
        self.augment_preview: AugmentPreview | None = None  # built when the user first unfolds it
        self.view = TrainingView(self, self._make_preview)
        kept = KeptSettings(settings)
        kept_config, kept_recipe = kept.load()  # before the form's first commit writes over them
        self.controller = TrainingController(state, self.view, self.learner_slot, self.store, lr_range, kept, self)
        self.file_actions = [self.view.import_action, self.view.save_action]  # the window's File menu
        # the widgets other tabs' tests and the UI bench drive
        self.lr_edit = self.view.schedule_box.lr_edit
        self.start_button = self.view.run_box.start_button
        self.status_label = self.view.run_box.status_label
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        initial = state.train_config if isinstance(state.train_config, TrainConfig) else TrainConfig()
        self.controller.show_config(kept_config or dataclasses.replace(initial, lr=state.lr))
        self.controller.set_recipe(kept_recipe or Recipe())  # Auto, the default
        self.controller.reload_history()
        self.controller.show_ready()
        self.controller.current.refresh()
        self._device_shown = False

    def showEvent(self, event) -> None:
        if not self._device_shown:  # naming the device imports torch: not before the window is up
            self._device_shown = True
            self.controller.show_device()
        super().showEvent(event)

    def _make_preview(self) -> AugmentPreview:
        self.augment_preview = AugmentPreview(self.state)
        return self.augment_preview

    @property
    def running(self) -> bool:
        return self.controller.running

    @property
    def charts_drawing(self) -> bool:
        """The charts are still catching up with the run (its last frames, one chart each)."""
        return self.controller.charts.drawing

    def config(self) -> TrainConfig:
        return self.controller.config

    def set_config(self, config: TrainConfig) -> None:
        """Train with ``config``: selects Custom (the form shows it)."""
        self.controller.set_config(config)

    @property
    def recipe(self) -> Recipe:
        return self.controller.recipe

    def set_recipe(self, recipe: Recipe) -> None:
        """Train with ``recipe`` (Auto and its budget, a lesson preset, or Custom: the form)."""
        self.controller.set_recipe(recipe)

    def start(self) -> None:
        self.controller.start()

    def cancel(self) -> None:
        self.controller.cancel()

    def shutdown(self) -> None:
        self.controller.shutdown()
        if self.augment_preview is not None:
            self.augment_preview.shutdown()

    def set_bad_files(self, paths) -> None:
        self.controller.set_bad_files(paths)

    def save_model(self, path) -> None:
        self.controller.save_model(path)

    def default_model_path(self) -> Path:
        return self.controller.default_model_path()

    def import_weights_file(self, arch: str, path: str, retry: bool = True) -> None:
        """Check and keep a local weights file for ``arch`` (a job); ``retry``: then start the run again."""
        self.controller.files.import_weights(arch, path, retry)
