"""Fine-tune a pretrained CNN the fast.ai lesson-1 way, as an engine job.

``Learner(dataset, TrainConfig(...))`` is cheap; ``prepare()`` builds the model and
(with ``precompute``) the cached features; ``fit()`` trains, yielding per-batch and
per-epoch records, and returns the final metrics. Calling ``fit()`` again with a
changed config continues from the current weights — the lesson's sequence:
precompute + head, then ``precompute=False`` with augmentation, then ``unfreeze``
with differential learning rates.

With ``precompute`` on, only ``head[1:]`` trains, on the frozen body's concat-pooled
activations (engine.features); the body is frozen and augmentation is off (the
features of an augmented image would differ every epoch).

With ``frozen_views`` (unfrozen, early group kept frozen by an LR multiplier of 0), the
middle way: the frozen early layers run once per training image and view — the image,
its mirror, random augmented copies — and the late layers train on those cached
activations, each epoch on one view per image (Learner.cache_frozen_layers).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.config import (  # noqa: F401 (TrainConfig and its names are the trainer's API too)
    AUGMENTATIONS,
    FROZEN_CACHE_BYTES,
    IMAGE_CACHE_BYTES,
    MAX_FROZEN_VIEWS,
    OPTIMIZERS,
    SCHEDULES,
    WARMUP_FRACTION,
    TrainConfig,
    can_continue,
    model_key,
)
from engine.data import Dataset
from engine.features import (
    FeatureSet,
    autocast_dtype,
    default_workers,
    fast_inference_copy,
    feature_space,
    forward_batch_size,
    images_to_input,
    load_resized,
    precompute_features,
    weights_fingerprint,
)
from engine.images import ImageError
from engine.jobs import check
from engine.models import FoveaModel, create_model, pick_device, save_model
from engine.records import PrecomputeRecord, TrainingRecord


@dataclass
class LRFindParts:
    module: nn.Module  # what the LR test trains (head on features, or the whole model)
    optimizer: torch.optim.Optimizer  # the learner's real optimizer (the finder restores its state)
    lr_mults: list[float]  # one per optimizer.param_groups: group lr = lr * mult
    loss_fn: Callable  # loss_fn(module(x), y) -> scalar tensor
    batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]  # endless shuffled train batches, on device
    iters_per_epoch: int


# ---------------------------------------------------------------- schedules


def sgdr_schedule(lr: float, iters_per_epoch: int, cycles: int, cycle_len: int = 1, cycle_mult: int = 1) -> list[float]:
    """SGDR (Loshchilov & Hutter) learning rates, one per iteration.

    Cycle c lasts n_c = cycle_len · cycle_mult^c epochs; at step t of it
    lr_t = lr/2 · (1 + cos(π t / n_c)), restarting at lr. The first w = ⌈n_0/20⌉ steps
    are a warm-up: lr_t × (0.01 + 0.99 t/w).
    """
    out: list[float] = []
    first = cycle_len * iters_per_epoch
    warm = max(1, math.ceil(first * WARMUP_FRACTION))
    for c in range(cycles):
        n = cycle_len * cycle_mult**c * iters_per_epoch
        for t in range(n):
            value = lr / 2 * (1 + math.cos(math.pi * t / n))
            if c == 0 and t < warm:
                value *= 0.01 + 0.99 * t / warm
            out.append(value)
    return out


def one_cycle_schedule(
    lr: float, total: int, pct_start: float = 0.25, div: float = 25.0, final_div: float = 1e4
) -> list[float]:
    """Leslie Smith's 1cycle: cosine up from lr/div to lr over pct_start, then down to lr/final_div."""
    up = max(1, int(round(total * pct_start)))
    out = []
    for t in range(total):
        if t < up:
            a, b, p = lr / div, lr, t / up
        else:
            a, b, p = lr, lr / final_div, (t - up) / max(1, total - up - 1)
        out.append(b + (a - b) / 2 * (1 + math.cos(math.pi * p)))
    return out


def planned_schedule(config: TrainConfig, iters_per_epoch: int) -> list[float]:
    """The LR of every iteration of a fit with ``config`` (head group; other groups × lr_mult)."""
    total = config.total_epochs() * iters_per_epoch
    if config.schedule == "constant":
        return [float(config.lr)] * total
    if config.schedule == "one_cycle":
        return one_cycle_schedule(config.lr, total)
    if config.cycles is None:  # one cosine over all epochs
        return sgdr_schedule(config.lr, iters_per_epoch, 1, int(config.epochs), 1)
    return sgdr_schedule(config.lr, iters_per_epoch, int(config.cycles), int(config.cycle_len), int(config.cycle_mult))


def batch_count(n: int, bs: int) -> int:
    """Batches per epoch: a last batch of a single image joins the one before (BatchNorm needs 2)."""
    if n < 2:
        return 0
    full, rest = divmod(n, bs)
    return max(1, full + (1 if rest >= 2 else 0))


def batch_slices(n: int, bs: int) -> list[slice]:
    count = batch_count(n, bs)
    out = [slice(i * bs, min(n, (i + 1) * bs)) for i in range(count)]
    if out and out[-1].stop < n:
        out[-1] = slice(out[-1].start, n)
    return out


def staged_configs(config: TrainConfig, head_epochs: int | None = None) -> list[TrainConfig]:
    """The lesson's recipe as fits: with precompute plus augmentation or unfreeze, first train
    the head on precomputed features (``head_epochs``, default: the same schedule), then the
    same model with precompute off."""
    if not config.precompute or (config.aug == "none" and not config.unfreeze):
        return [config]
    head = replace(config, aug="none", unfreeze=False, tta=False)
    if head_epochs is not None:
        head = replace(head, cycles=None, epochs=int(head_epochs))
    return [head, replace(config, precompute=False)]


# ---------------------------------------------------------------- augmentation

# strengths per preset: rotation (degrees), zoom (max factor), lighting (± contrast; brightness is twice it
# in normalised units, about ± lighting of the pixel range)
AUG_PRESETS = {
    "side_on": {"flip": True, "dihedral": False, "rotate": 10.0, "zoom": 1.1, "lighting": 0.05},
    "top_down": {"flip": True, "dihedral": True, "rotate": 10.0, "zoom": 1.1, "lighting": 0.05},
}


def augment_batch(x: Tensor, preset: str, gen: torch.Generator) -> Tensor:
    """Random flips/rotations/zoom (one affine warp per image, reflection padding) and lighting.

    side_on: horizontal flip, ±10°, zoom 1–1.1 with a random centre, brightness/contrast ±5 %;
    top_down: any of the 8 dihedral symmetries, plus the same rotation, zoom and lighting.
    Random numbers come from ``gen`` (CPU) so runs are reproducible.
    """
    if preset == "none":
        return x
    p = AUG_PRESETS[preset]
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(p["rotate"])
    zoom = 1 + torch.rand(n, generator=gen) * (p["zoom"] - 1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if p["flip"] else torch.ones(n)
    if p["dihedral"]:
        angle = angle + torch.randint(0, 4, (n,), generator=gen).float() * (math.pi / 2)
    room = 1 - 1 / zoom
    tx = (torch.rand(n, generator=gen) * 2 - 1) * room
    ty = (torch.rand(n, generator=gen) * 2 - 1) * room
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    contrast = 1 + (torch.rand(n, generator=gen) * 2 - 1) * p["lighting"]
    brightness = (torch.rand(n, generator=gen) * 2 - 1) * 2 * p["lighting"]
    theta = theta.to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out * contrast.to(x.device).view(n, 1, 1, 1) + brightness.to(x.device).view(n, 1, 1, 1)


# ---------------------------------------------------------------- image batches


class ImageBatches:
    """Decoded, resized training images, decoded in threads ahead of use and kept in RAM.

    Threads, not processes: PIL releases the GIL while decoding and resizing, and
    forking inside a Qt process is unsafe.
    """

    def __init__(
        self,
        items: list[tuple[str, int]],
        size: int,
        mean,
        std,
        device: torch.device,
        workers: int | None = None,
        cache_bytes: int = IMAGE_CACHE_BYTES,
    ):
        self.items, self.size, self.mean, self.std, self.device = list(items), size, mean, std, device
        self.workers = workers or default_workers()
        self.cache: dict[str, np.ndarray] = {}
        self.cache_limit = max(0, cache_bytes // (size * size * 3))
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def _load(self, path: str):
        arr = self.cache.get(path)
        if arr is not None:
            return arr
        try:
            arr = load_resized(path, self.size)
        except ImageError as exc:
            with self._lock:
                self.errors[path] = str(exc)
            return None
        except Exception as exc:
            with self._lock:
                self.errors[path] = f"cannot decode: {exc}"
            return None
        with self._lock:
            if len(self.cache) < self.cache_limit:
                self.cache[path] = arr
        return arr

    def iterate(
        self,
        order: list[int] | np.ndarray,
        slices: list[slice],
        stop=None,
        depth: int = 3,
        channels_last: bool = False,
        min_batch: int = 1,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """(x, y) on device, batch by batch, decoding ``depth`` batches ahead."""
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fovea-decode")
        try:

            def submit(sl):
                idx = [int(i) for i in order[sl]]
                return idx, [pool.submit(self._load, self.items[i][0]) for i in idx]

            queue = deque(submit(sl) for sl in slices[:depth])
            nxt = depth
            while queue:
                check(stop)
                idx, futures = queue.popleft()
                if nxt < len(slices):
                    queue.append(submit(slices[nxt]))
                    nxt += 1
                arrays, labels = [], []
                for i, fut in zip(idx, futures, strict=False):
                    arr = fut.result()
                    if arr is not None:
                        arrays.append(arr)
                        labels.append(self.items[i][1])
                if len(arrays) < min_batch:
                    continue
                x = images_to_input(arrays, self.mean, self.std, self.device, channels_last)
                y = torch.tensor(labels, dtype=torch.int64).to(self.device, non_blocking=True)
                yield x, y
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- the learner


@dataclass
class FrozenActivations:
    """Outputs of the frozen early layer group, cached so the late layers train without running it."""

    key: tuple  # what they were computed from (model, early weights, aug, views, seed)
    train: Tensor  # (views, N, H, W, C) float16: view v of training image i is train[v, i]
    train_y: Tensor  # (N,) int64
    valid: Tensor  # (M, H, W, C) float32 (validation must match the model on the images)
    valid_y: Tensor  # (M,) int64
    views: int  # views cached (fewer than asked when RAM would not hold them)


class FrozenPrefix(nn.Module):
    """Frozen leading layers (an inference copy, run without autograd) followed by trainable ones."""

    def __init__(self, prefix: nn.Module, rest: nn.Module):
        super().__init__()
        self.prefix, self.rest = prefix.requires_grad_(False), rest

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            h = self.prefix(x)
        return self.rest(h)

    def train(self, mode: bool = True) -> FrozenPrefix:
        super().train(mode)
        self.prefix.eval()
        return self


def compute_threads(requested: int | None = None) -> int:
    """torch CPU threads: all cores, less one for the UI when there are 4 or more."""
    if requested:
        return max(1, int(requested))
    cores = os.cpu_count() or 1
    return cores - 1 if cores >= 4 else cores


@contextmanager
def _torch_threads(n: int):
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def _oom_message(config: TrainConfig) -> str:
    return (
        f"The GPU ran out of memory at batch size {config.bs} and {config.size} px images. "
        f"Try a smaller batch size (e.g. {max(2, config.bs // 2)}) or image size."
    )


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class Learner:
    """A model being fine-tuned on a dataset; cheap to create, heavy work happens in jobs."""

    def __init__(self, dataset: Dataset, config: TrainConfig):
        self.dataset = dataset
        self.config = config
        self.device: torch.device = pick_device(config.device)
        self.model: FoveaModel | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.features: dict[str, FeatureSet] = {}
        self.history: list[dict] = []  # epoch records of every fit, in order
        self.metrics: dict = {}  # the last fit's/evaluation's results
        self.fits = 0
        self._built_for: tuple | None = None
        self._space: tuple[str, dict] | None = None
        self._fast_body: nn.Module | None = None
        self._images: dict[str, ImageBatches] = {}
        self._frozen: FrozenActivations | None = None
        self._scaler = None
        self._optimizer_kind = ""

    # ------------------------------------------------------------ building

    @property
    def amp(self) -> torch.dtype | None:
        return autocast_dtype(self.device)

    @property
    def channels_last(self) -> bool:
        # faster on CUDA (tensor cores) and on CPU too (oneDNN convolutions), measured
        return True

    def _model_key(self) -> tuple:
        return (*model_key(self.config, self.dataset.classes), str(self.device))

    def _ensure_model(self) -> None:
        self.config.check()
        self.device = pick_device(self.config.device)
        if self.model is not None and self._built_for == self._model_key():
            return
        torch.manual_seed(self.config.seed)  # the new head's initial weights
        model = create_model(self.config.arch, self.dataset.classes, self.config.size, self.config.weights_file)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.eval()
        self._built_for = self._model_key()
        self.optimizer = None
        self.features = {}
        self._space = self._fast_body = None
        self._images = {}
        self._frozen = None
        self.history = []
        self.fits = 0

    def _apply_freeze(self) -> None:
        """Head only with precompute or without unfreeze; else every group whose LR multiplier is > 0."""
        if self.config.unfreeze and not self.config.precompute:
            self.model.unfreeze()
            for group, mult in zip(self.model.layer_groups(), self._lr_mults(), strict=False):
                if mult == 0:
                    for m in group:
                        m.requires_grad_(False)
        else:
            self.model.freeze_to(-1)

    def _lr_mults(self) -> list[float]:
        m = [float(v) for v in self.config.lr_mult]
        if len(m) == 1:
            m = m * 3
        return m if self.config.unfreeze and not self.config.precompute else [m[0], m[1], 1.0]

    def _ensure_optimizer(self) -> torch.optim.Optimizer:
        """One optimizer over the three layer groups (frozen ones carry no gradients)."""
        kind = self.config.opt
        if self.optimizer is not None and self._optimizer_kind == kind:
            for group in self.optimizer.param_groups:
                group["weight_decay"] = self.config.wd
            return self.optimizer
        groups = [{"params": [p for m in g for p in m.parameters()]} for g in self.model.layer_groups()]
        # foreach (multi-tensor) updates on every device: on a CPU torch would loop over the parameters
        # in Python, holding the GIL the window needs (AdamW over the whole network: 24 → 14 ms a step)
        if kind == "adamw":
            opt = torch.optim.AdamW(
                groups, lr=self.config.lr, betas=(0.9, 0.99), weight_decay=self.config.wd, foreach=True
            )
        else:
            opt = torch.optim.SGD(groups, lr=self.config.lr, momentum=0.9, weight_decay=self.config.wd, foreach=True)
        self.optimizer, self._optimizer_kind = opt, kind
        return opt

    def iters_per_epoch(self) -> int:
        if self.config.precompute and "train" in self.features:
            n = len(self.features["train"])
        elif self.config.caches_frozen_layers() and self._frozen is not None:
            n = self._frozen.train.shape[1]
        else:
            n = len(self.dataset.train)
        return batch_count(n, int(self.config.bs))

    def schedule(self) -> list[float]:
        """The learning rate of every iteration of the planned fit (the lesson's plot_lr)."""
        return planned_schedule(self.config, self.iters_per_epoch())

    def prepare(self, stop: threading.Event | None = None) -> Iterator[PrecomputeRecord]:
        """Job: build the model and, with precompute on, compute/reuse the cached features.

        Yields {"type": "precompute", "split": ..., "done": int, "total": int}; returns None.
        """
        with _torch_threads(compute_threads(self.config.threads)):
            self._ensure_model()
            if len(self.dataset.train) < 2:
                raise ValueError("training needs at least 2 images in train/")
            if len(self.dataset.classes) < 2:
                raise ValueError(
                    f"training needs at least 2 classes (one folder per class in train/); "
                    f"found only {', '.join(map(repr, self.dataset.classes)) or 'none'}"
                )
            if not self.config.precompute:
                return None
            if self._space is None:
                self._space = feature_space(self.model, self.device)

            def fast_body():
                if self._fast_body is None:
                    self._fast_body = fast_inference_copy(self.model.body, self.device, min(64, self.config.size))
                return self._fast_body

            try:
                for split in ("train", "valid"):
                    if split in self.features:
                        continue
                    items = self.dataset.items(split)
                    try:
                        fs = yield from precompute_features(
                            self.model,
                            items,
                            split,
                            self.device,
                            stop=stop,
                            workers=self.config.workers,
                            space=self._space,
                            fast_body=fast_body,
                        )
                    except Exception as exc:
                        if _is_oom(exc):
                            raise RuntimeError(_oom_message(self.config)) from None
                        raise
                    self.features[split] = fs
            finally:
                self._fast_body = None  # an extra copy of the body: free it
        return None

    def _frozen_key(self) -> tuple:
        c = self.config
        early = nn.Sequential(*self.model.layer_groups()[0])
        return (self._built_for, weights_fingerprint(early), c.aug, int(c.frozen_views), int(c.seed))

    def cache_frozen_layers(self, stop: threading.Event | None = None):
        """Job: run the frozen early layer group once over every training image in each of
        ``frozen_views`` views (the image, its mirror, then random ``aug`` copies) and every valid
        image, and keep the activations in RAM (reused while the key — model, early weights, aug,
        views, seed — is unchanged). Yields {"type": "precompute", "split", "done", "total",
        "stage": "frozen"}; returns the FrozenActivations, or None when not even one view fits
        in FROZEN_CACHE_BYTES (then the frozen layers run on every batch)."""
        c = self.config
        key = self._frozen_key()
        if self._frozen is not None and self._frozen.key == key:
            return self._frozen
        self._frozen = None
        size = int(c.size)
        early = fast_inference_copy(nn.Sequential(*self.model.layer_groups()[0]), self.device, min(64, size))
        with torch.inference_mode():
            probe = early(
                torch.zeros(1, 3, size, size, device=self.device).contiguous(memory_format=torch.channels_last)
            )
        _, ch, h, w = probe.shape
        per_image = ch * h * w
        n_train, n_valid = len(self.dataset.train), len(self.dataset.valid)
        budget = FROZEN_CACHE_BYTES - n_valid * per_image * 4
        views = 1 if c.aug == "none" else int(c.frozen_views)
        views = min(views, max(0, budget) // max(1, n_train * per_image * 2))
        if views < 1:
            return None
        gen = torch.Generator().manual_seed(c.seed * 7919 + 101)
        bs = forward_batch_size(self.device)
        out = {}
        try:
            for split, n, v_count, dtype in (
                ("train", n_train, views, torch.float16),
                ("valid", n_valid, 1, torch.float32),
            ):
                buf = torch.empty((v_count, n, h, w, ch), dtype=dtype)
                labels = torch.empty(n, dtype=torch.int64)
                rows = 0
                total = n * v_count
                yield {"type": "precompute", "split": split, "done": 0, "total": total, "stage": "frozen"}
                loader = self._image_loader(split)
                with torch.inference_mode():
                    for x, y in loader.iterate(
                        np.arange(n), batch_slices(n, bs) or [slice(0, n)], stop, channels_last=True
                    ):
                        check(stop)
                        k = len(y)
                        for v in range(v_count):
                            if v == 0:
                                xv = x
                            elif v == 1:  # the mirror image: the most useful view for photos
                                xv = x.flip(3).contiguous(memory_format=torch.channels_last)
                            else:
                                xv = augment_batch(x, c.aug, gen).contiguous(memory_format=torch.channels_last)
                            # channels-last (N, C, H, W) is (N, H, W, C) in memory: copied as is
                            buf[v, rows : rows + k] = early(xv).permute(0, 2, 3, 1).to("cpu", dtype)
                        labels[rows : rows + k] = y.cpu()
                        rows += k
                        yield {
                            "type": "precompute",
                            "split": split,
                            "done": rows * v_count,
                            "total": total,
                            "stage": "frozen",
                        }
                out[split] = (buf[:, :rows], labels[:rows])
        finally:
            del early
        self._frozen = FrozenActivations(
            key, out["train"][0], out["train"][1], out["valid"][0][0], out["valid"][1], views
        )
        return self._frozen

    # ------------------------------------------------------------ training

    def _frozen_batches(self, frozen: FrozenActivations, rng: np.random.Generator):
        """Shuffled batches of cached early activations, each image in one randomly chosen view."""
        n = frozen.train.shape[1]
        order = torch.from_numpy(rng.permutation(n))
        views = torch.from_numpy(rng.integers(frozen.train.shape[0], size=n))
        for sl in batch_slices(n, int(self.config.bs)):
            idx = order[sl]
            x = frozen.train[views[idx], idx].to(self.device, non_blocking=True)
            # (B, H, W, C) → channels-last (B, C, H, W) without a copy; float32 for training
            yield x.permute(0, 3, 1, 2).float(), frozen.train_y[idx].to(self.device)

    def _feature_batches(self, rng: np.random.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        fs = self.features["train"]
        x, y = fs.x.to(self.device), fs.y.to(self.device)
        slices = batch_slices(len(fs), int(self.config.bs))
        order = torch.from_numpy(rng.permutation(len(fs))).to(self.device)
        for sl in slices:
            idx = order[sl]
            yield x[idx], y[idx]

    def _image_loader(self, split: str) -> ImageBatches:
        if split not in self._images:
            c, meta = self.config, self.model.meta
            self._images[split] = ImageBatches(
                self.dataset.items(split), int(c.size), meta.mean, meta.std, self.device, c.workers
            )
        return self._images[split]

    def _image_batches(self, rng: np.random.Generator, epoch_seed: int, stop=None):
        loader = self._image_loader("train")
        n = len(loader.items)
        gen = torch.Generator().manual_seed(epoch_seed)
        for x, y in loader.iterate(
            rng.permutation(n),
            batch_slices(n, int(self.config.bs)),
            stop,
            channels_last=self.channels_last,
            min_batch=2,
        ):
            if self.config.aug != "none":
                x = augment_batch(x, self.config.aug, gen)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def _trainable(self, frozen: FrozenActivations | None = None) -> nn.Module:
        """What the optimizer's gradients come from: head[1:] on features, the late groups on
        cached early activations, else the model — with its frozen leading layers run as a fast
        no-grad copy (BN folded, channels_last)."""
        if self.config.precompute:
            return self.model.head[1:]
        groups = self.model.layer_groups()
        if frozen is not None:
            return nn.Sequential(*[m for g in groups[1:] for m in g])
        k = 0
        while k < len(groups) - 1 and not any(p.requires_grad for m in groups[k] for p in m.parameters()):
            k += 1
        if k == 0:
            return self.model
        prefix = nn.Sequential(*[m for g in groups[:k] for m in g])
        rest = nn.Sequential(*[m for g in groups[k:] for m in g])
        return FrozenPrefix(fast_inference_copy(prefix, self.device, min(64, self.config.size)), rest)

    def _train_mode(self, module: nn.Module) -> None:
        self.model.train()
        module.train()
        if self.config.bn_freeze:
            for m in self.model.body.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def _step(self, module: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> float:
        amp = self.amp
        with torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(module(x), y, label_smoothing=self.config.label_smoothing)
        opt.zero_grad(set_to_none=True)
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(opt)
            self._scaler.update()
        else:
            loss.backward()
            opt.step()
        return float(loss.detach())

    def _validate(
        self, stop=None, frozen: FrozenActivations | None = None, late: nn.Module | None = None
    ) -> tuple[float, float]:
        """(valid loss, accuracy) of the current model, without augmentation (on the cached early
        activations when ``frozen`` is given, with ``late`` the layers after them)."""
        total_loss, correct, n = 0.0, 0, 0
        amp = self.amp
        was = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
                if self.config.precompute and "valid" in self.features:
                    fs = self.features["valid"]
                    head = self.model.head[1:]
                    for sl in batch_slices(len(fs), 512) or [slice(0, len(fs))]:
                        x, y = fs.x[sl].to(self.device), fs.y[sl].to(self.device)
                        if len(y) == 0:
                            continue
                        out = head(x).float()
                        total_loss += float(F.cross_entropy(out, y, reduction="sum"))
                        correct += int((out.argmax(1) == y).sum())
                        n += len(y)
                elif frozen is not None:
                    # the late layers as they are now, BN folded: about half the time of the module
                    _, size, _, ch = frozen.valid.shape  # square: the crops are
                    fast = fast_inference_copy(late, self.device, size, ch)
                    for sl in batch_slices(len(frozen.valid_y), 256) or [slice(0, len(frozen.valid_y))]:
                        x = frozen.valid[sl].to(self.device).permute(0, 3, 1, 2)
                        y = frozen.valid_y[sl].to(self.device)
                        if len(y) == 0:
                            continue
                        out = fast(x).float()
                        total_loss += float(F.cross_entropy(out, y, reduction="sum"))
                        correct += int((out.argmax(1) == y).sum())
                        n += len(y)
                else:
                    loader = self._image_loader("valid")
                    m = len(loader.items)
                    slices = [
                        slice(i, min(m, i + max(int(self.config.bs), 64)))
                        for i in range(0, m, max(int(self.config.bs), 64))
                    ]
                    fast = fast_inference_copy(self.model, self.device, min(64, int(self.config.size)))
                    for x, y in loader.iterate(np.arange(m), slices, stop, channels_last=self.channels_last):
                        out = fast(x).float()
                        total_loss += float(F.cross_entropy(out, y, reduction="sum"))
                        correct += int((out.argmax(1) == y).sum())
                        n += len(y)
        finally:
            self.model.train(was)
        if n == 0:
            return float("nan"), float("nan")
        return total_loss / n, correct / n

    def fit(self, stop: threading.Event | None = None) -> Generator[TrainingRecord, None, dict]:
        """Job: train per ``config``; yields batch and epoch records, returns final metrics.

        Batch: {"type": "batch", "epoch": float, "iteration": int, "loss": float, "lr": float};
        epoch: {"type": "epoch", "epoch": int, "train_loss", "valid_loss", "accuracy", "seconds"}.
        Iterations and epochs count from this fit's start (``schedule()`` has one LR per iteration).
        Returns {"accuracy", "valid_loss", "train_loss", "history", "seconds", "epochs", "tta"}.
        Cancel (``stop``) stops within one batch: the model keeps its last completed step.
        """
        c = self.config
        c.check()
        start = time.perf_counter()
        threads = compute_threads(c.threads)
        with _torch_threads(threads):
            yield from self.prepare(stop)
            self._apply_freeze()
            frozen = None
            if c.caches_frozen_layers():
                frozen = yield from self.cache_frozen_layers(stop)
            else:
                self._frozen = None  # up to FROZEN_CACHE_BYTES of RAM: keep it only while it is used
            opt = self._ensure_optimizer()
            mults = self._lr_mults()
            ipe = self.iters_per_epoch()
            if ipe == 0:
                raise ValueError("training needs at least 2 usable images in train/")
            lrs = planned_schedule(c, ipe)
            epochs = c.total_epochs()
            module = self._trainable(frozen)
            self._scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
            self.fits += 1
            torch.manual_seed(c.seed * 1009 + self.fits)  # dropout masks
            fit_history: list[dict] = []
            it = 0
            body_trains = not c.precompute and c.unfreeze
            try:
                for epoch in range(epochs):
                    t0 = time.perf_counter()
                    rng = np.random.default_rng([c.seed, self.fits, epoch])
                    self._train_mode(module)
                    if c.precompute:
                        batches = self._feature_batches(rng)
                    elif frozen is not None:
                        batches = self._frozen_batches(frozen, rng)
                    else:
                        batches = self._image_batches(rng, c.seed * 100003 + self.fits * 1009 + epoch, stop)
                    losses = []
                    for x, y in batches:
                        check(stop)
                        lr = lrs[min(it, len(lrs) - 1)]
                        for group, mult in zip(opt.param_groups, mults, strict=False):
                            group["lr"] = lr * mult
                        try:
                            loss = self._step(module, opt, x, y)
                        except Exception as exc:
                            if _is_oom(exc):
                                opt.zero_grad(set_to_none=True)
                                if self.device.type == "cuda":
                                    torch.cuda.empty_cache()
                                raise RuntimeError(_oom_message(c)) from None
                            raise
                        if not math.isfinite(loss):
                            raise ValueError(
                                f"the loss became {loss} at iteration {it}: the learning rate "
                                f"{lr:.3g} is too high — try a smaller one (see the LR finder)"
                            )
                        losses.append(loss)
                        it += 1
                        yield {"type": "batch", "epoch": it / ipe, "iteration": it - 1, "loss": loss, "lr": lr}
                    check(stop)
                    valid_loss, accuracy = self._validate(stop, frozen, module)
                    record = {
                        "type": "epoch",
                        "epoch": epoch + 1,
                        "train_loss": float(np.mean(losses)) if losses else float("nan"),
                        "valid_loss": valid_loss,
                        "accuracy": accuracy,
                        "seconds": time.perf_counter() - t0,
                    }
                    fit_history.append(record)
                    self.history.append(record)
                    yield record
                result = {
                    "accuracy": fit_history[-1]["accuracy"],
                    "valid_loss": fit_history[-1]["valid_loss"],
                    "train_loss": fit_history[-1]["train_loss"],
                    "history": fit_history,
                    "epochs": epochs,
                    "iterations": it,
                    "tta": False,
                }
                if c.tta:
                    ev = yield from self.evaluate(tta=True, stop=stop)
                    result.update(
                        accuracy=float(ev.accuracy),
                        valid_loss=float(ev.loss),
                        tta=True,
                        accuracy_without_tta=fit_history[-1]["accuracy"],
                    )
                result["seconds"] = time.perf_counter() - start
                self.metrics = {k: v for k, v in result.items() if k != "history"}
                return result
            finally:
                self.model.eval()
                self._scaler = None
                if body_trains and it > 0:  # cached features no longer describe this body
                    self.features, self._space, self._fast_body = {}, None, None

    # ------------------------------------------------------------ evaluation

    def evaluate(self, tta: bool | None = None, stop: threading.Event | None = None):
        """Job: the whole model on the valid images (engine.inference.evaluate, TTA if asked).

        ``tta`` default: config.tta. Yields {"type": "evaluate", "done", "total"}; returns
        engine.inference.Evaluation (accuracy, loss, probs, confusion matrix, ...).
        """
        from engine.inference import evaluate as evaluate_model

        tta = self.config.tta if tta is None else tta
        with _torch_threads(compute_threads(self.config.threads)):
            if self.model is None:
                yield from self.prepare(stop)
            was = self.model.training
            try:
                return (
                    yield from evaluate_model(
                        self.model,
                        self.dataset.valid,
                        tta=tta,
                        stop=stop,
                        bs=max(int(self.config.bs), 32),
                        device=self.device,
                    )
                )
            finally:
                self.model.train(was)

    # ------------------------------------------------------------ LR finder, saving

    def lr_find_parts(self) -> LRFindParts:
        """What the LR finder needs, after prepare()."""
        if self.model is None:
            raise ValueError("prepare the learner first (build the model / precompute)")
        self._apply_freeze()
        opt = self._ensure_optimizer()
        module = self._trainable()
        if self.config.precompute and "train" not in self.features:
            raise ValueError("precompute is on but the features are not computed yet: run prepare() first")
        seed = [self.config.seed, 7919]

        def batches():
            rng = np.random.default_rng(seed)
            epoch = 0
            while True:
                got = False
                source = (
                    self._feature_batches(rng)
                    if self.config.precompute
                    else self._image_batches(rng, self.config.seed * 7919 + epoch)
                )
                for x, y in source:
                    got = True
                    yield x, y
                if not got:
                    raise ValueError("no usable training images")
                epoch += 1

        def loss_fn(out, y):
            return F.cross_entropy(out.float(), y, label_smoothing=self.config.label_smoothing)

        return LRFindParts(
            module=module,
            optimizer=opt,
            lr_mults=self._lr_mults(),
            loss_fn=loss_fn,
            batches=batches,
            iters_per_epoch=self.iters_per_epoch(),
        )

    def save(self, path) -> Path:
        """Write the model file (engine.models.save_model) with metrics and settings in meta."""
        if self.model is None:
            raise ValueError("there is no trained model to save yet")
        import datetime as _dt

        meta = self.model.meta
        meta.metrics = {
            k: float(v) if isinstance(v, (float, int)) and not isinstance(v, bool) else v
            for k, v in self.metrics.items()
            if isinstance(v, (float, int, bool, str))
        }
        meta.settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.config).items()}
        meta.dataset = str(self.dataset.root)
        meta.created = _dt.datetime.now().isoformat(timespec="seconds")
        return save_model(self.model, path)


def learner_for(current: Learner | None, dataset: Dataset, config: TrainConfig) -> Learner:
    """``current`` set to go on with ``config`` when it can (engine.config.can_continue: same data, same
    network), else a new Learner: what Train and the LR finder both ask before they run."""
    if can_continue(current, dataset, config):
        current.config = config
        return current
    return Learner(dataset, config)
