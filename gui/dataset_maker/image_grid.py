"""The images of one class: thumbnails marked train or valid, a drop target for files and pictures,
and Add files / Paste / Remove."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.images import array_from_qimage

THUMB = 96
PATH_ROLE = Qt.UserRole


def sources_from_mime(md) -> tuple[list, str]:
    """(files and pictures to add, why nothing could be taken) from dropped or pasted data.

    Local files come as paths, pictures (from a browser or an image editor) as RGB arrays; web
    addresses can't be fetched (Fovea works offline), so they are refused with a reason.
    """
    if md is None:
        return [], "Nothing to add."
    urls = md.urls() if md.hasUrls() else []
    files = [u.toLocalFile() for u in urls if u.isLocalFile()]
    if files:
        return files, ""
    if md.hasImage():
        image = md.imageData()
        if image is not None and not image.isNull():
            return [array_from_qimage(image)], ""
    if urls:
        return [], "Images from the web can't be fetched here: save them to a file first, then drop the file."
    return [], "No image to add: drop or paste image files, or a picture copied from another program."


class ImageList(QListWidget):
    """Thumbnail grid that takes drops of image files and pictures."""

    dropped = Signal(list)  # paths and arrays
    dropRefused = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 16, THUMB + 24))
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setDragEnabled(False)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)  # drags arrive at the viewport, under the mouse
        self.setDropIndicatorShown(False)

    def dragEnterEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasUrls() or md.hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        sources, why = sources_from_mime(event.mimeData())
        event.acceptProposedAction()
        if sources:
            self.dropped.emit(sources)
        else:
            self.dropRefused.emit(why)


class ImageGrid(QWidget):
    filesAdded = Signal(list)  # paths and arrays to add to the selected class
    addFilesRequested = Signal()
    pasteRequested = Signal()
    removeRequested = Signal(list)  # paths
    refused = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.list = ImageList()
        self.list.dropped.connect(self.filesAdded)
        self.list.dropRefused.connect(self.refused)
        self.list.itemSelectionChanged.connect(self._refresh_buttons)
        self._items: dict[str, QListWidgetItem] = {}
        remove = QAction("Remove", self.list)
        remove.setShortcut(QKeySequence.Delete)
        remove.setShortcutContext(Qt.WidgetShortcut)
        remove.triggered.connect(self._on_remove)
        self.list.addAction(remove)
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(Qt.transparent)

        self.add_button = QPushButton("Add files…")
        self.add_button.setToolTip("Copy image files into the selected class")
        self.add_button.clicked.connect(self.addFilesRequested)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip(f"Add the picture or image files on the clipboard ({self._paste_keys()})")
        self.paste_button.clicked.connect(self.pasteRequested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected images from this dataset (your own files stay)")
        self.remove_button.clicked.connect(self._on_remove)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.paste_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._refresh_buttons()

    @staticmethod
    def _paste_keys() -> str:
        return QKeySequence(QKeySequence.Paste).toString(QKeySequence.NativeText)

    # ------------------------------------------------------------ setters (never write the model)
    def set_images(self, images: list[tuple[Path, str]], hint: str) -> None:
        """Show (path, split) pairs; thumbnails arrive later through set_thumbnail."""
        self.list.clear()
        self._items = {}
        for path, split in images:
            item = QListWidgetItem(QIcon(self._placeholder), split)
            item.setData(PATH_ROLE, str(path))
            item.setToolTip(f"{split}: {Path(path).name}")
            item.setTextAlignment(Qt.AlignHCenter | Qt.AlignBottom)
            if split == "valid":  # told apart without a colour that a dark palette could hide
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
            self._items[str(path)] = item
        self.hint.setText(hint)
        self._refresh_buttons()

    def set_thumbnail(self, path: str, file: str | None) -> None:
        item = self._items.get(path)
        if item is not None and file:
            item.setIcon(QIcon(QPixmap(file)))

    def set_enabled_for_class(self, enabled: bool) -> None:
        """Adding needs a selected class."""
        for w in (self.add_button, self.paste_button, self.list):
            w.setEnabled(enabled)
        self._refresh_buttons()

    def paths(self) -> list[str]:
        return [self.list.item(i).data(PATH_ROLE) for i in range(self.list.count())]

    def _refresh_buttons(self) -> None:
        self.remove_button.setEnabled(self.list.isEnabled() and bool(self.list.selectedItems()))

    # ------------------------------------------------------------ user input -> intent signals
    def _on_remove(self) -> None:
        paths = [item.data(PATH_ROLE) for item in self.list.selectedItems()]
        if paths:
            self.removeRequested.emit(paths)
