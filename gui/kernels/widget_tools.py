"""Two Qt habits the Kernels tab's widgets share: show a value without emitting, wrap in a plain scroll area."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


def set_quietly(widget, setter, value) -> None:
    """Show a value without emitting the widget's change signals (they mean "the user edited it")."""
    widget.blockSignals(True)
    setter(value)
    widget.blockSignals(False)


def scrolled(widget: QWidget, horizontal: bool = True) -> QScrollArea:
    """``widget`` in a frameless scroll area that resizes it to fit."""
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.NoFrame)
    if not horizontal:
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    return scroll
