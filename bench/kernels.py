"""Benchmark: apply_kernel vs OpenCV filter2D on a 1920×1080 RGB photo, and the Kernels tab's edit→screen latency.

Run: python bench/kernels.py  (offscreen; prints medians, the ratio and latency percentiles)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def full_hd_photo() -> np.ndarray:
    from PIL import Image

    from engine.images import load_rgb

    return np.asarray(load_rgb(ROOT / "resources" / "photos" / "chelsea.png").resize((1920, 1080), Image.BICUBIC))


def median_ms(samples: list[float]) -> float:
    return float(np.median(samples)) * 1e3


def bench_engine(image: np.ndarray, reps: int = 150) -> None:
    import cv2

    from engine.kernel_presets import PRESETS
    from engine.kernels import apply_kernel

    cases = [
        ("top Sobel, clip (default)", PRESETS["top_sobel"], dict()),
        ("blur ÷16, clip", PRESETS["blur"], dict()),
        ("gaussian 5×5 ÷256, clip", PRESETS["gaussian_5x5"], dict()),
        ("top Sobel, abs", PRESETS["top_sobel"], dict(mode="abs")),
        ("top Sobel, normalise", PRESETS["top_sobel"], dict(mode="normalise")),
        ("top Sobel, grey", PRESETS["top_sobel"], dict(gray=True)),
    ]
    print(
        f"apply_kernel vs cv2.filter2D(BORDER_REPLICATE) on {image.shape[1]}×{image.shape[0]} RGB uint8, "
        f"{reps} interleaved runs each, medians:"
    )
    for label, p, opts in cases:
        k32 = (p.kernel / p.divisor).astype(np.float32)
        ours, theirs = [], []
        for _ in range(reps):
            t = time.perf_counter()
            a = apply_kernel(image, p.kernel, divisor=p.divisor, **opts)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            src = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if opts.get("gray") else image
            b = cv2.filter2D(src, -1, k32, borderType=cv2.BORDER_REPLICATE)
            theirs.append(time.perf_counter() - t)
        if "mode" in opts:
            same = "(peer: filter2D clip only)"
        elif opts.get("gray"):
            same = "(peer: cvtColor + filter2D)"
        else:
            same = "identical pixels" if np.array_equal(a, b) else "PIXELS DIFFER"
        print(
            f"  {label:<28} apply_kernel {median_ms(ours):6.2f} ms   filter2D {median_ms(theirs):6.2f} ms   "
            f"ratio {np.median(ours) / np.median(theirs):4.2f}×  {same}"
        )


def bench_gui(image: np.ndarray | None, label: str, edits: int = 100, sync_limit: int | None = None) -> None:
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.app import make_app
    from gui.kernels.panel import KernelPlayground
    from gui.state import AppState

    app = make_app()
    panel = KernelPlayground(AppState())
    panel.resize(1280, 760)
    panel.show()
    controller, pictures = panel.controller, panel.view.pictures
    if sync_limit is not None:
        controller.renderer.sync_limit = sync_limit
    if image is not None:
        controller.set_image(image, label)
    loop = QEventLoop()
    wait = {"renders": None, "painted": None}

    class TimedImageItem(pg.ImageItem):  # notes when the new result's pixels are actually drawn
        def paint(self, *args):
            super().paint(*args)
            if wait["renders"] is not None and controller.renders > wait["renders"] and wait["painted"] is None:
                wait["painted"] = time.perf_counter()
                loop.quit()

    timed = TimedImageItem()
    pictures.view_result.removeItem(pictures.result_item)
    pictures.view_result.addItem(timed)
    pictures.result_item = timed
    deadline = time.time() + 30
    while controller.renders == 0 and time.time() < deadline:
        app.processEvents()
    app.processEvents()
    times, missed = [], 0
    cell = panel.view.kernel_controls.grid.cells[0][1]
    give_up = QTimer(singleShot=True, interval=5000)
    give_up.timeout.connect(loop.quit)
    for i in range(edits):
        wait["renders"], wait["painted"] = controller.renders, None
        t = time.perf_counter()
        cell.setValue(3.0 + (i % 6))  # as if the user typed/scrubbed a value
        give_up.start()
        loop.exec()  # the normal, idle-waiting event loop until painted
        give_up.stop()
        missed += wait["painted"] is None
        times.append((wait["painted"] or time.perf_counter()) - t)
        wait["renders"] = None
        QApplication.processEvents()
    paints = edits - missed
    ms = np.array(times) * 1e3
    path = "UI thread" if controller.renderer.computes_here() else "worker thread"
    print(
        f"  {label:<34} p50 {np.percentile(ms, 50):6.2f} ms   p95 {np.percentile(ms, 95):6.2f} ms   "
        f"max {ms.max():6.2f} ms   ({edits} edits, {paints} painted, computed on the {path})"
    )
    panel.shutdown()
    panel.deleteLater()


def guard_none_refcount() -> None:
    """PySide6 6.12 on Python 3.11 drops one reference to None on every void Qt call (None is only
    immortal from Python 3.12): a busy processEvents loop frees None within seconds ("none_dealloc").
    Top the count up so the measurement loop survives; the app itself needs the same guard."""
    if sys.version_info < (3, 12):
        import ctypes

        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40


def main() -> None:
    import cv2

    guard_none_refcount()
    print(f"OpenCV {cv2.__version__}, numpy {np.__version__}, {os.cpu_count()} CPU(s)")
    image = full_hd_photo()
    bench_engine(image)
    print("Kernels tab: cell edit → new result pixels painted (offscreen, 1280×760 panel):")
    bench_gui(None, "chelsea.png 451×300 (the sample)")
    bench_gui(image, "1920×1080 photo")
    bench_gui(image, "1920×1080 photo, always on a worker", sync_limit=0)


if __name__ == "__main__":
    main()
