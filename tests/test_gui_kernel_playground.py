"""The Kernels tab: act on the widgets (type, scrub, pick, click, drop, paste, hover), assert the pixels."""

import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QImage, QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.images import load_rgb  # noqa: E402
from engine.kernel_layers import Layer, apply_stack, pixel_breakdown  # noqa: E402
from engine.kernel_presets import PRESETS  # noqa: E402
from engine.kernels import apply_kernel  # noqa: E402
from tests.conftest import PHOTOS, SAMPLE  # noqa: E402
from tests.dnd import drop_mime, mime_for  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _none_refcount_guard():
    # PySide6 6.12 on Python 3.11 drops a reference to None on every void Qt call; event-loop waits
    # would free None ("none_dealloc") during a long session. None is immortal from Python 3.12.
    if sys.version_info < (3, 12):
        import ctypes

        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    yield


@pytest.fixture
def panel(qtbot):
    from gui.app import configure_pyqtgraph
    from gui.kernels.panel import KernelPlayground
    from gui.state import AppState

    configure_pyqtgraph()
    state = AppState()
    p = KernelPlayground(state)
    qtbot.addWidget(p)
    p.resize(1200, 760)
    p.show()
    qtbot.waitExposed(p)
    qtbot.waitUntil(lambda: p.renders > 0)
    yield p
    p.shutdown()


def chelsea():
    return np.asarray(load_rgb(PHOTOS / "chelsea.png"))


def shown(p):
    return p.result_item.image


def wait_render(qtbot, p, before):
    qtbot.waitUntil(lambda: p.renders > before, timeout=10000)


def test_starts_with_the_cat_and_the_lecture_kernel(panel):
    img = chelsea()
    np.testing.assert_array_equal(panel.image, img)
    np.testing.assert_array_equal(shown(panel), apply_kernel(img, PRESETS["top_sobel"].kernel))
    assert panel.preset_combo.currentData() == "top_sobel"
    assert [[c.value() for c in row] for row in panel.grid.cells] == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]


def test_typing_into_a_cell_updates_the_result_and_switches_to_custom(panel, qtbot):
    cell = panel.grid.cells[1][1]
    before = panel.renders
    cell.lineEdit().selectAll()
    QTest.keyClicks(cell.lineEdit(), "5")
    wait_render(qtbot, panel, before)
    k = np.array([[1, 2, 1], [0, 5, 0], [-1, -2, -1]], float)
    np.testing.assert_array_equal(panel.layer.kernel, k)
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), k))
    assert panel.preset_combo.currentData() == "custom"
    assert "Custom" in panel.layer_list.item(0).text()


def test_dragging_a_cell_scrubs_its_value_live(panel, qtbot):
    cell = panel.grid.cells[0][0]
    edit = cell.lineEdit()
    start = QPointF(edit.rect().center())
    renders = panel.renders

    def send(kind, dx, buttons):
        local = start + QPointF(dx, 0)
        ev = QMouseEvent(kind, local, edit.mapToGlobal(local), Qt.LeftButton, buttons, Qt.NoModifier)
        QApplication.sendEvent(edit, ev)

    send(QEvent.MouseButtonPress, 0, Qt.LeftButton)
    values = []
    for dx in (6, 12, 18, 24):
        send(QEvent.MouseMove, dx, Qt.LeftButton)
        values.append(cell.value())
    send(QEvent.MouseButtonRelease, 24, Qt.NoButton)
    assert values == [2, 3, 4, 5]  # one step per 6 pixels, from 1
    qtbot.waitUntil(lambda: panel.layer.kernel[0, 0] == 5)
    assert panel.renders > renders
    qtbot.waitUntil(lambda: np.array_equal(shown(panel), apply_kernel(chelsea(), [[5, 2, 1], [0, 0, 0], [-1, -2, -1]])))


def test_picking_a_preset_fills_grid_size_and_divisor(panel, qtbot):
    combo = panel.preset_combo
    i = combo.findData("gaussian_5x5")
    before = panel.renders
    combo.setCurrentIndex(i)
    combo.activated.emit(i)  # what a user's pick emits
    wait_render(qtbot, panel, before)
    p = PRESETS["gaussian_5x5"]
    assert panel.grid.size == 5 and panel.size_combo.currentData() == 5
    np.testing.assert_array_equal([[c.value() for c in row] for row in panel.grid.cells], p.kernel)
    assert panel.divisor_spin.value() == 256
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), p.kernel, 256))


def test_output_mode_border_and_grey_controls(panel, qtbot):
    before = panel.renders
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("abs"))
    panel.border_combo.setCurrentIndex(panel.border_combo.findData("zero"))
    panel.gray_check.setChecked(True)
    qtbot.waitUntil(lambda: panel.renders > before and shown(panel).ndim == 2)
    np.testing.assert_array_equal(
        shown(panel), apply_kernel(chelsea(), PRESETS["top_sobel"].kernel, mode="abs", border="zero", gray=True)
    )


def test_layers_stack_with_relu_and_each_stage_is_viewable(panel, qtbot):
    img = chelsea()
    panel.relu_check.setChecked(True)
    panel.add_layer("blur")
    qtbot.waitUntil(lambda: len(panel.stages) == 2)
    want = apply_stack(img, [Layer(PRESETS["top_sobel"].kernel, relu=True), Layer(PRESETS["blur"].kernel, 16)])
    np.testing.assert_array_equal(shown(panel), want[1].image)
    assert "after layer 2 of 2" in panel.title_result.text()
    panel.select_layer(0)
    np.testing.assert_array_equal(shown(panel), want[0].image)
    assert panel.preset_combo.currentData() == "top_sobel" and panel.relu_check.isChecked()
    panel.select_layer(1)
    panel.remove_layer()
    qtbot.waitUntil(lambda: len(panel.stages) == 1)
    assert panel.layer_list.count() == 1


def test_hover_inspector_shows_neighbourhood_times_kernel(panel, qtbot):
    x, y = 200, 120
    vb = panel.view_result
    vb.setRange(QRectF(x - 10, y - 10, 20, 20), padding=0)  # zoom in: a pixel spans many screen pixels
    qtbot.waitUntil(lambda: panel.view_original.viewRange() == vb.viewRange())  # linked views follow
    assert abs(panel.view_original.viewRange()[0][0] - vb.viewRange()[0][0]) < 1e-6
    scene_pos = vb.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    local = QPointF(panel.views.mapFromScene(scene_pos))
    viewport = panel.views.viewport()
    move = QMouseEvent(QEvent.MouseMove, local, viewport.mapToGlobal(local), Qt.NoButton, Qt.NoButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, move)
    qtbot.waitUntil(lambda: panel._hover == (x, y))
    b = pixel_breakdown(chelsea(), PRESETS["top_sobel"].kernel, y, x)
    text = panel.inspector.text()
    assert f"x={x}, y={y}" in text
    for c, s in enumerate(b.sums):
        assert f"= <b>{int(s)}</b>" in text
        assert f"pixel <b>{int(shown(panel)[y, x, c])}</b>" in text
    assert panel._marks[0].isVisible() and panel._marks[0].rect().width() == 3


def drop_files(widget, *paths) -> QDropEvent:
    """A real drag: enter (must be accepted), then drop, as Qt delivers them."""
    pos = (widget.width() // 2, widget.height() // 2)
    return drop_mime(widget, mime_for(urls=paths), pos, must_accept_enter=True)


def test_drop_of_an_image_file_loads_it(panel, qtbot):
    assert drop_files(panel, PHOTOS / "coffee.png").isAccepted()
    qtbot.waitUntil(lambda: panel.image_name == "coffee.png", timeout=10000)
    coffee = np.asarray(load_rgb(PHOTOS / "coffee.png"))
    np.testing.assert_array_equal(panel.image, coffee)
    qtbot.waitUntil(lambda: shown(panel).shape == coffee.shape)
    np.testing.assert_array_equal(shown(panel), apply_kernel(coffee, PRESETS["top_sobel"].kernel))


def test_dropping_a_broken_file_says_why(panel, qtbot, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"")
    drop_files(panel, bad)
    qtbot.waitUntil(lambda: "Could not open" in panel.image_info.text(), timeout=3000)
    assert "empty file" in panel.image_info.text()
    assert panel.image_name == "chelsea.png"


def test_ctrl_v_pastes_the_clipboard_image(panel, qtbot):
    img = QImage(40, 30, QImage.Format_RGB32)
    img.fill(QColor(10, 200, 30))
    QGuiApplication.clipboard().setImage(img)
    panel.activateWindow()
    panel.views.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    before = panel.renders
    QTest.keyClick(QApplication.focusWidget(), Qt.Key_V, Qt.ControlModifier)
    qtbot.waitUntil(lambda: panel.image.shape == (30, 40, 3))
    assert (panel.image == [10, 200, 30]).all()
    wait_render(qtbot, panel, before)
    assert shown(panel).shape == (30, 40, 3)


def test_save_result_writes_the_shown_pixels(panel, tmp_path):
    out = panel.save_result(tmp_path / "edges.png")
    np.testing.assert_array_equal(np.asarray(load_rgb(out)), shown(panel))


def test_dataset_quick_pick_loads_its_first_image(panel, qtbot):
    from engine.data import scan_dataset

    assert not panel.dataset_button.isEnabled()
    ds = scan_dataset(SAMPLE)
    panel.state.set_dataset(ds)
    assert panel.dataset_button.isEnabled()
    qtbot.mouseClick(panel.dataset_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.image.shape[:2] == (64, 64), timeout=10000)
    np.testing.assert_array_equal(panel.image, np.asarray(load_rgb(ds.train[0][0])))


def test_big_images_compute_on_a_worker_and_stale_results_are_dropped(panel, qtbot):
    panel.sync_limit = 0  # force the worker path
    before = panel.renders
    for v in (3, 4, 5, 6, 7):  # a burst of edits while jobs run
        panel.set_cell(0, 0, v)
    qtbot.waitUntil(lambda: panel._render_job is None and panel.renders > before, timeout=10000)
    qtbot.waitUntil(
        lambda: np.array_equal(shown(panel), apply_kernel(chelsea(), [[7, 2, 1], [0, 0, 0], [-1, -2, -1]])),
        timeout=10000,
    )
    assert panel.renders - before <= 3  # coalesced, not one per edit
    assert panel._shown_generation == panel._generation


@pytest.mark.slow
def test_clicking_a_network_filter_loads_it_as_an_rgb_kernel(panel, qtbot):
    panel.tabs.setCurrentIndex(1)  # loads EfficientNet-Lite0's filters on a worker
    qtbot.waitUntil(lambda: panel.filters is not None, timeout=60000)
    grid = panel.filter_grid
    assert grid.count() == 32
    rect = grid.tile_rect(4)
    before = panel.renders
    qtbot.mouseClick(grid, Qt.LeftButton, pos=rect.center().toPoint())
    wait_render(qtbot, panel, before)
    w = panel.filters.weights[4]
    np.testing.assert_array_equal(panel.layers[0].kernel, w)
    assert panel.channel_bar.isVisible() and panel.mode == "normalise"
    assert "filter 5" in panel.layer_list.item(0).text()
    np.testing.assert_allclose([[c.value() for c in row] for row in panel.grid.cells], w[..., 0], atol=1e-4)
    panel.channel_bar.setCurrentIndex(2)
    np.testing.assert_allclose([[c.value() for c in row] for row in panel.grid.cells], w[..., 2], atol=1e-4)
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), w, mode="normalise"))
    assert shown(panel).ndim == 2


@pytest.mark.slow
def test_activations_by_depth_are_computed_off_the_ui_thread(panel, qtbot):
    panel.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: len(panel.acts_view.rows) == 5, timeout=60000)
    titles = [t for t, _ in panel.acts_view.rows]
    assert titles[0].startswith("Layer 1: stem") and "block 6" in titles[-1]
    assert all(len(maps) == 8 for _, maps in panel.acts_view.rows)
