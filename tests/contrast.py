"""Test helper: every visible text widget of a panel reads at ≥ 4.5:1 against what is behind it."""

from __future__ import annotations

import re

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QWidget

from gui.theme import contrast_ratio

MIN_RATIO = 4.5


def _text_colour_and_background(widget: QWidget):
    """The colours a widget's text is drawn in and on, from its palette after style sheets applied."""
    pal = widget.palette()
    if isinstance(widget, QLineEdit):
        return pal.color(QPalette.Text), pal.color(QPalette.Base)
    if isinstance(widget, QAbstractButton):
        return pal.color(QPalette.ButtonText), pal.color(QPalette.Button)
    role = widget.backgroundRole()
    return pal.color(widget.foregroundRole()), pal.color(role)


def low_contrast_texts(root: QWidget, minimum: float = MIN_RATIO) -> list[str]:
    """One line per visible, enabled text widget under ``root`` whose text reads below ``minimum``."""
    bad = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisibleTo(root) or not widget.isEnabled():
            continue
        if isinstance(widget, QLabel) and not widget.text().strip():
            continue
        if not isinstance(widget, (QLabel, QAbstractButton, QLineEdit)):
            continue
        widget.ensurePolished()
        fg, bg = _text_colour_and_background(widget)
        inline = (
            re.findall(r"color:\s*(#[0-9a-fA-F]{3,6}\b|[a-z]+)", widget.text()) if isinstance(widget, QLabel) else []
        )
        colours = [fg, *(QColor(c) for c in inline if QColor(c).isValid())]
        ratio = min(contrast_ratio(c, bg) for c in colours)
        if ratio < minimum:
            label = getattr(widget, "text", lambda: "")()[:40]
            bad.append(
                f"{type(widget).__name__} {widget.objectName() or label!r}: {ratio:.2f}:1 ({fg.name()} on {bg.name()})"
            )
    return bad
