"""The run store reads what the old run history read: a damaged file is skipped with a one-line reason,
fast, and never blocks (the attack cases of the former engine/run_history.py, on run.json and curves.json)."""

import json
import os
import time

import pytest

from engine.data import scan_dataset
from engine.paths import sample_dataset_dir
from engine.runs import RunStore


@pytest.fixture(scope="module")
def sample():
    return scan_dataset(sample_dataset_dir())


def good_record(run_id: int, dataset) -> dict:
    return {
        "format": 1,
        "id": run_id,
        "created": "2026-01-01T10:00:00",
        "state": "done",
        "message": "",
        "process": {"pid": 1, "host": "elsewhere", "token": None},
        "dataset": {"path": str(dataset.root), "name": dataset.root.name},
        "classes": list(dataset.classes),
        "arch": "tiny_cnn",
        "configs": [{"arch": "tiny_cnn"}],
        "epochs": [{"epoch": 1, "train_loss": 0.6, "valid_loss": 0.5, "accuracy": 0.8}],
        "best": None,
        "last": None,
    }


def write(store: RunStore, run_id: int, name: str, data) -> None:
    folder = store.folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def damaged(sample, **changes) -> dict:
    rec = good_record(2, sample)
    for key, value in changes.items():
        rec[key] = value
    return rec


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "name, data, why",
    [
        ("not JSON", "{not json", "not JSON"),
        ("absurd nesting", "[" * 100_000 + "]" * 100_000, "RecursionError"),
        ("a list", [1, 2], "not a JSON object"),
        ("text epoch", "text epoch", "an epoch's entry is damaged"),
        ("a string among the metrics", "metrics", "an epoch's entry is damaged"),
        ("no configs", "configs", "'configs'"),
        ("unknown state", "state", "unknown state"),
    ],
)
def test_a_damaged_record_is_skipped_with_one_line(sample, name, data, why):
    store = RunStore()
    write(store, 1, "run.json", good_record(1, sample))
    if data == "text epoch":
        data = damaged(sample, epochs=[{"epoch": "one"}])
    elif data == "metrics":
        data = damaged(sample, epochs=[{"epoch": 1, "train_loss": 0.6, "valid_loss": 0.5, "accuracy": "high"}])
    elif data == "configs":
        data = damaged(sample, configs=[])
    elif data == "state":
        data = damaged(sample, state="exploded")
    write(store, 2, "run.json", data)
    t0 = time.perf_counter()
    runs = store.list_runs()
    assert time.perf_counter() - t0 < 2
    assert [r["id"] for r in runs] == [1]
    assert len(store.problems) == 1 and why in store.problems[0] and "\n" not in store.problems[0]


@pytest.mark.timeout(30)
def test_a_fifo_a_folder_and_a_huge_file_are_refused_without_reading(sample):
    store = RunStore()
    for run_id in (1, 2, 3):
        store.folder(run_id).mkdir(parents=True)
    os.mkfifo(store.folder(1) / "run.json")  # reading it would block for ever
    (store.folder(2) / "run.json").mkdir()
    with open(store.folder(3) / "run.json", "wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GB that must not be read
    assert store.list_runs() == []
    problems = " | ".join(store.problems)
    assert "run 1's record is damaged (not a regular file)" in problems
    assert "run 2's record is damaged" in problems and "too large" in problems


@pytest.mark.timeout(30)
def test_damaged_curves_read_as_empty(sample):
    store = RunStore()
    write(store, 1, "run.json", good_record(1, sample))
    for text in ("{not json", "[" * 100_000 + "]" * 100_000, json.dumps({"iteration": 1})):
        write(store, 1, "curves.json", text)
        assert store.curves(1) == {"iteration": [], "loss": [], "lr": []}
    (store.folder(1) / "curves.json").unlink()
    os.mkfifo(store.folder(1) / "curves.json")
    assert store.curves(1) == {"iteration": [], "loss": [], "lr": []}
