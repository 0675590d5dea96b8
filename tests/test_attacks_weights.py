"""Attacks on what Fovea loads: the torch hub cache, imported weights, model files (issue 16: items
1, 6 (model files), 9, 15 (pickles, class count))."""

import hashlib
import os

import pytest
import torch

from tests.attack_kit import (
    FOVEA_REASONS,
    assert_one_line_error,
    code_running_pickles,
    compressed_bomb,
    one_line,
    peak_rss_mb_of,
    rewrite_model_file,
    run_cli,
    tiny_model_file,
)
from tests.conftest import SAMPLE


def _hub_file(name: str):
    return os.path.join(torch.hub.get_dir(), "checkpoints", name)


def test_attack_code_in_the_torch_hub_cache_never_runs(tmp_path):
    """Item 1: a payload at $TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth is refused, never run."""
    from engine.models import create_model

    marker = tmp_path / "payload-ran"
    path = _hub_file("resnet18-f37072fd.pth")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(code_running_pickles(marker)["bare pickle calling open()"])
    with pytest.raises(ValueError) as err:
        create_model("resnet18", ["a", "b"], 32)
    assert not marker.exists(), "code from the hub cache ran"
    one_line(str(err.value), "f37072fd", "SHA-256")


def test_attack_hub_cache_payload_through_the_cli(tmp_path):
    """Item 1: `train --arch resnet18` with a payload in the hub cache: one line, exit 2, nothing ran."""
    marker = tmp_path / "payload-ran"
    path = _hub_file("resnet18-f37072fd.pth")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(code_running_pickles(marker)["REDUCE calling open()"])
    out = run_cli("train", SAMPLE, "--arch", "resnet18", "--size", "32", "--epochs", "1", "-o", tmp_path / "m.pth")
    assert_one_line_error(out, "f37072fd")
    assert not marker.exists() and not (tmp_path / "m.pth").exists()


def test_attack_a_hash_matching_hub_file_is_still_loaded_without_code(tmp_path, monkeypatch):
    """Item 1: even a file whose hash matches its name is unpickled with weights_only (no code runs)."""
    import engine.weights as weights

    marker = tmp_path / "payload-ran"
    data = code_running_pickles(marker)["REDUCE calling open()"]
    prefix = hashlib.sha256(data).hexdigest()[:8]
    url = f"https://download.pytorch.org/models/resnet18-{prefix}.pth"
    path = _hub_file(os.path.basename(url))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    monkeypatch.setattr(weights, "_resnet_url", lambda arch: url)
    with pytest.raises(ValueError) as err:
        weights.pretrained_network("resnet18")
    assert not marker.exists()
    one_line(str(err.value), "Python objects")


@pytest.mark.parametrize("kind", list(code_running_pickles("x")))
def test_attack_code_running_pickles_get_one_line_and_never_run(tmp_path, kind):
    """Item 15: hostile pickles, as a model file and as weights: Fovea's own one line, no code runs."""
    from engine.models import import_weights, load_model

    marker = tmp_path / "payload-ran"
    bad = tmp_path / "bad.pth"
    bad.write_bytes(code_running_pickles(marker)[kind])
    for load in (load_model, lambda p: import_weights("resnet18", p)):
        with pytest.raises(ValueError) as err:
            load(bad)
        one_line(str(err.value), str(bad))
        assert any(reason in str(err.value) for reason in FOVEA_REASONS), str(err.value)
    assert not marker.exists()


def test_attack_compressed_record_bomb_is_refused_before_unpacking(tmp_path):
    """Item 6: a few-MB model file holding one compressed 1 GiB record: refused, memory stays flat."""
    bomb = compressed_bomb(tiny_model_file(tmp_path / "m.pth"), tmp_path / "bomb.pth", 1 << 30)
    assert bomb.stat().st_size < 8 << 20
    peak, out = peak_rss_mb_of(
        f"import torch\nfrom engine.models import load_model\nimport resource\nbase = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\nprint('BASE', base)\nload_model({str(bomb)!r})"
    )
    base = float(out.split("BASE", 1)[1].split()[0])
    assert "RAISED ValueError" in out and "compressed" in out, out
    assert peak - base < 200, f"memory grew {peak - base:.0f} MB while refusing the file"


def test_attack_oversized_tensor_record_is_refused_before_unpickling(tmp_path, monkeypatch):
    """Item 6: a weights file with a record far larger than resnet18 needs is refused unopened."""
    import engine.weights as weights
    from engine.models import import_weights

    big = tmp_path / "big.pth"
    torch.save({"fc.weight": torch.zeros(64 << 20, dtype=torch.uint8)}, big)

    def never(*a, **k):
        raise AssertionError("unpickled")

    monkeypatch.setattr(torch, "load", never)
    monkeypatch.setattr(weights.torch, "load", never)
    with pytest.raises(ValueError) as err:
        import_weights("resnet18", big)
    one_line(str(err.value), "needs")
    assert "unpickled" not in str(err.value)


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("image_size", 0, "image size"),
        ("image_size", -5, "image size"),
        ("image_size", 100000, "image size"),
        ("std", [0.0, 0.5, 0.5], "std"),
        ("mean", [float("nan"), 0.5, 0.5], "mean"),
        ("classes", ["blue", "red", "green"], "3 class names"),
        ("classes", "blue", "class names"),
    ],
)
def test_attack_model_metadata_is_validated(tmp_path, field, value, needle):
    """Item 9 (and 15's "running_mean…"): bad image size, mean/std or class count: one line naming it."""
    from engine.models import load_model

    good = tiny_model_file(tmp_path / "m.pth")
    bad = rewrite_model_file(good, tmp_path / "bad.pth", lambda blob: blob["meta"].__setitem__(field, value))
    with pytest.raises(ValueError) as err:
        load_model(bad)
    one_line(str(err.value), needle)


def test_attack_nan_weights_are_refused_not_printed_as_nan_percent(tmp_path):
    """Item 9: a model whose weights hold NaN: `predict` refuses it in one line (no "nan%")."""

    def poison(blob):
        blob["state_dict"]["head.7.weight"][0, 0] = float("nan")

    bad = rewrite_model_file(tiny_model_file(tmp_path / "m.pth"), tmp_path / "bad.pth", poison)
    image = next((SAMPLE / "test").iterdir())
    out = run_cli("predict", bad, image)
    assert "nan%" not in out.stdout.decode()
    assert_one_line_error(out, "NaN")
