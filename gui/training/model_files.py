"""The Train tab's model files: the pretrained weights a network needs (the missing-weights box, importing
a local file) and saving the trained model (a Fovea file or ONNX). Short blocking calls, run one at a
time in their own job slot, off the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gui.jobs import JobSlot
from gui.training.dialogs import ask_weights_file
from gui.training.model_controls import ARCH_LABELS
from gui.training.view import TrainingView


def import_job(arch: str, path: str, stop=None):
    """Job: check and keep a weights file (torch is imported here, not when the window starts)."""
    from engine.models import import_weights

    return import_weights(arch, path)
    yield  # unreachable: makes this a generator


def save_job(learner, path: str, stop=None):
    """Job: write ``learner``'s model to ``path``, as ONNX when it ends in .onnx."""
    if path.lower().endswith(".onnx"):
        from engine.models import export_onnx

        return export_onnx(learner.model, path)
    return learner.save(path)
    yield  # unreachable: makes this a generator


def model_file_name(learner, dataset, arch: str, onnx: bool = False) -> str:
    """The name a saved model gets by default: its dataset's and network's (the form's before any run)."""
    ds = learner.dataset if learner is not None else dataset
    name = ds.root.name if ds is not None else "model"
    arch = learner.config.arch if learner is not None else arch
    return f"{name}-{arch}{'.onnx' if onnx else '.pth'}"


class ModelFiles(QObject):
    startAgain = Signal()  # weights came for the network a start failed for, and it is still chosen
    status = Signal(str)

    def __init__(self, view: TrainingView, current_arch: Callable[[], str], parent: QObject | None = None):
        super().__init__(parent)
        self.view, self.current_arch = view, current_arch
        self.slot = JobSlot("model files", self)
        self.missing_arch: str | None = None  # a start failed for want of this network's weights
        self.slot.runningChanged.connect(view.show_import_busy)

    @property
    def busy(self) -> bool:
        return self.slot.running

    def weights_missing(self, arch: str, message: str) -> None:
        """A start failed for want of ``arch``'s weights: say so and offer the import."""
        self.missing_arch = arch
        self.view.show_weights(message)

    def check_on_disk(self) -> None:
        """Say at once, not at Start, when the chosen network's weights still need a download."""
        from engine.models import weights_on_disk

        arch = self.current_arch()
        if self.missing_arch == arch:
            return  # the box already explains a failed attempt
        if weights_on_disk(arch):
            self.view.show_weights(None)
            return
        self.view.show_weights(
            f"{ARCH_LABELS.get(arch, arch)}'s ImageNet weights are not on this computer yet. Start downloads them "
            f"once (needs the internet); offline, import a weights file (.pth state dict) instead."
        )

    def choose_weights_file(self, retry: bool = True) -> None:
        """Ask for a weights file; ``retry``: for the network a start failed for, then start again."""
        arch = (self.missing_arch if retry else None) or self.current_arch()
        path = ask_weights_file(self.view, arch)
        if path:
            self.import_weights(arch, path, retry)

    def import_weights(self, arch: str, path: str, retry: bool = True) -> None:
        """Check ``path`` as ``arch``'s pretrained weights and keep a copy (engine.models.import_weights)."""
        self.status.emit(f"Checking {Path(path).name} for {arch}…")
        self.slot.start(
            import_job,
            arch,
            path,
            owner="import",
            on_finished=lambda dest: self._on_imported(arch, str(dest), retry),
            on_failed=lambda msg: self._failed("Import failed", "Could not import weights", msg),
        )

    def _on_imported(self, arch: str, dest: str, retry: bool) -> None:
        retry = retry and arch == self.missing_arch  # start again only after a start that failed for it
        if arch == self.missing_arch:
            self.missing_arch = None
        self.check_on_disk()
        if retry and arch == self.current_arch():
            self.status.emit(f"Imported weights for {arch} ({dest}). Starting…")
            self.startAgain.emit()
        else:
            self.status.emit(f"Imported weights for {arch} ({dest}).")

    def save(self, learner, path: str) -> None:
        """Write ``learner``'s model: a Fovea model file, or ONNX when ``path`` ends in .onnx."""
        self.slot.start(
            save_job,
            learner,
            str(path),
            owner="save",
            on_finished=lambda written: self.status.emit(f"Saved model to {written}"),
            on_failed=lambda msg: self._failed("Saving failed", "Could not save the model", msg),
        )

    def _failed(self, status: str, title: str, message: str) -> None:
        self.status.emit(f"{status}: {message}")
        self.view.show_error(title, message)

    def shutdown(self) -> None:
        self.slot.shutdown(30)
