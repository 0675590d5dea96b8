"""Train tab ▸ Run history: damaged history files are skipped and reported once; the tab still opens, fast."""

import os
import time

import pytest

from engine import run_history as rh
from gui.state import AppState
from gui.training.panel import TrainingPanel
from tests.test_run_history import ATTACKS, a_run, write

GUI_ATTACKS = ["empty settings", "a string among the metrics", "integer created", "float cycles, cycle_mult 10"]
GUI_ATTACKS += ["a million cycles ×10", "text epoch", "text in the losses"]
BAD = "20990101T000000-bad.json"


def points(item) -> int:
    x, _ = item.getData()
    return 0 if x is None else len(x)


def open_tab(qtbot) -> tuple[TrainingPanel, list[str], float]:
    state = AppState()
    messages = []
    state.statusMessage.connect(messages.append)
    t0 = time.perf_counter()
    panel = TrainingPanel(state)
    elapsed = time.perf_counter() - t0
    qtbot.addWidget(panel)
    return panel, messages, elapsed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", GUI_ATTACKS)
def test_tab_opens_past_a_damaged_history_file(qtbot, name):
    rh.save_run(a_run())
    write(BAD, ATTACKS[name][0])
    panel, messages, elapsed = open_tab(qtbot)
    assert elapsed < 5  # was: a traceback, or 100 s at full CPU for cycles × cycle_mult
    history = panel.view.history
    assert history.count() == 1 and "tiny_cnn" in history.item(0).text()
    reports = [m for m in messages if "damaged" in m]
    assert len(reports) == 1 and BAD in reports[0]  # reported once, naming the file
    assert panel.view.history_note.isVisibleTo(panel) and BAD in panel.view.history_note.text()
    history.item(0).setSelected(True)  # the good run still overlays
    assert points(panel.view.charts.compare_items[0]["valid"]) == 2
    assert points(panel.view.charts.compare_items[0]["batch"]) == rh.MAX_SAVED_POINTS
    panel.shutdown()


@pytest.mark.timeout(60)
def test_tab_opens_past_a_fifo_and_absurd_nesting(qtbot):
    folder = rh.runs_dir()
    os.mkfifo(folder / "fifo.json")  # reading it would block the window for ever
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    panel, messages, _ = open_tab(qtbot)
    assert panel.view.history.count() == 0
    assert "skipped 2 damaged files" in panel.view.history_note.text()
    assert sum("damaged" in m for m in messages) == 1
    panel.shutdown()


def test_no_note_without_damage(qtbot):
    rh.save_run(a_run())
    panel, messages, _ = open_tab(qtbot)
    assert panel.view.history.count() == 1
    assert not panel.view.history_note.isVisibleTo(panel) and not any("damaged" in m for m in messages)
    panel.shutdown()
