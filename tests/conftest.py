"""Shared fixtures: offscreen Qt, a private per-user folder, and no leaked job threads."""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FOVEA_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402

from engine.jobs import live_jobs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"
PHOTOS = ROOT / "resources" / "photos"


@pytest.fixture(autouse=True)
def fovea_home(tmp_path_factory, monkeypatch):
    """Every test gets its own cache/data folder (FOVEA_HOME) and QSettings file."""
    home = tmp_path_factory.mktemp("fovea_home")
    monkeypatch.setenv("FOVEA_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))  # no cached ResNet weights: offline paths are tested
    return home


@pytest.fixture(autouse=True)
def no_leaked_jobs():
    """Fail any test that leaves an engine job thread running."""
    yield
    left = [j for j in live_jobs() if not j.wait(10)]
    assert not left, f"job threads left running: {[j.name for j in left]}"


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "fovea.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings, monkeypatch):
    """The main window, shown, with warnings answered OK; shut down afterwards."""
    from PySide6.QtWidgets import QMessageBox

    from gui.app import configure_pyqtgraph
    from gui.main_window import MainWindow

    configure_pyqtgraph()
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Ok)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home with a Documents folder, and a working directory elsewhere (like a source checkout)."""
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    return home


def wait_until_stopped(stop=None):
    """A job that holds its slot until it is cancelled."""
    from engine.jobs import check

    while True:
        check(stop)  # raises Cancelled once the slot cancels it
        yield {"type": "waiting"}
        stop.wait(0.01)


def hold_slot(slot, owner: str):
    """Occupy a gui.jobs.JobSlot as ``owner`` would (the caller cancels it)."""
    return slot.start(wait_until_stopped, owner=owner)
