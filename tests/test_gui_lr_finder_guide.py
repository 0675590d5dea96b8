"""LR finder tab, issue 13 and 15: an already trained model (test a fresh copy or this one), the tested range
kept for Train's warning, tooltips on every control, export dialogs' folders, shortcuts, dark palette, small screens."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QWidget,
)

from engine.data import scan_dataset
from gui import theme
from gui.lr_finder.view import FRESH, THIS
from tests import test_gui_lr_finder_panel as panel_tests
from tests.conftest import SAMPLE
from tests.contrast import low_contrast_texts
from tests.test_gui_lr_finder_panel import TinyLearner, run_to_end

state, panel = panel_tests.state, panel_tests.panel  # the LR finder tab's fixtures, shared


class TrainedTinyLearner(TinyLearner):
    """A TinyLearner whose model has been trained (engine.run_rules.is_trained says so)."""

    def __init__(self, dataset):
        super().__init__(dataset)
        self.model = object()
        self.history = [{"epoch": 1}]
        self.weights_from = {"run": 3, "epoch": 2}


@pytest.fixture
def fresh_learners(monkeypatch):
    import engine.training as training

    made = []

    def fake(dataset, config):
        made.append(TinyLearner(dataset))
        return made[-1]

    monkeypatch.setattr(training, "Learner", fake)
    return made


def ask(panel, monkeypatch, answer):
    asked = []
    monkeypatch.setattr(panel.view, "ask_trained", lambda notice: asked.append(notice) or answer)
    return asked


def test_a_trained_model_offers_a_fresh_copy_and_stays_current(qtbot, panel, state, monkeypatch, fresh_learners):
    trained = TrainedTinyLearner(state.dataset)
    weights = [p.detach().clone() for p in trained.module.parameters()]
    state.set_learner(trained)
    asked = ask(panel, monkeypatch, FRESH)
    panel.view.controls.iters_spin.setValue(10)
    panel.run()
    run_to_end(qtbot, panel)
    assert len(asked) == 1 and "already trained (run 3, epoch 2)" in asked[0]
    assert len(fresh_learners) == 1 and fresh_learners[0].prepared == 1  # the test ran on the fresh copy
    assert trained.prepared == 0 and state.learner is trained  # the trained model stays current, untouched
    assert all((a == b).all() for a, b in zip(weights, trained.module.parameters(), strict=True))
    assert len(panel.controller.curve.lrs) == 10
    assert "fresh copy" in panel.view.controls.status.text()


def test_a_trained_model_can_be_tested_as_it_is_or_not_at_all(qtbot, panel, state, monkeypatch, fresh_learners):
    trained = TrainedTinyLearner(state.dataset)
    state.set_learner(trained)
    panel.view.controls.iters_spin.setValue(10)
    ask(panel, monkeypatch, None)  # Cancel: nothing runs
    panel.run()
    assert not panel.running and trained.prepared == 0 and panel.controller.curve.lrs == []
    assert "unchanged" in panel.view.controls.status.text()
    ask(panel, monkeypatch, THIS)
    panel.run()
    run_to_end(qtbot, panel)
    assert fresh_learners == [] and trained.prepared == 1 and state.learner is trained
    assert "trained model" in panel.view.controls.status.text()


def test_an_untrained_model_is_tested_without_asking(qtbot, panel, state, monkeypatch):
    state.set_learner(TinyLearner(state.dataset))
    asked = ask(panel, monkeypatch, None)
    panel.view.controls.iters_spin.setValue(10)
    panel.run()
    run_to_end(qtbot, panel)
    assert asked == [] and len(panel.controller.curve.lrs) == 10


def test_the_tested_range_is_kept_for_train_and_forgotten_with_the_dataset(qtbot, panel, state):
    from engine.run_rules import lr_warning

    seen = []
    state.lrTestRangeChanged.connect(seen.append)
    assert state.lr_test_range is None
    state.set_learner(TinyLearner(state.dataset))
    panel.view.controls.end_edit.setText("1e-1")
    panel.view.controls.iters_spin.setValue(12)
    panel.run()
    run_to_end(qtbot, panel)
    lrs = panel.controller.curve.lrs
    assert state.lr_test_range == (min(lrs), max(lrs)) and seen == [state.lr_test_range]
    assert state.lr_test_range[1] <= 0.1 + 1e-12
    assert "above what the LR finder tested" in lr_warning(0.5, state.lr_test_range)  # what Train will say
    state.set_dataset(scan_dataset(SAMPLE))
    assert state.lr_test_range is None and seen[-1] is None


def input_widgets(root):
    kinds = (QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox)
    inner = (QAbstractSpinBox, QComboBox)  # their own line edit carries no tooltip of its own
    return [
        w
        for w in root.findChildren(QWidget)
        if isinstance(w, kinds) and w.isVisibleTo(root) and not isinstance(w.parent(), inner)
    ]


def test_every_control_has_a_plain_tooltip_and_terms_are_explained(panel):
    widgets = input_widgets(panel)
    assert len(widgets) >= 12  # run, cancel, range, steps, growth, 4 chips, schedule, 2 exports
    missing = [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}" for w in widgets if not w.toolTip().strip()]
    assert missing == []
    chips = panel.view.chips.buttons
    assert "longest stretch" in chips["valley"].toolTip() and "divided by 10" in chips["min_div10"].toolTip()
    assert "fastest" in chips["steepest"].toolTip() and "flattens" in chips["slide"].toolTip()
    assert "plot_lr" in panel.view.schedule.plot.toolTip() and "plot_lr" in panel.view.schedule.view_combo.toolTip()
    assert "Ctrl+R" in panel.view.controls.run_button.toolTip()
    assert panel.view.plot.toolTip() and panel.view.plot.line.toolTip()


def test_exports_start_in_documents_then_the_last_folder(qtbot, panel, state, monkeypatch, tmp_path, home):
    starts, answers = [], [str(tmp_path / "plots" / "mine.png"), str(tmp_path / "plots" / "mine.csv")]
    (tmp_path / "plots").mkdir()
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda _p, _c, start, _f: (starts.append(start), (answers.pop(0), ""))[1]
    )
    state.set_learner(TinyLearner(state.dataset))
    panel.view.controls.iters_spin.setValue(10)
    panel.run()
    run_to_end(qtbot, panel)
    panel.view.export_buttons["png"].click()
    panel.view.export_buttons["csv"].click()
    assert starts == [str(home / "Documents" / "lr_finder.png"), str(tmp_path / "plots" / "lr_finder.csv")]
    assert not any(Path(s).parent == Path(os.getcwd()) for s in starts)
    assert (tmp_path / "plots" / "mine.png").stat().st_size > 1000 and (tmp_path / "plots" / "mine.csv").exists()


def test_run_and_save_shortcuts(qtbot, panel, state, monkeypatch):
    state.set_learner(TinyLearner(state.dataset))
    panel.view.controls.iters_spin.setValue(10)
    panel.activateWindow()
    panel.view.controls.iters_spin.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    QTest.keyClick(QApplication.focusWidget(), Qt.Key_R, Qt.ControlModifier)
    run_to_end(qtbot, panel)
    assert len(panel.controller.curve.lrs) == 10
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (asked.append(a[2]), ("", ""))[1])
    QTest.keyClick(QApplication.focusWidget(), Qt.Key_S, Qt.ControlModifier)
    assert len(asked) == 1 and asked[0].endswith("lr_finder.png")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key_Return, Qt.ControlModifier)
    run_to_end(qtbot, panel)
    assert len(panel.controller.curve.lrs) == 10 and state.learner.prepared == 2


def test_readable_in_a_dark_palette_with_dark_plots(qtbot, state):
    from gui.lr_finder.panel import LRFinderPanel

    app = QApplication.instance()
    old = app.palette()
    app.setPalette(theme.dark_palette())
    try:
        p = LRFinderPanel(state)
        qtbot.addWidget(p)
        p.resize(1366, 768)
        p.show()
        p.controller._on_view_range_edited(p.controller.settings)  # a bad field would be styled here
        assert low_contrast_texts(p) == []
        back = p.view.plot.backgroundBrush().color()
        assert theme.is_dark() and back.lightnessF() < 0.3
        tick_pen = p.view.plot.getPlotItem().getAxis("bottom").textPen().color()
        assert theme.contrast_ratio(tick_pen, back) >= 4.5
        p.shutdown()
    finally:
        app.setPalette(old)


def test_fits_a_small_screen(qtbot, panel):
    hint = panel.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 576 - 40 - 60  # title bar, tabs and status bar
    panel.resize(1024, 576 - 100)
    qtbot.wait(20)
    run = panel.view.controls.run_button
    assert run.isVisible() and run.geometry().right() <= panel.width()
    assert panel.view.plot.height() >= 150
