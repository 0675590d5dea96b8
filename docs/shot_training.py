"""Screenshot of the Train tab after two short real runs on the sample dataset → docs/training.png.

Run: python docs/shot_training.py [OUT.png] [--dark] [--size 1366x768]
(offscreen; uses a throw-away FOVEA_HOME unless one is set; --dark: gui.theme's dark palette)
Run 1: EfficientNet-Lite0, 128 px, precomputed activations, 3 epochs. Run 2: the same model with
SGDR restarts (3 cycles, cycle_len 1, cycle_mult 2 = 7 epochs). Run 1 is then selected in the
history so its curves are overlaid for comparison.
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


def main() -> None:
    args = sys.argv[1:]
    dark = "--dark" in args
    size = args[args.index("--size") + 1] if "--size" in args else "1366x768"
    paths = [a for a in args if a.endswith(".png")]
    out = Path(paths[0]) if paths else ROOT / "docs" / ("training_dark.png" if dark else "training.png")
    from gui.app import make_app

    app = make_app()
    if dark:
        from gui.theme import dark_palette

        app.setPalette(dark_palette())
    from engine.config import TrainConfig
    from engine.data import scan_dataset
    from engine.paths import sample_dataset_dir
    from gui.state import AppState
    from gui.training.panel import TrainingPanel

    state = AppState()
    state.set_dataset(scan_dataset(sample_dataset_dir()))
    panel = TrainingPanel(state)
    width, height = (int(v) for v in size.split("x"))
    panel.resize(width, height)
    panel.show()

    def run(config: TrainConfig) -> None:
        panel.set_config(config)
        t0 = time.perf_counter()
        panel.start()
        while panel.running:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()
        print(f"{panel.status_label.text()}  [{time.perf_counter() - t0:.1f} s]")

    base = dict(arch="efficientnet_lite0", size=128, bs=64, precompute=True)
    run(TrainConfig(lr=1e-2, epochs=3, **base))
    run(TrainConfig(lr=1e-2, cycles=3, cycle_len=1, cycle_mult=2, **base))
    panel.view.history.item(1).setSelected(True)  # overlay run 1 on run 2
    panel.view.epoch_table.scrollToTop()
    for _ in range(5):
        app.processEvents()
        time.sleep(0.05)
    out.parent.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(out))
    print(f"wrote {out}")
    panel.shutdown()


if __name__ == "__main__":
    main()
