"""The "Drop images" tab's view: add/paste/clear buttons, the streaming list of cards, the large view."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui import dialogs
from gui.classify.display import REC_ROLE, THUMB, note_style
from gui.classify.image_detail import ImageDetail
from gui.classify.prediction_list import PlaceholderList, PredictionDelegate
from gui.images import pixmap_for

HINT = (
    "Try it: drop photos, a folder, or an image dragged from your browser anywhere on this window — "
    "or paste one with Ctrl+V.\n\nPredictions appear here as they finish."
)
IMAGE_FILES = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


class DropPage(QWidget):
    """Shows the prediction records it is given; emits what the user asks for."""

    sourcesChosen = Signal(list)  # files or a folder picked in a dialog
    pasteRequested = Signal()
    clearRequested = Signal()
    rowSelected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = PlaceholderList(HINT)
        self.results.setItemDelegate(PredictionDelegate(self.results))
        self.results.setUniformItemSizes(True)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.results.currentRowChanged.connect(lambda row: row >= 0 and self.rowSelected.emit(row))
        buttons = QHBoxLayout()
        for text, slot, tip in (
            ("Add images…", self._choose_files, "Choose image files to classify."),
            ("Add folder…", self._choose_folder, "Classify every image in a folder."),
            ("Paste", self.pasteRequested.emit, "Classify the image (or image link) on the clipboard (Ctrl+V)."),
            ("Clear", self.clearRequested.emit, "Empty the list of predictions."),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.drop_status = QLabel("")
        self.drop_status.setStyleSheet(note_style())
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(buttons)
        ll.addWidget(self.results, 1)
        ll.addWidget(self.drop_status)
        self.detail = ImageDetail()
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 480])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 6, 4, 4)
        lay.addWidget(split)
        paste = QShortcut(QKeySequence.Paste, self)
        paste.setContext(Qt.WidgetWithChildrenShortcut)
        paste.activated.connect(self.pasteRequested)

    # setters: show the controller's records
    def add_rows(self, records: list[dict]) -> None:
        """New cards (still waiting for their prediction); the first of them is scrolled to the top."""
        first = self.results.count()
        for rec in records:
            item = QListWidgetItem()
            item.setData(REC_ROLE, rec)
            item.setToolTip(rec["name"])
            self.results.addItem(item)
        if records:  # show the new rows, however long the list already is
            self.results.scrollToItem(self.results.item(first), QAbstractItemView.PositionAtTop)

    def set_row(self, row: int, rec: dict, thumbnail=None, tooltip: str = "") -> None:
        item = self.results.item(row)
        if thumbnail is not None:
            item.setData(Qt.DecorationRole, pixmap_for(thumbnail, THUMB))
        item.setData(REC_ROLE, rec)
        item.setToolTip(tooltip)

    def select_row(self, row: int) -> None:
        self.results.setCurrentRow(row)

    def has_selection(self) -> bool:
        return self.results.currentItem() is not None

    def clear_rows(self) -> None:
        self.results.clear()

    def set_status(self, text: str) -> None:
        self.drop_status.setText(text)

    def _choose_files(self) -> None:
        files = dialogs.open_file_names(self, "Images to classify", "images", IMAGE_FILES)
        if files:
            self.sourcesChosen.emit(files)

    def _choose_folder(self) -> None:
        folder = dialogs.existing_folder(self, "Folder of images to classify", "images")
        if folder:
            self.sourcesChosen.emit([folder])
