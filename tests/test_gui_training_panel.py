"""Train tab: real runs on the sample (tiny test backbone), live charts, table, history, cancel, LR sync, weights."""

import json

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.models import _bare_network
from engine.paths import data_dir, sample_dataset_dir
from engine.runs import RunStore
from engine.training import Learner
from gui import dialogs
from gui.state import AppState
from gui.training.panel import TrainingPanel

SAMPLE = sample_dataset_dir()

FAST = dict(arch="tiny_cnn", size=32, bs=32, precompute=True)


@pytest.fixture(scope="module")
def sample():
    return scan_dataset(SAMPLE)


@pytest.fixture
def panel(qtbot, sample):
    state = AppState()
    state.set_dataset(sample)
    p = TrainingPanel(state)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    yield p
    p.shutdown()


def points(item) -> int:
    x, _ = item.getData()
    return 0 if x is None else len(x)


def run_to_end(qtbot, panel, timeout=60_000):
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    assert panel.running  # Start began a fit at once
    qtbot.waitUntil(
        lambda: not panel.running and panel.start_button.isEnabled() and not panel.charts_drawing, timeout=timeout
    )


def test_run_fills_charts_table_history_and_shares_the_model(qtbot, panel):
    panel.set_config(TrainConfig(epochs=2, lr=1e-2, **FAST))
    assert panel.state.train_config.arch == "tiny_cnn"
    run_to_end(qtbot, panel)

    learner = panel.state.learner
    assert isinstance(learner, Learner) and learner.model is not None
    assert panel.state.model is learner.model  # the Classify tab gets it
    total = len(learner.schedule())
    assert points(panel.view.charts.planned_item) == total  # plot_lr: planned …
    assert points(panel.view.charts.lr_item) == total  # … and actual, per batch
    assert points(panel.view.charts.batch_raw_item) == total
    assert points(panel.view.charts.batch_smooth_item) == total
    assert (
        points(panel.view.charts.train_item) == 2
        and points(panel.view.charts.valid_item) == 2
        and points(panel.view.charts.acc_item) == 2
    )
    assert panel.view.epoch_table.rowCount() == 2
    assert panel.view.epoch_table.item(1, 0).text() == "2"
    assert panel.view.epoch_table.item(1, 3).text().endswith("%")
    assert panel.view.run_box.progress.value() == panel.view.run_box.progress.maximum()
    assert panel.view.run_box.save_button.isEnabled()

    # history: one entry on screen, naming its dataset, and one run in the store with its epochs and curves
    assert panel.view.history.count() == 1 and "sample" in panel.view.history.item(0).text()
    store = RunStore()
    runs = store.list_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run["configs"][0]["arch"] == "tiny_cnn" and run["configs"][0]["epochs"] == 2 and run["state"] == "done"
    assert 0.0 <= run["epochs"][-1]["accuracy"] <= 1.0
    assert len(run["epochs"]) == 2 and len(store.curves(run["id"])["loss"]) == total
    # the model is named, and AppState's model and the store's current model go together
    label = panel.view.model_bar.label.text()
    assert "tiny_cnn" in label and "sample" in label and f"run {run['id']}" in label and "epoch 2" in label
    assert store.state.current() == {"run": run["id"], "which": "last"}
    assert panel.start_button.text() == "Continue training"

    # lesson 1's next step: precompute off, unfreeze, train more → the same learner and model continue
    model = learner.model
    panel.view.data_box.precompute_check.setChecked(False)
    panel.view.tuning_box.unfreeze_check.setChecked(True)
    panel.view.schedule_box.epochs_spin.setValue(1)
    run_to_end(qtbot, panel)
    assert panel.state.learner is learner and learner.model is model
    assert learner.config.unfreeze and not learner.config.precompute
    assert all(p.requires_grad for p in model.body.parameters())  # the body trained too
    assert len(learner.history) == 3  # 2 + 1 epochs on one model
    assert panel.view.epoch_table.rowCount() == 1
    assert panel.view.history.count() == 2

    # a model-affecting setting (image size) → the tab says a new model starts, and one does
    panel.view.model_box.size_spin.setValue(64)
    note = panel.view.run_box.new_model_note
    assert note.isVisibleTo(panel) and "image size changed (32 → 64)" in note.text()
    assert panel.start_button.text() == "Start training"
    run_to_end(qtbot, panel)
    assert panel.state.learner is not learner
    assert panel.state.learner.config.size == 64

    # compare: selecting two history runs overlays their curves
    panel.view.history.item(1).setSelected(True)
    panel.view.history.item(2).setSelected(True)
    assert points(panel.view.charts.compare_items[0]["valid"]) >= 1
    assert points(panel.view.charts.compare_items[1]["acc"]) >= 1
    assert points(panel.view.charts.compare_items[1]["batch"]) > 0
    assert points(panel.view.charts.compare_items[2]["valid"]) == 0
    panel.view.history.clearSelection()
    assert points(panel.view.charts.compare_items[0]["valid"]) == 0

    # the history survives a restart of the panel
    again = TrainingPanel(panel.state)
    qtbot.addWidget(again)
    assert again.view.history.count() == 3
    again.shutdown()


def test_save_model_defaults_to_models_folder(qtbot, panel, tmp_path):
    panel.set_config(TrainConfig(epochs=1, **FAST))
    run_to_end(qtbot, panel)
    assert panel.default_model_path().parent == data_dir("models")
    target = tmp_path / "m.pth"
    panel.save_model(target)
    qtbot.waitUntil(lambda: "Saved model" in panel.status_label.text(), timeout=10_000)
    blob = torch.load(target, map_location="cpu", weights_only=True)
    assert blob["meta"]["arch"] == "tiny_cnn" and blob["meta"]["settings"]["size"] == 32
    assert panel.view.run_box.save_button.isEnabled()


def test_save_dialog_exports_onnx_that_predicts_like_the_model(qtbot, panel, tmp_path, monkeypatch):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    panel.set_config(TrainConfig(epochs=1, **FAST))
    run_to_end(qtbot, panel)
    # the user picks the ONNX filter and types a bare name: the suffix follows the filter
    asked = []

    def pick(parent, caption, start, filters):
        asked.append((caption, start, filters))
        return str(tmp_path / "shoes"), filters

    monkeypatch.setattr(dialogs.QFileDialog, "getSaveFileName", staticmethod(pick))
    qtbot.mouseClick(panel.view.run_box.export_box.onnx_button, Qt.LeftButton)
    # the Export group's own entry, starting where gui.dialogs says (not the working directory)
    assert asked[0][0] == "Export ONNX" and "onnx" in asked[0][2].lower()
    assert asked[0][1].endswith("sample-tiny_cnn.onnx") and asked[0][1].startswith(dialogs.default_folder())
    target = tmp_path / "shoes.onnx"
    qtbot.waitUntil(lambda: "Saved model" in panel.status_label.text(), timeout=30_000)
    meta = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert json.loads(meta["fovea_meta"])["classes"] == ["ankle_boot", "sneaker"]
    model = panel.state.learner.model
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        want = torch.softmax(model.float().cpu().eval()(x), dim=1).numpy()
    got = ort.InferenceSession(str(target)).run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_cancel_returns_to_idle(qtbot, panel):
    panel.set_config(TrainConfig(epochs=200, **{**FAST, "bs": 4}))
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: points(panel.view.charts.batch_raw_item) > 0, timeout=30_000)
    assert panel.running and panel.view.run_box.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    assert not panel.view.model_box.arch_combo.isEnabled()  # settings locked during a run
    qtbot.mouseClick(panel.view.run_box.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not panel.running and panel.start_button.isEnabled(), timeout=10_000)
    assert not panel.view.run_box.cancel_button.isEnabled()
    assert panel.view.model_box.arch_combo.isEnabled()
    assert panel.view.run_box.progress.format() == "Cancelled"
    assert panel.status_label.text().startswith("Cancelled")
    assert points(panel.view.charts.batch_raw_item) < len(panel.state.learner.schedule())  # stopped early


def test_learning_rate_field_and_state_two_way_without_loops(qtbot, panel):
    state = panel.state
    seen = []
    state.lrChanged.connect(seen.append)
    configs = []
    state.trainConfigChanged.connect(configs.append)

    state.set_lr(3e-3)  # state → field
    assert panel.lr_edit.text() == "0.003"
    assert state.train_config.lr == pytest.approx(3e-3)
    assert seen == [3e-3]

    panel.lr_edit.selectAll()  # field → state
    qtbot.keyClicks(panel.lr_edit, "2e-4")
    qtbot.keyClick(panel.lr_edit, Qt.Key_Return)
    assert state.lr == pytest.approx(2e-4)
    assert seen == [3e-3, 2e-4]  # exactly one emission each way: no feedback loop
    assert panel.lr_edit.text() == "2e-4"  # the user's text is left alone
    assert configs[-1].lr == pytest.approx(2e-4)

    panel.lr_edit.setText("fast please")  # invalid → reverts to the value in use
    panel.lr_edit.editingFinished.emit()
    assert state.lr == pytest.approx(2e-4) and panel.lr_edit.text() == "2e-4"  # format_lr, as the LR finder writes it
    assert seen == [3e-3, 2e-4]


def test_settings_keep_train_config_and_explain_precompute(qtbot, panel):
    state = panel.state
    panel.view.model_box.arch_combo.setCurrentIndex(panel.view.model_box.arch_combo.findData("resnet34"))
    assert state.train_config.arch == "resnet34"
    panel.view.model_box.bs_spin.setValue(16)
    assert state.train_config.bs == 16
    panel.view.data_box.precompute_check.setChecked(True)
    assert not panel.view.data_box.aug_combo.isEnabled()
    assert "Augmentation is off while precompute is on" in panel.view.data_box.aug_note.text()
    panel.view.data_box.precompute_check.setChecked(False)
    assert panel.view.data_box.aug_combo.isEnabled() and state.train_config.precompute is False
    panel.view.data_box.aug_combo.setCurrentIndex(panel.view.data_box.aug_combo.findData("side_on"))
    assert state.train_config.aug == "side_on"
    panel.view.schedule_box.cycles_radio.setChecked(True)
    panel.view.schedule_box.cycles_spin.setValue(3)
    panel.view.schedule_box.cycle_mult_spin.setValue(2)
    assert (state.train_config.cycles, state.train_config.cycle_mult) == (3, 2)
    assert "7 epochs" in panel.view.schedule_box.length_note.text()  # 1 + 2 + 4
    panel.view.schedule_box.schedule_combo.setCurrentIndex(panel.view.schedule_box.schedule_combo.findData("one_cycle"))
    assert state.train_config.cycles is None and not panel.view.schedule_box.cycles_radio.isEnabled()
    panel.view.tuning_box.unfreeze_check.setChecked(True)
    panel.view.tuning_box.mult_edit.setText("0.001, 0.1, 1")
    panel.view.tuning_box.mult_edit.editingFinished.emit()
    assert state.train_config.unfreeze and state.train_config.lr_mult == (0.001, 0.1, 1.0)
    assert "CPU" in panel.view.model_box.device_label.text() or "GPU" in panel.view.model_box.device_label.text()


def test_missing_weights_offer_import_and_retry(qtbot, panel, tmp_path):
    # conftest sets FOVEA_OFFLINE: resnet18's torchvision weights cannot be fetched
    panel.set_config(TrainConfig(arch="resnet18", size=32, bs=64, epochs=1, precompute=True))
    run_to_end(qtbot, panel)
    assert panel.view.model_box.weights_box.isVisible() and panel.view.model_box.weights_box.import_button.isVisible()
    assert "resnet18" in panel.view.model_box.weights_box.label.text()
    assert panel.view.history.count() == 0

    bogus = tmp_path / "notes.pth"
    bogus.write_text("not weights")
    panel.import_weights_file("resnet18", str(bogus))
    qtbot.waitUntil(lambda: panel.view.error_box is not None and panel.view.error_box.isVisible(), timeout=10_000)
    assert "not a PyTorch weights file" in panel.view.error_box.text()
    assert panel.view.model_box.weights_box.isVisible() and not panel.running  # still offered, nothing started
    qtbot.waitUntil(lambda: panel.view.model_box.weights_box.import_button.isEnabled(), timeout=5000)

    weights = tmp_path / "resnet18-local.pth"
    torch.save(_bare_network("resnet18").state_dict(), weights)
    panel.import_weights_file("resnet18", str(weights))  # what the button does after its file dialog
    qtbot.waitUntil(lambda: panel.view.history.count() == 1 and not panel.running, timeout=60_000)
    assert not panel.view.model_box.weights_box.isVisible()
    assert panel.state.learner.config.arch == "resnet18" and panel.state.model is not None


def test_choosing_an_architecture_without_weights_says_so_at_once(qtbot, panel, tmp_path):
    panel.view.model_box.arch_combo.setCurrentIndex(panel.view.model_box.arch_combo.findData("resnet34"))
    assert (
        panel.view.model_box.weights_box.isVisible()
        and "not on this computer yet" in panel.view.model_box.weights_box.label.text()
    )
    assert "--weights" not in panel.view.model_box.weights_box.label.text()  # no CLI hints in the window
    panel.view.model_box.arch_combo.setCurrentIndex(panel.view.model_box.arch_combo.findData("efficientnet_lite0"))
    assert not panel.view.model_box.weights_box.isVisible()
    panel.view.model_box.arch_combo.setCurrentIndex(panel.view.model_box.arch_combo.findData("resnet34"))
    weights = tmp_path / "r34.pth"
    torch.save(_bare_network("resnet34").state_dict(), weights)
    panel.import_weights_file("resnet34", str(weights))
    qtbot.waitUntil(lambda: "Imported weights for resnet34" in panel.status_label.text(), timeout=30_000)
    assert not panel.view.model_box.weights_box.isVisible() and not panel.running  # imported; nothing auto-started


def test_failed_run_shows_message_and_returns_to_idle(qtbot, panel, monkeypatch):
    def broken_fit(self, stop=None):
        yield {"type": "batch", "epoch": 0.0, "iteration": 0, "loss": 1.0, "lr": 0.01}
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Learner, "fit", broken_fit)
    panel.set_config(TrainConfig(epochs=1, **FAST))
    run_to_end(qtbot, panel, timeout=10_000)
    assert panel.view.error_box is not None and panel.view.error_box.isVisible()
    assert "disk on fire" in panel.view.error_box.text()
    assert "disk on fire" in panel.status_label.text()
    assert panel.start_button.isEnabled() and not panel.view.run_box.cancel_button.isEnabled()
    assert panel.state.model is None


def test_start_needs_a_dataset(qtbot):
    state = AppState()
    p = TrainingPanel(state)
    qtbot.addWidget(p)
    assert not p.start_button.isEnabled()
    state.set_dataset(scan_dataset(SAMPLE))
    assert p.start_button.isEnabled()
    p.shutdown()


def test_history_skips_damaged_store_records_and_says_so_once(qtbot, sample):
    store = RunStore()
    for run_id, text in ((1, "{not json"), (2, json.dumps([1, 2]))):
        folder = store.folder(run_id)
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(text, encoding="utf-8")
    state = AppState()
    messages = []
    state.statusMessage.connect(messages.append)
    p = TrainingPanel(state)
    qtbot.addWidget(p)
    assert p.view.history.count() == 0
    note = p.view.history_box.note
    assert not note.isHidden() and "run 1" in note.text() and "run 2" in note.text()
    state.set_dataset(sample)  # reloading says nothing new
    assert sum("Run history" in m for m in messages) == 1


def test_refuses_to_start_while_the_lr_finder_runs(qtbot, sample):
    """The finder restores the weights when it ends: a fit started meanwhile would be silently undone."""
    from gui.jobs import JobSlot
    from tests.conftest import hold_slot

    slot = JobSlot("learner")
    state = AppState()
    state.set_dataset(sample)
    p = TrainingPanel(state, learner_slot=slot)
    qtbot.addWidget(p)
    p.set_config(TrainConfig(epochs=1, lr=1e-2, **FAST))
    busy = hold_slot(slot, "LR finder")
    p.start()
    assert not p.running and slot.owner == "LR finder" and state.learner is None
    assert "LR finder is running" in p.status_label.text()
    slot.cancel()
    qtbot.waitUntil(lambda: not slot.running, timeout=5000)
    assert busy.wait(5)
    p.start()
    assert p.running
    qtbot.waitUntil(lambda: not p.running, timeout=60_000)
    p.shutdown()


def test_optimiser_weight_decay_and_cached_views_reach_the_run(qtbot, panel):
    """The fm10 recipe (b) from the form: AdamW, wd 0.1, early layers frozen and cached as augmented views."""
    panel.set_config(TrainConfig(epochs=1, lr=1e-2, **FAST))
    run_to_end(qtbot, panel)  # (a) precompute + head
    assert not panel.view.tuning_box.views_spin.isEnabled()  # precompute on: nothing to cache
    recipe = TrainConfig(
        **{**FAST, "precompute": False},
        epochs=1,
        lr=3e-3,
        unfreeze=True,
        aug="side_on",
        lr_mult=(0.0, 1.0, 1.0),
        opt="adamw",
        wd=0.1,
        frozen_views=2,
    )
    panel.set_config(recipe)
    assert (
        panel.view.tuning_box.opt_combo.currentData() == "adamw"
        and panel.view.tuning_box.wd_spin.value() == pytest.approx(0.1)
    )
    assert panel.view.tuning_box.views_spin.isEnabled() and panel.view.tuning_box.views_spin.value() == 2
    assert panel.config() == recipe
    formats = []
    set_format = panel.view.run_box.progress.setFormat
    panel.view.run_box.progress.setFormat = lambda text: (formats.append(text), set_format(text))
    run_to_end(qtbot, panel)
    assert any(t.startswith("Caching early-layer views") for t in formats), formats[:5]
    assert panel.state.learner.config.frozen_views == 2 and panel.state.learner.config.opt == "adamw"
    panel.view.tuning_box.mult_edit.setText("0.01, 0.1, 1")  # early layers train: views do not apply
    panel.view.tuning_box.mult_edit.editingFinished.emit()
    assert not panel.view.tuning_box.views_spin.isEnabled() and panel.config().frozen_views == 0
