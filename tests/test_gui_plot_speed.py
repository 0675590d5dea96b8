"""gui.plot_speed: wide opaque curves drawn as device-pixel segments and cached axes look like
pyqtgraph's own painting, and the curve path is much faster (the cause of the window's pauses)."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

from gui import plot_speed
from gui.app import make_app
from gui.images import array_from_qimage


def _plot(qtbot, width: float, alpha: int = 255):
    make_app()  # installs plot_speed
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(600, 300)
    x = np.linspace(0, 10, 200)
    y = np.sin(x * 3) + np.random.default_rng(0).normal(0, 0.3, x.size)
    y[50] = np.nan  # a gap, as pyqtgraph leaves one
    curve = w.plot(x, y, pen=pg.mkPen((30, 90, 200, alpha), width=width))
    w.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
    w.show()
    qtbot.waitExposed(w)
    return w, curve.curve


def _render(widget) -> np.ndarray:
    return array_from_qimage(widget.grab().toImage()).astype(int)


def test_a_wide_opaque_curve_takes_the_device_path_and_looks_the_same(qtbot, monkeypatch):
    w, curve = _plot(qtbot, width=2.5)
    taken = []
    fast = plot_speed._device_segments
    monkeypatch.setattr(plot_speed, "_device_segments", lambda *a: taken.append(fast(*a)) or taken[-1])
    new = _render(w)
    assert taken and all(taken)
    monkeypatch.setattr(plot_speed, "_device_segments", lambda *a: False)  # pyqtgraph's own painting
    w.getPlotItem().update()
    old = _render(w)
    ink = (np.abs(old - old[5, 5]).max(axis=2) > 60).sum()  # pixels the plot drew on
    differ = (np.abs(new - old).max(axis=2) > 100).sum()
    assert ink > 2000
    assert differ < 0.03 * ink, (differ, ink)


def test_translucent_and_thin_curves_keep_pyqtgraphs_path(qtbot, monkeypatch):
    for width, alpha in ((1.0, 255), (2.5, 120)):
        w, curve = _plot(qtbot, width=width, alpha=alpha)
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        p = QPainter(image)
        assert plot_speed._device_segments(curve, p, curve.opts["pen"]) is False
        p.end()


def test_axes_are_cached_and_keep_their_labels(qtbot, monkeypatch):
    w, _ = _plot(qtbot, width=2.5)
    axis = w.getPlotItem().getAxis("left")
    assert axis.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache
    new = _render(w)
    monkeypatch.setattr(pg.AxisItem, "paint", plot_speed._original_axis_paint)
    for side in ("left", "bottom"):
        w.getPlotItem().getAxis(side).picture = None
        w.getPlotItem().getAxis(side).update()
    old = _render(w)
    strip = (slice(0, 300), slice(0, 40))  # the left axis and its tick labels
    ink = (np.abs(old[strip] - old[5, 5]).max(axis=2) > 60).sum()
    assert ink > 100
    assert (np.abs(new[strip] - old[strip]).max(axis=2) > 100).sum() < 0.05 * ink


def test_the_device_path_is_several_times_faster_on_a_jagged_wide_curve(qtbot, monkeypatch):
    w, curve = _plot(qtbot, width=2.5)
    fast = plot_speed._device_segments

    def paint_ms(use_fast: bool) -> float:
        monkeypatch.setattr(plot_speed, "_device_segments", fast if use_fast else (lambda *a: False))
        t = time.perf_counter()
        w.grab()
        return (time.perf_counter() - t) * 1000

    paint_ms(True), paint_ms(False)  # the axes' caches are made by the first paints
    ratios = [paint_ms(False) / paint_ms(True) for _ in range(9)]
    assert statistics.median(ratios) > 3, ratios


def test_install_twice_changes_nothing():
    make_app()
    paint, axis = pg.PlotCurveItem.paint, pg.AxisItem.paint
    plot_speed.install()
    assert (pg.PlotCurveItem.paint, pg.AxisItem.paint) == (paint, axis)
