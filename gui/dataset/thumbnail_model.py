"""The thumbnail grid's item model: (path, class, split) rows whose pictures are asked for lazily,
when the view first shows them, and arrive from the thumbnail job."""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap

from engine.thumbnails import THUMB_SIZE, ThumbnailRequests
from gui import theme

PIXMAP_CACHE = 3000  # decoded thumbnails kept; past that the cache starts again from what is on screen

Row = tuple[str, str, str]  # path, class name ("" for test images), split


def placeholder(text: str, ink: QColor) -> QPixmap:
    """A thumbnail-sized square in the theme's pane colour with ``text`` in ``ink``."""
    pm = QPixmap(THUMB_SIZE, THUMB_SIZE)
    pm.fill(theme.pane())
    p = QPainter(pm)
    p.setPen(ink)
    f = QFont()
    f.setPointSize(22 if len(text) <= 2 else 10)
    p.setFont(f)
    p.drawText(pm.rect(), Qt.AlignCenter, text)
    p.end()
    return pm


class ThumbnailModel(QAbstractListModel):
    PathRole = Qt.UserRole + 1

    def __init__(self, requests: ThumbnailRequests, parent=None):
        super().__init__(parent)
        self.requests = requests
        self.rows: list[Row] = []
        self._row_of: dict[str, int] = {}
        self._pixmaps: dict[str, QPixmap] = {}
        self._errors: dict[str, str] = {}
        self._asked: set[str] = set()
        self._loading = placeholder("…", theme.muted_text())
        self._broken = placeholder("✕", theme.error_text())

    def set_rows(self, rows: list[Row]) -> None:
        self.beginResetModel()
        self.rows = rows
        self._row_of = {r[0]: i for i, r in enumerate(rows)}
        self.requests.clear()
        self._asked.clear()
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's idiom; never mutated)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        path, cls, split = self.rows[index.row()]
        if role == Qt.DisplayRole:
            return os.path.basename(path)
        if role == Qt.DecorationRole:
            return self._picture(path)
        if role == Qt.ToolTipRole:
            err = self._errors.get(path)
            tip = f"{path}\nclass: {cls or '—'} · split: {split}"
            return tip + (f"\nproblem: {err}" if err else "")
        if role == self.PathRole:
            return path
        return None

    def _picture(self, path: str) -> QPixmap:
        """The thumbnail, or a placeholder while it is on its way (asked for once) or when it is broken."""
        pm = self._pixmaps.get(path)
        if pm is not None:
            return pm
        if path in self._errors:
            return self._broken
        if path not in self._asked:
            self._asked.add(path)
            self.requests.request([path])
        return self._loading

    def thumbnail_ready(self, record: dict) -> None:
        """A record of the thumbnail job: {'path', 'file' (cached JPEG or None), 'error'}."""
        path = record["path"]
        if record["file"]:
            pm = QPixmap(record["file"])
            if pm.isNull():
                self._errors[path] = "thumbnail could not be read"
            else:
                if len(self._pixmaps) > PIXMAP_CACHE:
                    self._pixmaps.clear()
                    self._asked = {p for p in self._asked if p in self._errors}
                self._pixmaps[path] = pm
        else:
            self._errors[path] = record["error"]
        self._changed(path)

    def mark_bad(self, path: str, reason: str) -> None:
        self._errors[path] = reason
        self._pixmaps.pop(path, None)
        self._changed(path)

    def _changed(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.DecorationRole, Qt.ToolTipRole])

    def loaded_count(self) -> int:
        return len(self._pixmaps)
