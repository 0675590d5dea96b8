"""The LR finder's plots in the application's palette: background, axes, grid and text from gui.theme,
so a dark desktop gets dark plots with light ink (pyqtgraph's global default is white)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from gui import theme


def translucent(colour: QColor, alpha: int) -> QColor:
    out = QColor(colour)
    out.setAlpha(alpha)
    return out


def style_plot(widget: pg.PlotWidget) -> None:
    """Background, axis lines, tick labels and titles of ``widget`` from the current palette."""
    ink = theme.plot_ink()
    widget.setBackground(theme.plot_background())
    item = widget.getPlotItem()
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(ink))
        axis.setTextPen(pg.mkPen(ink))
        label = axis.labelText
        if label:
            axis.setLabel(label, color=ink.name())


def lr_colour() -> QColor:
    """The chosen learning rate's line (red on both palettes)."""
    return theme.series_colour(3)


def loss_colour() -> QColor:
    return theme.series_colour(0)
