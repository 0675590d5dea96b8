"""The main window: quitting during a run, the current model at start, tab order and shortcuts, the next-step
banner, File ▸ New dataset, Qt's own arguments, the dark palette and a 1024×576 screen."""

import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QMessageBox

from tests.conftest import ROOT, SAMPLE, hold_slot


def wait_dataset(qtbot, win, name="sample"):
    qtbot.waitUntil(lambda: win.state.dataset is not None and win.state.dataset.root.name == name, timeout=20000)


def ask_close(win) -> bool:
    """Send the close event Ctrl+Q sends; True if the window let itself close."""
    event = QCloseEvent()
    win.closeEvent(event)
    return event.isAccepted()


# ---------------------------------------------------------------- quitting


def test_quitting_during_a_run_asks_and_no_keeps_it_running(window, monkeypatch):
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    hold_slot(window.learner_slot, "Train")
    assert not ask_close(window)
    assert len(asked) == 1 and "Training is running" in asked[0] and "epochs finished" in asked[0]
    assert window.learner_slot.running  # No: nothing was stopped
    window.learner_slot.cancel()
    window.learner_slot.job.wait(5)


def test_quitting_during_a_run_yes_stops_it(window, qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    job = hold_slot(window.learner_slot, "LR finder")
    assert "LR finder" in window.busy_reason()
    assert ask_close(window)
    assert job.wait(5)  # shut down: the job's thread has ended


def test_quitting_after_a_run_does_not_ask(window, qtbot, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("asked although nothing is lost")

    monkeypatch.setattr(QMessageBox, "question", never)
    job = hold_slot(window.learner_slot, "Train")
    window.learner_slot.cancel()
    qtbot.waitUntil(lambda: not window.learner_slot.running, timeout=5000)
    assert job.wait(5) and window.busy_reason() is None
    assert ask_close(window)


# ---------------------------------------------------------------- the current model at start


def test_the_current_model_loads_at_start_and_problems_are_reported(window, qtbot, tmp_path):
    """A current model whose file is gone: the pretrained model stays, and the status bar says why."""
    from engine.model_choice import set_current_model
    from engine.runs import RunStore

    set_current_model(RunStore(), {"path": str(tmp_path / "gone.pth")})
    messages = []
    window.state.statusMessage.connect(messages.append)
    job = window.load_current_model()
    qtbot.waitUntil(lambda: not job.running, timeout=20000)
    assert window.state.model is None
    assert any("gone.pth" in m and "pretrained" in m for m in messages), messages


def test_the_stored_current_model_becomes_the_app_model(window, qtbot, monkeypatch):
    import engine.model_choice

    stored = object()
    seen = []

    def stored_job(store, warm_up=True, stop=None):
        yield {"type": "loading", "what": "current model"}
        return {"run": 1, "which": "best"}, stored

    monkeypatch.setattr(engine.model_choice, "current_model_job", stored_job)
    monkeypatch.setattr(window.state, "set_model", seen.append)  # Classify's reaction is its own test
    job = window.load_current_model()
    qtbot.waitUntil(lambda: not job.running, timeout=20000)
    assert seen == [stored]


# ---------------------------------------------------------------- tabs, shortcuts, next step


def test_tabs_follow_the_lesson_and_view_shortcuts_show_them(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Data", "LR finder", "Train", "Classify", "Kernels"]
    for i, action in enumerate(window.tab_actions):
        assert action.shortcut() == QKeySequence(f"Ctrl+{i + 1}") and action.text() == titles[i]
        action.trigger()
        assert window.tabs.currentIndex() == i
        assert action.shortcut().toString(QKeySequence.NativeText) in action.toolTip()


def test_main_actions_have_shortcuts_shown_in_their_tooltips(window):
    for action in (window.act_open, window.act_new, window.act_sample, window._quit_act):
        keys = action.shortcut().toString(QKeySequence.NativeText)
        assert keys and keys in action.toolTip(), action.text()
    assert window.act_new.shortcut() == QKeySequence(QKeySequence.New)


def test_next_step_rule():
    from gui.guide import next_step

    assert next_step(False, False, False, False).key == "open"
    assert next_step(True, False, False, False).key == "LR finder"
    assert next_step(True, True, False, False).key == "Train"
    assert next_step(True, True, True, False).key == "Classify"
    assert next_step(True, False, True, True).button == "Export…"


def test_the_banner_follows_the_path_and_its_button_goes_there(window, qtbot, monkeypatch):
    banner = window.guide
    assert banner.isVisible() and banner.step.key == "open"
    chosen = []
    monkeypatch.setattr(window, "choose_dataset", lambda: chosen.append(True))
    qtbot.mouseClick(banner.button, Qt.LeftButton)
    assert chosen == [True]
    window.open_dataset(SAMPLE)
    wait_dataset(qtbot, window)
    assert banner.step.key == "LR finder" and "learning rate" in banner.label.text()
    qtbot.mouseClick(banner.button, Qt.LeftButton)
    assert window.tabs.currentWidget() is window.panels["LR finder"]
    window.state.set_lr_test_range((1e-7, 3.0))  # what the LR finder records when a test ends
    assert banner.step.key == "Train"
    window.open_dataset(SAMPLE.parent / "sample")  # the same folder again: the path starts over
    window.state.set_lr_test_range(None)  # as the LR finder does for a new dataset
    assert banner.step.key == "LR finder"
    window.state.set_lr_test_range((1e-7, 3.0))
    qtbot.mouseClick(banner.close_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not banner.isVisible())
    assert not window.act_guide.isChecked()
    assert window.settings.value("window/guide", type=bool) is False
    window.act_guide.setChecked(True)
    qtbot.waitUntil(banner.isVisible)


# ---------------------------------------------------------------- File ▸ New dataset


def test_new_dataset_opens_the_maker_and_what_it_makes_opens_here(window, qtbot):
    window.act_new.trigger()
    maker = window._maker
    assert maker is not None and maker.isVisible()
    maker.controller.openRequested.emit(str(SAMPLE))  # what its Open button does with the folder it made
    wait_dataset(qtbot, window)
    qtbot.waitUntil(lambda: window._maker is None, timeout=5000)  # closed and shut down


# ---------------------------------------------------------------- Qt's own arguments

SPY = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import gui.main_window as mw

def open_initial(self, dataset):
    print("DATASET", dataset)
    print("STYLE", QApplication.style().name())
    QTimer.singleShot(0, self.close)

mw.MainWindow.open_initial = open_initial
mw.MainWindow.load_current_model = lambda self: None
import main
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "args",
    [["-style", "fusion", "-platform", "offscreen", "DATA"], ["gui", "DATA", "-style", "fusion"]],
)
def test_qt_arguments_pass_through_and_the_dataset_is_still_read(args, tmp_path):
    args = [str(SAMPLE) if a == "DATA" else a for a in args]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FOVEA_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", SPY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"DATASET {SAMPLE}" in proc.stdout and "STYLE fusion" in proc.stdout, proc.stdout + proc.stderr


# ---------------------------------------------------------------- dark palette


@pytest.fixture
def dark(qapp):
    from gui.app import configure_pyqtgraph
    from gui.theme import dark_palette

    before = qapp.palette()
    qapp.setPalette(dark_palette())
    configure_pyqtgraph()
    yield
    qapp.setPalette(before)
    configure_pyqtgraph()


def test_data_kernels_and_banner_read_in_a_dark_palette(dark, qtbot, settings, monkeypatch):
    from gui.main_window import MainWindow
    from tests.contrast import low_contrast_texts

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Ok)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    try:
        assert low_contrast_texts(win.guide) == []
        win.open_dataset(SAMPLE)
        wait_dataset(qtbot, win)
        data = win.panels["Data"]
        assert low_contrast_texts(data) == []
        kernels = win.panels["Kernels"]
        win.tabs.setCurrentWidget(kernels)
        qtbot.waitUntil(lambda: kernels.controller.renders > 0, timeout=10000)
        assert low_contrast_texts(kernels) == []
        # picture panes and thumbnails follow the palette: no white left behind
        from gui import theme

        assert kernels.view.pictures.views.backgroundBrush().color() == theme.pane()
        placeholder = data.controller.model._loading.toImage().pixelColor(2, 2)
        assert placeholder.name() == theme.pane().name() and theme.is_dark()
    finally:
        win.shutdown()


# ---------------------------------------------------------------- a 1024×576 screen

FIT = """
import json, sys
from gui.app import make_app
app = make_app()
from gui.main_window import MainWindow
win = MainWindow()
screen = app.primaryScreen().availableGeometry()
win.resize(screen.width(), screen.height())
win.show()
app.processEvents()
out = {"screen": [screen.width(), screen.height()], "window": [win.width(), win.height()],
       "min": [win.minimumSizeHint().width(), win.minimumSizeHint().height()], "tabs": {}}
area = win.tabs.currentWidget().size()
for i in range(win.tabs.count()):
    win.tabs.setCurrentIndex(i)
    app.processEvents()
    hint = win.tabs.widget(i).minimumSizeHint()
    out["tabs"][win.tabs.tabText(i)] = [hint.width(), hint.height(), area.width(), area.height()]
win.shutdown()
print(json.dumps(out))
"""


@pytest.mark.parametrize("scale", [1, 2])
def test_the_window_fits_a_1024x576_screen(scale, tmp_path):
    config = tmp_path / "screen.json"
    physical = {"width": 1024 * scale, "height": 576 * scale}
    screen = {"name": "small", "x": 0, "y": 0, **physical, "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    config.write_text(json.dumps({"screens": [screen]}))
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
        "QT_SCALE_FACTOR": str(scale),
        "FOVEA_HOME": str(tmp_path / "home"),
    }
    proc = subprocess.run([sys.executable, "-c", FIT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["screen"] == [1024, 576]
    assert out["min"][0] <= 1024 and out["min"][1] <= 576, out
    assert out["window"] == [1024, 576], out
    for title, (w, h, area_w, area_h) in out["tabs"].items():
        assert w <= area_w and h <= area_h, (title, out["tabs"][title])


def test_files_the_data_tab_could_not_decode_are_left_out_of_train_counts(window, qtbot, tmp_path):
    from tests.training_data import make_dataset

    root = make_dataset(tmp_path / "ds", n_train=6, n_valid=2)
    bad = root / "train" / sorted(p.name for p in (root / "train").iterdir())[0] / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    window.open_dataset(root)
    wait_dataset(qtbot, window, "ds")
    train = window.panels["Train"]
    qtbot.waitUntil(lambda: str(bad) in train.controller.verified_bad, timeout=30000)


def test_train_warns_against_the_range_the_lr_finder_tested_and_shares_the_run_store(window):
    train, classify = window.panels["Train"], window.panels["Classify"]
    window.state.set_lr_test_range((1e-6, 0.05))
    assert train.controller.lr_range() == (1e-6, 0.05)
    assert train.store is window.store and classify.models.store is window.store
