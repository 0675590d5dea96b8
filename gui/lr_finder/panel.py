"""The LR finder tab: run the range test, watch the curve draw, drag a line to the learning rate you want.

Assembles the view (what the user sees and does) and the controller (the curve, AppState, the job).
"""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.jobs import JobSlot
from gui.lr_finder.controller import LRFinderController
from gui.lr_finder.curve import RangeSettings
from gui.lr_finder.view import LRFinderView
from gui.state import AppState


class LRFinderPanel(QWidget):
    def __init__(self, state: AppState, learner_slot: JobSlot | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.file_actions = []  # none for the window's File menu
        # shared with the tab that trains the learner; a panel on its own gets its own
        self._owns_slot = learner_slot is None
        slot = learner_slot or JobSlot("learner", self)
        settings = RangeSettings()
        self.view = LRFinderView(state.lr, settings)
        self.controller = LRFinderController(state, self.view, slot, settings, parent=self)
        QVBoxLayout(self).addWidget(self.view)

    @property
    def running(self) -> bool:
        return self.controller.running

    def run(self) -> None:
        self.controller.run()

    def shutdown(self) -> None:
        self.controller.shutdown(owns_slot=self._owns_slot)
