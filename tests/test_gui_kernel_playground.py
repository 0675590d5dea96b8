"""The Kernels tab: act on the widgets (type, scrub, pick, click, drop, paste, hover), assert the pixels."""

import os
import subprocess
import sys
import threading

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
from tests.conftest import PHOTOS, ROOT, SAMPLE  # noqa: E402
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
    qtbot.waitUntil(lambda: p.controller.renders > 0)
    yield p
    p.shutdown()


def chelsea():
    return np.asarray(load_rgb(PHOTOS / "chelsea.png"))


def shown(p):
    return p.view.pictures.result_item.image


def wait_render(qtbot, p, before):
    qtbot.waitUntil(lambda: p.controller.renders > before, timeout=10000)


def set_cell(p, r: int, c: int, value: float) -> None:
    """Set one number as if typed into the grid."""
    p.view.kernel_controls.grid.cells[r][c].setValue(value)


def grid_values(p):
    return [[c.value() for c in row] for row in p.view.kernel_controls.grid.cells]


def test_starts_with_the_cat_and_the_lecture_kernel(panel):
    img = chelsea()
    np.testing.assert_array_equal(panel.controller.image, img)
    np.testing.assert_array_equal(shown(panel), apply_kernel(img, PRESETS["top_sobel"].kernel))
    assert panel.view.kernel_controls.preset_combo.currentData() == "top_sobel"
    assert grid_values(panel) == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]


def test_typing_into_a_cell_updates_the_result_and_switches_to_custom(panel, qtbot):
    cell = panel.view.kernel_controls.grid.cells[1][1]
    before = panel.controller.renders
    cell.lineEdit().selectAll()
    QTest.keyClicks(cell.lineEdit(), "5")
    wait_render(qtbot, panel, before)
    k = np.array([[1, 2, 1], [0, 5, 0], [-1, -2, -1]], float)
    np.testing.assert_array_equal(panel.controller.stack.layer.kernel, k)
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), k))
    assert panel.view.kernel_controls.preset_combo.currentData() == "custom"
    assert "Custom" in panel.view.layer_controls.layer_list.item(0).text()


def test_dragging_a_cell_scrubs_its_value_live(panel, qtbot):
    cell = panel.view.kernel_controls.grid.cells[0][0]
    edit = cell.lineEdit()
    start = QPointF(edit.rect().center())
    renders = panel.controller.renders

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
    qtbot.waitUntil(lambda: panel.controller.stack.layer.kernel[0, 0] == 5)
    assert panel.controller.renders > renders
    qtbot.waitUntil(lambda: np.array_equal(shown(panel), apply_kernel(chelsea(), [[5, 2, 1], [0, 0, 0], [-1, -2, -1]])))


def test_picking_a_preset_fills_grid_size_and_divisor(panel, qtbot):
    combo = panel.view.kernel_controls.preset_combo
    i = combo.findData("gaussian_5x5")
    before = panel.controller.renders
    combo.setCurrentIndex(i)
    combo.activated.emit(i)  # what a user's pick emits
    wait_render(qtbot, panel, before)
    p = PRESETS["gaussian_5x5"]
    assert panel.view.kernel_controls.grid.size == 5 and panel.view.kernel_controls.size_combo.currentData() == 5
    np.testing.assert_array_equal(grid_values(panel), p.kernel)
    assert panel.view.kernel_controls.divisor_spin.value() == 256
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), p.kernel, 256))


def test_output_mode_border_and_grey_controls(panel, qtbot):
    before = panel.controller.renders
    panel.view.output_controls.mode_combo.setCurrentIndex(panel.view.output_controls.mode_combo.findData("abs"))
    panel.view.output_controls.border_combo.setCurrentIndex(panel.view.output_controls.border_combo.findData("zero"))
    panel.view.output_controls.gray_check.setChecked(True)
    qtbot.waitUntil(lambda: panel.controller.renders > before and shown(panel).ndim == 2)
    np.testing.assert_array_equal(
        shown(panel), apply_kernel(chelsea(), PRESETS["top_sobel"].kernel, mode="abs", border="zero", gray=True)
    )


def test_layers_stack_with_relu_and_each_stage_is_viewable(panel, qtbot):
    img = chelsea()
    panel.view.layer_controls.relu_check.setChecked(True)
    panel.controller.add_layer("blur")
    qtbot.waitUntil(lambda: len(panel.controller.stages) == 2)
    want = apply_stack(img, [Layer(PRESETS["top_sobel"].kernel, relu=True), Layer(PRESETS["blur"].kernel, 16)])
    np.testing.assert_array_equal(shown(panel), want[1].image)
    assert "after layer 2 of 2" in panel.view.pictures.title_result.text()
    panel.controller.select_layer(0)
    np.testing.assert_array_equal(shown(panel), want[0].image)
    assert (
        panel.view.kernel_controls.preset_combo.currentData() == "top_sobel"
        and panel.view.layer_controls.relu_check.isChecked()
    )
    panel.controller.select_layer(1)
    panel.controller.remove_layer()
    qtbot.waitUntil(lambda: len(panel.controller.stages) == 1)
    assert panel.view.layer_controls.layer_list.count() == 1


def test_hover_inspector_shows_neighbourhood_times_kernel(panel, qtbot):
    x, y = 200, 120
    vb = panel.view.pictures.view_result
    vb.setRange(QRectF(x - 10, y - 10, 20, 20), padding=0)  # zoom in: a pixel spans many screen pixels
    qtbot.waitUntil(lambda: panel.view.pictures.view_original.viewRange() == vb.viewRange())  # linked views follow
    assert abs(panel.view.pictures.view_original.viewRange()[0][0] - vb.viewRange()[0][0]) < 1e-6
    scene_pos = vb.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    local = QPointF(panel.view.pictures.views.mapFromScene(scene_pos))
    viewport = panel.view.pictures.views.viewport()
    move = QMouseEvent(QEvent.MouseMove, local, viewport.mapToGlobal(local), Qt.NoButton, Qt.NoButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, move)
    qtbot.waitUntil(lambda: panel.controller.hover == (x, y))
    b = pixel_breakdown(chelsea(), PRESETS["top_sobel"].kernel, y, x)
    text = panel.view.inspector.text()
    assert f"x={x}, y={y}" in text
    for c, s in enumerate(b.sums):
        assert f"= <b>{int(s)}</b>" in text
        assert f"pixel <b>{int(shown(panel)[y, x, c])}</b>" in text
    assert panel.view.pictures.marks[0].isVisible() and panel.view.pictures.marks[0].rect().width() == 3


def drop_files(widget, *paths) -> QDropEvent:
    """A real drag: enter (must be accepted), then drop, as Qt delivers them."""
    pos = (widget.width() // 2, widget.height() // 2)
    return drop_mime(widget, mime_for(urls=paths), pos, must_accept_enter=True)


def test_drop_of_an_image_file_loads_it(panel, qtbot):
    assert drop_files(panel.view, PHOTOS / "coffee.png").isAccepted()
    qtbot.waitUntil(lambda: panel.controller.image_name == "coffee.png", timeout=10000)
    coffee = np.asarray(load_rgb(PHOTOS / "coffee.png"))
    np.testing.assert_array_equal(panel.controller.image, coffee)
    qtbot.waitUntil(lambda: shown(panel).shape == coffee.shape)
    np.testing.assert_array_equal(shown(panel), apply_kernel(coffee, PRESETS["top_sobel"].kernel))


def test_dropping_a_broken_file_says_why(panel, qtbot, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"")
    drop_files(panel.view, bad)
    qtbot.waitUntil(lambda: "Could not open" in panel.view.image_controls.info.text(), timeout=3000)
    assert "empty file" in panel.view.image_controls.info.text()
    assert panel.controller.image_name == "chelsea.png"


def test_ctrl_v_pastes_the_clipboard_image(panel, qtbot):
    img = QImage(40, 30, QImage.Format_RGB32)
    img.fill(QColor(10, 200, 30))
    QGuiApplication.clipboard().setImage(img)
    panel.activateWindow()
    panel.view.pictures.views.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    before = panel.controller.renders
    QTest.keyClick(QApplication.focusWidget(), Qt.Key_V, Qt.ControlModifier)
    qtbot.waitUntil(lambda: panel.controller.image.shape == (30, 40, 3))
    assert (panel.controller.image == [10, 200, 30]).all()
    wait_render(qtbot, panel, before)
    assert shown(panel).shape == (30, 40, 3)


def test_save_result_writes_the_shown_pixels(panel, tmp_path):
    out = panel.controller.save_result(tmp_path / "edges.png")
    np.testing.assert_array_equal(np.asarray(load_rgb(out)), shown(panel))


def test_dataset_quick_pick_loads_its_first_image(panel, qtbot):
    from engine.data import scan_dataset

    assert not panel.view.image_controls.dataset_button.isEnabled()
    ds = scan_dataset(SAMPLE)
    panel.state.set_dataset(ds)
    assert panel.view.image_controls.dataset_button.isEnabled()
    qtbot.mouseClick(panel.view.image_controls.dataset_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.controller.image.shape[:2] == (64, 64), timeout=10000)
    np.testing.assert_array_equal(panel.controller.image, np.asarray(load_rgb(ds.train[0][0])))


def test_big_images_compute_on_a_worker_and_a_burst_of_edits_is_coalesced(panel, qtbot):
    renderer = panel.controller.renderer
    renderer.sync_limit = 0  # force the worker path
    before = panel.controller.renders
    for v in (3, 4, 5, 6, 7):  # a burst of edits while jobs run
        set_cell(panel, 0, 0, v)
    qtbot.waitUntil(lambda: renderer.settled and panel.controller.renders > before, timeout=10000)
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), [[7, 2, 1], [0, 0, 0], [-1, -2, -1]]))
    assert panel.controller.renders - before <= 3  # coalesced, not one per edit


class GatedRenders:
    """Stand-in for render_stack whose jobs wait for a gate: results arrive exactly when a test says.

    ``calls`` lists (gate, (image shape, layer 1's top-left weight)) as the job threads start.
    """

    def __init__(self):
        self.calls: list[tuple[threading.Event, tuple]] = []

    def __call__(self, image, layers, stop=None, **options):
        gate = threading.Event()
        self.calls.append((gate, (image.shape, layers[0].kernel[0, 0])))
        yield {"type": "layer", "done": 0, "total": len(layers), "seconds": 0.0}
        gate.wait(10)
        return apply_stack(image, layers, **options)

    def gate(self, shape) -> threading.Event:
        return next(gate for gate, (s, _) in self.calls if s == shape)


def test_edits_while_the_worker_runs_wait_and_run_once_with_the_newest_numbers(panel, qtbot, monkeypatch):
    gated = GatedRenders()
    monkeypatch.setattr("gui.kernels.renderer.render_stack", gated)
    renderer = panel.controller.renderer
    renderer.sync_limit = 0
    shape = panel.controller.image.shape
    set_cell(panel, 0, 0, 3)
    qtbot.waitUntil(lambda: len(gated.calls) == 1, timeout=10000)
    for v in (4, 5, 6, 7):
        set_cell(panel, 0, 0, v)
    qtbot.wait(100)
    assert [args for _, args in gated.calls] == [(shape, 3)]  # one job at a time
    before = panel.controller.renders
    gated.calls[0][0].set()
    qtbot.waitUntil(lambda: len(gated.calls) == 2, timeout=10000)
    assert gated.calls[1][1] == (shape, 7)  # the edits in between were coalesced into the newest
    assert panel.controller.stack.layer.kernel[0, 0] == 7 and not renderer.settled
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), [[3, 2, 1], [0, 0, 0], [-1, -2, -1]]))
    gated.calls[1][0].set()
    qtbot.waitUntil(lambda: renderer.settled, timeout=10000)
    assert panel.controller.renders == before + 2  # both results shown, in order
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), [[7, 2, 1], [0, 0, 0], [-1, -2, -1]]))


def test_a_late_result_for_a_replaced_image_is_dropped_by_the_slot(panel, qtbot, monkeypatch):
    gated = GatedRenders()
    monkeypatch.setattr("gui.kernels.renderer.render_stack", gated)
    renderer = panel.controller.renderer
    renderer.sync_limit = 0
    coffee = np.asarray(load_rgb(PHOTOS / "coffee.png"))
    small = np.full((30, 40, 3), 90, np.uint8)
    small[10:] = 200
    panel.controller.set_image(coffee, "coffee.png")
    first_job = renderer.slot.job
    qtbot.waitUntil(lambda: len(gated.calls) == 1, timeout=10000)
    before = panel.controller.renders
    gated.gate(coffee.shape).set()
    assert first_job.wait(10)  # the coffee result is computed; its signals wait in the event queue
    panel.controller.set_image(small, "small")  # the user already moved on: supersedes it
    qtbot.waitUntil(lambda: len(gated.calls) == 2, timeout=10000)  # (the queued coffee result is delivered)
    qtbot.wait(50)
    assert panel.controller.renders == before and shown(panel) is None  # dropped, not shown
    gated.gate(small.shape).set()
    qtbot.waitUntil(lambda: renderer.settled, timeout=10000)
    assert panel.controller.renders == before + 1
    np.testing.assert_array_equal(shown(panel), apply_kernel(small, PRESETS["top_sobel"].kernel))
    assert panel.controller.stages[0].image.shape == small.shape


def test_the_tab_starts_without_importing_torch(tmp_path):
    # the window shows before torch loads; the network filters and activations import it in their jobs
    code = (
        "import sys\n"
        "from gui.app import make_app\n"
        "from gui.kernels import KernelPlayground\n"
        "from gui.state import AppState\n"
        "app = make_app()\n"
        "p = KernelPlayground(AppState())\n"
        "assert p.controller.renders == 1, p.controller.renders\n"
        "p.shutdown()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm')]\n"
        "assert not bad, bad[:5]\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.slow
def test_clicking_a_network_filter_loads_it_as_an_rgb_kernel(panel, qtbot):
    panel.view.tabs.setCurrentIndex(1)  # loads EfficientNet-Lite0's filters on a worker
    qtbot.waitUntil(lambda: panel.network.filters is not None, timeout=60000)
    grid = panel.view.filters_tab.grid
    assert grid.count() == 32
    rect = grid.tile_rect(4)
    before = panel.controller.renders
    qtbot.mouseClick(grid, Qt.LeftButton, pos=rect.center().toPoint())
    wait_render(qtbot, panel, before)
    w = panel.network.filters.weights[4]
    np.testing.assert_array_equal(panel.controller.stack.layers[0].kernel, w)
    assert panel.view.kernel_controls.channel_bar.isVisible() and panel.controller.mode == "normalise"
    assert "filter 5" in panel.view.layer_controls.layer_list.item(0).text()
    np.testing.assert_allclose(grid_values(panel), w[..., 0], atol=1e-4)
    panel.view.kernel_controls.channel_bar.setCurrentIndex(2)
    np.testing.assert_allclose(grid_values(panel), w[..., 2], atol=1e-4)
    np.testing.assert_array_equal(shown(panel), apply_kernel(chelsea(), w, mode="normalise"))
    assert shown(panel).ndim == 2


@pytest.mark.slow
def test_activations_by_depth_are_computed_off_the_ui_thread(panel, qtbot):
    panel.view.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: len(panel.view.activations_tab.maps.rows) == 5, timeout=60000)
    titles = [t for t, _ in panel.view.activations_tab.maps.rows]
    assert titles[0].startswith("Layer 1: stem") and "block 6" in titles[-1]
    assert all(len(maps) == 8 for _, maps in panel.view.activations_tab.maps.rows)


def test_the_view_shows_a_stack_without_emitting_edits_and_says_what_the_user_asks(qtbot):
    from gui.kernels.stack import LayerStack
    from gui.kernels.view import KernelView

    view = KernelView()
    qtbot.addWidget(view)
    k, out, layers = view.kernel_controls, view.output_controls, view.layer_controls
    intents = []
    for signal in (
        k.presetPicked,
        k.sizePicked,
        k.channelPicked,
        k.cellEdited,
        k.divisorEdited,
        k.biasEdited,
        out.optionsEdited,
        layers.layerSelected,
        layers.reluToggled,
        view.activations_tab.settingsEdited,
    ):
        signal.connect(lambda *args, s=signal: intents.append(args))
    stack = LayerStack()
    stack.use_preset("gaussian_5x5")
    stack.layer.relu = True
    stack.add("blur")
    stack.select(0)
    stack.use_network_filter(np.ones((3, 3, 3)), "filter 1")
    stack.channel = 1
    k.show_layer(stack)
    layers.show_stack(stack)
    out.show_mode("normalise")
    view.activations_tab.show_depths(["stem", "block 1"], ["stem"])
    assert intents == []  # showing state is not an edit
    assert not k.channel_bar.isHidden() and k.channel_bar.currentIndex() == 1
    assert k.preset_combo.currentText() == "filter 1" and k.size_combo.currentData() == 3
    assert layers.layer_list.count() == 2 and layers.layer_list.currentRow() == 0
    assert out.mode_combo.currentData() == "normalise"
    # and the other way: a user's edit is one intent with the values
    k.grid.cells[2][1].setValue(4)
    out.gray_check.setChecked(True)
    assert intents == [(2, 1, 4.0), ("normalise", "replicate", True)]


def test_switching_the_network_offers_its_depths_and_says_when_its_weights_are_missing(panel, qtbot):
    from engine.models import WeightsUnavailable, pretrained_network

    try:
        pretrained_network("resnet34")
    except WeightsUnavailable:
        pass
    else:
        pytest.skip("resnet34 weights are on this machine")
    view = panel.view
    depths = view.activations_tab.depth_list
    assert [depths.item(i).text() for i in range(depths.count())][:2] == ["stem", "block 0"]
    view.tabs.setCurrentIndex(1)
    view.arch_combo.setCurrentText("resnet34")
    assert [depths.item(i).text() for i in range(depths.count())] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert view.activations_tab.chosen_depths() == ["stem", "layer1", "layer2", "layer3", "layer4"]
    qtbot.waitUntil(lambda: "Import weights" in view.filters_tab.info.text(), timeout=60000)
    assert panel.network.filters is None and view.filters_tab.grid.count() == 0


def test_a_network_filter_fills_the_selected_layer_and_ctrl_z_undoes_it(panel, qtbot):
    """Layer 2 selected: the filter goes there with layer 2's ReLU; layer 1 stays; Ctrl+Z restores the stack
    and the picture; the Undo button says whether there is something to undo."""
    c, layers = panel.controller, panel.view.layer_controls
    before = c.renders
    qtbot.mouseClick(layers.relu_check, Qt.LeftButton)  # layer 1 → ReLU
    qtbot.mouseClick(layers.add_button, Qt.LeftButton)  # layer 2 (selected)
    layers.relu_check.setChecked(True)
    wait_render(qtbot, panel, before)
    old_names = list(c.stack.names)
    old_picture = shown(panel).copy()
    w = np.random.default_rng(0).normal(size=(3, 3, 3))
    before = c.renders
    c.use_network_filter(w, "resnet34 filter 7")
    wait_render(qtbot, panel, before)
    assert c.stack.current == 1 and c.stack.names == [old_names[0], "resnet34 filter 7"]
    assert c.stack.layers[0].relu and c.stack.layers[1].relu
    assert "filter 7" in layers.layer_list.item(1).text() and "ReLU" in layers.layer_list.item(0).text()
    assert layers.undo_button.isEnabled() and "Ctrl+Z" in layers.undo_button.toolTip()
    before = c.renders
    panel.view.pictures.setFocus()
    QTest.keyClick(panel.view.pictures, Qt.Key_Z, Qt.ControlModifier)
    wait_render(qtbot, panel, before)
    assert c.stack.names == old_names and not c.stack.is_rgb(1)
    np.testing.assert_array_equal(shown(panel), old_picture)
    while c.stack.can_undo():
        qtbot.mouseClick(layers.undo_button, Qt.LeftButton)
    assert len(c.stack.layers) == 1 and not c.stack.layers[0].relu and not layers.undo_button.isEnabled()
