"""A Classify tab in a process of its own, for the restart test: a new AppState and panel on the run store
under FOVEA_HOME.

python tests/classify_restart_child.py pick|restore IMAGE
pick: choose the stored run in the model list (as the user would), classify IMAGE;
restore: only classify IMAGE with whatever the panel restored. Prints one JSON line: the entry in use
(kind, title, reference) and the probabilities of every class for IMAGE.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("FOVEA_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_for(app, condition, timeout=60.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the panel did not get there")
        app.processEvents()
        time.sleep(0.005)


def main(mode: str, image: str) -> None:
    from PySide6.QtWidgets import QApplication

    from gui.classify import ClassifyPanel
    from gui.state import AppState

    app = QApplication([])
    panel = ClassifyPanel(AppState())
    combo = panel.view.model_bar.model_combo
    if mode == "pick":
        run = next(i for i, e in enumerate(panel.models.entries) if e.kind == "run")
        combo.setCurrentIndex(run)
    wait_for(app, lambda: panel.current_entry().kind == "run" and panel.current_model() is not None)
    panel.classify([image])
    wait_for(app, lambda: not panel.predicting and panel.result_records() and panel.result_records()[0].get("top"))
    entry = panel.current_entry()
    probs = {name: p for name, p in panel.result_records()[0]["top"]}
    print(json.dumps({"kind": entry.kind, "title": combo.currentText(), "ref": entry.ref, "probs": probs}))
    panel.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
