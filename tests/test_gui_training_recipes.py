"""Train tab, issue 17: the recipe chooser (Auto by default, the lesson presets, Custom), Auto's stages,
progress, cancel and kept model, the presets' stages (the same as the CLI's), and Auto's LR on the LR
finder's plot."""

import dataclasses
import math

import pytest

import engine.run_training
from engine import presets, recipes
from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.lr_curves import format_lr
from gui.jobs import JobSlot
from gui.lr_finder import view as lr_view
from gui.lr_finder.panel import LRFinderPanel
from gui.state import AppState, AutoLRTest
from gui.training.history_list import describe_run
from gui.training.panel import TrainingPanel
from gui.training.recipes import AutoSections, Recipe, section_name
from gui.training.settings import with_model_head
from tests.training_data import make_dataset

TINY = TrainConfig(arch="tiny_cnn", size=32, bs=8)
BUDGET_S = 30.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return scan_dataset(make_dataset(tmp_path_factory.mktemp("recipes") / "colours", n_train=12, n_valid=6))


def make_panels(qtbot, dataset, with_lr_finder=False):
    state = AppState()
    state.set_dataset(dataset)
    slot = JobSlot("learner")
    train = TrainingPanel(state, learner_slot=slot)
    qtbot.addWidget(train)
    train.resize(1200, 800)
    train.show()
    finder = None
    if with_lr_finder:
        finder = LRFinderPanel(state, learner_slot=slot)
        qtbot.addWidget(finder)
    return train, finder


@pytest.fixture
def panel(qtbot, dataset):
    p, _ = make_panels(qtbot, dataset)
    yield p
    p.shutdown()


def tiny_auto(panel, budget_s=BUDGET_S):
    """The form's data settings for the tiny network (set_config makes it Custom), then Auto again."""
    panel.set_config(dataclasses.replace(TINY, epochs=1, precompute=True))
    panel.set_recipe(Recipe("auto", budget_s))


def run_to_end(qtbot, panel, timeout=120_000):
    panel.start()
    assert panel.running
    qtbot.waitUntil(
        lambda: not panel.running and panel.start_button.isEnabled() and not panel.charts_drawing, timeout=timeout
    )


def custom_boxes(panel):
    v = panel.view
    return [v.data_box, v.schedule_box, v.tuning_box]


def test_auto_is_the_default_and_hides_the_recipe_settings(panel):
    box = panel.view.recipe_box
    assert panel.recipe.name == "auto" and box.combo.currentData() == "auto"
    assert box.combo.currentText() == "Auto, up to 2 min" and box.budget_spin.isVisible()
    assert [box.combo.itemData(i) for i in range(box.combo.count())] == list(presets.PRESETS)
    assert "Lesson 1: fit(0.01, 3)" in [box.combo.itemText(i) for i in range(box.combo.count())]
    assert all(b.isHidden() for b in custom_boxes(panel))  # epochs, LR, schedule, unfreeze…: Auto's to choose
    assert panel.view.model_box.isVisible() and panel.view.model_box.isEnabled()  # data/device: the user's
    assert "validation stops improving" in box.note.text()


def test_switching_recipes_keeps_custom_values_and_budget(qtbot, panel):
    custom = dataclasses.replace(TINY, epochs=7, lr=3e-3, unfreeze=True, precompute=False, lr_mult=(0.1, 0.5, 1.0))
    panel.set_config(custom)
    assert panel.recipe.name == "custom"  # set_config means these settings: Custom
    assert all(b.isVisible() for b in custom_boxes(panel)) and not panel.view.recipe_box.budget_spin.isVisible()
    combo = panel.view.recipe_box.combo
    combo.setCurrentIndex(combo.findData("lesson1-unfreeze"))  # the user picks a preset
    assert panel.recipe.name == "lesson1-unfreeze" and all(b.isHidden() for b in custom_boxes(panel))
    note = panel.view.recipe_box.note.text().splitlines()
    assert note[0] == "1. head on precomputed activations: 3 epochs at LR 0.01" and len(note) == 3
    assert "whole network, LR multipliers 0.01, 0.1, 1" in note[2] and "(7 epochs)" in note[2]
    combo.setCurrentIndex(combo.findData("auto"))
    panel.view.recipe_box.budget_spin.setValue(1.5)  # minutes, right there
    assert panel.recipe == Recipe("auto", 90.0) and combo.currentText() == "Auto, up to 1.5 min"
    combo.setCurrentIndex(combo.findData("custom"))
    assert panel.config() == dataclasses.replace(custom, lr=3e-3)  # nothing of Custom was lost
    assert panel.view.schedule_box.epochs_spin.value() == 7 and panel.view.tuning_box.unfreeze_check.isChecked()
    combo.setCurrentIndex(combo.findData("auto"))
    assert panel.recipe.budget_s == 90.0  # the budget is kept too


def test_presets_train_exactly_the_cli_stages(qtbot, panel, dataset, monkeypatch):
    from engine.cli.train import _config, recipe_of
    from main import build_parser

    seen = []
    real = engine.run_training.train_run

    def spy(learner, store, configs=None, stop=None):
        seen.append(list(configs))
        return (yield from real(learner, store, configs, stop))

    monkeypatch.setattr(engine.run_training, "train_run", spy)
    panel.set_config(dataclasses.replace(TINY, epochs=1, lr=0.2, aug="top_down", wd=0.3))  # Custom's own
    for name in ("lesson1", "lesson1-unfreeze"):
        panel.set_recipe(Recipe(name))
        run_to_end(qtbot, panel)
        args = build_parser().parse_args(["train", str(dataset.root), "--recipe", name, "--arch", "tiny_cnn"] + [
            "--size", "32", "--bs", "8"
        ])  # fmt: skip
        cli = presets.preset_configs(recipe_of(args), _config(args))
        assert seen[-1] == cli == presets.preset_configs(name, TINY)
        assert panel.state.learner.metrics["epochs"] == sum(c.total_epochs() for c in cli)
    assert panel.view.history.count() == 2  # each preset run: one run in the store
    assert panel.config().lr == 0.2 and panel.config().aug == "top_down"  # Custom untouched by the presets


def test_auto_runs_shows_its_stages_keeps_one_run_and_marks_its_lr(qtbot, dataset, tmp_path, monkeypatch):
    panel, finder = make_panels(qtbot, dataset, with_lr_finder=True)
    store = panel.store
    before = len(store.list_runs())
    tiny_auto(panel)
    assert "Start training" in panel.start_button.text()
    run_to_end(qtbot, panel)
    log = panel.view.run_box.stage_log
    lines = log.lines()
    assert log.isVisible() and lines[0].startswith("features: ") and any("LR test's valley" in t for t in lines)
    assert any(t.startswith("fine-tune: ") for t in lines)
    table = panel.view.epoch_table
    sections = [table.item(r, 0).text() for r in range(table.rowCount()) if table.columnSpan(r, 0) > 1]
    assert sections[0] == f"head · {len(recipes.multi_depths('tiny_cnn'))} depths"
    legend = panel.view.charts.lr_legend
    assert legend.getLabel(panel.view.charts.planned_item) is None  # no plan to show: Auto has none
    marks = [m.label.toPlainText() for m in panel.view.charts.section_lines if m.isVisible()]
    assert marks[0] == sections[0].split(" · ")[1]  # the charts name the parts too
    epochs = [int(table.item(r, 0).text()) for r in range(table.rowCount()) if table.columnSpan(r, 0) == 1]
    assert epochs == list(range(1, len(epochs) + 1))  # numbered on across the parts, not from 1 again
    runs = store.list_runs()
    assert len(runs) == before + 1 and runs[0]["state"] == "done" and "Auto: features" in runs[0]["message"]
    assert f"· {len(epochs)} epochs ·" in describe_run(runs[0]) and len(runs[0]["epochs"]) == 1  # one kept
    learner = panel.state.learner
    assert panel.state.model is learner.model and learner.weights_from["run"] == runs[0]["id"]
    status = panel.status_label.text()
    assert status.startswith("Auto trained: accuracy") and "Stages: features; head;" in status
    assert "Classify tab now uses this model" in status
    assert panel.view.history.count() == 1
    # the LR finder shows the test Auto ran, with a marker at the LR it chose (the valley)
    test = panel.state.auto_lr_test
    assert isinstance(test, AutoLRTest) and test.lr == test.lr_test["suggestions"]["valley"]
    line = finder.view.plot.auto_line
    assert line.isVisible() and line.value() == pytest.approx(math.log10(test.lr))
    assert line.label.toPlainText() == f"Auto's LR {format_lr(test.lr)} (valley)"
    assert len(finder.controller.curve.lrs) == len(test.lr_test["lrs"]) and "Auto's LR test" in (
        finder.view.controls.status.text()
    )
    # Save works on Auto's model
    panel.save_model(tmp_path / "auto.pth")
    qtbot.waitUntil(lambda: (tmp_path / "auto.pth").exists(), timeout=20_000)
    # Continue with Custom settings: the same model goes on (its feature depths are the model's)
    panel.set_config(dataclasses.replace(TINY, epochs=1, precompute=True, lr=1e-3))
    assert panel.view.run_box.new_model_note.isHidden() and panel.start_button.text() == "Continue training"
    run_to_end(qtbot, panel)
    assert panel.state.learner is learner and list(learner.config.depths) == runs[0]["configs"][-1]["depths"]
    assert (learner.config.grid, learner.config.hidden) == (runs[0]["configs"][-1]["grid"], recipes.HIDDEN)
    assert panel.state.learner.weights_from["run"] == store.list_runs()[0]["id"] != runs[0]["id"]
    assert legend.getLabel(panel.view.charts.planned_item) is not None  # a planned run shows its plan again
    # the user's own LR test replaces Auto's curve and marker
    monkeypatch.setattr(finder.view, "ask_trained", lambda notice: lr_view.FRESH)
    finder.run()
    assert not line.isVisible()
    qtbot.waitUntil(lambda: not finder.running, timeout=60_000)
    assert not line.isVisible()
    panel.shutdown()
    finder.shutdown()


def test_cancel_during_auto_keeps_no_run_and_says_so(qtbot, panel):
    store = panel.store
    before = len(store.list_runs())
    tiny_auto(panel)
    panel.start()
    qtbot.waitUntil(lambda: panel.view.run_box.stage_log.count() >= 2, timeout=60_000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    assert len(store.list_runs()) == before
    assert panel.status_label.text() == "Auto cancelled: nothing was stored, the current model is unchanged."
    assert panel.state.model is None and panel.view.run_box.progress.format() == "Cancelled"
    assert panel.start_button.isEnabled()


def test_auto_sections_number_epochs_on_and_name_them():
    s = AutoSections()
    stage = {"type": "stage", "name": "head", "why": "last layer: LR 0.003 from the LR test's valley"}
    assert s.take(stage) == (stage, None)
    rec, started = s.take({"type": "batch", "epoch": 0.5, "iteration": 3, "loss": 1.0, "lr": 0.1})
    assert started == "head · last layer" and rec["iteration"] == 3
    s.take({"type": "epoch", "epoch": 1})
    s.take({"type": "epoch", "epoch": 2})
    s.take({"type": "stage", "name": "head", "why": "3 depths: LR 0.01 from the LR test's valley"})
    rec, started = s.take({"type": "batch", "epoch": 0.0, "iteration": 0})
    assert started == "head · 3 depths" and rec["epoch"] == 2.0 and rec["iteration"] == 4
    assert s.take({"type": "epoch", "epoch": 1})[0]["epoch"] == 3
    assert section_name({"name": "fine-tune", "why": "about 3 s an epoch"}) == "fine-tune"


def test_custom_continues_an_auto_model_with_its_head(dataset):
    from engine.training import Learner

    auto_head = dict(depths=(2, 5), grid=4, hidden=128)
    learner = Learner(dataset, dataclasses.replace(TINY, **auto_head))
    assert with_model_head(TINY, learner, dataset) == TINY  # no model yet: the defaults
    learner.model = object()
    kept = with_model_head(TINY, learner, dataset)
    assert (kept.depths, kept.grid, kept.hidden) == ((2, 5), 4, 128)
    new = with_model_head(dataclasses.replace(TINY, size=64), learner, dataset)  # a new model
    assert (new.depths, new.grid, new.hidden) == ((), 0, 512)
    views = dataclasses.replace(TINY, unfreeze=True, lr_mult=(0.0, 1.0, 1.0), frozen_views=2)
    assert with_model_head(views, learner, dataset).depths == ()  # cached views need the last layer's head


def test_lr_finder_shows_autos_lr_until_the_dataset_changes(qtbot, dataset):
    state = AppState()
    state.set_dataset(dataset)
    finder = LRFinderPanel(state)
    qtbot.addWidget(finder)
    lrs = [10 ** (-6 + i * 0.1) for i in range(50)]
    losses = [2.0 - 0.02 * i for i in range(50)]
    test = {"lrs": lrs, "losses": losses, "smoothed": losses, "suggestions": {"valley": lrs[20]}, "stopped": "end"}
    state.set_auto_lr_test(AutoLRTest(test, lrs[20], "head on the last layer", dataset))
    line = finder.view.plot.auto_line
    assert line.isVisible() and line.value() == pytest.approx(math.log10(lrs[20]))
    assert line.label.toPlainText() == "Auto's LR 1e-4 (valley)"
    assert finder.view.plot.smooth_curve.xData is not None and len(finder.view.plot.smooth_curve.xData) == 50
    assert state.lr == 1e-2  # Auto's LR is shown, not made the LR the form trains Custom with
    state.set_dataset(scan_dataset(dataset.root))
    assert not line.isVisible()
    finder.shutdown()


def test_window_starts_without_torch_with_the_recipe_chooser():
    import subprocess
    import sys

    code = (
        "import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "from gui.state import AppState; from gui.training.panel import TrainingPanel;"
        "p = TrainingPanel(AppState()); assert p.recipe.name == 'auto';"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_offscreen_env())
    assert out.stdout.strip() == "False", out.stderr


def _offscreen_env():
    import os

    return {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def test_autos_x_axes_grow_in_steps_not_with_every_point(qtbot):
    from gui.training.charts import TrainingCharts, nice_ceiling

    assert [nice_ceiling(x) for x in (0.3, 1, 1.5, 2, 3, 7, 10, 11, 180, 501)] == [1, 1, 2, 2, 5, 10, 10, 20, 200, 1000]
    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.clear_run()
    charts.auto_x_ranges()
    upper = lambda plot: plot.getViewBox().viewRange()[0][1]  # noqa: E731
    seen, acc_end = set(), upper(charts.acc_plot)
    for n in range(1, 13):  # twelve epochs of 10 batches
        rows = [{"epoch": e, "train_loss": 1.0, "valid_loss": 1.0, "accuracy": 0.5} for e in range(1, n + 1)]
        charts.show_epoch_losses(rows)
        assert upper(charts.acc_plot) == acc_end  # only the plot being drawn changes its range
        charts.show_accuracy(rows)
        acc_end = upper(charts.acc_plot)
        charts.show_lrs(list(range(10 * n)), [0.01] * (10 * n))
        seen.add(round(upper(charts.epoch_plot), 1))
        assert upper(charts.epoch_plot) >= n and upper(charts.acc_plot) >= n and upper(charts.lr_plot) >= 10 * n
    assert len(seen) <= 5  # 1, 2, 5, 10, 20 epochs: a few redraws of the axis, not twelve
    charts.clear_run()
    assert not charts.stepped_x
