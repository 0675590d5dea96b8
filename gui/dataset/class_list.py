"""The left column: classes with their train/valid counts, which split to show, and a note on validation."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import theme

SPLITS = ("train", "valid", "test", "all")


class ClassList(QWidget):
    filterChanged = Signal(object, str)  # class name (None: all classes), split (one of SPLITS)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Class", "Train", "Valid"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.split = QComboBox()
        self.split.addItems(list(SPLITS))
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Classes"))
        lay.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show split:"))
        row.addWidget(self.split, 1)
        lay.addLayout(row)
        lay.addWidget(self.legend)
        self.tree.itemSelectionChanged.connect(self._emit_filter)
        self.split.currentIndexChanged.connect(self._emit_filter)

    def _emit_filter(self, *_) -> None:
        item = self.tree.currentItem()
        self.filterChanged.emit(item.data(0, Qt.UserRole) if item else None, SPLITS[self.split.currentIndex()])

    # ---- setters (show state; never write it)
    def show_dataset(self, dataset) -> None:
        """Counts per class, "All classes" selected (without emitting), the size of test/, the validation note."""
        self.tree.blockSignals(True)
        self.tree.clear()
        total = [f"All classes ({len(dataset.classes)})", str(len(dataset.train)), str(len(dataset.valid))]
        self.tree.addTopLevelItem(_count_item(total, None))
        for name, n in dataset.counts().items():
            self.tree.addTopLevelItem(_count_item([name, str(n["train"]), str(n["valid"])], name))
        self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self.tree.blockSignals(False)
        self.split.setItemText(2, f"test ({len(dataset.test)} unlabelled)")
        if dataset.valid_is_auto:
            self.legend.setText("No valid/ folder: a seeded 20 % of train/ is used for validation.")
        elif dataset.valid_dirname != "valid":
            self.legend.setText(f"Validation images come from {dataset.valid_dirname}/.")
        else:
            self.legend.setText("")

    def clear(self) -> None:
        self.tree.clear()


def _count_item(texts: list[str], cls: str | None) -> QTreeWidgetItem:
    item = QTreeWidgetItem(texts)
    item.setData(0, Qt.UserRole, cls)
    for col in (1, 2):
        item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
    return item
