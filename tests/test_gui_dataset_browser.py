"""Main window + dataset browser, offscreen: sample, thumbnails, drops, Problems view, recent list."""

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QMessageBox

from engine.data import Problem, scan_dataset
from tests.conftest import SAMPLE
from tests.dnd import drop_urls
from tests.zoo import BAD, build_zoo


def browser_of(win):
    return win.panels["Data"]


def wait_dataset(qtbot, win, name):
    qtbot.waitUntil(
        lambda: browser_of(win).controller.dataset is not None and browser_of(win).controller.dataset.root.name == name,
        timeout=20000,
    )


def test_opens_sample_by_default_with_counts_and_thumbnails(qtbot, window):
    window.open_initial(None)
    wait_dataset(qtbot, window, "sample")
    b = browser_of(window)
    rows = {
        b.view.classes.tree.topLevelItem(i).text(0): (
            b.view.classes.tree.topLevelItem(i).text(1),
            b.view.classes.tree.topLevelItem(i).text(2),
        )
        for i in range(b.view.classes.tree.topLevelItemCount())
    }
    assert rows["ankle_boot"] == ("100", "50") and rows["sneaker"] == ("100", "50")
    assert b.controller.model.rowCount() == 200
    qtbot.waitUntil(lambda: b.controller.model.loaded_count() >= 10, timeout=20000)
    pm = b.controller.model.data(b.controller.model.index(0), Qt.DecorationRole)
    assert pm.width() == 128 and not pm.isNull()
    qtbot.waitUntil(lambda: b.controller.verify_state == "done", timeout=20000)
    assert b.view.tabs.tabText(1) == "Problems (none)"
    assert "200 train" in window._status.text() and "100 valid" in window._status.text()
    # filter by class and split
    b.view.classes.tree.setCurrentItem(b.view.classes.tree.topLevelItem(2))
    b.view.classes.split.setCurrentIndex(1)
    assert b.controller.model.rowCount() == 50
    assert all(cls == "sneaker" and split == "valid" for _, cls, split in b.controller.model.rows)
    b.view.classes.split.setCurrentIndex(2)
    b.view.classes.tree.setCurrentItem(b.view.classes.tree.topLevelItem(0))
    assert b.controller.model.rowCount() == 20


def test_drop_a_folder_opens_it_and_problems_view_lists_every_bad_file(qtbot, window, tmp_path):
    zoo = build_zoo(tmp_path / "zoo")
    accepted = drop_urls(window, [zoo]).isAccepted()
    assert accepted
    wait_dataset(qtbot, window, "zoo")
    b = browser_of(window)
    qtbot.waitUntil(lambda: b.controller.verify_state == "done", timeout=30000)
    shown = {
        b.view.problems.item(r, 0).text(): b.view.problems.item(r, 2).text() for r in range(b.view.problems.rowCount())
    }
    for rel, fragment in BAD.items():
        assert rel in shown, rel
        assert fragment.lower() in shown[rel].lower()
    assert b.view.tabs.tabText(1) == f"Problems ({len(BAD)})"
    assert window._status.text().endswith(f"· {len(BAD)} problems")  # the status bar counts them all
    # a bad image found by verification is marked in the grid too
    b.view.classes.split.setCurrentIndex(0)
    row = next(i for i, r in enumerate(b.controller.model.rows) if r[0].endswith("truncated.jpg"))
    tip = b.controller.model.data(b.controller.model.index(row), Qt.ToolTipRole)
    assert "truncated" in tip
    assert str(zoo.resolve()) in window.recent()


def test_not_a_dataset_is_named_in_problems_view(qtbot, window, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    window.open_dataset(f)
    b = browser_of(window)
    qtbot.waitUntil(lambda: b.view.problems.rowCount() == 1, timeout=10000)
    assert "is a file" in b.view.problems.item(0, 2).text()
    assert b.view.tabs.currentWidget() is b.view.problems


def test_a_failed_open_keeps_the_open_dataset(qtbot, window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _w, title, text: shown.append(text) or QMessageBox.Ok)
    window.open_dataset(SAMPLE)
    wait_dataset(qtbot, window, "sample")
    window.open_dataset(tmp_path)  # a folder without train/
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert shown[0].startswith(f"{tmp_path} has no train/ folder")  # no "DatasetError:" prefix
    b = browser_of(window)
    assert window.state.dataset.root.name == "sample" and b.controller.dataset is window.state.dataset
    assert b.controller.model.rowCount() > 0 and b.view.problems.rowCount() == 0
    assert window.windowTitle() == "sample — Fovea"
    assert "still showing" in window._status.text()


def test_a_new_dataset_drops_what_the_old_verification_still_sends(qtbot, window, monkeypatch):
    import gui.dataset.controller as controller

    first, second = scan_dataset(SAMPLE), scan_dataset(SAMPLE)

    def verify(dataset, stop=None):
        """Finds a problem every few ms in the first dataset, and one more after being told to stop."""
        n = 0
        while dataset is first:
            n += 1
            yield {"done": n, "total": 10_000, "new_problems": [Problem(f"/old/{n}.jpg", "old dataset", "train")]}
            if stop.is_set():
                return []
            time.sleep(0.005)
        yield {"done": 0, "total": 0, "new_problems": []}
        return []

    monkeypatch.setattr(controller, "verify_dataset", verify)
    monkeypatch.setattr(controller, "VERIFY_DELAY_S", 0)
    b = browser_of(window)
    window.state.set_dataset(first)
    qtbot.waitUntil(lambda: b.view.problems.rowCount() >= 3, timeout=10000)
    window.state.set_dataset(second)
    qtbot.waitUntil(lambda: b.controller.verify_state == "done", timeout=10000)
    qtbot.wait(100)  # anything the old job sent is delivered by now
    assert b.view.problems.rowCount() == 0 and b.view.tabs.tabText(1) == "Problems (none)"
    assert b.controller.bad == [] and b.controller.dataset is second


def test_double_click_shows_full_image_with_info(qtbot, window):
    window.open_dataset(SAMPLE)
    wait_dataset(qtbot, window, "sample")
    b = browser_of(window)
    dlg = b.open_image(0)
    qtbot.waitUntil(lambda: dlg.info["Size"].text() != "…", timeout=10000)
    assert dlg.info["Size"].text() == "64 × 64 px"
    assert dlg.info["Mode"].text() == "RGB" and dlg.info["Class"].text() == "ankle_boot"
    assert dlg.image_label.pixmap().width() >= 256
    dlg.done(QDialog.Accepted)


def test_geometry_and_recent_are_remembered(qtbot, settings, tmp_path, monkeypatch):
    from gui.main_window import MainWindow

    zoo = build_zoo(tmp_path / "zoo")
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    win.resize(780, 580)
    win.open_dataset(zoo)
    qtbot.waitUntil(lambda: win.recent() == [str(zoo.resolve())], timeout=10000)
    win.close()
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    assert (again.size().width(), again.size().height()) == (780, 580)
    assert again.recent_menu.actions()[0].text() == str(zoo.resolve())
    again.open_initial(None)
    qtbot.waitUntil(lambda: again.state.dataset is not None, timeout=10000)
    assert again.state.dataset.root.name == "zoo"
    again.shutdown()


def test_install_desktop_entry(tmp_path, monkeypatch):
    from engine.cli.desktop import install_desktop_entry

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    entry = install_desktop_entry()
    text = entry.read_text()
    assert entry == tmp_path / "applications" / "fovea.desktop"
    assert "Exec=" in text and "main.py" in text and "Type=Application" in text
    icon = Path(text.split("Icon=")[1].splitlines()[0])
    assert icon.exists() and icon.stat().st_size > 1000


def _dialogs(b):
    from gui.dataset.image_dialog import ImageDialog

    return [d for d in b.view.findChildren(ImageDialog) if d.isVisible()]


def test_enter_on_a_thumbnail_opens_its_full_view(qtbot, window):
    from PySide6.QtTest import QTest

    window.open_dataset(SAMPLE)
    wait_dataset(qtbot, window, "sample")
    b = browser_of(window)
    grid = b.view.grid
    grid.setFocus()
    grid.setCurrentIndex(b.controller.model.index(3))
    QTest.keyClick(grid, Qt.Key_Return)
    qtbot.waitUntil(lambda: len(_dialogs(b)) == 1, timeout=5000)
    dialog = _dialogs(b)[0]
    assert dialog.path == b.controller.model.rows[3][0]
    dialog.done(QDialog.Accepted)


def test_the_verification_count_is_never_clipped(qtbot, window):
    window.resize(1024, 576)
    view = browser_of(window).view
    view.show_verify_progress(0, 25000)
    qtbot.wait(50)
    label = view.verify_label
    assert label.isVisible() and label.text() == "Verifying images 0 / 25000"
    assert not view.verify_bar.isTextVisible()  # the bar's own text was clipped to "Verifying images 0 /"
    widest = label.fontMetrics().horizontalAdvance("Verifying images 25000 / 25000")
    assert label.width() >= widest
    view.show_verify_progress(None)
    assert not label.isVisible() and not view.verify_bar.isVisible()


def test_a_new_dataset_opens_on_its_images_and_a_problem_row_opens_its_file(qtbot, window, tmp_path):
    from PySide6.QtTest import QTest

    zoo = build_zoo(tmp_path / "zoo")
    window.open_dataset(zoo)
    wait_dataset(qtbot, window, "zoo")
    b = browser_of(window)
    table = b.view.problems
    qtbot.waitUntil(lambda: table.rowCount() >= len(BAD), timeout=20000)
    b.view.tabs.setCurrentWidget(table)
    qtbot.waitUntil(lambda: table.viewport().isVisible() and table.viewport().height() > 100)
    row = next(r for r in range(table.rowCount()) if Path(table.item(r, 0).toolTip()).is_file())
    path = table.item(row, 0).toolTip()
    table.scrollToItem(table.item(row, 0))
    rect = table.visualItemRect(table.item(row, 0))
    QTest.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())
    QTest.mouseDClick(table.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: len(_dialogs(b)) == 1, timeout=5000)
    dialog = _dialogs(b)[0]
    assert dialog.path == path
    qtbot.waitUntil(lambda: dialog.info["Size"].text() != "…" or "Cannot" in dialog.image_label.text(), timeout=5000)
    dialog.done(QDialog.Accepted)
    window.open_dataset(SAMPLE)
    wait_dataset(qtbot, window, "sample")
    assert b.view.tabs.currentWidget() is b.view.grid  # not the previous dataset's Problems


def test_the_desktop_entry_names_the_window_class_qt_sets(tmp_path, monkeypatch, qapp):
    """X11's WM_CLASS class is the application name; Wayland's app id is the desktop file name."""
    from PySide6.QtGui import QGuiApplication

    from engine.cli.desktop import install_desktop_entry
    from gui.app import make_app

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    make_app()
    entry = install_desktop_entry()
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["StartupWMClass"] == QGuiApplication.applicationName() == "Fovea"
    assert entry.stem == QGuiApplication.desktopFileName()


def test_the_title_names_the_dataset_and_the_app_once(qtbot, window, qapp):
    """Qt appends the display name unless the title already ends with it ("Fovea — sample — Fovea")."""
    from gui.app import make_app

    make_app()
    name = qapp.applicationDisplayName()
    window.open_dataset(SAMPLE)
    wait_dataset(qtbot, window, "sample")
    title = window.windowTitle()
    assert title == f"sample — {name}" and title.endswith(name) and title.count(name) == 1
