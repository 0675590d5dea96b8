"""Controller of the "Batch predict" tab: one batch job at a time over a folder or the dataset's test/,
its predictions, and the CSV and Kaggle exports."""

from __future__ import annotations

from PySide6.QtCore import QObject

from gui.classify.batch_page import BatchPage
from gui.classify.batch_table import table_row
from gui.classify.image_detail import Explainer
from gui.classify.model_choice import ModelChoice
from gui.jobs import JobSlot
from gui.state import AppState


def has_dog_class(classes: list[str]) -> bool:
    """Whether predictions over these classes can make a Kaggle Dogs vs Cats submission."""
    from engine.inference import dog_class_index

    try:
        dog_class_index(classes)
    except ValueError:
        return False
    return True


class BatchController(QObject):
    def __init__(self, state: AppState, view: BatchPage, models: ModelChoice, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.view = view
        self.models = models
        self.explainer = Explainer(view.detail, self)
        self.slot = JobSlot("batch predict", self)
        self.predictions = None  # the finished batch's engine Predictions
        self._pending: list | None = None  # sources of the batch waiting for its model
        self._model = None  # the model of the batch on show
        self._items: list = []  # what each row shows in the large view (path, URL or array)
        self._shown = 0  # rows in the table
        view.folderChosen.connect(self.predict_folder)
        view.testRequested.connect(self.predict_dataset_test)
        view.stopRequested.connect(self.slot.cancel)
        view.csvChosen.connect(self.export_csv)
        view.kaggleChosen.connect(self.export_kaggle)
        view.rowSelected.connect(self._on_view_row_selected)
        state.datasetChanged.connect(self._show_buttons)
        self._show_buttons()

    @property
    def running(self) -> bool:
        return self.slot.running

    def predict_dataset_test(self) -> None:
        ds = self.state.dataset
        if ds is not None and ds.test:
            self._start(list(ds.test), f"{ds.root.name}/test/ — {len(ds.test)} images")

    def predict_folder(self, folder: str) -> None:
        self._start([str(folder)], str(folder))

    def export_csv(self, path: str) -> None:
        from engine.inference import prediction_rows, write_predictions_csv

        write_predictions_csv(prediction_rows(self.predictions), path)
        self.state.status(f"Wrote {path}")

    def export_kaggle(self, path: str) -> None:
        from engine.inference import kaggle_from_predictions, write_kaggle_csv

        write_kaggle_csv(kaggle_from_predictions(self.predictions), path)
        self.state.status(f"Wrote {path} (Kaggle format: id,label = P(dog))")

    def shutdown(self) -> None:
        self._pending = None
        self.slot.shutdown()
        self.explainer.shutdown()

    def _start(self, sources: list, title: str) -> None:
        self.slot.drop()  # a running batch's late rows and end must not reach this one
        self._pending = sources
        self.predictions, self._items, self._shown = None, [], 0
        self.view.set_running(False)
        self.view.start_rows(title, "Loading the model…")
        self._show_buttons()
        self.models.with_model(self._run)

    def _run(self, model) -> None:
        sources, self._pending = self._pending, None
        if sources is None:
            return  # a later request already took this model
        from engine.inference import predict_sources

        self._model = model
        self.slot.start(
            predict_sources,
            model,
            sources,
            top=1,
            tta=self.view.tta(),
            on_progress=self._on_job_progress,
            on_finished=self._on_job_finished,
            on_failed=lambda message: self.view.set_summary(f"Batch prediction failed: {message}"),
            on_ended=self._on_job_ended,
        )
        self.view.set_running(True)
        self.view.set_summary("Predicting…")

    # model changes -> view callbacks
    def _show_buttons(self, *_) -> None:
        pred = self.predictions
        self.view.set_exports(pred is not None, pred is not None and has_dog_class(pred.classes))
        ds = self.state.dataset
        self.view.set_test_available(ds is not None and bool(ds.test))

    # job changes -> controller callbacks
    def _on_job_progress(self, rec: dict) -> None:
        if rec["type"] == "sources":
            self._items = rec["items"]
            self.view.set_progress(0, len(rec["names"]))
            return
        self.view.set_progress(rec["done"])
        self.view.append_rows([table_row(r) for r in rec["results"]])
        self._shown += len(rec["results"])

    def _on_job_finished(self, pred) -> None:
        self.predictions = pred
        n = len(pred.sources)
        rate = n / pred.seconds if pred.seconds > 0 else 0
        text = (
            f"{n - len(pred.errors)} of {n} images predicted in {pred.seconds:.1f} s ({rate:.0f} images/s)"
            f"{' with TTA' if pred.tta else ''}"
        )
        if pred.errors:
            text += f" · {len(pred.errors)} could not be read (see Note)"
        self.view.set_summary(text + ". Click a column header to sort.")

    def _on_job_ended(self, kind: str) -> None:
        self.view.set_running(False)
        if kind == "cancelled":
            self.view.set_summary(f"Stopped after {self._shown} images.")
        self._show_buttons()

    # view changes -> controller callbacks
    def _on_view_row_selected(self, index: int) -> None:
        pred = self.predictions
        if pred is None or index in pred.errors:
            return
        from engine.inference import top_k

        top = top_k(pred.probs[index], pred.classes, 5)
        self.explainer.show(self._model, self._items[index], pred.names[index], top)
