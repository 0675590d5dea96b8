"""Prediction speed with the default backbone (EfficientNet-Lite0, 224 px, ImageNet head).

    python bench/predict.py [--repeats 25] [--folder-images 128]

Prints:
  * first prediction including model load, in a fresh process (goal ≤ 2 s), with its parts
  * warm drop-to-result for one photo (goal ≤ 100 ms), engine only and through the Classify
    panel (drop → QtJob → result row filled), medians
  * folder throughput (decode in threads + batched forward) against the backbone's pure forward
    throughput on ready tensors, measured in the same run, as a ratio
The machine may be shared: every figure is a median of interleaved repeats, and the load
average is printed with the results.

Everything runs twice, in child processes: with the OpenMP default (idle worker threads spin)
and with OMP_WAIT_POLICY=PASSIVE (they sleep). On a CPU shared with other busy processes the
spinning threads of one process stall each other's barriers; the second run shows the cure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PHOTO = ROOT / "resources" / "photos" / "chelsea.png"

COLD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
import torch, timm
from engine import inference as inf
from engine.jobs import run_to_end
t1 = time.perf_counter()
model = run_to_end(inf.load_model_job(None, warm_up={warm}))
t2 = time.perf_counter()
pred = run_to_end(inf.predict_images(model, [{photo!r}]))
t3 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "load": t2 - t1, "predict": t3 - t2, "label": pred.classes[int(pred.probs[0].argmax())]}}))
"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def cold_start(repeats: int) -> dict:
    runs = {True: [], False: []}
    for _ in range(repeats):
        for warm in (True, False):
            code = COLD.format(root=str(ROOT), photo=str(PHOTO), warm=warm)
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ)
            )
            runs[warm].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def make_photos(folder: Path, n: int) -> list[str]:
    """Photo-like JPEGs (500×375, like Kaggle Dogs vs Cats) cut from the two sample photos."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    sources = [Image.open(ROOT / "resources" / "photos" / p).convert("RGB") for p in ("chelsea.png", "coffee.png")]
    paths = []
    for i in range(n):
        im = sources[i % 2]
        w, h = im.size
        s = rng.uniform(0.6, 1.0)
        cw, ch = int(w * s), int(h * s)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = im.crop((x, y, x + cw, y + ch)).resize((500, 375), Image.BICUBIC)
        path = folder / f"{i + 1}.jpg"
        crop.save(path, quality=90)
        paths.append(str(path))
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=25, help="warm single-image repeats")
    ap.add_argument("--cold", type=int, default=3, help="fresh-process cold starts (each way)")
    ap.add_argument("--folder-images", type=int, default=128)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument(
        "--policy",
        choices=["both", "default", "passive"],
        default="both",
        help="OpenMP wait policy to measure (default: both, each in a child process)",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.child:
        policies = ["default", "passive"] if args.policy == "both" else [args.policy]
        for policy in policies:
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if policy == "passive":
                env["OMP_WAIT_POLICY"] = "PASSIVE"
            print(
                f"=== OpenMP wait policy: {'PASSIVE (OMP_WAIT_POLICY=PASSIVE)' if policy == 'passive' else 'default (spinning)'}",
                flush=True,
            )
            argv = [
                sys.executable,
                __file__,
                "--child",
                "--repeats",
                str(args.repeats),
                "--cold",
                str(args.cold),
                "--folder-images",
                str(args.folder_images),
                "--bs",
                str(args.bs),
            ]
            subprocess.run(argv, env=env, check=True)
        return 0

    import torch

    from engine import inference as inf
    from engine.jobs import run_to_end
    from engine.models import device_name, pick_device

    device = pick_device()
    print(
        f"device: {device_name(device)}; torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )

    # ---------------------------------------------------------------- cold start
    cold = cold_start(args.cold)
    for warm, runs in ((True, cold[True]), (False, cold[False])):
        first = [r["load"] + r["predict"] for r in runs]
        print(
            f"first prediction incl. model load ({'app: load + warm-up pass' if warm else 'load only, no warm-up'}): "
            f"median {median(first):.2f} s  [load {median([r['load'] for r in runs]):.2f} s + predict "
            f"{1000 * median([r['predict'] for r in runs]):.0f} ms; python+torch+timm imports "
            f"{median([r['imports'] for r in runs]):.2f} s not counted]  label: {runs[0]['label']}  (goal ≤ 2 s)"
        )

    # ---------------------------------------------------------------- warm single image
    model = run_to_end(inf.load_model_job(None))
    engine_ms = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        pred = run_to_end(inf.predict_images(model, [str(PHOTO)]))
        engine_ms.append((time.perf_counter() - t) * 1000)
    label = pred.classes[int(pred.probs[0].argmax())]
    print(
        f"warm drop-to-result, engine (decode {PHOTO.name} 451×300 + resize/crop + forward at 224 px): "
        f"median {median(engine_ms):.0f} ms, min {min(engine_ms):.0f} ms over {len(engine_ms)}  → {label}  (goal ≤ 100 ms)"
    )

    from gui.app import make_app
    from gui.classify import ClassifyPanel
    from gui.state import AppState

    app = make_app()
    panel = ClassifyPanel(AppState())
    panel.models.entries[0].model = model  # the already-loaded ImageNet model
    gui_ms = []
    for _ in range(max(5, args.repeats // 2)):
        panel.drop.clear()
        t = time.perf_counter()
        panel.classify([str(PHOTO)])
        while not (panel.view.drop.results.count() == 1 and panel.result_records()[0].get("top")):
            app.processEvents()
            time.sleep(0.0005)
        gui_ms.append((time.perf_counter() - t) * 1000)
        while panel.predicting:
            app.processEvents()
    panel.shutdown()
    print(
        f"warm drop-to-result, Classify panel (drop → job → row with top-5 bars): median {median(gui_ms):.0f} ms, "
        f"min {min(gui_ms):.0f} ms over {len(gui_ms)}  (goal ≤ 100 ms)"
    )

    # ---------------------------------------------------------------- folder throughput vs pure forward
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp), args.folder_images)
        x = torch.randn(args.bs, 3, 224, 224)
        fwd, fwd_plain, folder = [], [], []
        net = inf._inference_net(model, torch.device("cpu"))  # what predictions run: the BN-folded copy
        for _rep in range(3):
            with torch.inference_mode():
                xl = x.contiguous(memory_format=torch.channels_last)
                net(xl)
                t = time.perf_counter()
                for _ in range(max(1, args.folder_images // args.bs)):
                    net(xl)
                fwd.append(args.bs * max(1, args.folder_images // args.bs) / (time.perf_counter() - t))
            t = time.perf_counter()
            pred = run_to_end(inf.predict_images(model, photos, bs=args.bs))
            folder.append(len(photos) / (time.perf_counter() - t))
            assert not pred.errors
        # the model as loaded (BatchNorm not folded, contiguous layout), once, for context
        with torch.inference_mode():
            model(x)
            t = time.perf_counter()
            model(x)
            fwd_plain.append(args.bs / (time.perf_counter() - t))
    f, p = median(folder), median(fwd)
    print(
        f"folder throughput ({len(photos)} JPEGs 500×375, bs {args.bs}): {f:.1f} images/s; "
        f"pure forward of what predictions run (BN-folded, channels_last) on ready tensors: {p:.1f} images/s; "
        f"ratio {f / p:.2f}"
    )
    print(
        f"(pure forward of the model as loaded, contiguous: {median(fwd_plain):.1f} images/s — "
        f"the folded channels_last copy is {p / median(fwd_plain):.1f}× faster here)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
