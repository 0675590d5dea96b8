"""The Layers box: the stack of layers (conv → ReLU → conv …), add, remove, and a ReLU after the selected one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QVBoxLayout,
)

from gui.kernels.stack import LayerStack
from gui.kernels.widget_tools import set_quietly


class LayerControls(QGroupBox):
    layerSelected = Signal(int)
    addRequested = Signal()
    removeRequested = Signal()
    reluToggled = Signal(bool)
    undoRequested = Signal()

    def __init__(self, parent=None):
        super().__init__("Layers (conv → ReLU → conv …)", parent)
        v = QVBoxLayout(self)
        self.layer_list = QListWidget()
        self.layer_list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.layer_list.setMaximumHeight(74)
        self.layer_list.setToolTip("Select a layer to edit its kernel and see the image after it")
        self.layer_list.currentRowChanged.connect(lambda row: row >= 0 and self.layerSelected.emit(row))
        v.addWidget(self.layer_list)
        self.add_button = QPushButton("+ Layer")
        self.add_button.setToolTip("Add a layer after the selected one; it filters that layer's output")
        self.add_button.clicked.connect(self.addRequested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected layer")
        self.remove_button.clicked.connect(self.removeRequested)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last change to the kernels and layers (Ctrl+Z)")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undoRequested)
        self.relu_check = QCheckBox("ReLU after it")
        self.relu_check.setToolTip("Replace negative values with zero before the next layer")
        self.relu_check.toggled.connect(self.reluToggled)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addWidget(self.undo_button)
        row.addStretch(1)
        row.addWidget(self.relu_check)
        v.addLayout(row)

    # ------------------------------------------------------------ shown state (must not modify the stack)
    def show_stack(self, stack: LayerStack) -> None:
        """The list of layers with the selected one highlighted, and what can be added or removed."""
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        self.layer_list.addItems(stack.titles())
        self.layer_list.setCurrentRow(stack.current)
        self.layer_list.blockSignals(False)
        self.remove_button.setEnabled(stack.can_remove())
        self.add_button.setEnabled(stack.can_add())
        self.show_relu(stack)
        self.show_undo(stack)

    def show_undo(self, stack: LayerStack) -> None:
        self.undo_button.setEnabled(stack.can_undo())

    def show_selection(self, stack: LayerStack) -> None:
        set_quietly(self.layer_list, self.layer_list.setCurrentRow, stack.current)
        self.show_relu(stack)

    def show_relu(self, stack: LayerStack) -> None:
        set_quietly(self.relu_check, self.relu_check.setChecked, stack.layer.relu)

    def show_title(self, stack: LayerStack, i: int) -> None:
        item = self.layer_list.item(i)
        if item is not None:
            item.setText(stack.title(i))
