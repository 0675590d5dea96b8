"""Controller of the "Evaluate" tab: when a model can be evaluated, the evaluation job, and which
images the gallery shows (the lesson's plots) with their thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from gui.classify.display import GALLERY_ICON, percent
from gui.classify.eval_page import EvalPage
from gui.classify.image_detail import Explainer
from gui.classify.model_choice import ModelChoice, ModelEntry
from gui.jobs import JobSlot
from gui.state import AppState

GALLERY_SIZE = 24


def readiness(dataset, entry: ModelEntry, message: str | None) -> tuple[bool, str]:
    """(whether the model in use can be evaluated on the dataset's valid/, the note saying why or why not)."""
    model = entry.model
    if dataset is None:
        return False, "Open a dataset to evaluate a model on its valid/ images."
    if entry.kind == "imagenet":
        return False, (
            f"Evaluation compares predictions with the true classes of {dataset.root.name}/valid/, so it needs a "
            f"model trained on these classes ({', '.join(dataset.classes[:4])}). Train one in the Train tab, "
            f"or open a saved model."
        )
    if model is None:
        return False, "The model is still loading…"
    if list(model.meta.classes) != list(dataset.classes):
        return False, (
            f"This model's classes ({', '.join(model.meta.classes[:4])}) do not match the dataset's "
            f"({', '.join(dataset.classes[:4])}). Open the dataset it was trained on, or another model."
        )
    if not dataset.valid:
        return False, "The dataset has no validation images."
    default = f"{len(dataset.valid)} validation images of {dataset.root.name}, {len(dataset.classes)} classes."
    return True, message or default


def gallery_selection(ev, mode: str, c: int, cell: tuple[int, int] | None) -> tuple[list[int], str]:
    """The images a gallery mode shows for class ``c`` (or a matrix cell), and its title."""
    name = ev.classes[c] if ev.classes else ""
    if mode == "cell":
        if cell is None:
            return [], "Click a cell of the confusion matrix to see its images."
        i, j = cell
        idx = sorted(ev.cell(i, j), key=lambda k: -float(ev.probs[k, j]))  # most confident first
        what = "correct" if i == j else "mistakes"
        plural = "s" if len(idx) != 1 else ""
        return idx, (
            f"True {ev.classes[i]}, predicted {ev.classes[j]} ({what}): {len(idx)} image{plural}, most confident first"
        )
    if mode == "correct":
        idx = ev.most_correct(c, GALLERY_SIZE)
        return idx, f"{name} images the model got right, most confident first ({len(idx)} shown)"
    if mode == "incorrect":
        idx = ev.most_incorrect(c, GALLERY_SIZE)
        if not idx:
            return idx, f"No {name} image was misclassified."
        return idx, f"{name} images the model got wrong, most confidently wrong first"
    if mode == "uncertain":
        idx = ev.most_uncertain(c, GALLERY_SIZE)
        return idx, f"{name} images where the model hesitated most (top two classes closest)"
    idx = ev.top_losses(GALLERY_SIZE)
    return idx, "Images with the highest loss: the model gave their true class the lowest probability"


def gallery_card(ev, k: int) -> tuple[int, str, str, bool]:
    """(index, caption, tooltip, wrong) of image ``k`` in the gallery."""
    p = ev.probs[k]
    pred, true = int(ev.preds[k]), int(ev.labels[k])
    text = f"{'✓' if pred == true else '✗'} {ev.classes[pred]} {percent(float(p[pred]))}"
    if pred != true:
        text += f"\ntrue: {ev.classes[true]}"
    tooltip = f"{ev.paths[k]}\n" + "\n".join(f"{c}: {percent(float(q))}" for c, q in zip(ev.classes, p, strict=False))
    return k, text, tooltip, pred != true


class EvalController(QObject):
    def __init__(self, state: AppState, view: EvalPage, models: ModelChoice, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.view = view
        self.models = models
        self.explainer = Explainer(view.detail, self)
        self.slot = JobSlot("evaluate", self)
        self.thumbs = JobSlot("gallery thumbnails", self)
        self.evaluation = None  # the engine Evaluation on show
        self.model = None  # the model it evaluated
        self._message: str | None = None  # the last evaluation's note (loss, time, files left out) or failure
        self._cell: tuple[int, int] | None = None  # the confusion-matrix cell the gallery shows
        view.metrics.evaluateRequested.connect(self.start)
        view.metrics.cellChosen.connect(self.show_cell)
        view.gallery.choiceChanged.connect(self.refresh_gallery)
        view.gallery.imageChosen.connect(self._on_view_image_chosen)
        state.datasetChanged.connect(self._on_state_dataset_changed)
        models.changed.connect(self._on_model_changed)
        self._show_readiness()

    @property
    def running(self) -> bool:
        return self.slot.running

    def start(self) -> None:
        ds, model = self.state.dataset, self.models.current_model()
        if ds is None or model is None or self.slot.running:
            return
        from engine.inference import evaluate

        self._message = None
        metrics = self.view.metrics
        self.slot.start(
            evaluate,
            model,
            list(ds.valid),
            metrics.tta(),
            on_progress=lambda rec: metrics.set_progress(rec["done"], rec["total"]),
            on_finished=lambda ev, m=model: self.show_evaluation(ev, m),
            on_failed=self._on_job_failed,
            on_ended=self._on_job_ended,
        )
        metrics.set_running(True, len(ds.valid))
        self._show_readiness()

    def show_evaluation(self, ev, model) -> None:
        """Show an Evaluation (from the job, or built elsewhere) for ``model``."""
        self.evaluation, self.model = ev, model
        note = f"Cross-entropy loss {ev.loss:.3f} · {ev.seconds:.1f} s"
        if ev.errors:
            note += f" · {len(ev.errors)} unreadable file(s) left out"
        self._message = note  # stays under the result (the button's refresh keeps it)
        self.view.metrics.show_evaluation(ev, note)
        self._cell = None
        # open on the lesson's first question: what did it get most wrong?
        worst = int(np.argmin(np.nan_to_num(ev.recall, nan=1.0))) if len(ev.classes) else 0
        self.view.gallery.set_classes(ev.classes)
        self.view.gallery.set_choice("incorrect", worst)
        self.refresh_gallery()

    def show_cell(self, true_class: int, predicted_class: int) -> None:
        """Gallery of exactly the images in a confusion-matrix cell."""
        if self.evaluation is None:
            return
        self._cell = (true_class, predicted_class)
        self.view.gallery.set_choice("cell")
        self.refresh_gallery()

    def refresh_gallery(self) -> None:
        gallery, ev = self.view.gallery, self.evaluation
        self.thumbs.drop()  # the previous gallery's thumbnails must not land on this one
        if ev is None:
            gallery.clear()
            return
        mode, c = gallery.choice()
        gallery.set_class_enabled(mode not in ("cell", "losses"))
        idx, title = gallery_selection(ev, mode, c, self._cell)
        gallery.show_images(title, [gallery_card(ev, k) for k in idx])
        if idx:
            from engine.inference import thumbnail_job

            self.thumbs.start(
                thumbnail_job,
                [ev.paths[k] for k in idx],
                GALLERY_ICON,
                on_progress=lambda rec: gallery.set_thumbnail(rec["index"], rec["thumbnail"]),
            )

    def gallery_paths(self) -> list[str]:
        ev = self.evaluation
        return [ev.paths[k] for k in self.view.gallery.shown_indices()] if ev is not None else []

    def clear(self) -> None:
        """Forget the shown evaluation (its model or dataset is no longer the one in use)."""
        self.evaluation = None
        self._message = None
        self.thumbs.drop()
        self.view.metrics.clear()
        self.view.gallery.clear()
        self.explainer.clear()

    def shutdown(self) -> None:
        for slot in (self.slot, self.thumbs):
            slot.shutdown()
        self.explainer.shutdown()

    # model changes -> view callbacks
    def _show_readiness(self) -> None:
        ok, note = readiness(self.state.dataset, self.models.current_entry(), self._message)
        self.view.metrics.set_can_evaluate(ok and not self.slot.running, note)

    # job changes -> controller callbacks
    def _on_job_failed(self, message: str) -> None:
        self._message = f"Evaluation failed: {message}"
        self.view.metrics.set_note(self._message)

    def _on_job_ended(self, _kind: str) -> None:
        self.view.metrics.set_running(False)
        self._show_readiness()

    # state changes -> controller callbacks
    def _on_state_dataset_changed(self, _dataset) -> None:
        if self.evaluation is not None:
            self.clear()
        self._show_readiness()

    def _on_model_changed(self, model) -> None:
        if self.evaluation is not None and self.model is not model:
            self.clear()
        self._show_readiness()

    # view changes -> controller callbacks
    def _on_view_image_chosen(self, k: int) -> None:
        from engine.inference import top_k

        ev = self.evaluation
        if ev is None:
            return
        top = top_k(ev.probs[k], ev.classes, min(5, len(ev.classes)))
        truth = ev.classes[int(ev.labels[k])]
        self.explainer.show(self.model, ev.paths[k], Path(ev.paths[k]).name, top, truth=truth)
