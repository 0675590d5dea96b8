"""The Auto recipe, the lesson presets, multi-depth features and the CLI's recipe choice (engine.recipes)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.features import feature_space, precompute_features
from engine.jobs import run_to_end
from engine.lr_curves import suggest_all
from engine.models import create_model, load_model
from engine.networks import grid_means, multi_depths
from engine.presets import preset_configs
from engine.recipes import (
    FINE_TUNE_MIN_ERRORS,
    GRID,
    HIDDEN,
    auto_head_config,
    auto_job,
    fit_keeping_best,
)
from engine.training import Learner
from engine.validation import validate
from tests.training_data import make_dataset, write_image

TINY = TrainConfig(arch="tiny_cnn", size=32, bs=8)


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=12, n_valid=6))


def noise_dataset(root, n_train=12, n_valid=6):
    """Two classes drawn from the same distribution: validation cannot keep improving."""
    seed = 0
    for split, n in (("train", n_train), ("valid", n_valid)):
        for name in ("a", "b"):
            for i in range(n):
                seed += 1
                write_image(root / split / name / f"{i:03d}.png", (128, 128, 128), seed, size=32)
    return scan_dataset(root)


def test_early_stopping_stops_when_validation_stops_improving_and_keeps_the_best_epoch(tmp_path):
    ds = noise_dataset(tmp_path / "noise")
    learner = Learner(ds, auto_head_config(TINY, ()))
    learner.config = replace(learner.config, lr=3e-2, epochs=40)
    records = []
    gen = fit_keeping_best(learner, patience=3)
    out = run_to_end(gen, lambda r: records.append(r) if r["type"] == "epoch" else None)
    best = out["best"]
    assert out["why"] == "validation did not improve for 3 epochs"
    assert len(records) == out["epochs"] == best["epoch"] + 3 < 40  # stopped, 3 epochs after the best
    scores = [(r["accuracy"], -r["valid_loss"]) for r in records]
    assert best is records[int(np.argmax([s[0] * 1e6 + s[1] for s in scores]))] or scores.count(max(scores)) > 1
    assert max(scores) == (best["accuracy"], -best["valid_loss"])
    loss, acc = validate(learner)  # the model in memory is the best epoch's, not the last one's
    assert acc == best["accuracy"] and loss == pytest.approx(best["valid_loss"], rel=1e-5)
    assert loss != pytest.approx(records[-1]["valid_loss"], rel=1e-5)


def test_auto_uses_the_valley_of_the_lr_test_it_ran_and_reports_its_stages(dataset):
    records = []
    res = run_to_end(auto_job(dataset, 60, base=TINY, fine_tune=False), records.append)
    test = res["lr_test"]
    assert res["lr"] == test["suggestions"]["valley"] == suggest_all(test["lrs"], test["smoothed"])["valley"]
    assert res["learner"].config.lr == res["lr"]
    assert [s["name"] for s in res["stages"]] == ["features", "head", "fine-tune"]
    stages = [r for r in records if r["type"] == "stage"]
    assert stages and all(r["why"] for r in stages)
    assert sum(r["type"] == "lr_find" for r in records) >= 1
    assert (res["depths"], res["grid"]) == (list(multi_depths("tiny_cnn")), GRID)
    assert res["accuracy"] == res["learner"].metrics["accuracy"]


def test_auto_skips_the_fine_tune_when_validation_has_too_few_errors_to_show_a_gain(tmp_path):
    dataset = scan_dataset(make_dataset(tmp_path / "ds", n_train=12, n_valid=4))
    records = []
    res = run_to_end(auto_job(dataset, 600, base=TINY), records.append)  # a budget with room for it
    errors = round((1 - res["accuracy"]) * len(dataset.valid))
    assert len(dataset.valid) < FINE_TUNE_MIN_ERRORS  # so the head cannot leave enough errors
    stage = res["stages"][-1]
    assert stage["name"] == "fine-tune" and not stage["ran"] and f"only {errors} validation" in stage["why"]
    assert res["learner"].config.precompute  # the head's model, nothing trained on the images
    assert records[-1] == {"type": "stage", "name": "fine-tune", "why": f"skipped: {stage['why']}"}


def test_auto_fine_tune_on_the_depths_head_runs_and_is_kept_only_when_it_beats_the_head(dataset, monkeypatch):
    import engine.recipes as recipes

    monkeypatch.setattr(recipes, "FINE_TUNE_MIN_ERRORS", 0)
    monkeypatch.setattr(recipes, "FINE_TUNE_EPOCHS", 1)
    records = []
    res = run_to_end(auto_job(dataset, 600, base=TINY), records.append)
    stage = res["stages"][-1]
    assert stage["name"] == "fine-tune" and stage["ran"]
    start = next(i for i, r in enumerate(records) if r["type"] == "stage" and r["name"] == "fine-tune")
    head = max(r["accuracy"] for r in records[:start] if r["type"] == "epoch")
    tuned = [r["accuracy"] for r in records[start:] if r["type"] == "epoch"]
    assert tuned  # the late layers trained on the images, through the grid-pooled depths
    assert res["epochs_run"] == sum(r["type"] == "epoch" for r in records)  # every stage's epochs
    if stage["kept"]:
        assert res["accuracy"] == max(tuned) >= head and not res["learner"].config.precompute
    else:
        assert res["accuracy"] == head and res["learner"].config.precompute


def test_auto_model_predicts_the_same_after_saving_and_explains(dataset, tmp_path):
    from engine.gradcam import grad_cam
    from engine.predictions import predict_images

    learner = Learner(dataset, replace(auto_head_config(TINY, multi_depths("tiny_cnn"), GRID), epochs=2))
    run_to_end(learner.fit())
    path = learner.save(tmp_path / "auto.pth")
    loaded = load_model(path)
    assert (loaded.meta.depths, loaded.meta.grid, loaded.meta.hidden) == (multi_depths("tiny_cnn"), GRID, HIDDEN)
    assert len(loaded.head) == (4 if HIDDEN == 0 else 8)  # pool, BN, dropout, linear: the head Auto trained
    paths = [p for p, _ in dataset.valid]
    probs = run_to_end(predict_images(loaded, paths, top=0)).probs
    valid_features = run_to_end(precompute_features(learner.model, dataset.valid, "valid"))
    with torch.no_grad():
        want = torch.softmax(learner.model.eval().head[1:](valid_features.x), 1).numpy()
    np.testing.assert_allclose(probs, want, atol=1e-4)  # the whole model = the head on cached features
    cam = grad_cam(loaded, paths[0])
    assert cam.heatmap.max() <= 1 and cam.class_index == int(np.argmax(want[0]))


def test_multi_depth_features_are_cached_and_invalidated_when_the_depths_change(dataset):
    items = dataset.train
    last = create_model("tiny_cnn", dataset.classes, 32)
    deep = create_model("tiny_cnn", dataset.classes, 32, depths=(5, 8))
    deeper = create_model("tiny_cnn", dataset.classes, 32, depths=(2, 5, 8))
    for m in (deep, deeper):
        m.body.load_state_dict(last.body.state_dict())
    names = {feature_space(m)[0] for m in (last, deep, deeper)}
    assert len(names) == 3  # the same weights, three cache keys
    first = run_to_end(precompute_features(deep, items))
    again = run_to_end(precompute_features(deep, items))
    assert (first.computed, again.computed, again.reused) == (len(items), 0, len(items))
    torch.testing.assert_close(first.x, again.x)
    other = run_to_end(precompute_features(deeper, items))
    assert other.computed == len(items) and other.x.shape[1] > first.x.shape[1]
    plain = run_to_end(precompute_features(last, items))
    assert plain.computed == len(items)
    torch.testing.assert_close(plain.x, first.x[:, -plain.x.shape[1] :])  # the last depth is stored last


def test_the_pooling_grid_is_part_of_the_cache_key_and_keeps_the_last_layer_last(dataset):
    items = dataset.train
    whole = create_model("tiny_cnn", dataset.classes, 32, depths=(5, 8))
    grid = create_model("tiny_cnn", dataset.classes, 32, depths=(5, 8), grid=2)
    grid.body.load_state_dict(whole.body.state_dict())
    assert feature_space(whole)[0] != feature_space(grid)[0]
    assert feature_space(grid)[1]["grid"] == 2
    a = run_to_end(precompute_features(whole, items))
    b = run_to_end(precompute_features(grid, items))
    assert b.computed == len(items)  # not the cached rows of the other pooling
    assert b.x.shape[1] == a.x.shape[1] + 4 * 32 == 2 * grid.n_features  # 2×2 means of depth 5's 32 channels
    torch.testing.assert_close(b.x[:, -2 * 64 :], a.x[:, -2 * 64 :])  # the deepest layer pooled whole, last
    torch.testing.assert_close(b.x[:, : 2 * 32], a.x[:, : 2 * 32])  # max ‖ mean first, then the grid


@pytest.mark.parametrize("h, w", [(4, 4), (5, 7), (1, 1), (9, 2)])
def test_grid_means_are_adaptive_average_pooling(h, w):
    x = torch.randn(3, 5, h, w)
    want = torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(2).flatten(1)
    torch.testing.assert_close(grid_means(x, 2), want)


def test_lesson1_preset_is_the_lessons_fit_exactly(dataset, tmp_path):
    from main import main

    root = str(dataset.root)
    common = ["train", root, "--arch", "tiny_cnn", "--size", "32", "--bs", "8"]
    assert main([*common, "--precompute", "--lr", "0.01", "--epochs", "3", "-o", str(tmp_path / "a.pth")]) == 0
    assert main([*common, "--recipe", "lesson1", "-o", str(tmp_path / "b.pth")]) == 0
    a, b = (torch.load(tmp_path / f, weights_only=True)["state_dict"] for f in ("a.pth", "b.pth"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base = replace(TrainConfig(), arch="tiny_cnn", size=32, bs=8)
    assert preset_configs("lesson1", base) == [replace(base, precompute=True, lr=0.01, epochs=3)]
    stages = preset_configs("lesson1-unfreeze", base)
    assert [(c.precompute, c.aug, c.unfreeze) for c in stages] == [
        (True, "none", False),
        (False, "side_on", False),
        (False, "side_on", True),
    ]


def test_cli_without_recipe_flags_runs_auto_and_flags_turn_it_off(dataset, tmp_path, capsys):
    from main import main

    root = str(dataset.root)
    common = ["train", root, "--arch", "tiny_cnn", "--size", "32", "--bs", "8", "--json"]
    assert main([*common, "--budget", "30", "-o", str(tmp_path / "auto.pth")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    final = lines[-1]
    assert final["recipe"] == "auto" and [s["name"] for s in final["stages"]] == ["features", "head", "fine-tune"]
    assert any(r.get("type") == "stage" for r in lines[:-1]) and final["run"] is not None
    assert load_model(tmp_path / "auto.pth").meta.settings["opt"] == "adamw"
    assert main([*common, "--epochs", "1"]) == 0  # a recipe flag: today's training, no stages
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "recipe" not in lines[-1] and not any(r.get("type") == "stage" for r in lines)
    assert main([*common, "--recipe", "auto", "--epochs", "2"]) == 2
    assert main([*common, "--budget", "10", "--precompute"]) == 2
    err = capsys.readouterr().err
    assert "not both" in err and "--budget is Auto's" in err


def test_multi_depth_model_exports_to_onnx_with_the_same_outputs(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from engine.models import export_onnx

    # 36 px: the grid-pooled depth's map is 9×9, not a multiple of the 2×2 grid
    model = create_model("tiny_cnn", ["a", "b", "c"], 36, depths=multi_depths("tiny_cnn"), grid=2, hidden=0).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    x = torch.randn(4, 3, 36, 36)
    got = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        want = torch.softmax(model(x), 1).numpy()
    assert got.shape == (4, 3) and abs(got - want).max() < 1e-5


def test_autos_budget_bounds_the_head_too(dataset):
    """'Auto, up to N min': past the budget the head stops after the epoch it is in, keeping its best."""
    res = run_to_end(auto_job(dataset, 0.001, base=TINY))
    head = next(s for s in res["stages"] if s["name"] == "head")
    assert "time budget" in head["why"]
    assert res["best_epoch"] == 1 and res["learner"].metrics["epochs"] == 1
    assert not next(s for s in res["stages"] if s["name"] == "fine-tune")["ran"]
