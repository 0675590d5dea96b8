"""The LR readout and one clickable chip per suggestion rule (valley, min ÷ 10, steepest, slide)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from engine.lr_curves import DEFAULT_SUGGESTION, SUGGESTERS, SUGGESTION_COLORS, SUGGESTION_LABELS, format_lr

SUGGESTION_TIPS = {
    "valley": "The middle of the longest stretch where the loss keeps falling (fastai's default).",
    "min_div10": "The learning rate of the lowest loss, divided by 10 (the lesson's rule of thumb).",
    "steepest": "Where the loss falls fastest as the learning rate grows.",
    "slide": "Just before the curve flattens out ahead of the blow-up (fastai's slide rule).",
}


def dot_icon(color: str) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.NoPen)
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pm)


class SuggestionChips(QWidget):
    suggestionClicked = Signal(str)  # a suggestion's name

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.lr_label = QLabel()
        self.lr_label.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.lr_label.setToolTip("The learning rate Train will use (the same value as the Train tab's field)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.lr_label)
        row.addSpacing(16)
        row.addWidget(QLabel("Suggestions:"))
        self.buttons: dict[str, QPushButton] = {}
        for name in SUGGESTERS:
            b = QPushButton(dot_icon(SUGGESTION_COLORS[name]), f"{SUGGESTION_LABELS[name]}  —")
            b.setToolTip(SUGGESTION_TIPS[name] + " Click to move the line there.")
            b.setEnabled(False)
            b.setFlat(True)
            b.clicked.connect(lambda _=False, n=name: self.suggestionClicked.emit(n))
            self.buttons[name] = b
            row.addWidget(b)
        row.addStretch(1)

    # ---- setters (show state; never write it)
    def show_lr(self, lr: float) -> None:
        self.lr_label.setText(f"Learning rate: {format_lr(lr)}")

    def show_suggestions(self, suggestions: dict[str, float | None]) -> None:
        for name, button in self.buttons.items():
            lr = suggestions.get(name)
            button.setText(f"{SUGGESTION_LABELS[name]}  {format_lr(lr)}")
            button.setEnabled(lr is not None)
            font = button.font()
            font.setBold(name == DEFAULT_SUGGESTION and lr is not None)
            button.setFont(font)
