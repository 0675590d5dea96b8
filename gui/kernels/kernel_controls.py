"""The Kernel box: preset and size, the R/G/B tabs of an RGB kernel, the grid, divisor and bias, a note."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QTabBar, QToolButton, QVBoxLayout

from engine.kernel_presets import PRESETS
from engine.kernels import KERNEL_SIZES
from gui import theme
from gui.kernels.kernel_grid import KernelGrid, NumberSpinBox
from gui.kernels.stack import CUSTOM, LayerStack
from gui.kernels.widget_tools import set_quietly

GRID_SIZES = tuple(n for n in KERNEL_SIZES if n >= 3)
CHANNEL_NAMES = ("R", "G", "B")


class KernelControls(QGroupBox):
    """Edits of the selected layer's kernel, as intent signals; ``show_layer`` puts a layer on screen."""

    presetPicked = Signal(str)
    sizePicked = Signal(int)
    channelPicked = Signal(int)
    cellEdited = Signal(int, int, float)
    divisorEdited = Signal(float)
    divideBySumRequested = Signal()
    biasEdited = Signal(float)

    def __init__(self, parent=None):
        super().__init__("Kernel", parent)
        v = QVBoxLayout(self)
        v.addLayout(self._build_pickers())
        self.channel_bar = QTabBar()
        for name in CHANNEL_NAMES:
            self.channel_bar.addTab(f"{name} weights")
        self.channel_bar.setExpanding(True)
        self.channel_bar.setToolTip("An RGB kernel has one grid per colour channel; the response is their sum")
        self.channel_bar.currentChanged.connect(lambda i: i >= 0 and self.channelPicked.emit(i))
        self.channel_bar.hide()
        v.addWidget(self.channel_bar)
        self.grid = KernelGrid()
        self.grid.cellEdited.connect(self.cellEdited)
        v.addWidget(self.grid)
        v.addLayout(self._build_divisor_bias())
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        v.addWidget(self.note)

    def _build_pickers(self) -> QHBoxLayout:
        self.preset_combo = QComboBox()
        for p in PRESETS.values():
            self.preset_combo.addItem(p.title, p.name)
        self.preset_combo.addItem("Custom", CUSTOM)
        self.preset_combo.setToolTip("Start from a named kernel; editing any number makes it Custom")
        self.preset_combo.activated.connect(self._preset_activated)
        self.size_combo = QComboBox()
        for n in GRID_SIZES:
            self.size_combo.addItem(f"{n}×{n}", n)
        self.size_combo.setToolTip("Kernel size: growing pads with zeros, shrinking keeps the centre")
        self.size_combo.activated.connect(lambda i: self.sizePicked.emit(self.size_combo.itemData(i)))
        top = QHBoxLayout()
        top.addWidget(self.preset_combo, 1)
        top.addWidget(self.size_combo)
        return top

    def _build_divisor_bias(self) -> QHBoxLayout:
        self.divisor_spin = NumberSpinBox()
        self.divisor_spin.setRange(0.001, 100000.0)
        self.divisor_spin.setDecimals(3)
        self.divisor_spin.setValue(1.0)
        self.divisor_spin.setToolTip("The sum is divided by this (16 for the blur: its weights add up to 16)")
        self.divisor_spin.valueChanged.connect(self.divisorEdited)
        self.sum_button = QToolButton()
        self.sum_button.setText("= Σ")
        self.sum_button.setToolTip("Divide by the sum of the weights, so flat areas keep their brightness")
        self.sum_button.clicked.connect(self.divideBySumRequested)
        self.bias_spin = NumberSpinBox()
        self.bias_spin.setRange(-1000.0, 1000.0)
        self.bias_spin.setDecimals(2)
        self.bias_spin.setToolTip("Added after dividing (128 shows negative sums as darker than grey)")
        self.bias_spin.valueChanged.connect(self.biasEdited)
        form = QHBoxLayout()
        form.addWidget(QLabel("÷"))
        form.addWidget(self.divisor_spin, 1)
        form.addWidget(self.sum_button)
        form.addSpacing(8)
        form.addWidget(QLabel("+ bias"))
        form.addWidget(self.bias_spin, 1)
        return form

    def _preset_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name != CUSTOM:
            self.presetPicked.emit(name)

    # ------------------------------------------------------------ shown state (must not modify the stack)
    def show_layer(self, stack: LayerStack) -> None:
        """Put the selected layer's kernel, name, divisor and bias into the controls (no edit signals)."""
        layer = stack.layer
        rgb = layer.kernel.ndim == 3
        self.channel_bar.setVisible(rgb)
        set_quietly(self.channel_bar, self.channel_bar.setCurrentIndex, stack.channel)
        self.grid.set_values(stack.grid_values())
        self.grid.set_step(stack.grid_step())
        set_quietly(self.size_combo, self.size_combo.setCurrentIndex, self.size_combo.findData(layer.kernel.shape[0]))
        index = self.preset_combo.findData(stack.name)
        custom = self.preset_combo.findData(CUSTOM)
        # a network filter's name shows in the Custom entry
        self.preset_combo.setItemText(custom, "Custom" if stack.name in PRESETS or stack.name == CUSTOM else stack.name)
        set_quietly(self.preset_combo, self.preset_combo.setCurrentIndex, index if index >= 0 else custom)
        set_quietly(self.divisor_spin, self.divisor_spin.setValue, layer.divisor)
        set_quietly(self.bias_spin, self.bias_spin.setValue, layer.bias)
        self.show_note(stack)

    def show_channel(self, stack: LayerStack) -> None:
        """The grid shows another channel of the same RGB kernel."""
        set_quietly(self.channel_bar, self.channel_bar.setCurrentIndex, stack.channel)
        self.grid.set_values(stack.grid_values())

    def show_name(self, stack: LayerStack) -> None:
        """The layer's name changed (an edit made it custom)."""
        custom = self.preset_combo.findData(CUSTOM)
        index = self.preset_combo.findData(stack.name)
        if stack.name == CUSTOM:
            self.preset_combo.setItemText(custom, "Custom")
        set_quietly(self.preset_combo, self.preset_combo.setCurrentIndex, index if index >= 0 else custom)
        self.show_note(stack)

    def show_note(self, stack: LayerStack) -> None:
        self.note.setText(stack.note())
        self.sum_button.setEnabled(stack.can_divide_by_sum())
