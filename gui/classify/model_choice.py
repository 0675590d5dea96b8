"""Which model the Classify tab uses: the pretrained ImageNet network, the one trained in this session
(a copy), or saved model files; loading each in a job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gui.classify.model_bar import ModelBar
from gui.jobs import JobSlot
from gui.state import AppState

IMAGENET_TITLE = "Pretrained ImageNet model (before training)"
IMAGENET_INFO = (
    "The pretrained network knows 1,000 everyday ImageNet classes (tabby cat, espresso, sneaker …) — "
    "drop any photo to see what it recognises. Train a model in the Train tab to classify your own "
    "classes; it appears here when training ends."
)


@dataclass
class ModelEntry:
    kind: str  # imagenet | trained | file
    title: str
    model: object | None = None  # FoveaModel; None until loaded (only the ImageNet entry loads on demand)
    path: str | None = None


class ModelChoice(QObject):
    """Controller of the model bar: owns the entries and the current choice, loads models in jobs."""

    changed = Signal(object)  # the entry in use changed; its model (None while the ImageNet one is unloaded)
    imagenetFailed = Signal(str)  # the ImageNet network could not be loaded (work waiting for it is dropped)
    fileFailed = Signal(str)  # a model file could not be opened

    def __init__(self, state: AppState, view: ModelBar, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.view = view
        self.entries = [ModelEntry("imagenet", IMAGENET_TITLE)]
        self.current = 0
        self._waiting: list = []  # callbacks for the model in use, once it is loaded
        self._device = ""
        self._closed = False
        self.imagenet_slot = JobSlot("ImageNet model", self)
        self.file_slot = JobSlot("model file", self)
        self.copy_slot = JobSlot("trained model", self)
        view.modelChosen.connect(self._on_view_model_chosen)
        view.fileChosen.connect(self.open_file)
        state.modelChanged.connect(self._on_state_model_changed)
        self._show_choice()
        if state.model is not None:
            self._on_state_model_changed(state.model)

    def current_entry(self) -> ModelEntry:
        return self.entries[self.current]

    def current_model(self):
        """The model in use, or None while it is still loading."""
        return self.current_entry().model

    @property
    def loading(self) -> bool:
        return self.imagenet_slot.running

    def with_model(self, fn) -> None:
        """Call fn(model) with the model in use, loading the ImageNet model first if needed."""
        model = self.current_model()
        if model is not None:
            fn(model)
            return
        self._waiting.append(fn)
        if self.imagenet_slot.running or self._closed:
            return
        from engine.inference import load_model_job

        self.view.set_info("Loading the pretrained ImageNet network (about a second)…")
        self.imagenet_slot.start(
            load_model_job, None, on_finished=self._on_imagenet_loaded, on_failed=self._on_imagenet_failed
        )

    def preload(self) -> None:
        """Load the ImageNet network while the user picks a photo, so the first drop is quick."""
        if self.current_model() is None and not self.loading and not self._closed:
            self.with_model(lambda _model: None)

    def open_file(self, path: str) -> None:
        """Load a saved model in a job and switch to it."""
        from engine.inference import load_model_job

        self.state.status(f"Loading {Path(path).name} …")
        self.file_slot.start(
            load_model_job,
            path,
            on_finished=lambda model, p=path: self._on_file_loaded(model, p),
            on_failed=self.fileFailed.emit,
        )

    def shutdown(self) -> None:
        self._closed = True
        self._waiting = []
        for slot in (self.imagenet_slot, self.file_slot, self.copy_slot):
            slot.shutdown()

    # model changes -> view callbacks
    def _show_choice(self) -> None:
        self.view.set_titles([e.title for e in self.entries], self.current)
        self.view.set_info(self._info_text())

    def _info_text(self) -> str:
        entry = self.current_entry()
        if entry.kind == "imagenet":
            return IMAGENET_INFO + (" (Loads on first use.)" if entry.model is None else "")
        if entry.model is None:
            return "Loading…"
        from engine.inference import describe_model

        where = "trained in this session" if entry.kind == "trained" else f"loaded from {entry.path}"
        return f"{describe_model(entry.model)} — {where}."

    def _show_device(self) -> None:
        """Where models run; asked once a model has loaded (torch is imported by then, on the job's thread)."""
        if not self._device:
            from engine.models import device_name, pick_device

            self._device = device_name(pick_device())
            self.view.set_device(self._device)

    def _select(self, index: int) -> None:
        self.current = index
        self._show_choice()
        self.changed.emit(self.current_model())

    def _add(self, entry: ModelEntry) -> None:
        """Add an entry and use it; a newly trained model replaces the previous one."""
        for i, old in enumerate(self.entries):
            if entry.kind == "trained" and old.kind == "trained":
                self.entries[i] = entry
                self._select(i)
                return
        self.entries.append(entry)
        self._select(len(self.entries) - 1)

    # view changes -> controller callbacks
    def _on_view_model_chosen(self, index: int) -> None:
        if 0 <= index < len(self.entries) and index != self.current:
            self._select(index)

    # state and job changes -> controller callbacks
    def _on_state_model_changed(self, model) -> None:
        if model is None:
            return
        from engine.inference import copy_model_job

        # a copy: the Train tab may keep training its model while we classify with this one
        self.copy_slot.start(
            copy_model_job,
            model,
            on_finished=self._on_trained_copied,
            on_failed=lambda m: self.state.status(f"Could not use the trained model: {m}"),
        )

    def _on_trained_copied(self, model) -> None:
        classes = model.meta.classes
        names = ", ".join(classes[:3]) + (" …" if len(classes) > 3 else "")
        self._add(ModelEntry("trained", f"Trained in this session ({names})", model))
        self._show_device()
        self.state.status("Classify now uses the model you just trained.")

    def _on_file_loaded(self, model, path: str) -> None:
        self._add(ModelEntry("file", f"File: {Path(path).name}", model, path))
        self._show_device()
        self.state.status(f"Classify now uses {Path(path).name}.")

    def _on_imagenet_loaded(self, model) -> None:
        self.entries[0].model = model
        self.view.set_info(self._info_text())
        self._show_device()
        waiting, self._waiting = self._waiting, []
        for fn in waiting:
            fn(self.current_model() or model)

    def _on_imagenet_failed(self, message: str) -> None:
        self._waiting = []
        self.view.set_info(f"The ImageNet model could not be loaded: {message}")
        self.imagenetFailed.emit(message)
