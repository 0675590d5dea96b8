"""The Drop tab's list: one card per image (thumbnail, name, time, top-3 bars) and a hint while empty."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QStyle, QStyledItemDelegate

from gui import theme
from gui.classify.display import CARD_H, REC_ROLE, THUMB, bar, bar_second, bar_track, card_ink, percent


class PredictionDelegate(QStyledItemDelegate):
    """A card: thumbnail, file name, time taken, and top-3 probability bars (or the error)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.colours()

    def colours(self) -> None:
        """Take the palette's colours now (again after a palette change), not while painting."""
        base = QColor(theme.plot_background())
        self.base, self.ink, self.bar, self.second = base, QColor(card_ink()), QColor(bar()), QColor(bar_second())
        self.track, self.pane = QColor(bar_track()), QColor(theme.pane())
        self.error, self.muted = QColor(theme.error_text()), QColor(theme.muted_text())
        self.border, self.chosen = QColor(theme.blend(base, self.ink, 0.18)), QColor(theme.blend(base, self.bar, 0.12))

    def sizeHint(self, option, index) -> QSize:
        return QSize(320, CARD_H)

    def paint(self, painter: QPainter, option, index) -> None:
        rec = index.data(REC_ROLE) or {}
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        r = option.rect.adjusted(4, 3, -4, -3)
        selected = bool(option.state & QStyle.State_Selected)
        painter.setPen(QPen(self.bar if selected else self.border))
        painter.setBrush(self.chosen if selected else self.base)
        painter.drawRoundedRect(r, 6, 6)
        thumb = QRect(r.left() + 6, r.top() + (r.height() - THUMB) // 2, THUMB, THUMB)
        pm = index.data(Qt.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            painter.drawPixmap(thumb.left() + (THUMB - pm.width()) // 2, thumb.top() + (THUMB - pm.height()) // 2, pm)
        else:
            painter.fillRect(thumb, self.pane)
        left, right = thumb.right() + 10, r.right() - 8
        y = self._paint_header(painter, option, rec, left, right, r.top(), (self.ink, self.muted))
        if rec.get("error"):
            painter.setPen(self.error)
            body = QRect(left, y, right - left, r.bottom() - y - 4)
            painter.drawText(body, Qt.TextWordWrap | Qt.AlignTop, "Could not classify: " + rec["error"])
        elif not rec.get("top"):
            painter.setPen(self.muted)
            line = painter.fontMetrics().height()
            painter.drawText(QRect(left, y, right - left, line), Qt.AlignLeft, rec.get("waiting", "waiting…"))
        else:
            self._paint_bars(painter, rec["top"][:3], left, right, y, (self.ink, self.track, self.bar, self.second))
        painter.restore()

    @staticmethod
    def _paint_header(painter: QPainter, option, rec: dict, left: int, right: int, top: int, colours) -> int:
        """File name (bold, elided) and the time taken; returns the y where the body starts."""
        fm = painter.fontMetrics()
        line = fm.height()
        name_font = QFont(painter.font())
        name_font.setBold(True)
        painter.setFont(name_font)
        ink, muted = colours
        painter.setPen(ink)
        ms_text = rec.get("ms_text", "")
        ms_w = fm.horizontalAdvance(ms_text) + 12
        name = fm.elidedText(rec.get("name", ""), Qt.ElideMiddle, max(40, right - left - ms_w))
        painter.drawText(QRect(left, top + 5, right - left - ms_w, line), Qt.AlignLeft | Qt.AlignVCenter, name)
        painter.setFont(option.font)
        painter.setPen(muted)
        painter.drawText(QRect(right - ms_w, top + 5, ms_w, line), Qt.AlignRight | Qt.AlignVCenter, ms_text)
        return top + 8 + line

    @staticmethod
    def _paint_bars(painter: QPainter, top: list, left: int, right: int, y: int, colours) -> None:
        """One row per class: its name, a bar as long as its probability, the percentage."""
        ink, track, first, second = colours
        fm = painter.fontMetrics()
        line = fm.height()
        label_w = min(170, max(90, (right - left) // 2))
        bar_h = max(10, line - 5)
        pct_w = fm.horizontalAdvance("100.0 %") + 8
        for k, (cls, p) in enumerate(top):
            yy = y + k * (line + 3)
            painter.setPen(ink)
            name = fm.elidedText(cls, Qt.ElideRight, label_w - 6)
            painter.drawText(QRect(left, yy, label_w - 6, line), Qt.AlignLeft | Qt.AlignVCenter, name)
            bar_w = max(20, right - (left + label_w) - pct_w)
            bar = QRect(left + label_w, yy + (line - bar_h) // 2, bar_w, bar_h)
            painter.setPen(Qt.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, 3, 3)
            painter.setBrush(first if k == 0 else second)
            painter.drawRoundedRect(QRect(bar.left(), bar.top(), max(2, round(bar_w * p)), bar_h), 3, 3)
            painter.setPen(ink)
            painter.drawText(QRect(bar.right() + 4, yy, pct_w, line), Qt.AlignRight | Qt.AlignVCenter, percent(p))


class PlaceholderList(QListWidget):
    """A list that shows a hint while empty; drops go to the panel (the list does not accept them)."""

    def __init__(self, hint: str, parent=None):
        super().__init__(parent)
        self.hint = hint
        self._hint_colour = QColor(theme.muted_text())  # taken once: not from the palette while painting
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setDragDropMode(QAbstractItemView.NoDragDrop)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.count() == 0 and self.hint:
            p = QPainter(self.viewport())
            p.setPen(self._hint_colour)
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.15)
            p.setFont(f)
            p.drawText(self.viewport().rect().adjusted(24, 24, -24, -24), Qt.AlignCenter | Qt.TextWordWrap, self.hint)
            p.end()
