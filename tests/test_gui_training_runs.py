"""Train tab, issues 13–15: the current model (New, Revert, Use), divergence, the LR confirmation, the store
that cannot be written, training in several processes and the cluster command, and the form's help,
shortcuts, preview, counts, size and colours."""

import re
import sys
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QWidget

from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.paths import sample_dataset_dir
from engine.run_rules import Diverged
from engine.runs import RunStore
from engine.training import Learner
from gui import theme
from gui.state import AppState
from gui.training import dialogs
from gui.training.panel import TrainingPanel
from gui.training.recipes import Recipe
from tests.contrast import low_contrast_texts

SAMPLE = sample_dataset_dir()
FAST = dict(arch="tiny_cnn", size=32, bs=32, precompute=True)


@pytest.fixture(scope="module")
def sample():
    return scan_dataset(SAMPLE)


def make_panel(qtbot, sample, **kw) -> TrainingPanel:
    state = AppState()
    state.set_dataset(sample)
    p = TrainingPanel(state, **kw)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    return p


@pytest.fixture
def panel(qtbot, sample):
    p = make_panel(qtbot, sample)
    yield p
    p.shutdown()


def run_to_end(qtbot, panel, timeout=60_000):
    panel.start()
    assert panel.running
    qtbot.waitUntil(
        lambda: not panel.running and panel.start_button.isEnabled() and not panel.charts_drawing, timeout=timeout
    )


def weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_empty_states_say_the_next_step(qtbot, sample):
    p = TrainingPanel(AppState())
    qtbot.addWidget(p)
    assert "open one" in p.status_label.text() and "File ▸ Open" in p.view.model_bar.hint.text()
    p.state.set_dataset(sample)
    assert "find a learning rate" in p.view.model_bar.hint.text() and "then Train" in p.view.model_bar.hint.text()
    assert "none yet" in p.view.model_bar.label.text()
    assert not p.view.model_bar.new_button.isEnabled() and not p.view.model_bar.revert_button.isEnabled()
    p.shutdown()


def test_divergence_keeps_the_previous_model_and_says_what_to_do(qtbot, panel, monkeypatch):
    panel.set_config(TrainConfig(epochs=1, lr=1e-2, **FAST))
    run_to_end(qtbot, panel)
    learner, model = panel.state.learner, panel.state.model
    before, label = weights(model), panel.view.model_bar.label.text()

    def exploding_fit(self, stop=None):
        yield {"type": "batch", "epoch": 0.0, "iteration": 0, "loss": 1e31, "lr": 10.0}
        with torch.no_grad():
            for p in self.model.parameters():
                p.add_(1.0)  # the blown-up step the engine must undo
        raise Diverged(0, float("inf"), 10.0)

    monkeypatch.setattr(Learner, "fit", exploding_fit)
    run_to_end(qtbot, panel)
    assert panel.view.run_box.progress.format() == "Diverged"
    text = panel.view.error_box.text()
    assert "diverged" in text and "Lower the learning rate" in text and "LR finder" in text
    assert "previous model is still the current one" in panel.status_label.text()
    assert panel.state.learner is learner and panel.state.model is model and same(before, weights(model))
    assert panel.view.model_bar.label.text() == label
    assert panel.view.history.count() == 2 and panel.view.history.item(0).text().endswith("diverged")


def test_a_risky_learning_rate_asks_first(qtbot, sample, monkeypatch):
    asked = []
    answer = [False]
    monkeypatch.setattr(dialogs, "confirm_lr", lambda parent, text: (asked.append(text), answer[0])[1])
    p = make_panel(qtbot, sample, lr_range=lambda: (1e-5, 1e-2))
    p.set_config(TrainConfig(epochs=1, lr=2.0, **FAST))
    p.start()
    assert not p.running and "1 or more" in asked[-1] and "Not started" in p.status_label.text()
    p.set_config(TrainConfig(epochs=1, lr=0.05, **FAST))  # above what the LR finder tested
    p.start()
    assert not p.running and "above what the LR finder tested" in asked[-1]
    p.set_config(TrainConfig(epochs=1, lr=0.005, **FAST))  # inside it: no question
    answer[0] = True
    n = len(asked)
    run_to_end(qtbot, p)
    assert len(asked) == n
    p.shutdown()


def test_revert_use_and_new_model_keep_classify_and_the_store_together(qtbot, panel):
    store = RunStore()
    panel.set_config(TrainConfig(epochs=3, lr=0.05, **FAST))
    run_to_end(qtbot, panel)
    learner = panel.state.learner
    first = learner.weights_from["run"]
    rec = store.get(first)
    assert panel.view.model_bar.revert_button.isEnabled()
    qtbot.mouseClick(panel.view.model_bar.revert_button, Qt.LeftButton)
    assert learner.weights_from["epoch"] == rec["best"]["epoch"]
    assert f"epoch {rec['best']['epoch']} (best" in panel.view.model_bar.label.text()
    assert panel.state.model is learner.model and store.state.current() == {"run": first, "which": "best"}

    qtbot.mouseClick(panel.view.model_bar.new_button, Qt.LeftButton)
    assert panel.state.learner is None and "none yet" in panel.view.model_bar.label.text()
    panel.set_config(TrainConfig(epochs=1, lr=1e-2, **{**FAST, "size": 64}))
    run_to_end(qtbot, panel)
    second = panel.state.learner.weights_from["run"]
    assert second != first and panel.state.learner is not learner

    # Use run 1's model from the history: its settings come back, and Start continues it
    row = panel.view.history.run_ids().index(first)
    panel.view.history.item(row).setSelected(True)
    use = panel.view.history.menu_actions([first])[0]
    use.trigger()
    now = panel.state.learner
    assert now.weights_from["run"] == first and now.weights_from["epoch"] == rec["best"]["epoch"]
    assert panel.view.model_box.size_spin.value() == 32 and panel.state.model is now.model
    assert store.state.current() == {"run": first, "which": "best"}
    assert panel.start_button.text() == "Continue training" and panel.view.run_box.new_model_note.isHidden()


def test_a_run_other_processes_trained_becomes_the_current_model_at_its_last_epoch(qtbot, panel, sample):
    store = RunStore()
    panel.set_config(TrainConfig(epochs=2, lr=0.05, **FAST))
    run_to_end(qtbot, panel)
    run = panel.state.learner.weights_from["run"]
    qtbot.mouseClick(panel.view.model_bar.new_button, Qt.LeftButton)
    assert panel.state.learner is None
    panel.controller.current.adopt_run(run, sample)  # what a launched run's end does with the run it stored
    now = panel.state.learner
    assert now.weights_from["run"] == run and now.weights_from["epoch"] == store.get(run)["last"]["epoch"]
    assert panel.state.model is now.model and store.state.current() == {"run": run, "which": "last"}
    panel.controller.current.adopt_run(run + 100, sample)  # gone: said, and the model stays
    assert "could not be loaded" in panel.status_label.text() and panel.state.learner is now


def test_a_store_that_cannot_be_written_is_said_once_and_training_goes_on(qtbot, sample, tmp_path):
    blocked = tmp_path / "store"
    blocked.write_text("a file where the store's folder should be")
    messages = []
    p = make_panel(qtbot, sample, store=RunStore(blocked))
    p.state.statusMessage.connect(messages.append)
    p.set_config(TrainConfig(epochs=2, lr=1e-2, **FAST))
    run_to_end(qtbot, p)
    assert sum("not being recorded" in m for m in messages) == 1
    assert p.state.model is not None and p.view.epoch_table.rowCount() == 2
    assert "Trained" in p.status_label.text()
    p.shutdown()


FAKE_LAUNCH = """
import json, sys
for e in (1, 2):
    print(json.dumps({"run": None, "epoch": e, "train_loss": 0.5 / e, "valid_loss": 0.4 / e,
                      "accuracy": 0.7 + e / 10, "seconds": 0.1, "phase": "precomputed"}), flush=True)
print("a stray line that is not JSON")
print(json.dumps({"run": None, "model": None, "accuracy": 0.9, "valid_loss": 0.2, "tta": False, "epochs": 2}))
"""


def test_processes_with_two_gpus_run_the_launcher_into_the_charts(qtbot, sample, monkeypatch):
    import engine.cli.launch as launch
    import engine.distributed as distributed

    monkeypatch.setattr(distributed, "local_gpu_count", lambda: 1)
    one = make_panel(qtbot, sample)
    assert one.view.run_box.procs_spin.isHidden()  # one GPU (or none): no choice to make
    one.shutdown()

    monkeypatch.setattr(distributed, "local_gpu_count", lambda: 2)
    commands = []
    monkeypatch.setattr(
        launch,
        "train_command",
        lambda config, ds, out, n: commands.append((config, ds, n)) or [sys.executable, "-c", FAKE_LAUNCH],
    )
    p = make_panel(qtbot, sample)
    spin = p.view.run_box.procs_spin
    assert not spin.isVisibleTo(p)  # Auto (the default) trains in the window: processes are Custom's
    p.set_config(TrainConfig(epochs=2, lr=1e-2, **FAST))
    assert spin.isVisibleTo(p) and spin.maximum() == 2
    spin.setValue(2)
    assert "(2 processes)" in p.start_button.text()
    run_to_end(qtbot, p, timeout=30_000)
    assert commands[0][1:] == (str(sample.root), 2) and commands[0][0].arch == "tiny_cnn"
    assert p.view.epoch_table.rowCount() == 2
    x, y = p.view.charts.valid_item.getData()
    assert list(x) == [1.0, 2.0] and y[1] == pytest.approx(0.2)
    assert "accuracy 90.0 %" in p.status_label.text()
    p.shutdown()


def test_cluster_dialog_shows_the_launchers_commands_and_copies_them(qtbot, panel):
    from engine.cli.launch import cluster_commands

    panel.set_config(TrainConfig(epochs=3, lr=3e-3, **FAST))
    qtbot.mouseClick(panel.view.run_box.cluster_button, Qt.LeftButton)
    dialog = panel.view.cluster_dialog
    line, script = cluster_commands(panel.config(), str(SAMPLE), "sample-tiny_cnn.pth", nproc=2, nnodes=2)
    assert dialog.torchrun_text.toPlainText() == line and dialog.sbatch_text.toPlainText() == script
    dialog.nodes_spin.setValue(4)
    line4, script4 = cluster_commands(panel.config(), str(SAMPLE), "sample-tiny_cnn.pth", nproc=2, nnodes=4)
    assert dialog.torchrun_text.toPlainText() == line4 and "--nnodes 4" in line4
    qtbot.mouseClick(dialog.copy_sbatch, Qt.LeftButton)
    assert QGuiApplication.clipboard().text() == script4
    qtbot.mouseClick(dialog.copy_torchrun, Qt.LeftButton)
    assert QGuiApplication.clipboard().text() == line4
    dialog.close()


INPUTS = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit)


def test_every_control_explains_itself_and_lesson_terms_are_explained(panel):
    v = panel.view
    roots = [*v.settings_boxes, v.run_box, v.model_bar, v.history_box]
    missing = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
        for root in roots
        for w in root.findChildren(QWidget)
        if isinstance(w, INPUTS)
        if not w.toolTip().strip() and w.parent() is not None and not isinstance(w.parent(), QAbstractSpinBox)
    ]
    assert missing == []
    terms = {
        v.schedule_box.schedule_combo: "SGDR",
        v.schedule_box.cycle_len_spin: "Cycle length",
        v.schedule_box.cycle_mult_spin: "Cycle multiplier",
        v.tuning_box.mult_edit: "LR multipliers",
        v.tuning_box.tta_check: "TTA",
        v.tuning_box.views_spin: "Cached views",
        v.data_box.precompute_check: "Precompute",
        v.tuning_box.unfreeze_check: "Unfreeze",
    }
    for widget, term in terms.items():
        tip = widget.toolTip()
        assert term in tip and len(tip.split()) >= 12, (term, tip)  # the term, then what it means


def test_shortcuts_start_and_save_and_say_so(qtbot, panel):
    panel.set_config(TrainConfig(epochs=1, lr=1e-2, **FAST))
    assert "Ctrl+Return" in panel.start_button.toolTip()
    assert panel.view.save_action.shortcut().toString() == "Ctrl+S"
    assert "Ctrl+S" in panel.view.run_box.save_button.toolTip()
    shortcut = panel.view.start_shortcut
    assert shortcut.parent() is panel.view and shortcut.context() == Qt.WidgetWithChildrenShortcut  # from any field
    shortcut.activated.emit()
    assert panel.running
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)


def test_augmentation_preview_unfolds_next_to_the_choice(qtbot, panel):
    panel.set_recipe(Recipe("custom"))  # augmentation is Custom's setting (Auto chooses its own)
    box = panel.view.data_box
    assert panel.augment_preview is None  # nothing decoded until asked
    box.preview_button.setChecked(True)
    preview = panel.augment_preview
    assert preview is not None and preview.isVisibleTo(panel) and preview.parent() is box
    box.preview_button.setChecked(False)
    assert not preview.isVisibleTo(panel)


def test_counts_leave_out_files_verification_found_bad(qtbot, panel, sample):
    bad = [sample.train[0][0], sample.valid[0][0]]
    panel.set_bad_files(bad)
    text = panel.status_label.text()
    assert f"{len(sample.train) - 1} training and {len(sample.valid) - 1} validation" in text


def test_fits_1024x576_and_reads_well_in_the_dark(qtbot, sample):
    app = QApplication.instance()
    light = app.palette()
    try:
        app.setPalette(theme.dark_palette())
        p = make_panel(qtbot, sample)
        hint = p.minimumSizeHint()
        assert hint.width() <= 1024 and hint.height() <= 576 - 60  # the window's menu, tabs and status bar
        assert low_contrast_texts(p) == []
        assert p.view.charts.loss_plot.backgroundBrush().color() == theme.plot_background()
        p.shutdown()
    finally:
        app.setPalette(light)


def test_no_hard_coded_colours_in_the_tab():
    folder = Path(__file__).resolve().parents[1] / "gui" / "training"
    found = [
        f"{path.name}: {m.group(0)}"
        for path in folder.glob("*.py")
        for m in re.finditer(r"[\"'](#[0-9a-fA-F]{3,8})[\"']|color:\s*#", path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize("precompute", [True, False])
def test_train_and_evaluate_report_the_same_accuracy_for_the_same_weights(qtbot, panel, sample, precompute):
    """On a CPU both score the BN-folded fp32 copy on the same decoded valid images (see the report for CUDA)."""
    from engine.evaluation import evaluate
    from engine.jobs import run_to_end as finish

    panel.set_config(TrainConfig(epochs=1, lr=1e-2, **{**FAST, "precompute": precompute}))
    run_to_end(qtbot, panel)
    shown = panel.view.epoch_table.item(0, 3).text()
    ev = finish(evaluate(panel.state.model, sample.valid, device=panel.state.learner.device))
    assert shown == f"{100 * ev.accuracy:.1f} %"
    assert panel.controller.charts.curves.epochs[-1]["valid_loss"] == pytest.approx(ev.loss, abs=1e-5)


def test_after_a_restart_the_train_tab_names_the_restored_current_model(qtbot):
    """The window restores the store's current model into AppState; with no learner yet, Train names it."""
    from types import SimpleNamespace

    from engine.data import scan_dataset
    from gui.state import AppState
    from gui.training import TrainingPanel
    from tests.conftest import SAMPLE

    state = AppState()
    state.set_dataset(scan_dataset(SAMPLE))
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    meta = SimpleNamespace(arch="resnet34", run={"run": 7, "epoch": 5, "dataset": "cats", "which": "best"})
    state.set_model(SimpleNamespace(meta=meta))
    text = panel.view.model_bar.hint.text()
    assert "run 7" in text and "epoch 5" in text and "resnet34" in text and "Use" in text
