"""Train tab: each rule is the engine's, so the form and the CLI agree (LR multipliers, how an LR reads);
the run controls stay put when a run starts; the tab builds without importing torch."""

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QLabel

import main
from engine import lr_curves
from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.paths import sample_dataset_dir
from gui.state import AppState
from gui.training import settings
from gui.training.panel import TrainingPanel
from gui.training.recipes import Recipe

ROOT = Path(__file__).resolve().parent.parent
MULTIPLIERS = [
    "0.01, 0.1, 1",
    "0,1,1",  # a first 0: the early layers stay frozen
    "0.5",  # one factor for every group
    "0.01;0.1;1",
    "0.01 0.1 1",
    "0.1,0,1",  # a frozen middle group
    "1,2",
    "0",
    "1,1,0",
    "-1,1,1",
    "nan,1,1",
    "a,b,c",
    "",
]


def cli_lr_mult(text: str):
    """What `main.py train --lr-mult=TEXT` makes of TEXT: (the multipliers, None) or (None, its error line)."""
    err = io.StringIO()
    argv = ["train", "some/dataset", "-o", "m.pth", f"--lr-mult={text}"]
    with contextlib.redirect_stderr(err):
        try:
            return main.build_parser().parse_args(argv).lr_mult, None
        except SystemExit:
            pass
    last = err.getvalue().strip().splitlines()[-1]
    prefix = "error: argument --lr-mult: "
    assert prefix in last, last
    return None, last.split(prefix, 1)[1]


@pytest.fixture(scope="module")
def sample():
    return scan_dataset(sample_dataset_dir())


@pytest.fixture
def panel(qtbot, sample):
    state = AppState()
    state.set_dataset(sample)
    p = TrainingPanel(state)
    p.set_recipe(Recipe("custom"))  # these tests are about the Custom form (hidden under Auto, the default)
    qtbot.addWidget(p)
    p.resize(1280, 820)
    p.show()
    yield p
    p.shutdown()


@pytest.mark.parametrize("text", MULTIPLIERS)
def test_form_and_cli_accept_and_refuse_the_same_multipliers(qtbot, panel, text):
    accepted, refused = cli_lr_mult(text)
    tuning = panel.view.tuning_box
    panel.view.data_box.precompute_check.setChecked(False)  # (else a second line says unfreezing needs that)
    tuning.unfreeze_check.setChecked(True)
    tuning.mult_edit.setText(text)
    tuning.mult_edit.editingFinished.emit()
    if accepted is not None:
        assert panel.state.train_config.lr_mult == accepted
        assert tuning.mult_note.text().startswith("Learning rates: early")
        return
    assert tuning.mult_note.text() == refused  # the same line, word for word
    panel.start()
    assert not panel.running
    assert panel.view.error_box is not None and panel.view.error_box.text() == refused


def test_cli_process_prints_the_forms_message(qtbot, panel):
    """The real command line, not just its parser: the same words as the form's note."""
    tuning = panel.view.tuning_box
    tuning.mult_edit.setText("1,2")
    tuning.mult_edit.editingFinished.emit()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", "x", "-o", "m.pth", "--lr-mult=1,2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(tuning.mult_note.text())


@pytest.mark.parametrize("lr", [1e-5, 2e-4, 3e-4, 1e-3, 0.0123, 0.5, 12.5])
def test_an_lr_reads_the_same_on_train_the_lr_finder_and_the_cli(qtbot, panel, lr):
    from gui.lr_finder import LRFinderPanel

    finder = LRFinderPanel(panel.state)
    qtbot.addWidget(finder)
    panel.state.set_lr(lr)
    text = lr_curves.format_lr(lr)
    assert panel.lr_edit.text() == text
    assert any(text in label.text() for label in finder.findChildren(QLabel))
    tuning = panel.view.tuning_box
    tuning.unfreeze_check.setChecked(True)
    assert f"head {text}" in tuning.mult_note.text()
    from engine.cli import lr_find

    assert lr_find.format_lr is lr_curves.format_lr  # what `main.py lr-find` prints
    finder.shutdown()


def test_one_multiplier_gives_every_group_that_factor(qtbot, panel):
    panel.state.set_lr(0.01)
    tuning = panel.view.tuning_box
    panel.view.data_box.precompute_check.setChecked(False)
    tuning.unfreeze_check.setChecked(True)
    tuning.mult_edit.setText("0.1")  # the CLI's --lr-mult 0.1
    tuning.mult_edit.editingFinished.emit()
    assert tuning.mult_note.text() == "Learning rates: early 0.001 · later 0.001 · head 0.001"


def test_form_keeps_hidden_settings_and_drops_weights_of_another_network():
    base = TrainConfig(seed=7, threads=2, weights_file="/w/r34.pth", arch="resnet34")
    values = dict(
        arch="resnet34", size=64, bs=16, precompute=False, aug="side_on", schedule="one_cycle", cycles_mode=True,
        epochs=2, cycles=3, cycle_len=1, cycle_mult=2, unfreeze=True, mult_text="0,1,1", opt="adamw", wd=0.1,
        frozen_views=2, tta=True,
    )  # fmt: skip
    state = settings.config_from_form(base, settings.FormValues(**values), lr=3e-3)
    c = state.config
    assert (c.seed, c.threads, c.weights_file, c.lr, c.lr_mult) == (7, 2, "/w/r34.pth", 3e-3, (0.0, 1.0, 1.0))
    assert c.cycles is None  # cycles need SGDR
    assert c.frozen_views == 2 and c.caches_frozen_layers()
    other = settings.config_from_form(base, settings.FormValues(**{**values, "arch": "resnet18"}), lr=3e-3)
    assert other.config.weights_file is None
    refused = settings.config_from_form(base, settings.FormValues(**{**values, "mult_text": "1,2"}), lr=3e-3)
    assert refused.mult_error and refused.config.frozen_views == 0 and not refused.views_apply


def test_start_and_cancel_stay_put_when_training_starts(qtbot, panel):
    """A click aimed at Cancel as the run starts must land on Cancel (the row used to move ~14 px)."""
    panel.set_config(TrainConfig(arch="tiny_cnn", size=32, bs=4, epochs=200, precompute=True))
    run = panel.view.run_box
    qtbot.waitExposed(panel)

    def where():
        qtbot.wait(20)  # let the layout settle
        return [(b.mapTo(panel, QPoint(0, 0)), b.size()) for b in (run.start_button, run.cancel_button)]

    before = where()
    panel.start()
    assert panel.running
    assert where() == before
    qtbot.waitUntil(lambda: "left" in run.eta_label.text() or not panel.running, timeout=30_000)
    assert where() == before
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    assert where() == before


def test_the_tab_builds_without_torch():
    """The window starts without importing torch: building this tab must not import it either."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from gui.state import AppState\n"
        "from gui.training import TrainingPanel\n"
        "TrainingPanel(AppState())\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"
