"""Two changes to how pyqtgraph paints, so live charts cost the UI thread milliseconds, not tens of them.

Measured on this project's charts (a 1262×397 plot, 100 points, antialiasing on), Qt's raster engine:

- strokes a *wide* (> 1 px) antialiased cosmetic pen 10–60× slower when the painter carries the view's
  scaling transform (pyqtgraph draws curves in data coordinates) than when the same line is drawn in
  device pixels as separate segments: 3–36 ms a curve against 0.4–0.9 ms. ``install()`` makes
  ``PlotCurveItem`` draw such curves as segments mapped to device pixels (the same pixels, to within
  antialiasing at the joints). Translucent pens keep pyqtgraph's own path (overlapping segment ends would
  show), and so do fills, step mode, shadows, exports and OpenGL.
- replays each axis's cached QPicture (its tick labels and grid) on every repaint of the plot, 1–5 ms an
  axis (replaying text from a QPicture resolves its font again each time); an axis only changes when its
  range or style does. ``install()`` gives every AxisItem Qt's device-coordinate item cache, so an
  unchanged axis is one pixmap blit, and draws a changed axis straight into that cache, no QPicture.

Together they took a live LR-finder repaint from ~33 ms to ~5 ms on this machine, which is what kept
the window's ticks late by 0.1–0.2 s while a job ran Python on the other core (bench/ui_during_jobs.py).
``install()`` is called once by gui.app.configure_pyqtgraph, before any plot is made.
"""

from __future__ import annotations

import numpy as np

_installed = False
_original_curve_paint = None  # pyqtgraph's own, kept for tests and as the fallback
_original_axis_paint = None


def _device_segments(curve, p, pen) -> bool:
    """Draw ``curve``'s line with ``pen`` as device-pixel segments; False when this fast path does not
    apply (the caller then paints as pyqtgraph does)."""
    from pyqtgraph.graphicsItems.PlotCurveItem import arrayToLineSegments
    from PySide6.QtCore import Qt

    opts = curve.opts
    if (
        curve._exportOpts is not False
        or opts["stepMode"]
        or opts["fillLevel"] is not None
        or opts["compositionMode"] is not None
        or opts["shadowPen"] is not None
        or pen.style() != Qt.PenStyle.SolidLine
        or not pen.isSolid()
        or not pen.isCosmetic()
        or pen.widthF() <= 1.0
        or pen.color().alphaF() < 1.0
    ):
        return False
    t = p.transform()
    if t.m12() != 0 or t.m21() != 0 or t.m13() != 0 or t.m23() != 0:  # rotation, shear or perspective
        return False
    x, y = curve.getData()
    if x is None or len(x) < 2:
        return True  # nothing to draw, as in pyqtgraph

    xd = np.asarray(x, dtype=np.float64) * t.m11() + t.dx()
    yd = np.asarray(y, dtype=np.float64) * t.m22() + t.dy()
    segments = arrayToLineSegments(xd, yd, connect=opts["connect"], finiteCheck=not opts["skipFiniteCheck"])
    p.save()
    p.resetTransform()  # the clip stays: Qt keeps it in device coordinates
    p.setRenderHint(p.RenderHint.Antialiasing, bool(opts["antialias"]))
    p.setPen(pen)
    p.drawLines(*segments.drawargs())
    p.restore()
    return True


def _paint_axis(axis, p, opt, widget) -> None:
    """AxisItem.paint without its QPicture: the ticks and labels drawn straight onto ``p`` (the item's
    cache, so this runs only when the axis changed)."""
    p.save()
    try:
        if axis.style["tickFont"]:
            p.setFont(axis.style["tickFont"])
        specs = axis.generateDrawSpecs(p)
        if specs is not None:
            _draw_axis(axis, p, *specs)
    finally:
        p.restore()


def _draw_axis(axis, p, axis_spec, tick_specs, text_specs) -> None:
    """AxisItem.drawPicture, except that translucent horizontal and vertical lines (the grid) are filled
    as 1-pixel rectangles: Qt's raster engine draws a translucent line 4–5× slower than it fills the
    same pixels (a grid of 40 lines took 8–15 ms a redraw of a 1262×433 plot)."""
    from PySide6.QtCore import QRectF, Qt

    p.setRenderHint(p.RenderHint.Antialiasing, False)
    p.setRenderHint(p.RenderHint.TextAntialiasing, True)
    pen, a, b = axis_spec
    p.setPen(pen)
    p.drawLine(a, b)
    t = p.transform()
    for pen, a, b in tick_specs:
        colour = pen.color()
        flat = pen.widthF() <= 1.0 and colour.alpha() < 255 and pen.style() == Qt.PenStyle.SolidLine
        if flat and (a.x() == b.x() or a.y() == b.y()):
            d, e = t.map(a), t.map(b)  # Qt fills the pixel whose centre the mapped point is nearest
            p.save()
            p.resetTransform()
            x0, x1 = sorted((d.x(), e.x()))
            y0, y1 = sorted((d.y(), e.y()))
            p.fillRect(QRectF(int(x0), int(y0), int(x1) - int(x0) + 1, int(y1) - int(y0) + 1), colour)
            p.restore()
        else:
            p.setPen(pen)
            p.drawLine(a, b)
    p.setPen(axis.textPen())  # the tick font is set already (_paint_axis)
    p.setClipRect(axis.boundingRect().toAlignedRect())
    for rect, flags, text in text_specs:
        p.drawText(rect, int(flags), text)


def install() -> None:
    """Patch pyqtgraph's PlotCurveItem.paint and AxisItem (this module's doc). Safe to call twice."""
    global _installed, _original_curve_paint, _original_axis_paint
    if _installed:
        return
    from pyqtgraph import AxisItem, PlotCurveItem
    from pyqtgraph.Qt.OpenGLHelpers import GraphicsViewGLWidget
    from PySide6.QtWidgets import QGraphicsItem

    original_paint = _original_curve_paint = PlotCurveItem.paint
    _original_axis_paint = AxisItem.paint

    def paint(self, p, opt, widget):
        drawn = (
            self.xData is not None
            and len(self.xData) > 0
            and not isinstance(widget, GraphicsViewGLWidget)
            and _device_segments(self, p, self.opts["pen"])
        )
        if not drawn:
            original_paint(self, p, opt, widget)

    original_init = AxisItem.__init__

    def axis_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    PlotCurveItem.paint = paint
    AxisItem.__init__ = axis_init
    AxisItem.paint = _paint_axis
    _installed = True
