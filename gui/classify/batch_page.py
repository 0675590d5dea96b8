"""The "Batch predict" tab's view: folder buttons, TTA, Stop and progress, exports, the table, the large view."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui import dialogs
from gui.classify.batch_table import BatchTableModel
from gui.classify.display import REC_ROLE, note_style
from gui.classify.image_detail import ImageDetail

KAGGLE_TIP = "Kaggle Dogs vs Cats submission: id,label with label = P(dog)"
DIALOG_KIND = "predictions"  # gui.dialogs remembers the last folder per kind of file
EMPTY = "Try it on many images: choose a folder, or use the dataset's test/ images. Then export the predictions."
KAGGLE_NEEDS_DOG = "Kaggle Dogs vs Cats format: needs predictions from a model with a class named 'dog' or 'dogs'"


class BatchPage(QWidget):
    """Shows the batch the controller runs; emits what the user asks for."""

    folderChosen = Signal(str)
    testRequested = Signal()  # predict the dataset's test/ folder
    stopRequested = Signal()
    csvChosen = Signal(str)  # export predictions to this path
    kaggleChosen = Signal(str)  # export a Kaggle submission to this path
    rowSelected = Signal(int)  # the index of the image (in the job's sources) of the chosen row

    def __init__(self, parent=None):
        super().__init__(parent)
        self.batch_folder = QLabel(EMPTY)
        self.batch_folder.setWordWrap(True)
        self.batch_folder.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.batch_table = self._build_table()
        self.batch_summary = QLabel("")
        self.batch_summary.setStyleSheet(note_style())
        self.detail = ImageDetail()
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.batch_table)
        split.addWidget(self.detail)
        split.setSizes([640, 360])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 6, 4, 4)
        lay.addWidget(self.batch_folder)
        lay.addLayout(self._build_controls())
        lay.addWidget(split, 1)
        lay.addWidget(self.batch_summary)

    def _build_controls(self) -> QHBoxLayout:
        choose = QPushButton("Choose folder…")
        choose.setToolTip("Predict every image in a folder (and its subfolders).")
        choose.clicked.connect(self._choose_folder)
        self.use_test_btn = QPushButton("Dataset test/")
        self.use_test_btn.setToolTip("Predict the open dataset's test/ folder")
        self.use_test_btn.clicked.connect(self.testRequested)
        self.batch_tta = QCheckBox("TTA")
        self.batch_tta.setToolTip(
            "Test-time augmentation: average of 6 views per image (centre, mirrored, 4 zoomed corners) — about 6× slower"
        )
        self.batch_stop = QPushButton("Stop")
        self.batch_stop.setToolTip("Stop predicting; the rows so far stay.")
        self.batch_stop.setEnabled(False)
        self.batch_stop.clicked.connect(self.stopRequested)
        self.batch_progress = QProgressBar()
        self.batch_progress.setTextVisible(True)
        self.batch_progress.setMaximumWidth(220)
        self.batch_progress.hide()
        self.export_btn = QPushButton("Export CSV…")
        self.export_btn.setToolTip(
            "Save the predictions as a CSV file: file, class, probability — one row per image (Ctrl+S)."
        )
        self.export_btn.clicked.connect(
            lambda: self._choose_export(self.csvChosen, "Export predictions", "predictions.csv")
        )
        self.kaggle_btn = QPushButton("Export Kaggle CSV…")
        self.kaggle_btn.setToolTip(KAGGLE_TIP)
        self.kaggle_btn.clicked.connect(
            lambda: self._choose_export(self.kaggleChosen, "Export Kaggle submission", "submission.csv")
        )
        row = QHBoxLayout()
        for w in (choose, self.use_test_btn, self.batch_tta, self.batch_stop, self.batch_progress):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.export_btn)
        row.addWidget(self.kaggle_btn)
        save = QShortcut(QKeySequence.Save, self)
        save.setContext(Qt.WidgetWithChildrenShortcut)
        save.activated.connect(lambda: self.export_btn.isEnabled() and self.export_btn.click())
        return row

    def _build_table(self) -> QTableView:
        self.table_model = BatchTableModel(self)
        table = QTableView()
        table.setModel(self.table_model)
        table.horizontalHeader().setSortIndicator(0, Qt.AscendingOrder)  # by file name at first
        table.setSortingEnabled(True)
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.verticalHeader().hide()
        hh = table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.Stretch)
        table.selectionModel().currentRowChanged.connect(self._on_current_row)
        return table

    # setters: show the controller's batch
    def start_rows(self, title: str, summary: str) -> None:
        self.table_model.clear()
        self.batch_folder.setText(title)
        self.batch_summary.setText(summary)

    def append_rows(self, rows: list[dict]) -> None:
        self.table_model.append(rows)

    def set_running(self, running: bool) -> None:
        self.batch_stop.setEnabled(running)
        self.batch_progress.setVisible(running)
        self.batch_progress.setValue(0)
        self.batch_table.setSortingEnabled(not running)  # rows stream in; sorting comes back at the end

    def set_progress(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.batch_progress.setMaximum(max(1, total))
        self.batch_progress.setValue(done)

    def set_summary(self, text: str) -> None:
        self.batch_summary.setText(text)

    def set_exports(self, csv: bool, kaggle: bool) -> None:
        self.export_btn.setEnabled(csv)
        self.kaggle_btn.setEnabled(kaggle)
        self.kaggle_btn.setToolTip(KAGGLE_TIP if kaggle else KAGGLE_NEEDS_DOG)

    def set_test_available(self, available: bool) -> None:
        self.use_test_btn.setEnabled(available)

    def tta(self) -> bool:
        return self.batch_tta.isChecked()

    def _on_current_row(self, current, _previous=None) -> None:
        index = current.data(REC_ROLE) if current.isValid() else None
        if index is not None:
            self.rowSelected.emit(index)

    def _choose_folder(self) -> None:
        folder = dialogs.existing_folder(self, "Folder of images to predict", "predict_folder")
        if folder:
            self.folderChosen.emit(folder)

    def _choose_export(self, signal, title: str, suggested: str) -> None:
        path, _ = dialogs.save_file_name(self, title, DIALOG_KIND, suggested, "CSV (*.csv)")
        if path:
            signal.emit(path)
