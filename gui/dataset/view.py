"""The Data tab's view: header, class list, thumbnail grid and Problems table. It shows what the
controller tells it and emits what the user asks for; its setters never write the model."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine.data import Problem
from gui import theme
from gui.dataset.class_list import ClassList
from gui.dataset.image_dialog import ImageDialog
from gui.dataset.image_grid import ImageGrid
from gui.dataset.problems_table import ProblemsTable

NO_DATASET = (
    "No dataset open. Use File ▸ Open dataset folder… (or drop a folder here), "
    "or make one from your own pictures with File ▸ New dataset…"
)


class DatasetView(QWidget):
    filterChanged = Signal(object, str)  # class name or None, split
    imageActivated = Signal(int)  # a row of the grid's model was double-clicked (or Enter pressed on it)
    problemActivated = Signal(str, str)  # a Problems row was double-clicked: its file, its split

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.header = QLabel(NO_DATASET)
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-size: 13pt; padding: 4px 2px;")
        # the count is a label of its own: a progress bar's text is clipped to the bar ("Verifying images 0 /")
        self.verify_label = QLabel()
        self.verify_label.hide()
        self.verify_bar = QProgressBar()
        self.verify_bar.setTextVisible(False)
        self.verify_bar.setFixedWidth(120)
        self.verify_bar.hide()
        self.classes = ClassList()
        self.grid = ImageGrid()
        self.problems = ProblemsTable()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.grid, "Images")
        self.tabs.addTab(self.problems, "Problems")
        self._lay_out()
        self.classes.filterChanged.connect(self.filterChanged)
        self.grid.imageChosen.connect(lambda index: self.imageActivated.emit(index.row()))
        self.problems.problemChosen.connect(self.problemActivated)

    def _lay_out(self) -> None:
        split = QSplitter()
        split.addWidget(self.classes)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 900])
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.verify_label)
        top.addWidget(self.verify_bar)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(split, 1)

    # ---- setters (show state; never write it)
    def show_dataset(self, dataset) -> None:
        muted = theme.css(theme.muted_text())
        self.header.setText(f"<b>{dataset.root.name}</b> &nbsp; <span style='color:{muted}'>{dataset.root}</span>")
        self.classes.show_dataset(dataset)
        self.tabs.setCurrentWidget(self.grid)  # a new dataset starts at its images, not the last one's problems

    def show_image_count(self, n: int) -> None:
        self.tabs.setTabText(0, f"Images ({n})")
        self.grid.scrollToTop()

    def show_problems(self, problems: list[Problem], dataset=None, *, clear: bool = False) -> None:
        """Add rows to the Problems table (after clearing it, with ``clear``); its tab counts them."""
        if clear:
            self.problems.clear_rows()
        self.problems.add_problems(problems, dataset.root if dataset is not None else None)
        n = self.problems.rowCount()
        self.tabs.setTabText(1, f"Problems ({n})" if n else "Problems (none)")

    def show_open_error(self, path: str, message: str) -> None:
        """The path is not a dataset: nothing in the grid, and the Problems tab, in front, says why."""
        self.classes.clear()
        self.header.setText(f"<b>Could not open</b> {path}")
        self.show_problems([Problem(path, message)], clear=True)
        self.tabs.setCurrentWidget(self.problems)

    def show_verify_progress(self, done: int | None, total: int = 0) -> None:
        """The verification bar at done/total; ``done=None`` hides it."""
        if done is None:
            self.verify_bar.hide()
            self.verify_label.hide()
            return
        self.verify_bar.setRange(0, max(1, total))
        self.verify_bar.setValue(done)
        self.verify_label.setText(f"Verifying images {done} / {total}")
        # as wide as the widest count it will show, so the text neither clips nor makes the header jump
        widest = self.verify_label.fontMetrics().horizontalAdvance(f"Verifying images {total} / {total}")
        self.verify_label.setMinimumWidth(widest + 4)
        self.verify_bar.show()
        self.verify_label.show()

    def show_image(self, path: str, cls: str, split: str) -> ImageDialog:
        """Open the full view of one image (a window of its own, deleted when closed)."""
        dialog = ImageDialog(path, cls, split, self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()
        return dialog
