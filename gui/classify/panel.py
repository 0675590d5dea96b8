"""Classify: drop or paste images for predictions, batch-predict a folder, and evaluate a model.

Three sub-tabs over the same model (the one trained in this session, a saved model file,
or — before any training — the pretrained ImageNet network):
  Drop images  · a streaming list of predictions with top-k bars, and a large view with Grad-CAM
  Batch predict · a sortable table over a folder or the dataset's test/, CSV and Kaggle export
  Evaluate      · accuracy, per-class precision/recall, a clickable confusion matrix and the
                  lesson's galleries (most correct / incorrect / uncertain), TTA on or off
All model work runs in engine jobs (gui.jobs.QtJob); this module only shows their results.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine import inference as inf
from engine.models import device_name, pick_device
from gui.jobs import QtJob

REC_ROLE = Qt.UserRole + 1  # the engine's result record (dict) of a row
ITEM_ROLE = Qt.UserRole + 2  # what to load again for the large view (path, URL or array)
SORT_ROLE = Qt.UserRole + 3  # the value a batch-table column sorts by
MODEL_ROLE = Qt.UserRole + 4  # the model that made a row's prediction
THUMB = 76
CARD_H = 92
BAR = QColor("#3d7bd9")
BAR_BG = QColor("#e6ecf5")
ERROR = QColor("#c0392b")
MUTED = QColor("#6b7280")


# ---------------------------------------------------------------- image conversion


def qimage_from_array(arr: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        return QImage(arr.data, w, h, w, QImage.Format_Grayscale8).copy()
    return QImage(arr.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def array_from_qimage(img: QImage) -> np.ndarray:
    """HWC uint8 RGB copy of a QImage (pasted or dropped picture)."""
    img = img.convertToFormat(QImage.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def pixmap_for(arr: np.ndarray | None, side: int) -> QPixmap | None:
    """A pixmap fitting side×side; small images (Fashion-MNIST) are enlarged with crisp pixels."""
    if arr is None:
        return None
    pm = QPixmap.fromImage(qimage_from_array(arr))
    if max(pm.width(), pm.height()) < side:
        return pm.scaled(side, side, Qt.KeepAspectRatio, Qt.FastTransformation)
    return pm.scaled(side, side, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def percent(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return f"{100 * p:.1f} %" if p < 0.9995 else "100 %"


def _short_model_name(model) -> str:
    if inf.is_imagenet_model(model):
        return "ImageNet"
    return model.meta.dataset or model.meta.arch


# ---------------------------------------------------------------- drop list


class PredictionDelegate(QStyledItemDelegate):
    """A card: thumbnail, file name, time taken, and top-3 probability bars (or the error)."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(320, CARD_H)

    def paint(self, painter: QPainter, option, index) -> None:
        rec = index.data(REC_ROLE) or {}
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        r = option.rect.adjusted(4, 3, -4, -3)
        selected = bool(option.state & QStyle.State_Selected)
        painter.setPen(QPen(QColor("#3d7bd9") if selected else QColor("#d9dee7")))
        painter.setBrush(QColor("#eef4ff") if selected else QColor("white"))
        painter.drawRoundedRect(r, 6, 6)
        thumb_rect = QRect(r.left() + 6, r.top() + (r.height() - THUMB) // 2, THUMB, THUMB)
        pm = index.data(Qt.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            x = thumb_rect.left() + (THUMB - pm.width()) // 2
            y = thumb_rect.top() + (THUMB - pm.height()) // 2
            painter.drawPixmap(x, y, pm)
        else:
            painter.fillRect(thumb_rect, QColor("#eef1f5"))
        left = thumb_rect.right() + 10
        right = r.right() - 8
        fm = painter.fontMetrics()
        line = fm.height()
        name_font = QFont(painter.font())
        name_font.setBold(True)
        painter.setFont(name_font)
        painter.setPen(QColor("#1f2937"))
        ms_text = rec.get("ms_text", "")
        ms_w = fm.horizontalAdvance(ms_text) + 12
        name = fm.elidedText(rec.get("name", ""), Qt.ElideMiddle, max(40, right - left - ms_w))
        painter.drawText(QRect(left, r.top() + 5, right - left - ms_w, line), Qt.AlignLeft | Qt.AlignVCenter, name)
        painter.setFont(option.font)
        painter.setPen(MUTED)
        painter.drawText(QRect(right - ms_w, r.top() + 5, ms_w, line), Qt.AlignRight | Qt.AlignVCenter, ms_text)
        y = r.top() + 8 + line
        if rec.get("error"):
            painter.setPen(ERROR)
            painter.drawText(
                QRect(left, y, right - left, r.bottom() - y - 4),
                Qt.TextWordWrap | Qt.AlignTop,
                "Could not classify: " + rec["error"],
            )
        elif not rec.get("top"):
            painter.setPen(MUTED)
            painter.drawText(QRect(left, y, right - left, line), Qt.AlignLeft, rec.get("waiting", "waiting…"))
        else:
            label_w = min(170, max(90, (right - left) // 2))
            bar_h = max(10, line - 5)
            for k, (cls, p) in enumerate(rec["top"][:3]):
                yy = y + k * (line + 3)
                painter.setPen(QColor("#1f2937") if k == 0 else QColor("#374151"))
                painter.drawText(
                    QRect(left, yy, label_w - 6, line),
                    Qt.AlignLeft | Qt.AlignVCenter,
                    fm.elidedText(cls, Qt.ElideRight, label_w - 6),
                )
                bar_x = left + label_w
                pct_w = fm.horizontalAdvance("100.0 %") + 8
                bar_w = max(20, right - bar_x - pct_w)
                bar = QRect(bar_x, yy + (line - bar_h) // 2, bar_w, bar_h)
                painter.setPen(Qt.NoPen)
                painter.setBrush(BAR_BG)
                painter.drawRoundedRect(bar, 3, 3)
                painter.setBrush(BAR if k == 0 else QColor("#8fb2ea"))
                painter.drawRoundedRect(QRect(bar.left(), bar.top(), max(2, round(bar_w * p)), bar_h), 3, 3)
                painter.setPen(QColor("#1f2937"))
                painter.drawText(QRect(bar.right() + 4, yy, pct_w, line), Qt.AlignRight | Qt.AlignVCenter, percent(p))
        painter.restore()


class PlaceholderList(QListWidget):
    """A list that shows a hint while empty; drops go to the panel (the list does not accept them)."""

    def __init__(self, hint: str, parent=None):
        super().__init__(parent)
        self.hint = hint
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setDragDropMode(QAbstractItemView.NoDragDrop)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.count() == 0 and self.hint:
            p = QPainter(self.viewport())
            p.setPen(MUTED)
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.15)
            p.setFont(f)
            p.drawText(self.viewport().rect().adjusted(24, 24, -24, -24), Qt.AlignCenter | Qt.TextWordWrap, self.hint)
            p.end()


# ---------------------------------------------------------------- large view with Grad-CAM


class ImageDetail(QWidget):
    """One image, large: its top classes and, on request, Grad-CAM ("why this class?")."""

    def __init__(self, panel: ClassifyPanel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self._item = None
        self._model = None
        self._gen = 0
        self._job: QtJob | None = None
        self._result: dict | None = None

        self.title = QLabel("Select an image to see it here.")
        self.title.setWordWrap(True)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignCenter)
        self.image.setMinimumSize(200, 110)
        self.image.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self.image.setStyleSheet("background: #f4f6f9; border: 1px solid #dde2ea; border-radius: 4px;")
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
        self.explain.setStyleSheet("color: #4b5563;")
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
        self.cam.toggled.connect(self._refresh)
        self.cam_class.currentIndexChanged.connect(lambda _: self.cam.isChecked() and self._refresh())
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        self.cam.setEnabled(on)
        self.cam_class.setEnabled(on)

    def clear(self, text: str = "Select an image to see it here.") -> None:
        self._gen += 1
        self._item = None
        self._result = None
        self.title.setText(text)
        self.image.clear()
        self.explain.clear()
        self.cam_class.clear()
        self._set_enabled(False)

    def show_item(self, model, item, title: str, top: list, truth: str | None = None) -> None:
        """Show ``item`` (path/URL/array) predicted by ``model``; top = [[class, p], ...]."""
        self._model, self._item = model, item
        text = title
        if top:
            text += f" — predicted {top[0][0]} ({percent(top[0][1])})"
        if truth is not None:
            text += f", true class {truth}"
        self.title.setText(text)
        classes = model.meta.classes
        self.cam_class.blockSignals(True)
        self.cam_class.clear()
        for cls, p in top[:5]:
            self.cam_class.addItem(f"{cls} ({percent(p)})", classes.index(cls) if cls in classes else None)
        if truth is not None and truth in classes and truth not in [c for c, _ in top[:5]]:
            self.cam_class.addItem(f"{truth} (true class)", classes.index(truth))
        self.cam_class.blockSignals(False)
        self._set_enabled(True)
        self._refresh()

    def _refresh(self) -> None:
        if self._item is None or self._model is None:
            return
        self._gen += 1
        gen = self._gen
        if self._job is not None:
            self._job.cancel()
        cam = self.cam.isChecked()
        cls = self.cam_class.currentData() if cam else None
        self.explain.setText("Computing Grad-CAM…" if cam else "")
        job = QtJob(inf.explain_job, self._model, self._item, cls, cam, 640, parent=self)
        job.finished.connect(lambda res, g=gen: self._shown(res, g))
        job.failed.connect(lambda msg, g=gen: self._failed(msg, g))
        self._job = job
        self.panel.track(job)
        job.start()

    def _shown(self, res: dict, gen: int) -> None:
        if gen != self._gen:
            return  # a newer request superseded this one
        self._result = res
        self._paint()
        if res["overlay"] is not None:
            self.explain.setText(
                f"Warm colours (yellow/red) mark where the model found the evidence for “{res['class_name']}” "
                f"(P = {percent(res['prob'])}). The model sees only the centre square; the dimmed edges "
                f"were cropped away before it looked."
            )
        else:
            self.explain.setText("")

    def _failed(self, msg: str, gen: int) -> None:
        if gen == self._gen:
            self.explain.setText(f"Cannot show this image: {msg}")

    def _paint(self) -> None:
        if not self._result:
            return
        arr = self._result["overlay"] if self._result["overlay"] is not None else self._result["image"]
        size = self.image.size()
        pm = QPixmap.fromImage(qimage_from_array(arr))
        small = max(pm.width(), pm.height()) * 2 <= min(size.width(), size.height())
        self.image.setPixmap(
            pm.scaled(
                size.width() - 4,
                size.height() - 4,
                Qt.KeepAspectRatio,
                Qt.FastTransformation if small else Qt.SmoothTransformation,
            )
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._paint()

    def shown_array(self) -> np.ndarray | None:
        """What is on screen now (overlay when Grad-CAM is on) — for tests."""
        if not self._result:
            return None
        return self._result["overlay"] if self._result["overlay"] is not None else self._result["image"]


# ---------------------------------------------------------------- batch table


def natural_key(name: str) -> list:
    """'2.jpg' before '10.jpg'."""
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class BatchTableModel(QAbstractTableModel):
    """File · Class · Probability · Note, one row per image; rows arrive in batches; sortable."""

    HEADERS = ("File", "Class", "Probability", "Note")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []  # {'index', 'name', 'source', 'label', 'prob', 'note'}

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's idiom; never mutated)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's idiom; never mutated)
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r, c = self.rows[index.row()], index.column()
        if role == Qt.DisplayRole:
            return (r["name"], r["label"] or "—", percent(r["prob"]) if r["prob"] >= 0 else "—", r["note"])[c]
        if role == SORT_ROLE:
            return (natural_key(r["name"]), r["label"], r["prob"], r["note"])[c]
        if role == Qt.ToolTipRole:
            return r["source"] if c == 0 else (r["note"] or None)
        if role == Qt.ForegroundRole and c == 3 and r["note"]:
            return QBrush(ERROR)
        if role == Qt.TextAlignmentRole and c == 2:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == REC_ROLE:
            return r["index"]
        return None

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self.endResetModel()

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        if not 0 <= column < len(self.HEADERS):
            return
        key = ("name", "label", "prob", "note")[column]
        self.layoutAboutToBeChanged.emit()
        self.rows.sort(
            key=(lambda r: natural_key(r["name"])) if key == "name" else (lambda r: r[key]),
            reverse=order == Qt.DescendingOrder,
        )
        self.layoutChanged.emit()


# ---------------------------------------------------------------- confusion matrix


class _CellDelegate(QStyledItemDelegate):
    """Keep a chosen cell's colour (a blue selection would hide it) and frame it instead."""

    def paint(self, painter, option, index) -> None:
        selected = bool(option.state & QStyle.State_Selected)
        option.state &= ~QStyle.State_Selected
        option.state &= ~QStyle.State_HasFocus
        super().paint(painter, option, index)
        if selected:
            painter.save()
            painter.setPen(QPen(QColor("#1f2937"), 3))
            painter.drawRect(option.rect.adjusted(1, 1, -2, -2))
            painter.restore()


class ConfusionMatrix(QTableWidget):
    """Rows: true class; columns: predicted class. Click a cell to see exactly those images."""

    cellChosen = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.setItemDelegate(_CellDelegate(self))
        self.setToolTip(
            "Rows: the true class. Columns: what the model predicted. "
            "The diagonal is correct; click any cell to see its images."
        )
        self.cellClicked.connect(self.cellChosen.emit)

    def set_matrix(self, cm: np.ndarray, classes: list[str]) -> None:
        n = len(classes)
        self.clear()
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"→ {c}" for c in classes])
        self.setVerticalHeaderLabels(classes)
        rows = cm.sum(1)
        for i in range(n):
            for j in range(n):
                v = int(cm[i, j])
                frac = v / rows[i] if rows[i] else 0.0
                item = QTableWidgetItem(str(v))
                item.setTextAlignment(Qt.AlignCenter)
                if i == j:
                    color = QColor.fromHsvF(0.36, 0.15 + 0.55 * frac, 0.98 - 0.25 * frac)
                else:
                    color = QColor.fromHsvF(0.0, 0.08 + 0.7 * frac, 0.99 - 0.1 * frac) if v else QColor("white")
                item.setBackground(QBrush(color))
                f = item.font()
                f.setBold(i == j)
                item.setFont(f)
                item.setToolTip(
                    f"true {classes[i]}, predicted {classes[j]}: {v} image(s) ({100 * frac:.0f} % of {classes[i]})"
                )
                self.setItem(i, j, item)
        self.setMaximumHeight(self.horizontalHeader().height() + 4 + n * 84 if n <= 6 else 16777215)


# ---------------------------------------------------------------- the panel


class ClassifyPanel(QWidget):
    """The "Classify" tab."""

    modelReady = Signal(object)  # the model in use changed (or finished loading)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.setAcceptDrops(True)
        self._jobs: set[QtJob] = set()
        self._entries: list[dict] = [
            {"kind": "imagenet", "title": "Pretrained ImageNet model (before training)", "model": None, "path": None}
        ]
        self._loading: QtJob | None = None
        self._after_load: list = []
        self._queue: list[tuple[list, float]] = []  # (sources, time of the drop)
        self._predict: QtJob | None = None
        self._drop_base = 0
        self._drop_started = 0.0
        self._first_ms: float | None = None
        self.last_first_result_ms: float | None = None
        self._batch: QtJob | None = None
        self._batch_pred = None
        self._eval_job: QtJob | None = None
        self.evaluation: inf.Evaluation | None = None
        self._eval_message: str | None = None  # the last evaluation's note (loss, time, files left out) or failure
        self._thumb_job: QtJob | None = None
        self._gallery_gen = 0
        self._closed = False

        self._build_model_bar()
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_drop_tab(), "Drop images")
        self.tabs.addTab(self._build_batch_tab(), "Batch predict")
        self.tabs.addTab(self._build_eval_tab(), "Evaluate")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(self.model_bar)
        lay.addWidget(self.tabs, 1)

        state.modelChanged.connect(self._on_state_model)
        state.imagesDropped.connect(self.classify)
        state.datasetChanged.connect(self._on_dataset)
        act = QAction("Open model for classifying…", self)
        act.setToolTip("Load a saved Fovea model file and use it in the Classify tab")
        act.triggered.connect(self.choose_model_file)
        self.file_actions = [act]  # the window puts these in its File menu
        if state.model is not None:
            self._on_state_model(state.model)
        self._refresh_model_text()
        self._on_dataset(state.dataset)

    # ------------------------------------------------------------ model bar
    def _build_model_bar(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(34)
        self.model_combo.addItem(self._entries[0]["title"])
        self.model_combo.currentIndexChanged.connect(self._on_model_choice)
        self.open_model_btn = QPushButton("Open model…")
        self.open_model_btn.setToolTip("Use a model file saved by Fovea (Train tab ▸ Save model)")
        self.open_model_btn.clicked.connect(self.choose_model_file)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.model_info.setStyleSheet("color: #374151;")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        lab = QLabel("Model:")
        f = lab.font()
        f.setBold(True)
        lab.setFont(f)
        top.addWidget(lab)
        top.addWidget(self.model_combo)
        top.addWidget(self.open_model_btn)
        top.addStretch(1)
        self.device_label = QLabel(f"Runs on {device_name(pick_device())}")
        self.device_label.setStyleSheet("color: #6b7280;")
        top.addWidget(self.device_label)
        box = QVBoxLayout()
        box.setContentsMargins(0, 0, 0, 4)
        box.addLayout(top)
        box.addWidget(self.model_info)
        self.model_bar = QFrame()
        self.model_bar.setLayout(box)

    def current_entry(self) -> dict:
        return self._entries[max(0, self.model_combo.currentIndex())]

    def current_model(self):
        """The model in use, or None while it is still loading."""
        return self.current_entry()["model"]

    def _refresh_model_text(self) -> None:
        e = self.current_entry()
        model = e["model"]
        if e["kind"] == "imagenet":
            text = (
                "The pretrained network knows 1,000 everyday ImageNet classes (tabby cat, espresso, sneaker …) — "
                "drop any photo to see what it recognises. Train a model in the Train tab to classify your own "
                "classes; it appears here when training ends."
            )
            if model is None:
                text += " (Loads on first use.)"
        elif model is None:
            text = "Loading…"
        else:
            where = "trained in this session" if e["kind"] == "trained" else f"loaded from {e['path']}"
            text = f"{inf.describe_model(model)} — {where}."
        self.model_info.setText(text)

    def _add_entry(self, entry: dict) -> None:
        if entry["kind"] == "trained":
            for i, e in enumerate(self._entries):
                if e["kind"] == "trained":
                    self._entries[i] = entry
                    self.model_combo.setItemText(i, entry["title"])
                    self.model_combo.setCurrentIndex(i)
                    self._on_model_choice(i)
                    return
        self._entries.append(entry)
        self.model_combo.addItem(entry["title"])
        self.model_combo.setCurrentIndex(len(self._entries) - 1)

    def _on_model_choice(self, _index: int) -> None:
        if self.evaluation is not None and getattr(self, "_eval_model", None) is not self.current_model():
            self.clear_evaluation()
        self._refresh_model_text()
        self._update_eval_enabled()
        self._update_batch_buttons()
        if self.current_model() is not None:
            self.modelReady.emit(self.current_model())

    def _on_state_model(self, model) -> None:
        if model is None:
            return
        # a copy: the Train tab may keep training its model while we classify with this one
        job = QtJob(inf.copy_model_job, model, parent=self)
        job.finished.connect(self._trained_copied)
        job.failed.connect(lambda m: self._message(f"Could not use the trained model: {m}"))
        self.track(job)
        job.start()

    def _trained_copied(self, model) -> None:
        names = ", ".join(model.meta.classes[:3]) + (" …" if len(model.meta.classes) > 3 else "")
        self._add_entry(
            {"kind": "trained", "title": f"Trained in this session ({names})", "model": model, "path": None}
        )
        self._message("Classify now uses the model you just trained.")

    def choose_model_file(self) -> None:
        from engine.paths import data_dir

        path, _ = QFileDialog.getOpenFileName(
            self, "Open a saved model", str(data_dir("models")), "Fovea models (*.fovea *.pt *.pth);;All files (*)"
        )
        if path:
            self.open_model_file(path)

    def open_model_file(self, path: str) -> None:
        """Load a saved model in a job and switch to it."""
        job = QtJob(inf.load_model_job, path, parent=self)
        self._message(f"Loading {Path(path).name} …")

        def loaded(model, p=path):
            self._add_entry({"kind": "file", "title": f"File: {Path(p).name}", "model": model, "path": p})
            self._message(f"Classify now uses {Path(p).name}.")

        job.finished.connect(loaded)
        job.failed.connect(lambda m: QMessageBox.warning(self, "Cannot open model", m))
        self.track(job)
        job.start()

    def with_model(self, fn) -> None:
        """Call fn(model) with the model in use, loading the ImageNet model first if needed."""
        entry = self.current_entry()
        if entry["model"] is not None:
            fn(entry["model"])
            return
        self._after_load.append(fn)
        if self._loading is not None:
            return
        self.model_info.setText("Loading the pretrained ImageNet network (about a second)…")
        job = QtJob(inf.load_model_job, None, parent=self)
        job.finished.connect(self._imagenet_loaded)
        job.failed.connect(self._imagenet_failed)
        self._loading = job
        self.track(job)
        job.start()

    def _imagenet_loaded(self, model) -> None:
        self._loading = None
        self._entries[0]["model"] = model
        self._refresh_model_text()
        waiting, self._after_load = self._after_load, []
        for fn in waiting:
            fn(self.current_model() or model)

    def _imagenet_failed(self, message: str) -> None:
        self._loading = None
        self._after_load = []
        self._queue.clear()
        self.model_info.setText(f"The ImageNet model could not be loaded: {message}")
        QMessageBox.warning(self, "ImageNet model unavailable", message)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # load the ImageNet network while the user picks a photo, so the first drop is quick
        if self.current_entry()["model"] is None and self._loading is None and not self._closed:
            self.with_model(lambda _model: None)

    # ------------------------------------------------------------ jobs
    def track(self, job: QtJob) -> None:
        self._jobs.add(job)
        job.ended.connect(lambda _k, j=job: self._jobs.discard(j))

    def shutdown(self) -> None:
        self._closed = True
        self._queue.clear()
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            job.wait(10)

    def _message(self, text: str) -> None:
        self.state.statusMessage.emit(text)

    # ------------------------------------------------------------ tab 1: drop images
    def _build_drop_tab(self) -> QWidget:
        page = QWidget()
        self.results = PlaceholderList(
            "Drop photos, a folder, or an image dragged from your browser anywhere on this window — "
            "or paste one with Ctrl+V.\n\nPredictions appear here as they finish."
        )
        self.results.setItemDelegate(PredictionDelegate(self.results))
        self.results.setUniformItemSizes(True)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.results.currentItemChanged.connect(self._drop_selected)
        add = QPushButton("Add images…")
        add.clicked.connect(self._add_files)
        add_dir = QPushButton("Add folder…")
        add_dir.clicked.connect(self._add_folder)
        paste = QPushButton("Paste")
        paste.setToolTip("Classify the image (or image link) on the clipboard (Ctrl+V)")
        paste.clicked.connect(self.paste)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear_results)
        self.drop_status = QLabel("")
        self.drop_status.setStyleSheet("color: #4b5563;")
        buttons = QHBoxLayout()
        for b in (add, add_dir, paste, clear):
            buttons.addWidget(b)
        buttons.addStretch(1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(buttons)
        ll.addWidget(self.results, 1)
        ll.addWidget(self.drop_status)
        self.drop_detail = ImageDetail(self)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.drop_detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 480])
        lay = QVBoxLayout(page)
        lay.setContentsMargins(4, 6, 4, 4)
        lay.addWidget(split)
        sc = QShortcut(QKeySequence.Paste, page)
        sc.setContext(Qt.WidgetWithChildrenShortcut)
        sc.activated.connect(self.paste)
        self.drop_page = page
        return page

    def dragEnterEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasUrls() or md.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasUrls() or md.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        sources = self.sources_from_mime(event.mimeData())
        if sources:
            event.acceptProposedAction()
            self.tabs.setCurrentWidget(self.drop_page)
            self.classify(sources)

    @staticmethod
    def sources_from_mime(md) -> list:
        out: list = []
        for url in md.urls():
            out.append(url.toLocalFile() if url.isLocalFile() else url.toString())
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

    def paste(self) -> None:
        md = QGuiApplication.clipboard().mimeData()
        sources = self.sources_from_mime(md) if md is not None else []
        if not sources:
            self.drop_status.setText("The clipboard holds no image, image file or image link.")
            return
        self.tabs.setCurrentWidget(self.drop_page)
        self.classify(sources)

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Images to classify", "", "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
        )
        if files:
            self.classify(files)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to classify")
        if folder:
            self.classify([folder])

    def clear_results(self) -> None:
        if self._predict is not None:
            self._predict.cancel()
            self._predict = None  # its late events are ignored; its end no longer pumps
        self._queue.clear()
        self.results.clear()
        self.drop_detail.clear()
        self.drop_status.setText("")

    def classify(self, sources) -> None:
        """Predict files, folders, URLs, QImages or arrays; rows stream into the list."""
        if isinstance(sources, (str, QImage, np.ndarray)):
            sources = [sources]
        items = []
        for s in sources:
            if isinstance(s, QPixmap):
                s = s.toImage()
            if isinstance(s, QImage):
                s = array_from_qimage(s)
            items.append(s)
        if not items:
            return
        self._queue.append((items, time.perf_counter()))
        self._pump()

    def _pump(self) -> None:
        if self._closed or self._predict is not None or not self._queue:
            return
        self.with_model(self._start_predict)

    def _start_predict(self, model) -> None:
        if self._predict is not None or not self._queue or self._closed:
            return
        items, self._drop_started = self._queue.pop(0)
        self._first_ms = None
        job = QtJob(inf.predict_sources, model, items, top=5, thumbnail=THUMB * 2, bs=16, parent=self)
        job.progress.connect(lambda rec, m=model, j=job: self._drop_progress(rec, m, j))
        job.finished.connect(lambda pred, j=job: j is self._predict and self._drop_finished(pred))
        job.failed.connect(lambda msg: self.drop_status.setText(f"Prediction failed: {msg}"))
        job.ended.connect(lambda kind, j=job: self._drop_ended(kind, j))
        self._predict = job
        self.track(job)
        self.drop_status.setText("Classifying…")
        job.start()

    def _drop_progress(self, rec: dict, model, job) -> None:
        if job is not self._predict:
            return  # cleared or superseded
        if rec["type"] == "sources":
            self._drop_base = self.results.count()
            tag = _short_model_name(model)
            for name, item in zip(rec["names"], rec["items"], strict=False):
                w = QListWidgetItem()
                w.setData(REC_ROLE, {"name": name, "waiting": "waiting…", "model": tag})
                w.setData(ITEM_ROLE, item)
                w.setData(MODEL_ROLE, model)
                w.setToolTip(name)
                self.results.addItem(w)
            if not rec["names"]:
                self.drop_status.setText("No image files found in what was dropped.")
            else:  # show the new rows, however long the list already is
                self.results.scrollToItem(self.results.item(self._drop_base), QAbstractItemView.PositionAtTop)
            return
        for r in rec["results"]:
            w = self.results.item(self._drop_base + r["index"])
            if w is None:
                continue
            thumb = r.pop("thumbnail", None)
            if thumb is not None:
                w.setData(Qt.DecorationRole, pixmap_for(thumb, THUMB))
            r["model"] = _short_model_name(model)
            r["ms_text"] = "" if r["error"] else f"{r['ms']:.0f} ms · {r['model']}"
            if r.get("path") and not isinstance(w.data(ITEM_ROLE), np.ndarray):
                w.setData(ITEM_ROLE, r["path"])  # a downloaded URL: reuse the local copy
            w.setData(REC_ROLE, r)
            w.setToolTip(f"{r['source']}\n" + (r["error"] or "\n".join(f"{c}: {percent(p)}" for c, p in r["top"])))
            if self._first_ms is None and not r["error"]:
                self._first_ms = (time.perf_counter() - self._drop_started) * 1000
                self.last_first_result_ms = self._first_ms
            if self.results.currentItem() is None and not r["error"]:
                self.results.setCurrentItem(w)
        self.drop_status.setText(f"{rec['done']} of {rec['total']} done…")

    def _drop_finished(self, pred) -> None:
        n_ok = len(pred.sources) - len(pred.errors)
        parts = [f"Classified {n_ok} image{'s' if n_ok != 1 else ''} in {pred.seconds:.2f} s"]
        if self._first_ms is not None:
            parts.append(f"first result {self._first_ms:.0f} ms after the drop")
        if pred.errors:
            parts.append(f"{len(pred.errors)} could not be read (shown in red)")
        self.drop_status.setText(" · ".join(parts))

    def _drop_ended(self, kind: str, job) -> None:
        if job is not self._predict:
            return
        self._predict = None
        if kind == "cancelled":
            self.drop_status.setText("Stopped.")
        self._pump()

    def _drop_selected(self, current, _previous=None) -> None:
        if current is None:
            return
        rec = current.data(REC_ROLE) or {}
        if rec.get("error") or not rec.get("top"):
            self.drop_detail.clear(f"{rec.get('name', '')}: {rec.get('error') or 'waiting…'}")
            return
        self.drop_detail.show_item(current.data(MODEL_ROLE), current.data(ITEM_ROLE), rec["name"], rec["top"])

    def result_records(self) -> list[dict]:
        """The engine records shown in the list, in order (for tests and scripts)."""
        return [self.results.item(i).data(REC_ROLE) for i in range(self.results.count())]

    @property
    def predicting(self) -> bool:
        return self._predict is not None or bool(self._queue) or self._loading is not None

    # ------------------------------------------------------------ tab 2: batch predict
    def _build_batch_tab(self) -> QWidget:
        page = QWidget()
        self.batch_folder = QLabel("Choose a folder, or use the dataset's test/ images.")
        self.batch_folder.setStyleSheet("color: #374151;")
        self.batch_folder.setTextInteractionFlags(Qt.TextSelectableByMouse)
        choose = QPushButton("Choose folder…")
        choose.clicked.connect(self._choose_batch_folder)
        self.use_test_btn = QPushButton("Dataset test/")
        self.use_test_btn.setToolTip("Predict the open dataset's test/ folder")
        self.use_test_btn.clicked.connect(self.predict_dataset_test)
        self.batch_tta = QCheckBox("TTA")
        self.batch_tta.setToolTip(
            "Test-time augmentation: average of 6 views per image "
            "(centre, mirrored, 4 zoomed corners) — about 6× slower"
        )
        self.batch_stop = QPushButton("Stop")
        self.batch_stop.setEnabled(False)
        self.batch_stop.clicked.connect(lambda: self._batch and self._batch.cancel())
        self.batch_progress = QProgressBar()
        self.batch_progress.setTextVisible(True)
        self.batch_progress.setMaximumWidth(220)
        self.batch_progress.hide()
        self.export_btn = QPushButton("Export CSV…")
        self.export_btn.setToolTip("file,class,probability — one row per image")
        self.export_btn.clicked.connect(self._export_csv)
        self.kaggle_btn = QPushButton("Export Kaggle CSV…")
        self.kaggle_btn.setToolTip("Kaggle Dogs vs Cats submission: id,label with label = P(dog)")
        self.kaggle_btn.clicked.connect(self._export_kaggle)
        row = QHBoxLayout()
        row.addWidget(choose)
        row.addWidget(self.use_test_btn)
        row.addWidget(self.batch_tta)
        row.addWidget(self.batch_stop)
        row.addWidget(self.batch_progress)
        row.addStretch(1)
        row.addWidget(self.export_btn)
        row.addWidget(self.kaggle_btn)
        self.batch_model = BatchTableModel(self)
        self.batch_table = QTableView()
        self.batch_table.setModel(self.batch_model)
        self.batch_table.horizontalHeader().setSortIndicator(0, Qt.AscendingOrder)  # by file name at first
        self.batch_table.setSortingEnabled(True)
        self.batch_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.batch_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.batch_table.setAlternatingRowColors(True)
        self.batch_table.verticalHeader().hide()
        hh = self.batch_table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.Stretch)
        self.batch_table.selectionModel().currentRowChanged.connect(self._batch_selected)
        self.batch_summary = QLabel("")
        self.batch_summary.setStyleSheet("color: #4b5563;")
        self.batch_detail = ImageDetail(self)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.batch_table)
        split.addWidget(self.batch_detail)
        split.setSizes([640, 360])
        lay = QVBoxLayout(page)
        lay.setContentsMargins(4, 6, 4, 4)
        lay.addWidget(self.batch_folder)
        lay.addLayout(row)
        lay.addWidget(split, 1)
        lay.addWidget(self.batch_summary)
        self._update_batch_buttons()
        return page

    def _choose_batch_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to predict")
        if folder:
            self.predict_folder(folder)

    def predict_dataset_test(self) -> None:
        ds = self.state.dataset
        if ds is None or not ds.test:
            return
        self._start_batch(list(ds.test), f"{ds.root.name}/test/ — {len(ds.test)} images")

    def predict_folder(self, folder: str) -> None:
        self._start_batch([str(folder)], str(folder))

    def _start_batch(self, sources: list, title: str) -> None:
        if self._batch is not None:
            self._batch.cancel()
            self._batch.wait(10)
        self.batch_model.clear()
        self._batch_pred = None
        self._batch_items: list = []
        self.batch_folder.setText(title)
        self.batch_summary.setText("Loading the model…")
        self._update_batch_buttons()
        self.with_model(lambda model: self._run_batch(model, sources))

    def _run_batch(self, model, sources: list) -> None:
        self.batch_table.setSortingEnabled(False)  # rows stream in; sorting comes back at the end
        job = QtJob(inf.predict_sources, model, sources, top=1, tta=self.batch_tta.isChecked(), parent=self)
        job.progress.connect(self._batch_progress)
        job.finished.connect(self._batch_finished)
        job.failed.connect(lambda m: self.batch_summary.setText(f"Batch prediction failed: {m}"))
        job.ended.connect(self._batch_ended)
        self._batch = job
        self._batch_model_obj = model
        self.track(job)
        self.batch_stop.setEnabled(True)
        self.batch_progress.show()
        self.batch_progress.setValue(0)
        self.batch_summary.setText("Predicting…")
        job.start()

    def _batch_progress(self, rec: dict) -> None:
        if rec["type"] == "sources":
            self._batch_items = rec["items"]
            self.batch_progress.setMaximum(max(1, len(rec["names"])))
            return
        self.batch_progress.setValue(rec["done"])
        self.batch_model.append(
            [
                {
                    "index": r["index"],
                    "name": r["name"],
                    "source": r["source"],
                    "label": r["label"] or "",
                    "prob": -1.0 if r["error"] else float(r["prob"]),
                    "note": r["error"] or "",
                }
                for r in rec["results"]
            ]
        )

    def _batch_finished(self, pred) -> None:
        self._batch_pred = pred
        n = len(pred.sources)
        rate = n / pred.seconds if pred.seconds > 0 else 0
        text = (
            f"{n - len(pred.errors)} of {n} images predicted in {pred.seconds:.1f} s ({rate:.0f} images/s)"
            f"{' with TTA' if pred.tta else ''}"
        )
        if pred.errors:
            text += f" · {len(pred.errors)} could not be read (see Note)"
        self.batch_summary.setText(text + ". Click a column header to sort.")

    def _batch_ended(self, kind: str) -> None:
        self._batch = None
        self.batch_stop.setEnabled(False)
        self.batch_progress.hide()
        self.batch_table.setSortingEnabled(True)
        if kind == "cancelled":
            self.batch_summary.setText(f"Stopped after {self.batch_model.rowCount()} images.")
        self._update_batch_buttons()

    def _batch_selected(self, current, _prev=None) -> None:
        if not current.isValid():
            return
        idx = current.data(REC_ROLE)
        pred = self._batch_pred
        if pred is None or idx is None or idx in pred.errors:
            return
        top = inf.top_k(pred.probs[idx], pred.classes, 5)
        self.batch_detail.show_item(self._batch_model_obj, self._batch_items[idx], pred.names[idx], top)

    def _update_batch_buttons(self) -> None:
        if not hasattr(self, "export_btn"):
            return
        pred = getattr(self, "_batch_pred", None)
        self.export_btn.setEnabled(pred is not None)
        has_dog = False
        if pred is not None:
            try:
                inf.dog_class_index(pred.classes)
                has_dog = True
            except ValueError:
                pass
        self.kaggle_btn.setEnabled(has_dog)
        self.kaggle_btn.setToolTip(
            "Kaggle Dogs vs Cats submission: id,label with label = P(dog)"
            if has_dog
            else "Kaggle Dogs vs Cats format: needs predictions from a model with a class named 'dog' or 'dogs'"
        )
        ds = self.state.dataset
        self.use_test_btn.setEnabled(ds is not None and bool(ds.test))

    def _export_csv(self) -> None:
        if self._batch_pred is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export predictions", "predictions.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        inf.write_predictions_csv(inf.prediction_rows(self._batch_pred), path)
        self._message(f"Wrote {path}")

    def _export_kaggle(self) -> None:
        if self._batch_pred is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export Kaggle submission", "submission.csv", "CSV (*.csv)")
        if path:
            self.export_kaggle(path)

    def export_kaggle(self, path: str) -> None:
        inf.write_kaggle_csv(inf.kaggle_from_predictions(self._batch_pred), path)
        self._message(f"Wrote {path} (Kaggle format: id,label = P(dog))")

    # ------------------------------------------------------------ tab 3: evaluate
    def _build_eval_tab(self) -> QWidget:
        page = QWidget()
        self.eval_btn = QPushButton("Evaluate on valid/")
        self.eval_btn.setToolTip("Predict every validation image and compare with its true class")
        self.eval_btn.clicked.connect(self.start_evaluation)
        self.eval_tta = QCheckBox("TTA")
        self.eval_tta.setToolTip(
            "Test-time augmentation: average the predictions of 6 views per image — "
            "the centre crop, its mirror image and 4 corner crops zoomed in 15 %"
        )
        self.eval_progress = QProgressBar()
        self.eval_progress.setMaximumWidth(200)
        self.eval_progress.hide()
        self.eval_note = QLabel("")
        self.eval_note.setWordWrap(True)
        self.eval_note.setStyleSheet("color: #4b5563;")
        self.eval_summary = QLabel("")
        self.eval_summary.setWordWrap(True)
        f = self.eval_summary.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        self.eval_summary.setFont(f)
        self.matrix = ConfusionMatrix()
        self.matrix.cellChosen.connect(self.show_cell)
        self.per_class = QTableWidget(0, 4)
        self.per_class.setHorizontalHeaderLabels(["Class", "Images", "Precision", "Recall"])
        self.per_class.verticalHeader().hide()
        self.per_class.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.per_class.setMinimumHeight(80)
        self.per_class.setToolTip(
            "Precision: of the images predicted as this class, the share that are it.\n"
            "Recall: of the images of this class, the share the model found."
        )
        controls = QHBoxLayout()
        controls.addWidget(self.eval_btn)
        controls.addWidget(self.eval_tta)
        controls.addWidget(self.eval_progress)
        controls.addStretch(1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(controls)
        ll.addWidget(self.eval_note)
        ll.addWidget(self.eval_summary)
        cm_title = QLabel("Confusion matrix — rows: true class, columns: predicted. Click a cell.")
        cm_title.setWordWrap(True)
        ll.addWidget(cm_title)
        ll.addWidget(self.matrix, 1)
        ll.addWidget(QLabel("Per class"))
        ll.addWidget(self.per_class)
        guide = QLabel(
            "<b>Reading the galleries</b> (the lesson's plots): <i>most correct</i> — what the model finds "
            "typical of a class; <i>most incorrect</i> — images it was surest about and got wrong, often "
            "mislabelled or unusual; <i>most uncertain</i> — images near the boundary between two classes. "
            "Tick <i>Why this class?</i> under an image to see which parts drove the prediction."
        )
        guide.setWordWrap(True)
        guide.setStyleSheet("color: #4b5563;")
        ll.addWidget(guide)
        ll.addStretch(1)

        self.gallery_mode = QComboBox()
        for label, key in [
            ("Most correct", "correct"),
            ("Most incorrect", "incorrect"),
            ("Most uncertain", "uncertain"),
            ("Confusion-matrix cell", "cell"),
            ("Highest loss (all classes)", "losses"),
        ]:
            self.gallery_mode.addItem(label, key)
        self.gallery_class = QComboBox()
        self.gallery_mode.currentIndexChanged.connect(lambda _: self.refresh_gallery())
        self.gallery_class.currentIndexChanged.connect(lambda _: self.refresh_gallery())
        self.gallery_title = QLabel("")
        self.gallery_title.setWordWrap(True)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.IconMode)
        self.gallery.setIconSize(QSize(104, 104))
        self.gallery.setGridSize(QSize(132, 150))
        self.gallery.setResizeMode(QListView.Adjust)
        self.gallery.setMovement(QListView.Static)
        self.gallery.setWordWrap(True)
        blank = QPixmap(104, 104)
        blank.fill(QColor("#eef1f5"))
        self._blank_icon = QIcon(blank)  # same size as the thumbnails: the layout never jumps
        self.gallery.currentItemChanged.connect(self._gallery_selected)
        grow = QHBoxLayout()
        grow.addWidget(QLabel("Show"))
        grow.addWidget(self.gallery_mode)
        grow.addWidget(QLabel("of class"))
        grow.addWidget(self.gallery_class)
        grow.addStretch(1)
        gal = QWidget()
        gl = QVBoxLayout(gal)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addLayout(grow)
        gl.addWidget(self.gallery_title)
        gl.addWidget(self.gallery, 1)
        self.eval_detail = ImageDetail(self)
        right = QSplitter(Qt.Vertical)
        right.addWidget(gal)
        right.addWidget(self.eval_detail)
        right.setSizes([330, 330])
        split = QSplitter(Qt.Horizontal)
        # the metrics column scrolls on small screens instead of forcing a tall window
        left_scroll = QScrollArea()
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QFrame.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        left_scroll.viewport().setAutoFillBackground(False)
        left.setAutoFillBackground(False)
        split.addWidget(left_scroll)
        split.addWidget(right)
        split.setSizes([430, 620])
        lay = QVBoxLayout(page)
        lay.setContentsMargins(4, 6, 4, 4)
        lay.addWidget(split)
        return page

    def _on_dataset(self, dataset) -> None:
        if self.evaluation is not None:
            self.clear_evaluation()
        self._update_eval_enabled()
        self._update_batch_buttons()

    def _update_eval_enabled(self) -> None:
        if not hasattr(self, "eval_btn"):
            return
        ds, entry = self.state.dataset, self.current_entry()
        model = entry["model"]
        ok = False
        if ds is None:
            note = "Open a dataset to evaluate a model on its valid/ images."
        elif entry["kind"] == "imagenet":
            note = (
                f"Evaluation compares predictions with the true classes of {ds.root.name}/valid/, so it needs a "
                f"model trained on these classes ({', '.join(ds.classes[:4])}). Train one in the Train tab, "
                f"or open a saved model."
            )
        elif model is None:
            note = "The model is still loading…"
        elif list(model.meta.classes) != list(ds.classes):
            note = (
                f"This model's classes ({', '.join(model.meta.classes[:4])}) do not match the dataset's "
                f"({', '.join(ds.classes[:4])}). Open the dataset it was trained on, or another model."
            )
        elif not ds.valid:
            note = "The dataset has no validation images."
        else:
            ok = True
            note = (
                self._eval_message or f"{len(ds.valid)} validation images of {ds.root.name}, {len(ds.classes)} classes."
            )
        running = self._eval_job is not None
        self.eval_btn.setEnabled(ok and not running)
        self.eval_note.setText(note)

    def start_evaluation(self) -> None:
        ds, model = self.state.dataset, self.current_model()
        if ds is None or model is None or self._eval_job is not None:
            return
        self._eval_message = None
        job = QtJob(inf.evaluate, model, list(ds.valid), self.eval_tta.isChecked(), parent=self)
        job.progress.connect(self._eval_progress)
        job.finished.connect(lambda ev, m=model: self.show_evaluation(ev, m))
        job.failed.connect(self._eval_failed)
        job.ended.connect(self._eval_ended)
        self._eval_job = job
        self.track(job)
        self.eval_progress.setMaximum(len(ds.valid))
        self.eval_progress.setValue(0)
        self.eval_progress.show()
        self._update_eval_enabled()
        job.start()

    def _eval_failed(self, message: str) -> None:
        self._eval_message = f"Evaluation failed: {message}"
        self.eval_note.setText(self._eval_message)

    def _eval_progress(self, rec: dict) -> None:
        self.eval_progress.setMaximum(max(1, rec["total"]))
        self.eval_progress.setValue(rec["done"])

    def _eval_ended(self, _kind: str) -> None:
        self._eval_job = None
        self.eval_progress.hide()
        self._update_eval_enabled()

    def clear_evaluation(self) -> None:
        """Forget the shown evaluation (its model or dataset is no longer the one in use)."""
        self.evaluation = None
        self._eval_message = None
        self._gallery_gen += 1
        if self._thumb_job is not None:
            self._thumb_job.cancel()
        self.eval_summary.setText("")
        self.matrix.clear()
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.per_class.setRowCount(0)
        self.gallery.clear()
        self.gallery_title.setText("")
        self.eval_detail.clear()

    def show_evaluation(self, ev: inf.Evaluation, model) -> None:
        """Show an Evaluation (from the job, or built elsewhere) for ``model``."""
        self.evaluation = ev
        self._eval_model = model
        n = len(ev.labels)
        wrong = int((ev.preds != ev.labels).sum())
        self.eval_summary.setText(
            f"Accuracy {percent(ev.accuracy)}{' with TTA' if ev.tta else ''} — {n - wrong} of {n} right, {wrong} wrong"
        )
        extra = f"Cross-entropy loss {ev.loss:.3f} · {ev.seconds:.1f} s"
        if ev.errors:
            extra += f" · {len(ev.errors)} unreadable file(s) left out"
        self._eval_message = extra  # stays under the result (the button's refresh keeps it)
        self.eval_note.setText(extra)
        self.matrix.set_matrix(ev.confusion, ev.classes)
        self.per_class.setRowCount(len(ev.classes))
        counts = ev.confusion.sum(1)
        for i, c in enumerate(ev.classes):
            for j, text in enumerate([c, str(int(counts[i])), percent(ev.precision[i]), percent(ev.recall[i])]):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.per_class.setItem(i, j, item)
        rows_shown = min(len(ev.classes), 8)
        self.per_class.setMaximumHeight(
            self.per_class.horizontalHeader().height()
            + 4
            + rows_shown * self.per_class.verticalHeader().defaultSectionSize()
        )
        self.gallery_class.blockSignals(True)
        self.gallery_class.clear()
        self.gallery_class.addItems(ev.classes)
        self.gallery_class.blockSignals(False)
        self._cell = None
        # open on the lesson's first question: what did it get most wrong?
        self.gallery_mode.blockSignals(True)
        self.gallery_mode.setCurrentIndex(self.gallery_mode.findData("incorrect"))
        self.gallery_mode.blockSignals(False)
        worst = int(np.argmin(np.nan_to_num(ev.recall, nan=1.0))) if len(ev.classes) else 0
        self.gallery_class.setCurrentIndex(worst)
        self.refresh_gallery()

    def show_cell(self, true_class: int, predicted_class: int) -> None:
        """Gallery of exactly the images in a confusion-matrix cell."""
        if self.evaluation is None:
            return
        self._cell = (true_class, predicted_class)
        self.gallery_mode.blockSignals(True)
        self.gallery_mode.setCurrentIndex(self.gallery_mode.findData("cell"))
        self.gallery_mode.blockSignals(False)
        self.refresh_gallery()

    def gallery_indices(self) -> tuple[list[int], str]:
        ev = self.evaluation
        if ev is None:
            return [], ""
        mode = self.gallery_mode.currentData()
        c = max(0, self.gallery_class.currentIndex())
        name = ev.classes[c] if ev.classes else ""
        self.gallery_class.setEnabled(mode not in ("cell", "losses"))
        if mode == "cell":
            if getattr(self, "_cell", None) is None:
                return [], "Click a cell of the confusion matrix to see its images."
            i, j = self._cell
            idx = sorted(ev.cell(i, j), key=lambda k: -float(ev.probs[k, j]))  # most confident first
            what = "correct" if i == j else "mistakes"
            return idx, (
                f"True {ev.classes[i]}, predicted {ev.classes[j]} ({what}): {len(idx)} image"
                f"{'s' if len(idx) != 1 else ''}, most confident first"
            )
        if mode == "correct":
            idx = ev.most_correct(c, 24)
            return idx, f"{name} images the model got right, most confident first ({len(idx)} shown)"
        if mode == "incorrect":
            idx = ev.most_incorrect(c, 24)
            return idx, (
                f"{name} images the model got wrong, most confidently wrong first"
                if idx
                else f"No {name} image was misclassified."
            )
        if mode == "uncertain":
            idx = ev.most_uncertain(c, 24)
            return idx, f"{name} images where the model hesitated most (top two classes closest)"
        idx = ev.top_losses(24)
        return idx, "Images with the highest loss: the model gave their true class the lowest probability"

    def refresh_gallery(self) -> None:
        ev = self.evaluation
        self._gallery_gen += 1
        gen = self._gallery_gen
        if self._thumb_job is not None:
            self._thumb_job.cancel()
        self.gallery.clear()
        if ev is None:
            return
        idx, title = self.gallery_indices()
        self.gallery_title.setText(title)
        for k in idx:
            p = ev.probs[k]
            pred, true = int(ev.preds[k]), int(ev.labels[k])
            mark = "✓" if pred == true else "✗"
            text = f"{mark} {ev.classes[pred]} {percent(float(p[pred]))}"
            if pred != true:
                text += f"\ntrue: {ev.classes[true]}"
            w = QListWidgetItem(self._blank_icon, text)
            w.setData(REC_ROLE, k)
            w.setToolTip(
                f"{ev.paths[k]}\n" + "\n".join(f"{c}: {percent(float(q))}" for c, q in zip(ev.classes, p, strict=False))
            )
            if pred != true:
                w.setForeground(QBrush(ERROR))
            self.gallery.addItem(w)
        self.gallery.scrollToTop()
        if not idx:
            return
        job = QtJob(inf.thumbnail_job, [ev.paths[k] for k in idx], 104, parent=self)
        job.progress.connect(lambda rec, g=gen: self._gallery_thumb(rec, g))
        self._thumb_job = job
        self.track(job)
        job.start()

    def _gallery_thumb(self, rec: dict, gen: int) -> None:
        if gen != self._gallery_gen:
            return
        w = self.gallery.item(rec["index"])
        if w is not None and rec["thumbnail"] is not None:
            w.setIcon(QIcon(pixmap_for(rec["thumbnail"], 104)))

    def gallery_paths(self) -> list[str]:
        ev = self.evaluation
        return [ev.paths[self.gallery.item(i).data(REC_ROLE)] for i in range(self.gallery.count())] if ev else []

    def _gallery_selected(self, current, _prev=None) -> None:
        if current is None or self.evaluation is None:
            return
        ev, k = self.evaluation, current.data(REC_ROLE)
        top = inf.top_k(ev.probs[k], ev.classes, min(5, len(ev.classes)))
        self.eval_detail.show_item(
            self._eval_model, ev.paths[k], Path(ev.paths[k]).name, top, truth=ev.classes[int(ev.labels[k])]
        )
