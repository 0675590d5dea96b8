"""Attacks on the caches: damaged, edited or swapped feature-cache files and images, damaged
thumbnails (issue 16: items 4, 5, 14, 15 (a NaN cache))."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import scan_dataset
from engine.features import precompute_features
from engine.jobs import run_to_end
from engine.models import create_model
from engine.paths import cache_dir
from tests.training_data import COLOURS, make_dataset, write_image

SIZE = 32


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=6, n_valid=2))


@pytest.fixture
def model(dataset):
    return create_model("tiny_cnn", dataset.classes, SIZE)


def features(model, items, **kw):
    return run_to_end(precompute_features(model, items, "train", torch.device("cpu"), bs=4, **kw))


def fresh(model, items, tmp_path, monkeypatch):
    """The features an empty cache gives (a private FOVEA_HOME)."""
    with monkeypatch.context() as m:
        m.setenv("FOVEA_HOME", str(tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"))
        return features(model, items)


def shards(suffix: str):
    return sorted(cache_dir("features").rglob(f"*{suffix}"))


def test_attack_bit_flips_and_nans_in_cached_features_are_recomputed(model, dataset, tmp_path, monkeypatch):
    """Items 4 and 15: flipped bits and NaNs in a cached features file: detected, recomputed, reported."""
    first = features(model, dataset.train)
    (x_file,) = shards(".x.npy")
    raw = bytearray(x_file.read_bytes())
    header = len(raw) - first.x.numel() * 4
    raw[header + 10] ^= 0x7F  # a flipped exponent: a huge number
    raw[header + 4 * first.x.shape[1] * 3 : header + 4 * first.x.shape[1] * 3 + 8] = np.float32([np.nan] * 2).tobytes()
    x_file.write_bytes(bytes(raw))
    again = features(model, dataset.train)
    assert torch.allclose(again.x, fresh(model, dataset.train, tmp_path, monkeypatch).x, atol=1e-5)
    assert again.repaired == 2 and again.cache_problems


def test_attack_image_swapped_while_precompute_runs(model, dataset, tmp_path, monkeypatch):
    """Item 4: an image swapped for another picture mid-precompute: no copy of the original gets its features.

    Swapped after hashing, before decoding: what was decoded is stored under its own content."""
    a = dataset.train[0][0]
    original = open(a, "rb").read()
    gen = precompute_features(model, dataset.train, "train", torch.device("cpu"), bs=4)
    next(gen)  # started
    next(gen)  # every file hashed; nothing decoded yet
    write_image(__import__("pathlib").Path(a), COLOURS["red"], seed=777)  # another picture
    run_to_end(gen)
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    copy = copy_dir / "copy.png"
    copy.write_bytes(original)
    got = features(model, [(str(copy), 0)])
    want = fresh(model, [(str(copy), 0)], tmp_path, monkeypatch)
    assert torch.allclose(got.x, want.x, atol=1e-5)


def test_attack_same_size_edit_with_mtime_put_back_is_noticed(model, tmp_path, monkeypatch):
    """Item 4: an edit that keeps the byte size, with the mtime restored (touch -r), is noticed."""
    path = tmp_path / "a.bmp"
    Image.fromarray(np.full((24, 24, 3), 40, np.uint8)).save(path)
    items = [(str(path), 0)]
    features(model, items)
    st = os.stat(path)
    Image.fromarray(np.full((24, 24, 3), 220, np.uint8)).save(path)  # same size: BMP is uncompressed
    assert os.path.getsize(path) == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # touch -r
    got = features(model, items)
    assert got.computed == 1
    assert torch.allclose(got.x, fresh(model, items, tmp_path, monkeypatch).x, atol=1e-5)


def test_attack_swapped_hashes_in_the_file_index(model, dataset, tmp_path, monkeypatch):
    """Item 4: files.json with two files' hashes swapped does not change the result."""
    features(model, dataset.train)
    index_file = cache_dir("features") / "files.json"
    index = json.loads(index_file.read_text())
    p0, p1 = dataset.train[0][0], dataset.train[-1][0]
    pos = [i for i, v in enumerate(index[p0]) if isinstance(v, str) and len(v) == 32][0]
    index[p0][pos], index[p1][pos] = index[p1][pos], index[p0][pos]
    index_file.write_text(json.dumps(index))
    got = features(model, dataset.train)
    assert torch.allclose(got.x, fresh(model, dataset.train, tmp_path, monkeypatch).x, atol=1e-5)


@pytest.mark.parametrize(
    "damage",
    ["empty x.npy", "empty keys.npy", "files.json is []", "files.json maps a path to 5", "fewer rows than keys"],
)
def test_attack_damaged_cache_never_crashes_a_run(model, dataset, tmp_path, monkeypatch, damage):
    """Item 5: a damaged cache file: the run goes on, recomputes what it must, gives the right features."""
    first = features(model, dataset.train)
    index_file = cache_dir("features") / "files.json"
    if damage == "empty x.npy":
        shards(".x.npy")[0].write_bytes(b"")
    elif damage == "empty keys.npy":
        shards(".keys.npy")[0].write_bytes(b"")
    elif damage == "files.json is []":
        index_file.write_text("[]")
    elif damage == "files.json maps a path to 5":
        index_file.write_text(json.dumps({dataset.train[0][0]: 5}))
    else:
        (x_file,) = shards(".x.npy")
        np.save(x_file, np.load(x_file)[:2])
    got = features(model, dataset.train)
    assert torch.allclose(got.x, first.x, atol=1e-5) and len(got) == len(dataset.train)
    if "npy" in damage or "rows" in damage:
        assert got.cache_problems and got.computed == len(dataset.train)


def test_attack_corrupt_thumbnails_are_made_again(tmp_path):
    """Item 14: a damaged cached thumbnail is detected and made again (and said so once)."""
    from engine.thumbnails import ThumbnailRequests, make_thumbnail, thumbnail_job

    src = write_image(tmp_path / "a.png", COLOURS["blue"], seed=3, size=200)
    thumb = make_thumbnail(src)
    data = thumb.read_bytes()
    thumb.write_bytes(data[: len(data) // 3])  # cut short, as a crash or a full disk leaves it
    requests = ThumbnailRequests()
    requests.request([str(src)])
    (rec,) = list(run_to_end_records(thumbnail_job(requests, idle_exit=True)))
    assert rec["error"] is None and rec.get("repaired") is True
    Image.open(rec["file"]).load()  # decodes whole
    again = ThumbnailRequests()
    again.request([str(src)])
    (rec2,) = list(run_to_end_records(thumbnail_job(again, idle_exit=True)))
    assert rec2.get("repaired") is False  # reported once


def test_thumbnails_with_their_checksum_still_open_in_qt(tmp_path):
    """The checksum after a thumbnail's JPEG does not stop Qt (the dataset browser) from reading it."""
    pytest.importorskip("PySide6")
    from PySide6.QtGui import QImage

    from engine.thumbnails import make_thumbnail

    thumb = make_thumbnail(write_image(tmp_path / "a.png", COLOURS["red"], seed=4, size=90))
    image = QImage(str(thumb))
    assert not image.isNull() and max(image.width(), image.height()) == 128


def run_to_end_records(gen):
    while True:
        try:
            yield next(gen)
        except StopIteration:
            return


def test_feature_cache_leaves_the_dataset_alone(model, dataset):
    """What held before and must keep holding: dataset bytes are never changed."""
    before = {p: open(p, "rb").read() for p, _ in dataset.train}
    features(model, dataset.train)
    shutil.rmtree(cache_dir("features"))
    features(model, dataset.train)
    assert {p: open(p, "rb").read() for p, _ in dataset.train} == before
