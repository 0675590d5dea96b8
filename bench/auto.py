"""Benchmark: the Auto recipe against the 40-line precompute baseline, fit(0.01, 3) and fastai's time.

    python bench/auto.py [--seeds 3 4 5] [--test-per-class 200] [--fm10-seed 1] [--fastai-seconds 271]
                         [--skip-regressions] [--only-seeds]

1. Held-out accuracy: for each seed, a Fashion-MNIST draw of 1,000 training images
   (``fashion-folder OUT --train 100 --valid 50 --size 64 --rgb --seed N``); the baseline
   (bench/baseline_precompute.py) and Auto each train with a cold feature cache and are scored on the
   official t10k test split (``--test-per-class`` images of each class, read from Debian's
   dataset-fashion-mnist package: never seen while training or choosing). Goal: Auto ≥ +2 points in
   ≤ 1.6× the baseline's wall time.
2. fm10 (the draw with ``--fm10-seed``): Auto's validation accuracy and time against fastai's
   (``--fastai-seconds``: measured by bench/train.py's peer; goal ≥ 88 % in ≤ 0.5×).
3. No regressions: Auto vs the preset "Lesson 1: fit(0.01, 3)" on resources/sample and two other draws
   (other classes, other image sizes), validation accuracy.
The last line is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ["FOVEA_HOME"] = tempfile.mkdtemp(prefix="fovea-bench-auto-")
FASHION_FOLDER = "/work/shared/tools/fashion-folder"
CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
OTHER_DRAWS = (  # (name, fashion-folder flags): other classes, other image sizes
    ("shoes-96px", ["--classes", "sandal", "sneaker", "ankle_boot", "--train", "60", "--valid", "30", "--size", "96"]),
    (
        "tops-48px",
        ["--classes", "tshirt_top", "pullover", "coat", "shirt", "--train", "80", "--valid", "40", "--size", "48"],
    ),
)


def idx_folder() -> Path:
    """Where the Debian package's idx files are (fetched with apt-get download + dpkg -x if needed)."""
    for d in (
        Path("/usr/share/datasets/fashion-mnist"),
        Path.home() / ".cache/fashion-mnist-deb/root/usr/share/datasets/fashion-mnist",
    ):
        if (d / "t10k-images-idx3-ubyte.gz").exists():
            return d
    tmp = Path(tempfile.mkdtemp(prefix="fm-deb-"))
    subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, check=True)
    subprocess.run(["dpkg", "-x", str(next(tmp.glob("*.deb"))), str(tmp / "root")], check=True)
    return tmp / "root/usr/share/datasets/fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def t10k_folder(out: Path, per_class: int, size: int = 64) -> Path:
    """OUT/valid/<class>/*.png from the official test split (its first ``per_class`` of each class),
    plus a token OUT/train so it scans as a dataset."""
    src = idx_folder()
    images, labels = read_idx(src / "t10k-images-idx3-ubyte.gz"), read_idx(src / "t10k-labels-idx1-ubyte.gz")
    for c, name in enumerate(CLASSES):
        picked = np.flatnonzero(labels == c)[:per_class]
        for split, chosen in (("valid", picked), ("train", picked[:1])):
            d = out / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i]).resize((size, size), Image.BICUBIC).convert("RGB").save(d / f"t{i:05d}.png")
    return out


def draw(out: Path, flags: list[str]) -> Path:
    if not out.exists():
        subprocess.run([sys.executable, FASHION_FOLDER, str(out), *flags], check=True, capture_output=True)
    return out


def cold_cache() -> None:
    from engine.paths import cache_dir

    shutil.rmtree(cache_dir("features"), ignore_errors=True)


def test_accuracy(model, test_ds) -> float:
    from engine.evaluation import evaluate
    from engine.jobs import run_to_end

    return float(run_to_end(evaluate(model, test_ds.valid, bs=64)).accuracy)


def run_baseline(ds) -> tuple[object, float]:
    from baseline_precompute import baseline

    cold_cache()
    t0 = time.perf_counter()
    model = baseline(ds)
    return model, time.perf_counter() - t0


def run_auto(ds, budget: float) -> tuple[dict, float]:
    from engine.config import TrainConfig
    from engine.jobs import run_to_end
    from engine.recipes import auto_job

    cold_cache()
    t0 = time.perf_counter()
    res = run_to_end(auto_job(ds, budget, base=TrainConfig()))
    return res, time.perf_counter() - t0


def run_lesson1(ds) -> tuple[float, float]:
    from engine.jobs import run_to_end
    from engine.presets import preset_configs
    from engine.training import Learner

    cold_cache()
    t0 = time.perf_counter()
    learner = Learner(ds, preset_configs("lesson1")[0])
    result = run_to_end(learner.fit())
    return float(result["accuracy"]), time.perf_counter() - t0


def stages_line(res: dict) -> str:
    return "; ".join(f"{s['name']}: {s['why']}" for s in res["stages"])


def warm_up(test) -> None:
    """The process's first model and forward pass (imports, weights, kernels) before anything is timed:
    else whichever runs first pays them."""
    from engine.models import create_model

    test_accuracy(create_model("efficientnet_lite0", test.classes, 128), test)


def held_out(seeds, per_class: int, budget: float, work: Path) -> list[dict]:
    from engine.data import scan_dataset

    test = scan_dataset(t10k_folder(work / "t10k", per_class))
    warm_up(test)
    rows = []
    for seed in seeds:
        ds = scan_dataset(
            draw(
                work / f"fm-seed{seed}",
                ["--train", "100", "--valid", "50", "--size", "64", "--rgb", "--seed", str(seed)],
            )
        )
        load = os.getloadavg()[0]
        base_model, base_s = run_baseline(ds)
        base_acc = test_accuracy(base_model, test)
        res, auto_s = run_auto(ds, budget)
        auto_acc = test_accuracy(res["learner"].model, test)
        row = dict(
            seed=seed, baseline=base_acc, baseline_s=base_s, auto=auto_acc, auto_s=auto_s, gain=auto_acc - base_acc
        )
        row.update(time_ratio=auto_s / base_s, auto_valid=res["accuracy"], stages=stages_line(res), load=load)
        print(
            f"seed {seed} (load {load:.1f}): t10k baseline {base_acc:.2%} ({base_s:.0f} s)  Auto {auto_acc:.2%} ({auto_s:.0f} s)  "
            f"gain {100 * (auto_acc - base_acc):+.1f} points  time {auto_s / base_s:.2f}×\n    {row['stages']}",
            flush=True,
        )
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--test-per-class", type=int, default=200)
    ap.add_argument("--budget", type=float, default=None, help="Auto's budget (default: its default)")
    ap.add_argument("--fm10-seed", type=int, default=1)
    ap.add_argument("--fastai-seconds", type=float, default=271.0)
    ap.add_argument("--skip-fm10", action="store_true")
    ap.add_argument("--skip-regressions", action="store_true")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "fovea-bench-auto-data")
    a = ap.parse_args()
    from engine.data import scan_dataset
    from engine.presets import DEFAULT_BUDGET_S

    budget = a.budget or DEFAULT_BUDGET_S
    a.work.mkdir(parents=True, exist_ok=True)
    out = {"budget_s": budget, "cpus": os.cpu_count(), "held_out": held_out(a.seeds, a.test_per_class, budget, a.work)}
    if not a.skip_fm10:
        ds = scan_dataset(
            draw(
                a.work / f"fm-seed{a.fm10_seed}",
                ["--train", "100", "--valid", "50", "--size", "64", "--rgb", "--seed", str(a.fm10_seed)],
            )
        )
        load = os.getloadavg()[0]
        res, s = run_auto(ds, budget)
        out["fm10"] = dict(accuracy=res["accuracy"], seconds=s, ratio=s / a.fastai_seconds, stages=stages_line(res))
        out["fm10"]["load"] = load
        print(
            f"fm10 (load {load:.1f}) valid: Auto {res['accuracy']:.2%} in {s:.0f} s = {s / a.fastai_seconds:.2f}× fastai's {a.fastai_seconds:g} s\n    {stages_line(res)}",
            flush=True,
        )
    if not a.skip_regressions:
        out["regressions"] = []
        sets = [("sample", ROOT / "resources" / "sample")]
        sets += [(name, draw(a.work / name, [*flags, "--rgb", "--seed", "11"])) for name, flags in OTHER_DRAWS]
        for name, folder in sets:
            ds = scan_dataset(folder)
            load = os.getloadavg()[0]
            l1, l1_s = run_lesson1(ds)
            res, s = run_auto(ds, budget)
            row = dict(name=name, lesson1=l1, lesson1_s=l1_s, auto=res["accuracy"], auto_s=s, load=load)
            out["regressions"].append(row)
            print(
                f"{name} (load {load:.1f}): fit(0.01, 3) {l1:.2%} ({l1_s:.0f} s)  Auto {res['accuracy']:.2%} ({s:.0f} s)\n    {stages_line(res)}",
                flush=True,
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
