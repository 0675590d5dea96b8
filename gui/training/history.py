"""The run history's controller: the run store's runs in the list (the open dataset's, or all), their
curves for the overlays, deleting runs with their models, and the store's cap."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from engine.runs import RunStore
from gui.training.history_list import RunHistoryBox, format_bytes

SHOWN_PROBLEMS = 3


def problems_text(problems: list[str]) -> str:
    """One line naming the store's problems (damaged records left out…), the first few."""
    if not problems:
        return ""
    named = "; ".join(problems[:SHOWN_PROBLEMS])
    more = f" and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return f"Run history: {named}{more}."


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def compared_run(store: RunStore, rec: dict) -> dict:
    """A stored run as the charts overlay it: its epochs, and its batches placed in epochs (points
    that are not finite numbers, as a damaged curves file may hold, are left out)."""
    curves = store.curves(rec["id"])
    points = [p for p in zip(curves["iteration"], curves["loss"], curves["lr"], strict=False) if all(map(_finite, p))]
    its = [float(i) for i, _, _ in points]
    per_epoch = (its[-1] + 1) / len(rec["epochs"]) if its and rec["epochs"] else 0.0
    x = [i / per_epoch for i in its] if per_epoch else []
    batches = {"x": x, "loss": [p[1] for p in points][: len(x)], "lr": [p[2] for p in points], "iteration": its}
    return {"id": rec["id"], "epochs": list(rec["epochs"]), "batches": batches}


class RunHistoryController(QObject):
    useRun = Signal(int)  # the user asked for this run's model
    runsDeleted = Signal(list)

    def __init__(
        self, box: RunHistoryBox, store: RunStore, report: Callable[[str], None], parent: QObject | None = None
    ):
        super().__init__(parent)
        self.box, self.store, self.report = box, store, report
        self.dataset = None
        self._shown: set[str] = set()  # problems already reported
        self._records: dict[int, dict] = {}
        box.list.deleteRequested.connect(self._on_view_delete)
        box.list.useRequested.connect(self.useRun)
        box.allDatasetsToggled.connect(lambda _all: self.reload())
        box.capEdited.connect(self._on_view_cap)
        box.show_cap(store.cap().keep_per_dataset)

    def reload(self, dataset=...) -> str:
        """Show the stored runs (``dataset``'s unless "All datasets" is on); returns the note about
        damaged records ("" when none), reported once."""
        if dataset is not ...:
            self.dataset = dataset
        show_all = self.box.all_check.isChecked() or self.dataset is None
        runs = self.store.list_runs(None if show_all else self.dataset)
        self._records = {r["id"]: r for r in runs}
        sizes = {r["id"]: self.store.disk_usage(r["id"]) for r in runs}
        self.box.list.show_runs(runs, sizes)
        self.box.show_disk(self.store.disk_usage())
        text = problems_text(self.store.problems)
        self.box.show_note(text)
        if text and text not in self._shown:
            self._shown.add(text)
            self.report(text)
        return text

    def compared(self) -> list[dict]:
        return [compared_run(self.store, self._records[i]) for i in self.box.list.compared_ids() if i in self._records]

    def _on_view_delete(self, ids: list[int]) -> None:
        freed, deleted = 0, []
        for run_id in ids:
            try:
                freed += self.store.delete(run_id)
            except (OSError, ValueError) as exc:
                self.report(f"Could not delete run {run_id}: {exc}")
                continue
            deleted.append(run_id)
        if deleted:
            self.report(f"Deleted {len(deleted)} run{'s' if len(deleted) != 1 else ''}, freed {format_bytes(freed)}.")
        self.reload()
        self.runsDeleted.emit(deleted)

    def _on_view_cap(self, keep: int) -> None:
        try:
            cap = self.store.set_cap(keep_per_dataset=keep, max_bytes=self.store.cap().max_bytes)
        except (OSError, ValueError) as exc:
            self.report(f"Could not change the cap: {exc}")
            return
        self.report(f"The run store {cap.describe()} (applied after the next run).")
