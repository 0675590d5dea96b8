"""Bridge engine jobs (plain threads + callbacks) to Qt signals delivered on the GUI thread."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal

from engine.jobs import CANCELLED, DONE, ERROR, PROGRESS, Job, JobEvent


class QtJob(QObject):
    """Run ``fn(*args, stop=..., **kwargs)`` as an engine Job; signals arrive on the GUI thread."""

    progress = Signal(object)
    finished = Signal(object)     # the generator's return value
    failed = Signal(str)          # one clear line
    cancelled = Signal()
    ended = Signal(str)           # always last: done | error | cancelled
    _event = Signal(object)

    def __init__(self, fn, *args, parent: QObject | None = None, **kwargs):
        super().__init__(parent)
        self.job = Job(fn, *args, **kwargs)
        self._started = self._ended = False
        # queued: the worker thread emits, this object's (GUI) thread runs _dispatch
        self._event.connect(self._dispatch, Qt.QueuedConnection)

    def start(self) -> "QtJob":
        self._started = True
        self.job.start(self._event.emit)
        return self

    def cancel(self) -> None:
        self.job.cancel()

    @property
    def running(self) -> bool:
        """Started and its end not yet handled here. Not the thread's liveness: the thread emits its
        end and then exits, so a handler of ``ended`` asking the thread could still see it alive
        (and leave Run disabled for good)."""
        return self._started and not self._ended

    def wait(self, timeout: float | None = None) -> bool:
        return self.job.wait(timeout)

    def _dispatch(self, event: JobEvent) -> None:
        if event.kind == PROGRESS:
            self.progress.emit(event.data)
            return
        self._ended = True
        if event.kind == DONE:
            self.finished.emit(event.data)
        elif event.kind == ERROR:
            self.failed.emit(str(event.data))
        elif event.kind == CANCELLED:
            self.cancelled.emit()
        self.ended.emit(event.kind)


def tab_running(widget, name: str) -> bool:
    """Whether the main window's tab ``name`` (e.g. "Train", "LR finder") is running a job on the shared
    learner now. Tabs that share the learner ask this before starting their own job."""
    panels = getattr(widget.window(), "panels", None)
    panel = panels.get(name) if isinstance(panels, dict) else None
    return bool(getattr(panel, "running", False))
