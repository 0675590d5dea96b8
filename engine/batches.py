"""Training batches: decoded images (threads, RAM cache), augmentation, and shuffled batches of
cached features or cached early-layer activations."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.config import IMAGE_CACHE_BYTES
from engine.features import default_workers, images_to_input, load_resized
from engine.images import ImageError
from engine.jobs import check
from engine.schedules import batch_slices

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


def feature_batches(
    fs, bs: int, rng: np.random.Generator, device: torch.device, order: np.ndarray | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Shuffled batches of precomputed features (a FeatureSet), on ``device``; ``order``: the rows to
    use, in order (default: all of them, shuffled by ``rng``)."""
    x, y = fs.x.to(device), fs.y.to(device)
    order = torch.from_numpy(rng.permutation(len(fs)) if order is None else np.asarray(order)).to(device)
    for sl in batch_slices(len(order), int(bs)):
        idx = order[sl]
        yield x[idx], y[idx]
