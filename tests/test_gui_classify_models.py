"""Classify's model list (issue 13): stored runs named with their datasets, opened files, the current model
kept across restarts (a new process predicts the same), damaged runs and files reported and left out."""

import json
import os
import subprocess
import sys

import pytest
import torch

from engine.data import scan_dataset
from engine.model_choice import set_current_model
from engine.models import create_model, save_model
from engine.runs import RunStore
from gui.classify import ClassifyPanel
from gui.state import AppState
from tests.conftest import ROOT, SAMPLE
from tests.test_runs import fake_run
from tests.training_data import make_dataset


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "shoes", n_train=4, n_valid=2))


def make_panel(qtbot, store=None):
    panel = ClassifyPanel(AppState(), store)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    return panel


def titles(panel):
    combo = panel.view.model_bar.model_combo
    return [combo.itemText(i) for i in range(combo.count())]


def choose(qtbot, panel, index):
    panel.view.model_bar.model_combo.setCurrentIndex(index)  # what a click in the list does
    qtbot.waitUntil(lambda: not panel.models.loading, timeout=20000)


def test_the_list_names_stored_runs_with_their_datasets_and_opened_files(qtbot, dataset, tmp_path):
    store = RunStore()
    other = scan_dataset(make_dataset(tmp_path / "boots", n_train=4, n_valid=2))
    a, b = fake_run(store, dataset), fake_run(store, other, seed=1)
    model = create_model("tiny_cnn", dataset.classes, 32)
    path = save_model(model, tmp_path / "mine.pth")
    store.state.add_opened(path)
    panel = make_panel(qtbot, store)
    assert titles(panel) == [
        "Pretrained ImageNet model (before training)",
        f"tiny_cnn · boots · run {b.id} · epoch 2 (best)",
        f"tiny_cnn · shoes · run {a.id} · epoch 2 (best)",
        "File: mine.pth",
    ]
    combo = panel.view.model_bar.model_combo
    assert "trained on shoes" in combo.itemData(2, 3)  # Qt.ToolTipRole
    assert panel.current_entry().kind == "imagenet"
    panel.shutdown()


def test_choosing_a_run_loads_it_and_makes_it_current(qtbot, dataset):
    store = RunStore()
    run = fake_run(store, dataset, valid_losses=(0.5, 0.3, 0.4))
    panel = make_panel(qtbot, store)
    choose(qtbot, panel, 1)
    model = panel.current_model()
    assert model is not None and model.meta.run["run"] == run.id and model.meta.run["epoch"] == 2
    assert store.state.current() == {"run": run.id, "which": "best"}  # kept for the next start
    assert "from the run store" in panel.view.model_bar.model_info.text()
    choose(qtbot, panel, 0)  # back to ImageNet: remembered too
    assert store.state.current() is None
    panel.shutdown()


def test_a_damaged_run_is_reported_and_left_out(qtbot, dataset):
    store = RunStore()
    good, broken = fake_run(store, dataset), fake_run(store, dataset, seed=1)
    (store.folder(broken.id) / "run.json").write_text("{ not json")
    panel = make_panel(qtbot, store)
    assert titles(panel)[1:] == [f"tiny_cnn · shoes · run {good.id} · epoch 2 (best)"]
    info = panel.view.model_bar.model_info.text()
    assert "Left out" in info and f"run {broken.id}'s record is damaged" in info
    panel.shutdown()


def test_a_damaged_checkpoint_is_reported_never_used(qtbot, dataset, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    boxes = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text: boxes.append(text))
    store = RunStore()
    good, broken = fake_run(store, dataset), fake_run(store, dataset, seed=1)
    rec = store.get(broken.id)
    (store.folder(broken.id) / rec["best"]["file"]).write_bytes(b"PK\x03\x04 not a model")
    panel = make_panel(qtbot, store)
    failed = []
    panel.models.fileFailed.connect(failed.append)
    choose(
        qtbot, panel, next(i for i, e in enumerate(panel.models.entries) if e.ref == {"run": good.id, "which": "best"})
    )
    assert panel.current_model().meta.run["run"] == good.id
    broken_index = next(i for i, e in enumerate(panel.models.entries) if e.ref and e.ref.get("run") == broken.id)
    choose(qtbot, panel, broken_index)
    qtbot.waitUntil(lambda: bool(failed), timeout=10000)
    assert f"run {broken.id}" in failed[0] and "damaged" in failed[0] and boxes == failed
    assert panel.current_model().meta.run["run"] == good.id  # back to the model used before
    assert not any(e.ref and e.ref.get("run") == broken.id for e in panel.models.entries)
    assert store.state.current() == {"run": good.id, "which": "best"}
    panel.shutdown()


def test_an_opened_file_joins_the_list_and_stays_after_a_restart(qtbot, dataset, tmp_path):
    path = save_model(create_model("tiny_cnn", dataset.classes, 32), tmp_path / "mine.pth")
    panel = make_panel(qtbot)
    panel.open_model_file(str(path))
    qtbot.waitUntil(lambda: panel.current_entry().kind == "file" and panel.current_model() is not None, timeout=20000)
    assert "File: mine.pth" in titles(panel)
    panel.shutdown()
    again = make_panel(qtbot)  # a new panel on the same store: the file is listed and still in use
    qtbot.waitUntil(lambda: again.current_entry().kind == "file" and again.current_model() is not None, timeout=20000)
    assert again.view.model_bar.model_combo.currentText() == "File: mine.pth"
    again.shutdown()


def test_a_gone_current_model_falls_back_to_imagenet_with_a_message(qtbot, dataset, tmp_path):
    store = RunStore()
    path = save_model(create_model("tiny_cnn", dataset.classes, 32), tmp_path / "gone.pth")
    set_current_model(store, {"path": str(path)})
    os.remove(path)
    panel = make_panel(qtbot, store)
    qtbot.waitUntil(lambda: not panel.models.restoring and not panel.models.loading, timeout=20000)
    assert panel.current_entry().kind == "imagenet"
    assert "gone" in panel.view.model_bar.model_info.text()
    panel.shutdown()


def test_a_trained_model_from_a_run_is_named_by_its_run(qtbot, dataset):
    store = RunStore()
    run = fake_run(store, dataset)
    panel = make_panel(qtbot, store)
    model = store.load_model(run.id, "last")
    panel.state.set_model(model)
    qtbot.waitUntil(lambda: panel.current_entry().kind == "trained", timeout=20000)
    assert f"run {run.id} · epoch 3" in panel.view.model_bar.model_combo.currentText()
    panel.view.model_bar.model_combo.setCurrentIndex(0)
    panel.view.model_bar.model_combo.setCurrentIndex(1)  # picking it again keeps its run for the next start
    assert store.state.current() == {"run": run.id, "which": "last"}
    panel.shutdown()


def child(mode: str, image: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "classify_restart_child.py"), mode, image],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_restart_a_new_process_uses_the_same_model_and_predicts_the_same(dataset):
    store = RunStore()
    run = fake_run(store, dataset, valid_losses=(0.5, 0.3, 0.4))
    image = str(next((SAMPLE / "valid" / "sneaker").glob("*.png")))
    first = child("pick", image)
    assert first["kind"] == "run" and first["ref"] == {"run": run.id, "which": "best"}
    second = child("restore", image)  # a new AppState and panel in a new process
    assert second["ref"] == first["ref"] and second["title"] == first["title"]
    assert second["probs"].keys() == first["probs"].keys()
    for name, p in first["probs"].items():
        assert second["probs"][name] == pytest.approx(p, abs=1e-6)
    with torch.no_grad():
        assert sorted(first["probs"].values()) != [0.5, 0.5]  # a real model, not a placeholder
