"""The Train tab's controller: owns the form's config and the current run, writes AppState, runs the fit
in the learner slot (shared with the LR finder) and file jobs in their own slot (``ModelFiles``).

Two families of handlers, side by side: model changes → view (``_on_state_*``, ``_on_job_*``) and
view changes → model (``_on_view_*``). Records only append to ``RunCurves``; a ~20 Hz timer draws
what changed.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QObject, QTimer

from engine.config import TrainConfig
from engine.lr_curves import format_lr
from engine.paths import data_dir
from engine.run_history import new_run
from gui.jobs import JobSlot
from gui.training.dialogs import ask_model_path
from gui.training.history import RunHistoryController
from gui.training.model_files import ModelFiles
from gui.training.run_progress import RunClock, RunCurves, format_seconds, record_text
from gui.training.settings import FormState, config_from_form, parse_lr_text
from gui.training.view import TrainingView

REDRAW_MS = 50  # ~20 Hz
OWNER = "Train"


class WeightsMissing:
    """What the fit job returns instead of raising when pretrained weights are missing."""

    def __init__(self, arch: str, message: str):
        self.arch, self.message = arch, message


def fit_job(learner, stop=None):
    """``learner.fit`` as a job; a missing-weights error comes back as a value the tab can act on."""
    from engine.models import WeightsUnavailable

    try:
        return (yield from learner.fit(stop=stop))
    except WeightsUnavailable as exc:
        return WeightsMissing(exc.arch, str(exc))


class TrainingController(QObject):
    def __init__(self, state, view: TrainingView, learner_slot: JobSlot, parent: QObject | None = None):
        super().__init__(parent)
        self.state, self.view, self.learner_slot = state, view, learner_slot
        self.files = ModelFiles(view, lambda: self.config.arch, self)
        self.history = RunHistoryController(view.history, self._status, self)
        initial = state.train_config if isinstance(state.train_config, TrainConfig) else TrainConfig()
        self._form = FormState(initial)  # the form's settings as a config (the LR is AppState's)
        self._fit = None  # the QtJob of this tab's last fit
        self._learner = None  # the learner of the current/last run, and its config
        self._run_config: TrainConfig | None = None
        self._continued = False
        self._curves, self._clock = RunCurves(), RunClock(time.monotonic(), 0)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._connect()
        view.show_lr(format_lr(state.lr))

    def _connect(self) -> None:
        # model changes -> view
        self.state.lrChanged.connect(self._on_state_lr)
        self.state.datasetChanged.connect(self._on_state_dataset)
        self.learner_slot.runningChanged.connect(lambda _running: self._refresh())
        self.files.slot.runningChanged.connect(lambda _busy: self._refresh())
        self.files.startAgain.connect(self.start)
        self.files.status.connect(self._status)
        # view changes -> controller callbacks that update the model
        v = self.view
        v.settingsEdited.connect(self._on_view_settings_edited)
        v.settingsTyping.connect(self._on_view_settings_typing)
        v.lrEdited.connect(self._on_view_lr_edited)
        v.lrTyping.connect(lambda text: v.show_lr_valid(parse_lr_text(text) is not None))
        v.startRequested.connect(self.start)
        v.cancelRequested.connect(self.cancel)
        v.saveRequested.connect(self.choose_save_path)
        v.importRequested.connect(self.files.choose_weights_file)
        v.comparedChanged.connect(self._on_view_compared)

    # ------------------------------------------------------------ public
    @property
    def config(self) -> TrainConfig:
        return self._form.config

    @property
    def running(self) -> bool:
        """A fit of this tab is in progress (from Start until its last signal has been handled)."""
        return self.learner_slot.is_current(self._fit)

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (its LR goes to AppState, the form follows it)."""
        self.view.set_values(config)
        self._form = FormState(config)  # keeps the settings the form does not show (seed, threads, …)
        self.state.set_lr(config.lr)
        self._commit_form()

    def start(self) -> None:
        """Train with the form's settings (continuing the shared model when it can)."""
        if self.running or self.state.dataset is None:
            return
        if self.learner_slot.running:
            owner = self.learner_slot.owner or "other tab"
            self._status(f"The {owner} is running on this model: wait for it (or cancel it), then press Start.")
            return
        self._on_view_lr_edited(self.view.lr_text())  # a typed LR counts without Return
        self._commit_form()
        if self._form.mult_error and self.config.unfreeze:
            self.view.show_error("Invalid learning-rate multipliers", self._form.mult_error)
            return
        from engine.training import learner_for

        config = self.config
        learner = learner_for(self.state.learner, self.state.dataset, config)
        self.state.set_learner(learner)
        self._continued = learner.model is not None
        self._learner, self._run_config = learner, config
        self._begin_charts(config)
        self._fit = self.learner_slot.start(
            fit_job,
            learner,
            owner=OWNER,
            on_progress=self._on_job_progress,
            on_finished=self._on_job_finished,
            on_failed=self._on_job_failed,
            on_cancelled=self._on_job_cancelled,
            on_ended=self._on_job_ended,
        )
        self.view.show_progress(0, "starting…")
        self.view.show_eta("")
        what = "Continuing training of" if self._continued else "Training"
        self._status(f"{what} {config.arch} at {config.size} px on {learner.device.type.upper()}…")
        self._refresh()
        self._timer.start()

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
        self._timer.stop()

    def reload_history(self) -> None:
        self.view.show_skipped(self.history.reload())

    def show_device(self) -> None:
        """Name the device training will use (imports torch: called once the tab is shown)."""
        from engine.models import device_name, pick_device

        self.view.show_device(device_name(pick_device()))

    # ------------------------------------------------------------ model changes -> view
    def _on_state_lr(self, lr: float) -> None:
        shown = parse_lr_text(self.view.lr_text())
        if shown is None or not math.isclose(shown, lr, rel_tol=1e-6):
            self.view.show_lr(format_lr(lr))
        self.view.show_lr_valid(True)
        self._commit_form()

    def _on_state_dataset(self, _dataset) -> None:
        self._refresh()
        if not self.running:
            self.show_ready()

    def show_ready(self) -> None:
        self.view.show_status(self._ready_text())

    def _ready_text(self) -> str:
        ds = self.state.dataset
        if ds is None:
            return "Open a dataset to train on (File ▸ Open)."
        return (
            f"Ready to train on {ds.root.name}: {len(ds.classes)} classes, {len(ds.train)} training and "
            f"{len(ds.valid)} validation images."
        )

    def _refresh(self) -> None:
        """Buttons and form follow the run, the data and the file jobs (never writes the model)."""
        running, busy = self.running, self.files.busy
        has_model = self._learner is not None and self._learner.model is not None
        self.view.show_form(FormState(self.config, self._form.mult_error, running))
        self.view.show_buttons(
            can_start=not running and self.state.dataset is not None and not busy,
            can_cancel=running,
            can_save=not running and has_model and not busy,
            start_tip="" if self.state.dataset is not None else "Open a dataset first",
        )

    def _status(self, text: str) -> None:
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
        self._form = config_from_form(self.config, self.view.values(), self.state.lr)
        self._refresh()
        if self.config != self.state.train_config:
            self.state.set_train_config(self.config)

    def _on_view_lr_edited(self, text: str) -> None:
        lr = parse_lr_text(text)
        if lr is None:  # put back the value in use
            self.view.show_lr(format_lr(self.state.lr))
            return
        self.state.set_lr(lr)

    def _on_view_compared(self, runs: list[dict]) -> None:
        self.view.charts.show_compared(runs)
        self._fit_x_ranges()

    # ------------------------------------------------------------ the run's charts
    def _begin_charts(self, config: TrainConfig) -> None:
        self.view.show_weights(None)
        self._curves, self._clock = RunCurves(), RunClock(time.monotonic(), config.total_epochs())
        self.view.charts.clear_run()
        self.view.epoch_table.setRowCount(0)
        self._set_planned_schedule()

    def _set_planned_schedule(self) -> None:
        try:
            planned = list(self._learner.schedule())
        except Exception:  # the engine may need prepare() first; the first batch sets it then
            planned = []
        self._curves.set_planned(planned)
        self._clock.set_plan(len(planned))
        self._fit_x_ranges()

    def _fit_x_ranges(self) -> None:
        """The whole planned run (and any compared runs) from the start, so progress is visible."""
        epochs = [self._run_config.total_epochs()] if self._run_config is not None else []
        iterations = [self._clock.total_iters] if self._clock.total_iters else []
        for run in self.view.history.compared_runs():
            if run["epochs"]:
                epochs.append(max(e["epoch"] for e in run["epochs"]))
            if run["batches"]["iteration"]:
                iterations.append(max(run["batches"]["iteration"]) + 1)
        self.view.charts.fit_x_ranges(epochs, iterations)

    def _redraw(self) -> None:
        """Push what changed to the charts (each setData repaints a plot: unchanged ones are left alone,
        so the UI thread stays free for the user while the job's thread holds the GIL)."""
        dirty, curves, charts = self._curves.take_dirty(), self._curves, self.view.charts
        if "planned" in dirty and curves.planned:
            charts.show_planned(curves.planned)
        if "batches" in dirty and curves.loss:
            charts.show_batches(curves.x, curves.loss, curves.smoothed, curves.iteration, curves.lr)
        if "epochs" in dirty and curves.epochs:
            charts.show_epochs(curves.epochs)

    # ------------------------------------------------------------ the fit job -> view
    def _on_job_progress(self, rec) -> None:
        if not isinstance(rec, dict):
            return
        kind = rec.get("type")
        if kind == "batch":
            if not self._clock.first_batch_seen:  # the features are ready: the engine's batch count is exact
                self._set_planned_schedule()
            value, caption, eta = self._clock.batch(self._curves.add_batch(rec), time.monotonic())
        elif kind == "epoch":
            self.view.epoch_table.add_epoch(self._curves.add_epoch(rec))
            return
        else:
            value, caption, eta = record_text(rec)
        if caption:
            self.view.show_progress(value, caption)
        if eta is not None:
            self.view.show_eta(eta)

    def _on_job_finished(self, result) -> None:
        if isinstance(result, WeightsMissing):
            self.files.weights_missing(result.arch, result.message)
            self._status("Training did not start: pretrained weights missing.")
            return
        result = result if isinstance(result, dict) else {}
        seconds = time.monotonic() - self._clock.started
        self.view.show_progress(1000, "Done")
        self.view.show_eta(f"Finished in {format_seconds(seconds)}")
        self._status("Trained: " + ", ".join(result_parts(result)) + ". The Classify tab now uses this model.")
        self._record_run("done", result, seconds)
        if self._learner.model is not None:
            self.state.set_model(self._learner.model)

    def _on_job_failed(self, message: str) -> None:
        self.view.show_progress(None, "Failed")
        self._status(f"Training failed: {message}")
        self.view.show_error("Training failed", message)

    def _on_job_cancelled(self) -> None:
        self.view.show_progress(None, "Cancelled")
        self.view.show_eta("")
        epochs, kept = self._curves.epochs, ""
        if epochs:
            last = {k: epochs[-1].get(k) for k in ("accuracy", "valid_loss")}
            self._record_run("cancelled", {"history": list(epochs), **last}, time.monotonic() - self._clock.started)
            kept = f" after {len(epochs)} epoch{'s' if len(epochs) != 1 else ''}"
            if self._learner.model is not None:
                self.state.set_model(self._learner.model)
        self._status(f"Cancelled{kept}. The model keeps its last completed step.")

    def _on_job_ended(self, _kind: str) -> None:
        self._timer.stop()
        self._redraw()
        self._refresh()

    def _record_run(self, status: str, result: dict, seconds: float) -> None:
        from engine.models import device_name

        ds = self._learner.dataset
        run = new_run(
            self._run_config,
            status,
            result,
            seconds,
            dataset=ds.root,
            classes=ds.classes,
            device=device_name(self._learner.device),
            continued=self._continued,
            epochs=self._curves.epochs,
            batches=self._curves.batches(),
        )
        self.history.record(run)

    # ------------------------------------------------------------ saving
    def default_model_path(self):
        ds = self._learner.dataset if self._learner is not None else self.state.dataset
        name = ds.root.name if ds is not None else "model"
        arch = self._run_config.arch if self._run_config is not None else self.config.arch
        return data_dir("models") / f"{name}-{arch}.pth"

    def choose_save_path(self) -> None:
        path = ask_model_path(self.view, self.default_model_path())
        if path:
            self.save_model(path)

    def save_model(self, path) -> None:
        """Write the trained model on a job thread: a Fovea model file, or ONNX when ``path`` ends in .onnx."""
        if self._learner is None or self._learner.model is None or self.running:
            return
        self.files.save(self._learner, str(path))


def result_parts(result: dict) -> list[str]:
    """The final metrics as the status line says them."""
    parts = []
    acc, vloss = result.get("accuracy"), result.get("valid_loss")
    if isinstance(acc, (int, float)):
        parts.append(f"accuracy {100 * acc:.1f} %")
        if result.get("tta") and isinstance(result.get("accuracy_without_tta"), (int, float)):
            parts[-1] += f" with TTA (without: {100 * result['accuracy_without_tta']:.1f} %)"
    if isinstance(vloss, (int, float)):
        parts.append(f"valid loss {vloss:.4f}")
    return parts
