"""Augmentation preview: the engine grid (same code as training) and the Train tab's widget."""

import numpy as np
import pytest

from engine.augment_preview import augment_preview, preview_images
from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.features import load_resized
from engine.jobs import run_to_end
from tests.training_data import make_dataset


@pytest.fixture
def dataset(tmp_path):
    return scan_dataset(make_dataset(tmp_path / "ds", n_train=4, n_valid=1))


def grid(paths, preset, seed=0, size=48):
    return run_to_end(augment_preview(paths, preset, size=size, copies=3, seed=seed))


def test_preview_images_come_from_every_class(dataset):
    paths = preview_images(dataset, 2, seed=0)
    labels = {dict(dataset.train)[p] for p in paths}
    assert len(paths) == 2 and labels == {0, 1}
    assert preview_images(dataset, 3, seed=1) == preview_images(dataset, 3, seed=1)
    assert preview_images(dataset, 8, seed=1) != preview_images(dataset, 8, seed=2)


def test_none_shows_the_plain_resized_images(dataset):
    paths = preview_images(dataset, 2)
    rows = grid(paths, "none")
    for path, row in zip(paths, rows, strict=True):
        assert len(row) == 3
        for copy in row:
            assert copy.dtype == np.uint8 and np.array_equal(copy, load_resized(path, 48))


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def test_side_on_changes_pixels_keeps_size_and_follows_the_seed(dataset):
    paths = preview_images(dataset, 2)
    plain, side = grid(paths, "none"), grid(paths, "side_on")
    for row, plain_row in zip(side, plain, strict=True):
        for copy, original in zip(row, plain_row, strict=True):
            assert copy.shape == original.shape == (48, 48, 3) and copy.dtype == np.uint8
            assert not np.array_equal(copy, original)
    assert same(side, grid(paths, "side_on"))  # same seed, same pixels
    assert not same(side, grid(paths, "side_on", seed=1))
    assert not same(side, grid(paths, "top_down"))


def test_unreadable_images_are_left_out(dataset, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    rows = grid([str(bad), dataset.train[0][0]], "top_down")
    assert len(rows) == 1


# ---------------------------------------------------------------- the widget


def test_widget_shows_the_preset_and_updates_when_it_changes(qtbot, dataset):
    from gui.augment_preview import AugmentPreview
    from gui.state import AppState

    state = AppState()
    widget = AugmentPreview(state, images=2, copies=3)
    qtbot.addWidget(widget)
    assert "Open a dataset" in widget.caption.text() and not widget.shuffle_button.isEnabled()

    state.set_train_config(TrainConfig(size=48, aug="none"))
    with qtbot.waitSignal(widget.shown, timeout=30000):
        state.set_dataset(dataset)
    plain = [a.copy() for row in widget.grid for a in row]
    assert len(plain) == 6 and widget.cells[0][0].pixmap() is not None and not widget.cells[0][0].pixmap().isNull()
    assert widget.caption.text().startswith("None:")

    with qtbot.waitSignal(widget.shown, timeout=30000):
        state.set_train_config(TrainConfig(size=48, aug="side_on"))
    assert widget.caption.text().startswith("Side-on:")
    side = [a.copy() for row in widget.grid for a in row]
    assert not any(np.array_equal(a, b) for a, b in zip(plain, side, strict=True))

    with qtbot.waitSignal(widget.shown, timeout=30000):
        widget.shuffle_button.click()
    assert widget.seed == 1
    shuffled = [a for row in widget.grid for a in row]
    assert not all(np.array_equal(a, b) for a, b in zip(side, shuffled, strict=True))

    with qtbot.assertNotEmitted(widget.shown, wait=200):
        state.set_train_config(TrainConfig(size=48, aug="side_on", lr=0.1))  # nothing the preview shows changed
    widget.shutdown()
