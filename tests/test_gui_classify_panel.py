"""The Classify tab: drops and pastes stream predictions, batch table + CSV, evaluation views, Grad-CAM."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from engine import inference as inf
from engine.data import scan_dataset
from engine.models import create_model
from gui.classify import ClassifyPanel
from gui.images import array_from_qimage, qimage_from_array
from gui.state import AppState
from tests.conftest import PHOTOS, SAMPLE
from tests.dnd import drop_urls

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def shoe_files(n=4, split="valid"):
    files = sorted((SAMPLE / split / "sneaker").glob("*.png"))[: n // 2]
    files += sorted((SAMPLE / split / "ankle_boot").glob("*.png"))[: n - n // 2]
    return [str(f) for f in files]


@pytest.fixture
def state():
    return AppState()


@pytest.fixture
def panel(qtbot, state):
    p = ClassifyPanel(state)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    yield p
    p.shutdown()


def use_model(qtbot, state, panel, classes=("ankle_boot", "sneaker")):
    model = create_model("tiny_cnn", list(classes), image_size=32)
    state.set_model(model)
    qtbot.waitUntil(
        lambda: (
            panel.current_entry().kind == "trained"
            and panel.current_model() is not None
            and panel.current_model().meta.classes == list(classes)
        ),
        timeout=10000,
    )
    assert panel.current_model() is not model, "the panel classifies with its own copy"
    assert "Trained in this session" in panel.view.model_bar.model_combo.currentText()
    return panel.current_model()


def wait_done(qtbot, panel, n, timeout=20000):
    qtbot.waitUntil(
        lambda: (
            panel.view.drop.results.count() == n
            and not panel.predicting
            and all(r.get("top") or r.get("error") for r in panel.result_records())
        ),
        timeout=timeout,
    )


def test_drop_event_with_several_files_fills_the_list_and_reports_the_bad_one(qtbot, state, panel, tmp_path):
    use_model(qtbot, state, panel)
    good = shoe_files(3)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    ev = drop_urls(panel, [good[0], bad, good[1], good[2]])
    assert ev.isAccepted()
    wait_done(qtbot, panel, 4)
    recs = panel.result_records()
    assert [r["name"] for r in recs] == [Path(good[0]).name, "broken.jpg", Path(good[1]).name, Path(good[2]).name]
    assert recs[1]["error"] and recs[1]["top"] == []
    for r in (recs[0], recs[2], recs[3]):
        assert r["error"] is None
        assert r["label"] in ("ankle_boot", "sneaker") and len(r["top"]) == 2
        assert r["ms_text"].endswith("ms · " + r["model"])
    assert panel.view.drop.results.item(0).data(Qt.DecorationRole) is not None  # thumbnail
    assert "Classified 3 images" in panel.view.drop.drop_status.text()
    assert "1 could not be read" in panel.view.drop.drop_status.text()
    assert panel.drop.last_first_result_ms is not None
    # the first good result was selected and shown large
    qtbot.waitUntil(lambda: panel.view.drop.detail.shown_array() is not None, timeout=10000)
    assert Path(good[0]).name in panel.view.drop.detail.title.text()


def test_window_drops_pasted_images_and_folders_arrive_through_state(qtbot, state, panel, tmp_path):
    use_model(qtbot, state, panel)
    folder = tmp_path / "shoes"
    folder.mkdir()
    for f in shoe_files(2):
        shutil.copy(f, folder)
    img = qimage_from_array(np.full((40, 60, 3), 200, np.uint8))
    state.imagesDropped.emit([str(folder), img])  # what MainWindow emits for non-dataset drops
    wait_done(qtbot, panel, 3)
    names = [r["name"] for r in panel.result_records()]
    assert names == sorted(Path(f).name for f in shoe_files(2)) + ["pasted image"]
    # paste from the clipboard (Ctrl+V)
    QGuiApplication.clipboard().setImage(qimage_from_array(np.zeros((30, 30, 3), np.uint8)))
    panel.paste()
    wait_done(qtbot, panel, 4)
    assert panel.result_records()[3]["name"] == "pasted image" and panel.result_records()[3]["top"]
    panel.drop.clear()
    assert panel.view.drop.results.count() == 0


def test_qimage_array_round_trip():
    arr = (np.random.default_rng(0).random((17, 23, 3)) * 255).astype(np.uint8)  # odd width: padded rows
    assert np.array_equal(array_from_qimage(qimage_from_array(arr)), arr)


def test_grad_cam_overlay_in_the_large_view(qtbot, state, panel):
    use_model(qtbot, state, panel)
    panel.classify([str(PHOTOS / "coffee.png")])
    wait_done(qtbot, panel, 1)
    detail = panel.view.drop.detail
    qtbot.waitUntil(lambda: detail.shown_array() is not None, timeout=10000)
    plain = detail.shown_array().copy()
    assert plain.shape[:2] == (400, 600)  # display copy of the 600×400 photo
    detail.cam.setChecked(True)
    qtbot.waitUntil(lambda: detail.showing_overlay(), timeout=10000)
    overlay = detail.shown_array()
    assert overlay.shape == plain.shape and not np.array_equal(overlay, plain)
    assert "evidence" in detail.explain.text()
    # outside the centre square (the model never saw it) the picture is dimmed
    assert overlay[:, :90].mean() < plain[:, :90].mean()


def test_batch_predict_table_sorting_and_csv_exports(qtbot, state, panel, tmp_path):
    use_model(qtbot, state, panel, classes=("cats", "dogs"))
    folder = tmp_path / "test"
    folder.mkdir()
    for name, src in zip(["3", "1", "2"], shoe_files(3, "train"), strict=False):
        shutil.copy(src, folder / f"{name}.png")
    (folder / "9.png").write_text("oops")
    panel.batch.predict_folder(str(folder))
    qtbot.waitUntil(lambda: panel.batch.predictions is not None and not panel.batch.running, timeout=20000)
    model = panel.view.batch.batch_table.model()
    assert model.rowCount() == 4
    cell = lambda r, c: model.index(r, c).data()  # noqa: E731
    assert [cell(r, 0) for r in range(4)] == ["1.png", "2.png", "3.png", "9.png"]
    notes = {cell(r, 0): cell(r, 3) for r in range(4)}
    assert notes["9.png"].startswith("not an image") and notes["1.png"] == ""
    assert cell(3, 1) == "—" and cell(3, 2) == "—" and cell(0, 1) in ("cats", "dogs") and cell(0, 2).endswith("%")
    # click-sort by probability, highest first; the unreadable file sinks to the bottom
    panel.view.batch.batch_table.sortByColumn(2, Qt.DescendingOrder)
    probs = [model.index(r, 2).data(Qt.UserRole + 3) for r in range(4)]
    assert probs == sorted(probs, reverse=True) and probs[-1] == -1.0
    assert cell(3, 0) == "9.png"
    # exports: exactly the engine's formats
    pred = panel.batch.predictions
    panel.batch.export_csv(str(tmp_path / "p.csv"))
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "file,class,probability" and len(lines) == 4
    first = pred.sources[0]
    assert lines[1] == f"{first},{pred.classes[int(pred.probs[0].argmax())]},{pred.probs[0].max():.6f}"
    assert panel.view.batch.kaggle_btn.isEnabled()
    panel.batch.export_kaggle(str(tmp_path / "k.csv"))
    dog = pred.probs[:, 1]
    idx = {Path(s).stem: i for i, s in enumerate(pred.sources)}
    assert (tmp_path / "k.csv").read_text() == (
        "id,label\n" + "".join(f"{k},{dog[idx[k]]:.6f}\n" for k in ("1", "2", "3")) + "9,0.500000\n"
    )


def test_kaggle_export_needs_a_dog_class(qtbot, state, panel, tmp_path):
    use_model(qtbot, state, panel)
    folder = tmp_path / "t"
    folder.mkdir()
    shutil.copy(shoe_files(1)[0], folder / "1.png")
    panel.batch.predict_folder(str(folder))
    qtbot.waitUntil(lambda: panel.batch.predictions is not None and not panel.batch.running, timeout=20000)
    assert panel.view.batch.export_btn.isEnabled() and not panel.view.batch.kaggle_btn.isEnabled()


def tiny_dataset(tmp_path, n=3):
    root = tmp_path / "shoes"
    for split in ("train", "valid"):
        for cls in ("ankle_boot", "sneaker"):
            d = root / split / cls
            d.mkdir(parents=True)
            for f in sorted((SAMPLE / split / cls).glob("*.png"))[:n]:
                shutil.copy(f, d)
    return scan_dataset(root)


def test_evaluation_enabled_only_for_matching_classes(qtbot, state, panel, tmp_path):
    ds = tiny_dataset(tmp_path)
    state.set_dataset(ds)
    assert (
        not panel.view.evaluate.metrics.eval_btn.isEnabled()
        and "needs a model trained on these classes" in panel.view.evaluate.metrics.eval_note.text()
    )
    use_model(qtbot, state, panel, classes=("cats", "dogs"))
    assert (
        not panel.view.evaluate.metrics.eval_btn.isEnabled()
        and "do not match" in panel.view.evaluate.metrics.eval_note.text()
    )
    use_model(qtbot, state, panel)
    assert panel.view.evaluate.metrics.eval_btn.isEnabled()
    panel.evaluate.start()
    qtbot.waitUntil(lambda: panel.evaluate.evaluation is not None and not panel.evaluate.running, timeout=20000)
    ev = panel.evaluate.evaluation
    assert len(ev.labels) == 6 and ev.confusion.sum() == 6
    assert panel.view.evaluate.metrics.matrix.rowCount() == 2 and panel.view.evaluate.metrics.matrix.item(
        0, 0
    ).text() == str(ev.confusion[0, 0])
    assert (
        f"{ev.accuracy * 100:.1f} %" in panel.view.evaluate.metrics.eval_summary.text()
        or "100 %" in panel.view.evaluate.metrics.eval_summary.text()
    )
    assert panel.view.evaluate.metrics.per_class.item(1, 0).text() == "sneaker"
    assert "Cross-entropy loss" in panel.view.evaluate.metrics.eval_note.text()  # the result's note is not overwritten
    # another model: the old evaluation is no longer shown
    use_model(qtbot, state, panel, classes=("cats", "dogs"))
    assert (
        panel.evaluate.evaluation is None
        and panel.view.evaluate.metrics.matrix.rowCount() == 0
        and panel.view.evaluate.metrics.eval_summary.text() == ""
    )


def test_confusion_cell_click_opens_exactly_those_images(qtbot, state, panel, tmp_path):
    model = use_model(qtbot, state, panel)
    files = shoe_files(6)  # 3 sneakers, then 3 ankle boots
    labels = [1, 1, 1, 0, 0, 0]
    probs = [
        [0.1, 0.9],
        [0.7, 0.3],
        [0.2, 0.8],  # sneaker #2 called ankle_boot
        [0.6, 0.4],
        [0.45, 0.55],
        [0.3, 0.7],
    ]  # ankle boots #5 and #6 called sneaker
    ev = inf.make_evaluation(["ankle_boot", "sneaker"], files, labels, probs)
    panel.evaluate.show_evaluation(ev, model)
    assert panel.view.evaluate.gallery.gallery_mode.currentData() == "incorrect"  # opens on the mistakes
    # click cell (true ankle_boot, predicted sneaker) with the mouse
    matrix = panel.view.evaluate.metrics.matrix
    panel.view.tabs.setCurrentIndex(2)
    panel.show()
    qtbot.waitExposed(panel)
    rect = matrix.visualItemRect(matrix.item(0, 1))
    qtbot.mouseClick(matrix.viewport(), Qt.LeftButton, pos=rect.center())
    assert panel.view.evaluate.gallery.gallery_mode.currentData() == "cell"
    assert panel.evaluate.gallery_paths() == [files[5], files[4]]  # exactly the cell, surest first
    assert "True ankle_boot, predicted sneaker" in panel.view.evaluate.gallery.gallery_title.text()
    panel.evaluate.show_cell(1, 0)
    assert panel.evaluate.gallery_paths() == [files[1]]
    panel.evaluate.show_cell(1, 1)
    assert panel.evaluate.gallery_paths() == [files[0], files[2]]
    # the lesson's galleries
    panel.view.evaluate.gallery.gallery_mode.setCurrentIndex(
        panel.view.evaluate.gallery.gallery_mode.findData("correct")
    )
    panel.view.evaluate.gallery.gallery_class.setCurrentIndex(1)
    assert panel.evaluate.gallery_paths() == [files[0], files[2]]  # most confident first
    panel.view.evaluate.gallery.gallery_mode.setCurrentIndex(
        panel.view.evaluate.gallery.gallery_mode.findData("uncertain")
    )
    panel.view.evaluate.gallery.gallery_class.setCurrentIndex(0)
    assert panel.evaluate.gallery_paths()[0] == files[4]  # 0.45 vs 0.55
    blank = panel.view.evaluate.gallery.blank_icon.cacheKey()
    qtbot.waitUntil(lambda: panel.view.evaluate.gallery.gallery.item(0).icon().cacheKey() != blank, timeout=10000)
    # a gallery image opens in the large view with its true class
    panel.view.evaluate.gallery.gallery.setCurrentRow(0)
    qtbot.waitUntil(lambda: panel.view.evaluate.detail.shown_array() is not None, timeout=10000)
    assert "true class ankle_boot" in panel.view.evaluate.detail.title.text()


@pytest.mark.slow
def test_imagenet_model_before_training_names_the_cat(qtbot, state, panel):
    assert panel.current_entry().kind == "imagenet" and "1,000" in panel.view.model_bar.model_info.text()
    panel.classify([str(PHOTOS / "chelsea.png")])
    wait_done(qtbot, panel, 1, timeout=60000)
    rec = panel.result_records()[0]
    assert rec["label"] in CAT_CLASSES and rec["model"] == "ImageNet"
    assert not panel.view.evaluate.metrics.eval_btn.isEnabled()


def test_drops_on_the_main_window_reach_the_classify_tab(qtbot, settings, tmp_path):
    from gui.main_window import MainWindow

    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    try:
        panel = window.panels["Classify"]
        use_model(qtbot, window.state, panel)
        folder = tmp_path / "photos"  # a plain folder of images, not a dataset
        folder.mkdir()
        for f in shoe_files(2):
            shutil.copy(f, folder)
        ev = drop_urls(window, [shoe_files(4)[3], folder])
        assert ev.isAccepted()
        assert window.tabs.currentWidget() is panel
        wait_done(qtbot, panel, 3)
        assert [r["name"] for r in panel.result_records()] == [Path(shoe_files(4)[3]).name] + sorted(
            Path(f).name for f in shoe_files(2)
        )
        assert all(r["label"] in ("ankle_boot", "sneaker") for r in panel.result_records())
    finally:
        window.shutdown()


def hold_predictions(monkeypatch) -> dict:
    """Make predict_sources give its real rows, then stay running (a long job) until it is stopped.

    Returns {name: threading.Event}: add an event under the name of a job's first source (a folder
    or file name) to hold that job; it is set once all its rows are emitted (queued, none delivered)."""
    import threading

    from engine.jobs import check

    real = inf.predict_sources
    emitted: dict[str, threading.Event] = {}

    def held(model, sources, *args, stop=None, **kwargs):
        pred = yield from real(model, sources, *args, stop=stop, **kwargs)
        done = emitted.get(Path(sources[0]).name)
        if done is None:
            return pred  # not a held job
        done.set()
        while not stop.wait(0.01):
            pass
        check(stop)
        return pred

    monkeypatch.setattr(inf, "predict_sources", held)
    return emitted


def test_a_new_batch_while_one_runs_is_not_cleared_or_mixed_by_the_old_one(qtbot, state, panel, tmp_path, monkeypatch):
    """Regression (issue 12): the superseded batch's queued rows and its end must not reach the new batch."""
    import threading

    use_model(qtbot, state, panel)
    emitted = hold_predictions(monkeypatch)
    folders = {}
    for name, files in (("first", shoe_files(4, "train")), ("second", shoe_files(2, "valid"))):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for i, f in enumerate(files):
            shutil.copy(f, folders[name] / f"{name}{i}.png")
        emitted[name] = threading.Event()

    panel.batch.predict_folder(str(folders["first"]))
    assert emitted["first"].wait(20)  # the first batch's rows and progress are queued, not yet shown
    panel.batch.predict_folder(str(folders["second"]))  # a new batch while the first still runs
    assert emitted["second"].wait(20)
    qtbot.wait(200)  # deliver everything queued: the first batch's late signals, then the second's
    model = panel.view.batch.batch_table.model()
    names = sorted(model.index(r, 0).data() for r in range(model.rowCount()))
    assert names == ["second0.png", "second1.png"], "only the running batch's rows are in the table"
    assert panel.view.batch.batch_stop.isEnabled(), "the running batch can still be stopped"
    assert "second" in panel.view.batch.batch_folder.text()
    qtbot.mouseClick(panel.view.batch.batch_stop, Qt.LeftButton)
    qtbot.waitUntil(lambda: not panel.view.batch.batch_stop.isEnabled(), timeout=10000)
    assert panel.view.batch.batch_summary.text() == "Stopped after 2 images."


def test_clearing_the_list_while_a_drop_is_predicted_keeps_it_empty(qtbot, state, panel, tmp_path, monkeypatch):
    """The cleared job's queued rows, status and end must not come back (JobSlot.drop)."""
    import threading

    use_model(qtbot, state, panel)
    emitted = hold_predictions(monkeypatch)
    folder = tmp_path / "drop"
    folder.mkdir()
    for f in shoe_files(3):
        shutil.copy(f, folder)
    emitted["drop"] = threading.Event()
    panel.classify([str(folder)])
    assert emitted["drop"].wait(20)  # its rows are queued, not yet shown
    panel.drop.clear()
    qtbot.wait(200)
    assert panel.view.drop.results.count() == 0 and panel.result_records() == []
    assert panel.view.drop.drop_status.text() == "" and not panel.predicting
    # the list works as before afterwards
    panel.classify(shoe_files(1))
    wait_done(qtbot, panel, 1)
    assert panel.result_records()[0]["label"] in ("ankle_boot", "sneaker")
