"""How the Classify tab reads and looks: percentages, file order, model tags, colours, item-data roles."""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from gui import theme

REC_ROLE = Qt.UserRole + 1  # the engine's result record of a row (or a gallery image's index)
ITEM_ROLE = Qt.UserRole + 2  # what to load again for the large view (path, URL or array)
SORT_ROLE = Qt.UserRole + 3  # the value a batch-table column sorts by
THUMB = 76  # side of a drop-list thumbnail
CARD_H = 92  # height of a drop-list card
GALLERY_ICON = 104  # side of an Evaluate-gallery thumbnail


# colours: asked of gui.theme when drawn, so they follow the palette (light or dark)
def bar() -> QColor:
    """The most likely class's probability bar."""
    return theme.series_colour(0)


def bar_second() -> QColor:
    return theme.blend(theme.plot_background(), theme.series_colour(0), 0.5)


def bar_track() -> QColor:
    """Behind a probability bar."""
    return theme.pane()


def card_ink() -> QColor:
    """Text on a list's cards (drawn on the list's base colour)."""
    return theme.plot_ink()


def note_style() -> str:
    """Style sheet of secondary notes (muted, still readable)."""
    return f"color: {theme.css(theme.muted_text())};"


def percent(p: float | None) -> str:
    """'54.9 %'; '100 %' from 99.95 % up; '—' for a missing or non-finite value."""
    if p is None or not math.isfinite(p):
        return "—"
    return f"{100 * p:.1f} %" if p < 0.9995 else "100 %"


def natural_key(name: str) -> list:
    """'2.jpg' before '10.jpg'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def short_model_name(model) -> str:
    """The tag a prediction row shows: 'ImageNet', or the dataset (else architecture) a model was trained on."""
    from engine.inference import is_imagenet_model

    if is_imagenet_model(model):
        return "ImageNet"
    return model.meta.dataset or model.meta.arch


def bold(widget, scale: float = 1.0):
    """Make a label's font bold (and ``scale`` times larger); returns the widget."""
    font = widget.font()
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    widget.setFont(font)
    return widget
