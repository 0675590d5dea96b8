"""Screenshots of the Train tab's Auto recipe on the sample dataset → docs/train-auto.png, and the LR
finder showing the LR test Auto ran with its chosen LR.

Run: python docs/shot_training_auto.py [OUT.png] [--dark] [--size 1366x768] [--budget 60] [--arch A]
     [--before B.png] [--during D.png] [--finder F.png]
(offscreen; uses a throw-away FOVEA_HOME unless one is set; --dark: gui.theme's dark palette)
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FOVEA_HOME", tempfile.mkdtemp(prefix="fovea-shot-"))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def option(args: list[str], name: str, default: str | None = None) -> str | None:
    return args[args.index(name) + 1] if name in args else default


def panels(width: int, height: int):
    """The Train and LR finder tabs on the sample, sharing one AppState and learner slot."""
    from engine.data import scan_dataset
    from engine.paths import sample_dataset_dir
    from gui.jobs import JobSlot
    from gui.lr_finder.panel import LRFinderPanel
    from gui.state import AppState
    from gui.training.panel import TrainingPanel

    state = AppState()
    state.set_dataset(scan_dataset(sample_dataset_dir()))
    slot = JobSlot("learner")
    out = TrainingPanel(state, learner_slot=slot), LRFinderPanel(state, learner_slot=slot)
    for w in out:
        w.resize(width, height)
        w.show()
    return out


def main() -> None:
    args = sys.argv[1:]
    dark = "--dark" in args
    width, height = (int(v) for v in option(args, "--size", "1366x768").split("x"))
    named = {option(args, n) for n in ("--before", "--during", "--finder")}
    paths = [a for a in args if a.endswith(".png") and a not in named]
    out = Path(paths[0]) if paths else ROOT / "docs" / ("train-auto_dark.png" if dark else "train-auto.png")
    from gui.app import configure_pyqtgraph, make_app

    app = make_app()
    if dark:
        from gui.theme import dark_palette

        app.setPalette(dark_palette())
        configure_pyqtgraph()
    from engine.config import TrainConfig
    from gui.training.recipes import Recipe

    panel, finder = panels(width, height)

    def settle(n: int = 10) -> None:
        for _ in range(n):
            app.processEvents()
            time.sleep(0.03)

    def save(widget, path) -> None:
        if path:
            settle()
            widget.grab().save(str(path))
            print(f"wrote {path}")

    arch = option(args, "--arch", "efficientnet_lite0")
    panel.set_config(TrainConfig(arch=arch, size=128 if arch != "tiny_cnn" else 32, bs=64))
    panel.set_recipe(Recipe("auto", float(option(args, "--budget", "60"))))
    save(panel, option(args, "--before"))
    t0, during = time.perf_counter(), option(args, "--during")
    panel.start()
    while panel.running:
        app.processEvents()
        if during and len(panel.view.run_box.stage_log.lines()) >= 4 and panel.controller.charts.curves.epochs:
            save(panel, during)
            during = None
        time.sleep(0.01)
    settle()
    print(f"{panel.status_label.text()}  [{time.perf_counter() - t0:.1f} s]")
    panel.view.epoch_table.scrollToTop()
    out.parent.mkdir(parents=True, exist_ok=True)
    save(panel, out)
    save(finder, option(args, "--finder"))
    panel.shutdown()
    finder.shutdown()


if __name__ == "__main__":
    main()
