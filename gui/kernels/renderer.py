"""Keeps the result in step with the settings while the user drags numbers: throttled, computed right here
when it is cheap, otherwise on a worker through one JobSlot.

Results arrive in request order. While a worker computes, new edits wait and the newest settings run
when it ends (a drag never queues work). A request that makes the running job's result useless (a new
image) starts a job at once: the slot supersedes the old one and drops its late result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from engine.kernel_layers import Layer, apply_stack, render_stack
from engine.kernels import KernelError
from gui.jobs import JobSlot

# A result is computed right on the UI thread when its measured cost (per input value, per output
# mode) predicts at most this long; otherwise on a worker. See bench/kernels.py.
SYNC_BUDGET_MS = 6.0
FIRST_GUESS_NS_PER_VALUE = 2.0
MAX_COOLDOWN_MS = 50


@dataclass
class RenderRequest:
    """What to compute: the image through the layers, shown in ``mode``."""

    image: np.ndarray
    layers: list[Layer]
    mode: str
    border: str
    gray: bool

    @property
    def work(self) -> int:
        return int(self.image.size) * len(self.layers)

    def options(self) -> dict:
        return dict(layers=self.layers, mode=self.mode, border=self.border, gray=self.gray, keep_values=False)


class ResultRenderer(QObject):
    rendered = Signal(object)  # list[Stage] for the request made
    failed = Signal(str)

    def __init__(self, request: Callable[[], RenderRequest], parent: QObject | None = None):
        super().__init__(parent)
        self._request = request
        self.slot = JobSlot("kernel result", self)
        self.sync_limit: int | None = None  # tests/bench: force the UI thread (work <= limit) or a worker
        self._ns_per_value: dict[str, float] = {}  # measured cost by output mode
        # Throttle: the first edit computes at once; edits during the cooldown that follows are
        # coalesced into one trailing computation with the newest numbers.
        self._cooldown = QTimer(self, singleShot=True, interval=0)
        self._cooldown.timeout.connect(self._cooled)
        self._dirty = False  # asked for during the cooldown or a batch
        self._pending = False  # asked for while the worker ran
        self._batch = 0  # >0 while several settings change together (one computation after)
        self._closing = False

    @property
    def settled(self) -> bool:
        """No computation running or waiting: what is shown (or the error) is for the current settings."""
        return not (self._dirty or self._pending or self._batch or self.slot.running)

    def schedule(self, supersede: bool = False) -> None:
        """Ask for a result of the current settings.

        supersede: compute now, not after the running job or the cooldown; the running job's result
        must never show (it is for another image).
        """
        if supersede and not self._batch:
            self._dirty = self._pending = False
            if self.slot.running and not self._closing:
                self._start_worker(self._request())
            else:
                self._compute()
            return
        if self._batch or self._cooldown.isActive():
            self._dirty = True
            return
        self._dirty = False
        self._cooldown.start()
        self._compute()

    @contextmanager
    def changing(self):
        """Group several setting changes into one computation."""
        self._batch += 1
        try:
            yield
        finally:
            self._batch -= 1
            if not self._batch and self._dirty:
                self.schedule()

    def computes_here(self, request: RenderRequest | None = None) -> bool:
        """True when the next result is computed on the UI thread (predicted well under a frame)."""
        request = request or self._request()
        if self.sync_limit is not None:
            return request.work <= self.sync_limit
        ns = self._ns_per_value.get(request.mode, FIRST_GUESS_NS_PER_VALUE)
        return ns * request.work / 1e6 <= SYNC_BUDGET_MS

    def shutdown(self) -> None:
        self._closing = True
        self._cooldown.stop()
        self.slot.shutdown()

    # ------------------------------------------------------------ computing
    def _cooled(self) -> None:
        if self._dirty and not self._batch:
            self._dirty = False
            self._cooldown.start()
            self._compute()

    def _compute(self) -> None:
        if self._closing:
            return
        if self.slot.running:
            self._pending = True  # one job at a time; the newest settings run when it ends
            return
        self._pending = False
        request = self._request()
        if not self.computes_here(request):
            self._start_worker(request)
            return
        started = time.perf_counter()
        try:
            stages = apply_stack(request.image, **request.options())
        except KernelError as exc:
            self.failed.emit(str(exc))
            return
        seconds = time.perf_counter() - started
        self._note_cost(request.mode, seconds, request.work)
        self.rendered.emit(stages)
        # adaptive throttle: after a computation that took t ms, coalesce edits for the next t ms
        # (sample photos: ~1 ms, i.e. every edit shows; big images: at most half the time computing)
        self._cooldown.setInterval(min(MAX_COOLDOWN_MS, round(seconds * 1000)))

    def _start_worker(self, request: RenderRequest) -> None:
        mode, work = request.mode, request.work
        self.slot.start(
            render_stack,
            request.image,
            **request.options(),
            owner="kernels",
            on_progress=lambda rec: rec["done"] == rec["total"] and self._note_cost(mode, rec["seconds"], work),
            on_finished=self.rendered.emit,
            on_failed=self.failed.emit,
            on_ended=self._worker_ended,
        )

    def _worker_ended(self, _kind: str) -> None:
        if self._pending:
            self._compute()

    def _note_cost(self, mode: str, seconds: float, work: int) -> None:
        ns = seconds * 1e9 / max(1, work)
        old = self._ns_per_value.get(mode)
        self._ns_per_value[mode] = ns if old is None else 0.7 * old + 0.3 * ns
