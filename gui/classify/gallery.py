"""The Evaluate tab's gallery: which images (most correct / incorrect / uncertain, a matrix cell, top
losses) of which class, as thumbnails with their prediction."""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QBrush, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.classify.display import GALLERY_ICON, REC_ROLE
from gui.images import pixmap_for

MODES = (
    ("Most correct", "correct"),
    ("Most incorrect", "incorrect"),
    ("Most uncertain", "uncertain"),
    ("Confusion-matrix cell", "cell"),
    ("Highest loss (all classes)", "losses"),
)


class Gallery(QWidget):
    """Shows the images it is given; emits the user's choice of images and of one image."""

    choiceChanged = Signal()  # the user picked another mode or class
    imageChosen = Signal(int)  # the evaluation's index of the image the user picked

    def __init__(self, parent=None):
        super().__init__(parent)
        self.gallery_mode = QComboBox()
        for label, key in MODES:
            self.gallery_mode.addItem(label, key)
        self.gallery_class = QComboBox()
        self.gallery_mode.currentIndexChanged.connect(lambda _: self.choiceChanged.emit())
        self.gallery_class.currentIndexChanged.connect(lambda _: self.choiceChanged.emit())
        self.gallery_title = QLabel("")
        self.gallery_title.setWordWrap(True)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.IconMode)
        self.gallery.setIconSize(QSize(GALLERY_ICON, GALLERY_ICON))
        self.gallery.setGridSize(QSize(132, 150))
        self.gallery.setResizeMode(QListView.Adjust)
        self.gallery.setMovement(QListView.Static)
        self.gallery.setWordWrap(True)
        blank = QPixmap(GALLERY_ICON, GALLERY_ICON)
        blank.fill(theme.pane())
        self.blank_icon = QIcon(blank)  # same size as the thumbnails: the layout never jumps
        self.gallery.currentItemChanged.connect(lambda item, _prev: item is not None and self._chosen(item))
        row = QHBoxLayout()
        row.addWidget(QLabel("Show"))
        row.addWidget(self.gallery_mode)
        row.addWidget(QLabel("of class"))
        row.addWidget(self.gallery_class)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.gallery_title)
        lay.addWidget(self.gallery, 1)

    def choice(self) -> tuple[str, int]:
        """(mode key, class index)."""
        return self.gallery_mode.currentData(), max(0, self.gallery_class.currentIndex())

    def shown_indices(self) -> list[int]:
        return [self.gallery.item(i).data(REC_ROLE) for i in range(self.gallery.count())]

    # setters: must not emit choiceChanged (they show a choice the controller made)
    def set_classes(self, classes: list[str]) -> None:
        self.gallery_class.blockSignals(True)
        self.gallery_class.clear()
        self.gallery_class.addItems(classes)
        self.gallery_class.blockSignals(False)

    def set_choice(self, mode: str, class_index: int | None = None) -> None:
        for combo, value in ((self.gallery_mode, self.gallery_mode.findData(mode)), (self.gallery_class, class_index)):
            if value is not None:
                combo.blockSignals(True)
                combo.setCurrentIndex(value)
                combo.blockSignals(False)

    def set_class_enabled(self, enabled: bool) -> None:
        self.gallery_class.setEnabled(enabled)

    def show_images(self, title: str, cards: list[tuple[int, str, str, bool]]) -> None:
        """cards: (evaluation index, text, tooltip, wrong) per image; thumbnails come later."""
        self.gallery.clear()
        self.gallery_title.setText(title)
        for k, text, tooltip, wrong in cards:
            item = QListWidgetItem(self.blank_icon, text)
            item.setData(REC_ROLE, k)
            item.setToolTip(tooltip)
            if wrong:
                item.setForeground(QBrush(theme.error_text()))
            self.gallery.addItem(item)
        self.gallery.scrollToTop()

    def set_thumbnail(self, row: int, thumbnail) -> None:
        item = self.gallery.item(row)
        if item is not None and thumbnail is not None:
            item.setIcon(QIcon(pixmap_for(thumbnail, GALLERY_ICON)))

    def clear(self) -> None:
        self.gallery.clear()
        self.gallery_title.setText("")

    def _chosen(self, item: QListWidgetItem) -> None:
        self.imageChosen.emit(item.data(REC_ROLE))
