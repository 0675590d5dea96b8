"""The "Copy cluster command…" dialog: the torchrun line to run on every machine and a SLURM sbatch
script (engine.cli.launch.cluster_commands) for the tab's settings and dataset, each with a Copy button."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from engine.config import TrainConfig


class ClusterDialog(QDialog):
    def __init__(self, config: TrainConfig, dataset: str, output: str, nproc: int = 1, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Train on a cluster")
        self.config, self.dataset, self.output = config, dataset, output
        mono = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        self.nodes_spin = QSpinBox()
        self.nodes_spin.setRange(1, 1024)
        self.nodes_spin.setValue(2)
        self.nodes_spin.setToolTip("How many machines take part")
        self.nproc_spin = QSpinBox()
        self.nproc_spin.setRange(1, 64)
        self.nproc_spin.setValue(max(1, nproc))
        self.nproc_spin.setToolTip("Processes on each machine: one per GPU")
        self.torchrun_text, self.sbatch_text = QPlainTextEdit(), QPlainTextEdit()
        for box in (self.torchrun_text, self.sbatch_text):
            box.setReadOnly(True)
            box.setFont(mono)
        self.torchrun_text.setMaximumHeight(90)
        self.torchrun_text.setToolTip("Run this on every machine (replace HEAD_NODE with the first machine's name)")
        self.sbatch_text.setToolTip("Save as train.sbatch and submit it with: sbatch train.sbatch")
        self.copy_torchrun = QPushButton("Copy")
        self.copy_torchrun.setToolTip("Copy the torchrun line to the clipboard")
        self.copy_sbatch = QPushButton("Copy")
        self.copy_sbatch.setToolTip("Copy the SLURM script to the clipboard")
        note = QLabel(
            "Every machine must see the dataset, Fovea and the output folder at these paths. "
            "The model is written to the output path when training ends."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Machines", self.nodes_spin)
        form.addRow("Processes per machine", self.nproc_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addLayout(self._titled("torchrun (on every machine)", self.copy_torchrun))
        lay.addWidget(self.torchrun_text)
        lay.addLayout(self._titled("SLURM batch script", self.copy_sbatch))
        lay.addWidget(self.sbatch_text, 1)
        lay.addWidget(buttons)
        self.nodes_spin.valueChanged.connect(self.refresh)
        self.nproc_spin.valueChanged.connect(self.refresh)
        self.copy_torchrun.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.torchrun_text.toPlainText())
        )
        self.copy_sbatch.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.sbatch_text.toPlainText()))
        self.resize(760, 520)
        self.refresh()

    @staticmethod
    def _titled(title: str, button: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel(f"<b>{title}</b>"))
        row.addStretch(1)
        row.addWidget(button)
        return row

    def refresh(self) -> None:
        from engine.cli.launch import cluster_commands

        line, script = cluster_commands(
            self.config, self.dataset, self.output, nproc=self.nproc_spin.value(), nnodes=self.nodes_spin.value()
        )
        self.torchrun_text.setPlainText(line)
        self.sbatch_text.setPlainText(script)
