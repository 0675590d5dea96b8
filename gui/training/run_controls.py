"""Start, Cancel, the processes to train in and the cluster command, with the run's progress, time left
and status under them; then the Export group (save the model, export ONNX).

The labels keep a fixed minimum height (a line for the time left, three for the status), so the
buttons stay where they are when a run starts and the texts change (a click aimed at Cancel lands).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.training.stage_log import StageLog

STATUS_LINES = 3
START_KEYS, SAVE_KEYS = "Ctrl+Return", "Ctrl+S"
START_TIP = f"Train with these settings, continuing the current model when it can ({START_KEYS})"


def shortcut_text(keys: str) -> str:
    return QKeySequence(keys).toString(QKeySequence.NativeText)


class ExportBox(QGroupBox):
    """Where a trained model goes: a Fovea model file, or ONNX for other runtimes."""

    saveRequested = Signal()
    onnxRequested = Signal()

    def __init__(self):
        super().__init__("Export")
        self.save_button = QPushButton(QIcon.fromTheme("document-save"), "Save model (.pth)…")
        self.save_button.setToolTip(
            "Write the trained model to one file — weights, classes, preprocessing, metrics — that the Classify "
            f"tab and `fovea predict` open ({shortcut_text(SAVE_KEYS)})"
        )
        self.onnx_button = QPushButton("Export ONNX…")
        self.onnx_button.setToolTip("Write the model as ONNX, to run it outside Fovea (onnxruntime, phones, browsers)")
        row = QHBoxLayout(self)
        row.addWidget(self.save_button)
        row.addWidget(self.onnx_button)
        self.save_button.clicked.connect(self.saveRequested)
        self.onnx_button.clicked.connect(self.onnxRequested)


class RunControls(QWidget):
    startRequested = Signal()
    cancelRequested = Signal()
    saveRequested = Signal()
    onnxRequested = Signal()
    clusterRequested = Signal()

    def __init__(self):
        super().__init__()
        self.start_button = QPushButton(QIcon.fromTheme("media-playback-start"), "Start training")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(30)
        self.cancel_button = QPushButton(QIcon.fromTheme("process-stop"), "Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; the model keeps its last finished epoch")
        self.new_model_note = QLabel()  # "The image size changed: a new model starts…"
        self.new_model_note.setWordWrap(True)
        self.new_model_note.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        self.new_model_note.hide()
        self.procs_label = QLabel("Processes")
        self.procs_spin = QSpinBox()
        self.procs_spin.setRange(1, 1)
        self.procs_spin.setToolTip(
            "Train in this many processes, one per GPU (data-parallel: each sees a share of every epoch's "
            "images). 1 trains here, in the window"
        )
        self.cluster_button = QPushButton("Copy cluster command…")
        self.cluster_button.setToolTip(
            "The torchrun line and a SLURM script that train these settings on several machines"
        )
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setToolTip("Progress of the run (features, then batches)")
        self.eta_label = QLabel()
        self.stage_log = StageLog()  # Auto's stages
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status_label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        line = self.fontMetrics().lineSpacing()
        self.eta_label.setMinimumHeight(line)
        self.status_label.setMinimumHeight(STATUS_LINES * line)
        self.export_box = ExportBox()
        self.save_button = self.export_box.save_button
        self._lay_out()
        self.gpus, self.custom = 1, True
        self.show_processes(1)
        self.start_button.clicked.connect(self.startRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.cluster_button.clicked.connect(self.clusterRequested)
        self.export_box.saveRequested.connect(self.saveRequested)
        self.export_box.onnxRequested.connect(self.onnxRequested)

    def _lay_out(self) -> None:
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 6, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.start_button, 2)
        row.addWidget(self.cancel_button, 1)
        col.addLayout(row)
        col.addWidget(self.new_model_note)
        procs = QHBoxLayout()
        procs.addWidget(self.procs_label)
        procs.addWidget(self.procs_spin)
        procs.addStretch(1)
        procs.addWidget(self.cluster_button)
        col.addLayout(procs)
        col.addWidget(self.progress)
        col.addWidget(self.eta_label)
        col.addWidget(self.stage_log)
        col.addWidget(self.status_label)
        col.addWidget(self.export_box)

    def start_if_enabled(self) -> None:
        """What the Start shortcut does (the view owns the shortcut: it works wherever the focus is in the tab)."""
        if self.start_button.isEnabled():
            self.startRequested.emit()

    def show_processes(self, gpus: int | None = None) -> None:
        """The Processes choice, shown only with 2 or more GPUs on this computer, and like the cluster
        command only for Custom's settings (None: the GPUs as before)."""
        self.gpus = self.gpus if gpus is None else gpus
        self.procs_spin.setRange(1, max(1, self.gpus))
        self.procs_label.setVisible(self.gpus >= 2 and self.custom)
        self.procs_spin.setVisible(self.gpus >= 2 and self.custom)
        self.cluster_button.setVisible(self.custom)

    def show_custom(self, custom: bool) -> None:
        self.custom = custom
        self.show_processes()

    def show_new_model(self, reason: str | None) -> None:
        self.new_model_note.setText(reason or "")
        self.new_model_note.setVisible(bool(reason))

    def show_buttons(
        self, can_start: bool, can_cancel: bool, can_save: bool, start_tip: str = "", start_text: str = ""
    ) -> None:
        self.start_button.setEnabled(can_start)
        self.start_button.setText(start_text or "Start training")
        self.start_button.setToolTip(start_tip or START_TIP)
        self.cancel_button.setEnabled(can_cancel)
        self.export_box.setEnabled(can_save)

    def show_progress(self, value: int | None, caption: str | None = None) -> None:
        """Progress in per mille (None: leave it) and its caption (None: leave it)."""
        if value is not None:
            self.progress.setValue(value)
        if caption is not None:
            self.progress.setFormat(caption)
