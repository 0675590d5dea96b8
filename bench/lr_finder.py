"""Benchmark: the LR finder on precomputed activations vs fastai v2's ``lr_find``, in one run.

    python bench/lr_finder.py [DATASET] [--size 128] [--bs 64] [--repeats 5] [--no-peer] [--no-gui]

Prints: the one-off preparation (model + cached activations), 100 range-test iterations
after the activations are cached (goal ≤ 2 s on a 2-core CPU; median of --repeats), a
default run with its divergence stop and suggestions, the GUI's cost per live plot update,
and the fastai peer's ``lr_find`` on the same data (bench/fastai_peer.py in
bench/.fastai-venv), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FOVEA_HOME", tempfile.mkdtemp(prefix="fovea-bench-lr-"))
PEER_PYTHON = ROOT / "bench" / ".fastai-venv" / "bin" / "python"
PEER_SCRIPT = ROOT / "bench" / "fastai_peer.py"
EARLIER_PEER = "fastai v2 lr_find took 188 s on fm10 (100 train + 50 valid per class, 10 classes) measured earlier"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "resources" / "sample"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peer", action="store_true", help="skip the fastai peer")
    ap.add_argument("--no-gui", action="store_true", help="skip the plot-update timing")
    ap.add_argument("--peer-timeout", type=float, default=1800)
    a = ap.parse_args()

    import torch

    from engine.config import TrainConfig
    from engine.data import scan_dataset
    from engine.jobs import run_to_end
    from engine.lr_curves import format_lr
    from engine.lr_finder import lr_find_job, lr_range_test
    from engine.models import device_name
    from engine.training import Learner

    ds = scan_dataset(a.dataset)
    config = TrainConfig(size=a.size, bs=a.bs, precompute=True)
    learner = Learner(ds, config)
    print(f"dataset {ds.root} ({len(ds.train)} train, {len(ds.valid)} valid, {len(ds.classes)} classes)")
    print(
        f"fovea: {config.arch} at {a.size} px, bs {a.bs}, precompute on, {device_name(learner.device)}, "
        f"torch {torch.__version__}"
    )

    t0 = time.perf_counter()
    run_to_end(learner.prepare())
    prepare_s = time.perf_counter() - t0
    print(
        f"prepare (build model, cache activations of {len(ds.train) + len(ds.valid)} images, once): {prepare_s:.2f} s"
    )

    # 100 iterations on cached activations, the app's code path; the divergence stop is off so
    # every repeat runs them all.
    times, counts = [], []
    for _ in range(a.repeats):
        res = run_to_end(lr_find_job(learner, iters=a.iters, diverge=math.inf))
        times.append(res["seconds"])
        counts.append(len(res["lrs"]))
    med = statistics.median(times)
    print(
        f"range test, {max(counts)} iterations on cached activations: median {med:.3f} s, "
        f"min {min(times):.3f} s over {a.repeats} runs ({1000 * med / max(counts):.1f} ms/iteration, "
        f"1 torch thread) — goal ≤ 2 s: {'met' if med <= 2.0 else 'NOT met'}"
    )
    # why one thread: the same test with torch's default thread count
    many = torch.get_num_threads()
    if many > 1:
        mt = []
        for _ in range(max(1, a.repeats // 2)):
            parts = learner.lr_find_parts()
            t = time.perf_counter()
            run_to_end(
                lr_range_test(
                    parts.module,
                    parts.optimizer,
                    parts.loss_fn,
                    parts.batches,
                    iters=a.iters,
                    diverge=math.inf,
                    lr_mults=parts.lr_mults,
                )
            )
            mt.append(time.perf_counter() - t)
        print(
            f"  same test with {many} torch threads: median {statistics.median(mt):.3f} s "
            f"(small matrix products lose to thread overhead, badly when the cores are busy)"
        )

    t = time.perf_counter()
    full = run_to_end(lr_find_job(learner, iters=a.iters))
    job_s = time.perf_counter() - t
    sugg = ", ".join(f"{k} {format_lr(v)}" for k, v in full["suggestions"].items())
    print(
        f"Run as the app does it (features cached, divergence stop on): {len(full['lrs'])} iterations, "
        f"{job_s:.2f} s, stopped: {full['stopped']}; suggestions: {sugg}"
    )

    if not a.no_gui:
        gui_ms = plot_update_ms(full)
        if gui_ms is not None:
            print(
                f"GUI: live plot update per iteration (offscreen, 100 points): median {gui_ms[0]:.2f} ms, "
                f"max {gui_ms[1]:.2f} ms"
            )

    if a.no_peer:
        print(f"peer: skipped (--no-peer); {EARLIER_PEER}")
        return 0
    if not PEER_PYTHON.exists() or not PEER_SCRIPT.exists():
        print(f"peer: unavailable ({PEER_PYTHON} not found; bench/setup_fastai_peer.sh builds it); {EARLIER_PEER}")
        return 0
    cmd = [str(PEER_PYTHON), str(PEER_SCRIPT), str(ds.root), "--size", str(a.size), "--bs", str(a.bs), "--lr-find-only"]
    print("peer: " + " ".join(cmd[1:]) + " …", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.peer_timeout)
    except subprocess.TimeoutExpired:
        print(f"peer: fastai lr_find did not finish within {a.peer_timeout:.0f} s; {EARLIER_PEER}")
        return 0
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    try:
        peer = json.loads(line)
    except json.JSONDecodeError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"peer: failed (exit {proc.returncode}: {tail}); {EARLIER_PEER}")
        return 0
    ps = peer["seconds_lr_find"]
    print(
        f"peer: fastai {peer['fastai_version']} lr_find: {ps:.1f} s (+{peer['seconds_setup']:.1f} s setup, "
        f"{peer['threads']} threads, {peer['workers']} workers), valley {format_lr(peer['lr'])}"
    )
    ours_cold = prepare_s + med
    print(
        f"ratio: fastai lr_find / Fovea 100 iterations (cached) = {ps / med:.0f}×; "
        f"/ Fovea cold (prepare + test) = {ps / ours_cold:.1f}×"
    )
    return 0


def plot_update_ms(result: dict) -> tuple[float, float] | None:
    """Time the panel's handling of each live record (append + setData + y-range), offscreen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from gui.app import make_app
        from gui.lr_finder.panel import LRFinderPanel
        from gui.state import AppState
    except ImportError as exc:
        print(f"GUI: skipped ({exc})")
        return None
    app = make_app()
    state = AppState()
    panel = LRFinderPanel(state)
    panel.resize(1200, 800)
    panel.show()
    app.processEvents()
    costs = []
    for i, (lr, loss, sm) in enumerate(zip(result["lrs"], result["losses"], result["smoothed"], strict=False)):
        rec = {"type": "lr_find", "iteration": i, "total": len(result["lrs"]), "lr": lr, "loss": loss, "smoothed": sm}
        t = time.perf_counter()
        panel.controller._on_job_progress(rec)
        panel.controller._draw_live()  # the frame the live timer draws, forced for every point here
        panel.view.plot.repaint()  # include the redraw the user sees
        costs.append(1000 * (time.perf_counter() - t))
    panel.close()
    return statistics.median(costs), max(costs)


if __name__ == "__main__":
    sys.exit(main())
