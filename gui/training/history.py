"""The run history's controller: reads the saved runs into the list, saves each new run, deletes runs."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from engine.run_history import delete_run, load_runs, save_run
from gui.training.history_list import RunHistoryList

SHOWN_PROBLEMS = 3


def skipped_text(skipped) -> str:
    """One line naming the damaged history files (the first few, with why) that were left out."""
    if not skipped:
        return ""
    named = "; ".join(f"{path.name} ({why})" for path, why in skipped[:SHOWN_PROBLEMS])
    more = f" and {len(skipped) - SHOWN_PROBLEMS} more" if len(skipped) > SHOWN_PROBLEMS else ""
    n = len(skipped)
    return f"Run history: skipped {n} damaged file{'s' if n != 1 else ''}: {named}{more}."


class RunHistoryController(QObject):
    def __init__(self, history: RunHistoryList, report: Callable[[str], None], parent: QObject | None = None):
        super().__init__(parent)
        self.history = history
        self.report = report  # shows a message to the user (status)
        history.deleteRequested.connect(self._on_view_delete)

    def reload(self) -> str:
        """Show the saved runs; returns the line about skipped damaged files ("" when none), reported once here."""
        loaded = load_runs()
        self.history.show_runs(loaded.runs)
        text = skipped_text(loaded.skipped)
        if text:
            self.report(text)
        return text

    def record(self, run: dict) -> None:
        try:
            path = save_run(run)
        except OSError as exc:
            self.report(f"Could not save the run history: {exc}")
            return
        self.history.add_run(path, run)

    def _on_view_delete(self, paths: list[str]) -> None:
        deleted = []
        for path in paths:
            try:
                delete_run(path)
            except OSError as exc:
                self.report(f"Could not delete {path}: {exc}")
                continue
            deleted.append(path)
        self.history.remove_paths(deleted)
