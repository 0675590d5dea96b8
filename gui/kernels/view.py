"""The Kernels tab's view: the control boxes on the left, the pictures and the tabs below them on the right.

It only shows what the controller gives it and says what the user asks for. Images arrive by
drop or paste as ``fileGiven(path)`` or ``imageGiven(array, name)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.config import ARCHITECTURES, DEFAULT_ARCH
from engine.images import IMAGE_EXTENSIONS, is_image_name
from gui.images import array_from_qimage
from gui.kernels.activations_tab import ActivationsTab
from gui.kernels.filters_tab import FiltersTab
from gui.kernels.image_controls import ImageControls
from gui.kernels.inspector import Inspector
from gui.kernels.kernel_controls import KernelControls
from gui.kernels.layer_controls import LayerControls
from gui.kernels.output_controls import OutputControls
from gui.kernels.pictures import Pictures
from gui.kernels.widget_tools import scrolled

INSPECTOR_TAB, FILTERS_TAB, ACTIVATIONS_TAB = range(3)


def dropped_path(md: QMimeData) -> str | None:
    """The first local image file (or extension-less file) among the mime data's URLs."""
    for url in md.urls() if md.hasUrls() else []:
        if url.isLocalFile():
            p = Path(url.toLocalFile())
            if p.is_file() and (is_image_name(p.name) or p.suffix == ""):
                return str(p)
    return None


class KernelView(QWidget):
    fileGiven = Signal(str)  # open this image file (dropped, pasted as a path, or chosen)
    imageGiven = Signal(object, str)  # use these pixels (H×W×3 uint8) under this name
    clipboardEmpty = Signal()
    archChanged = Signal(str)
    tabChanged = Signal(int)
    undoRequested = Signal()  # Ctrl+Z anywhere in the tab (a number being typed undoes its own text first)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.image_controls = ImageControls()
        self.kernel_controls = KernelControls()
        self.output_controls = OutputControls()
        self.layer_controls = LayerControls()
        self.pictures = Pictures()
        self.inspector = Inspector()
        self.filters_tab = FiltersTab()
        self.activations_tab = ActivationsTab()
        self.image_controls.openRequested.connect(self.choose_file)
        self.image_controls.pasteRequested.connect(self.paste)
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.pictures)
        right.addWidget(self._build_tabs())
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)
        right.setSizes([440, 320])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self._build_side())
        layout.addWidget(right, 1)
        paste = QShortcut(QKeySequence.Paste, self)
        paste.setContext(Qt.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste)
        undo = QShortcut(QKeySequence.Undo, self)
        undo.setContext(Qt.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undoRequested)

    def _build_side(self) -> QWidget:
        side = QWidget()
        v = QVBoxLayout(side)
        v.setContentsMargins(0, 0, 6, 0)
        for box in (self.image_controls, self.kernel_controls, self.output_controls, self.layer_controls):
            v.addWidget(box)
        v.addStretch(1)
        scroll = scrolled(side, horizontal=False)
        scroll.setFixedWidth(372)
        return scroll

    def _build_tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.inspector.scroll_area, "Pixel inspector")
        self.tabs.addTab(self.filters_tab, "Network filters")
        self.tabs.addTab(self.activations_tab, "Activations by depth")
        self.arch_combo = QComboBox()
        self.arch_combo.addItems(list(ARCHITECTURES))
        self.arch_combo.setCurrentText(DEFAULT_ARCH)
        self.arch_combo.setToolTip("The pretrained network whose filters and activations are shown")
        self.arch_combo.currentTextChanged.connect(self.archChanged)
        corner = QWidget()
        cl = QHBoxLayout(corner)
        cl.setContentsMargins(0, 0, 4, 0)
        cl.addWidget(QLabel("Network:"))
        cl.addWidget(self.arch_combo)
        self.tabs.setCornerWidget(corner, Qt.TopRightCorner)
        self.tabs.currentChanged.connect(self.tabChanged)
        return self.tabs

    # ------------------------------------------------------------ asking the user
    def choose_file(self) -> None:
        pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", str(Path.home()), f"Images ({pattern})")
        if path:
            self.fileGiven.emit(path)

    def ask_save_path(self, start: str) -> str:
        """The file the user picks to save the result in ('' if cancelled)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save result", start, "PNG image (*.png);;JPEG (*.jpg);;All (*)")
        return path

    def paste(self) -> None:
        """The clipboard's image, or an image file path/URL on it."""
        board = QGuiApplication.clipboard()
        md = board.mimeData()
        if md is not None and md.hasImage() and self._give_image(board.image(), "pasted image"):
            return
        urls = md.urls() if md is not None and md.hasUrls() else []
        path = next((url.toLocalFile() for url in urls if url.isLocalFile()), None)
        text = board.text().strip()
        if path is None and text and Path(text).is_file():
            path = text
        if path:
            self.fileGiven.emit(path)
        else:
            self.clipboardEmpty.emit()

    def _give_image(self, image, name: str) -> bool:
        if not isinstance(image, QImage) or image.isNull():
            return False
        self.imageGiven.emit(array_from_qimage(image), name)
        return True

    # drag and drop anywhere on the tab: image files or raw image data
    def dragEnterEvent(self, event) -> None:
        if dropped_path(event.mimeData()) or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        md = event.mimeData()
        path = dropped_path(md)
        if path:
            self.fileGiven.emit(path)
            event.acceptProposedAction()
        elif md.hasImage() and self._give_image(md.imageData(), "dropped image"):
            event.acceptProposedAction()

    # ------------------------------------------------------------ shown state
    def current_tab(self) -> int:
        return self.tabs.currentIndex()

    def arch(self) -> str:
        return self.arch_combo.currentText()

    def show_image(self, image: np.ndarray, info: str) -> None:
        self.pictures.show_original(image)
        self.image_controls.set_info(info)
