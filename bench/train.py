"""Benchmark: Fovea's training recipes vs fastai v2 on the same task, measured in one run.

    python bench/train.py [DATASET] [--size 128] [--no-peer] [--peer-first] [--repeats 20]
                          [--precompute-repeats 3] [--precompute-only]

DATASET defaults to /tmp/fm10, made with
    /work/shared/tools/fashion-folder /tmp/fm10 --train 100 --valid 50 --size 64 --rgb --seed 1

Prints, all measured in this run on this machine, with a cold feature cache:
  * the backbone's pure forward throughput (plain eager module, and the BN-folded
    channels_last copy precompute uses, measured right before and right after precompute and
    averaged) and precompute's throughput as a fraction of both;
  * precompute's throughput again, ``--precompute-repeats`` times, each with a cold cache of its own
    and the pure forward timed right before and after it: the median of those ratios is the figure
    least moved by the machine's drift;
  * recipe (a): precompute + head (goal ≥ 80 % in ≤ 1/10 of fastai's wall time);
  * recipe (b): (a), then the late layers unfrozen with augmentation (goal ≥ 88 % in ≤ 1/2): the
    frozen early layers run once per image and view (the image, its mirror, random side-on copies)
    and the late layers train on their cached activations (TrainConfig.frozen_views); its accuracy
    with TTA is printed too (TTA time not counted in (b));
  * recipe (a) again with the feature cache warm;
  * the peer: bench/fastai_peer.py (fastai v2 vision_learner, lr_find + fine_tune(2)) run with
    bench/.fastai-venv/bin/python, and the ratios.
The last line is one JSON object with every number.
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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["FOVEA_HOME"] = tempfile.mkdtemp(prefix="fovea-bench-train-")  # cold cache, private
PEER_PYTHON = ROOT / "bench" / ".fastai-venv" / "bin" / "python"
PEER_SCRIPT = ROOT / "bench" / "fastai_peer.py"

# recipe (a): precompute, then the head on the cached activations
RECIPE_A = dict(precompute=True, epochs=5, lr=1e-2)
# recipe (b): then the late body + head unfrozen (early group kept frozen: lr_mult 0), with augmentation,
# on the cached activations of the frozen early layers for 8 views of each image
RECIPE_B = dict(
    precompute=False,
    unfreeze=True,
    aug="side_on",
    lr_mult=(0.0, 1.0, 1.0),
    frozen_views=8,
    opt="adamw",
    lr=3e-3,
    wd=0.1,
    schedule="one_cycle",
    epochs=12,
)


def throughput(fn, x, repeats: int) -> float:
    """Median images per second of fn(x) over ``repeats`` timed calls (after one warm-up)."""
    import torch

    with torch.inference_mode():
        fn(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    return x.shape[0] / statistics.median(times)


def precompute_ratios(ds, config, fast_body, x, runs: int, repeats: int) -> list[float]:
    """Precompute's throughput over the folded copy's pure forward, ``runs`` times: each run in a
    cold cache of its own, the pure forward timed right before and right after it."""
    from engine.features import pooled_features
    from engine.jobs import run_to_end
    from engine.training import Learner

    n_images = len(ds.train) + len(ds.valid)
    ratios = []
    home = os.environ.get("FOVEA_HOME")
    for r in range(runs):
        before = throughput(lambda v: pooled_features(fast_body, v), x, repeats)
        stamps = []
        with tempfile.TemporaryDirectory(prefix="fovea-bench-pre-") as cold:
            os.environ["FOVEA_HOME"] = cold
            try:
                run_to_end(
                    Learner(ds, config).prepare(),
                    lambda rec, stamps=stamps: (
                        stamps.append(time.perf_counter()) if rec["type"] == "precompute" else None
                    ),
                )
            finally:
                os.environ["FOVEA_HOME"] = home
        rate = n_images / (stamps[-1] - stamps[0])
        after = throughput(lambda v: pooled_features(fast_body, v), x, repeats)
        ratios.append(rate / ((before + after) / 2))
        print(
            f"precompute run {r + 1}: {rate:.0f} img/s; pure forward {before:.0f} before, {after:.0f} after "
            f"→ {ratios[-1]:.0%}",
            flush=True,
        )
    return ratios


def run_peer(dataset: str, size: int, timeout: float) -> dict:
    if not PEER_PYTHON.exists():
        return {"error": f"{PEER_PYTHON} missing (bench/setup_fastai_peer.sh builds it)"}
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            [str(PEER_PYTHON), str(PEER_SCRIPT), dataset, "--size", str(size)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    out = json.loads(lines[-1])
    out["seconds_process"] = round(wall, 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", default="/tmp/fm10")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=20, help="timed batches per throughput figure")
    ap.add_argument(
        "--precompute-repeats",
        type=int,
        default=3,
        help="extra cold precompute runs, each bracketed by pure-forward timings",
    )
    ap.add_argument("--precompute-only", action="store_true", help="only the throughput figures")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-first", action="store_true", help="run fastai before Fovea instead of after")
    ap.add_argument("--peer-timeout", type=float, default=1800)
    a = ap.parse_args()

    import torch

    from engine.compute import compute_threads
    from engine.config import TrainConfig
    from engine.data import scan_dataset
    from engine.features import fast_inference_copy, forward_batch_size, pooled_features
    from engine.jobs import run_to_end
    from engine.models import create_model
    from engine.training import Learner

    ds = scan_dataset(a.dataset)
    n_images = len(ds.train) + len(ds.valid)
    base = TrainConfig(size=a.size, seed=0)
    print(f"dataset {ds.root}: {len(ds.classes)} classes, {len(ds.train)} train, {len(ds.valid)} valid")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; torch "
        f"{torch.__version__}, {compute_threads()} threads; {base.arch} at {a.size} px, bs {base.bs}"
    )
    results: dict = {
        "dataset": str(ds.root),
        "arch": base.arch,
        "size": a.size,
        "cores": os.cpu_count(),
        "load_start": os.getloadavg()[0],
    }

    peer = None
    if not a.no_peer and a.peer_first:
        print("fastai peer running first …", flush=True)
        peer = run_peer(str(ds.root), a.size, a.peer_timeout)

    # ---------------------------------------------------------------- pure forward throughput
    torch.set_num_threads(compute_threads())
    body = create_model(base.arch, ds.classes, a.size).eval().body
    fast_body = fast_inference_copy(body, torch.device("cpu"), 64)
    bs = forward_batch_size(torch.device("cpu"))
    x = torch.randn(bs, 3, a.size, a.size)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    plain = throughput(lambda v: pooled_features(body, v), x, a.repeats)
    fast_before = throughput(lambda v: pooled_features(fast_body, v), x_cl, a.repeats)
    print(
        f"pure forward (body + pool, bs {bs}, random input, after warm-up): plain module {plain:.0f} img/s, "
        f"BN-folded channels_last copy {fast_before:.0f} img/s"
    )

    if a.precompute_only:
        ratios = precompute_ratios(
            ds, replace(base, **RECIPE_A), fast_body, x_cl, max(1, a.precompute_repeats), a.repeats // 2
        )
        print(
            f"precompute: median {statistics.median(ratios):.0%} of the folded copy's pure forward "
            f"(range {min(ratios):.0%}–{max(ratios):.0%}; {plain:.0f} img/s plain module)"
        )
        return 0

    # ---------------------------------------------------------------- recipe (a), cold cache
    stamps = []

    def on_progress(rec):
        if rec["type"] == "precompute":
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    learner = Learner(ds, replace(base, **RECIPE_A))
    res_a = run_to_end(learner.fit(), on_progress)
    seconds_a = time.perf_counter() - t0
    pre_seconds = stamps[-1] - stamps[0]
    pre_rate = n_images / pre_seconds
    # the machine's speed drifts: the pure forward is measured right before and right after, averaged
    fast_after = throughput(lambda v: pooled_features(fast_body, v), x_cl, a.repeats)
    fast = (fast_before + fast_after) / 2
    ratios = precompute_ratios(ds, replace(base, **RECIPE_A), fast_body, x_cl, a.precompute_repeats, a.repeats // 2)
    body = fast_body = None
    print(
        f"pure forward of the BN-folded copy again after precompute: {fast_after:.0f} img/s "
        f"(mean of before and after: {fast:.0f} img/s)"
    )
    print(
        f"precompute: {n_images} images in {pre_seconds:.1f} s = {pre_rate:.0f} img/s = "
        f"{pre_rate / fast:.0%} of the same body's pure forward ({pre_rate / plain:.0%} of the plain module)"
    )
    if ratios:
        print(
            f"precompute, {len(ratios)} more cold runs: median {statistics.median(ratios):.0%} of the folded "
            f"copy's pure forward (range {min(ratios):.0%}–{max(ratios):.0%})"
        )
    print(
        f"(a) precompute + head {RECIPE_A['epochs']} epochs: accuracy {res_a['accuracy']:.1%} in {seconds_a:.1f} s "
        f"(model build + precompute + training)"
    )

    # ---------------------------------------------------------------- recipe (b): continue
    t1 = time.perf_counter()
    learner.config = replace(base, **RECIPE_B)
    epochs_b, frozen_stamps = [], []

    def on_b(rec):
        if rec["type"] == "epoch":
            epochs_b.append(rec)
        elif rec.get("stage") == "frozen":
            frozen_stamps.append(time.perf_counter())

    res_b = run_to_end(learner.fit(), on_b)
    seconds_b = seconds_a + time.perf_counter() - t1
    img_s_b = len(ds.train) / statistics.median(e["seconds"] for e in epochs_b)
    cache_b = frozen_stamps[-1] - frozen_stamps[0] if frozen_stamps else 0.0
    print(
        f"(b) then unfrozen (lr_mult {RECIPE_B['lr_mult']}) + {RECIPE_B['aug']}, "
        f"{RECIPE_B['frozen_views']} cached views, {RECIPE_B['epochs']} epochs: "
        f"accuracy {res_b['accuracy']:.1%} in {seconds_b:.1f} s total "
        f"(early layers cached in {cache_b:.1f} s; per-epoch accuracy "
        + ", ".join(f"{e['accuracy']:.1%}" for e in epochs_b)
        + "; "
        f"{img_s_b:.0f} train img/s incl. validation)"
    )
    t3 = time.perf_counter()
    ev = run_to_end(learner.evaluate(tta=True))
    seconds_tta = time.perf_counter() - t3
    print(
        f"(b) with TTA: accuracy {ev.accuracy:.1%} (without {res_b['accuracy']:.1%}); TTA evaluation "
        f"{seconds_tta:.1f} s more, {seconds_b + seconds_tta:.1f} s in all"
    )

    # ---------------------------------------------------------------- recipe (a) again, warm cache
    t2 = time.perf_counter()
    res_warm = run_to_end(Learner(ds, replace(base, **RECIPE_A)).fit())
    seconds_warm = time.perf_counter() - t2
    print(f"(a) again, features cached: accuracy {res_warm['accuracy']:.1%} in {seconds_warm:.1f} s")

    results.update(
        pure_forward_plain_img_s=round(plain, 1),
        pure_forward_fast_img_s=round(fast, 1),
        pure_forward_fast_before_after=[round(fast_before, 1), round(fast_after, 1)],
        precompute_img_s=round(pre_rate, 1),
        precompute_fraction_of_fast=round(pre_rate / fast, 3),
        precompute_fraction_of_plain=round(pre_rate / plain, 3),
        precompute_repeat_fractions=[round(v, 3) for v in ratios],
        precompute_fraction_median=round(statistics.median(ratios), 3) if ratios else None,
        a_accuracy=res_a["accuracy"],
        a_seconds=round(seconds_a, 2),
        b_accuracy=res_b["accuracy"],
        b_seconds=round(seconds_b, 2),
        b_cache_seconds=round(cache_b, 2),
        b_tta_accuracy=float(ev.accuracy),
        b_tta_seconds=round(seconds_b + seconds_tta, 2),
        warm_a_accuracy=res_warm["accuracy"],
        warm_a_seconds=round(seconds_warm, 2),
        recipe_a=RECIPE_A,
        recipe_b={k: list(v) if isinstance(v, tuple) else v for k, v in RECIPE_B.items()},
    )

    # ---------------------------------------------------------------- the peer
    if not a.no_peer and not a.peer_first:
        print("fastai peer running …", flush=True)
        peer = run_peer(str(ds.root), a.size, a.peer_timeout)
    if peer is not None:
        results["peer"] = peer
        if "error" in peer:
            print(f"fastai peer failed: {peer['error']}")
        else:
            ps = peer["seconds_total"]
            print(
                f"fastai {peer.get('fastai_version')}: lr_find + fine_tune({peer.get('epochs')}) accuracy "
                f"{peer['accuracy']:.1%} in {ps:.1f} s (lr_find {peer['seconds_lr_find']:.1f} s; "
                f"{peer['seconds_process']:.1f} s with imports)"
            )
            ra, rb = seconds_a / ps, seconds_b / ps
            print(
                f"ratio (a): {ra:.3f} of fastai's time (goal ≤ 0.100), accuracy {res_a['accuracy']:.1%} "
                f"(goal ≥ 80 %) → {'met' if ra <= 0.1 and res_a['accuracy'] >= 0.8 else 'NOT met'}"
            )
            print(
                f"ratio (b): {rb:.3f} of fastai's time (goal ≤ 0.500), accuracy {res_b['accuracy']:.1%} "
                f"(goal ≥ 88 %) → {'met' if rb <= 0.5 and res_b['accuracy'] >= 0.88 else 'NOT met'}"
            )
            rbt = (seconds_b + seconds_tta) / ps
            print(
                f"ratio (b) with TTA: {rbt:.3f} of fastai's time, accuracy {ev.accuracy:.1%} → "
                f"{'met' if rbt <= 0.5 and ev.accuracy >= 0.88 else 'NOT met'}"
            )
            results.update(ratio_a=round(ra, 4), ratio_b=round(rb, 4), ratio_b_tta=round(rbt, 4))
    results["load_end"] = os.getloadavg()[0]
    print(f"load average at end {results['load_end']:.2f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
