"""The bar above the Classify tabs: which model classifies, Open model…, what it is, where it runs."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from gui import dialogs, theme
from gui.classify.display import bold

MODEL_FILES = "Fovea models (*.fovea *.pt *.pth);;All files (*)"


class ModelBar(QFrame):
    """The view of the model choice. Its setters show the controller's state; they never emit its intents."""

    modelChosen = Signal(int)  # the user picked entry i
    fileChosen = Signal(str)  # the user picked a model file to open

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(34)
        self.model_combo.currentIndexChanged.connect(self.modelChosen)
        self.model_combo.setToolTip(
            "The model that classifies: the pretrained ImageNet network, the one you trained, a stored run "
            "(named with its dataset) or a model file you opened. It stays chosen when you restart."
        )
        self.open_model_btn = QPushButton("Open model…")
        self.open_model_btn.setToolTip("Use a model file saved by Fovea (Train tab ▸ Save model)")
        self.open_model_btn.clicked.connect(self.choose_file)
        self.model_info = QLabel()  # the palette's own text colour: readable on light and dark themes
        self.model_info.setWordWrap(True)
        self.model_info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.device_label = QLabel()  # filled once a model is loaded: asking torch before would import it
        self.device_label.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(bold(QLabel("Model:")))
        top.addWidget(self.model_combo)
        top.addWidget(self.open_model_btn)
        top.addStretch(1)
        top.addWidget(self.device_label)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 4)
        box.addLayout(top)
        box.addWidget(self.model_info)

    def choose_file(self) -> None:
        """Ask for a saved model file (the button, and File ▸ Open model for classifying…)."""
        path = dialogs.open_file_name(self, "Open a saved model", "model", MODEL_FILES)
        if path:
            self.fileChosen.emit(path)

    # setters: must not emit modelChosen (they show a choice the controller already made)
    def set_titles(self, titles: list[str], current: int, tips: list[str] | None = None) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItems(titles)
        for i, tip in enumerate(tips or []):
            self.model_combo.setItemData(i, tip, Qt.ToolTipRole)
        self.model_combo.setCurrentIndex(current)
        self.model_combo.blockSignals(False)

    def set_info(self, text: str) -> None:
        self.model_info.setText(text)

    def set_device(self, text: str) -> None:
        self.device_label.setText(f"Runs on {text}")
