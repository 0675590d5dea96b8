"""Benchmark: one process at batch 64 vs two data-parallel processes (gloo) at batch 32 each.

    python bench/distributed.py [--fashion DIR] [--repeats 1] [--size 128] [--skip-sample]

Runs ``main.py train`` headless with the same seed and recipe both ways, each run with a cold feature
cache of its own, on resources/sample and on a Fashion-MNIST folder of 1,000 training images (made with
``/work/shared/tools/fashion-folder DIR --train 100 --valid 50 --size 64 --rgb --seed 1`` when --fashion
is not given). The recipe is the lesson's two stages: precompute + head, then the late layers unfrozen
(early group frozen) with side-on augmentation, on the images.

Prints per run: the final accuracy; the wall time from starting the command to its end (process start-up,
torchrun, precompute and training); img/s of the head stage and of the image stage (training images ×
epochs ÷ the epochs' seconds, validation included); and the time to accuracy: the wall time from start
until the first epoch at or above the target. The last line is one JSON object with every number.
Both configurations run in the same invocation, one after the other, on a machine that may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FASHION_TOOL = "/work/shared/tools/fashion-folder"
RECIPE = [
    "--arch", "efficientnet_lite0", "--precompute", "--head-epochs", "3", "--lr", "0.01",
    "--unfreeze", "--lr-mult", "0,0.1,1", "--aug", "side_on", "--epochs", "2", "--seed", "0",
]  # fmt: skip
SETUPS = {"1 process, bs 64": ["--bs", "64"], "2 processes, bs 32 each": ["--bs", "32", "--nproc-per-node", "2"]}
TARGETS = {"sample": 0.90, "fashion": 0.75}  # time-to-accuracy thresholds


def run(dataset: str, size: int, flags: list[str]) -> dict:
    """One training command; epoch lines time-stamped as they arrive."""
    home = tempfile.mkdtemp(prefix="fovea-bench-dist-")  # cold feature cache, private
    out = os.path.join(home, "model.pth")
    cmd = [sys.executable, str(ROOT / "main.py"), "train", dataset, "--size", str(size), *RECIPE, *flags]
    cmd += ["--json", "-o", out]
    env = dict(os.environ, FOVEA_HOME=home)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    epochs = []
    for line in proc.stdout:
        rec = json.loads(line)
        rec["at"] = time.perf_counter() - t0
        epochs.append(rec)
    err = proc.stderr.read()
    if proc.wait() != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{err}")
    final = epochs.pop()
    return {"wall": time.perf_counter() - t0, "final": final, "epochs": epochs}


def summary(result: dict, n_train: int, target: float) -> dict:
    by_phase = {}
    for phase in ("precomputed", "images"):
        eps = [e for e in result["epochs"] if e["phase"] == phase]
        seconds = sum(e["seconds"] for e in eps)
        by_phase[phase] = n_train * len(eps) / seconds if seconds else float("nan")
    reached = next((e["at"] for e in result["epochs"] if e["accuracy"] >= target), None)
    return {
        "accuracy": result["final"]["accuracy"],
        "wall_s": result["wall"],
        "head_img_s": by_phase["precomputed"],
        "image_img_s": by_phase["images"],
        "time_to_target_s": reached,
        "first_epoch_at_s": result["epochs"][0]["at"],
        "accuracy_by_epoch": [e["accuracy"] for e in result["epochs"]],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fashion", help="Fashion-MNIST folder (default: made with fashion-folder in a temp dir)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each setup (alternating order)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--skip-sample", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from engine.data import scan_dataset
    from engine.paths import sample_dataset_dir

    datasets = {} if args.skip_sample else {"sample": str(sample_dataset_dir())}
    fashion = args.fashion
    if not fashion:
        fashion = os.path.join(tempfile.mkdtemp(prefix="fovea-bench-fm-"), "fm10")
        make = [sys.executable, FASHION_TOOL, fashion, "--train", "100", "--valid", "50", "--size", "64", "--rgb"]
        subprocess.run([*make, "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    datasets["fashion"] = fashion
    print(f"{os.cpu_count()} CPU cores; recipe: {' '.join(RECIPE)} --size {args.size}", flush=True)
    report = {}
    for name, path in datasets.items():
        n_train = len(scan_dataset(path).train)
        target = TARGETS[name]
        for r in range(args.repeats):
            order = list(SETUPS) if r % 2 == 0 else list(reversed(SETUPS))
            for setup in order:
                s = summary(run(path, args.size, SETUPS[setup]), n_train, target)
                report.setdefault(name, {}).setdefault(setup, []).append(s)
                reach = f"{s['time_to_target_s']:.1f} s" if s["time_to_target_s"] is not None else "not reached"
                print(
                    f"{name:8} {setup:24} accuracy {s['accuracy']:.1%}  wall {s['wall_s']:.1f} s  "
                    f"head {s['head_img_s']:.0f} img/s  images {s['image_img_s']:.1f} img/s  "
                    f"≥{target:.0%} at {reach}  (epochs: {', '.join(f'{a:.1%}' for a in s['accuracy_by_epoch'])})",
                    flush=True,
                )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
