"""Controller of the "Drop images" tab: a queue of drops, one prediction job at a time, rows streaming in."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QGuiApplication, QImage, QPixmap

from gui.classify.display import THUMB, percent, short_model_name
from gui.classify.drop_page import DropPage
from gui.classify.image_detail import Explainer
from gui.classify.model_choice import ModelChoice
from gui.images import array_from_qimage
from gui.jobs import JobSlot
from gui.state import AppState


def sources_from_mime(md) -> list:
    """What a drop or the clipboard holds, as things to classify: file paths, URLs or an image array."""
    out: list = [url.toLocalFile() if url.isLocalFile() else url.toString() for url in md.urls()]
    if not out and md.hasImage():
        img = md.imageData()
        if isinstance(img, QPixmap):
            img = img.toImage()
        if isinstance(img, QImage) and not img.isNull():
            out.append(array_from_qimage(img))
    if not out and md.hasText():
        text = md.text().strip()
        if text.startswith(("http://", "https://", "file://", "data:image")):
            out.append(text)
    return out


def as_items(sources) -> list:
    """Paths, URLs and arrays as the engine takes them (Qt images become arrays)."""
    if isinstance(sources, (str, QImage, QPixmap, np.ndarray)):
        sources = [sources]
    items = []
    for s in sources:
        if isinstance(s, QPixmap):
            s = s.toImage()
        items.append(array_from_qimage(s) if isinstance(s, QImage) else s)
    return items


@dataclass
class DropRow:
    rec: dict  # the engine's result record (or a 'waiting…' stand-in), what the card shows
    item: object  # what the large view loads: path, URL (its downloaded copy once known) or array
    model: object  # the model that predicted it


class DropController(QObject):
    def __init__(self, state: AppState, view: DropPage, models: ModelChoice, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.view = view
        self.models = models
        self.explainer = Explainer(view.detail, self)
        self.slot = JobSlot("predict drops", self)
        self.rows: list[DropRow] = []
        self.last_first_result_ms: float | None = None  # drop → first row with a prediction
        self._queue: list[tuple[list, float]] = []  # (items, time of the drop)
        self._base = 0  # row of the running job's first image
        self._started = 0.0
        self._first_ms: float | None = None
        self._closed = False
        view.sourcesChosen.connect(self.classify)
        view.pasteRequested.connect(self.paste)
        view.clearRequested.connect(self.clear)
        view.rowSelected.connect(self._on_view_row_selected)
        state.imagesDropped.connect(self.classify)
        models.imagenetFailed.connect(lambda _message: self._queue.clear())

    @property
    def predicting(self) -> bool:
        return self.slot.running or bool(self._queue) or self.models.loading

    def classify(self, sources) -> None:
        """Predict files, folders, URLs, QImages or arrays; rows stream into the list."""
        items = as_items(sources)
        if items:
            self._queue.append((items, time.perf_counter()))
            self._pump()

    def paste(self) -> bool:
        """Classify what the clipboard holds; False (and a note) when it holds no image."""
        md = QGuiApplication.clipboard().mimeData()
        sources = sources_from_mime(md) if md is not None else []
        if not sources:
            self.view.set_status("The clipboard holds no image, image file or image link.")
            return False
        self.classify(sources)
        return True

    def clear(self) -> None:
        self.slot.drop()  # its late rows must not come back
        self._queue.clear()
        self.view.clear_rows()
        self.rows = []
        self.explainer.clear()
        self.view.set_status("")

    def shutdown(self) -> None:
        self._closed = True
        self._queue.clear()
        self.slot.shutdown()
        self.explainer.shutdown()

    def _pump(self) -> None:
        if not self._closed and not self.slot.running and self._queue:
            self.models.with_model(self._start)

    def _start(self, model) -> None:
        if self.slot.running or not self._queue or self._closed:
            return
        from engine.inference import predict_sources

        items, self._started = self._queue.pop(0)
        self._first_ms = None
        self.slot.start(
            predict_sources,
            model,
            items,
            top=5,
            thumbnail=THUMB * 2,
            bs=16,
            on_progress=lambda rec, m=model: self._on_job_progress(rec, m),
            on_finished=self._on_job_finished,
            on_failed=lambda message: self.view.set_status(f"Prediction failed: {message}"),
            on_ended=self._on_job_ended,
        )
        self.view.set_status("Classifying…")

    # job changes -> model, then view
    def _on_job_progress(self, rec: dict, model) -> None:
        if rec["type"] == "sources":
            self._base = len(self.rows)
            tag = short_model_name(model)
            new = [
                DropRow({"name": name, "waiting": "waiting…", "model": tag}, item, model)
                for name, item in zip(rec["names"], rec["items"], strict=False)
            ]
            self.rows += new
            self.view.add_rows([row.rec for row in new])
            if not new:
                self.view.set_status("No image files found in what was dropped.")
            return
        for result in rec["results"]:
            self._show_result(result, model)
        self.view.set_status(f"{rec['done']} of {rec['total']} done…")

    def _show_result(self, r: dict, model) -> None:
        index = self._base + r["index"]
        if index >= len(self.rows):
            return
        row = self.rows[index]
        thumbnail = r.pop("thumbnail", None)
        r["model"] = short_model_name(model)
        r["ms_text"] = "" if r["error"] else f"{r['ms']:.0f} ms · {r['model']}"
        if r.get("path") and not isinstance(row.item, np.ndarray):
            row.item = r["path"]  # a downloaded URL: reuse the local copy
        row.rec = r
        tooltip = f"{r['source']}\n" + (r["error"] or "\n".join(f"{c}: {percent(p)}" for c, p in r["top"]))
        self.view.set_row(index, r, thumbnail, tooltip)
        if self._first_ms is None and not r["error"]:
            self._first_ms = (time.perf_counter() - self._started) * 1000
            self.last_first_result_ms = self._first_ms
        if not self.view.has_selection() and not r["error"]:
            self.view.select_row(index)

    def _on_job_finished(self, pred) -> None:
        n_ok = len(pred.sources) - len(pred.errors)
        parts = [f"Classified {n_ok} image{'s' if n_ok != 1 else ''} in {pred.seconds:.2f} s"]
        if self._first_ms is not None:
            parts.append(f"first result {self._first_ms:.0f} ms after the drop")
        if pred.errors:
            parts.append(f"{len(pred.errors)} could not be read (shown in red)")
        self.view.set_status(" · ".join(parts))

    def _on_job_ended(self, kind: str) -> None:
        if kind == "cancelled":
            self.view.set_status("Stopped.")
        self._pump()

    # view changes -> controller callbacks
    def _on_view_row_selected(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return  # the list is being cleared
        row = self.rows[index]
        rec = row.rec
        if rec.get("error") or not rec.get("top"):
            self.explainer.clear(f"{rec.get('name', '')}: {rec.get('error') or 'waiting…'}")
            return
        self.explainer.show(row.model, row.item, rec["name"], rec["top"])
