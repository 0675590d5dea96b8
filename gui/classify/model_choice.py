"""Which model the Classify tab uses, and the list to choose from: the pretrained ImageNet network, the one
trained in this session (a copy), the run store's models (with their datasets' names) and the model files
the user opened — the list and the current model kept across restarts (engine.model_choice). Every model
loads in a job; a damaged run or file is reported and left out, never used."""

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


@dataclass(eq=False)  # entries are told apart by identity
class ModelEntry:
    kind: str  # imagenet | trained | run | file
    title: str
    model: object | None = None  # FoveaModel; None until loaded
    path: str | None = None
    ref: dict | None = None  # engine.model_choice's reference: {"run", "which"} or {"path"}; None: not stored
    dataset: str = ""  # the dataset a stored run trained on


def trained_ref(model) -> dict | None:
    """The stored run a model trained in this session comes from (its last epoch), if it was recorded."""
    run = getattr(model.meta, "run", None) or {}
    return {"run": run["run"], "which": "last"} if run.get("run") is not None else None


class ModelChoice(QObject):
    """Controller of the model bar: owns the entries and the current choice, loads models in jobs."""

    changed = Signal(object)  # the entry in use changed; its model (None while it is still loading)
    imagenetFailed = Signal(str)  # the ImageNet network could not be loaded (work waiting for it is dropped)
    fileFailed = Signal(str)  # a model (file or stored run) could not be opened

    def __init__(
        self, state: AppState, view: ModelBar, store=None, parent: QObject | None = None, restore: bool = True
    ):
        super().__init__(parent)
        from engine.runs import RunStore  # no torch: the store imports it only to load models

        self.state, self.view = state, view
        self.store = store if store is not None else RunStore()
        self.entries = [ModelEntry("imagenet", IMAGENET_TITLE)]
        self.current = 0
        self.problems: list[str] = []  # damaged runs/files found, shown under the description
        self._waiting: list = []  # callbacks for the model in use, once it is loaded
        self._device = ""
        self._closed = False
        self.imagenet_slot = JobSlot("ImageNet model", self)
        self.file_slot = JobSlot("model", self)  # stored runs and files, and the current model at start
        self.copy_slot = JobSlot("trained model", self)
        self.restoring = False  # the current model of the last session is loading
        self._previous: ModelEntry | None = None  # in use before the pick now loading (a failure goes back)
        view.modelChosen.connect(self._on_view_model_chosen)
        view.fileChosen.connect(self.open_file)
        state.modelChanged.connect(self._on_state_model_changed)
        self.refresh()
        if state.model is not None:
            self._on_state_model_changed(state.model)
        elif restore and self.store.state.current() is not None:  # a small JSON read; loading is a job
            self._restore()

    def current_entry(self) -> ModelEntry:
        return self.entries[self.current]

    def current_model(self):
        """The model in use, or None while it is still loading."""
        return self.current_entry().model

    @property
    def loading(self) -> bool:
        return self.imagenet_slot.running or self.file_slot.running

    def with_model(self, fn) -> None:
        """Call fn(model) with the model in use, loading it first if needed."""
        model = self.current_model()
        if model is not None:
            fn(model)
            return
        self._waiting.append(fn)
        self._load_current()

    def preload(self) -> None:
        """Load the model in use while the user picks a photo, so the first drop is quick."""
        if self.current_model() is None and not self.loading and not self._closed:
            self._load_current()

    def refresh(self) -> None:
        """Read the store's runs and opened files again (after a run was recorded or deleted)."""
        from engine.model_choice import model_choices

        self.store.problems.clear()
        fixed = [e for e in self.entries if e.kind in ("imagenet", "trained")]
        old = {repr(e.ref): e for e in self.entries if e.kind in ("run", "file")}
        current = self.current_entry()
        stored = []
        for choice in model_choices(self.store):
            entry = old.get(repr(choice["ref"]))
            if entry is None:
                path = choice["ref"].get("path")
                title = f"File: {Path(path).name}" if path else choice["label"]
                entry = ModelEntry("file" if path else "run", title, None, path, choice["ref"], choice["dataset"])
            stored.append(entry)
        if current.kind in ("run", "file") and current not in stored:
            stored.append(current)  # in use (loaded), though the store no longer lists it
        self.entries = fixed + stored
        self.current = self.entries.index(current)
        self.problems = list(self.store.problems)
        self._show_choice()

    def open_file(self, path: str) -> None:
        """Load a saved model in a job, switch to it and remember it in the model list."""
        path = str(Path(path).resolve())
        entry = next((e for e in self.entries if e.path == path), None)
        if entry is None:
            entry = ModelEntry("file", f"File: {Path(path).name}", None, path, {"path": path})
        self.state.status(f"Loading {Path(path).name} …")
        self._load(entry, opened=True)

    def shutdown(self) -> None:
        self._closed = True
        self._waiting = []
        for slot in (self.imagenet_slot, self.file_slot, self.copy_slot):
            slot.shutdown()

    # model changes -> view callbacks
    def _show_choice(self) -> None:
        tips = [e.title + (f" — trained on {e.dataset}" if e.dataset else "") for e in self.entries]
        self.view.set_titles([e.title for e in self.entries], self.current, tips)
        self.view.set_info(self._info_text())

    def _info_text(self) -> str:
        entry = self.current_entry()
        skipped = ("\nLeft out of the list: " + "; ".join(self.problems) + ".") if self.problems else ""
        if entry.kind == "imagenet":
            text = IMAGENET_INFO + (" (Loads on first use.)" if entry.model is None else "")
            return text + " Next: try it — drop a photo below." + skipped
        if entry.model is None:
            return f"Loading {entry.title}…" + skipped
        from engine.inference import describe_model

        where = {
            "trained": "trained in this session",
            "run": f"from the run store ({entry.title})",
            "file": f"loaded from {entry.path}",
        }[entry.kind]
        return f"{describe_model(entry.model)} — {where}. Next: try it, then export." + skipped

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
        """Add an entry (unless listed) and use it; a newly trained model replaces the previous one."""
        for i, old in enumerate(self.entries):
            if old is entry or (entry.kind == "trained" and old.kind == "trained"):
                self.entries[i] = entry
                self._select(i)
                return
        self.entries.insert(1 if entry.kind == "trained" else len(self.entries), entry)
        self._select(self.entries.index(entry))

    def _remember(self, entry: ModelEntry) -> None:
        """Make the user's pick the current model of the next start too."""
        from engine.model_choice import set_current_model

        ref = trained_ref(entry.model) if entry.kind == "trained" else entry.ref
        if entry.kind != "imagenet" and ref is None:
            return  # a model that was never stored cannot come back after a restart
        try:
            set_current_model(self.store, ref)
        except OSError as exc:
            self.state.status(f"Could not remember the model in use: {exc.strerror or exc}")

    # loading
    def _load_current(self) -> None:
        """Start loading the model in use unless it is loading already."""
        if self._closed or self.restoring:
            return  # the last session's model comes first: waiting work is served when it is in
        entry = self.current_entry()
        if entry.kind != "imagenet":
            if not self.file_slot.running:
                self._load(entry)
            return
        if self.imagenet_slot.running:
            return
        from engine.inference import load_model_job

        self.view.set_info("Loading the pretrained ImageNet network (about a second)…")
        self.imagenet_slot.start(
            load_model_job, None, on_finished=self._on_imagenet_loaded, on_failed=self._on_imagenet_failed
        )

    def _load(self, entry: ModelEntry, opened: bool = False) -> None:
        from engine.model_choice import load_choice_job

        self.restoring = False
        self.file_slot.start(
            load_choice_job,
            self.store,
            entry.ref,
            opened,
            on_finished=lambda model, e=entry: self._on_entry_loaded(e, model),
            on_failed=lambda message, e=entry: self._on_entry_failed(e, message),
        )

    def _restore(self) -> None:
        """Load the last session's current model (engine.model_choice.current_model_job)."""
        from engine.model_choice import current_model_job

        self.restoring = True
        self.view.set_info("Loading the model you used last time…")
        self.file_slot.start(
            current_model_job,
            self.store,
            on_finished=self._on_restored,
            on_failed=self._on_restore_failed,
        )

    def _serve_waiting(self) -> None:
        model = self.current_model()
        if model is None:
            if self._waiting:
                self._load_current()
            return
        waiting, self._waiting = self._waiting, []
        for fn in waiting:
            fn(model)

    # view changes -> controller callbacks
    def _on_view_model_chosen(self, index: int) -> None:
        if not (0 <= index < len(self.entries)) or index == self.current:
            return
        self._previous = self.current_entry()
        entry = self.entries[index]
        self._select(index)
        if entry.model is None and entry.kind != "imagenet":
            self._load(entry)
        else:
            self.restoring = False
            self._remember(entry)
            self._serve_waiting()

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
        if self.restoring:  # a model trained now wins over the last session's
            self.file_slot.drop()
            self.restoring = False
        from engine.run_records import model_label

        classes = model.meta.classes
        run = getattr(model.meta, "run", None) or {}
        names = ", ".join(classes[:3]) + (" …" if len(classes) > 3 else "")
        what = model_label({**run, "which": ""}, model.meta.arch) if run.get("epoch") else names
        ref = trained_ref(model)
        listed = next((e for e in self.entries if ref is not None and e.ref == ref), None)
        if listed is not None:  # a stored run's model (the window restored it, or Train's Use): its own name
            listed.model = model
            self._add(listed)
        else:
            self._add(ModelEntry("trained", f"Trained in this session ({what})", model, ref=ref))
        self.refresh()  # the run it was recorded as is in the store now
        self._show_device()
        self._serve_waiting()
        self.state.status("Classify now uses the model you just trained.")

    def _on_entry_loaded(self, entry: ModelEntry, model) -> None:
        entry.model = model
        if entry not in self.entries:
            self._add(entry)  # a file opened for the first time
        elif entry is not self.current_entry():
            self._select(self.entries.index(entry))
        else:
            self._show_choice()
            self.changed.emit(model)
        self._remember(entry)
        if entry.kind == "file":
            self.refresh()  # the opened file is in the model list now
        self._show_device()
        self._serve_waiting()
        self.state.status(f"Classify now uses {entry.title}.")

    def _on_entry_failed(self, entry: ModelEntry, message: str) -> None:
        """A damaged run or file: say so, leave it out of the list, go back to the model used before."""
        self.problems.append(message)
        if entry in self.entries:
            keep = self._previous if entry is self.current_entry() else self.current_entry()
            self.entries.remove(entry)
            self._select(self.entries.index(keep) if keep in self.entries else 0)
        self.fileFailed.emit(message)
        self._serve_waiting()

    def _on_restored(self, result) -> None:
        self.restoring = False
        ref, model = result
        self.problems += [p for p in self.store.problems if p not in self.problems]
        if ref is not None:
            entry = next((e for e in self.entries if e.ref == ref), None)
            if entry is None:
                path = ref.get("path")
                title = f"File: {Path(path).name}" if path else f"Run {ref['run']} ({ref.get('which', 'best')})"
                entry = ModelEntry("file" if path else "run", title, None, path, ref)
            entry.model = model
            self._add(entry)
            self._show_device()
        else:
            self._show_choice()
        self._serve_waiting()

    def _on_restore_failed(self, message: str) -> None:
        self.restoring = False
        self.problems.append(message)
        self._show_choice()
        self._serve_waiting()

    def _on_imagenet_loaded(self, model) -> None:
        self.entries[0].model = model
        self.view.set_info(self._info_text())
        self._show_device()
        self._serve_waiting()

    def _on_imagenet_failed(self, message: str) -> None:
        self._waiting = []
        self.view.set_info(f"The ImageNet model could not be loaded: {message}")
        self.imagenetFailed.emit(message)
