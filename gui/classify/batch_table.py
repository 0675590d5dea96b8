"""The Batch tab's table model: File · Class · Probability · Note, one row per image, sortable."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush

from gui import theme
from gui.classify.display import REC_ROLE, SORT_ROLE, natural_key, percent

KEYS = ("name", "label", "prob", "note")


def table_row(result: dict) -> dict:
    """A table row from one of predict_sources' result records (unreadable files: prob -1, the reason as note)."""
    return {
        "index": result["index"],
        "name": result["name"],
        "source": result["source"],
        "label": result["label"] or "",
        "prob": -1.0 if result["error"] else float(result["prob"]),
        "note": result["error"] or "",
    }


class BatchTableModel(QAbstractTableModel):
    """Rows arrive in batches while the job runs; a click on a header sorts them."""

    HEADERS = ("File", "Class", "Probability", "Note")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []  # table_row()s

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's idiom; never mutated)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's idiom; never mutated)
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r, c = self.rows[index.row()], index.column()
        if role == Qt.DisplayRole:
            return (r["name"], r["label"] or "—", percent(r["prob"]) if r["prob"] >= 0 else "—", r["note"])[c]
        if role == SORT_ROLE:
            return (natural_key(r["name"]), r["label"], r["prob"], r["note"])[c]
        if role == Qt.ToolTipRole:
            return r["source"] if c == 0 else (r["note"] or None)
        if role == Qt.ForegroundRole and c == 3 and r["note"]:
            return QBrush(theme.error_text())
        if role == Qt.TextAlignmentRole and c == 2:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == REC_ROLE:
            return r["index"]
        return None

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self.endResetModel()

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        if not 0 <= column < len(self.HEADERS):
            return
        key = KEYS[column]
        self.layoutAboutToBeChanged.emit()
        self.rows.sort(
            key=(lambda r: natural_key(r["name"])) if key == "name" else (lambda r: r[key]),
            reverse=order == Qt.DescendingOrder,
        )
        self.layoutChanged.emit()
