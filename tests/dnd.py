"""Send real drag-and-drop events: DragEnter (Qt only delivers a Drop to a widget that accepted it), then Drop."""

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def mime_for(urls=(), image=None, text=None) -> QMimeData:
    md = QMimeData()
    if urls:
        md.setUrls(
            [u if isinstance(u, QUrl) else (QUrl(u) if "://" in str(u) else QUrl.fromLocalFile(str(u))) for u in urls]
        )
    if image is not None:
        md.setImageData(image)
    if text is not None:
        md.setText(text)
    return md


def drag_enter(widget, md: QMimeData, pos=(20, 20)) -> QDragEnterEvent:
    """Deliver a DragEnter of ``md``; returns the event (isAccepted() says whether a drop would be taken)."""
    try:
        enter = QDragEnterEvent(QPointF(*pos), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    except TypeError:  # PySide6 < 6.12 takes QPoint only
        enter = QDragEnterEvent(QPoint(*pos), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    return enter


def drop_mime(widget, md: QMimeData, pos=(20, 20), must_accept_enter=False) -> QDropEvent:
    """Deliver DragEnter + Drop of ``md`` to ``widget``; returns the drop event (check isAccepted())."""
    enter = drag_enter(widget, md, pos)
    if must_accept_enter:
        assert enter.isAccepted(), "the widget refused the drag"
    ev = QDropEvent(QPointF(*pos), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, ev)
    return ev


def drop_urls(widget, urls, pos=(20, 20)) -> QDropEvent:
    """Drop local paths (or 'http://…' strings) onto widget as file URLs, like a file manager does."""
    return drop_mime(widget, mime_for(urls=urls), pos)
