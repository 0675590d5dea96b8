"""Save docs/lr_finder.png: the LR finder tab after a real run on the built-in sample (offscreen).

Usage: python docs/shot_lr_finder.py [DATASET] [-o docs/lr_finder.png] [--size 128] [--panel-only] [--dark]

--dark: under gui.theme.dark_palette() (docs/lr_finder_dark.png). The window is 1366×768.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FOVEA_HOME", tempfile.mkdtemp(prefix="fovea-shot-"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "resources" / "sample"))
    ap.add_argument("-o", "--out", default=str(ROOT / "docs" / "lr_finder.png"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--panel-only", action="store_true", help="grab the panel without the main window")
    ap.add_argument("--dark", action="store_true", help="under a dark palette")
    a = ap.parse_args()
    from PySide6.QtCore import QSettings

    from engine.config import TrainConfig
    from engine.data import scan_dataset
    from gui.app import make_app

    app = make_app()
    if a.dark:
        from gui.theme import dark_palette

        app.setPalette(dark_palette())
    if a.panel_only:
        from gui.lr_finder.panel import LRFinderPanel
        from gui.state import AppState

        state = AppState()
        panel = LRFinderPanel(state)
        shown = panel
        shown.resize(1366, 768)
    else:
        from gui.main_window import MainWindow

        settings = QSettings(str(Path(os.environ["FOVEA_HOME"]) / "shot.ini"), QSettings.IniFormat)
        win = MainWindow(settings=settings)
        state = win.state
        panel = win.panels["LR finder"]
        win.tabs.setCurrentWidget(panel)
        shown = win
        shown.resize(1366, 768)
    shown.show()
    train = getattr(state, "train_config", None)
    from dataclasses import replace

    state.set_train_config(replace(train or TrainConfig(), size=a.size))
    state.set_dataset(scan_dataset(a.dataset))
    app.processEvents()
    panel.run()
    deadline = time.time() + 600
    while time.time() < deadline and (panel.running or not panel.view.controls.run_button.isEnabled()):
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()
    if not panel.controller.curve.lrs:
        print(f"the LR finder produced no curve: {panel.view.controls.status.text()}", file=sys.stderr)
        return 1
    panel.controller.snap_to("valley")  # what a learner does next: take the suggestion (or drag)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    out = Path(a.out)
    shown.grab().save(str(out))
    print(f"wrote {out} ({panel.view.controls.status.text()})")
    if hasattr(shown, "shutdown"):
        shown.shutdown()
    else:
        panel.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
