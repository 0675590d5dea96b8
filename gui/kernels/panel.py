"""The Kernels tab: edit a kernel, see what it does to a photo, stack layers, try the network's own filters.

A thin view over engine.kernels: every pixel shown comes from apply_stack/apply_kernel,
the same functions the `kernel` CLI command uses.
"""

from __future__ import annotations

import html
import math
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeySequence, QPainter, QPalette, QPen, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGraphicsRectItem,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabBar,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.images import IMAGE_EXTENSIONS, is_image_name
from engine.kernel_layers import Layer, apply_stack, pixel_breakdown, render_stack
from engine.kernel_presets import DEFAULT_PRESET, PRESETS
from engine.kernels import BORDERS, KERNEL_SIZES, MODES, KernelError, format_number, load_image_array
from engine.kernels import save_result as write_image
from engine.models import ARCHITECTURES, DEFAULT_ARCH
from engine.network_filters import activations_by_depth, default_depths, depth_names, network_filters
from engine.paths import resources_dir
from gui.jobs import QtJob

GRID_SIZES = tuple(n for n in KERNEL_SIZES if n >= 3)
MODE_LABELS = {
    "clip": "clip: round, clamp to 0–255",
    "abs": "abs: |sum|, clamped",
    "normalise": "normalise: stretch min–max to 0–255",
}
BORDER_LABELS = {"replicate": "replicate the edge pixel", "zero": "zeros outside", "reflect": "reflect (mirror)"}
# A result is computed right on the UI thread when its measured cost (per input value, per output
# mode) predicts at most this long; otherwise on a worker. See bench/kernels.py.
SYNC_BUDGET_MS = 6.0
FIRST_GUESS_NS_PER_VALUE = 2.0
CHANNEL_NAMES = ("R", "G", "B")
POSITIVE, NEGATIVE = QColor(56, 108, 176), QColor(200, 70, 60)


def _photo(name: str) -> Path:
    return resources_dir() / "photos" / name


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """A QImage (any format, alpha composited onto white) as an H×W×3 uint8 array."""
    flat = QImage(image.size(), QImage.Format_RGB888)
    flat.fill(QColor("white"))
    painter = QPainter(flat)
    painter.drawImage(0, 0, image)
    painter.end()
    h, w = flat.height(), flat.width()
    buf = np.frombuffer(flat.constBits(), dtype=np.uint8, count=flat.sizeInBytes())
    return buf.reshape(h, flat.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def weight_colour(v: float, top: float) -> QColor:
    """White for 0, towards blue for positive and red for negative weights, stronger when larger."""
    base = POSITIVE if v > 0 else NEGATIVE
    a = 0.0 if v == 0 else 0.15 + 0.45 * min(1.0, abs(v) / top)
    return QColor(
        round(255 + (base.red() - 255) * a), round(255 + (base.green() - 255) * a), round(255 + (base.blue() - 255) * a)
    )


def rgb_to_qimage(a: np.ndarray) -> QImage:
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    fmt = QImage.Format_Grayscale8 if a.ndim == 2 else QImage.Format_RGB888
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


# ---------------------------------------------------------------- the kernel grid


class ScrubSpinBox(QDoubleSpinBox):
    """A number cell: type a value, use the wheel/arrows, or drag left/right to scrub it live."""

    PIXELS_PER_STEP = 6

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRange(-999.0, 999.0)
        self.setDecimals(4)
        self.setSingleStep(1.0)
        self.setButtonSymbols(QDoubleSpinBox.NoButtons)
        self.setAlignment(Qt.AlignCenter)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self.setToolTip("Type a number, scroll, or drag left/right (Shift: steps of 0.1)")
        self.lineEdit().setCursor(Qt.SizeHorCursor)
        self.lineEdit().installEventFilter(self)
        self._press: tuple[float, float] | None = None
        self._scrubbing = False

    def textFromValue(self, value: float) -> str:
        return format_number(value)

    def eventFilter(self, obj, event) -> bool:
        t = event.type()
        if t == QEvent.MouseButtonPress and event.button() == Qt.LeftButton:
            self._press = (event.globalPosition().x(), self.value())
            self._scrubbing = False
        elif t == QEvent.MouseMove and self._press is not None and event.buttons() & Qt.LeftButton:
            dx = event.globalPosition().x() - self._press[0]
            if not self._scrubbing and abs(dx) > 3:
                self._scrubbing = True
                self.lineEdit().deselect()
            if self._scrubbing:
                step = 0.1 if event.modifiers() & Qt.ShiftModifier else self.singleStep()
                value = self._press[1] + round(dx / self.PIXELS_PER_STEP) * step
                self.setValue(round(value / step) * step if step >= 1 else round(value, 4))
                return True
        elif t == QEvent.MouseButtonRelease and self._press is not None:
            self._press = None
            if self._scrubbing:
                self._scrubbing = False
                return True
        return super().eventFilter(obj, event)


class NumberSpinBox(QDoubleSpinBox):
    """A spin box that shows 16 rather than 16.000."""

    def textFromValue(self, value: float) -> str:
        return format_number(value)


class KernelGrid(QWidget):
    """N×N number cells; cellEdited(row, col, value) when the user changes one."""

    cellEdited = Signal(int, int, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setAlignment(Qt.AlignHCenter)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(3)
        self.cells: list[list[ScrubSpinBox]] = []
        self._values = np.zeros((3, 3))
        self.set_size(3)

    @property
    def size(self) -> int:
        return len(self.cells)

    def set_size(self, n: int) -> None:
        if n == self.size:
            return
        for row in self.cells:
            for cell in row:
                self._layout.removeWidget(cell)
                cell.hide()
                cell.deleteLater()
        self.cells = []
        for r in range(n):
            row = []
            for c in range(n):
                cell = ScrubSpinBox(self)
                cell.setFixedWidth({3: 60, 5: 52}.get(n, 44))
                cell.setObjectName(f"cell_{r}_{c}")
                cell.valueChanged.connect(lambda v, r=r, c=c: self._edited(r, c, v))
                self._layout.addWidget(cell, r, c)
                row.append(cell)
            self.cells.append(row)
        self._values = np.zeros((n, n))

    def set_values(self, k: np.ndarray) -> None:
        """Show a kernel (no cellEdited)."""
        self.set_size(k.shape[0])
        self._values = np.array(k, dtype=np.float64)
        for r, row in enumerate(self.cells):
            for c, cell in enumerate(row):
                cell.blockSignals(True)
                cell.setValue(float(k[r, c]))
                cell.blockSignals(False)
        self._tint()

    def set_step(self, step: float) -> None:
        for row in self.cells:
            for cell in row:
                cell.setSingleStep(step)

    def _edited(self, r: int, c: int, v: float) -> None:
        self._values[r, c] = v
        self._tint()
        self.cellEdited.emit(r, c, v)

    def _tint(self) -> None:
        """Blue for positive, red for negative weights, stronger for larger ones (a heat map of the kernel)."""
        top = float(np.abs(self._values).max()) or 1.0
        for r, row in enumerate(self.cells):
            for c, cell in enumerate(row):
                col = weight_colour(self._values[r, c], top)
                pal = cell.palette()
                if pal.color(QPalette.Base) != col:
                    pal.setColor(QPalette.Base, col)
                    pal.setColor(QPalette.Text, QColor("black"))
                    cell.setPalette(pal)


# ---------------------------------------------------------------- tiles (filters, activations)


class FilterGrid(QWidget):
    """The network's first-layer filters as clickable colour tiles."""

    filterClicked = Signal(int)
    TILE = 46
    GAP = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self._images: list[QImage] = []
        self.selected = -1
        self._hover = -1
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_tiles(self, tiles: np.ndarray) -> None:
        self._images = [rgb_to_qimage(t) for t in tiles]
        self.selected = -1
        self.updateGeometry()
        self.update()

    def count(self) -> int:
        return len(self._images)

    def _columns(self) -> int:
        return max(1, (self.width() + self.GAP) // (self.TILE + self.GAP))

    def tile_rect(self, i: int) -> QRectF:
        cols = self._columns()
        r, c = divmod(i, cols)
        return QRectF(c * (self.TILE + self.GAP), r * (self.TILE + self.GAP), self.TILE, self.TILE)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, w: int) -> int:
        cols = max(1, (w + self.GAP) // (self.TILE + self.GAP))
        return math.ceil(max(1, len(self._images)) / cols) * (self.TILE + self.GAP)

    def sizeHint(self) -> QSize:
        return QSize(16 * (self.TILE + self.GAP), self.heightForWidth(16 * (self.TILE + self.GAP)))

    def _index_at(self, pos) -> int:
        for i in range(len(self._images)):
            if self.tile_rect(i).contains(QPointF(pos)):
                return i
        return -1

    def mouseMoveEvent(self, event) -> None:
        i = self._index_at(event.position())
        if i != self._hover:
            self._hover = i
            self.setToolTip(f"Filter {i + 1}: click to load it as an RGB kernel" if i >= 0 else "")
            self.update()

    def leaveEvent(self, event) -> None:
        self._hover = -1
        self.update()

    def mousePressEvent(self, event) -> None:
        i = self._index_at(event.position())
        if i >= 0 and event.button() == Qt.LeftButton:
            self.selected = i
            self.update()
            self.filterClicked.emit(i)

    def resizeEvent(self, event) -> None:
        self.updateGeometry()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.SmoothPixmapTransform, False)
        for i, im in enumerate(self._images):
            rect = self.tile_rect(i)
            p.drawImage(rect, im)
            if i in (self.selected, self._hover):
                p.setPen(QPen(QColor("#f0a000") if i == self.selected else QColor("#333"), 2))
                p.drawRect(rect.adjusted(-1, -1, 1, 1))
        p.end()


class ActivationsView(QWidget):
    """Rows of feature maps, shallow to deep; each row is one depth of the network."""

    MAP_H = 60
    GAP = 4
    LABEL_H = 18

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, list[QImage]]] = []
        lut = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=False)
        self._lut = np.asarray(lut, dtype=np.uint8)

    def set_results(self, results: list[dict]) -> None:
        self.rows = []
        for i, r in enumerate(results):
            title = (
                f"Layer {i + 1}: {r['name']} — {r['channels']} channels of {r['width']}×{r['height']}"
                f" (showing the {len(r['channel_ids'])} most varied)"
            )
            self.rows.append((title, [rgb_to_qimage(self._lut[m]) for m in r["maps"]]))
        self.setMinimumHeight(self._height())
        self.update()

    def _height(self) -> int:
        return len(self.rows) * (self.LABEL_H + self.MAP_H + self.GAP * 2)

    def sizeHint(self) -> QSize:
        return QSize(600, max(60, self._height()))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        y = 0
        for title, maps in self.rows:
            p.setPen(QColor("#222"))
            p.drawText(QRectF(0, y, self.width(), self.LABEL_H), Qt.AlignLeft | Qt.AlignVCenter, title)
            y += self.LABEL_H
            x = 0
            for im in maps:
                w = max(8, round(self.MAP_H * im.width() / max(1, im.height())))
                if x + w > self.width():
                    break
                p.drawImage(QRectF(x, y, w, self.MAP_H), im)
                x += w + self.GAP
            y += self.MAP_H + self.GAP * 2
        p.end()


# ---------------------------------------------------------------- the panel


class KernelPlayground(QWidget):
    """Kernels tab: kernel grid and presets, original/result views, inspector, layers, network filters."""

    resultShown = Signal()  # after a new result image was put on screen

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.file_actions = []  # none for the window's File menu
        self.state = state
        self.setAcceptDrops(True)
        self.image: np.ndarray = np.zeros((8, 8, 3), dtype=np.uint8)
        self.image_name = ""
        self.layers: list[Layer] = []
        self.layer_names: list[str] = []
        self.current = 0
        self.mode, self.border, self.gray = "clip", "replicate", False
        self.stages = []
        self.sync_limit: int | None = None  # tests/bench: force the UI thread (work <= limit) or a worker
        self._ns_per_value: dict[str, float] = {}  # measured cost by output mode
        self.renders = 0  # results put on screen (tests, bench)
        self.error = ""
        self.filters = None  # engine.kernels.NetworkFilters once loaded
        self._channel = 0  # which slice of an RGB kernel the grid edits
        self._generation = 0  # bumped on every change; results older than the shown one are dropped
        self._shown_generation = -1
        self._image_token = 0  # results computed for a previous image are never shown
        self._render_job: QtJob | None = None
        self._render_pending = False
        self._closing = False
        self._jobs: set[QtJob] = set()
        self._load_job: QtJob | None = None
        self._filters_job: QtJob | None = None
        self._acts_job: QtJob | None = None
        self._hover: tuple[int, int] | None = None
        # Throttle: the first edit computes at once; edits during the cooldown that follows are
        # coalesced into one trailing computation with the newest numbers, so a drag never queues work.
        self._cooldown = QTimer(self, singleShot=True, interval=0)
        self._cooldown.timeout.connect(self._cooled)
        self._dirty = False
        self._batch = 0  # >0 while several settings change together (one computation after)

        self._build()
        self.layers = [Layer(PRESETS[DEFAULT_PRESET].kernel, float(PRESETS[DEFAULT_PRESET].divisor))]
        self.layer_names = [DEFAULT_PRESET]
        self._show_layer_controls()
        self._refresh_layer_list()
        state.datasetChanged.connect(self._dataset_changed)
        self._dataset_changed(getattr(state, "dataset", None))
        self.load_file(_photo("chelsea.png"), wait=True)

    # ------------------------------------------------------------ building
    def _build(self) -> None:
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 6, 0)
        side_layout.addWidget(self._build_image_box())
        side_layout.addWidget(self._build_kernel_box())
        side_layout.addWidget(self._build_output_box())
        side_layout.addWidget(self._build_layers_box())
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFixedWidth(372)

        self.views = pg.GraphicsLayoutWidget()
        self.views.setAcceptDrops(False)  # drops go to the panel
        self.views.viewport().setAcceptDrops(False)
        self.views.ci.setSpacing(8)
        self.title_original = QLabel("Original")
        self.title_result = QLabel("Result")
        titles = QHBoxLayout()
        titles.setContentsMargins(0, 0, 0, 0)
        for label in (self.title_original, self.title_result):
            label.setAlignment(Qt.AlignCenter)
            label.setTextFormat(Qt.RichText)
            label.setStyleSheet("font-size: 11pt; padding: 2px;")
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # equal halves
            label.setWordWrap(True)  # a long layer title wraps in a narrow window
            titles.addWidget(label, 1)
        self.view_original = self.views.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.view_result = self.views.addViewBox(row=0, col=1, lockAspect=True, invertY=True, enableMenu=False)
        self.view_result.setXLink(self.view_original)  # one zoom/pan for both
        self.view_result.setYLink(self.view_original)
        self.original_item = pg.ImageItem()
        self.result_item = pg.ImageItem()
        self.view_original.addItem(self.original_item)
        self.view_result.addItem(self.result_item)
        self._marks = []
        for vb in (self.view_original, self.view_result):
            mark = QGraphicsRectItem()
            pen = QPen(QColor("#ff9f1c"), 2)
            pen.setCosmetic(True)
            mark.setPen(pen)
            mark.setZValue(10)
            mark.hide()
            vb.addItem(mark)
            self._marks.append(mark)
        self.views.scene().sigMouseMoved.connect(self._mouse_moved)
        self.views.viewport().installEventFilter(self)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.inspector = QLabel()
        self.inspector.setObjectName("inspector")
        self.inspector.setTextFormat(Qt.RichText)
        self.inspector.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.inspector.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.inspector.setContentsMargins(8, 6, 8, 6)
        self.inspector.setText(self._inspector_hint())
        inspector_scroll = QScrollArea()
        inspector_scroll.setWidget(self.inspector)
        inspector_scroll.setWidgetResizable(True)
        inspector_scroll.setFrameShape(QFrame.NoFrame)
        self.tabs.addTab(inspector_scroll, "Pixel inspector")
        self.tabs.addTab(self._build_filters_tab(), "Network filters")
        self.tabs.addTab(self._build_activations_tab(), "Activations by depth")
        self.arch_combo = QComboBox()
        self.arch_combo.addItems(list(ARCHITECTURES))
        self.arch_combo.setCurrentText(DEFAULT_ARCH)
        self.arch_combo.setToolTip("The pretrained network whose filters and activations are shown")
        self.arch_combo.currentTextChanged.connect(self._arch_changed)
        corner = QWidget()
        cl = QHBoxLayout(corner)
        cl.setContentsMargins(0, 0, 4, 0)
        cl.addWidget(QLabel("Network:"))
        cl.addWidget(self.arch_combo)
        self.tabs.setCornerWidget(corner, Qt.TopRightCorner)
        self.tabs.currentChanged.connect(self._tab_changed)

        pictures = QWidget()
        pl = QVBoxLayout(pictures)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(0)
        pl.addLayout(titles)
        pl.addWidget(self.views, 1)
        right = QSplitter(Qt.Vertical)
        right.addWidget(pictures)
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)
        right.setSizes([440, 320])

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(scroll)
        layout.addWidget(right, 1)

        paste = QShortcut(QKeySequence.Paste, self)
        paste.setContext(Qt.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste)

    def _build_image_box(self) -> QGroupBox:
        box = QGroupBox("Image")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open an image file (or drop one on this tab)")
        self.open_button.clicked.connect(self.choose_file)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Use the image on the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste)
        self.save_button = QPushButton("Save result…")
        self.save_button.setToolTip("Save the result image as shown (PNG, JPEG, …)")
        self.save_button.clicked.connect(self.choose_save)
        for b in (self.open_button, self.paste_button, self.save_button):
            row.addWidget(b)
        v.addLayout(row)
        picks = QHBoxLayout()
        picks.addWidget(QLabel("Try:"))
        self.pick_buttons = {}
        for name, label in (("chelsea.png", "Cat"), ("coffee.png", "Espresso")):
            b = QToolButton()
            b.setText(label)
            b.setToolTip(f"The sample photo {name}")
            b.clicked.connect(lambda _=False, n=name: self.load_file(_photo(n)))
            picks.addWidget(b)
            self.pick_buttons[label] = b
        self.dataset_button = QToolButton()
        self.dataset_button.setText("Dataset image")
        self.dataset_button.clicked.connect(self._load_dataset_image)
        picks.addWidget(self.dataset_button)
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip("Show the whole image (drag to pan, scroll to zoom; both views move together)")
        fit.clicked.connect(self.fit_views)
        picks.addStretch(1)
        picks.addWidget(fit)
        v.addLayout(picks)
        self.image_info = QLabel()
        self.image_info.setObjectName("image_info")
        self.image_info.setWordWrap(True)
        self.image_info.setStyleSheet("color: #555;")
        v.addWidget(self.image_info)
        return box

    def _build_kernel_box(self) -> QGroupBox:
        box = QGroupBox("Kernel")
        v = QVBoxLayout(box)
        top = QHBoxLayout()
        self.preset_combo = QComboBox()
        for p in PRESETS.values():
            self.preset_combo.addItem(p.title, p.name)
        self.preset_combo.addItem("Custom", "custom")
        self.preset_combo.setToolTip("Start from a named kernel; editing any number makes it Custom")
        self.preset_combo.activated.connect(self._preset_picked)
        self.size_combo = QComboBox()
        for n in GRID_SIZES:
            self.size_combo.addItem(f"{n}×{n}", n)
        self.size_combo.setToolTip("Kernel size: growing pads with zeros, shrinking keeps the centre")
        self.size_combo.activated.connect(self._size_picked)
        top.addWidget(self.preset_combo, 1)
        top.addWidget(self.size_combo)
        v.addLayout(top)
        self.channel_bar = QTabBar()
        for name in CHANNEL_NAMES:
            self.channel_bar.addTab(f"{name} weights")
        self.channel_bar.setExpanding(True)
        self.channel_bar.setToolTip("An RGB kernel has one grid per colour channel; the response is their sum")
        self.channel_bar.currentChanged.connect(self._channel_picked)
        self.channel_bar.hide()
        v.addWidget(self.channel_bar)
        self.grid = KernelGrid()
        self.grid.cellEdited.connect(self._cell_edited)
        v.addWidget(self.grid)
        form = QHBoxLayout()
        self.divisor_spin = NumberSpinBox()
        self.divisor_spin.setRange(0.001, 100000.0)
        self.divisor_spin.setDecimals(3)
        self.divisor_spin.setValue(1.0)
        self.divisor_spin.setToolTip("The sum is divided by this (16 for the blur: its weights add up to 16)")
        self.divisor_spin.valueChanged.connect(self._divisor_edited)
        self.sum_button = QToolButton()
        self.sum_button.setText("= Σ")
        self.sum_button.setToolTip("Divide by the sum of the weights, so flat areas keep their brightness")
        self.sum_button.clicked.connect(self._divisor_from_sum)
        self.bias_spin = NumberSpinBox()
        self.bias_spin.setRange(-1000.0, 1000.0)
        self.bias_spin.setDecimals(2)
        self.bias_spin.setToolTip("Added after dividing (128 shows negative sums as darker than grey)")
        self.bias_spin.valueChanged.connect(self._bias_edited)
        form.addWidget(QLabel("÷"))
        form.addWidget(self.divisor_spin, 1)
        form.addWidget(self.sum_button)
        form.addSpacing(8)
        form.addWidget(QLabel("+ bias"))
        form.addWidget(self.bias_spin, 1)
        v.addLayout(form)
        self.kernel_note = QLabel()
        self.kernel_note.setWordWrap(True)
        self.kernel_note.setStyleSheet("color: #555;")
        v.addWidget(self.kernel_note)
        return box

    def _build_output_box(self) -> QGroupBox:
        box = QGroupBox("Output")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        for m in MODES:
            self.mode_combo.addItem(MODE_LABELS[m], m)
        self.mode_combo.setToolTip("How sums become 0–255 pixels")
        self.mode_combo.currentIndexChanged.connect(self._options_edited)
        self.border_combo = QComboBox()
        for b in BORDERS:
            self.border_combo.addItem(BORDER_LABELS[b], b)
        self.border_combo.setToolTip("What the kernel reads beyond the image's edges")
        self.border_combo.currentIndexChanged.connect(self._options_edited)
        self.gray_check = QCheckBox("Grey: filter the brightness, not R, G, B")
        self.gray_check.toggled.connect(self._options_edited)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Border", self.border_combo)
        form.addRow(self.gray_check)
        return box

    def _build_layers_box(self) -> QGroupBox:
        box = QGroupBox("Layers (conv → ReLU → conv …)")
        v = QVBoxLayout(box)
        self.layer_list = QListWidget()
        self.layer_list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.layer_list.setMaximumHeight(74)
        self.layer_list.setToolTip("Select a layer to edit its kernel and see the image after it")
        self.layer_list.currentRowChanged.connect(self._layer_selected)
        v.addWidget(self.layer_list)
        row = QHBoxLayout()
        self.add_layer_button = QPushButton("+ Layer")
        self.add_layer_button.setToolTip("Add a layer after the selected one; it filters that layer's output")
        self.add_layer_button.clicked.connect(self.add_layer)
        self.remove_layer_button = QPushButton("Remove")
        self.remove_layer_button.clicked.connect(self.remove_layer)
        self.relu_check = QCheckBox("ReLU after it")
        self.relu_check.setToolTip("Replace negative values with zero before the next layer")
        self.relu_check.toggled.connect(self._relu_toggled)
        row.addWidget(self.add_layer_button)
        row.addWidget(self.remove_layer_button)
        row.addStretch(1)
        row.addWidget(self.relu_check)
        v.addLayout(row)
        return box

    def _build_filters_tab(self) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        self.filters_info = QLabel("The network's first-layer filters appear here.")
        self.filters_info.setWordWrap(True)
        v.addWidget(self.filters_info)
        self.filter_grid = FilterGrid()
        self.filter_grid.filterClicked.connect(self.load_filter)
        scroll = QScrollArea()
        scroll.setWidget(self.filter_grid)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        v.addWidget(scroll, 1)
        return w

    def _build_activations_tab(self) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        left = QVBoxLayout()
        left.addWidget(QLabel("Depths:"))
        self.depth_list = QListWidget()
        self.depth_list.setMaximumWidth(130)
        self.depth_list.itemChanged.connect(lambda _: self._schedule_activations())
        left.addWidget(self.depth_list, 1)
        maps_row = QHBoxLayout()
        maps_row.addWidget(QLabel("Maps"))
        self.maps_spin = QSpinBox()
        self.maps_spin.setRange(1, 16)
        self.maps_spin.setValue(8)
        self.maps_spin.valueChanged.connect(lambda _: self._schedule_activations())
        maps_row.addWidget(self.maps_spin)
        left.addLayout(maps_row)
        h.addLayout(left)
        right = QVBoxLayout()
        self.acts_info = QLabel(
            "Feature maps of the image at several depths of the pretrained network: "
            "early layers find edges and colours, deeper ones larger patterns."
        )
        self.acts_info.setWordWrap(True)
        right.addWidget(self.acts_info)
        self.acts_view = ActivationsView()
        scroll = QScrollArea()
        scroll.setWidget(self.acts_view)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        right.addWidget(scroll, 1)
        h.addLayout(right, 1)
        self._fill_depths(DEFAULT_ARCH)
        return w

    # ------------------------------------------------------------ images
    def load_file(self, path, wait: bool = False) -> None:
        """Decode an image file on a worker (big photos take long); wait=True decodes here (start-up)."""
        path = str(path)
        if wait:
            from engine.jobs import run_to_end

            try:
                self.set_image(run_to_end(load_image_array(path)), Path(path).name)
            except Exception as exc:
                self._image_failed(path, str(exc))
            return
        if self._load_job is not None and self._load_job.running:
            self._load_job.cancel()
        self.image_info.setText(f"Opening {Path(path).name} …")
        job = QtJob(load_image_array, path, parent=self)
        job.finished.connect(lambda a, p=path: self._loaded(job, a, p))
        job.failed.connect(lambda msg, p=path: self._image_failed(p, msg))
        self._load_job = job
        self._start(job)

    def _loaded(self, job, array, path) -> None:
        if job is self._load_job:
            self.set_image(array, Path(path).name)

    def _image_failed(self, path: str, message: str) -> None:
        self.image_info.setText(
            f"<span style='color:#b00020'>Could not open {html.escape(Path(path).name)}: {html.escape(message)}</span>"
        )
        self.state.statusMessage.emit(f"Could not open {path}: {message}")

    def set_image(self, array: np.ndarray, name: str = "") -> None:
        """Show a new RGB uint8 image and filter it."""
        a = np.ascontiguousarray(array, dtype=np.uint8)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        same_shape = a.shape == self.image.shape
        self.image, self.image_name = a, name
        self._image_token += 1
        self.original_item.setImage(a, levels=(0, 255), autoLevels=False)
        h, w = a.shape[:2]
        self.image_info.setText(f"{html.escape(name or 'image')} · {w}×{h} pixels")
        if not same_shape:
            self.result_item.clear()
            self.stages = []
            self.fit_views()
        self.schedule()
        if self.tabs.currentIndex() == 2:
            self._schedule_activations()
        else:
            self.acts_view.set_results([])  # recomputed for this image when the tab is shown

    def fit_views(self) -> None:
        h, w = self.image.shape[:2]
        self.view_original.setRange(QRectF(0, 0, w, h), padding=0.02)

    def choose_file(self) -> None:
        pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", str(Path.home()), f"Images ({pattern})")
        if path:
            self.load_file(path)

    def paste(self) -> None:
        """Use the clipboard's image (or an image file path/URL on it)."""
        board = QGuiApplication.clipboard()
        md = board.mimeData()
        if md is not None and md.hasImage():
            image = board.image()
            if not image.isNull():
                self.set_image(qimage_to_rgb(image), "pasted image")
                return
        if md is not None and md.hasUrls():
            for url in md.urls():
                if url.isLocalFile():
                    self.load_file(url.toLocalFile())
                    return
        text = board.text().strip()
        if text and Path(text).is_file():
            self.load_file(text)
            return
        self.state.statusMessage.emit("The clipboard holds no image")
        self.image_info.setText("The clipboard holds no image. Copy a picture (or an image file) first.")

    def choose_save(self) -> None:
        if not self.stages:
            return
        stem = Path(self.image_name).stem or "image"
        start = str(Path.home() / f"{stem}-{self.layer_names[self.current]}.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save result", start, "PNG image (*.png);;JPEG (*.jpg);;All (*)")
        if path:
            self.save_result(path)

    def save_result(self, path) -> Path | None:
        try:
            out = write_image(self.shown_result(), path)
        except KernelError as exc:
            self.state.statusMessage.emit(str(exc))
            return None
        self.state.statusMessage.emit(f"Saved {out}")
        return out

    def shown_result(self) -> np.ndarray | None:
        """The 8-bit result on screen (the selected layer's stage)."""
        if not self.stages:
            return None
        return self.stages[min(self.current, len(self.stages) - 1)].image

    def _dataset_changed(self, dataset) -> None:
        first = None
        if dataset is not None:
            items = list(getattr(dataset, "train", [])) or list(getattr(dataset, "valid", []))
            first = items[0][0] if items else None
        self._dataset_image = first
        self.dataset_button.setEnabled(first is not None)
        self.dataset_button.setToolTip(
            f"The current dataset's first image: {first}" if first else "Open a dataset to try its first image here"
        )

    def _load_dataset_image(self) -> None:
        if self._dataset_image:
            self.load_file(self._dataset_image)

    # drag and drop onto the panel: image files or raw image data
    def dragEnterEvent(self, event) -> None:
        if self._dropped_path(event.mimeData()) or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        md = event.mimeData()
        path = self._dropped_path(md)
        if path:
            self.load_file(path)
            event.acceptProposedAction()
        elif md.hasImage():
            image = md.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.set_image(qimage_to_rgb(image), "dropped image")
                event.acceptProposedAction()

    @staticmethod
    def _dropped_path(md) -> str | None:
        for url in md.urls() if md.hasUrls() else []:
            if url.isLocalFile():
                p = Path(url.toLocalFile())
                if p.is_file() and (is_image_name(p.name) or p.suffix == ""):
                    return str(p)
        return None

    # ------------------------------------------------------------ the kernel model
    @property
    def layer(self) -> Layer:
        return self.layers[self.current]

    def _is_rgb_kernel(self, i: int | None = None) -> bool:
        return self.layers[self.current if i is None else i].kernel.ndim == 3

    def _show_layer_controls(self) -> None:
        """Put the selected layer into the controls (no edits are written back)."""
        layer = self.layer
        k = layer.kernel
        rgb = k.ndim == 3
        self.channel_bar.setVisible(rgb)
        self.grid.set_values(k[..., self._channel] if rgb else k)
        self.grid.set_step(0.05 if rgb or np.abs(k).max() < 2 and not np.all(k == np.round(k)) else 1.0)
        self._set_quietly(self.size_combo, self.size_combo.findData(k.shape[0]))
        name = self.layer_names[self.current]
        idx = self.preset_combo.findData(name)
        custom = self.preset_combo.findData("custom")
        self.preset_combo.setItemText(custom, "Custom" if name in PRESETS or name == "custom" else name)
        self._set_quietly(self.preset_combo, idx if idx >= 0 else custom)
        for spin, value in ((self.divisor_spin, layer.divisor), (self.bias_spin, layer.bias)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.relu_check.blockSignals(True)
        self.relu_check.setChecked(layer.relu)
        self.relu_check.blockSignals(False)
        self.gray_check.setEnabled(not self._is_rgb_kernel(0))
        self.gray_check.setToolTip(
            "An RGB kernel uses the colour channels"
            if self._is_rgb_kernel(0)
            else "Filter one grey image (BT.601 brightness) instead of R, G and B separately"
        )
        self._update_note()

    def _update_note(self) -> None:
        name = self.layer_names[self.current]
        if name in PRESETS:
            note = PRESETS[name].description
        elif self._is_rgb_kernel():
            note = (
                "A first-layer filter of the pretrained network: it multiplies the R, G and B "
                "neighbourhoods by the three grids and adds everything into one value."
            )
        else:
            note = "Your own kernel: each output pixel is Σ neighbourhood × weight, ÷ divisor, + bias."
        k = self.layer.kernel
        total = float(k.sum())
        self.sum_button.setEnabled(total > 0 and not math.isclose(total, self.layer.divisor))
        self.kernel_note.setText(f"{note} Weights sum to {format_number(total)}.")

    @staticmethod
    def _set_quietly(combo: QComboBox, index: int) -> None:
        combo.blockSignals(True)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)

    def _became_custom(self) -> None:
        if self.layer_names[self.current] != "custom":
            self.layer_names[self.current] = "custom"
            custom = self.preset_combo.findData("custom")
            self.preset_combo.setItemText(custom, "Custom")
            self._set_quietly(self.preset_combo, custom)
            self._refresh_layer_list()
        self._update_note()

    def _cell_edited(self, r: int, c: int, value: float) -> None:
        k = self.layer.kernel.copy()
        if k.ndim == 3:
            k[r, c, self._channel] = value
        else:
            k[r, c] = value
        self.layer.kernel = k
        self._became_custom()
        self.schedule()

    def set_cell(self, r: int, c: int, value: float) -> None:
        """Set one number as if typed into the grid (tests, bench)."""
        self.grid.cells[r][c].setValue(value)

    def _preset_picked(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name == "custom":
            return
        self.apply_preset(name)

    def apply_preset(self, name: str) -> None:
        p = PRESETS[name]
        self.layers[self.current] = Layer(p.kernel, float(p.divisor), 0.0, self.layer.relu)
        self.layer_names[self.current] = name
        self._channel = 0
        self.channel_bar.setCurrentIndex(0)
        self._show_layer_controls()
        self._refresh_layer_list()
        self.schedule()

    def _size_picked(self, index: int) -> None:
        n = self.size_combo.itemData(index)
        k = self.layer.kernel
        old = k.shape[0]
        if n == old:
            return
        shape = (n, n) + k.shape[2:]
        new = np.zeros(shape)
        if n > old:
            o = (n - old) // 2
            new[o : o + old, o : o + old] = k
        else:
            o = (old - n) // 2
            new = k[o : o + n, o : o + n].copy()
        self.layer.kernel = new
        self.layer_names[self.current] = "custom"
        self._show_layer_controls()
        self._refresh_layer_list()
        self.schedule()

    def _channel_picked(self, index: int) -> None:
        if index < 0:
            return
        self._channel = index
        if self._is_rgb_kernel():
            self.grid.set_values(self.layer.kernel[..., index])

    def _divisor_edited(self, value: float) -> None:
        self.layer.divisor = float(value)
        self._update_note()
        self.schedule()

    def _divisor_from_sum(self) -> None:
        total = float(self.layer.kernel.sum())
        if total > 0:
            self.divisor_spin.setValue(total)

    def _bias_edited(self, value: float) -> None:
        self.layer.bias = float(value)
        self.schedule()

    def _options_edited(self, *_):
        self.mode = self.mode_combo.currentData()
        self.border = self.border_combo.currentData()
        self.gray = self.gray_check.isChecked()
        self.schedule()

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    # ------------------------------------------------------------ layers
    def _layer_title(self, i: int) -> str:
        name = self.layer_names[i]
        title = PRESETS[name].title if name in PRESETS else ("Custom" if name == "custom" else name)
        return f"{i + 1}. {title}" + ("  → ReLU" if self.layers[i].relu else "")

    def _refresh_layer_list(self) -> None:
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        for i in range(len(self.layers)):
            self.layer_list.addItem(self._layer_title(i))
        self.layer_list.setCurrentRow(self.current)
        self.layer_list.blockSignals(False)
        self.remove_layer_button.setEnabled(len(self.layers) > 1)
        self.add_layer_button.setEnabled(len(self.layers) < 8)

    def add_layer(self, preset_name: str = "identity", relu: bool = False) -> None:
        """Insert a layer after the selected one and select it."""
        if not isinstance(preset_name, str) or preset_name not in PRESETS:
            preset_name = "identity"
        p = PRESETS[preset_name]
        self.current += 1
        self.layers.insert(self.current, Layer(p.kernel, float(p.divisor), 0.0, relu))
        self.layer_names.insert(self.current, preset_name)
        self._refresh_layer_list()
        self._show_layer_controls()
        self.schedule()

    def remove_layer(self) -> None:
        if len(self.layers) <= 1:
            return
        del self.layers[self.current]
        del self.layer_names[self.current]
        self.current = min(self.current, len(self.layers) - 1)
        self._refresh_layer_list()
        self._show_layer_controls()
        self.schedule()

    def select_layer(self, i: int) -> None:
        self.layer_list.setCurrentRow(i)

    def _layer_selected(self, row: int) -> None:
        if row < 0 or row >= len(self.layers) or row == self.current:
            return
        self.current = row
        self._channel = 0
        self.channel_bar.setCurrentIndex(0)
        self._show_layer_controls()
        self._show_stage()

    def _relu_toggled(self, on: bool) -> None:
        self.layer.relu = bool(on)
        item = self.layer_list.item(self.current)
        if item is not None:
            item.setText(self._layer_title(self.current))
        self.schedule()

    # ------------------------------------------------------------ computing
    def schedule(self) -> None:
        """Ask for a new result (throttled: leading edge now, one trailing computation per burst)."""
        self._generation += 1
        if self._batch or self._cooldown.isActive() or not self.layers:
            self._dirty = True
            return
        self._dirty = False
        self._cooldown.start()
        self._compute()

    def _cooled(self) -> None:
        if self._dirty and not self._batch:
            self._dirty = False
            self._cooldown.start()
            self._compute()

    @contextmanager
    def _changing(self):
        """Group several setting changes into one computation."""
        self._batch += 1
        try:
            yield
        finally:
            self._batch -= 1
            if not self._batch and self._dirty:
                self._generation -= 1  # schedule() bumps it again
                self._dirty = False
                self.schedule()

    def _request(self) -> dict:
        gray = self.gray and not self._is_rgb_kernel(0)
        layers = [Layer(ly.kernel.copy(), ly.divisor, ly.bias, ly.relu) for ly in self.layers]
        return dict(layers=layers, mode=self.mode, border=self.border, gray=gray, keep_values=False)

    def _work(self) -> int:
        return int(self.image.size) * len(self.layers)

    def computes_here(self) -> bool:
        """True when the next result is computed on the UI thread (predicted well under a frame)."""
        if self.sync_limit is not None:
            return self._work() <= self.sync_limit
        ns = self._ns_per_value.get(self.mode, FIRST_GUESS_NS_PER_VALUE)
        return ns * self._work() / 1e6 <= SYNC_BUDGET_MS

    def _note_cost(self, mode: str, seconds: float, work: int) -> None:
        ns = seconds * 1e9 / max(1, work)
        old = self._ns_per_value.get(mode)
        self._ns_per_value[mode] = ns if old is None else 0.7 * old + 0.3 * ns

    def _compute(self) -> None:
        if self._closing:
            return
        generation, token = self._generation, self._image_token
        request = self._request()
        work, mode = self._work(), self.mode
        if self.computes_here():
            started = time.perf_counter()
            try:
                stages = apply_stack(self.image, **request)
            except KernelError as exc:
                self._failed(str(exc))
                return
            self._note_cost(mode, time.perf_counter() - started, work)
            self._show(stages, generation, token)
            # adaptive throttle: after a computation that took t ms, coalesce edits for the next t ms
            # (sample photos: ~1 ms, i.e. every edit shows; big images: at most half the time computing)
            self._cooldown.setInterval(min(50, round((time.perf_counter() - started) * 1000)))
            return
        if self._render_job is not None:
            self._render_pending = True  # one job at a time; the newest settings run when it ends
            return
        self._render_pending = False
        job = QtJob(render_stack, self.image, parent=self, **request)
        job.progress.connect(
            lambda rec, m=mode, w=work: rec["done"] == rec["total"] and self._note_cost(m, rec["seconds"], w)
        )
        job.finished.connect(lambda stages, g=generation, t=token: self._show(stages, g, t))
        job.failed.connect(self._failed)
        job.ended.connect(lambda _kind, g=generation: self._render_ended(g))
        self._render_job = job
        self._start(job)

    def _render_ended(self, generation: int) -> None:
        # "ended" arrives on this thread after the result, so this is the one place that frees the slot
        self._render_job = None
        if self._render_pending and self._generation > generation:
            self._render_pending = False
            self._compute()

    def _failed(self, message: str) -> None:
        self.error = message
        self.title_result.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

    def _show(self, stages, generation: int, token: int) -> None:
        # results for an old image, or older than what is on screen, are stale
        if token != self._image_token or generation <= self._shown_generation:
            return
        self._shown_generation = generation
        self.stages = stages
        self.error = ""
        self._show_stage()

    def _show_stage(self) -> None:
        if not self.stages:
            return
        i = min(self.current, len(self.stages) - 1)
        self.result_item.setImage(self.stages[i].image, levels=(0, 255), autoLevels=False)
        n = len(self.layers)
        title = self._layer_title(i).split(". ", 1)[1]
        where = f"after layer {i + 1} of {n}: {title}" if n > 1 else title
        self.title_result.setText(f"Result — {html.escape(where)} · {self.mode}")
        self.title_original.setText("Original" + (" (grey)" if self.gray and not self._is_rgb_kernel(0) else ""))
        self.renders += 1
        if self._hover is not None:
            self.inspect(*self._hover)
        self.resultShown.emit()

    # ------------------------------------------------------------ hover inspector
    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Leave and obj is self.views.viewport():
            self._hover = None
            for m in self._marks:
                m.hide()
        return super().eventFilter(obj, event)

    def _mouse_moved(self, pos) -> None:
        for vb in (self.view_original, self.view_result):
            if vb.sceneBoundingRect().contains(pos):
                p = vb.mapSceneToView(pos)
                x, y = int(math.floor(p.x())), int(math.floor(p.y()))
                h, w = self.image.shape[:2]
                if 0 <= x < w and 0 <= y < h:
                    if (x, y) != self._hover:
                        self.inspect(x, y)
                    return
        self._hover = None
        for m in self._marks:
            m.hide()

    def _inspector_hint(self) -> str:
        return (
            "<p style='color:#555'>Point at a pixel in either picture to see the arithmetic:<br>the pixel's "
            "neighbourhood × the kernel, added up, is the result pixel.</p>"
        )

    def inspect(self, x: int, y: int) -> str:
        """Show neighbourhood × kernel = sum for output pixel (x, y) of the selected layer; return the text."""
        self._hover = (x, y)
        i = min(self.current, len(self.layers) - 1)
        layer = self.layers[i]
        n = layer.kernel.shape[0]
        r = n // 2
        for m in self._marks:
            m.setRect(QRectF(x - r, y - r, n, n))
            m.show()
        if i == 0 or i - 1 >= len(self.stages) or self.stages[i - 1].values is None:
            source, gray = self.image, self.gray and not self._is_rgb_kernel(0)
        else:
            source, gray = self.stages[i - 1].values, False
        try:
            b = pixel_breakdown(source, layer.kernel, y, x, layer.divisor, layer.bias, self.border, gray)
        except KernelError as exc:
            self.inspector.setText(html.escape(str(exc)))
            return str(exc)
        out = None
        if i < len(self.stages):
            img = self.stages[i].image
            if img.shape[:2] == self.image.shape[:2]:
                out = np.atleast_1d(img[y, x])
        text = self._breakdown_html(b, i, out, layer.relu)
        self.inspector.setText(text)
        return text

    def _breakdown_html(self, b, layer_index: int, out, relu: bool) -> str:
        def cell_width(*arrays) -> int:
            return 7 * max(len(_num(v)) for a in arrays for v in np.ravel(a)) + 10

        def matrix(m, colour=None, width=24):
            cells = []
            top = float(np.abs(m).max()) or 1.0
            for row in m:
                tds = []
                for v in row:
                    style = f" bgcolor='{weight_colour(v, top).name()}'" if colour else ""
                    tds.append(f"<td align='right' width='{width}'{style}>{_num(v)}&nbsp;</td>")
                cells.append("<tr>" + "".join(tds) + "</tr>")
            return (
                "<table cellspacing='0' cellpadding='1' style='border:1px solid #999; "
                "font-family:monospace'>" + "".join(cells) + "</table>"
            )

        src = "image" if layer_index == 0 else f"layer {layer_index} output"
        head = (
            f"<b>Pixel x={b.x}, y={b.y}</b> &nbsp;·&nbsp; layer {layer_index + 1}: "
            f"{b.kernel.shape[0]}×{b.kernel.shape[0]} neighbourhood of the {src} × kernel, added up"
        )
        rows = []
        k = b.kernel
        channels = b.patch.shape[2]
        pw, kw = cell_width(b.patch), cell_width(k)
        tail_parts = []
        if b.divisor != 1:
            tail_parts.append(f"÷ {_num(b.divisor)}")
        if b.bias:
            tail_parts.append(f"{'+' if b.bias > 0 else '−'} {_num(abs(b.bias))}")
        tail = " ".join(tail_parts)

        def result_text(c: int) -> str:
            s = b.sums[c]
            v = b.values[c]
            parts = [f"= <b>{_num(s)}</b>"]
            if tail:
                parts.append(f"{tail} = {_num(v)}")
            if relu and v < 0:
                parts.append("ReLU → 0")
            if out is not None:
                o = int(out[min(c, len(out) - 1)])
                parts.append(f"→ pixel <b>{o}</b> ({self.mode})")
            return " ".join(parts)

        if k.ndim == 3:
            for c in range(3):
                part = float((b.patch[..., c] * k[..., c]).sum())
                rows.append(
                    f"<tr><td valign='middle'>{'+' if c else ''}</td>"
                    f"<td valign='middle'><b>{CHANNEL_NAMES[c]}</b></td>"
                    f"<td>{matrix(b.patch[..., c], width=pw)}</td><td valign='middle'>×</td>"
                    f"<td>{matrix(k[..., c], colour=True, width=kw)}</td>"
                    f"<td valign='middle'>= {_num(part)}</td></tr>"
                )
            body = (
                "<table cellspacing='4'>" + "".join(rows) + "</table>" + f"<p>Sum over R, G and B {result_text(0)}</p>"
            )
        else:
            names = CHANNEL_NAMES if channels == 3 else ("grey",)
            kernel_html = matrix(k, colour=True, width=kw)
            for c in range(channels):
                rows.append(
                    f"<tr><td valign='middle'><b>{names[c]}</b></td>"
                    f"<td>{matrix(b.patch[..., c], width=pw)}</td>"
                    f"<td valign='middle'>×</td><td>{kernel_html}</td>"
                    f"<td valign='middle'>{result_text(c)}</td></tr>"
                )
            body = "<table cellspacing='4'>" + "".join(rows) + "</table>"
            if k.shape[0] == 3:
                # the lecture's words, literally: multiply element-wise, then add
                terms = [(kv, pv) for kv, pv in zip(k.ravel(), b.patch[..., 0].ravel(), strict=False) if kv != 0]
                text = " ".join(
                    f"{'−' if kv < 0 else '+'} {_num(abs(kv)) + '·' if abs(kv) != 1 else ''}{_num(pv)}"
                    for kv, pv in terms
                )
                text = text[2:] if text.startswith("+ ") else text.replace("− ", "−", 1)
                body += (
                    f"<p style='color:#444'>{names[0]}: {text or '0'} = {_num(b.sums[0])}"
                    "&nbsp;&nbsp;(zero weights left out)</p>"
                )
        return f"<p>{head}</p>{body}"

    # ------------------------------------------------------------ network filters
    def _arch_changed(self, arch: str) -> None:
        self.filters = None
        self.filter_grid.set_tiles(np.zeros((0, 1, 1, 3), np.uint8))
        self._fill_depths(arch)
        if self.tabs.currentIndex() == 1:
            self.load_filters()
        elif self.tabs.currentIndex() == 2:
            self._schedule_activations()

    def _tab_changed(self, index: int) -> None:
        if index == 1 and self.filters is None:
            self.load_filters()
        elif index == 2 and not self.acts_view.rows:
            self._schedule_activations()

    def load_filters(self) -> None:
        """Load the first-layer filters of the chosen network on a worker."""
        arch = self.arch_combo.currentText()
        if self._filters_job is not None and self._filters_job.running:
            self._filters_job.cancel()
        self.filters_info.setText(f"Loading {arch}'s pretrained weights …")
        job = QtJob(network_filters, arch, parent=self)
        job.finished.connect(lambda f: self._filters_loaded(job, f))
        job.failed.connect(lambda msg: self._filters_failed(job, msg))
        self._filters_job = job
        self._start(job)

    def _filters_loaded(self, job, filters) -> None:
        if job is not self._filters_job:
            return
        self.filters = filters
        n, k = filters.weights.shape[:2]
        self.filter_grid.set_tiles(filters.tiles)
        self.filters_info.setText(
            f"<b>{filters.arch}</b>'s first convolution: {n} filters of {k}×{k}×3 (grey = 0, colours show "
            f"which channels a filter adds or subtracts). Click one to load it as an RGB kernel and see its "
            f"response on the image. (The network slides it with stride {filters.stride}; here it visits every pixel.)"
        )

    def _filters_failed(self, job, message: str) -> None:
        if job is self._filters_job:
            self.filters_info.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

    def load_filter(self, index: int) -> None:
        """Put network filter ``index`` into layer 1 as an RGB kernel, normalise mode, and show its response."""
        if self.filters is None:
            return
        w = self.filters.weights[index]
        with self._changing():
            self.current = 0
            self.layers[0] = Layer(w.copy(), 1.0, 0.0, False)  # the raw response, before BN and ReLU6
            self.layer_names[0] = f"{self.filters.arch} filter {index + 1}"
            self._channel = 0
            self.channel_bar.setCurrentIndex(0)
            self.filter_grid.selected = index
            self.filter_grid.update()
            self.set_mode("normalise")
            self._refresh_layer_list()
            self._show_layer_controls()
            self.schedule()

    # ------------------------------------------------------------ activations by depth
    def _fill_depths(self, arch: str) -> None:
        self.depth_list.blockSignals(True)
        self.depth_list.clear()
        chosen = set(default_depths(arch))
        for name in depth_names(arch):
            self.depth_list.addItem(name)
            item = self.depth_list.item(self.depth_list.count() - 1)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if name in chosen else Qt.Unchecked)
        self.depth_list.blockSignals(False)
        self.acts_view.set_results([])

    def chosen_depths(self) -> list[str]:
        return [
            self.depth_list.item(i).text()
            for i in range(self.depth_list.count())
            if self.depth_list.item(i).checkState() == Qt.Checked
        ]

    def _schedule_activations(self) -> None:
        depths = self.chosen_depths()
        if not depths:
            self.acts_view.set_results([])
            return
        self.compute_activations(depths)

    def compute_activations(self, depths: list[str] | None = None) -> None:
        """Feature maps of the current image at the chosen depths, on a worker; a newer request cancels."""
        if self._acts_job is not None and self._acts_job.running:
            self._acts_job.cancel()
        arch = self.arch_combo.currentText()
        self.acts_info.setText(f"Running {arch} on the image …")
        job = QtJob(
            activations_by_depth, self.image, arch, depths or self.chosen_depths(), self.maps_spin.value(), parent=self
        )
        job.progress.connect(lambda rec: self._acts_progress(job, rec))
        job.finished.connect(lambda res: self._acts_done(job, res))
        job.failed.connect(lambda msg: self._acts_failed(job, msg))
        self._acts_job = job
        self._start(job)

    def _acts_progress(self, job, rec: dict) -> None:
        if job is self._acts_job and rec.get("type") == "depth":
            self.acts_info.setText(f"Computed {rec['name']} ({rec['done']} of {rec['total']}) …")

    def _acts_done(self, job, results) -> None:
        if job is not self._acts_job:
            return
        self.acts_view.set_results(results)
        self.acts_info.setText(
            f"{self.arch_combo.currentText()} on {html.escape(self.image_name or 'the image')}: "
            "shallow layers respond to edges and colours, deeper ones to larger, "
            "more complex patterns at lower resolution."
        )

    def _acts_failed(self, job, message: str) -> None:
        if job is self._acts_job:
            self.acts_info.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

    # ------------------------------------------------------------ jobs
    def _start(self, job: QtJob) -> None:
        self._jobs.add(job)
        job.ended.connect(lambda _k, j=job: self._jobs.discard(j))
        job.start()

    def shutdown(self) -> None:
        """Cancel and wait for every job of this panel."""
        self._closing = True
        self._cooldown.stop()
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            job.wait(10)


def _num(v: float) -> str:
    v = float(v)
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.2f}".rstrip("0").rstrip(".")
