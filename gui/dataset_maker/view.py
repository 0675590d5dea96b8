"""The dataset maker's view: shows a MadeDataset and emits what the user asks for; it never changes
the dataset itself (the controller does)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.dataset_maker import VALID_FRACTION, MadeDataset
from engine.images import IMAGE_EXTENSIONS
from gui.dataset_maker.camera_pane import CameraPane
from gui.dataset_maker.class_list import ClassList
from gui.dataset_maker.image_grid import ImageGrid, sources_from_mime
from gui.dialogs import open_file_names

NO_DATASET = "Name a new dataset above and press Create — or choose one you made before."
NO_CLASSES = "Add a class: type its name (e.g. cat) under the list and press Add class — one class per kind of thing."
NO_CLASS_SELECTED = "Select a class to see its images."
VALID_NOTE = (
    f"About 1 in {round(1 / VALID_FRACTION)} images goes to valid, chosen automatically: "
    "training never sees them, they measure accuracy."
)


class DatasetMakerView(QWidget):
    createRequested = Signal(str)
    datasetChosen = Signal(str)  # folder
    sourcesAdded = Signal(list)  # paths and arrays for the selected class
    refused = Signal(str)  # dropped or pasted data that holds no image, and why
    openRequested = Signal()

    def __init__(self, settings=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.datasets = QComboBox()
        self.datasets.setMinimumContentsLength(14)
        self.datasets.setPlaceholderText("No dataset yet")
        self.datasets.activated.connect(lambda i: self.datasetChosen.emit(self.datasets.itemData(i)))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("New dataset name, e.g. pets")
        self.name_edit.returnPressed.connect(self._on_create)
        self.create_button = QPushButton("Create")
        self.create_button.setToolTip("Make a new, empty dataset that Fovea keeps in its own folder")
        self.create_button.clicked.connect(self._on_create)

        self.classes = ClassList()
        self.images = ImageGrid()
        self.camera = CameraPane()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.images, "Images")
        self.tabs.addTab(self.camera, "Webcam")
        self.images.filesAdded.connect(self.sourcesAdded)
        self.images.refused.connect(self.refused)
        self.images.addFilesRequested.connect(self._on_add_files)
        self.images.pasteRequested.connect(self.paste)
        paste = QAction("Paste", self)
        paste.setShortcut(QKeySequence.Paste)
        paste.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        paste.triggered.connect(self.paste)
        self.addAction(paste)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFormat("Adding %v / %m")
        self.progress.setMinimumWidth(140)
        self.progress.hide()
        self.summary = QLabel()
        self.open_button = QPushButton("Open in Fovea")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.openRequested)
        self._layout()
        self.set_dataset(None, None)

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.datasets, 1)
        top.addSpacing(12)
        top.addWidget(self.name_edit, 1)
        top.addWidget(self.create_button)
        split = QSplitter()
        split.addWidget(self.classes)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 560])
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary)
        bottom.addWidget(self.progress)
        bottom.addStretch(1)
        bottom.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)
        layout.addLayout(bottom)

    # ------------------------------------------------------------ setters (never write the model)
    def set_datasets(self, folders: list[Path], current: Path | None) -> None:
        self.datasets.clear()
        for folder in folders:
            self.datasets.addItem(folder.name, str(folder))
        index = self.datasets.findData(str(current)) if current is not None else -1
        self.datasets.setCurrentIndex(index)
        self.datasets.setEnabled(bool(folders))

    def set_dataset(self, made: MadeDataset | None, selected: str | None) -> None:
        """Show the dataset's classes, the selected class's images and the split."""
        counts = made.counts() if made is not None else {}
        self.classes.set_classes(counts, selected)
        self.classes.setEnabled(made is not None)
        chosen = made.class_named(selected) if made is not None and selected else None
        self.images.set_images(chosen.images() if chosen else [], self._hint(made, chosen))
        self.images.set_enabled_for_class(chosen is not None)
        self.summary.setText(made.summary() if made is not None else "")
        trainable = sum(1 for n in counts.values() if n["train"])
        self.open_button.setEnabled(trainable > 0)
        self.open_button.setToolTip(
            "Open this dataset in the main window to browse it, train and classify"
            if trainable >= 2
            else "Training needs at least 2 classes with images; you can open it to look at it now"
        )

    @staticmethod
    def _hint(made: MadeDataset | None, chosen) -> str:
        if made is None:
            return NO_DATASET
        if not made.classes:
            return NO_CLASSES
        if chosen is None:
            return NO_CLASS_SELECTED
        if not chosen.train and not chosen.valid:
            return f"Drop pictures of '{chosen.name}' here, paste one, press Add files…, or use the Webcam tab."
        return f"'{chosen.name}': {len(chosen.train)} train · {len(chosen.valid)} valid. {VALID_NOTE}"

    def set_message(self, text: str, error: bool = False) -> None:
        self.message.setText(f"⚠ {text}" if error and text else text)

    def set_adding(self, done: int, total: int) -> None:
        """Progress of the images being copied in; total 0 hides it."""
        self.progress.setVisible(total > 0)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.classes.set_editable(total == 0)

    def set_thumbnail(self, path: str, file: str | None) -> None:
        self.images.set_thumbnail(path, file)

    def clear_new_dataset_name(self) -> None:
        self.name_edit.clear()

    # ------------------------------------------------------------ user input -> intent signals
    def _on_create(self) -> None:
        self.createRequested.emit(self.name_edit.text())

    def paste(self) -> None:
        """Add what the clipboard holds: image files, or a picture."""
        if not self.images.list.isEnabled():
            self.refused.emit("Select a class first, then paste its pictures.")
            return
        sources, why = sources_from_mime(QApplication.clipboard().mimeData())
        if sources:
            self.sourcesAdded.emit(sources)
        else:
            self.refused.emit(why)

    def _on_add_files(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        paths = open_file_names(self, "Add images", "images", f"Images ({patterns});;All files (*)", self.settings)
        if paths:
            self.sourcesAdded.emit(paths)
