"""The Data tab's controller: owns the shown dataset, the grid's rows and what verification found;
runs the thumbnail and verification jobs in their slots and reports to AppState's status."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.data import Problem, verify_dataset
from engine.jobs import check
from engine.thumbnails import THUMB_SIZE, ThumbnailRequests, thumbnail_job
from gui.dataset.class_list import SPLITS
from gui.dataset.image_dialog import ImageDialog
from gui.dataset.thumbnail_model import Row, ThumbnailModel
from gui.dataset.view import DatasetView
from gui.jobs import JobSlot
from gui.state import AppState

VERIFY_DELAY_S = 0.3  # let the first screen of thumbnails decode before verification competes for the cores
THUMBNAIL_WORKERS = 2


def verify_job(dataset, delay: float = 0.0, stop=None):
    """Job: ``verify_dataset`` after ``delay`` seconds; it ends cancelled, not done, when stopped early
    (what verify_dataset returns then covers only the images checked so far)."""
    if stop is not None:
        stop.wait(delay)
    check(stop)
    bad = yield from verify_dataset(dataset, stop=stop)
    check(stop)
    return bad


def rows_for(dataset, split: str, cls: str | None) -> list[Row]:
    """The grid's (path, class, split) rows for a split (or "all") and a class (None: every class)."""
    splits = ("train", "valid", "test") if split == "all" else (split,)
    names = dataset.classes
    rows: list[Row] = []
    for s in splits:
        if s == "test":
            if cls is None:
                rows.extend((p, "", "test") for p in dataset.test)
        elif cls is None:
            rows.extend((p, names[label], s) for p, label in getattr(dataset, s))
        else:
            want = names.index(cls)
            rows.extend((p, cls, s) for p, label in getattr(dataset, s) if label == want)
    return rows


class DatasetController(QObject):
    verified = Signal(int)  # every image decoded: how many could not be
    badFilesFound = Signal(list)  # every image decoded: the paths that could not be

    def __init__(self, state: AppState, view: DatasetView, parent=None):
        super().__init__(parent)
        self.state, self.view = state, view
        self.dataset = None
        self.bad: list[Problem] = []  # images verification could not decode
        self.verify_state = "idle"  # idle | running | done
        self.cls: str | None = None
        self.split = SPLITS[view.classes.split.currentIndex()]
        self.requests = ThumbnailRequests()
        self.model = ThumbnailModel(self.requests, self)
        view.grid.setModel(self.model)
        self.thumbnails = JobSlot("thumbnails", self)
        self.verification = JobSlot("verification", self)
        self.thumbnails.start(
            thumbnail_job, self.requests, THUMB_SIZE, THUMBNAIL_WORKERS, on_progress=self.model.thumbnail_ready
        )
        # model changes -> view callbacks
        state.datasetChanged.connect(self._on_model_dataset_changed)
        # view changes -> controller callbacks
        view.filterChanged.connect(self._on_view_filter_changed)
        view.imageActivated.connect(self.open_image)
        view.problemActivated.connect(self.open_problem)

    # ------------------------------------------------------------ model -> view
    def _on_model_dataset_changed(self, dataset) -> None:
        self.dataset, self.bad = dataset, []
        if dataset is None:
            self.verification.cancel()
            self.verify_state = "idle"
            return
        self.cls = None
        self.view.show_dataset(dataset)
        self._show_rows()
        self.view.show_problems(dataset.problems, dataset, clear=True)
        self._start_verify()

    def _show_rows(self) -> None:
        self.model.set_rows(rows_for(self.dataset, self.split, self.cls))
        self.view.show_image_count(self.model.rowCount())

    def show_error(self, path: str, message: str) -> None:
        """The path could not be opened as a dataset (and none is open): say why in the Problems view."""
        self.verification.cancel()
        self.dataset, self.bad, self.verify_state = None, [], "idle"
        self.model.set_rows([])
        self.view.show_open_error(path, message)

    # ------------------------------------------------------------ view -> controller
    def _on_view_filter_changed(self, cls: str | None, split: str) -> None:
        self.cls, self.split = cls, split
        if self.dataset is not None:
            self._show_rows()

    def open_image(self, row: int) -> ImageDialog:
        return self.view.show_image(*self.model.rows[row])

    def open_problem(self, path: str, split: str) -> ImageDialog | None:
        """The full view of a problem's file (what can be read of it, and why it cannot be used)."""
        if not os.path.isfile(path):
            self.state.status(f"{path} is not a file")
            return None
        cls = Path(path).parent.name if split in ("train", "valid") else ""
        return self.view.show_image(path, cls, split)

    # ------------------------------------------------------------ verification
    def _start_verify(self) -> None:
        """Decode every image in the background (superseding the previous dataset's verification)."""
        self.verify_state = "running"
        self.view.show_verify_progress(0, len(self.dataset.all_paths()))
        self.verification.start(
            verify_job,
            self.dataset,
            VERIFY_DELAY_S,
            on_progress=self._on_verify_progress,
            on_finished=self._on_verify_finished,
            on_ended=lambda _kind: self.view.show_verify_progress(None),
        )

    def _on_verify_progress(self, rec: dict) -> None:
        self.view.show_verify_progress(rec["done"], rec["total"])
        new = rec["new_problems"]
        if new:
            self.bad.extend(new)
            self.view.show_problems(new, self.dataset)
            for p in new:
                self.model.mark_bad(p.path, p.reason)

    def _on_verify_finished(self, bad: list[Problem]) -> None:
        self.verify_state = "done"
        n, total = len(bad), len(self.dataset.problems) + len(bad)
        self.state.status(
            f"Checked every image: {n} could not be decoded; {total} problem(s) in all"
            if total
            else "Checked every image: no problems"
        )
        self.badFilesFound.emit([str(p.path) for p in bad])
        self.verified.emit(n)

    def shutdown(self) -> None:
        self.verification.shutdown(10)
        self.thumbnails.shutdown(10)
