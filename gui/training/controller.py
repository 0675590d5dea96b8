"""The Train tab's controller: owns the form's config and the current run, writes AppState, runs the
recorded training (engine.run_training.train_run) in the learner slot it shares with the LR finder —
or, with several processes, the launcher (gui.training.launched) — and file jobs in their own slot.

Two families of handlers, side by side: model changes → view (``_on_state_*``, ``_on_job_*``) and
view changes → model (``_on_view_*``). The charts follow the run through ``RunCharts``; the current
model (label, New model, Revert, Use) is ``CurrentModel``'s; the history is ``RunHistoryController``'s.
"""

from __future__ import annotations

import dataclasses
import math

from PySide6.QtCore import QObject

from engine.config import TrainConfig
from engine.lr_curves import format_lr
from engine.paths import data_dir
from engine.run_rules import DIVERGED_ADVICE, lr_warning
from engine.runs import RunStore
from gui.jobs import JobSlot
from gui.training import dialogs, recipes
from gui.training.current_model import CurrentModel
from gui.training.history import RunHistoryController
from gui.training.kept_settings import KeptSettings
from gui.training.model_files import ModelFiles, model_file_name
from gui.training.processes import Processes
from gui.training.readiness import bad_files, ready_text
from gui.training.recipes import AUTO, CUSTOM, Recipe, recipe_note
from gui.training.run_charts import RunCharts
from gui.training.run_jobs import DivergedRun, WeightsMissing, fit_job, result_parts, start_text
from gui.training.run_progress import format_seconds
from gui.training.settings import FormState, config_from_form, parse_lr_text, with_model_head
from gui.training.view import TrainingView

OWNER = "Train"


class TrainingController(QObject):
    def __init__(
        self, state, view: TrainingView, learner_slot: JobSlot, store: RunStore, lr_range=None, kept=None, parent=None
    ):
        super().__init__(parent)
        self.state, self.view, self.learner_slot, self.store = state, view, learner_slot, store
        self.lr_range = lr_range or (lambda: None)  # the LR finder's tested (low, high), when it ran
        self.files = ModelFiles(view, lambda: self.config.arch, self)
        self.history = RunHistoryController(view.history_box, store, self._status, self)
        self.current = CurrentModel(state, view.model_bar, store, self._status, self)
        self.charts = RunCharts(view, self.history.compared, self)
        initial = state.train_config if isinstance(state.train_config, TrainConfig) else TrainConfig()
        self._form = FormState(initial)  # the form's settings as a config (the LR is AppState's)
        self._fit = None  # the QtJob of this tab's last run
        self._learner = None  # the learner of the current/last run, and its config
        self._run_config: TrainConfig | None = None
        self.recipe = Recipe()  # Auto by default; the form's config is Custom's
        self._auto = False  # the current/last run is Auto's
        self._store_errors: set[str] = set()  # shown once each
        self.verified_bad: set[str] = set()  # what the Data tab's verification found (set_bad_files)
        self.processes = Processes(view, self)
        self.kept = kept or KeptSettings()  # the recipe and form, kept for the next start
        self._connect()
        view.show_lr(format_lr(state.lr))

    def _connect(self) -> None:
        # model changes -> view
        self.state.lrChanged.connect(self._on_state_lr)
        self.state.datasetChanged.connect(self._on_state_dataset)
        self.state.learnerChanged.connect(lambda _learner: self._commit_form())  # depths follow the model
        self.learner_slot.runningChanged.connect(lambda _running: self._refresh())
        self.files.slot.runningChanged.connect(lambda _busy: self._refresh())
        self.files.startAgain.connect(self.start)
        self.files.status.connect(self._status)
        self.history.useRun.connect(self.current.use_run)
        self.history.runsDeleted.connect(lambda _ids: self.charts.show_compared())
        self.current.configFromRun.connect(self._on_run_config)
        # view changes -> controller callbacks that update the model
        v = self.view
        v.settingsEdited.connect(self._on_view_settings_edited)
        v.recipeEdited.connect(lambda: self.set_recipe(v.recipe()))
        v.settingsTyping.connect(self._on_view_settings_typing)
        v.lrEdited.connect(self._on_view_lr_edited)
        v.lrTyping.connect(lambda text: v.show_lr_valid(parse_lr_text(text) is not None))
        v.startRequested.connect(self.start)
        v.cancelRequested.connect(self.cancel)
        v.saveRequested.connect(lambda: self.choose_save_path(onnx=False))
        v.onnxRequested.connect(lambda: self.choose_save_path(onnx=True))
        v.importRequested.connect(self.files.choose_weights_file)
        v.comparedChanged.connect(lambda _ids: self.charts.show_compared())
        v.clusterRequested.connect(lambda: self.processes.show_cluster_commands(self.config, self.state.dataset))

    # ------------------------------------------------------------ public
    @property
    def config(self) -> TrainConfig:
        return self._form.config

    @property
    def running(self) -> bool:
        """A run of this tab is in progress (from Start until its last signal has been handled)."""
        return self.learner_slot.is_current(self._fit)

    def set_config(self, config: TrainConfig) -> None:
        """Train with ``config``: Custom, ``config`` in the form (its LR goes to AppState, the form follows it)."""
        self.show_config(config)
        self.set_recipe(Recipe(CUSTOM, self.recipe.budget_s))

    def set_recipe(self, recipe: Recipe) -> None:
        """Train with ``recipe`` (Custom: the form's settings, kept while another recipe is chosen)."""
        self.recipe = recipe
        self.view.show_recipe(recipe, recipe_note(recipe, self.config))
        self._refresh()
        self.kept.save(self.config, recipe)

    def show_config(self, config: TrainConfig) -> None:
        """``config`` in the form (Custom's settings) without changing the recipe."""
        self.view.set_values(config)
        self._form = FormState(config)  # keeps the settings the form does not show (seed, threads, …)
        self.state.set_lr(config.lr)
        self._commit_form()

    def start(self) -> None:
        """Train with the form's settings (continuing the current model when it can)."""
        if self.running or self.state.dataset is None:
            return
        if self.learner_slot.running:
            owner = self.learner_slot.owner or "other tab"
            self._status(f"The {owner} is running on this model: wait for it (or cancel it), then press Start.")
            return
        self._on_view_lr_edited(self.view.lr_text())  # a typed LR counts without Return
        self._commit_form()
        if self.recipe.name == AUTO:
            self._start_auto()
            return
        if not self.recipe.custom:
            self._start_stages(recipes.preset_configs(self.recipe.name, self.config))  # as `train --recipe NAME`
            return
        if self._form.mult_error and self.config.unfreeze:
            self.view.show_error("Invalid learning-rate multipliers", self._form.mult_error)
            return
        warning = lr_warning(self.config.lr, self.lr_range())
        if warning and not dialogs.confirm_lr(self.view, warning):
            self._status("Not started: choose a lower learning rate, or use the LR finder.")
            return
        if self.view.processes() > 1:
            self._start_launched(self.view.processes())
            return
        self._start_stages([self.config])

    def _start_stages(self, stages: list[TrainConfig]) -> None:
        from engine.training import learner_for

        config = stages[0]
        learner = learner_for(self.state.learner, self.state.dataset, config)
        continued = learner.model is not None
        self.state.set_learner(learner)
        epochs = sum(c.total_epochs() for c in stages)
        self._begin(learner, config, fit_job, learner, self.store, stages, epochs=epochs)
        what = "Continuing training of" if continued else "Training a new"
        recipe = "" if self.recipe.custom else f"{self.recipe.label()}: "
        self._status(f"{recipe}{what} {config.arch} at {config.size} px on {learner.device.type.upper()}…")

    def _start_auto(self) -> None:
        """Auto (engine.recipes.auto_job) on the dataset with the form's data and device settings; it trains
        a new model, kept as one stored run."""
        config, budget = self.config, self.recipe.budget_s
        self._begin(None, config, recipes.auto_job, self.state.dataset, budget, self.store, config, budget_s=budget)
        self._status(f"{self.recipe.label()}: training a new {config.arch} at {config.size} px…")

    def _begin(self, learner, config: TrainConfig, fn, *args, epochs: int = 0, budget_s: float | None = None) -> None:
        self._learner, self._run_config, self._auto = learner, config, budget_s is not None
        self.view.show_weights(None)
        self.charts.begin(config, learner.schedule if learner is not None else list, epochs, budget_s)
        self._fit = self.learner_slot.start(
            fn,
            *args,
            owner=OWNER,
            on_progress=self._on_job_progress,
            on_finished=self._on_job_finished,
            on_failed=self._on_job_failed,
            on_cancelled=self._on_job_cancelled,
            on_ended=self._on_job_ended,
        )
        self.current.busy = True
        self.current.refresh()
        self.view.show_progress(0, "starting…")
        self.view.show_eta("")
        self._refresh()

    def _start_launched(self, nproc: int) -> None:
        """Train in ``nproc`` processes through torchrun; the result comes back as a stored run."""
        from gui.training.launched import launched_fit

        command = self.processes.command(self.config, self.state.dataset, nproc)
        if command is not None:
            self._begin(None, self.config, launched_fit, command)
            self._status(f"Training {self.config.arch} in {nproc} processes (one per GPU)…")

    def cancel(self) -> None:
        if self.running:
            self.learner_slot.cancel()
            self.view.show_buttons(can_start=False, can_cancel=False, can_save=False)
            self._status("Cancelling… (stops after the current batch)")

    def shutdown(self) -> None:
        """Cancel this tab's jobs and wait for their threads (closing, tests)."""
        if self._fit is not None:
            self._fit.cancel()
            self._fit.wait(30)
        self.files.shutdown()
        self.charts.end(now=True)

    def reload_history(self) -> str:
        return self.history.reload(self.state.dataset)

    def show_device(self) -> None:
        self.processes.show_device()

    # ------------------------------------------------------------ model changes -> view
    def _on_state_lr(self, lr: float) -> None:
        shown = parse_lr_text(self.view.lr_text())
        if shown is None or not math.isclose(shown, lr, rel_tol=1e-6):
            self.view.show_lr(format_lr(lr))
        self.view.show_lr_valid(True)
        self._commit_form()

    def _on_state_dataset(self, dataset) -> None:
        self.verified_bad = set()
        self.reload_history()
        self._refresh()
        if not self.running:
            self.show_ready()

    def set_bad_files(self, paths) -> None:
        """Files the Data tab's verification could not decode: left out of the counts shown."""
        self.verified_bad = {str(p) for p in paths}
        if not self.running:
            self.show_ready()

    def _on_run_config(self, config: TrainConfig) -> None:
        self.set_config(dataclasses.replace(config, lr=self.state.lr))

    def show_ready(self) -> None:
        self.view.show_status(ready_text(self.state.dataset, self.bad_files()))

    def bad_files(self) -> set[str]:
        return bad_files(self.verified_bad, self.state.learner, self.state.dataset)

    def _refresh(self) -> None:
        """Buttons and form follow the run, the data and the file jobs (never writes the model)."""
        running, busy = self.running, self.files.busy
        learner = self.state.learner
        has_model = learner is not None and learner.model is not None
        self.view.show_form(FormState(self.config, self._form.mult_error, running))
        note = None if running else self._new_model_note(has_model)
        self.view.run_box.show_new_model(note)
        self.view.show_buttons(
            can_start=not running and self.state.dataset is not None and not busy,
            can_cancel=running,
            can_save=not running and has_model and not busy,
            start_tip="" if self.state.dataset is not None else "Open a dataset first",
            start_text=start_text(has_model and note is None, self.view.processes() if self.recipe.custom else 1),
        )

    def _new_model_note(self, has_model: bool) -> str | None:
        if self.recipe.name == AUTO:
            return "Auto trains a new model (the current one stays in the history)." if has_model else None
        first = self.config if self.recipe.custom else recipes.preset_configs(self.recipe.name, self.config)[0]
        return self.current.new_model_note(first)

    def _status(self, text: str) -> None:
        if text:
            self.view.show_status(text)
            self.state.status(text)

    # ------------------------------------------------------------ view changes -> model
    def _on_view_settings_edited(self) -> None:
        arch = self.config.arch
        self._commit_form()
        if self.config.arch != arch:
            self.files.check_on_disk()

    def _on_view_settings_typing(self) -> None:
        """Preview typed multipliers (their LRs, or why they are refused); committed on editing finished."""
        preview = config_from_form(self.config, self.view.values(), self.state.lr)
        self.view.show_form(FormState(preview.config, preview.mult_error, self.running))

    def _commit_form(self) -> None:
        form = config_from_form(self.config, self.view.values(), self.state.lr)
        config = with_model_head(form.config, self.state.learner, self.state.dataset)
        self._form = dataclasses.replace(form, config=config)
        self._refresh()
        self.kept.save(config, self.recipe)
        if self.config != self.state.train_config:
            self.state.set_train_config(self.config)

    def _on_view_lr_edited(self, text: str) -> None:
        lr = parse_lr_text(text)
        if lr is None:  # put back the value in use
            self.view.show_lr(format_lr(self.state.lr))
            return
        self.state.set_lr(lr)

    # ------------------------------------------------------------ the run -> view
    def _on_job_progress(self, rec) -> None:
        if not isinstance(rec, dict):
            return
        if rec.get("type") == "run":
            error = rec.get("error") or ""
            if error and error not in self._store_errors:  # once each: the run goes on, unrecorded
                self._store_errors.add(error)
                self._status(f"Training goes on, but it is not being recorded: {error}")
                self.view.history_box.show_note(error)
            return
        self.charts.add(rec)

    def _on_job_finished(self, result) -> None:
        if isinstance(result, WeightsMissing):
            self.files.weights_missing(result.arch, result.message)
            self._status("Training did not start: pretrained weights missing.")
            return
        if isinstance(result, DivergedRun):
            self._on_diverged(result.message)
            return
        result = result if isinstance(result, dict) else {}
        self.view.show_progress(1000, "Done")
        self.view.show_eta(f"Finished in {format_seconds(self.charts.seconds)}")
        if self._auto:
            self._adopt_auto(result)
            return
        if self._learner is None:  # trained in other processes: continue from the run they stored
            self.current.adopt_run(result.get("run"), self.state.dataset)
        else:
            self.current.adopt(self._learner, "last")
        self._status("Trained: " + ", ".join(result_parts(result)) + ". The Classify tab now uses this model.")

    def _adopt_auto(self, result: dict) -> None:
        """Auto's model becomes the current one (stored as one run), its LR test goes to the LR finder."""
        self.current.adopt(result["learner"], "last")
        self.state.set_auto_lr_test(recipes.auto_lr_test(result))
        if result.get("store_error"):
            self.view.history_box.show_note(result["store_error"])
        self._status(recipes.auto_summary(result) + " The Classify tab now uses this model.")

    def _on_diverged(self, message: str) -> None:
        self.view.show_progress(None, "Diverged")
        self.view.show_eta("")
        self._status(f"{message} The previous model is still the current one.")
        self.view.show_error(
            "Training diverged",
            f"{message}\n\nNothing was lost: the model from before this run is still the current one. "
            f"{DIVERGED_ADVICE}",
        )

    def _on_job_failed(self, message: str) -> None:
        self.view.show_progress(None, "Failed")
        self._status(f"Training failed: {message}")
        self.view.show_error("Training failed", message)

    def _on_job_cancelled(self) -> None:
        self.view.show_progress(None, "Cancelled")
        self.view.show_eta("")
        if self._auto:
            self._status("Auto cancelled: nothing was stored, the current model is unchanged.")
            return
        epochs, kept = self.charts.curves.epochs, ""
        if epochs and self._learner is not None and self._learner.model is not None:
            kept = f" after {len(epochs)} epoch{'s' if len(epochs) != 1 else ''}"
            self.current.adopt(self._learner, "last")
        self._status(f"Cancelled{kept}. The model keeps its last finished epoch.")

    def _on_job_ended(self, _kind: str) -> None:
        self.charts.end()
        self.current.busy = False
        self.current.refresh()
        self.reload_history()
        self._refresh()
        if self.state.dataset is not None and self.view.run_box.status_label.text() == "":
            self.show_ready()

    # ------------------------------------------------------------ saving
    def default_model_path(self):
        return data_dir("models") / model_file_name(self.state.learner, self.state.dataset, self.config.arch)

    def choose_save_path(self, onnx: bool = False) -> None:
        name = model_file_name(self.state.learner, self.state.dataset, self.config.arch, onnx)
        path = dialogs.ask_model_path(self.view, name, onnx)
        if path:
            self.save_model(path)

    def save_model(self, path) -> None:
        """Write the current model on a job thread: a Fovea model file, or ONNX when ``path`` ends in .onnx."""
        learner = self.state.learner
        if learner is None or learner.model is None or self.running:
            return
        self.files.save(learner, str(path))
