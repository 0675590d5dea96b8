"""The Evaluate tab's left column: Evaluate button, TTA, progress, accuracy, confusion matrix, per class."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.classify.confusion_matrix import ConfusionMatrix
from gui.classify.display import bold, note_style, percent

GUIDE = (
    "<b>Reading the galleries</b> (the lesson's plots): <i>most correct</i> — what the model finds "
    "typical of a class; <i>most incorrect</i> — images it was surest about and got wrong, often "
    "mislabelled or unusual; <i>most uncertain</i> — images near the boundary between two classes. "
    "Tick <i>Why this class?</i> under an image to see which parts drove the prediction."
)


def note_label(text: str = "", style: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(note_style() if style is None else style)
    return label


class MetricsColumn(QWidget):
    """Shows an evaluation's numbers; emits Evaluate and matrix-cell clicks."""

    evaluateRequested = Signal()
    cellChosen = Signal(int, int)  # (true class, predicted class)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.eval_btn = QPushButton("Evaluate on valid/")
        self.eval_btn.setToolTip("Predict every validation image and compare with its true class")
        self.eval_btn.clicked.connect(self.evaluateRequested)
        self.eval_tta = QCheckBox("TTA")
        self.eval_tta.setToolTip(
            "Test-time augmentation: average the predictions of 6 views per image — "
            "the centre crop, its mirror image and 4 corner crops zoomed in 15 %"
        )
        self.eval_progress = QProgressBar()
        self.eval_progress.setMaximumWidth(200)
        self.eval_progress.hide()
        self.eval_note = note_label()
        self.eval_summary = bold(note_label(style=""), 1.25)
        self.matrix = ConfusionMatrix()
        self.matrix.cellChosen.connect(self.cellChosen)
        self.per_class = self._build_per_class()
        controls = QHBoxLayout()
        controls.addWidget(self.eval_btn)
        controls.addWidget(self.eval_tta)
        controls.addWidget(self.eval_progress)
        controls.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(controls)
        lay.addWidget(self.eval_note)
        lay.addWidget(self.eval_summary)
        lay.addWidget(note_label("Confusion matrix — rows: true class, columns: predicted. Click a cell.", style=""))
        lay.addWidget(self.matrix, 1)
        lay.addWidget(QLabel("Per class"))
        lay.addWidget(self.per_class)
        lay.addWidget(note_label(GUIDE))
        lay.addStretch(1)

    @staticmethod
    def _build_per_class() -> QTableWidget:
        table = QTableWidget(0, 4)
        table.setHorizontalHeaderLabels(["Class", "Images", "Precision", "Recall"])
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        table.setMinimumHeight(80)
        table.setToolTip(
            "Precision: of the images predicted as this class, the share that are it.\n"
            "Recall: of the images of this class, the share the model found."
        )
        return table

    # setters: show the controller's evaluation
    def set_can_evaluate(self, enabled: bool, note: str) -> None:
        self.eval_btn.setEnabled(enabled)
        self.eval_note.setText(note)

    def set_running(self, running: bool, total: int = 0) -> None:
        self.eval_progress.setMaximum(max(1, total))
        self.eval_progress.setValue(0)
        self.eval_progress.setVisible(running)

    def set_progress(self, done: int, total: int) -> None:
        self.eval_progress.setMaximum(max(1, total))
        self.eval_progress.setValue(done)

    def set_note(self, text: str) -> None:
        self.eval_note.setText(text)

    def tta(self) -> bool:
        return self.eval_tta.isChecked()

    def show_evaluation(self, ev, note: str) -> None:
        n = len(ev.labels)
        wrong = int((ev.preds != ev.labels).sum())
        self.eval_summary.setText(
            f"Accuracy {percent(ev.accuracy)}{' with TTA' if ev.tta else ''} — {n - wrong} of {n} right, {wrong} wrong"
        )
        self.eval_note.setText(note)
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
        header = self.per_class.horizontalHeader().height()
        self.per_class.setMaximumHeight(header + 4 + rows_shown * self.per_class.verticalHeader().defaultSectionSize())

    def clear(self) -> None:
        self.eval_summary.setText("")
        self.matrix.clear_matrix()
        self.per_class.setRowCount(0)
