"""Recorded training runs (engine.run_training, engine.run_rules): checkpoints that match the model,
divergence, cancel, a failing disk, continuing a stored run, and real processes killed, run twice at
once and restarted."""

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.jobs import Cancelled, Job, run_to_end
from engine.model_choice import current_model, set_current_model
from engine.run_rules import Diverged, DivergenceGuard, is_trained, lr_finder_notice, lr_warning, new_model_reason
from engine.run_training import learner_from_run, revert_to_best, train_run, untrained_copy
from engine.runs import RunStore
from engine.training import Learner
from tests.conftest import ROOT
from tests.run_store_child import probabilities, weights_digest
from tests.training_data import make_dataset

SIZE = 32
CHILD = str(ROOT / "tests" / "run_store_child.py")


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=16, n_valid=8))


def config(**kw) -> TrainConfig:
    base = dict(arch="tiny_cnn", size=SIZE, bs=8, lr=0.05, epochs=2, device="cpu", workers=2, precompute=False)
    base.update(kw)
    return TrainConfig(**base)


def weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_epoch_is_stored_as_the_model_was_then(dataset):
    store = RunStore()
    learner = Learner(dataset, config(epochs=3))
    at_epoch = {}

    def on_progress(rec):
        if rec["type"] == "epoch":
            at_epoch[rec["epoch"]] = (weights_digest(learner.model), probabilities(learner.model))

    result = run_to_end(train_run(learner, store), on_progress)
    rec = store.get(result["run"])
    assert rec["state"] == "done" and len(rec["epochs"]) == 3 and result["store_error"] is None
    for which in ("best", "last"):
        model = store.load_model(result["run"], which)
        epoch = rec[which]["epoch"]
        assert weights_digest(model) == at_epoch[epoch][0], which  # bit for bit
        assert np.allclose(probabilities(model), at_epoch[epoch][1], rtol=0, atol=1e-5), which
        assert model.meta.run["accuracy"] == rec["epochs"][epoch - 1]["accuracy"]
    came = learner.weights_from
    assert (came["run"], came["epoch"], came["state"], came["accuracy"]) == (
        result["run"],
        3,
        "done",
        rec["epochs"][2]["accuracy"],
    )
    assert is_trained(learner) and "already trained (run 1, epoch 3)" in lr_finder_notice(learner)
    fresh = untrained_copy(learner)
    assert fresh is not learner and not is_trained(fresh) and lr_finder_notice(fresh) is None


def optimizer_tensors(optimizer) -> dict:
    state = optimizer.state_dict()["state"]
    return {(i, k): v.clone() for i, entry in state.items() for k, v in entry.items() if torch.is_tensor(v)}


def test_a_diverging_run_stops_within_a_batch_and_the_previous_model_stays(dataset):
    store = RunStore()
    learner = Learner(dataset, config(epochs=2))
    good = run_to_end(train_run(learner, store))
    set_current_model(store, {"run": good["run"], "which": "last"})
    before, came_from = weights(learner.model), dict(learner.weights_from)
    opt_before = optimizer_tensors(learner.optimizer)
    assert opt_before  # momentum buffers of the head
    learner.config = config(epochs=3, lr=1e3, unfreeze=True)
    batches = []
    with pytest.raises(Diverged, match="too high. Lower the learning rate .* use the LR finder") as err:
        run_to_end(train_run(learner, store), lambda r: batches.append(r) if r["type"] == "batch" else None)
    assert err.value.iteration == len(batches) < 4  # the batch where it blew up was the last one
    record = store.list_runs()[0]
    assert record["state"] == "diverged" and "LR finder" in record["message"] and record["last"] is None
    assert same(weights(learner.model), before) and learner.weights_from == came_from
    assert same(optimizer_tensors(learner.optimizer), opt_before)  # no inf/NaN momentum left behind
    assert current_model(store) == {"run": good["run"], "which": "last"}
    learner.config = config(epochs=1, lr=0.01)  # and it goes on from the good model
    assert np.isfinite(run_to_end(train_run(learner, store))["valid_loss"])


def test_the_guard_ignores_noise_on_a_trained_model_but_not_an_explosion():
    guard = DivergenceGuard(n_classes=2)
    for i, loss in enumerate([0.05, 0.04, 0.06] + [0.02, 0.5, 0.01, 0.9, 0.03] * 20):
        guard.check(loss, 0.01, i)  # an SGDR restart's bumps stay far below 4× ln 2
    with pytest.raises(Diverged):
        for i in range(100, 130):
            guard.check(40.0, 0.01, i)
    with pytest.raises(Diverged, match="the loss became nan"):
        DivergenceGuard(10).check(float("nan"), 1.0, 0)
    early = DivergenceGuard(2)  # an explosion before the reference is set is no reference
    early.check(0.7, 5.0, 0)
    early.check(0.6, 5.0, 1)
    with pytest.raises(Diverged):
        early.check(1e6, 5.0, 2)


def test_cancel_keeps_the_last_finished_epoch_and_save_says_which(dataset, tmp_path):
    store = RunStore()
    learner = Learner(dataset, config(epochs=5, bs=4))
    stop = threading.Event()
    seen = []

    def on_progress(rec):
        if rec["type"] == "epoch":
            seen.append(rec)
        if rec["type"] == "batch" and rec["epoch"] > 2.5:
            stop.set()  # in the middle of epoch 3

    with pytest.raises(Cancelled):
        run_to_end(train_run(learner, store, stop=stop), on_progress)
    record = store.list_runs()[0]
    assert record["state"] == "cancelled" and record["last"]["epoch"] == 2 == len(seen)
    stored = store.load_model(record["id"], "last")
    assert same(weights(stored), {k: v.cpu() for k, v in weights(learner.model).items()})  # half an epoch dropped
    path = learner.save(tmp_path / "saved.pth")
    meta = torch.load(path, weights_only=True)["meta"]
    assert meta["run"]["epoch"] == 2 and meta["run"]["state"] == "cancelled" and meta["run"]["run"] == record["id"]
    assert meta["metrics"]["accuracy"] == seen[-1]["accuracy"] and meta["metrics"]["epochs"] == 2
    assert meta["metrics"]["valid_loss"] == seen[-1]["valid_loss"]


def test_cancel_from_a_job_thread_is_recorded(dataset):
    store = RunStore()
    learner = Learner(dataset, config(epochs=50))
    job = Job(train_run, learner, store)
    job.start(lambda e: job.cancel() if e.kind == "progress" and e.data["type"] == "epoch" else None)
    assert job.wait(60) and job.state == "cancelled"
    record = store.list_runs()[0]
    assert record["state"] == "cancelled" and record["last"]["epoch"] == 1 and learner.weights_from["epoch"] == 1


def test_a_full_disk_stops_the_recording_not_the_training(dataset, monkeypatch):
    import engine.models

    store = RunStore()
    real, calls = engine.models.save_model, []

    def full_after_one(model, path):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(model, path)

    monkeypatch.setattr(engine.models, "save_model", full_after_one)
    learner = Learner(dataset, config(epochs=3))
    records = []
    result = run_to_end(train_run(learner, store), records.append)
    errors = [r["error"] for r in records if r["type"] == "run" and r["error"]]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "Training goes on" in errors[0]
    assert len(result["history"]) == 3 and result["store_error"] == errors[0]
    assert store.load_model(result["run"], "last").meta.run["epoch"] == 1  # what was stored is intact


def test_an_unwritable_store_still_trains_in_memory(dataset, tmp_path, monkeypatch, capsys):
    from main import main

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    learner = Learner(dataset, config(epochs=2))
    records = []
    result = run_to_end(train_run(learner, RunStore(blocker / "store")), records.append)
    assert records[0]["type"] == "run" and records[0]["run"] is None
    assert records[0]["error"].startswith("Could not write to the run store") and result["store_error"]
    assert len(result["history"]) == 2 and learner.weights_from["epoch"] == 2 and learner.weights_from["run"] is None
    monkeypatch.setenv("FOVEA_HOME", str(blocker))  # the CLI's store: under a file
    args = ["train", str(dataset.root), "--arch", "tiny_cnn", "--size", str(SIZE), "--epochs", "1"]
    assert main(args) == 2
    assert "no -o was given: give -o MODEL.pth to keep the model" in capsys.readouterr().err
    out = tmp_path / "kept.pth"
    assert main([*args, "-o", str(out)]) == 0 and out.exists()
    assert "warning: Could not write to the run store" in capsys.readouterr().err


def test_a_stored_run_continues_as_a_new_run_that_names_its_parent(dataset):
    store = RunStore()
    first = run_to_end(train_run(Learner(dataset, config(epochs=2)), store))
    learner = learner_from_run(store, first["run"], dataset, which="best")
    assert learner.weights_from["run"] == first["run"] and is_trained(learner)
    assert new_model_reason(learner, dataset, learner.config) is None
    assert "image size changed (32 → 64)" in new_model_reason(learner, dataset, config(size=64))
    second = run_to_end(train_run(learner, store))
    parent = store.get(second["run"])["parent"]
    assert parent["run"] == first["run"] and parent["which"] == "best"
    best = store.get(second["run"])["best"]["epoch"]
    assert revert_to_best(learner, store)["epoch"] == best and learner.weights_from["which"] == "best"
    assert weights_digest(learner.model) == weights_digest(store.load_model(second["run"], "best"))
    with pytest.raises(ValueError, match="no best epoch"):
        revert_to_best(Learner(dataset, config()), store)
    with pytest.raises(ValueError, match="cannot continue here"):
        Learner(dataset, config(size=64)).use_model(store.load_model(first["run"]))


def test_lr_warnings_before_start():
    assert lr_warning(0.01) is None and lr_warning(0.5, (1e-7, 0.3)) is not None
    assert "very high" in lr_warning(1.0) and "very high" in lr_warning(10)
    assert "above what the LR finder tested (up to 0.3)" in lr_warning(0.5, (1e-7, 0.3))
    assert lr_warning(0.1, (1e-7, 10.0)) is None


def test_cli_train_json_prints_the_run_and_predict_takes_its_id(dataset, tmp_path, capsys):
    from main import main

    args = ["train", str(dataset.root), "--arch", "tiny_cnn", "--size", str(SIZE), "--bs", "8", "--epochs", "2"]
    assert main([*args, "--precompute", "--lr", "0.1", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    run_id = lines[-1]["run"]
    assert lines[-1]["model"] is None and [x["run"] for x in lines[:-1]] == [run_id, run_id]
    assert store_state(run_id) == "done"
    image = dataset.valid[0][0]
    assert main(["predict", str(run_id), image, "--json"]) == 0
    by_id = json.loads(capsys.readouterr().out)
    out = tmp_path / "exported.pth"
    assert main(["runs", "export", str(run_id), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), image, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"] == by_id["predictions"]
    assert main([*args, "--lr", "1000", "--unfreeze"]) == 2
    err = capsys.readouterr().err
    assert "warning: A learning rate of 1e3 is very high" in err and "diverged" in err
    assert store_state(run_id + 1) == "diverged"


def store_state(run_id):
    return RunStore().get(run_id)["state"]


# ---------------------------------------------------------------- real processes


def child(*args, home):
    env = {**os.environ, "FOVEA_HOME": str(home)}
    return subprocess.Popen([sys.executable, CHILD, *map(str, args)], stdout=subprocess.PIPE, text=True, env=env)


def test_kill_9_mid_training_leaves_the_store_intact(dataset, fovea_home):
    proc = child(dataset.root, 30, 0.2, home=fovea_home)
    lines = []
    try:
        while sum("epoch" in x for x in lines) < 2:
            line = proc.stdout.readline()
            assert line, "the child ended early"
            lines.append(json.loads(line))
        proc.send_signal(signal.SIGKILL)  # while epoch 3 trains
        proc.wait(30)
        lines += [json.loads(x) for x in proc.stdout.read().splitlines() if x.endswith("}")]
    finally:
        proc.kill()
        proc.stdout.close()
    store = RunStore()
    (record,) = store.list_runs()
    assert record["state"] == "interrupted" and not store.problems
    last = record["last"]["epoch"]
    assert last >= 2 and [e["epoch"] for e in record["epochs"]] == list(range(1, last + 1))
    printed = next(x for x in lines if x.get("epoch") == last)
    model = store.load_model(record["id"], "last")
    assert weights_digest(model) == printed["digest"]  # the very weights the model had at that epoch
    assert np.allclose(probabilities(model), printed["probs"], rtol=0, atol=1e-5)
    assert model.meta.run["state"] == "interrupted" and model.meta.run["accuracy"] == printed["accuracy"]
    store.enforce_cap()  # tidies what the kill left (a checkpoint never named, temporary files)
    names = {p.name for p in store.folder(record["id"]).iterdir()}
    assert names == {"run.json", "curves.json"} | {record["best"]["file"], record["last"]["file"]}
    with pytest.raises(ValueError, match="still training"):
        store.delete(store.start_run(dataset, {"arch": "tiny_cnn"}).id)  # this process's own run is alive


def test_two_processes_train_into_one_store(dataset, fovea_home):
    procs = [child(dataset.root, 3, 0.05, home=fovea_home) for _ in range(2)]
    outs = [[json.loads(x) for x in p.communicate(timeout=300)[0].splitlines()] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    spans = [(o[0]["start"], o[-1]["end"]) for o in outs]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # they really overlapped
    store = RunStore()
    runs = store.list_runs()
    assert sorted(r["id"] for r in runs) == sorted(o[0]["run"] for o in outs) == [1, 2] and not store.problems
    for r, out in ((store.get(o[0]["run"]), o) for o in outs):
        assert r["state"] == "done" and [e["epoch"] for e in r["epochs"]] == [1, 2, 3]
        model = store.load_model(r["id"], "last")
        assert weights_digest(model) == out[3]["digest"]
        assert np.allclose(probabilities(model), out[3]["probs"], rtol=0, atol=1e-5)


def test_after_a_restart_the_current_model_predicts_the_same(dataset, fovea_home):
    store = RunStore()
    learner = Learner(dataset, config(epochs=2))
    result = run_to_end(train_run(learner, store))
    set_current_model(store, {"run": result["run"], "which": "last"})
    here = (weights_digest(learner.model), probabilities(learner.model))
    out = subprocess.run(
        [sys.executable, CHILD, "current"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FOVEA_HOME": str(fovea_home)},
    )
    assert out.returncode == 0, out.stderr
    there = json.loads(out.stdout)
    assert there["ref"] == {"run": result["run"], "which": "last"} and not there["problems"]
    assert there["digest"] == here[0] and np.allclose(there["probs"], here[1], rtol=0, atol=1e-5)
