"""Listing and first-thumbnail times on a Dogs-vs-Cats-sized folder (25,000 small JPEGs).

Goals (foundation issue): list 25,000 files in ≤ 1 s; first thumbnails on screen within ~0.5 s.
Usage: python bench/scan.py [--files 25000] [--keep DIR]
"""

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def build_tree(root: Path, n_files: int) -> None:
    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(16):  # a few distinct real JPEGs, 320×240, written many times
        arr = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        im = Image.fromarray(arr).resize((320, 240), Image.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        blobs.append(buf.getvalue())
    per_class = n_files // 2
    n_valid = per_class // 10
    for c in ("cats", "dogs"):
        for split, count in (("train", per_class - n_valid), ("valid", n_valid)):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                (d / f"{c[:-1]}.{i}.jpg").write_bytes(blobs[i % len(blobs)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=25000)
    ap.add_argument("--keep", help="build/keep the tree here instead of a temp dir")
    a = ap.parse_args()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="fovea-bench-scan-"))
    os.environ["FOVEA_HOME"] = tempfile.mkdtemp(prefix="fovea-bench-home-")
    data = tmp / "dogscats"
    if not (data / "train").exists():
        t = time.perf_counter()
        build_tree(data, a.files)
        print(f"built {a.files} JPEGs in {time.perf_counter() - t:.1f} s")

    from engine.data import scan_dataset, verify_dataset
    from engine.jobs import run_to_end

    times = []
    for _ in range(5):
        t = time.perf_counter()
        ds = scan_dataset(data)
        times.append(time.perf_counter() - t)
    n = len(ds.all_paths())
    print(
        f"listing: {n} files, median {statistics.median(times) * 1000:.0f} ms over 5 runs "
        f"(goal ≤ 1000 ms) → {'OK' if statistics.median(times) <= 1.0 else 'MISSED'}"
    )

    from PySide6.QtCore import QSettings

    from gui.app import make_app
    from gui.main_window import MainWindow

    app = make_app()
    win = MainWindow(settings=QSettings(str(Path(os.environ["FOVEA_HOME"]) / "b.ini"), QSettings.IniFormat))
    win.resize(1280, 800)
    win.show()
    browser = win.panels["Data"]
    app.processEvents()
    stalls = []
    t0 = time.perf_counter()
    win.open_dataset(data)
    first = None
    last = time.perf_counter()
    while time.perf_counter() - t0 < 30:
        app.processEvents()
        now = time.perf_counter()
        stalls.append(now - last)
        last = now
        visible = browser.model.rowCount() and browser.model.loaded_count()
        if visible and visible >= 24 and first is None:
            first = now - t0
            break
        time.sleep(0.001)
    ok = first is not None and first <= 0.5
    print(
        f"first thumbnails (24 on screen, cold cache): {first * 1000:.0f} ms after Open (goal ≤ 500 ms) → "
        f"{'OK' if ok else 'MISSED'}"
        if first is not None
        else "first thumbnails: not within 30 s"
    )
    print(f"longest UI-thread stall while opening: {max(stalls) * 1000:.0f} ms")
    win.shutdown()

    t = time.perf_counter()
    ds = scan_dataset(data)
    bad = run_to_end(verify_dataset(ds))
    dt = time.perf_counter() - t
    print(f"verify every image (parallel threads): {n / dt:.0f} images/s, {dt:.1f} s for {n}, {len(bad)} bad")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
