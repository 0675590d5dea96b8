"""Auto's stages as they happen ("features: …", "head: 5 depths: LR 4.3e-4 from the LR test's valley",
"fine-tune: skipped: …"), one line each, under the run's progress; hidden for the other recipes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

VISIBLE_LINES = 5


class StageLog(QListWidget):
    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        self.setTextElideMode(Qt.ElideNone)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.setFocusPolicy(Qt.NoFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setToolTip("What Auto did, stage by stage, and why")
        self.setMaximumHeight(VISIBLE_LINES * self.fontMetrics().lineSpacing() + 8)
        self.hide()

    def clear_stages(self, shown: bool) -> None:
        self.clear()
        self.setVisible(shown)

    def add_stage(self, name: str, why: str) -> None:
        item = QListWidgetItem(f"{name}: {why}")
        item.setToolTip(f"{name}: {why}")
        self.addItem(item)
        self.scrollToBottom()

    def lines(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
