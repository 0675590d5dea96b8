"""The LR finder tab's controller: owns the measured curve and the test's settings, writes AppState
(the learning rate, the shared learner) and runs the range test in the learner's job slot.

The red line is a view of ``AppState.lr``: a drop or a suggestion writes the state, and the state's
``lrChanged`` moves the line. The Train tab's LR field is bound to the same state, so the two stay
in sync without knowing each other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from engine.config import TrainConfig, can_continue
from engine.lr_curves import DEFAULT_SUGGESTION, format_lr, round_lr
from engine.paths import atomic_file
from engine.run_rules import lr_finder_notice
from gui.jobs import JobSlot
from gui.lr_finder.curve import LRCurve, RangeSettings, write_csv
from gui.lr_finder.schedule_plot import TEST
from gui.lr_finder.view import FRESH, LRFinderView
from gui.state import AppState

OWNER = "LR finder"  # how the learner slot names this tab to the Train tab
LIVE_MS = 60  # live curve and schedule in turn: each at most ~8 redraws a second while points stream in


class LRFinderController(QObject):
    def __init__(self, state: AppState, view: LRFinderView, slot: JobSlot, settings: RangeSettings, parent=None):
        super().__init__(parent)
        self.state, self.view, self.slot = state, view, slot
        self.settings = settings
        self.curve = LRCurve(dataset=state.dataset)
        self.tested = ""  # "" | "fresh copy" | "trained model": what the curve on show was measured on
        self.planned: list[float] = []  # the LR of every step of the last test started
        self.schedule_view = TEST
        self._live = QTimer(self)
        self._live.setSingleShot(True)
        self._live.setInterval(LIVE_MS)
        self._live.timeout.connect(self._draw_live)
        self._frame = 0

        # model changes -> view callbacks
        state.lrChanged.connect(self._on_model_lr_changed)
        state.datasetChanged.connect(self._on_model_dataset_changed)
        state.trainConfigChanged.connect(self._on_model_train_config_changed)
        state.autoLRTestChanged.connect(self._on_model_auto_lr_test_changed)
        slot.runningChanged.connect(self._on_slot_running_changed)  # the Train tab may hold it
        # view changes -> controller callbacks that update the model
        view.runRequested.connect(self.run)
        view.cancelRequested.connect(self.cancel)
        view.rangeEdited.connect(self._on_view_range_edited)
        view.lrDropped.connect(self._on_view_lr_dropped)
        view.suggestionChosen.connect(self.snap_to)
        view.scheduleViewChanged.connect(self._on_view_schedule_changed)
        view.exportRequested.connect(self._on_view_export)

        view.plot.show_x_range(*settings.bounds())
        self._show_lr(state.lr)
        self._show_running()
        self._show_schedule()
        self._show_idle_status()
        if state.auto_lr_test is not None:
            self._on_model_auto_lr_test_changed(state.auto_lr_test)

    @property
    def running(self) -> bool:
        """This tab's test holds the learner's slot."""
        return self.slot.running and self.slot.owner == OWNER

    # ------------------------------------------------------------ model -> view
    def _on_model_lr_changed(self, lr: float) -> None:
        self._show_lr(lr)

    def _on_model_dataset_changed(self, dataset) -> None:
        if self.running:
            self.cancel()  # the curve is cleared when the test has ended (_on_job_ended)
            return
        self._clear_curve()

    def _on_model_train_config_changed(self, _config) -> None:
        self._show_schedule()

    def _on_model_auto_lr_test_changed(self, test) -> None:
        """Auto's LR test and the LR it chose, until the user runs a test of their own."""
        if test is None or self.running or test.dataset is not self.state.dataset or not test.lr_test.get("lrs"):
            return
        self.curve = LRCurve(dataset=test.dataset)
        self.curve.finish(test.lr_test)
        self.tested = "Auto"
        self.view.plot.show_x_range(min(self.curve.lrs), max(self.curve.lrs))
        self.view.show_curve(self.curve)
        self.view.show_suggestions(self.curve)
        self.view.plot.show_auto_lr(test.lr, f"Auto's LR {format_lr(test.lr)} (valley)")
        self._show_running()
        self._show_schedule()
        self.view.show_status(
            f"Auto's LR test ({test.tested}, on cached activations): it trained at {format_lr(test.lr)}, "
            "the valley of this curve. Run a test of your own to replace it."
        )

    def _on_slot_running_changed(self, _running: bool) -> None:
        self._show_running()

    def _clear_curve(self) -> None:
        self.curve = LRCurve(dataset=self.state.dataset)
        self.tested = ""
        self.view.plot.show_auto_lr(None)
        self.state.set_lr_test_range(None)  # a new dataset: the last test says nothing about it
        self.view.show_curve(self.curve)
        self.view.show_suggestions(self.curve)
        self._show_idle_status()
        self._show_running()
        self._show_schedule()

    def _show_idle_status(self) -> None:
        """The one next step, before any test on this dataset."""
        if self.state.dataset is None:
            self.view.show_status("Open a dataset (Data tab), then find a learning rate here.")
        else:
            self.view.show_status("Find a learning rate: press Run (Ctrl+R) to test rates on this dataset.")

    def _show_lr(self, lr: float) -> None:
        self.view.show_lr(lr)
        if self.schedule_view != TEST:
            self._show_schedule()

    def _show_running(self) -> None:
        running = self.running
        can_run = not running and self.state.dataset is not None and self.settings.bounds() is not None
        self.view.show_running(running, can_run, can_export=bool(self.curve.lrs) and not running)

    def _show_schedule(self) -> None:
        schedule = self.view.schedule
        schedule.show_lr(self.state.lr)
        if self.schedule_view == TEST:
            schedule.show_test(self.planned or self.settings.schedule(), self.curve.lrs)
        else:
            schedule.show_plan(*self._training_plan())

    def _training_plan(self) -> tuple[list[float], str]:
        """The LR of every iteration Train would run with the chosen LR, or why there is none."""
        if self.state.dataset is None:
            return [], "Open a dataset to see the training plan."
        from engine.training import Learner  # no model is built: the plan only needs the sizes

        config = dataclasses.replace(self.state.train_config or TrainConfig(), lr=self.state.lr)
        try:
            return list(Learner(self.state.dataset, config).schedule()), ""
        except (ValueError, ZeroDivisionError) as exc:
            return [], str(exc)

    # ------------------------------------------------------------ view -> model
    def _on_view_range_edited(self, settings: RangeSettings) -> None:
        self.settings = settings
        self.view.controls.show_range_valid(settings.bounds() is not None)
        self._show_running()
        if not self.planned:
            self._show_schedule()

    def _on_view_lr_dropped(self, lr: float) -> None:
        self.state.set_lr(round_lr(lr))  # a change comes back through _on_model_lr_changed
        self.view.show_lr(self.state.lr)  # snap to the rounded value even when the state did not change

    def _on_view_schedule_changed(self, which: str) -> None:
        self.schedule_view = which
        self._show_schedule()

    def snap_to(self, name: str) -> None:
        """Make a suggestion the learning rate (the line follows the state)."""
        lr = self.curve.suggestions.get(name)
        if lr is None:
            return
        self.state.set_lr(round_lr(lr))
        self.view.show_lr(self.state.lr)

    # ------------------------------------------------------------ running
    def _learner(self):
        """The shared learner when it can continue with Train's settings (mid-training, unfrozen…),
        else a new one for the dataset, shared from now on (Train reuses its model and activations)."""
        config = self.state.train_config or TrainConfig()
        learner = self.state.learner
        if can_continue(learner, self.state.dataset, config):
            if self.state.train_config is not None:
                learner.config = config  # e.g. unfreeze ticked since: test what Train would train
            return learner
        from engine.training import Learner

        learner = Learner(self.state.dataset, config)
        self.state.set_learner(learner)
        return learner

    def _learner_to_test(self, learner):
        """``learner``, or a fresh copy from the pretrained weights when it is already trained and the user
        says so (its curve is flat near a minimum); None when the user cancels. The shared learner is never
        replaced here: the trained model stays current, and the finder restores its weights anyway."""
        notice = lr_finder_notice(learner)
        if notice is None:
            self.tested = ""
            return learner
        answer = self.view.ask_trained(notice)
        if answer is None:
            return None
        if answer != FRESH:
            self.tested = "trained model"
            return learner
        from engine.run_training import untrained_copy

        self.tested = "fresh copy"
        return untrained_copy(learner)

    def run(self) -> None:
        if self.running or self.state.dataset is None:
            return
        bounds = self.settings.bounds()
        if bounds is None:
            self.view.show_status("The start LR must be a positive number smaller than the end LR.")
            return
        if self.slot.running:
            self.view.show_status(
                f"The {self.slot.owner} tab is running on this model: wait for it to finish (or cancel it), "
                "then run the finder."
            )
            return
        try:
            learner = self._learner()
            learner = self._learner_to_test(learner)
        except Exception as exc:  # bad settings from the Train panel: say so, keep the app alive
            self.view.show_status(f"Cannot start: {exc}")
            return
        if learner is None:
            self.view.show_status("Not run: the trained model is unchanged.")
            return
        from engine.lr_finder import lr_find_job

        self.curve = LRCurve(dataset=self.state.dataset)
        self.view.plot.show_auto_lr(None)  # the user's own test replaces Auto's
        self.planned = self.settings.schedule()
        self.view.plot.show_x_range(*bounds)
        self.view.show_curve(self.curve)
        self.view.show_suggestions(self.curve)
        self.view.controls.show_progress(None)
        self.view.show_status("Preparing the model…")
        self.slot.start(
            lr_find_job,
            learner,
            *bounds,
            self.settings.iters,
            self.settings.mode,
            owner=OWNER,
            on_progress=self._on_job_progress,
            on_finished=self._on_job_finished,
            on_failed=self._on_job_failed,
            on_cancelled=self._on_job_cancelled,
            on_ended=self._on_job_ended,
        )
        self._show_running()
        self._show_schedule()

    def cancel(self) -> None:
        if self.running:
            self.slot.cancel()
            self.view.show_status("Cancelling…")

    def shutdown(self, owns_slot: bool) -> None:
        """Stop this tab's test and wait for it (the whole slot when nobody else uses it)."""
        if owns_slot:
            self.slot.shutdown(30)
        elif self.running:
            job = self.slot.job
            self.slot.cancel()
            job.wait(30)

    # ------------------------------------------------------------ job -> model and view
    def _on_job_progress(self, rec: dict) -> None:
        controls = self.view.controls
        if rec.get("type") == "precompute":
            controls.show_progress(int(rec.get("done", 0)), int(rec.get("total", 1)), f"{rec.get('split', '')} %v/%m")
            self.view.show_status("Computing activations once (Train reuses them)…")
        elif rec.get("type") == "lr_find":
            self.curve.append(rec)
            controls.show_progress(rec["iteration"] + 1, int(rec["total"]))
            if rec["iteration"] == 0:
                self.view.show_status("Testing learning rates…")
            if not self._live.isActive():  # points arrive ~100/s: draw them at most every LIVE_MS
                self._live.start()

    def _draw_live(self) -> None:
        """Show the points that arrived since the last frame (one redraw per LIVE_MS, not per point): the
        loss plot, and the schedule plot one frame later (two plots repainted in one go kept the UI
        thread busy twice as long at a time)."""
        self._frame += 1
        if self._frame % 2:
            self.view.show_curve(self.curve)
            self._live.start()  # the schedule's turn, even if no point arrives meanwhile
        elif self.schedule_view == TEST:
            self.view.schedule.show_done(self.curve.lrs)

    def _on_job_finished(self, result: dict) -> None:
        self._live.stop()
        self.curve.finish(result)
        self.view.show_curve(self.curve)
        self.view.show_suggestions(self.curve)
        self._show_schedule()
        curve = self.curve
        how = (
            f"stopped at LR {format_lr(curve.lrs[-1])} when the loss blew up"
            if curve.stopped == "diverged"
            else "ran every step"
        )
        best = curve.suggestions.get(DEFAULT_SUGGESTION)
        tip = (
            f" Suggested: {format_lr(best)} (valley)."
            if best is not None
            else " No clear descent: try a wider range or more steps."
        )
        on = f" on a {self.tested}" if self.tested else ""
        self.view.show_status(f"{len(curve)} steps{on} in {result.get('seconds', 0):.1f} s, {how}.{tip} Next: Train.")
        if curve.lrs:  # what Train's warning compares the chosen LR with
            self.state.set_lr_test_range((min(curve.lrs), max(curve.lrs)))

    def _on_job_failed(self, message: str) -> None:
        self.view.show_status(f"The LR finder failed: {message}")
        self.state.status(f"LR finder: {message}")

    def _on_job_cancelled(self) -> None:
        self.view.show_status(f"Cancelled after {len(self.curve)} steps; the model is unchanged.")

    def _on_job_ended(self, _kind: str) -> None:
        self._live.stop()
        self.view.controls.hide_progress()
        if self.curve.dataset is not self.state.dataset:
            self._clear_curve()  # the dataset changed while the test ran: its curve is not this one's
        else:
            self.view.show_curve(self.curve)
            self._show_running()

    # ------------------------------------------------------------ export
    def export_png(self, path) -> Path:
        """The loss plot as the user sees it, written whole or not at all."""
        path = Path(path)
        with atomic_file(path, ".png") as tmp:
            if not self.view.plot.grab().save(tmp, "PNG"):
                raise OSError(f"could not write {path}")
        return path

    def export_csv(self, path) -> Path:
        return write_csv(self.curve, path)

    def _on_view_export(self, kind: str, path: str) -> None:
        try:
            (self.export_png if kind == "png" else self.export_csv)(path)
        except OSError as exc:
            self.view.show_export_error(str(exc))
            return
        self.view.show_status(f"Saved {path}")
