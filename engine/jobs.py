"""Run engine generators on background threads.

A job function is a generator ``fn(*args, stop=threading.Event, **kwargs)`` that
yields small plain-data progress records and ``return``s its result. ``Job`` runs
it on a daemon thread and hands every event to one callback (on the worker
thread): the GUI adapts that callback to a queued Qt signal, the CLI prints.
Cancel sets the stop flag; the generator sees it at its next check/yield and its
``finally`` runs on the worker thread.
"""

from __future__ import annotations

import os
import threading
import traceback
import weakref
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

PROGRESS, DONE, ERROR, CANCELLED = "progress", "done", "error", "cancelled"

_live: weakref.WeakSet[Job] = weakref.WeakSet()
_live_lock = threading.Lock()


class Cancelled(Exception):
    """Raised inside a job (by ``check``) when its stop flag is set."""


def check(stop: threading.Event | None) -> None:
    """Raise ``Cancelled`` if the stop flag is set; call between batches."""
    if stop is not None and stop.is_set():
        raise Cancelled()


@dataclass
class JobEvent:
    kind: str  # progress | done | error | cancelled
    data: Any = None  # progress record, result, or error message
    job: Job | None = field(default=None, repr=False)


def run_to_end(gen: Generator, on_progress: Callable[[Any], None] | None = None) -> Any:
    """Drive a job generator synchronously (CLI, tests) and return its result."""
    while True:
        try:
            record = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(record)


class Job:
    """One generator function running on its own thread."""

    def __init__(self, fn: Callable[..., Iterator], *args, name: str = "", **kwargs):
        self.name = name or getattr(fn, "__name__", "job")
        self.stop = threading.Event()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._thread: threading.Thread | None = None
        self.state = "new"  # new | running | done | error | cancelled
        self.result: Any = None
        self.error: str | None = None
        self.traceback: str | None = None
        self._callback: Callable[[JobEvent], None] | None = None
        # Linux nice value for the job's thread, and the threads it starts (decoders, torch's intra-op
        # pool inherit it): a window sets it above 0 so that its own threads — the UI thread and Qt's
        # raster helpers that paint plots — get a core first when training keeps every core busy.
        self.niceness = 0

    def start(self, callback: Callable[[JobEvent], None] | None = None) -> Job:
        self._callback = callback
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name=f"fovea-{self.name}", daemon=True)
        with _live_lock:
            _live.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _emit(self, kind: str, data: Any = None) -> None:
        if self._callback is not None:
            try:
                self._callback(JobEvent(kind, data, self))
            except Exception:  # a broken listener must not kill the job thread
                traceback.print_exc()

    def _run(self) -> None:
        _lower_priority(self.niceness)
        try:
            gen = self._fn(*self._args, stop=self.stop, **self._kwargs)
            while True:
                try:
                    record = next(gen)
                except StopIteration as end:
                    self.result = end.value
                    break
                self._emit(PROGRESS, record)
                if self.stop.is_set():
                    gen.close()  # runs the generator's finally on this thread
                    raise Cancelled()
        except Cancelled:
            self.state = CANCELLED
            self._emit(CANCELLED)
        except BaseException as exc:  # errors are delivered as data
            self.state = ERROR
            self.error = describe_error(exc)
            self.traceback = traceback.format_exc()
            self._emit(ERROR, self.error)
        else:
            self.state = DONE
            self._emit(DONE, self.result)
        finally:
            with _live_lock:
                _live.discard(self)


def _lower_priority(niceness: int) -> None:
    """Raise this thread's nice value (Linux: per thread; raising it needs no privilege)."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError:
        pass  # not permitted here: the job just runs at the usual priority


def describe_error(exc: BaseException) -> str:
    """One clear line for the user; GPU out-of-memory gets advice."""
    text = str(exc) or exc.__class__.__name__
    if "out of memory" in text.lower():
        return "The GPU ran out of memory. Try a smaller batch size or image size."
    plain = (
        isinstance(exc, (ValueError, OSError, RuntimeError, KeyError)) or type(exc).__module__.split(".")[0] == "engine"
    )  # our own errors are written for users
    return text if plain else f"{exc.__class__.__name__}: {text}"


def live_jobs() -> list[Job]:
    """Jobs whose threads are still running (tests fail if any are left)."""
    with _live_lock:
        return [j for j in _live if j.running]
