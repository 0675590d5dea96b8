"""The run store (engine.runs, engine.store_state, engine.model_choice) and `fovea runs`: records,
checkpoints, damage, the cap, the current model, and the CLI."""

import json
import math

import pytest
import torch

from engine.config import TrainConfig, config_dict
from engine.data import scan_dataset
from engine.model_choice import current_model, load_current_model, model_choices, open_model_file, set_current_model
from engine.models import create_model, save_model
from engine.run_records import dataset_fingerprint, model_label, parse_run_ref
from engine.runs import RunStore
from tests.training_data import make_dataset, write_image

SIZE = 32


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=4, n_valid=2))


def fake_run(store, dataset, valid_losses=(0.5, 0.3, 0.4), state="done", seed=0):
    """A run with one checkpoint per epoch, without training: the weights differ per epoch."""
    config = config_dict(TrainConfig(arch="tiny_cnn", size=SIZE))
    run = store.start_run(dataset, config)
    torch.manual_seed(seed)
    model = create_model("tiny_cnn", dataset.classes, SIZE)
    for i, vl in enumerate(valid_losses):
        with torch.no_grad():
            model.head[-1].bias.fill_(float(i + seed))
        rec = {"epoch": i + 1, "train_loss": 0.6, "valid_loss": vl, "accuracy": 0.5 + i / 10, "seconds": 1.0}
        run.record_epoch(rec, model, config)
    run.finish(state)
    return run


def test_a_run_keeps_its_last_and_best_epochs_and_nothing_else(dataset):
    store = RunStore()
    run = fake_run(store, dataset, valid_losses=(0.5, 0.3, 0.4))
    rec = store.get(run.id)
    assert rec["state"] == "done" and [e["epoch"] for e in rec["epochs"]] == [1, 2, 3]
    assert rec["best"]["epoch"] == 2 and rec["last"]["epoch"] == 3
    assert rec["dataset"]["name"] == "ds" and rec["dataset"]["fingerprint"] == dataset_fingerprint(dataset)
    files = sorted(p.name for p in store.folder(run.id).iterdir())
    assert files == ["curves.json", "epoch-002.pth", "epoch-003.pth", "run.json"]
    best, last = store.load_model(run.id, "best"), store.load_model(run.id, "last")
    assert best.head[-1].bias[0].item() == 1.0 and last.head[-1].bias[0].item() == 2.0  # the epochs' weights
    assert best.meta.run["epoch"] == 2 and best.meta.run["valid_loss"] == 0.3 and best.meta.run["state"] == "done"
    assert model_label(best.meta.run) == f"tiny_cnn · ds · run {run.id} · epoch 2 (best)"


def test_ids_are_never_reused_and_runs_list_newest_first_per_dataset(dataset, tmp_path):
    store = RunStore()
    other = scan_dataset(make_dataset(tmp_path / "other", n_train=4, n_valid=2))
    a, b = fake_run(store, dataset), fake_run(store, other)
    store.delete(b.id)
    c = fake_run(store, dataset)
    assert (a.id, b.id, c.id) == (1, 2, 3)
    assert [r["id"] for r in store.list_runs()] == [3, 1]
    assert [r["id"] for r in store.list_runs(dataset)] == [3, 1] and store.list_runs(other) == []
    with pytest.raises(ValueError, match="no run 2"):
        store.get(2)


def test_a_damaged_record_is_skipped_with_a_message(dataset, capsys):
    from main import main

    store = RunStore()
    good, bad, half = fake_run(store, dataset), fake_run(store, dataset), fake_run(store, dataset)
    (store.folder(bad.id) / "run.json").write_text('{"id": 2, "state": "do')  # cut short
    rec = json.loads((store.folder(half.id) / "run.json").read_text())
    rec["epochs"] = "lots"
    (store.folder(half.id) / "run.json").write_text(json.dumps(rec))
    assert [r["id"] for r in store.list_runs()] == [good.id]
    assert any("run 2's record is damaged" in p for p in store.problems)
    assert any("run 3's record is damaged: 'epochs'" in p for p in store.problems)
    assert main(["runs"]) == 0
    out = capsys.readouterr()
    assert "warning: run 2's record is damaged" in out.err and f"   {good.id}  done" in out.out
    assert main(["runs", "show", "2"]) == 2 and "damaged" in capsys.readouterr().err


def test_a_damaged_or_foreign_checkpoint_is_refused_never_loaded(dataset, tmp_path, capsys):
    from main import main

    store = RunStore()
    a, b = fake_run(store, dataset), fake_run(store, dataset, seed=5)
    path = store.folder(a.id) / store.get(a.id)["best"]["file"]
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="run 1's best model is damaged"):
        store.load_model(a.id, "best")
    assert store.load_model(a.id, "last").meta.run["epoch"] == 3  # the other checkpoint still loads
    other = store.folder(b.id) / store.get(b.id)["last"]["file"]
    (store.folder(a.id) / store.get(a.id)["last"]["file"]).write_bytes(other.read_bytes())  # b's weights in a
    with pytest.raises(ValueError, match="holds run 2 epoch 3"):
        store.load_model(a.id, "last")
    image = dataset.valid[0][0]
    assert main(["predict", "1:last", image]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged" in err


def test_the_current_model_and_opened_files_survive_damage(dataset, tmp_path):
    store = RunStore()
    run = fake_run(store, dataset)
    assert current_model(store) is None and load_current_model(store) is None  # pretrained
    set_current_model(store, {"run": run.id, "which": "last"})
    model_file = save_model(create_model("tiny_cnn", ["a", "b"], SIZE), tmp_path / "mine.pth")
    open_model_file(store, model_file)
    again = RunStore()
    assert current_model(again) == {"run": run.id, "which": "last"}
    assert load_current_model(again).meta.run["epoch"] == 3
    labels = [c["label"] for c in model_choices(again)]
    assert labels == [f"tiny_cnn · ds · run {run.id} · epoch 2 (best)", "mine.pth"]
    store.state.path.write_text("{ not json")
    damaged = RunStore()
    assert current_model(damaged) is None and damaged.state.opened() == []
    assert any("state.json is damaged" in p for p in damaged.problems)
    set_current_model(damaged, {"path": str(model_file)})  # writing repairs it
    assert current_model(RunStore()) == {"path": str(model_file)}
    model_file.unlink()
    gone = RunStore()
    assert current_model(gone) is None and any("is gone" in p for p in gone.problems)


def test_deleting_the_current_run_falls_back_to_the_pretrained_model(dataset):
    store = RunStore()
    run = fake_run(store, dataset)
    set_current_model(store, {"run": run.id, "which": "best"})
    assert store.delete(run.id) > 0 and not store.folder(run.id).exists()
    assert current_model(store) is None


def test_cap_keeps_the_newest_runs_per_dataset_and_the_current_one(dataset, tmp_path):
    store = RunStore()
    other = scan_dataset(make_dataset(tmp_path / "other", n_train=4, n_valid=2))
    ids = [fake_run(store, dataset).id for _ in range(4)]
    kept_other = fake_run(store, other).id
    set_current_model(store, {"run": ids[0], "which": "best"})
    store.set_cap(keep_per_dataset=2)
    assert store.enforce_cap() == [ids[1]]  # the oldest beyond 2, except the current model's
    assert {r["id"] for r in store.list_runs()} == {ids[0], ids[2], ids[3], kept_other}
    one = store.disk_usage(ids[3])
    store.set_cap(keep_per_dataset=None, max_bytes=int(2.5 * one))
    deleted = store.enforce_cap(protect={ids[2]})  # oldest first, sparing the current and protected runs
    assert deleted == [ids[3], kept_other] and store.disk_usage() <= 2.5 * one + 10_000
    assert RunStore().cap().max_bytes == int(2.5 * one)
    with pytest.raises(ValueError):
        store.set_cap(keep_per_dataset=0)


def test_a_read_only_store_gives_an_unsaved_run_with_a_clear_message(dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = RunStore(blocker / "store")
    run = fake_run(store, dataset)
    assert run.id is None and not run.saved
    assert run.error.startswith(f"Could not write to the run store ({blocker / 'store'})")
    assert "Training goes on" in run.error
    assert [e["epoch"] for e in run.record["epochs"]] == [1, 2, 3]  # still recorded in memory


def test_fingerprint_follows_the_files_and_run_refs_parse(dataset):
    before = dataset_fingerprint(dataset)
    assert dataset_fingerprint(scan_dataset(dataset.root)) == before
    write_image(dataset.root / "train" / "red" / "extra.png", (1, 2, 3), seed=99)
    assert dataset_fingerprint(scan_dataset(dataset.root)) != before
    assert parse_run_ref("7") == (7, "best") and parse_run_ref("run 12:last") == (12, "last")
    assert parse_run_ref("model.pth") is None and parse_run_ref("7:worst") is None
    label = model_label({"run": 7, "epoch": 5, "arch": "resnet34", "dataset": "cats", "state": "cancelled"})
    assert label == "resnet34 · cats · run 7 · epoch 5 (run cancelled)"
    assert model_label({}, "resnet34") == "resnet34 · pretrained, not trained yet"


# ---------------------------------------------------------------- CLI


def test_cli_runs_list_show_export_delete_and_cap(dataset, tmp_path, capsys):
    from main import main

    store = RunStore()
    a, b = fake_run(store, dataset), fake_run(store, dataset, valid_losses=(math.nan,), state="diverged")
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["state"], r["dataset"], r["arch"]) for r in listed["runs"]] == [
        (b.id, "diverged", "ds", "tiny_cnn"),
        (a.id, "done", "ds", "tiny_cnn"),
    ]
    assert listed["runs"][1]["best_accuracy"] == pytest.approx(0.6) and listed["runs"][1]["bytes"] > 0
    assert main(["runs", "show", str(a.id)]) == 0
    shown = capsys.readouterr().out
    assert "best  model: epoch 2" in shown and "last  model: epoch 3" in shown and "fingerprint" in shown
    out = tmp_path / "exported.pth"
    assert main(["runs", "export", str(a.id), "-o", str(out), "--last"]) == 0
    blob = torch.load(out, weights_only=True)
    assert blob["meta"]["run"]["epoch"] == 3 and blob["meta"]["run"]["state"] == "done"
    assert main(["runs", "delete", str(b.id)]) == 0 and [r["id"] for r in store.list_runs()] == [a.id]
    assert main(["runs", "delete", "99"]) == 2 and "no run 99" in capsys.readouterr().err
    assert main(["runs", "cap", "--keep", "3"]) == 0 and "newest 3 runs" in capsys.readouterr().out
    assert RunStore().cap().keep_per_dataset == 3


def test_the_store_modules_load_without_torch():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys\n"
        "import engine.runs, engine.run_records, engine.store_state, engine.model_choice, engine.run_rules\n"
        "import engine.cli.runs\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
