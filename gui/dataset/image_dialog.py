"""The full view of one image with its size, mode and file details; decoded off the UI thread."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.images import image_info, load_rgb
from gui.images import qimage_from_pil
from gui.jobs import JobSlot

FIELDS = ("File", "Folder", "Class", "Split", "Size", "Mode", "Format", "Frames", "EXIF orientation", "File size")
SMALL = 256  # narrower images (Fashion-MNIST) are enlarged with crisp pixels


def load_image_job(path: str, stop=None):
    """Job: the file's details (engine.images.image_info plus its byte size) and its picture as a QImage."""
    yield {"type": "loading"}
    info = image_info(path)
    info["bytes"] = os.path.getsize(path)
    return info, qimage_from_pil(load_rgb(path))


class ImageDialog(QDialog):
    def __init__(self, path: str, cls: str, split: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(os.path.basename(path))
        self.path = path
        self.image_label = QLabel("Loading…")
        self.image_label.setAlignment(Qt.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.image_label)
        scroll.setWidgetResizable(True)
        scroll.setMinimumSize(520, 400)
        form = QFormLayout()
        self.info: dict[str, QLabel] = {}
        for key in FIELDS:
            label = QLabel("…")
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setWordWrap(True)
            self.info[key] = label
            form.addRow(key + ":", label)
        for key, text in (
            ("File", os.path.basename(path)),
            ("Folder", os.path.dirname(path)),
            ("Class", cls or "— (unlabelled)"),
            ("Split", split),
        ):
            self.info[key].setText(text)
        side = QWidget()
        side.setLayout(form)
        side.setMaximumWidth(320)
        row = QHBoxLayout()
        row.addWidget(scroll, 1)
        row.addWidget(side)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(buttons)
        self.resize(1000, 640)
        self.slot = JobSlot("full view", self)
        self.slot.start(load_image_job, path, on_finished=self._show, on_failed=self._show_failure)

    def _show(self, result) -> None:
        info, qimg = result
        self.info["Size"].setText(f"{info['width']} × {info['height']} px")
        self.info["Mode"].setText(info["mode"])
        self.info["Format"].setText(info["format"])
        self.info["Frames"].setText(str(info["frames"]) + (" (showing the first)" if info["frames"] > 1 else ""))
        self.info["EXIF orientation"].setText(
            "normal" if info["orientation"] == 1 else f"{info['orientation']} (shown upright)"
        )
        self.info["File size"].setText(f"{info['bytes'] / 1024:.1f} KiB")
        pm = QPixmap.fromImage(qimg)
        if pm.width() < SMALL:
            factor = max(1, SMALL // max(1, pm.width()))
            pm = pm.scaled(pm.width() * factor, pm.height() * factor, Qt.KeepAspectRatio, Qt.FastTransformation)
        self.image_label.setPixmap(pm)

    def _show_failure(self, message: str) -> None:
        self.image_label.setText(f"Cannot show this image:\n{message}")

    def done(self, r) -> None:
        self.slot.shutdown(5)
        super().done(r)
