"""Precomputed activations: correctness, the per-file cache, invalidation, cancel."""

import os
import threading

import pytest
import torch

from engine.data import scan_dataset
from engine.features import FeatureStore, fast_inference_copy, feature_space, load_resized, precompute_features
from engine.jobs import Cancelled, run_to_end
from engine.models import create_model, to_tensor
from tests.training_data import COLOURS, make_dataset, write_image

SIZE = 32


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=10, n_valid=4))


@pytest.fixture
def model(dataset):
    return create_model("tiny_cnn", dataset.classes, SIZE)


def features(model, items, **kw):
    return run_to_end(precompute_features(model, items, "train", torch.device("cpu"), bs=8, **kw))


def test_features_are_the_concat_pooled_body_output(model, dataset):
    fs = features(model, dataset.train)
    assert fs.x.shape == (len(dataset.train), 2 * model.n_features)
    assert fs.y.tolist() == [label for _, label in dataset.train]
    # the same numbers the full model's head sees (head[0] is the concat pool)
    path = dataset.train[3][0]
    x = to_tensor([load_resized(path, SIZE)], model.meta.mean, model.meta.std)
    with torch.no_grad():
        want = model.head[0](model.eval().body(x))[0]
    assert torch.allclose(fs.x[3], want, atol=1e-4)


def test_fast_inference_copy_matches_plain_body(model):
    fast = fast_inference_copy(model.body, torch.device("cpu"), SIZE)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())  # folded away
    x = torch.randn(4, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(fast(x), model.eval().body(x), atol=1e-4)


def test_fast_inference_copy_leaves_the_original_alone(model):
    net = torch.nn.Sequential(model.body, torch.nn.Conv2d(model.n_features, 4, 1))  # a conv with no BN
    before = {k: v.clone() for k, v in net.state_dict().items()}
    kinds = [type(m) for m in net.modules()]
    fast = fast_inference_copy(net, torch.device("cpu"), SIZE)
    with torch.no_grad():
        for p in fast.parameters():
            p.add_(1.0)  # the copy owns its tensors
    assert [type(m) for m in net.modules()] == kinds  # BatchNorm still there
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.is_contiguous() for p in net.parameters())  # not turned channels_last
    ours = {p.data_ptr() for p in net.parameters()} | {b.data_ptr() for b in net.buffers()}
    assert not ours & ({p.data_ptr() for p in fast.parameters()} | {b.data_ptr() for b in fast.buffers()})


def test_second_run_reuses_everything(model, dataset):
    first = features(model, dataset.train)
    assert (first.computed, first.reused) == (len(dataset.train), 0)
    again = features(model, dataset.train)
    assert (again.computed, again.reused) == (0, len(dataset.train))
    assert torch.equal(first.x, again.x)


def test_each_change_costs_exactly_that_file(model, dataset):
    items = list(dataset.train)
    base = features(model, items)
    path0, path1 = items[0][0], items[1][0]
    # touch: re-hashed, but the content is the same so its features are reused
    st = os.stat(path0)
    os.utime(path0, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    touched = features(model, items)
    assert (touched.computed, touched.reused) == (0, len(items))
    # modify: exactly that file is recomputed, and its features change
    write_image(__import__("pathlib").Path(path1), COLOURS["red"], seed=999, size=40)
    modified = features(model, items)
    assert modified.computed == 1
    assert not torch.allclose(modified.x[1], base.x[1])
    assert torch.equal(modified.x[2:], base.x[2:])
    # add: one more computed
    new = write_image(dataset.root / "train" / "red" / "new.png", COLOURS["red"], seed=1234)
    added = features(model, items + [(str(new), 1)])
    assert (added.computed, len(added)) == (1, len(items) + 1)
    # remove: nothing computed, one row fewer
    removed = features(model, items[1:])
    assert (removed.computed, len(removed)) == (0, len(items) - 1)
    assert torch.equal(removed.x, modified.x[1:])


def test_other_size_or_weights_is_another_feature_space(model, dataset):
    features(model, dataset.train)
    bigger = create_model("tiny_cnn", dataset.classes, SIZE + 8)
    assert features(bigger, dataset.train).computed == len(dataset.train)
    changed = create_model("tiny_cnn", dataset.classes, SIZE)
    with torch.no_grad():
        changed.body[0].weight.mul_(1.5)  # e.g. another imported weights file
    assert feature_space(changed)[0] != feature_space(model)[0]
    assert features(changed, dataset.train).computed == len(dataset.train)


def test_bad_image_is_reported_and_left_out(model, dataset, tmp_path):
    bad = dataset.root / "train" / "red" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    items = list(dataset.train) + [(str(bad), 1)]
    fs = features(model, items)
    assert len(fs) == len(dataset.train)
    assert [p for p, _ in fs.errors] == [str(bad)]


def test_cancel_keeps_what_was_computed(model, dataset):
    stop = threading.Event()
    gen = precompute_features(model, dataset.train, "train", torch.device("cpu"), bs=4, stop=stop)

    def on_progress(rec):
        if rec["done"] >= 4:
            stop.set()

    with pytest.raises(Cancelled):
        run_to_end(gen, on_progress)
    resumed = features(model, dataset.train)
    assert 0 < resumed.reused < len(dataset.train)
    assert resumed.computed == len(dataset.train) - resumed.reused


def test_store_survives_reopening_and_compacts(tmp_path):
    import numpy as np

    store = FeatureStore("space", {"arch": "x"}, root=tmp_path)
    for i in range(5):
        store.add([f"k{i}"], np.full((1, 3), i, dtype=np.float32))
    store.compact()
    reopened = FeatureStore("space", root=tmp_path)
    assert len(reopened) == 5 and reopened.get("k3").tolist() == [3.0, 3.0, 3.0]
    assert len(list((tmp_path / "space").glob("*.keys.npy"))) == 1
