"""Train tab ▸ Run history from the run store: damaged records (and curves) are skipped and reported once,
fast; the open dataset's runs or all; overlays; delete with the disk used; the cap."""

import json
import os
import shutil
import time

import pytest

from engine.data import scan_dataset
from engine.paths import sample_dataset_dir
from engine.runs import RunStore
from gui.state import AppState
from gui.training.panel import TrainingPanel

SAMPLE = sample_dataset_dir()


def points(item) -> int:
    x, _ = item.getData()
    return 0 if x is None else len(x)


def a_record(run_id: int, dataset, epochs: int = 2, **changes) -> dict:
    rec = {
        "format": 1,
        "id": run_id,
        "created": f"2026-01-0{run_id}T10:00:00",
        "state": "done",
        "message": "",
        "process": {"pid": 1, "host": "elsewhere", "token": None},
        "dataset": {"path": str(dataset.root), "name": dataset.root.name},
        "classes": list(dataset.classes),
        "arch": "tiny_cnn",
        "device": "cpu",
        "configs": [{"arch": "tiny_cnn", "size": 32, "lr": 0.01, "epochs": epochs}],
        "parent": None,
        "epochs": [
            {"epoch": e + 1, "seconds": 1.0, "train_loss": 0.6, "valid_loss": 0.5, "accuracy": 0.8, "stage": 0}
            for e in range(epochs)
        ],
        "best": None,
        "last": None,
    }
    rec.update(changes)
    return rec


def store_run(rec: dict, curves=None, store: RunStore | None = None) -> None:
    folder = (store or RunStore()).folder(rec["id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(rec), encoding="utf-8")
    n = 10 * len(rec["epochs"])
    curves = curves or {"iteration": list(range(n)), "loss": [1.0] * n, "lr": [0.01] * n}
    (folder / "curves.json").write_text(json.dumps(curves), encoding="utf-8")


@pytest.fixture(scope="module")
def sample():
    return scan_dataset(SAMPLE)


def open_tab(qtbot, dataset=None) -> tuple[TrainingPanel, list[str], float]:
    state = AppState()
    state.set_dataset(dataset)
    messages = []
    state.statusMessage.connect(messages.append)
    t0 = time.perf_counter()
    panel = TrainingPanel(state)
    elapsed = time.perf_counter() - t0
    qtbot.addWidget(panel)
    return panel, messages, elapsed


def write_raw(run_id: int, name: str, text: str) -> None:
    folder = RunStore().folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


ATTACKS = {
    "not JSON": "{not json",
    "a list, not a run": "[1, 2]",
    "absurd nesting": "[" * 100_000 + "]" * 100_000,  # RecursionError in json.loads
    "text epoch": None,  # filled from a_record below
    "a string among the metrics": None,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(ATTACKS))
def test_tab_opens_past_a_damaged_record(qtbot, sample, name):
    store_run(a_record(1, sample))
    text = ATTACKS[name]
    if name == "text epoch":
        bad = a_record(2, sample)
        bad["epochs"] = [{"epoch": "one"}]
        text = json.dumps(bad)
    elif name == "a string among the metrics":
        bad = a_record(2, sample)
        bad["epochs"][0]["accuracy"] = "high"
        text = json.dumps(bad)
    write_raw(2, "run.json", text)
    panel, messages, elapsed = open_tab(qtbot, sample)
    assert elapsed < 5
    history = panel.view.history
    assert history.count() == 1 and "run 1" in history.item(0).text() and "sample" in history.item(0).text()
    reports = [m for m in messages if "run 2's record is damaged" in m]
    assert len(reports) == 1  # reported once
    assert panel.view.history_box.note.isVisibleTo(panel)
    history.item(0).setSelected(True)  # the good run still overlays
    assert points(panel.view.charts.compare_items[0]["valid"]) == 2
    assert points(panel.view.charts.compare_items[0]["batch"]) == 20
    panel.shutdown()


@pytest.mark.timeout(60)
def test_tab_opens_past_a_fifo_a_huge_file_and_damaged_curves(qtbot, sample):
    store_run(a_record(1, sample), curves={"iteration": [0, 1, "x"], "loss": [1.0, 1e309, 2.0], "lr": [0.1] * 3})
    folder = RunStore().folder(2)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "run.json")  # reading it would block the window for ever
    folder = RunStore().folder(3)
    folder.mkdir(parents=True)
    with open(folder / "run.json", "wb") as f:
        f.truncate(64 << 20)
    panel, messages, elapsed = open_tab(qtbot, sample)
    assert elapsed < 5 and panel.view.history.count() == 1
    note = panel.view.history_box.note.text()
    assert "run 2" in note and "not a regular file" in note and "run 3" in note and "too large" in note
    panel.view.history.item(0).setSelected(True)
    assert points(panel.view.charts.compare_items[0]["batch"]) == 1  # only the finite point
    panel.shutdown()


def test_no_note_without_damage(qtbot, sample):
    store_run(a_record(1, sample))
    panel, messages, _ = open_tab(qtbot, sample)
    assert panel.view.history.count() == 1
    assert not panel.view.history_box.note.isVisibleTo(panel) and not any("damaged" in m for m in messages)
    panel.shutdown()


def test_open_datasets_runs_or_all_delete_with_disk_use_and_cap(qtbot, sample, tmp_path):
    other_root = tmp_path / "shoes"
    shutil.copytree(SAMPLE, other_root)
    other = scan_dataset(other_root)
    store_run(a_record(1, sample))
    store_run(a_record(2, other))
    store_run(a_record(3, sample))
    panel, messages, _ = open_tab(qtbot, sample)
    history = panel.view.history
    assert history.run_ids() == [3, 1]  # the open dataset's runs, newest first
    panel.view.history_box.all_check.setChecked(True)
    assert history.run_ids() == [3, 2, 1]
    assert "shoes" in history.item(1).text() and "sample" in history.item(0).text()
    assert panel.view.history_box.disk_label.text().endswith("B used")
    assert "On disk:" in history.item(0).toolTip()

    history.item(2).setSelected(True)  # run 1
    actions = history.menu_actions([1])
    assert [a.text().split(" ")[0] for a in actions] == ["Use", "Delete"]
    assert "B)" in actions[1].text()  # says the space it frees
    actions[1].trigger()
    assert history.run_ids() == [3, 2] and not RunStore().folder(1).exists()
    assert any(m.startswith("Deleted 1 run, freed") for m in messages)

    spin = panel.view.history_box.keep_spin
    spin.setValue(1)
    spin.editingFinished.emit()
    assert RunStore().cap().keep_per_dataset == 1
    panel.shutdown()
