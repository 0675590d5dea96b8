"""The dataset maker window: make a dataset by typing, dropping and pasting; rename, delete, remove;
open it; the webcam with no camera and with a (fake) one."""

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox

from engine import camera
from engine import dataset_maker as dm
from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.jobs import run_to_end
from gui.dataset_maker import DatasetMaker
from gui.images import qimage_from_array
from tests.dnd import drop_mime, drop_urls, mime_for
from tests.test_camera import FakeCapture
from tests.training_data import COLOURS, write_image


@pytest.fixture
def maker(qtbot, settings):
    dialog = DatasetMaker(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    dialog.shutdown()


def type_and_press(qtbot, edit, text, button):
    edit.setText(text)
    qtbot.mouseClick(button, Qt.LeftButton)


def wait_added(qtbot, maker):
    qtbot.waitUntil(lambda: not maker.controller.adds.running and not maker.controller._queue, timeout=30000)


def picture(colour, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.array(colour) + rng.normal(0, 40, (28, 36, 3)), 0, 255).astype(np.uint8)


def make_two_classes(qtbot, maker, name="shapes"):
    view = maker.view
    type_and_press(qtbot, view.name_edit, name, view.create_button)
    for cls in ("red", "blue"):
        type_and_press(qtbot, view.classes.name_edit, cls, view.classes.add_button)
    return maker.controller.folder


def select(maker, name):
    tree = maker.view.classes.tree
    tree.setCurrentItem(
        next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).text(0) == name)
    )


def test_a_dataset_made_from_dropped_and_pasted_images_has_splits_and_trains(qtbot, maker, tmp_path):
    view = maker.view
    assert "Name a new dataset" in view.images.hint.text() and not view.open_button.isEnabled()
    folder = make_two_classes(qtbot, maker)
    assert folder == dm.datasets_root() / "shapes" and maker.windowTitle() == "Make a dataset — shapes"
    assert [view.classes.tree.topLevelItem(i).text(0) for i in range(2)] == ["blue", "red"]
    assert maker.controller.selected == "blue" and view.classes.name_edit.text() == ""

    own = [write_image(tmp_path / "mine" / f"b{i}.png", COLOURS["blue"], i) for i in range(6)]
    accepted = drop_urls(view.images.list.viewport(), own).isAccepted()
    assert accepted
    wait_added(qtbot, maker)
    assert "Added 6 images to 'blue'" in view.message.text()

    select(maker, "red")
    for seed in range(5):  # pasted pictures (Ctrl+V)
        QApplication.clipboard().setImage(qimage_from_array(picture(COLOURS["red"], seed)))
        qtbot.keyClick(view.images.list, Qt.Key_V, Qt.ControlModifier)
        wait_added(qtbot, maker)
    drop_mime(
        view.images.list.viewport(), mime_for(image=qimage_from_array(picture(COLOURS["red"], 99)))
    )  # a browser's picture
    wait_added(qtbot, maker)

    made = dm.read_dataset(folder)
    assert sum(made.counts()["blue"].values()) == 6 and sum(made.counts()["red"].values()) == 6
    assert all(made.counts()[c]["valid"] >= 1 for c in ("blue", "red"))
    assert view.summary.text() == made.summary()
    assert [(view.images.list.item(i).text()) for i in range(view.images.list.count())] == [
        s for _, s in made.class_named("red").images()
    ]
    assert all(p.exists() for p in own)  # originals stay

    dataset = scan_dataset(folder)
    assert dataset.classes == ["blue", "red"] and not dataset.problems and len(dataset.valid) >= 2
    from engine.training import Learner

    learner = Learner(dataset, TrainConfig(arch="tiny_cnn", size=32, epochs=1, precompute=True, device="cpu", bs=4))
    assert len(run_to_end(learner.fit())["history"]) == 1

    with qtbot.waitSignal(maker.openRequested) as opened:
        qtbot.mouseClick(view.open_button, Qt.LeftButton)
    assert opened.args == [str(folder)] and not maker.isVisible()


def test_rename_delete_and_remove(qtbot, maker, monkeypatch):
    view = maker.view
    folder = make_two_classes(qtbot, maker)
    select(maker, "red")
    view.sourcesAdded.emit([picture(COLOURS["red"], s) for s in range(4)])
    wait_added(qtbot, maker)

    qtbot.mouseClick(view.classes.rename_button, Qt.LeftButton)  # opens the inline editor
    editor = view.classes.tree.findChild(QLineEdit)
    editor.setText("crimson")
    qtbot.keyClick(editor, Qt.Key_Return)
    qtbot.waitUntil(lambda: [c.name for c in dm.read_dataset(folder).classes] == ["blue", "crimson"])
    assert maker.controller.selected == "crimson" and view.images.list.count() == 4

    view.classes.tree.currentItem().setText(0, "a/b")
    qtbot.waitUntil(lambda: "can't contain '/'" in view.message.text())
    assert view.classes.tree.currentItem().text(0) == "crimson"  # the refused name is not left in the list

    view.images.list.item(0).setSelected(True)
    view.images.list.item(1).setSelected(True)
    qtbot.mouseClick(view.images.remove_button, Qt.LeftButton)
    assert sum(dm.read_dataset(folder).counts()["crimson"].values()) == 2
    assert "Removed 2 images" in view.message.text() and view.images.list.count() == 2

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.No)
    qtbot.mouseClick(view.classes.delete_button, Qt.LeftButton)
    assert "crimson" in dm.read_dataset(folder).counts()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    qtbot.mouseClick(view.classes.delete_button, Qt.LeftButton)
    assert list(dm.read_dataset(folder).counts()) == ["blue"] and maker.controller.selected == "blue"


def test_what_is_not_an_image_is_refused_with_a_reason(qtbot, maker, tmp_path):
    view = maker.view
    make_two_classes(qtbot, maker)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    drop_urls(view.images.list.viewport(), [text])
    wait_added(qtbot, maker)
    assert "refused notes.png: not an image: text file" in view.message.text()
    drop_urls(view.images.list.viewport(), ["https://example.com/cat.jpg"])
    assert "can't be fetched" in view.message.text()
    QApplication.clipboard().setText("just words")
    view.paste()
    assert "No image to add" in view.message.text()
    assert dm.read_dataset(maker.controller.folder).image_count() == 0


def test_no_camera_says_so_and_the_buttons_are_off(qtbot, maker, monkeypatch):
    monkeypatch.setattr(camera, "_candidates", lambda: [])
    pane = maker.view.camera
    maker.view.tabs.setCurrentWidget(pane)  # looking starts when the tab is shown
    qtbot.waitUntil(lambda: pane.status.text() == camera.NO_CAMERA, timeout=10000)
    assert pane.status.text().startswith("No camera found")
    assert not pane.start_button.isEnabled() and not pane.capture_button.isEnabled()
    assert pane.look_button.isEnabled() and pane.look_button.text() == "Look again"


def test_a_webcam_picture_is_captured_into_the_class(qtbot, maker, monkeypatch):
    import cv2

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    monkeypatch.setattr(camera, "_candidates", lambda: [(0, "Fake cam")])
    folder = make_two_classes(qtbot, maker)
    pane = maker.view.camera
    maker.view.tabs.setCurrentWidget(pane)
    qtbot.waitUntil(lambda: pane.start_button.isEnabled(), timeout=10000)
    assert pane.cameras.currentText() == "Fake cam"
    qtbot.mouseClick(pane.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: maker.controller.frame is not None and pane.capture_button.isEnabled(), timeout=10000)
    qtbot.mouseClick(pane.capture_button, Qt.LeftButton)
    wait_added(qtbot, maker)
    (saved,) = [p for p, _ in dm.read_dataset(folder).class_named("blue").images()]
    assert Path(saved).suffix == ".png"
    maker.view.tabs.setCurrentWidget(maker.view.images)  # leaving the tab turns the camera off
    qtbot.waitUntil(lambda: not maker.controller.cameras.running, timeout=10000)
    assert pane.start_button.text() == "Start"


def test_the_new_window_parts_import_without_torch():
    import subprocess
    import sys

    code = (
        "import sys, gui.dataset_maker, gui.augment_preview, gui.dialogs\n"
        "print([m for m in ('torch', 'cv2') if m in sys.modules])\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # the window starts fast: torch and OpenCV load when a job needs them


def test_it_reopens_the_last_dataset_and_fits_a_small_screen(qtbot, settings):
    dm.create_dataset("apples")
    pears = dm.create_dataset("pears")
    first = DatasetMaker(settings)
    qtbot.addWidget(first)
    assert first.controller.folder.name == "apples"  # nothing remembered yet: the first by name
    first.view.datasetChosen.emit(str(pears))
    first.shutdown()
    again = DatasetMaker(settings)
    qtbot.addWidget(again)
    assert again.controller.folder == pears and again.view.datasets.currentText() == "pears"
    hint = again.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 576 - 40  # leaves room for a title bar
    again.shutdown()
