"""The classes of the dataset being made: a list with train/valid counts, and add, rename and delete."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

NAME_ROLE = Qt.UserRole


class ClassList(QWidget):
    classSelected = Signal(str)
    addRequested = Signal(str)
    renameRequested = Signal(str, str)  # old, new
    deleteRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._editable = True
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Class", "Train", "Valid"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        for col in (1, 2):
            self.tree.header().setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.tree.setEditTriggers(QTreeWidget.DoubleClicked | QTreeWidget.EditKeyPressed)
        self.tree.setToolTip("Each class is one kind of thing to recognise. Double-click a name (or F2) to rename it.")
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.tree.itemChanged.connect(self._on_item_changed)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("New class, e.g. cat")
        self.name_edit.returnPressed.connect(self._on_add)
        self.add_button = QPushButton("Add class")
        self.add_button.clicked.connect(self._on_add)
        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("Rename the selected class (its images stay)")
        self.rename_button.clicked.connect(self._on_rename)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected class and the copies of its images in this dataset")
        self.delete_button.clicked.connect(self._on_delete)

        add_row = QHBoxLayout()
        add_row.addWidget(self.name_edit, 1)
        add_row.addWidget(self.add_button)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.rename_button)
        edit_row.addWidget(self.delete_button)
        edit_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(add_row)
        layout.addLayout(edit_row)
        self._refresh_buttons()

    # ------------------------------------------------------------ setters (never write the model)
    def set_classes(self, counts: dict[str, dict[str, int]], selected: str | None) -> None:
        """Show ``{class: {'train': n, 'valid': n}}`` with ``selected`` current."""
        self.tree.blockSignals(True)
        self.tree.clear()
        for name, n in counts.items():
            item = QTreeWidgetItem([name, str(n["train"]), str(n["valid"])])
            item.setData(0, NAME_ROLE, name)
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            for col in (1, 2):
                item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
            self.tree.addTopLevelItem(item)
            if name == selected:
                self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self._refresh_buttons()

    def set_editable(self, editable: bool) -> None:
        """Off while images are being added (a class must not move under the copy)."""
        for w in (self.name_edit, self.add_button):
            w.setEnabled(editable)
        self._editable = editable
        self._refresh_buttons()

    def clear_new_name(self) -> None:
        self.name_edit.clear()

    def selected(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, NAME_ROLE) if item is not None else None

    def _refresh_buttons(self) -> None:
        has = self.selected() is not None and self._editable
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    # ------------------------------------------------------------ user input -> intent signals
    def _on_current_changed(self, current, _previous) -> None:
        self._refresh_buttons()
        if current is not None:
            self.classSelected.emit(current.data(0, NAME_ROLE))

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        old, new = item.data(0, NAME_ROLE), item.text(0)
        if column == 0 and new != old:
            # after the editor has finished with the item: the rename rebuilds the list
            QTimer.singleShot(0, lambda: self.renameRequested.emit(old, new))

    def _on_add(self) -> None:
        name = self.name_edit.text().strip()
        if name:
            self.addRequested.emit(name)

    def _on_rename(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.tree.editItem(item, 0)

    def _on_delete(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            return
        name, images = item.data(0, NAME_ROLE), int(item.text(1)) + int(item.text(2))
        if images:
            answer = QMessageBox.question(
                self,
                "Delete class",
                f"Delete the class '{name}' and the {images} image{'s' if images != 1 else ''} added to it?\n"
                "Your own files are not touched: Fovea deletes only its copies.",
            )
            if answer != QMessageBox.Yes:
                return
        self.deleteRequested.emit(name)
