"""The next-step banner (in the toolbar's row): one line saying the one next step of the lesson's path
(open or make a dataset → find a learning rate → train → try it → export) with a button that goes there.

``next_step`` is the rule (plain Python); ``GuideBanner`` only shows a step and says which button was
pressed; the window decides what the button does and when the step changes (it follows AppState).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QWidget


@dataclass(frozen=True)
class Step:
    key: str  # what the button does: "open" (a dataset) or the name of the tab to show
    text: str  # the next step, short enough for a 1024-pixel-wide window
    button: str
    tip: str  # why, in one sentence (the tooltip)


STEPS = {
    "open": Step(
        "open",
        "Next: open a dataset folder, or make one (File ▸ New dataset…)",
        "Open…",
        "A dataset is a folder with train/<class>/ pictures; New dataset… makes one from your own pictures.",
    ),
    "lr": Step(
        "LR finder",
        "Next: find a learning rate",
        "LR finder",
        "The LR finder tries rising learning rates on a few batches and suggests one to train with.",
    ),
    "train": Step(
        "Train",
        "Next: train the model at the rate you chose",
        "Train",
        "Training fine-tunes the pretrained network on your classes; a few epochs take seconds.",
    ),
    "try": Step(
        "Classify",
        "Next: try it on your own pictures",
        "Try it",
        "Drop pictures on the Classify tab to see what the trained model says, with its confidence.",
    ),
    "export": Step(
        "Train",
        "Next: export the model to use it elsewhere",
        "Export…",
        "File ▸ Save trained model… writes the model as a .pth file or as ONNX, for other programs.",
    ),
}


def next_step(has_dataset: bool, lr_tested: bool, has_model: bool, tried: bool) -> Step:
    """The one next step for where the user is on the lesson's path."""
    if not has_dataset:
        return STEPS["open"]
    if has_model:
        return STEPS["export"] if tried else STEPS["try"]
    return STEPS["train"] if lr_tested else STEPS["lr"]


class GuideBanner(QFrame):
    """A slim line: the next step's sentence, its button, and × to hide the banner."""

    stepRequested = Signal(str)  # the shown step's key
    hideRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("guide")
        self.setFrameShape(QFrame.NoFrame)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.AlternateBase)  # a step off the window, in light and dark palettes
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.step: Step | None = None
        self.label = QLabel()
        self.label.setBackgroundRole(QPalette.AlternateBase)
        self.label.setForegroundRole(QPalette.Text)  # the text role that goes with AlternateBase
        self.label.setTextInteractionFlags(Qt.NoTextInteraction)
        self.label.setMinimumWidth(1)  # may be cut short by a narrow window (the tooltip has the rest)
        self.button = QPushButton()
        self.button.clicked.connect(lambda: self.step is not None and self.stepRequested.emit(self.step.key))
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Hide the next-step line (View ▸ Show next step brings it back)")
        self.close_button.clicked.connect(self.hideRequested)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.button)
        lay.addStretch(1)
        lay.addWidget(self.close_button)

    # ---- setters (show state; never write it)
    def show_step(self, step: Step) -> None:
        self.step = step
        self.label.setText(step.text)
        self.label.setToolTip(step.tip)
        self.button.setText(step.button)
        self.button.setToolTip(step.tip)


class GuideController(QObject):
    """Keeps the banner on the next step: follows AppState's dataset, model and the LR finder's tested
    range. The window tells it when Classify is shown (``classify_shown``) and acts on ``stepRequested``."""

    stepRequested = Signal(str)

    def __init__(self, state, banner: GuideBanner, parent: QObject | None = None):
        super().__init__(parent)
        self.state, self.banner = state, banner
        self.tried = False  # Classify was shown with a model current
        # model changes -> view
        state.datasetChanged.connect(lambda _dataset: self.refresh())
        state.modelChanged.connect(lambda _model: self.refresh())
        state.lrTestRangeChanged.connect(lambda _range: self.refresh())  # the LR finder clears it per dataset
        # view -> window
        banner.stepRequested.connect(self.stepRequested)
        self.refresh()

    def classify_shown(self) -> None:
        if self.state.model is not None and not self.tried:
            self.tried = True
            self.refresh()

    def refresh(self) -> Step:
        state = self.state
        step = next_step(
            state.dataset is not None, state.lr_test_range is not None, state.model is not None, self.tried
        )
        self.banner.show_step(step)
        return step
