"""Loss against learning rate on a log axis: raw and smoothed curves, suggestion markers, and the
red line the user drags to choose the learning rate.

On this log-x plot every x in view coordinates is log10(lr); conversions happen here only.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from engine.lr_curves import DEFAULT_SUGGESTION, SUGGESTION_COLORS, SUGGESTION_LABELS, format_lr, loss_view_range
from gui import theme
from gui.lr_finder.curve import LRCurve
from gui.lr_finder.plot_style import loss_colour, lr_colour, style_plot, translucent

TIP = (
    "Loss against learning rate, on a log scale. The finder trains briefly while the rate grows: "
    "choose a rate where the loss still falls steeply, well before the lowest point. "
    "Drag the red line, or click a coloured dot (a suggestion)."
)


class LossPlot(pg.PlotWidget):
    lineMoved = Signal(float)  # any move of the line, dragging or from code: the LR under it
    lrDropped = Signal(float)  # a drag of the line ended here
    suggestionClicked = Signal(str)  # a marker was clicked: the suggestion's name

    def __init__(self, lr: float, parent=None):
        super().__init__(parent)
        pi = self.getPlotItem()
        self.setToolTip(TIP)
        pi.setLogMode(x=True, y=False)
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setLabel("bottom", "learning rate (log scale)")
        pi.setLabel("left", "loss")
        pi.getAxis("left").enableAutoSIPrefix(False)  # losses are plain numbers: no "loss (x0.001)"
        pi.setMenuEnabled(False)
        pi.hideButtons()
        pi.setMouseEnabled(x=False, y=False)  # dragging is for the line, not for panning
        style_plot(self)
        back, ink = theme.plot_background(), theme.plot_ink()
        self.legend = pi.addLegend(
            offset=(-10, 10),
            labelTextColor=ink,
            brush=pg.mkBrush(translucent(back, 225)),
            pen=pg.mkPen(translucent(ink, 60)),
        )
        self.raw_curve = pi.plot(
            [],
            [],
            pen=pg.mkPen(translucent(loss_colour(), 120 if theme.is_dark() else 80), width=1),
            name="loss of each batch",
        )
        self.smooth_curve = pi.plot([], [], pen=pg.mkPen(loss_colour(), width=2.5), name="smoothed loss")
        self.markers = pg.ScatterPlotItem(
            size=13, pen=pg.mkPen(back, width=1.5), hoverable=True, hoverSize=17, tip=self._marker_tip
        )
        self.markers.setZValue(20)
        pi.addItem(self.markers)
        self.line = self._make_line(lr)
        pi.addItem(self.line, ignoreBounds=True)
        self.auto_line = self._make_auto_line()
        pi.addItem(self.auto_line, ignoreBounds=True)
        self.markers.sigClicked.connect(self._marker_clicked)
        self.line.sigPositionChanged.connect(self._line_moved)
        self.line.sigPositionChangeFinished.connect(lambda *_: self.lrDropped.emit(self.line_lr()))
        self._line_moved()

    @staticmethod
    def _make_line(lr: float) -> pg.InfiniteLine:
        line = pg.InfiniteLine(
            pos=math.log10(lr),
            angle=90,
            movable=True,
            pen=pg.mkPen(lr_colour(), width=2),
            hoverPen=pg.mkPen(lr_colour(), width=4),
            label="",
            labelOpts={
                "position": 0.93,
                "color": lr_colour(),
                "fill": translucent(theme.plot_background(), 230),
                "movable": True,
            },
        )
        font = line.label.textItem.font()
        font.setBold(True)
        line.label.textItem.setFont(font)
        line.setZValue(30)
        line.setToolTip("Drag the red line to choose the learning rate Train will use.")
        return line

    @staticmethod
    def _make_auto_line() -> pg.InfiniteLine:
        """Where Auto's LR is (the LR it chose from this curve): dashed, fixed, named; hidden until Auto ran."""
        ink = theme.plot_ink()
        line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(ink, width=2, style=Qt.DashLine),
            label="",
            labelOpts={"position": 0.08, "color": ink, "fill": translucent(theme.plot_background(), 230)},
        )
        line.setZValue(25)
        line.hide()
        return line

    def line_lr(self) -> float:
        return 10.0 ** self.line.value()

    def _line_moved(self, *_) -> None:
        lr = self.line_lr()
        self.line.label.setFormat(f"LR {format_lr(lr)}")
        self.lineMoved.emit(lr)

    def _marker_clicked(self, _item, points, _ev=None) -> None:
        if len(points):
            self.suggestionClicked.emit(points[0].data())

    def _marker_tip(self, x, y, data) -> str:
        return f"{SUGGESTION_LABELS.get(data, data)}: {format_lr(10**x)} — click to use"

    # ---- setters (show state; never write it)
    def show_lr(self, lr: float) -> None:
        pos = math.log10(lr)
        if abs(self.line.value() - pos) > 1e-12:  # no move, no sigPositionChanged
            self.line.setValue(pos)

    def show_auto_lr(self, lr: float | None, text: str = "") -> None:
        """Auto's chosen LR as a dashed line labelled ``text``; None hides it."""
        self.auto_line.setVisible(lr is not None)  # first: a hidden line's label does not update
        if lr is not None:
            self.auto_line.setValue(math.log10(lr))
            self.auto_line.label.setFormat(text)

    def show_x_range(self, start: float, end: float) -> None:
        self.getPlotItem().setXRange(math.log10(start), math.log10(end), padding=0.02)

    def show_curve(self, curve: LRCurve) -> None:
        x = np.asarray(curve.lrs, dtype=float)
        self.raw_curve.setData(x, np.asarray(curve.losses, dtype=float))
        self.smooth_curve.setData(x, np.asarray(curve.smoothed, dtype=float))
        y_range = loss_view_range(curve.losses, curve.smoothed)
        if y_range is not None:
            self.getPlotItem().setYRange(*y_range, padding=0)

    def show_markers(self, curve: LRCurve) -> None:
        """A dot on the smoothed curve at each suggestion (the default one drawn last, on top)."""
        spots = []
        for name in sorted(curve.suggestions, key=lambda n: n == DEFAULT_SUGGESTION):
            lr = curve.suggestions[name]
            if lr is None or not curve.lrs:
                continue
            y = float(np.interp(math.log10(lr), np.log10(curve.lrs), curve.smoothed))
            spots.append({"pos": (math.log10(lr), y), "data": name, "brush": pg.mkBrush(SUGGESTION_COLORS[name])})
        self.markers.setData(spots)
