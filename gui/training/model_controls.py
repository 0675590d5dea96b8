"""The form's Model group: architecture, image size, batch size, device, and the missing-weights box."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QFrame, QGroupBox, QLabel, QPushButton, QSpinBox, QVBoxLayout

from engine.config import ARCHITECTURES, TrainConfig
from gui import theme

ARCH_LABELS = {
    "efficientnet_lite0": "EfficientNet-Lite0",
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
}
ARCH_TIPS = {
    "efficientnet_lite0": "Fast and accurate; weights included (works offline). The default.",
    "resnet18": "Small ResNet; weights are downloaded once (or imported)",
    "resnet34": "The lesson's network; weights are downloaded once (or imported)",
    "resnet50": "Larger and slower ResNet; weights are downloaded once (or imported)",
}


class WeightsBox(QFrame):
    """Shown when the chosen network's pretrained weights are not on this computer: says so, offers import."""

    def __init__(self):
        super().__init__()
        self.setObjectName("weightsBox")
        edge = theme.css(theme.muted_text())
        self.setStyleSheet(f"#weightsBox {{ background: {theme.css(theme.pane())}; border: 1px solid {edge}; }}")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.import_button = QPushButton("Import weights file…")
        self.import_button.setToolTip("Choose a local .pth state dict for this architecture; it is checked and kept")
        lay = QVBoxLayout(self)
        lay.addWidget(self.label)
        lay.addWidget(self.import_button, 0, Qt.AlignLeft)
        self.hide()

    def show_message(self, text: str | None) -> None:
        """Show ``text`` in the box, or hide the box (None)."""
        if text is not None:
            self.label.setText(text)
        self.setVisible(text is not None)


class ModelControls(QGroupBox):
    edited = Signal()
    importRequested = Signal()

    def __init__(self):
        super().__init__("Model")
        self.arch_combo = QComboBox()
        for arch in ARCHITECTURES:
            self.arch_combo.addItem(ARCH_LABELS.get(arch, arch), arch)
            self.arch_combo.setItemData(self.arch_combo.count() - 1, ARCH_TIPS.get(arch, ""), Qt.ToolTipRole)
        self.arch_combo.setToolTip("The network to fine-tune, pretrained on ImageNet; changing it starts a new model")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(32, 512)
        self.size_spin.setSingleStep(32)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip(
            "Images are resized and centre-cropped to this square size; changing it starts a new model"
        )
        self.bs_spin = QSpinBox()
        self.bs_spin.setRange(2, 1024)
        self.bs_spin.setToolTip("Images per training step; lower it if the GPU runs out of memory")
        self.device_label = QLabel("…")  # filled when the tab is first shown (it needs torch)
        self.device_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.device_label.setToolTip("Where training runs: the GPU when there is one, else the CPU")
        self.weights_box = WeightsBox()
        form = QFormLayout(self)
        form.addRow("Architecture", self.arch_combo)
        form.addRow("Image size", self.size_spin)
        form.addRow("Batch size", self.bs_spin)
        form.addRow("Device", self.device_label)
        form.addRow(self.weights_box)
        self.arch_combo.currentIndexChanged.connect(self.edited)
        self.size_spin.valueChanged.connect(self.edited)
        self.bs_spin.valueChanged.connect(self.edited)
        self.weights_box.import_button.clicked.connect(self.importRequested)

    def set_values(self, config: TrainConfig) -> None:
        with QSignalBlocker(self):
            idx = self.arch_combo.findData(config.arch)
            if idx < 0:  # an architecture not in the menu (e.g. a test backbone): list it
                self.arch_combo.addItem(config.arch, config.arch)
                idx = self.arch_combo.count() - 1
            self.arch_combo.setCurrentIndex(idx)
            self.size_spin.setValue(config.size)
            self.bs_spin.setValue(config.bs)

    def values(self) -> dict:
        return {"arch": self.arch_combo.currentData(), "size": self.size_spin.value(), "bs": self.bs_spin.value()}
