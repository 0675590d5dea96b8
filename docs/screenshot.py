"""Save a PNG of the main window on the built-in sample (offscreen, 1366×768): docs/main_window.png,
or docs/main_window_dark.png with --dark (gui.theme.dark_palette).

Usage: python docs/screenshot.py [DATASET] [-o docs/main_window.png] [--dark] [--tab Data]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "resources" / "sample"))
    ap.add_argument("-o", "--out")
    ap.add_argument("--tab", default="Data")
    ap.add_argument("--dark", action="store_true", help="the dark palette")
    a = ap.parse_args()
    a.out = a.out or str(ROOT / "docs" / ("main_window_dark.png" if a.dark else "main_window.png"))
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_pyqtgraph, make_app
    from gui.main_window import MainWindow
    from gui.theme import dark_palette

    app = make_app()
    if a.dark:
        app.setPalette(dark_palette())
        configure_pyqtgraph()
    settings = QSettings(str(Path(os.environ["FOVEA_HOME"]) / "shot.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(1366, 768)
    win.show()
    win.open_dataset(a.dataset)
    browser = win.panels["Data"].controller
    deadline = time.time() + 30
    loaded, still = -1, 0  # every thumbnail on screen is in once the count stops growing for a while
    while time.time() < deadline and still < 25:
        app.processEvents()
        if browser.dataset is not None and browser.verify_state == "done" and browser.model.loaded_count() > 0:
            still = still + 1 if browser.model.loaded_count() == loaded else 0
            loaded = browser.model.loaded_count()
        time.sleep(0.02)
    win.tabs.setCurrentWidget(win.panels[a.tab])
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    win.grab().save(a.out)
    print(f"saved {a.out}")
    win.shutdown()
    QApplication.quit()


if __name__ == "__main__":
    main()
