"""Start-up measurement hook: with ``FOVEA_STARTUP_PROBE=FILE`` in the environment, the app writes
to FILE (JSON) when its window was first painted and when the first dataset was open (wall clock, and
the process's CPU time), with the heavy modules loaded at each moment, then closes. ``bench/startup.py`` and ``tests/test_startup.py`` use it."""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer

ENV = "FOVEA_STARTUP_PROBE"
HEAVY = ("torch", "torchvision", "timm")
GIVE_UP_MS = 60_000  # no dataset by then: write what there is


def heavy_modules() -> list[str]:
    return [name for name in HEAVY if name in sys.modules]


class StartupProbe(QObject):
    def __init__(self, window, path: str):
        super().__init__(window)
        self.window, self.path = window, path
        self.report: dict = {}
        window.installEventFilter(self)
        window.state.datasetChanged.connect(self._on_dataset)
        QTimer.singleShot(GIVE_UP_MS, self._finish)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Paint and "shown" not in self.report:
            # the paint is under way: note the moment it is done (the next turn of the event loop)
            self.report["shown"] = None
            QTimer.singleShot(0, lambda: self._note("shown"))
        return False

    def _on_dataset(self, _dataset) -> None:
        QTimer.singleShot(0, lambda: self._note("dataset"))

    def _note(self, what: str) -> None:
        self.report[what] = time.time()
        self.report[f"{what}_cpu"] = time.process_time()  # all threads: a busy machine inflates it less
        self.report[f"{what}_modules"] = heavy_modules()
        if self.report.get("shown") and self.report.get("dataset"):
            self._finish()

    def _finish(self) -> None:
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.report, f)
        self.window.close()
