"""File dialogs that start in a sensible folder: the one rule, in one place.

A dialog starts in the last folder the user chose for that kind of file (remembered in QSettings),
else in the user's Documents (else home) — never in the working directory, which is the source
checkout when Fovea is started from one. ``kind`` names the kind of file: "model", "predictions",
"lr_plot", "images", "dataset"…
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

KEY = "dialogs/last_folder/{}"


def default_folder() -> str:
    """The user's Documents folder if it exists, else their home folder."""
    docs = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation)
    if docs and Path(docs).is_dir():
        return docs
    return str(Path.home())


def start_folder(kind: str, settings: QSettings | None = None) -> str:
    """Where a dialog for ``kind`` opens: the last folder chosen for it, if it still exists."""
    last = (settings or QSettings()).value(KEY.format(kind), "", str)
    if last and Path(last).is_dir():
        return last
    return default_folder()


def remember_folder(kind: str, folder: str | Path, settings: QSettings | None = None) -> None:
    (settings or QSettings()).setValue(KEY.format(kind), str(folder))


def _start(kind: str, name: str, settings: QSettings | None) -> str:
    folder = start_folder(kind, settings)
    return str(Path(folder) / name) if name else folder


def save_file_name(
    parent: QWidget | None,
    caption: str,
    kind: str,
    name: str = "",
    filters: str = "",
    settings: QSettings | None = None,
) -> tuple[str, str]:
    """QFileDialog.getSaveFileName starting at ``start_folder(kind)/name``; (path or "", chosen filter)."""
    path, chosen = QFileDialog.getSaveFileName(parent, caption, _start(kind, name, settings), filters)
    if path:
        remember_folder(kind, Path(path).parent, settings)
    return path, chosen


def open_file_name(
    parent: QWidget | None, caption: str, kind: str, filters: str = "", settings: QSettings | None = None
) -> str:
    """QFileDialog.getOpenFileName starting at ``start_folder(kind)``; the path or ""."""
    path, _ = QFileDialog.getOpenFileName(parent, caption, _start(kind, "", settings), filters)
    if path:
        remember_folder(kind, Path(path).parent, settings)
    return path


def open_file_names(
    parent: QWidget | None, caption: str, kind: str, filters: str = "", settings: QSettings | None = None
) -> list[str]:
    """QFileDialog.getOpenFileNames starting at ``start_folder(kind)``; the paths (maybe none)."""
    paths, _ = QFileDialog.getOpenFileNames(parent, caption, _start(kind, "", settings), filters)
    if paths:
        remember_folder(kind, Path(paths[0]).parent, settings)
    return list(paths)


def existing_folder(parent: QWidget | None, caption: str, kind: str, settings: QSettings | None = None) -> str:
    """QFileDialog.getExistingDirectory starting at ``start_folder(kind)``; the folder or ""."""
    folder = QFileDialog.getExistingDirectory(parent, caption, _start(kind, "", settings))
    if folder:
        remember_folder(kind, folder, settings)
    return folder
