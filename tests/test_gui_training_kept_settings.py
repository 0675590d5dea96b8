"""Train tab: the recipe, Auto's budget and the form's settings come back after a restart; a damaged or
hand-edited value gives the defaults (or drops just the value of the wrong type), never an error."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.config import TrainConfig
from gui.state import AppState
from gui.training.kept_settings import FORM_KEYS, KEY, KeptSettings, config_from_kept
from gui.training.panel import TrainingPanel
from gui.training.recipes import Recipe

CUSTOM = TrainConfig(
    arch="resnet18",
    size=160,
    bs=32,
    lr=3e-3,
    epochs=5,
    schedule="one_cycle",
    precompute=False,
    aug="side_on",
    unfreeze=True,
    lr_mult=(0.0, 0.1, 1.0),
    opt="adamw",
    wd=0.05,
    tta=True,
    frozen_views=4,
)


def form(config: TrainConfig) -> dict:
    return {k: getattr(config, k) for k in FORM_KEYS}


def open_panel(qtbot, settings) -> TrainingPanel:
    panel = TrainingPanel(AppState(), settings=settings)
    qtbot.addWidget(panel)
    return panel


def test_recipe_budget_and_form_come_back_in_a_new_panel(qtbot, settings):
    first = open_panel(qtbot, settings)
    first.set_config(CUSTOM)
    first.set_recipe(Recipe("auto", 90.0))  # Custom's form is kept while Auto is chosen
    first.shutdown()

    again = open_panel(qtbot, settings)
    assert again.recipe == Recipe("auto", 90.0)
    assert again.view.recipe_box.combo.currentText() == "Auto, up to 1.5 min"
    assert form(again.config()) == form(CUSTOM)
    assert again.state.lr == 3e-3 and again.lr_edit.text() == "0.003"  # the LR the form had
    values = again.view.values()
    assert (values.size, values.bs, values.schedule, values.mult_text, values.frozen_views) == (
        160,
        32,
        "one_cycle",
        "0, 0.1, 1",
        4,
    )
    again.set_recipe(Recipe("lesson1", 90.0))
    again.shutdown()
    assert open_panel(qtbot, settings).recipe == Recipe("lesson1", 90.0)


def test_without_settings_nothing_is_kept(qtbot):
    from PySide6.QtCore import QSettings

    panel = TrainingPanel(AppState())
    qtbot.addWidget(panel)
    panel.set_config(CUSTOM)
    assert QSettings().value(KEY) is None  # not written to the user's settings either
    assert KeptSettings(None).load() == (None, None)


@pytest.mark.parametrize(
    "stored",
    [
        "{not json",
        "[1, 2]",
        "[" * 100_000,  # too deep for the JSON reader
        json.dumps({"recipe": "auto", "budget_s": 90, "pad": "x" * 10_000}),  # too long to be ours
        json.dumps({"recipe": "turbo", "budget_s": 90, "config": {"bs": 1}}),  # unknown recipe, bs below 2
        json.dumps({"recipe": "auto", "budget_s": 1e12, "config": {"arch": "vgg16"}}),  # no such budget or network
        json.dumps({"recipe": "auto", "budget_s": True, "config": {"lr": -1, "lr_mult": [0, 0, 0]}}),
    ],
)
def test_a_damaged_value_gives_the_defaults(qtbot, settings, stored):
    settings.setValue(KEY, stored)
    panel = open_panel(qtbot, settings)
    assert panel.recipe == Recipe()  # Auto, up to 2 min
    assert form(panel.config()) == form(dataclasses.replace(TrainConfig(), lr=panel.state.lr))
    assert panel.state.lr == TrainConfig().lr
    panel.set_recipe(Recipe("lesson1"))  # and the next choice is kept again, over the damaged value
    assert KeptSettings(settings).load()[1] == Recipe("lesson1")


def test_a_budget_comes_back_in_the_choosers_steps_and_an_lr_the_field_refuses_is_dropped(qtbot, settings):
    settings.setValue(KEY, json.dumps({"recipe": "auto", "budget_s": 45, "config": {"lr": 500, "bs": 16}}))
    panel = open_panel(qtbot, settings)
    assert panel.recipe == Recipe("auto", 48.0) and panel.view.recipe_box.budget_spin.value() == 0.8
    assert panel.state.lr == TrainConfig().lr and panel.config().bs == 16


def test_values_of_the_wrong_type_are_dropped_alone():
    config = config_from_kept({"bs": 32, "size": "big", "epochs": 4.0, "tta": 1, "lr_mult": [0.01, 0.1, 1], "x": 2})
    assert (config.bs, config.size, config.epochs, config.tta, config.lr_mult) == (32, 128, 4, False, (0.01, 0.1, 1))
    assert config_from_kept({"epochs": 2.5}).epochs == TrainConfig().epochs
    assert config_from_kept("bs=32") is None and config_from_kept({"wd": float("nan")}).wd == TrainConfig().wd


def test_the_window_keeps_the_recipe_across_a_restart(qtbot, settings, monkeypatch):
    from gui.app import configure_pyqtgraph
    from gui.main_window import MainWindow

    configure_pyqtgraph()
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    train = win.panels["Train"]
    box = train.view.recipe_box
    box.budget_spin.setValue(7.5)  # as the user sets Auto's budget, then picks a preset
    box.combo.setCurrentIndex(box.combo.findData("lesson1-unfreeze"))
    assert train.recipe == Recipe("lesson1-unfreeze", 450.0)
    win.shutdown()
    win.close()

    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    train = again.panels["Train"]
    assert train.recipe == Recipe("lesson1-unfreeze", 450.0)
    box = train.view.recipe_box
    box.combo.setCurrentIndex(box.combo.findData("auto"))
    assert box.budget_spin.value() == 7.5 and box.combo.currentText() == "Auto, up to 7.5 min"
    again.shutdown()
