"""LR finder panel, offscreen: line ↔ AppState.lr ↔ Train field, suggestions, live run, cancel, export."""

import csv
import math
import os
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from torch import nn

from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.jobs import check
from engine.training import LRFindParts
from tests.conftest import SAMPLE


class TinyLearner:
    """Stands in for engine.training.Learner: a least-squares 'head' on fixed features, no backbone."""

    def __init__(self, dataset, step_delay=0.0):
        self.dataset = dataset
        self.config = TrainConfig()
        self.model = None
        self.step_delay = step_delay
        self.prepared = 0
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(64, 6, generator=g)
        self.y = self.X @ torch.randn(6, 1, generator=g)
        torch.manual_seed(0)
        self.module = nn.Linear(6, 1)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.1, momentum=0.9)

    def prepare(self, stop=None):
        for i in range(3):
            check(stop)
            yield {"type": "precompute", "split": "train", "done": i + 1, "total": 3}
        self.prepared += 1

    def lr_find_parts(self):
        def batches():
            while True:
                yield self.X, self.y

        def loss_fn(out, target):
            if self.step_delay:
                time.sleep(self.step_delay)
            return nn.functional.mse_loss(out, target)

        return LRFindParts(self.module, self.optimizer, [1.0], loss_fn, batches, iters_per_epoch=1)


@pytest.fixture
def state(qtbot):
    from gui.app import configure_pyqtgraph
    from gui.state import AppState

    configure_pyqtgraph()
    s = AppState()
    s.set_dataset(scan_dataset(SAMPLE))
    return s


@pytest.fixture
def panel(qtbot, state):
    from gui.lr_finder.panel import LRFinderPanel

    p = LRFinderPanel(state)
    qtbot.addWidget(p)
    p.resize(1100, 760)
    p.show()
    yield p
    p.shutdown()


def drop_line_at(panel, lr):
    """What a finished drag does: the line moves (many sigPositionChanged), then sigPositionChangeFinished."""
    panel.view.plot.line.setValue(math.log10(lr) - 0.3)
    panel.view.plot.line.setValue(math.log10(lr))
    panel.view.plot.line.sigPositionChangeFinished.emit(panel.view.plot.line)


def run_to_end(qtbot, panel, timeout=20000):
    """Wait for the job's ended signal to have been handled (it re-enables Run)."""
    qtbot.waitUntil(lambda: not panel.running and panel.view.controls.run_button.isEnabled(), timeout=timeout)


def test_line_sets_lr_and_train_field_and_state_moves_line_without_loops(qtbot, panel, state):
    try:
        from gui.training.panel import TrainingPanel

        train = TrainingPanel(state)
        qtbot.addWidget(train)
    except ImportError:
        train = None
    emitted, finished = [], []
    state.lrChanged.connect(emitted.append)
    panel.view.plot.line.sigPositionChangeFinished.connect(lambda *_: finished.append(1))
    assert panel.view.plot.line.value() == pytest.approx(math.log10(state.lr))

    drop_line_at(panel, 0.00321)
    assert state.lr == pytest.approx(0.00321)
    assert emitted == [pytest.approx(0.00321)]  # one emission, no echo from the line
    assert "0.00321" in panel.view.chips.lr_label.text() and "0.00321" in panel.view.plot.line.label.toPlainText()
    if train is not None:
        assert float(train.lr_edit.text()) == pytest.approx(0.00321)
        # typing in the Train field moves the line, again with one emission
        train.lr_edit.setText("0.02")
        train.lr_edit.editingFinished.emit()
        assert panel.view.plot.line.value() == pytest.approx(math.log10(0.02))
        assert emitted[-1] == pytest.approx(0.02) and len(emitted) == 2
        train.shutdown()

    n = len(emitted)
    state.set_lr(4e-4)
    assert panel.view.plot.line.value() == pytest.approx(math.log10(4e-4))
    assert "4e-4" in panel.view.plot.line.label.toPlainText()
    assert len(emitted) == n + 1 and finished == [1]  # moving from code never "drops" the line
    # a drop is rounded to what the label shows, and the line snaps to it
    drop_line_at(panel, 0.0123456)
    assert state.lr == 0.0123 and panel.view.plot.line.value() == pytest.approx(math.log10(0.0123))


def test_live_points_suggestions_and_snapping(qtbot, panel, state):
    learner = TinyLearner(state.dataset, step_delay=0.01)
    state.set_learner(learner)
    w0 = learner.module.weight.detach().clone()
    panel.view.controls.start_edit.setText("1e-4")
    panel.view.controls.end_edit.setText("100")
    panel.view.controls.iters_spin.setValue(80)
    seen = []
    qtbot.waitUntil(lambda: panel.view.controls.run_button.isEnabled())
    panel.view.controls.run_button.click()
    assert (
        panel.running
        and panel.view.controls.cancel_button.isEnabled()
        and not panel.view.controls.run_button.isEnabled()
    )
    # the curve fills in while the job is still running
    # (points are drawn at most every LIVE_MS, not one redraw per point)
    qtbot.waitUntil(
        lambda: panel.view.plot.smooth_curve.xData is not None and len(panel.view.plot.smooth_curve.xData) >= 5,
        timeout=10000,
    )
    seen.append((panel.running, len(panel.view.plot.smooth_curve.xData)))
    run_to_end(qtbot, panel)
    assert seen[0][0] and seen[0][1] >= 5
    assert learner.prepared == 1 and state.learner is learner  # shared learner reused
    assert len(panel.controller.curve.lrs) > 10 and panel.controller.curve.lrs[0] == pytest.approx(1e-4)
    assert panel.controller.curve.stopped == "diverged"  # 100 is far beyond this problem's 2/L
    assert len(panel.view.plot.smooth_curve.xData) == len(panel.controller.curve.lrs)
    assert torch.equal(learner.module.weight, w0)  # the finder left the model as it was
    valley = panel.controller.curve.suggestions["valley"]
    assert (
        valley is not None
        and f"Suggested: {panel.view.chips.buttons['valley'].text().split()[-1]}" in panel.view.controls.status.text()
    )
    assert panel.view.chips.buttons["valley"].isEnabled()
    assert panel.view.export_buttons["png"].isEnabled()

    # click the suggestion chip: line and LR follow
    panel.view.chips.buttons["valley"].click()
    assert state.lr == pytest.approx(float(f"{valley:.3g}"))
    assert panel.view.plot.line.value() == pytest.approx(math.log10(state.lr))
    # click a marker on the plot (the scatter spot carries the suggestion's name)
    spots = {p.data(): p for p in panel.view.plot.markers.points()}
    assert set(spots) == {n for n, v in panel.controller.curve.suggestions.items() if v is not None}
    other = next(n for n in spots if n != "valley")
    panel.view.plot.markers.sigClicked.emit(panel.view.plot.markers, [spots[other]], None)
    assert state.lr == pytest.approx(float(f"{panel.controller.curve.suggestions[other]:.3g}"))
    assert spots[other].pos().x() == pytest.approx(math.log10(panel.controller.curve.suggestions[other]))
    assert panel.view.plot.line.value() == pytest.approx(math.log10(state.lr))

    # schedule views: the test's exponential LR and the training plan at the chosen LR
    assert list(panel.view.schedule.done.xData) == list(range(len(panel.controller.curve.lrs)))
    assert panel.view.schedule.planned.yData[-1] == pytest.approx(100)
    panel.view.schedule.view_combo.setCurrentIndex(panel.view.schedule.view_combo.findData("train"))
    plan = list(panel.view.schedule.planned.yData)
    assert len(plan) > 3 and max(plan) == pytest.approx(state.lr, rel=0.05)
    state.set_lr(0.05)
    assert max(panel.view.schedule.planned.yData) == pytest.approx(0.05, rel=0.05)
    assert panel.view.schedule.lr_line.value() == pytest.approx(math.log10(0.05))


def test_cancel_stops_the_run_and_keeps_the_model(qtbot, panel, state):
    learner = TinyLearner(state.dataset, step_delay=0.05)
    learner.optimizer.zero_grad()
    nn.functional.mse_loss(learner.module(learner.X), learner.y).backward()
    learner.optimizer.step()
    before = {k: v.clone() for k, v in learner.module.state_dict().items()}
    momentum = learner.optimizer.state_dict()["state"][0]["momentum_buffer"].clone()
    state.set_learner(learner)
    panel.view.controls.iters_spin.setValue(200)
    panel.view.controls.end_edit.setText("1e-2")  # no divergence: it would run 10 s
    panel.run()
    qtbot.waitUntil(lambda: len(panel.controller.curve.lrs) >= 3, timeout=10000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(panel.controller.slot.job.cancelled, timeout=5000):
        panel.view.controls.cancel_button.click()
    assert time.perf_counter() - t0 < 2
    qtbot.waitUntil(lambda: not panel.running, timeout=5000)
    assert "Cancelled" in panel.view.controls.status.text() and len(panel.controller.curve.lrs) < 200
    assert panel.view.controls.run_button.isEnabled() and not panel.view.controls.cancel_button.isEnabled()
    for k, v in learner.module.state_dict().items():
        assert torch.equal(v, before[k])
    assert torch.equal(learner.optimizer.state_dict()["state"][0]["momentum_buffer"], momentum)


def test_refuses_to_run_while_train_is_training(qtbot, state):
    from gui.jobs import JobSlot
    from gui.lr_finder.panel import LRFinderPanel
    from tests.conftest import hold_slot

    slot = JobSlot("learner")
    panel = LRFinderPanel(state, learner_slot=slot)
    qtbot.addWidget(panel)
    learner = TinyLearner(state.dataset)
    state.set_learner(learner)
    busy = hold_slot(slot, "Train")
    panel.run()
    assert not panel.running and learner.prepared == 0
    assert "The Train tab is running" in panel.view.controls.status.text()  # names who holds the model
    slot.cancel()
    assert busy.wait(5)


def test_builds_and_shares_a_learner_when_none_exists(qtbot, panel, state, monkeypatch):
    import engine.training as training

    made = []

    def fake(dataset, config):
        made.append(config)
        return TinyLearner(dataset)

    monkeypatch.setattr(training, "Learner", fake)
    state.set_train_config(TrainConfig(arch="resnet18", size=64))
    panel.view.controls.iters_spin.setValue(10)
    panel.run()
    run_to_end(qtbot, panel)
    assert len(made) == 1 and made[0].arch == "resnet18" and made[0].size == 64
    assert isinstance(state.learner, TinyLearner)
    assert len(panel.controller.curve.lrs) == 10


def test_keeps_the_trained_learner_when_precompute_is_unticked(qtbot, panel, state, monkeypatch):
    """Lesson 1 trains with precompute, then unticks it and goes on with the same model: running the
    finder in between must test that model, not replace it (Train would restart from pretrained weights)."""
    import engine.training as training

    made = []
    monkeypatch.setattr(training, "Learner", lambda dataset, config: made.append(config) or TinyLearner(dataset))
    trained = TinyLearner(state.dataset)
    trained.config = TrainConfig(precompute=True)
    state.set_learner(trained)
    state.set_train_config(TrainConfig(precompute=False, unfreeze=True))
    panel.view.controls.iters_spin.setValue(10)
    panel.run()
    run_to_end(qtbot, panel)
    assert made == [] and state.learner is trained and trained.prepared == 1
    assert trained.config.precompute is False and trained.config.unfreeze  # it tested what Train will train
    assert len(panel.controller.curve.lrs) == 10
    # a different network (another size) is a new model, shared from then on
    state.set_train_config(TrainConfig(size=64))
    panel.run()
    run_to_end(qtbot, panel)
    assert len(made) == 1 and made[0].size == 64 and state.learner is not trained


def test_new_dataset_while_running_cancels_and_clears_once_ended(qtbot, panel, state):
    state.set_learner(TinyLearner(state.dataset, step_delay=0.02))
    panel.view.controls.iters_spin.setValue(500)
    panel.view.controls.end_edit.setText("1e-2")
    panel.run()
    qtbot.waitUntil(lambda: len(panel.controller.curve.lrs) >= 3, timeout=10000)
    state.set_dataset(scan_dataset(SAMPLE))
    run_to_end(qtbot, panel)
    # nothing of the old dataset's curve is left, even points that were on their way
    qtbot.wait(100)
    assert panel.controller.curve.lrs == [] and panel.controller.curve.dataset is state.dataset
    assert len(panel.view.plot.smooth_curve.xData or []) == 0
    assert "press Run" in panel.view.controls.status.text()
    assert not panel.view.export_buttons["csv"].isEnabled()


def test_bad_bounds_disable_run_and_new_dataset_clears(qtbot, panel, state, tmp_path):
    planned = panel.view.schedule.planned.yData  # the test the controls describe, before any run
    assert len(planned) == 100 and planned[0] == pytest.approx(1e-7) and planned[-1] == pytest.approx(10)
    panel.view.controls.start_edit.setText("1")
    panel.view.controls.end_edit.setText("0.1")
    assert not panel.view.controls.run_button.isEnabled()
    panel.view.controls.end_edit.setText("abc")
    assert not panel.view.controls.run_button.isEnabled()
    panel.view.controls.end_edit.setText("10")
    assert panel.view.controls.run_button.isEnabled()
    from gui.lr_finder.curve import LRCurve

    panel.controller.curve = LRCurve(state.dataset, [1e-3, 1e-2], [1.0, 0.5], [1.0, 0.9])
    panel.view.show_curve(panel.controller.curve)
    assert len(panel.view.plot.smooth_curve.xData) == 2
    state.set_dataset(scan_dataset(SAMPLE))
    assert panel.controller.curve.lrs == [] and len(panel.view.plot.smooth_curve.xData or []) == 0


def test_export_png_and_csv(qtbot, panel, state, tmp_path):
    state.set_learner(TinyLearner(state.dataset))
    panel.view.controls.iters_spin.setValue(30)
    panel.run()
    run_to_end(qtbot, panel)
    png = panel.controller.export_png(tmp_path / "plot.png")
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 300 and len(np.unique(np.asarray(im.convert("L")))) > 5
    rows = list(csv.reader(open(panel.controller.export_csv(tmp_path / "data.csv"))))
    assert rows[0] == ["iteration", "lr", "loss", "smoothed_loss"]
    assert len(rows) == len(panel.controller.curve.lrs) + 1
    assert (
        float(rows[1][1]) == panel.controller.curve.lrs[0] and float(rows[-1][3]) == panel.controller.curve.smoothed[-1]
    )


def test_exports_are_written_whole_or_not_at_all(qtbot, panel, state, tmp_path):
    from gui.lr_finder.curve import LRCurve

    class Unwritable(float):
        def __float__(self):
            raise ValueError("not a number")

    target = tmp_path / "data.csv"
    target.write_text("the previous export\n")
    panel.controller.curve = LRCurve(state.dataset, [1e-3, 1e-2, 1e-1], [1.0, 0.5, 0.4], [1.0, 0.9, Unwritable()])
    with pytest.raises(ValueError):
        panel.controller.export_csv(target)
    assert target.read_text() == "the previous export\n"  # a failed export never leaves half a file
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]  # nor a temporary file
    # the folders of a new path are made, for the PNG too
    png = panel.controller.export_png(tmp_path / "new" / "plot.png")
    assert png.stat().st_size > 1000 and [p.name for p in png.parent.iterdir()] == ["plot.png"]
    panel.controller.curve = LRCurve(state.dataset, [1e-3], [1.0], [1.0])
    csv_path = panel.controller.export_csv(tmp_path / "other" / "data.csv")
    assert csv_path.read_text().splitlines() == ["iteration,lr,loss,smoothed_loss", "0,0.001,1.0,1.0"]


def test_in_main_window_after_train(qtbot, settings, monkeypatch):
    import gui.main_window as mw

    win = mw.MainWindow(settings=settings)
    qtbot.addWidget(win)
    titles = list(win.panels)
    assert titles.index("LR finder") == titles.index("Train") - 1  # the lesson runs the LR finder first
    assert type(win.panels["LR finder"]).__name__ == "LRFinderPanel"
    win.shutdown()


@pytest.mark.display
def test_real_mouse_drag_of_the_line(qtbot, panel, state):
    """A real press-move-release on the line under an X server (xvfb-run); skipped without one."""
    from PySide6.QtGui import QGuiApplication

    if not os.environ.get("DISPLAY") or QGuiApplication.platformName() != "xcb":
        pytest.skip("needs a real X display: QT_QPA_PLATFORM=xcb xvfb-run -a pytest -m display")
    state.set_lr(1e-3)
    qtbot.waitUntil(lambda: panel.windowHandle() is not None and panel.windowHandle().isExposed())
    QTest.qWait(100)  # let the layout settle before mapping points
    view = panel.view.plot
    vb = view.getPlotItem().getViewBox()
    emitted = []
    state.lrChanged.connect(emitted.append)

    def to_widget(lr, frac_y=0.5):
        y0, y1 = vb.viewRange()[1]
        scene = vb.mapViewToScene(QPointF(math.log10(lr), y0 + frac_y * (y1 - y0)))
        return view.mapFromScene(scene)

    start, end = to_widget(1e-3), to_widget(1e-1)
    vp = view.viewport()
    QTest.mouseMove(vp, start)
    QTest.qWait(50)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, start)
    steps = 12
    for i in range(1, steps + 1):
        p = QPoint(start.x() + (end.x() - start.x()) * i // steps, start.y())
        QTest.mouseMove(vp, p)
        QTest.qWait(15)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, end)
    QTest.qWait(50)
    assert len(emitted) == 1
    assert 10**-1.15 < state.lr < 10**-0.85  # within a few pixels of 0.1
    assert panel.view.plot.line.value() == pytest.approx(math.log10(state.lr))
