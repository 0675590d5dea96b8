"""Training engine: schedules, freezing, fit records, cancel, reproducibility, saving, CLI."""

import json
import math
import threading

import numpy as np
import pytest
import torch

from engine.batches import augment_batch
from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.jobs import Cancelled, Job, run_to_end
from engine.models import load_model
from engine.schedules import batch_count, one_cycle_schedule, planned_schedule, sgdr_schedule, staged_configs
from engine.training import Learner, learner_for
from tests.conftest import SAMPLE
from tests.training_data import make_dataset

SIZE = 32


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=16, n_valid=8))


def config(**kw) -> TrainConfig:
    base = dict(arch="tiny_cnn", size=SIZE, bs=8, lr=0.05, epochs=2, device="cpu", workers=2)
    base.update(kw)
    return TrainConfig(**base)


def fit(learner, on_progress=None):
    records = []

    def keep(rec):
        records.append(rec)
        if on_progress:
            on_progress(rec)

    result = run_to_end(learner.fit(), keep)
    return result, records


# ---------------------------------------------------------------- schedules


def test_sgdr_follows_the_formula():
    lr, ipe = 0.1, 10
    lrs = sgdr_schedule(lr, ipe, cycles=3, cycle_len=1, cycle_mult=2)
    assert len(lrs) == ipe * (1 + 2 + 4)
    # restarts at the top: cycle starts at iterations 10 and 30
    assert lrs[10] == pytest.approx(lr) and lrs[30] == pytest.approx(lr)
    # cosine inside a cycle: cycle 2 has n = 20 steps
    for t in (1, 5, 10, 19):
        assert lrs[10 + t] == pytest.approx(lr / 2 * (1 + math.cos(math.pi * t / 20)))
    # warm-up on the first ⌈10/20⌉ = 1 step only: starts at lr/100
    assert lrs[0] == pytest.approx(lr * 0.01)
    assert lrs[1] == pytest.approx(lr / 2 * (1 + math.cos(math.pi / 10)))
    # longer first cycle: warm-up over ⌈40/20⌉ = 2 steps, ramping from lr/100
    long = sgdr_schedule(lr, 20, cycles=1, cycle_len=2)
    assert long[1] == pytest.approx(lr / 2 * (1 + math.cos(math.pi / 40)) * (0.01 + 0.99 / 2))
    assert long[2] == pytest.approx(lr / 2 * (1 + math.cos(math.pi * 2 / 40)))


def test_one_cycle_and_constant_and_epochs():
    lrs = one_cycle_schedule(0.1, 100)
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 25
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[-1] == pytest.approx(0.1 / 1e4)
    assert planned_schedule(config(schedule="constant", epochs=3), 4) == [0.05] * 12
    # epochs without cycles: one cosine over all of them
    assert planned_schedule(config(epochs=3), 4) == sgdr_schedule(0.05, 4, 1, 3)
    assert config(cycles=3, cycle_len=2, cycle_mult=2).total_epochs() == 2 + 4 + 8


def test_batch_count_never_leaves_a_single_image_batch():
    assert batch_count(16, 8) == 2 and batch_count(17, 8) == 2 and batch_count(18, 8) == 3
    assert batch_count(3, 8) == 1 and batch_count(1, 8) == 0


def test_staged_recipe():
    head, full = staged_configs(config(precompute=True, aug="side_on", unfreeze=True), head_epochs=4)
    assert head.precompute and head.aug == "none" and not head.unfreeze and head.epochs == 4
    assert not full.precompute and full.aug == "side_on" and full.unfreeze
    assert staged_configs(config(precompute=True)) == [config(precompute=True)]


def test_bad_settings_are_refused_with_a_reason(dataset):
    for bad, words in (
        ({"aug": "sideways"}, "augmentation"),
        ({"lr": -1}, "learning rate"),
        ({"lr_mult": (1, 2)}, "multipliers"),
        ({"schedule": "x"}, "schedule"),
        ({"frozen_views": -1}, "views"),
        ({"frozen_views": 99}, "views"),
        ({"label_smoothing": 1.0}, "smoothing"),
    ):
        with pytest.raises(ValueError, match=words):
            run_to_end(Learner(dataset, config(**bad)).fit())


def test_one_class_is_refused_instead_of_a_meaningless_100_percent(tmp_path):
    import shutil

    root = make_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    for split in ("train", "valid"):
        for extra in sorted((root / split).iterdir())[1:]:
            shutil.rmtree(extra)
    one = scan_dataset(root)
    assert len(one.classes) == 1
    with pytest.raises(ValueError, match="at least 2 classes"):
        run_to_end(Learner(one, config()).fit())


# ---------------------------------------------------------------- augmentation


def test_augmentation_is_seeded_and_changes_images():
    x = torch.randn(4, 3, 16, 16)
    a = augment_batch(x, "side_on", torch.Generator().manual_seed(1))
    b = augment_batch(x, "side_on", torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.allclose(a, x)
    assert augment_batch(x, "none", torch.Generator()) is x
    # top_down includes quarter turns: some image ends up rotated by about 90° or more
    t = augment_batch(
        torch.arange(16.0).view(1, 1, 4, 4).expand(8, 3, 4, 4).contiguous(),
        "top_down",
        torch.Generator().manual_seed(0),
    )
    assert t.shape == (8, 3, 4, 4)


# ---------------------------------------------------------------- fitting


def test_precompute_fit_records_and_learns(dataset):
    learner = Learner(dataset, config(precompute=True, epochs=4, lr=0.1))
    result, records = fit(learner)
    pre = [r for r in records if r["type"] == "precompute"]
    batches = [r for r in records if r["type"] == "batch"]
    epochs = [r for r in records if r["type"] == "epoch"]
    assert pre and pre[-1]["done"] == pre[-1]["total"]
    assert len(epochs) == 4 and [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert set(epochs[0]) >= {"train_loss", "valid_loss", "accuracy", "seconds"}
    # one batch record per planned iteration, with the planned LR
    assert [b["lr"] for b in batches] == pytest.approx(learner.schedule())
    assert [b["iteration"] for b in batches] == list(range(len(batches)))
    assert all(isinstance(v, (int, float, str)) for r in records for v in r.values())
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    assert result["accuracy"] >= 0.9 and result["history"] == epochs
    # the head trained on features is the model's head: the whole model agrees on images
    ev = run_to_end(learner.evaluate(tta=False))
    assert ev.accuracy == pytest.approx(result["accuracy"], abs=0.07)


def test_unfreeze_trains_every_group_with_its_multiplier(dataset):
    learner = Learner(dataset, config(precompute=False, unfreeze=True, lr_mult=(0.01, 0.1, 1.0), epochs=1))
    run_to_end(learner.prepare())
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    seen = []
    result, records = fit(
        learner,
        lambda r: seen.append([g["lr"] for g in learner.optimizer.param_groups]) if r["type"] == "batch" else None,
    )
    lr = records[[r["type"] for r in records].index("batch")]["lr"]
    assert seen[0] == pytest.approx([lr * 0.01, lr * 0.1, lr])
    trainable = sum(p.numel() for p in learner.model.parameters() if p.requires_grad)
    assert trainable == sum(p.numel() for p in learner.model.parameters())
    changed = [k for k, v in learner.model.state_dict().items() if not torch.equal(v, before[k])]
    assert "body.0.weight" in changed and "head.7.weight" in changed


def test_zero_multiplier_keeps_that_group_frozen(dataset):
    learner = Learner(dataset, config(precompute=False, unfreeze=True, lr_mult=(0, 0.1, 1.0), epochs=1, aug="side_on"))
    run_to_end(learner.prepare())
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    fit(learner)
    after = learner.model.state_dict()
    assert torch.equal(after["body.0.weight"], before["body.0.weight"])
    assert torch.equal(after["body.1.running_mean"], before["body.1.running_mean"])  # BN stayed in eval
    assert not torch.equal(after["body.3.weight"], before["body.3.weight"])


def frozen_config(**kw) -> TrainConfig:
    return config(
        **dict(
            dict(precompute=False, unfreeze=True, lr_mult=(0, 1.0, 1.0), aug="side_on", frozen_views=3, epochs=2), **kw
        )
    )


def test_frozen_views_train_the_late_layers_on_cached_early_activations(dataset):
    learner = Learner(dataset, frozen_config())
    run_to_end(learner.prepare())
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    result, records = fit(learner)
    frozen = [r for r in records if r.get("stage") == "frozen"]
    assert frozen[-1]["split"] == "valid" and frozen[-1]["done"] == frozen[-1]["total"] == 16
    assert [r for r in frozen if r["split"] == "train"][-1]["total"] == 32 * 3
    cache = learner._frozen
    assert cache.views == 3 and cache.train.shape[:2] == (3, 32) and cache.train.dtype == torch.float16
    assert not torch.equal(cache.train[0], cache.train[1])  # view 1 is the mirror image
    after = learner.model.state_dict()
    assert torch.equal(after["body.0.weight"], before["body.0.weight"])
    assert torch.equal(after["body.1.running_mean"], before["body.1.running_mean"])
    assert not torch.equal(after["body.3.weight"], before["body.3.weight"])
    assert not torch.equal(after["body.4.running_mean"], before["body.4.running_mean"])  # late BN trains
    # validation on the cached activations is the model's own accuracy on the images
    ev = run_to_end(learner.evaluate(tta=False))
    assert ev.accuracy == pytest.approx(result["accuracy"])
    assert ev.loss == pytest.approx(result["valid_loss"], rel=1e-4)


def test_frozen_cache_is_reused_until_the_early_layers_change(dataset):
    learner = Learner(dataset, frozen_config(epochs=1))
    fit(learner)
    first = learner._frozen
    calls = []
    hook = learner.model.layer_groups()[0][0].register_forward_hook(lambda *a: calls.append(1))
    try:
        _, records = fit(learner)
    finally:
        hook.remove()
    assert learner._frozen is first and not [r for r in records if r.get("stage") == "frozen"]
    assert calls == []  # the early layers did not run at all: training and validation used the cache
    learner.config = frozen_config(epochs=1, frozen_views=2)  # other views: computed again
    _, records = fit(learner)
    assert learner._frozen is not first and learner._frozen.views == 2
    second = learner._frozen
    learner.config = config(precompute=False, unfreeze=True, lr_mult=(0.5, 1.0, 1.0), epochs=1)
    fit(learner)  # trains the early group: cache dropped
    assert learner._frozen is None
    learner.config = frozen_config(epochs=1, frozen_views=2)
    _, records = fit(learner)
    assert [r for r in records if r.get("stage") == "frozen"]
    assert learner._frozen.key != second.key  # early weights moved: new activations
    assert not torch.equal(learner._frozen.valid, second.valid)


def test_frozen_views_apply_only_with_the_early_group_frozen(dataset):
    assert frozen_config().caches_frozen_layers()
    assert not frozen_config(lr_mult=(0.01, 0.1, 1.0)).caches_frozen_layers()
    assert not frozen_config(precompute=True).caches_frozen_layers()
    assert not frozen_config(unfreeze=False).caches_frozen_layers()
    assert not frozen_config(frozen_views=0).caches_frozen_layers()
    learner = Learner(dataset, frozen_config(aug="none", frozen_views=4, epochs=1))
    fit(learner)
    assert learner._frozen.views == 1  # without augmentation every view would be the same


def test_frozen_views_fall_back_to_live_layers_when_ram_is_short(dataset, monkeypatch):
    monkeypatch.setattr("engine.frozen_layers.FROZEN_CACHE_BYTES", 1000)
    learner = Learner(dataset, frozen_config(epochs=1))
    result, records = fit(learner)
    assert learner._frozen is None and not [r for r in records if r.get("stage") == "frozen"]
    assert math.isfinite(result["valid_loss"])


def test_cancel_mid_epoch_leaves_the_last_completed_step(dataset):
    learner = Learner(dataset, config(precompute=False, aug="side_on", epochs=3, bs=4))
    stop = threading.Event()
    snapshot = {}
    batches = []

    def on_progress(rec):
        if rec["type"] == "batch":
            batches.append(rec)
            if len(batches) == 3:
                snapshot.update({k: v.clone() for k, v in learner.model.state_dict().items()})
                stop.set()

    with pytest.raises(Cancelled):
        run_to_end(learner.fit(stop), on_progress)
    assert len(batches) == 3  # stopped within one batch
    for k, v in learner.model.state_dict().items():
        assert torch.equal(v, snapshot[k]), k  # nothing half-applied after the cancel
    assert not learner.model.training


def test_cancel_through_a_job_thread(dataset):
    learner = Learner(dataset, config(precompute=True, epochs=50))
    events = []
    job = Job(learner.fit)
    job.start(
        lambda e: (events.append(e), job.cancel() if e.kind == "progress" and e.data["type"] == "batch" else None)
    )
    assert job.wait(30)
    assert job.state == "cancelled"
    assert sum(1 for e in events if e.kind == "progress" and e.data["type"] == "batch") == 1


def test_seeded_runs_are_reproducible_on_cpu(dataset):
    def run():
        learner = Learner(dataset, config(precompute=False, aug="side_on", unfreeze=True, epochs=2, seed=3))
        return [r["loss"] for r in fit(learner)[1] if r["type"] == "batch"]

    assert run() == run()


def test_gpu_out_of_memory_says_use_a_smaller_batch(dataset, monkeypatch):
    learner = Learner(dataset, config(precompute=True, bs=8))

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(learner, "step", oom)
    with pytest.raises(RuntimeError, match=r"smaller batch size \(e\.g\. 4\)"):
        fit(learner)


def test_continue_with_precompute_off_then_save(dataset, tmp_path):
    learner = Learner(dataset, config(precompute=True, epochs=2, lr=0.1))
    first, _ = fit(learner)
    head = learner.model.head[-1].weight.clone()
    learner.config = config(precompute=False, aug="side_on", epochs=1, lr=0.01, tta=True)
    second, _ = fit(learner)
    assert not torch.equal(learner.model.head[-1].weight, head)  # continued, not rebuilt
    assert second["tta"] and 0 <= second["accuracy"] <= 1
    path = learner.save(tmp_path / "out" / "model.pt")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    assert blob["meta"]["metrics"]["accuracy"] == pytest.approx(second["accuracy"])
    assert blob["meta"]["settings"]["aug"] == "side_on" and blob["meta"]["dataset"] == str(dataset.root)
    loaded = load_model(path)
    x = torch.randn(2, 3, SIZE, SIZE)
    assert torch.allclose(loaded(x), learner.model.eval()(x), atol=1e-5)


def test_lr_find_parts_on_features(dataset):
    learner = Learner(dataset, config(precompute=True))
    run_to_end(learner.prepare())
    parts = learner.lr_find_parts()
    assert parts.module[0] is learner.model.head[1]  # head[1:]: the head after the pooling
    assert len(parts.lr_mults) == len(parts.optimizer.param_groups) == 3
    assert parts.iters_per_epoch == 4
    it = parts.batches()
    shapes = [next(it)[0].shape for _ in range(6)]  # endless: runs past one epoch
    assert shapes[0] == (8, 2 * learner.model.n_features)
    x, y = next(it)
    loss = parts.loss_fn(parts.module(x), y)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_lr_find_parts_on_images_with_the_lr_finder(dataset):
    lr_finder = pytest.importorskip("engine.lr_finder")
    learner = Learner(dataset, config(precompute=False, unfreeze=True))
    run_to_end(learner.prepare())
    parts = learner.lr_find_parts()
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    out = run_to_end(
        lr_finder.lr_range_test(
            parts.module, parts.optimizer, parts.loss_fn, parts.batches, iters=6, lr_mults=parts.lr_mults
        )
    )
    assert len(out["lrs"]) >= 2
    for k, v in learner.model.state_dict().items():
        assert torch.equal(v, before[k]), k


# ---------------------------------------------------------------- CLI


def test_cli_json_output(dataset, tmp_path, capsys):
    from main import main

    out = tmp_path / "m.pt"
    code = main(
        [
            "train",
            str(dataset.root),
            "--arch",
            "tiny_cnn",
            "--size",
            str(SIZE),
            "--bs",
            "8",
            "--epochs",
            "2",
            "--precompute",
            "--lr",
            "0.1",
            "-o",
            str(out),
            "--json",
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(lines) == 3
    for i, rec in enumerate(lines[:2]):
        assert rec["epoch"] == i + 1
        assert {"train_loss", "valid_loss", "accuracy", "seconds"} <= set(rec)
    assert lines[-1]["model"] == str(out) and out.exists()
    assert lines[-1]["accuracy"] == pytest.approx(lines[1]["accuracy"])
    assert load_model(out).meta.classes == dataset.classes


def test_cli_staged_recipe_and_onnx(dataset, tmp_path, capsys):
    pytest.importorskip("onnx")
    from main import main

    out = tmp_path / "m.pt"
    code = main(
        [
            "train",
            str(dataset.root),
            "--arch",
            "tiny_cnn",
            "--size",
            str(SIZE),
            "--bs",
            "8",
            "--precompute",
            "--head-epochs",
            "2",
            "--aug",
            "side_on",
            "--unfreeze",
            "--lr-mult",
            "0,1,1",
            "--epochs",
            "1",
            "-o",
            str(out),
            "--onnx",
            str(tmp_path / "m.onnx"),
            "--json",
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [(r["epoch"], r["phase"]) for r in lines[:-1]] == [(1, "precomputed"), (2, "precomputed"), (3, "images")]
    assert lines[-1]["epochs"] == 3 and (tmp_path / "m.onnx").exists()
    assert load_model(out).meta.settings["lr_mult"] == [0.0, 1.0, 1.0]


def test_cli_frozen_views(dataset, tmp_path, capsys):
    from main import main

    out = tmp_path / "m.pt"
    code = main(
        [
            "train",
            str(dataset.root),
            "--arch",
            "tiny_cnn",
            "--size",
            str(SIZE),
            "--bs",
            "8",
            "--precompute",
            "--head-epochs",
            "1",
            "--aug",
            "side_on",
            "--unfreeze",
            "--lr-mult",
            "0,1,1",
            "--frozen-views",
            "3",
            "--epochs",
            "1",
            "-o",
            str(out),
            "--json",
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [r["phase"] for r in lines[:-1]] == ["precomputed", "images"]
    assert load_model(out).meta.settings["frozen_views"] == 3
    code = main(["train", str(dataset.root), "--arch", "tiny_cnn", "--unfreeze", "--frozen-views", "3", "-o", str(out)])
    assert code != 0 and "first multiplier of 0" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                str(dataset.root),
                "--arch",
                "tiny_cnn",
                "--unfreeze",
                "--lr-mult",
                "0,1,1",
                "--frozen-views",
                "-2",
                "-o",
                str(out),
            ]
        )
        != 0
    )
    assert "views" in capsys.readouterr().err


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    from main import main

    assert main(["train", str(tmp_path / "nope"), "-o", str(tmp_path / "m.pt")]) != 0
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", str(SAMPLE), "--epochs", "2", "--cycles", "2", "-o", str(tmp_path / "m.pt")]) != 0
    assert "either --epochs or --cycles" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(SAMPLE), "--lr-mult", "a,b", "-o", str(tmp_path / "m.pt")])
    assert main(["train", str(SAMPLE), "-o", str(tmp_path)]) == 2  # a folder: refused before training
    assert "is a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(SAMPLE), "--device", "tpu9", "-o", str(tmp_path / "m.pt")])
    assert "device 'tpu9'" in capsys.readouterr().err


# ---------------------------------------------------------------- the real network


@pytest.mark.slow
def test_efficientnet_lite0_on_the_sample_beats_chance_by_far():
    ds = scan_dataset(SAMPLE)
    learner = Learner(ds, TrainConfig(arch="efficientnet_lite0", size=128, epochs=3, precompute=True, device="cpu"))
    result, _ = fit(learner)
    assert result["accuracy"] >= 0.85  # chance is 0.5
    assert np.isfinite(result["valid_loss"])


def test_learner_for_continues_the_same_network_and_starts_anew_otherwise(dataset, tmp_path):
    """The one rule Train and the LR finder ask (engine.config.can_continue); precompute is not part of it."""
    first = learner_for(None, dataset, config(precompute=True))
    later = config(precompute=False, aug="side_on", unfreeze=True, lr_mult=(0, 1, 1))
    assert learner_for(first, dataset, later) is first and first.config is later  # lesson 1's next steps
    assert learner_for(first, dataset, config(size=64)) is not first
    assert learner_for(first, dataset, config(arch="resnet18")) is not first
    other = scan_dataset(make_dataset(tmp_path / "other", n_train=16, n_valid=8))
    assert learner_for(first, other, later) is not first
