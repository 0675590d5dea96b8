"""The top of the Train tab: which model is current (what Start continues and Classify uses), and the
actions on it — a new model from the pretrained weights, back to the best epoch of its run."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from gui import theme


class ModelBar(QWidget):
    newModelRequested = Signal()
    revertRequested = Signal()

    def __init__(self):
        super().__init__()
        self.caption = QLabel("<b>Model:</b>")
        self.label = QLabel()
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label.setToolTip("The model Start continues and the Classify tab uses")
        self.hint = QLabel()  # the empty state's next step
        self.hint.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        self.new_button = QPushButton("New model")
        self.new_button.setToolTip(
            "Forget the current model: the next Start trains a new one from the ImageNet-pretrained weights"
        )
        self.revert_button = QPushButton("Revert to best epoch")
        self.revert_button.setToolTip(
            "Put back the weights of this run's best epoch (lowest validation loss), e.g. after it overfitted"
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.caption)
        row.addWidget(self.label, 1)
        row.addWidget(self.hint)
        row.addWidget(self.new_button)
        row.addWidget(self.revert_button)
        self.new_button.clicked.connect(self.newModelRequested)
        self.revert_button.clicked.connect(self.revertRequested)

    def show_model(self, label: str, hint: str, can_new: bool, can_revert: bool) -> None:
        """The current model's one-line name, the next step when there is none yet, and the actions."""
        self.label.setText(label)
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))
        self.new_button.setEnabled(can_new)
        self.revert_button.setEnabled(can_revert)
