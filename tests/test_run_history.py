"""engine.run_history: runs written whole, read back checked; damaged files skipped with a reason, fast."""

import json
import math
import os
import time

import pytest

from engine import run_history as rh
from engine.config import TrainConfig


def a_run(**settings) -> dict:
    config = TrainConfig(arch="tiny_cnn", size=32, epochs=2, **settings)
    epochs = [
        {"epoch": 1, "train_loss": 0.9, "valid_loss": 0.8, "accuracy": 0.6, "seconds": 1.5},
        {"epoch": 2, "train_loss": 0.5, "valid_loss": 0.4, "accuracy": 0.85, "seconds": 1.4},
    ]
    n = 5000  # more batches than a file keeps
    batches = {
        "x": [2 * (i + 1) / n for i in range(n)],
        "loss": [1.0 / (i + 1) for i in range(n)],
        "lr": [0.01] * n,
        "iteration": list(range(n)),
    }
    result = {"accuracy": 0.85, "valid_loss": 0.4, "tta": False, "history": epochs}
    return rh.new_run(
        config, "done", result, 3.21, dataset="/data/shoes", classes=["a", "b"], device="CPU", epochs=epochs,
        batches=batches,
    )  # fmt: skip


def write(name: str, data) -> None:
    (rh.runs_dir() / name).write_text(json.dumps(data), encoding="utf-8")


def test_saved_run_reads_back_checked_and_thinned():
    path = rh.save_run(a_run())
    assert [p.name for p in rh.runs_dir().iterdir()] == [path.name]  # no temp file left beside it
    history = rh.load_runs()
    assert history.skipped == [] and [p for p, _ in history.runs] == [path]
    run = history.runs[0][1]
    assert run["settings"]["arch"] == "tiny_cnn" and run["settings"]["lr_mult"] == [0.01, 0.1, 1.0]
    assert run["metrics"] == {"accuracy": 0.85, "valid_loss": 0.4, "seconds": 3.21}  # numbers only
    assert len(run["batches"]["loss"]) == rh.MAX_SAVED_POINTS
    assert run["batches"]["iteration"][0] == 0 and run["batches"]["iteration"][-1] == 4999
    assert rh.describe_run(run).startswith("85.0 %  ·  tiny_cnn 32px · 2 ep · lr 0.01")
    again = rh.save_run(a_run())  # same second, same network: a second file, not a replacement
    assert again != path and len(rh.load_runs().runs) == 2


def test_a_failed_write_leaves_nothing(monkeypatch):
    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(rh.json, "dumps", broken)
    with pytest.raises(OSError):
        rh.save_run(a_run())
    assert list(rh.runs_dir().iterdir()) == []


def test_describe_cycles_flags_and_missing_accuracy():
    run = rh.check_run(json.loads(json.dumps(a_run(cycles=3, cycle_len=1, cycle_mult=2, precompute=False))))
    run["metrics"].pop("accuracy")
    run["continued"] = True
    text = rh.describe_run(run)
    assert text.startswith("–  ·") and "3 cycles, 7 ep" in text and "continued" in text and "pre" not in text


def damaged(**change) -> dict:
    """A run as saved, with ``change`` applied ("settings.cycles": …, "metrics": …)."""
    run = json.loads(json.dumps(a_run()))
    for key, value in change.items():
        *parents, last = key.split(".")
        target = run
        for p in parents:
            target = target[p]
        target[last] = value
    return run


ATTACKS = {
    "empty settings": (damaged(settings={}), "settings: no arch"),
    "a string among the metrics": (damaged(**{"metrics.accuracy": "high"}), "metrics"),
    "integer created": (damaged(created=20240101), "created"),
    "float cycles, cycle_mult 10": (damaged(**{"settings.cycles": 1e6, "settings.cycle_mult": 10}), "cycles"),
    "a million cycles ×10": (damaged(**{"settings.cycles": 10**6, "settings.cycle_mult": 10}), "epochs"),
    "a million cycles ×1": (damaged(**{"settings.cycles": 10**6, "settings.cycle_mult": 1}), "epochs"),
    "text epoch": (damaged(epochs=[{"epoch": "one"}]), "epochs"),
    "text in the losses": (damaged(**{"batches.loss": ["x"]}), "batches: loss"),
    "an infinite position": (damaged(**{"batches.x": [1e309]}), "batches: x"),
    "lr_mult not a list": (damaged(**{"settings.lr_mult": "0.01"}), "lr_mult"),
    "bool size": (damaged(**{"settings.size": True}), "size"),
    "a list, not a run": ([1, 2], "not a run record"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(ATTACKS))
def test_damaged_files_are_skipped_with_a_reason(name):
    data, why = ATTACKS[name]
    good = rh.save_run(a_run())
    write("20990101T000000-bad.json", data)  # sorts first: the newest
    t0 = time.perf_counter()
    history = rh.load_runs()
    assert time.perf_counter() - t0 < 2
    assert [p for p, _ in history.runs] == [good]
    assert len(history.skipped) == 1
    path, reason = history.skipped[0]
    assert path.name == "20990101T000000-bad.json" and why in reason and "\n" not in reason


@pytest.mark.timeout(30)
def test_files_that_are_not_json_runs():
    folder = rh.runs_dir()
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")  # RecursionError
    (folder / "latin1.json").write_bytes(b'{"created": "\xe9"}')
    (folder / "folder.json").mkdir()
    os.mkfifo(folder / "fifo.json")  # reading it would block for ever
    with open(folder / "huge.json", "wb") as f:
        f.truncate(rh.MAX_FILE_BYTES + 1)
    history = rh.load_runs()
    assert history.runs == []
    reasons = {p.name: why for p, why in history.skipped}
    assert set(reasons) == {"broken.json", "deep.json", "latin1.json", "folder.json", "fifo.json", "huge.json"}
    assert reasons["fifo.json"] == "not a regular file" and "too large" in reasons["huge.json"]


def test_total_epochs_is_bounded_not_computed():
    assert rh.total_epochs({"epochs": 3, "cycles": None}) == 3
    assert rh.total_epochs({"cycles": 3, "cycle_len": 1, "cycle_mult": 2}) == 7
    t0 = time.perf_counter()
    assert rh.total_epochs({"cycles": 10**6, "cycle_len": 1, "cycle_mult": 10}) is None
    assert rh.total_epochs({"cycles": 10**18, "cycle_len": 1, "cycle_mult": 1}) is None
    assert time.perf_counter() - t0 < 1


def test_nan_metrics_are_kept_and_read_as_missing():
    run = damaged(**{"metrics.accuracy": math.nan})
    checked = rh.check_run(json.loads(json.dumps(run)))  # json writes NaN for a diverged run
    assert math.isnan(checked["metrics"]["accuracy"]) and rh.describe_run(checked).startswith("–")
