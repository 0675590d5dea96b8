"""Backbones, head, layer groups, model files, weights import, ONNX export."""

import os

import pytest
import torch
from torch import nn

from engine.models import (
    WeightsUnavailable,
    create_model,
    export_onnx,
    import_weights,
    imported_weights_path,
    load_model,
    save_model,
)

CLASSES = ["blue", "red"]


def n_trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_tiny_cnn_has_fixed_pretrained_weights_and_fastai_head():
    a, b = create_model("tiny_cnn", CLASSES, 32), create_model("tiny_cnn", CLASSES, 32)
    for (name, pa), pb in zip(a.body.state_dict().items(), b.body.state_dict().values(), strict=False):
        assert torch.equal(pa, pb), name
    kinds = [type(m).__name__ for m in a.head]
    assert kinds == [
        "AdaptiveConcatPool2d",
        "BatchNorm1d",
        "Dropout",
        "Linear",
        "ReLU",
        "BatchNorm1d",
        "Dropout",
        "Linear",
    ]
    assert a.head[1].num_features == 2 * a.n_features
    assert a.head[-1].out_features == len(CLASSES)
    assert a.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 2)


def test_freeze_and_unfreeze_parameter_counts():
    model = create_model("tiny_cnn", CLASSES, 32)
    groups = model.layer_groups()
    sizes = [sum(p.numel() for m in g for p in m.parameters()) for g in groups]
    assert all(s > 0 for s in sizes)
    assert n_trainable(model) == sizes[2]  # created frozen: head only
    model.unfreeze()
    assert n_trainable(model) == sum(sizes) == sum(p.numel() for p in model.parameters())
    model.freeze_to(1)
    assert n_trainable(model) == sizes[1] + sizes[2]
    model.freeze_to(-1)
    assert n_trainable(model) == sizes[2]


def test_frozen_groups_stay_in_eval_mode_while_training():
    model = create_model("tiny_cnn", CLASSES, 32)
    model.freeze_to(1)
    model.train()
    bns = [m for m in model.body.modules() if isinstance(m, nn.BatchNorm2d)]
    assert not bns[0].training  # frozen early group: running stats must not move
    assert bns[-1].training and model.head.training


def test_model_file_round_trip_weights_only(tmp_path):
    model = create_model("tiny_cnn", CLASSES, 32)
    model.unfreeze()
    with torch.no_grad():
        model.head[-1].bias.add_(0.5)
    model.meta.metrics = {"accuracy": 0.9}
    path = save_model(model, tmp_path / "m.pt")
    blob = torch.load(path, map_location="cpu", weights_only=True)  # no code runs
    assert blob["meta"]["classes"] == CLASSES and blob["meta"]["metrics"]["accuracy"] == 0.9
    loaded = load_model(path)
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(loaded(x), model.eval()(x), atol=1e-6)
    assert not list(tmp_path.glob(".fovea-*"))  # no temp file left behind
    old_umask = os.umask(0o027)  # the file gets what open() would give it, not 0600
    try:
        assert (save_model(model, tmp_path / "m2.pt").stat().st_mode & 0o777) == 0o640
    finally:
        os.umask(old_umask)


def test_resnet_offline_names_the_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torchvision cache
    monkeypatch.setenv("FOVEA_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable) as info:
        create_model("resnet18", CLASSES, 64)
    text = str(info.value)
    assert "resnet18-f37072fd.pth" in text and "Import a weights file" in text
    assert str(tmp_path / "torch") in text  # where torchvision looks for it


def test_import_weights_file_makes_resnet_available_offline(monkeypatch, tmp_path):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("FOVEA_OFFLINE", "1")
    source = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        source.conv1.weight.fill_(0.25)
    weights = tmp_path / "r18.pth"
    torch.save(source.state_dict(), weights)
    # straight from a file (--weights FILE)
    direct = create_model("resnet18", CLASSES, 64, weights_file=weights)
    assert torch.all(direct.body[0].weight == 0.25)
    # imported once, then found without naming the file
    dest = import_weights("resnet18", weights)
    assert dest == imported_weights_path("resnet18") and dest.exists()
    model = create_model("resnet18", CLASSES, 64)
    assert torch.all(model.body[0].weight == 0.25)
    # a file for another network is refused with a reason
    torch.save(create_model("tiny_cnn", CLASSES, 32).state_dict(), tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="does not fit resnet18"):
        import_weights("resnet18", tmp_path / "wrong.pth")


def test_export_onnx_matches_torch(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import json

    import onnx

    model = create_model("tiny_cnn", CLASSES, 32).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["fovea_meta"])["classes"] == CLASSES
    x = torch.randn(5, 3, 32, 32)
    got = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    want = torch.softmax(model(x), 1).detach().numpy()
    assert got.shape == (5, 2)
    assert abs(got - want).max() < 1e-5


@pytest.mark.parametrize(
    "content, reason",
    [
        ("text", "not a file written by torch.save"),
        ("python_object", "holds Python objects"),
        ("bad_meta", "not a usable Fovea model"),
        ("folder", "it is a folder"),
    ],
)
def test_bad_model_files_get_one_short_reason(tmp_path, content, reason):
    path = tmp_path / "m.pth"
    if content == "text":
        path.write_text("# not a model\n")
    elif content == "python_object":
        torch.save({"x": nn.Linear(2, 2)}, path)
    elif content == "bad_meta":
        torch.save({"meta": {"arch": 3}, "state_dict": {}}, path)
    else:
        path.mkdir()
    with pytest.raises(ValueError) as err:
        load_model(path)
    message = str(err.value)
    assert reason in message and "\n" not in message and len(message) < 250, message


def test_weights_file_that_is_not_a_state_dict_is_one_clear_line(tmp_path):
    bad = tmp_path / "w.pth"
    bad.write_text("hello")
    with pytest.raises(ValueError) as err:
        import_weights("resnet34", bad)
    assert "is not a PyTorch weights file" in str(err.value) and "\n" not in str(err.value)
