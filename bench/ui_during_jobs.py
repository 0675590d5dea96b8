"""Benchmark: does the window stay responsive while the engine works?

    python bench/ui_during_jobs.py [DATASET] [--why]   (offscreen; DATASET defaults to the built-in sample;
                                                        --why prints every thread's stack at long pauses)

Opens the real main window and, one after another, runs what a user runs on the sample with the
default backbone: training with precompute (first run: activations computed), the LR finder on the
cached activations, training the whole network with augmentation, Auto with a 30 s budget, and classifying a folder of 20 images. Meanwhile a 10 ms
timer on the UI thread records how late each tick fires; a late tick is a moment the window could
not repaint or react. Prints p50 / p99 / max lateness per job (goal: no pause over ~16 ms beyond
the timer's own period, and certainly none a user would notice, i.e. max well under 100 ms).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FOVEA_HOME", tempfile.mkdtemp(prefix="fovea-bench-ui-"))

TICK_MS = 10


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    dataset = Path(args[0]) if args else ROOT / "resources" / "sample"
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from engine.config import TrainConfig
    from gui.app import make_app
    from gui.main_window import MainWindow
    from gui.training.recipes import Recipe

    app = make_app()
    app.setQuitOnLastWindowClosed(False)
    win = MainWindow(settings=QSettings(str(Path(os.environ["FOVEA_HOME"]) / "b.ini"), QSettings.IniFormat))
    win.resize(1280, 800)
    win.show()
    win.open_dataset(dataset)

    ticks: list[float] = []
    if "--why" in sys.argv:  # print what every thread was doing during long pauses
        import threading
        import traceback

        def watchdog():
            main_id = threading.main_thread().ident
            reported = None
            while True:
                time.sleep(0.01)
                try:
                    if not ticks or not tick.isActive():
                        continue
                except RuntimeError:  # the timer is gone: the bench has finished
                    return
                gap = time.perf_counter() - ticks[-1]
                if gap > float(os.environ.get("WHY_MS", "80")) / 1000 and reported != ticks[-1]:
                    reported = ticks[-1]
                    frames = sys._current_frames()
                    print(f"--- UI tick {gap * 1000:.0f} ms late; main thread:", file=sys.stderr)
                    print("".join(traceback.format_stack(frames[main_id])[-6:]), file=sys.stderr)
                    for tid, f in frames.items():
                        if tid not in (main_id, threading.get_ident()):
                            st = traceback.format_stack(f)
                            if "wait" not in st[-1] and "get(block" not in st[-1]:
                                print("  other thread:\n" + "".join(st[-8:]), file=sys.stderr)

        threading.Thread(target=watchdog, daemon=True).start()
    tick = QTimer()
    tick.setInterval(TICK_MS)
    tick.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def wait_until(cond, timeout_s: float) -> bool:
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(20)
        check.timeout.connect(lambda: loop.quit() if cond() else None)
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.timeout.connect(loop.quit)
        check.start()
        deadline.start(int(timeout_s * 1000))
        loop.exec()
        check.stop()
        deadline.stop()  # an active timer collected later on a job thread makes Qt complain
        return cond()

    def measure(name: str, start, done, timeout_s: float = 900) -> None:
        ticks.clear()
        tick.start()
        t0 = time.perf_counter()
        start()
        ok = wait_until(done, timeout_s)
        seconds = time.perf_counter() - t0
        tick.stop()
        late = [(b - a) * 1000 - TICK_MS for a, b in zip(ticks, ticks[1:], strict=False)]
        late.sort()
        p = (lambda q: late[min(len(late) - 1, int(q * len(late)))]) if late else (lambda q: float("nan"))
        print(
            f"{name:<44} {seconds:6.1f} s  UI tick lateness p50 {p(0.5):5.1f} ms · p99 {p(0.99):5.1f} ms · "
            f"max {late[-1] if late else float('nan'):5.1f} ms{'' if ok else '  (TIMED OUT)'}",
            flush=True,
        )

    def show_tab(panel) -> None:
        """Switch tabs as a user does before starting a job; the new tab's first paint (a whole tab,
        30–60 ms) is the switch's, not the job's, so it happens before the measurement starts."""
        win.tabs.setCurrentWidget(panel)
        settle()

    def settle() -> None:  # the window repaints what the user just changed (a tab, the settings)
        wait_until(lambda: False, 0.3)

    wait_until(lambda: win.state.dataset is not None, 30)
    train, finder, classify = win.panels["Train"], win.panels["LR finder"], win.panels["Classify"]
    finder.view.ask_trained = lambda notice: "this"  # test the trained model on its cached features, no dialog
    print(f"dataset {dataset} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.1f}")

    import sys as _sys

    if "timm" not in _sys.modules:  # the app does this 1.5 s after its window appears
        measure("start-up warm-up: import timm, torchvision", win.warm_up, lambda: not win.warm_up().running)
    show_tab(train)
    train.set_config(TrainConfig(arch="efficientnet_lite0", size=128, epochs=3, precompute=True, lr=1e-2))
    settle()
    measure(
        "train: precompute + head, 3 epochs (cold)", train.start, lambda: not train.running and not train.charts_drawing
    )
    print(f"    → {train.status_label.text()}")
    show_tab(finder)
    measure("LR finder: 100 iterations on cached features", finder.run, lambda: not finder.running)

    show_tab(train)
    train.set_config(
        TrainConfig(
            arch="efficientnet_lite0", size=128, epochs=1, precompute=False, aug="side_on", unfreeze=True, lr=1e-3
        )
    )
    settle()
    measure(
        "train: unfrozen network + augmentation, 1 ep",
        train.start,
        lambda: not train.running and not train.charts_drawing,
    )
    train.set_config(TrainConfig(arch="efficientnet_lite0", size=128))  # Auto keeps the data/device settings
    train.set_recipe(Recipe("auto", 30))
    settle()
    measure("train: Auto, up to 30 s", train.start, lambda: not train.running and not train.charts_drawing)
    print(f"    → {train.status_label.text()}")

    show_tab(classify)
    folder = dataset / "test"
    n = sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
    measure(
        f"classify: drop a folder of {n} images",
        lambda: win.state.imagesDropped.emit([str(folder)]),
        lambda: not classify.predicting and len(classify.result_records()) >= n,
    )
    print(f"    → {classify.view.drop.drop_status.text()}")
    win.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
