"""Variants of Auto's features and head, measured on validation of tuning draws (README, Performance:
"Why fm10 stays short of 88 %").

    python bench/auto_variants.py DRAW [DRAW ...] [--size 128] [--grid 4] [--depths 4,5,6,7,10]
                                  [--heads 1] [--seeds 2] [--set p1=0.5 --set lr=1e-3 ...]

Features: Auto's pooled multi-depth activations of the frozen body (engine.networks.pooled_depths through
the same folded inference copy and image pipeline as the cache), at any input size, grid or depths —
the config checks limit the grid to 4, this script does not. Head: a replica of Auto's (BN, dropout,
``hidden`` wide, AdamW, a warm-up then one cosine over ``epochs``, early stopping with ``patience``, the
best epoch's score), trained ``--seeds`` times; ``--heads K`` also scores K heads' averaged probabilities.
Prints each draw's mean validation accuracy and the mean over the draws, and when the variant differs from
Auto, Auto's own features and head on the same draw in the same run (use tuning draws only).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("FOVEA_HOME", tempfile.mkdtemp(prefix="fovea-bench-variants-"))

from engine.config import DEFAULT_ARCH, TrainConfig  # noqa: E402
from engine.networks import multi_depths  # noqa: E402
from engine.recipes import GRID, HIDDEN, MAX_HEAD_EPOCHS, PATIENCE  # noqa: E402

# Auto's head (engine.recipes: AdamW, wd 1e-2, fastai's dropouts) at a fixed LR near its valley, and its features
HEAD = dict(epochs=MAX_HEAD_EPOCHS, patience=PATIENCE, lr=5e-4, hidden=HIDDEN, p1=0.25, p2=0.5, wd=1e-2, ls=0.0, bs=64)
AUTO = dict(size=TrainConfig().size, depths=multi_depths(DEFAULT_ARCH), grid=GRID)


def features(folder: str, size: int, depths: tuple[int, ...], grid: int):
    """(x_train, y_train, x_valid, y_valid, seconds) for a dataset folder."""
    from engine.data import scan_dataset
    from engine.features import images_to_input, load_resized
    from engine.inference_copy import fast_inference_copy
    from engine.models import create_model
    from engine.networks import pooled_depths

    ds = scan_dataset(folder)
    model = create_model("efficientnet_lite0", ds.classes, size)
    body = fast_inference_copy(model.body, torch.device("cpu"), size)
    t0, out = time.perf_counter(), []
    for items in (ds.train, ds.valid):
        xs, ys = [], []
        for i in range(0, len(items), 32):
            part = items[i : i + 32]
            arrays = [load_resized(p, size) for p, _ in part]
            x = images_to_input(arrays, model.meta.mean, model.meta.std, torch.device("cpu"), True)
            with torch.inference_mode():
                xs.append(pooled_depths(body, x, depths, grid))
            ys += [y for _, y in part]
        out += [torch.cat(xs), torch.tensor(ys)]
    return (*out, time.perf_counter() - t0)


def head(n_in: int, n_out: int, hidden: int, p1: float, p2: float) -> nn.Module:
    if not hidden:
        return nn.Sequential(nn.BatchNorm1d(n_in), nn.Dropout(p1), nn.Linear(n_in, n_out))
    return nn.Sequential(
        nn.BatchNorm1d(n_in), nn.Dropout(p1), nn.Linear(n_in, hidden), nn.ReLU(),
        nn.BatchNorm1d(hidden), nn.Dropout(p2), nn.Linear(hidden, n_out),
    )  # fmt: skip


def train_head(xt, yt, xv, yv, seed: int, epochs, patience, lr, hidden, p1, p2, wd, ls, bs):
    """(best validation accuracy, that epoch's validation probabilities)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    m = head(xt.shape[1], int(max(yt.max(), yv.max())) + 1, hidden, p1, p2)
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=wd)
    batches = math.ceil(len(xt) / bs)
    total, it, best, probs, since = epochs * batches, 0, (-1.0, 0.0), None, 0
    warm = max(1, total // 20)
    for _ in range(epochs):
        m.train()
        for idx in torch.randperm(len(xt), generator=gen).split(bs):
            f = it / warm if it < warm else 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, total - warm)))
            for group in opt.param_groups:
                group["lr"] = lr * f
            it += 1
            if len(idx) < 2:
                continue
            loss = F.cross_entropy(m(xt[idx]), yt[idx], label_smoothing=ls)
            opt.zero_grad()
            loss.backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            logits = m(xv)
        score = ((logits.argmax(1) == yv).float().mean().item(), -F.cross_entropy(logits, yv).item())
        if score > best:
            best, probs, since = score, logits.softmax(1), 0
        else:
            since += 1
            if patience and since >= patience:
                break
    return best[0], probs


def score(folder: str, size: int, depths: tuple[int, ...], grid: int, heads: int, seeds: int, kw: dict):
    """(features, seconds, one head's mean accuracy, ``heads`` heads averaged: mean accuracy)."""
    with torch.no_grad():
        torch.set_num_threads(os.cpu_count() or 1)
        xt, yt, xv, yv, seconds = features(folder, size, depths, grid)
        torch.set_num_threads(1)  # as Auto's head on the CPU
    accs, ens = [], []
    for s in range(seeds):
        runs = [train_head(xt, yt, xv, yv, 100 * s + k, **kw) for k in range(heads)]
        accs += [acc for acc, _ in runs]
        ens.append((torch.stack([p for _, p in runs]).mean(0).argmax(1) == yv).float().mean().item())
    return xt.shape[1], seconds, float(np.mean(accs)), float(np.mean(ens))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("draws", nargs="+")
    ap.add_argument("--size", type=int, default=AUTO["size"])
    ap.add_argument("--grid", type=int, default=AUTO["grid"])
    ap.add_argument("--depths", default=",".join(map(str, AUTO["depths"])))
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="a head setting, e.g. p1=0.5 (see HEAD)")
    a = ap.parse_args()
    kw = dict(HEAD)
    for item in a.set:
        key, value = item.split("=", 1)
        if key not in HEAD:
            sys.exit(f"unknown head setting {key} (choose from {', '.join(HEAD)})")
        kw[key] = type(HEAD[key])(float(value))
    variant = dict(size=a.size, depths=tuple(int(d) for d in a.depths.split(",")), grid=a.grid)
    peer = variant != AUTO or kw != HEAD or a.heads > 1  # then Auto's own settings too, in the same run
    rows = []
    for folder in a.draws:
        n, seconds, one, avg = score(folder, **variant, heads=a.heads, seeds=a.seeds, kw=kw)
        line = f"{folder}: {n} features in {seconds:.1f} s; one head {one:.2%}"
        line += f", {a.heads} heads averaged {avg:.2%}" if a.heads > 1 else ""
        auto = score(folder, **AUTO, heads=1, seeds=a.seeds, kw=HEAD)[2] if peer else one
        print(line + (f"; Auto's settings {auto:.2%}" if peer else ""), flush=True)
        rows.append((one, avg, auto))
    one, avg, auto = np.mean(rows, axis=0)
    line = f"mean over {len(rows)} draws: one head {one:.2%}" + (f", heads averaged {avg:.2%}" if a.heads > 1 else "")
    print(line + (f"; Auto's settings {auto:.2%} ({100 * (one - auto):+.1f} points)" if peer else ""))


if __name__ == "__main__":
    main()
