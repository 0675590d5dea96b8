"""One image, large: its top classes and, on request, Grad-CAM ("why this class?").

``ImageDetail`` is the view (it shows what it is given and asks for a new picture when the
Grad-CAM box or its class changes); ``Explainer`` is its controller, running the picture jobs.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from gui import theme
from gui.classify.display import bold, note_style, percent
from gui.images import qimage_from_array
from gui.jobs import JobSlot

PROMPT = "Select an image to see it here."
DISPLAY_SIDE = 640  # the longest side of the picture the job prepares


class ImageDetail(QWidget):
    """The view: title, picture, the Grad-CAM box with its class, and a line explaining the picture."""

    explainRequested = Signal()  # the Grad-CAM box or its class changed: the picture must be made again

    def __init__(self, parent=None):
        super().__init__(parent)
        self._result: dict | None = None  # the picture on show (the job's result)
        self.title = bold(QLabel(PROMPT))
        self.title.setWordWrap(True)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignCenter)
        self.image.setMinimumSize(200, 110)
        self.image.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self.image.setStyleSheet(
            f"background: {theme.css(theme.pane())}; border: 1px solid {theme.css(theme.blend(theme.pane(), theme.text(), 0.15))}; "
            "border-radius: 4px;"
        )
        self.cam = QCheckBox("Why this class? Show Grad-CAM")
        self.cam.setToolTip(
            "Grad-CAM colours the regions whose features pushed the model's score for the "
            "chosen class up the most (last convolutional layer)."
        )
        self.cam_class = QComboBox()
        self.cam_class.setToolTip("Explain this class (the image's most likely classes)")
        self.cam_class.setMinimumWidth(120)
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet(note_style())
        row = QHBoxLayout()
        row.addWidget(self.cam)
        row.addStretch(1)
        row2 = QHBoxLayout()
        row2.addSpacing(22)
        row2.addWidget(QLabel("for the class"))
        row2.addWidget(self.cam_class, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.title)
        lay.addWidget(self.image, 1)
        lay.addLayout(row)
        lay.addLayout(row2)
        lay.addWidget(self.explain)
        self.cam.toggled.connect(self.explainRequested)
        self.cam_class.currentIndexChanged.connect(lambda _: self.cam.isChecked() and self.explainRequested.emit())
        self._set_enabled(False)

    def explain_choice(self) -> tuple[bool, int | None]:
        """(Grad-CAM on, the class index to explain or None for the top class)."""
        cam = self.cam.isChecked()
        return cam, self.cam_class.currentData() if cam else None

    def clear(self, text: str = PROMPT) -> None:
        self._result = None
        self.title.setText(text)
        self.image.clear()
        self.explain.clear()
        self.cam_class.clear()
        self._set_enabled(False)

    def show_item(self, classes: list[str], title: str, top: list, truth: str | None = None) -> None:
        """Title and Grad-CAM class choices for an image; top = [[class, p], ...] (the picture follows)."""
        text = title
        if top:
            text += f" — predicted {top[0][0]} ({percent(top[0][1])})"
        if truth is not None:
            text += f", true class {truth}"
        self.title.setText(text)
        self.cam_class.blockSignals(True)
        self.cam_class.clear()
        for cls, p in top[:5]:
            self.cam_class.addItem(f"{cls} ({percent(p)})", classes.index(cls) if cls in classes else None)
        if truth is not None and truth in classes and truth not in [c for c, _ in top[:5]]:
            self.cam_class.addItem(f"{truth} (true class)", classes.index(truth))
        self.cam_class.blockSignals(False)
        self._set_enabled(True)

    def show_computing(self, cam: bool) -> None:
        self.explain.setText("Computing Grad-CAM…" if cam else "")

    def show_picture(self, result: dict) -> None:
        """The explain job's result: the image, or its Grad-CAM overlay with what it means."""
        self._result = result
        self._paint()
        if result["overlay"] is None:
            self.explain.setText("")
            return
        self.explain.setText(
            f"Warm colours (yellow/red) mark where the model found the evidence for “{result['class_name']}” "
            f"(P = {percent(result['prob'])}). The model sees only the centre square; the dimmed edges "
            f"were cropped away before it looked."
        )

    def show_error(self, message: str) -> None:
        self.explain.setText(f"Cannot show this image: {message}")

    def shown_array(self) -> np.ndarray | None:
        """What is on screen now (the overlay when Grad-CAM is on)."""
        if not self._result:
            return None
        return self._result["overlay"] if self._result["overlay"] is not None else self._result["image"]

    def showing_overlay(self) -> bool:
        return bool(self._result) and self._result["overlay"] is not None

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._paint()

    def _set_enabled(self, on: bool) -> None:
        self.cam.setEnabled(on)
        self.cam_class.setEnabled(on)

    def _paint(self) -> None:
        arr = self.shown_array()
        if arr is None:
            return
        size = self.image.size()
        pm = QPixmap.fromImage(qimage_from_array(arr))
        small = max(pm.width(), pm.height()) * 2 <= min(size.width(), size.height())
        mode = Qt.FastTransformation if small else Qt.SmoothTransformation
        self.image.setPixmap(pm.scaled(size.width() - 4, size.height() - 4, Qt.KeepAspectRatio, mode))


class Explainer(QObject):
    """Controller of one ImageDetail: which image of which model it shows, and the job making its picture."""

    def __init__(self, view: ImageDetail, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.slot = JobSlot("grad-cam", self)
        self._model = None
        self._item = None  # path, URL or array
        view.explainRequested.connect(self._on_view_explain_requested)

    def show(self, model, item, title: str, top: list, truth: str | None = None) -> None:
        """Show ``item`` (path/URL/array) as predicted by ``model``; top = [[class, p], ...]."""
        self._model, self._item = model, item
        self.view.show_item(model.meta.classes, title, top, truth)
        self._start()

    def clear(self, text: str = PROMPT) -> None:
        self.slot.drop()
        self._model = self._item = None
        self.view.clear(text)

    def shutdown(self) -> None:
        self.slot.shutdown()

    # view changes -> controller callbacks
    def _on_view_explain_requested(self) -> None:
        if self._item is not None:
            self._start()

    def _start(self) -> None:
        from engine.inference import explain_job

        cam, cls = self.view.explain_choice()
        self.view.show_computing(cam)
        self.slot.start(
            explain_job,
            self._model,
            self._item,
            cls,
            cam,
            DISPLAY_SIDE,
            on_finished=self.view.show_picture,
            on_failed=self.view.show_error,
        )
