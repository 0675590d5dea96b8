"""Dataset browser: class list with counts, virtualised thumbnail grid, full image view, Problems view."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.data import Problem, verify_dataset
from engine.images import image_info, load_rgb
from engine.thumbnails import THUMB_SIZE, ThumbnailRequests, thumbnail_job
from gui.jobs import QtJob

CELL = QSize(THUMB_SIZE + 20, THUMB_SIZE + 28)
PIXMAP_CACHE = 3000


def pil_to_qimage(im) -> QImage:
    """Copy an RGB PIL image into a QImage."""
    im = im.convert("RGB")
    data = im.tobytes()
    return QImage(data, im.size[0], im.size[1], 3 * im.size[0], QImage.Format_RGB888).copy()


def _placeholder(text: str, color: str) -> QPixmap:
    pm = QPixmap(THUMB_SIZE, THUMB_SIZE)
    pm.fill(QColor("#eef1f5"))
    p = QPainter(pm)
    p.setPen(QColor(color))
    f = QFont()
    f.setPointSize(22 if len(text) <= 2 else 10)
    p.setFont(f)
    p.drawText(pm.rect(), Qt.AlignCenter, text)
    p.end()
    return pm


class ThumbnailModel(QAbstractListModel):
    """(path, class, split) rows; thumbnails requested lazily when the view asks for them."""

    PathRole = Qt.UserRole + 1

    def __init__(self, requests: ThumbnailRequests, parent=None):
        super().__init__(parent)
        self.requests = requests
        self.rows: list[tuple[str, str, str]] = []
        self._row_of: dict[str, int] = {}
        self._pixmaps: dict[str, QPixmap] = {}
        self._errors: dict[str, str] = {}
        self._asked: set[str] = set()
        self._loading = _placeholder("…", "#8a94a6")
        self._broken = _placeholder("✕", "#c0392b")

    def set_rows(self, rows: list[tuple[str, str, str]]) -> None:
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
            pm = self._pixmaps.get(path)
            if pm is not None:
                return pm
            if path in self._errors:
                return self._broken
            if path not in self._asked:
                self._asked.add(path)
                self.requests.request([path])
            return self._loading
        if role == Qt.ToolTipRole:
            err = self._errors.get(path)
            tip = f"{path}\nclass: {cls or '—'} · split: {split}"
            return tip + (f"\nproblem: {err}" if err else "")
        if role == self.PathRole:
            return path
        return None

    def thumbnail_ready(self, record: dict) -> None:
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
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.DecorationRole, Qt.ToolTipRole])

    def mark_bad(self, path: str, reason: str) -> None:
        self._errors[path] = reason
        self._pixmaps.pop(path, None)
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.DecorationRole, Qt.ToolTipRole])

    def loaded_count(self) -> int:
        return len(self._pixmaps)


class ImageDialog(QDialog):
    """Full image with size, mode and file info; decoded off the UI thread."""

    def __init__(self, path: str, cls: str, split: str, parent=None):
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
        for key in (
            "File",
            "Folder",
            "Class",
            "Split",
            "Size",
            "Mode",
            "Format",
            "Frames",
            "EXIF orientation",
            "File size",
        ):
            lab = QLabel("…")
            lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
            lab.setWordWrap(True)
            self.info[key] = lab
            form.addRow(key + ":", lab)
        self.info["File"].setText(os.path.basename(path))
        self.info["Folder"].setText(os.path.dirname(path))
        self.info["Class"].setText(cls or "— (unlabelled)")
        self.info["Split"].setText(split)
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
        self.job = QtJob(self._load, path, parent=self)
        self.job.finished.connect(self._show)
        self.job.failed.connect(lambda m: self.image_label.setText(f"Cannot show this image:\n{m}"))
        self.job.start()

    @staticmethod
    def _load(path: str, stop=None):
        yield {"loading": path}
        info = image_info(path)
        info["bytes"] = os.path.getsize(path)
        return info, pil_to_qimage(load_rgb(path))

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
        if pm.width() < 256:  # tiny images (Fashion-MNIST) are scaled up crisply
            pm = pm.scaled(
                pm.width() * max(1, 256 // max(1, pm.width())),
                pm.height() * max(1, 256 // max(1, pm.width())),
                Qt.KeepAspectRatio,
                Qt.FastTransformation,
            )
        self.image_label.setPixmap(pm)

    def done(self, r) -> None:
        self.job.cancel()
        self.job.wait(5)
        super().done(r)


class DatasetBrowser(QWidget):
    """The "Data" tab."""

    verified = Signal(int)  # number of bad images found by verification

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.file_actions = []  # none for the window's File menu
        self.state = state
        self.dataset = None
        self._verify: QtJob | None = None
        self._bad: list[Problem] = []
        self.verify_state = "idle"  # idle | pending | running | done
        self._closed = False

        self.requests = ThumbnailRequests()
        self.model = ThumbnailModel(self.requests, self)
        self._thumbs = QtJob(thumbnail_job, self.requests, THUMB_SIZE, 2, parent=self)
        self._thumbs.progress.connect(self.model.thumbnail_ready)
        self._thumbs.start()

        self.header = QLabel("No dataset open. Use File ▸ Open dataset folder… or drop a folder here.")
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-size: 13pt; padding: 4px 2px;")
        self.verify_bar = QProgressBar()
        self.verify_bar.setFormat("Verifying images %v / %m")
        self.verify_bar.setMaximumWidth(260)
        self.verify_bar.hide()

        self.classes = QTreeWidget()
        self.classes.setHeaderLabels(["Class", "Train", "Valid"])
        self.classes.setRootIsDecorated(False)
        self.classes.setUniformRowHeights(True)
        self.classes.header().setSectionResizeMode(0, QHeaderView.Stretch)
        self.classes.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.classes.header().setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.classes.itemSelectionChanged.connect(self._refresh_grid)
        self.split = QComboBox()
        self.split.addItems(["train", "valid", "test", "all"])
        self.split.currentIndexChanged.connect(self._refresh_grid)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Classes"))
        ll.addWidget(self.classes, 1)
        srow = QHBoxLayout()
        srow.addWidget(QLabel("Show split:"))
        srow.addWidget(self.split, 1)
        ll.addLayout(srow)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color: #555;")
        ll.addWidget(self.legend)

        self.grid = QListView()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.Batched)  # 25,000 items lay out in slices, the UI keeps running
        self.grid.setBatchSize(400)
        self.grid.setGridSize(CELL)
        self.grid.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.grid.setSpacing(4)
        self.grid.setWordWrap(False)
        self.grid.setTextElideMode(Qt.ElideMiddle)
        self.grid.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.grid.setModel(self.model)
        self.grid.doubleClicked.connect(self.open_image)
        self.grid.setToolTip("Double-click an image to see it full size with its details")

        self.problems = QTableWidget(0, 3)
        self.problems.setHorizontalHeaderLabels(["File", "Split", "Problem"])
        self.problems.horizontalHeader().setSectionResizeMode(0, QHeaderView.Interactive)
        self.problems.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.problems.setColumnWidth(0, 420)
        self.problems.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.problems.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.problems.verticalHeader().hide()
        self.problems.setWordWrap(False)

        self.views = QTabWidget()
        self.views.addTab(self.grid, "Images")
        self.views.addTab(self.problems, "Problems")

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.views)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 900])
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.verify_bar)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)

        state.datasetChanged.connect(self.set_dataset)

    # ------------------------------------------------------------ dataset
    def set_dataset(self, dataset) -> None:
        self._stop_verify()
        self.dataset = dataset
        self._bad = []
        if dataset is None:
            return
        self.header.setText(f"<b>{dataset.root.name}</b> &nbsp; <span style='color:#555'>{dataset.root}</span>")
        self.classes.blockSignals(True)
        self.classes.clear()
        all_item = QTreeWidgetItem(
            [f"All classes ({len(dataset.classes)})", str(len(dataset.train)), str(len(dataset.valid))]
        )
        all_item.setData(0, Qt.UserRole, None)
        for col in (1, 2):
            all_item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
        self.classes.addTopLevelItem(all_item)
        for c, n in dataset.counts().items():
            item = QTreeWidgetItem([c, str(n["train"]), str(n["valid"])])
            item.setData(0, Qt.UserRole, c)
            for col in (1, 2):
                item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
            self.classes.addTopLevelItem(item)
        self.classes.setCurrentItem(all_item)
        self.classes.blockSignals(False)
        self.split.setItemText(2, f"test ({len(dataset.test)} unlabelled)")
        note = []
        if dataset.valid_is_auto:
            note.append("No valid/ folder: a seeded 20 % of train/ is used for validation.")
        elif dataset.valid_dirname != "valid":
            note.append(f"Validation images come from {dataset.valid_dirname}/.")
        self.legend.setText(" ".join(note))
        self._refresh_grid()
        self._refresh_problems()
        self.verify_state = "pending"
        # let the first screen of thumbnails decode before verification competes for the cores
        QTimer.singleShot(300, lambda ds=dataset: self._start_verify() if self.dataset is ds else None)

    def show_error(self, path: str, message: str) -> None:
        """The path could not be opened as a dataset: say so in the Problems view."""
        self._stop_verify()
        self.dataset = None
        self.model.set_rows([])
        self.classes.clear()
        self.header.setText(f"<b>Could not open</b> {path}")
        self.problems.setRowCount(0)
        self._add_problem_rows([Problem(path, message)])
        self.views.setTabText(1, "Problems (1)")
        self.views.setCurrentWidget(self.problems)

    def _rows_for(self, split: str, cls: str | None) -> list[tuple[str, str, str]]:
        ds = self.dataset
        rows = []
        splits = ("train", "valid", "test") if split == "all" else (split,)
        names = ds.classes
        for s in splits:
            if s == "test":
                if cls is None:
                    rows.extend((p, "", "test") for p in ds.test)
            elif cls is None:
                rows.extend((p, names[label], s) for p, label in getattr(ds, s))
            else:
                want = names.index(cls)
                rows.extend((p, cls, s) for p, label in getattr(ds, s) if label == want)
        return rows

    def _refresh_grid(self) -> None:
        if self.dataset is None:
            return
        item = self.classes.currentItem()
        cls = item.data(0, Qt.UserRole) if item else None
        split = ("train", "valid", "test", "all")[self.split.currentIndex()]
        self.model.set_rows(self._rows_for(split, cls))
        self.views.setTabText(0, f"Images ({self.model.rowCount()})")
        self.grid.scrollToTop()

    # ------------------------------------------------------------ problems
    def _refresh_problems(self) -> None:
        self.problems.setRowCount(0)
        self._add_problem_rows(self.dataset.problems + self._bad)

    def _add_problem_rows(self, problems: list[Problem]) -> None:
        self.problems.setUpdatesEnabled(False)
        for p in problems:
            r = self.problems.rowCount()
            self.problems.insertRow(r)
            shown = p.path
            if self.dataset is not None:
                try:
                    shown = str(Path(p.path).relative_to(self.dataset.root))
                except ValueError:
                    pass
            for c, text in enumerate((shown, p.split or "—", p.reason)):
                it = QTableWidgetItem(text)
                it.setToolTip(p.path if c == 0 else text)
                self.problems.setItem(r, c, it)
        self.problems.setUpdatesEnabled(True)
        n = self.problems.rowCount()
        self.views.setTabText(1, f"Problems ({n})" if n else "Problems (none)")

    def problem_count(self) -> int:
        return self.problems.rowCount()

    # ------------------------------------------------------------ verification
    def _start_verify(self) -> None:
        if self._closed:
            return
        self.verify_state = "running"
        job = QtJob(verify_dataset, self.dataset, parent=self)
        job.progress.connect(lambda rec, j=job: self._verify_progress(rec, j))
        job.finished.connect(lambda bad, j=job: self._verify_done(bad, j))
        job.ended.connect(lambda _: self.verify_bar.hide())
        self.verify_bar.setRange(0, max(1, len(self.dataset.all_paths())))
        self.verify_bar.setValue(0)
        self.verify_bar.show()
        self._verify = job
        job.start()

    def _verify_progress(self, rec: dict, job=None) -> None:
        if job is not self._verify:
            return  # from a dataset that is no longer shown
        self.verify_bar.setValue(rec["done"])
        if rec["new_problems"]:
            self._bad.extend(rec["new_problems"])
            self._add_problem_rows(rec["new_problems"])
            for p in rec["new_problems"]:
                self.model.mark_bad(p.path, p.reason)

    def _verify_done(self, bad, job=None) -> None:
        if job is not self._verify:
            return
        self.verify_state = "done"
        n = len(bad)
        total = len(self.dataset.problems) + n
        self.state.statusMessage.emit(
            f"Checked every image: {n} could not be decoded; {total} problem(s) in all"
            if total
            else "Checked every image: no problems"
        )
        self.verified.emit(n)

    def _stop_verify(self) -> None:
        if self._verify is not None:
            self._verify.cancel()
            self._verify.wait(10)
            self._verify = None
        self.verify_bar.hide()

    # ------------------------------------------------------------ image view
    def open_image(self, index) -> ImageDialog:
        path, cls, split = self.model.rows[index.row()]
        dlg = ImageDialog(path, cls, split, self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def shutdown(self) -> None:
        self._closed = True
        self._stop_verify()
        self._thumbs.cancel()
        self._thumbs.wait(10)
