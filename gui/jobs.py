"""Bridge engine jobs (plain threads + callbacks) to Qt signals delivered on the GUI thread."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, Signal

from engine.jobs import CANCELLED, DONE, ERROR, PROGRESS, Job, JobEvent

# Jobs started by the window run a little behind its own threads (engine.jobs.Job.niceness): measured
# on 2 cores, the UI thread's longest pauses while training came from Qt's paint helper threads waiting
# for a core that torch's threads held.
JOB_NICENESS = 15
# Back-pressure: a job runs at most this many progress records ahead of the window. While the window is
# busy (painting a chart in Python) its records queue up; the job then sleeps — its thread releases the
# GIL — instead of taking the GIL back every few microseconds between small torch calls, which starved
# the UI thread for 0.1–0.3 s at a time (the LR finder on cached features, the first training epochs).
MAX_RECORDS_AHEAD = 2
MAX_WAIT_S = 0.05  # never more per record: a window that stopped handling events must not stall the job


class QtJob(QObject):
    """Run ``fn(*args, stop=..., **kwargs)`` as an engine Job; signals arrive on the GUI thread."""

    progress = Signal(object)
    finished = Signal(object)  # the generator's return value
    failed = Signal(str)  # one clear line
    cancelled = Signal()
    ended = Signal(str)  # always last: done | error | cancelled
    _event = Signal(object)

    def __init__(self, fn, *args, parent: QObject | None = None, **kwargs):
        super().__init__(parent)
        self.job = Job(fn, *args, **kwargs)
        self.job.niceness = JOB_NICENESS
        self._started = self._ended = False
        self._sent = self._handled = 0  # progress records: written by the job's thread / by the GUI thread
        # queued: the worker thread emits, this object's (GUI) thread runs _dispatch
        self._event.connect(self._dispatch, Qt.QueuedConnection)

    def start(self) -> QtJob:
        self._started = True
        self.job.start(self._deliver)
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

    def _deliver(self, event: JobEvent) -> None:
        """On the job's thread: queue the event for the GUI thread; wait while the GUI is behind."""
        if event.kind != PROGRESS:
            self._event.emit(event)
            return
        self._sent += 1
        self._event.emit(event)
        deadline = time.monotonic() + MAX_WAIT_S
        while self._sent - self._handled > MAX_RECORDS_AHEAD and not self.job.stop.is_set():
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)

    def _dispatch(self, event: JobEvent) -> None:
        if event.kind == PROGRESS:
            self._handled += 1
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


class JobSlot(QObject):
    """One kind of work (a panel's batch predict, the shared learner, a thumbnail pass…).

    ``start`` supersedes the slot's previous job: it is cancelled, and its late signals are dropped
    by identity (only the current job's callbacks run). The slot keeps every job it started until that
    job's thread has ended, so ``shutdown`` can cancel and wait for all of them. Panels that share a
    resource share a slot (Train and the LR finder share the learner's): ``running`` and ``owner`` say
    who holds it, and ``runningChanged`` tells every user.
    """

    runningChanged = Signal(bool)

    def __init__(self, name: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.owner = ""  # who started the current job (for messages like "the LR finder is running")
        self._current: QtJob | None = None
        self._jobs: set[QtJob] = set()
        self._busy = False  # what runningChanged last said

    @property
    def job(self) -> QtJob | None:
        """The current job (None once it has ended)."""
        return self._current

    @property
    def running(self) -> bool:
        return self._current is not None and self._current.running

    def is_current(self, job) -> bool:
        return job is not None and job is self._current

    def start(
        self,
        fn,
        *args,
        owner: str = "",
        on_progress=None,
        on_finished=None,
        on_failed=None,
        on_cancelled=None,
        on_ended=None,
        **kwargs,
    ) -> QtJob:
        """Run ``fn(*args, stop=..., **kwargs)``; the callbacks run on the GUI thread while it is current."""
        self.cancel()
        job = QtJob(fn, *args, **kwargs)
        self._current, self.owner = job, owner
        self._jobs.add(job)
        for signal, callback in (
            (job.progress, on_progress),
            (job.finished, on_finished),
            (job.failed, on_failed),
            (job.cancelled, on_cancelled),
        ):
            if callback is not None:
                signal.connect(lambda *a, j=job, cb=callback: cb(*a) if j is self._current else None)
        job.ended.connect(lambda kind, j=job, cb=on_ended: self._ended(j, kind, cb))
        job.start()
        self._set_busy(True)
        return job

    def cancel(self) -> None:
        """Ask the current job to stop (its ``on_cancelled`` and ``on_ended`` still arrive)."""
        if self._current is not None:
            self._current.cancel()

    def drop(self) -> None:
        """Cancel the current job and drop everything it still sends, its end included, as ``start``
        does for the job it supersedes (clearing a list must not let its late rows back in)."""
        job, self._current = self._current, None
        if job is None:
            return
        job.cancel()  # the slot keeps it in _jobs until its thread ends, for shutdown
        self._set_busy(False)

    def shutdown(self, timeout: float = 10) -> None:
        """Cancel every job this slot started and wait for their threads (closing, tests)."""
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            job.wait(timeout)

    def _ended(self, job: QtJob, kind: str, callback) -> None:
        self._jobs.discard(job)
        if job is not self._current:
            return  # superseded: its end means nothing to the slot's users
        self._current = None
        if callback is not None:
            callback(kind)  # may start the next job: then the slot stays busy
        self._set_busy(self.running)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.runningChanged.emit(busy)
