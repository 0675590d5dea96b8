"""Which model is current: named at the top of the tab (engine.run_records.model_label), and changed by
a run, New model, Revert to best epoch or Use (a stored run's model). AppState's model (what Classify
uses) and the run store's current-model pointer (engine.model_choice) always change together here."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from engine.model_choice import set_current_model
from engine.run_records import model_label
from engine.run_rules import new_model_reason
from engine.runs import RunStore
from gui.training.model_bar import ModelBar

NO_DATASET_HINT = "Next: open a dataset (File ▸ Open)"
NO_MODEL_HINT = "Next: find a learning rate (LR finder tab), then Train"


IN_USE_HINT = "Classify uses {label}; to train it further, right-click its run in the history ▸ Use"


def current_label(learner, dataset, model=None) -> tuple[str, str]:
    """(the current model in one line, the next step when there is no trained model yet). ``model``:
    AppState's model, e.g. the stored run restored at start, named while no learner holds one."""
    run = dict(getattr(getattr(model, "meta", None), "run", None) or {})
    if (learner is None or learner.model is None) and run.get("epoch") and dataset is not None:
        in_use = IN_USE_HINT.format(label=model_label(run, model.meta.arch))
        return "none yet — Start trains one from the ImageNet-pretrained weights", in_use
    if learner is None or learner.model is None:
        if dataset is None:
            return "none yet", NO_DATASET_HINT
        return "none yet — Start trains one from the ImageNet-pretrained weights", NO_MODEL_HINT
    info = dict(learner.weights_from)
    info.setdefault("dataset", learner.dataset.root.name)
    return model_label(info, learner.config.arch), ""


class CurrentModel(QObject):
    configFromRun = Signal(object)  # the TrainConfig of a run whose model is now in use

    def __init__(self, state, bar: ModelBar, store: RunStore, report: Callable[[str], None], parent=None):
        super().__init__(parent)
        self.state, self.bar, self.store, self.report = state, bar, store, report
        self.busy = False  # a run is on: the model must not change under it
        bar.newModelRequested.connect(self.new_model)
        bar.revertRequested.connect(self.revert)
        state.learnerChanged.connect(lambda _learner: self.refresh())
        state.datasetChanged.connect(lambda _dataset: self.refresh())
        state.modelChanged.connect(lambda _model: self.refresh())  # e.g. the last session's, restored
        self.refresh()

    def refresh(self) -> None:
        learner = self.state.learner
        label, hint = current_label(learner, self.state.dataset, self.state.model)
        has_model = learner is not None and learner.model is not None
        from_run = has_model and learner.weights_from.get("run") is not None
        self.bar.show_model(label, hint, can_new=has_model and not self.busy, can_revert=from_run and not self.busy)

    def new_model_note(self, config) -> str | None:
        """What Start would do that the user may not expect: begin a new model (None: it continues)."""
        learner = self.state.learner
        if learner is None or learner.model is None:
            return None  # the label already says a new model starts
        return new_model_reason(learner, self.state.dataset, config)

    def adopt(self, learner, which: str = "last") -> None:
        """``learner``'s model is now the one Classify uses and the store's current model."""
        self.state.set_learner(learner)
        self.state.set_model(learner.model)
        run = learner.weights_from.get("run")
        if run is not None:
            try:
                set_current_model(self.store, {"run": run, "which": which})
            except OSError as exc:
                self.report(f"Could not remember the current model: {exc.strerror or exc}")
        self.refresh()

    def new_model(self) -> None:
        """The next Start trains a new model from the pretrained weights (the current one stays stored)."""
        if self.busy:
            return
        self.state.set_learner(None)
        self.report("New model: the next Start trains one from the ImageNet-pretrained weights.")

    def revert(self) -> None:
        from engine.run_training import revert_to_best

        learner = self.state.learner
        if self.busy or learner is None:
            return
        try:
            came = revert_to_best(learner, self.store)
        except ValueError as exc:
            self.report(f"Could not revert: {exc}")
            return
        self.adopt(learner, "best")
        self.report(f"Back to run {came.get('run')}'s best epoch ({came.get('epoch')}).")

    def use_run(self, run_id: int) -> None:
        """Continue from stored run ``run_id``'s best model, with its settings."""
        from engine.run_training import learner_from_run

        if self.busy or self.state.dataset is None:
            self.report("Open the run's dataset first, then use its model." if not self.busy else "")
            return
        try:
            learner = learner_from_run(self.store, run_id, self.state.dataset)
        except ValueError as exc:
            self.report(f"Could not use run {run_id}'s model: {exc}")
            return
        self.configFromRun.emit(learner.config)
        self.adopt(learner, "best")
        self.report(f"Using run {run_id}'s best model: Start continues it.")

    def adopt_run(self, run_id: int | None, dataset) -> None:
        """Run ``run_id``'s last epoch becomes the current model (a run other processes trained and stored)."""
        from engine.run_training import learner_from_run

        if run_id is None:
            return
        try:
            learner = learner_from_run(self.store, run_id, dataset, which="last")
        except ValueError as exc:
            self.report(f"Trained, but the model could not be loaded: {exc}")
            return
        self.adopt(learner, "last")
