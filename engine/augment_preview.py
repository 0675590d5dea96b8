"""What augmentation does to training images (fastai's show_batch): augmented copies of a few images,
made by the very function training uses (``engine.batches.augment_batch``), shown as pictures.

torch is imported inside the job, so the window can import this module at start-up.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import numpy as np

from engine.config import DEFAULT_ARCH
from engine.data import Dataset
from engine.images import ImageError
from engine.jobs import check

PREVIEW_IMAGES = 3
PREVIEW_COPIES = 4


def preview_images(dataset: Dataset, count: int = PREVIEW_IMAGES, seed: int = 0) -> list[str]:
    """``count`` training images, from as many classes as possible, chosen by ``seed``."""
    rng = random.Random(seed)
    by_class: dict[int, list[str]] = {}
    for path, label in dataset.train:
        by_class.setdefault(label, []).append(path)
    labels = sorted(by_class)
    rng.shuffle(labels)
    pools = {label: rng.sample(by_class[label], len(by_class[label])) for label in labels}
    picked: list[str] = []
    while len(picked) < count and any(pools.values()):
        for label in labels:
            if pools[label] and len(picked) < count:
                picked.append(pools[label].pop())
    return picked


def augment_preview(
    paths: list[str],
    preset: str,
    size: int = 128,
    copies: int = PREVIEW_COPIES,
    seed: int = 0,
    arch: str = DEFAULT_ARCH,
    stop: threading.Event | None = None,
) -> Iterator[dict]:
    """Job: for each image, ``copies`` augmented versions as (size, size, 3) uint8 arrays.

    Images are decoded and resized as training decodes them, normalised with ``arch``'s statistics
    (augment_batch's lighting works on normalised values), augmented with a generator seeded by
    ``seed`` and turned back into pixels. Unreadable images are left out. Returns one list of
    copies per image that could be read.
    """
    import torch

    from engine.batches import augment_batch
    from engine.features import load_resized
    from engine.models import normalisation, normalise_batch

    arrays = []
    for i, path in enumerate(paths):
        check(stop)
        try:
            arrays.append(load_resized(path, size))
        except ImageError:
            pass  # the dataset browser's Problems tab names it
        yield {"type": "preview", "done": i + 1, "total": len(paths)}
    if not arrays:
        return []
    mean, std = normalisation(arch)
    batch = torch.from_numpy(np.repeat(np.stack(arrays), copies, axis=0))
    x = normalise_batch(batch, mean, std).contiguous()
    check(stop)
    with torch.no_grad():
        out = augment_batch(x, preset, torch.Generator().manual_seed(seed))
    pixels = _to_pixels(out, mean, std)
    return [list(pixels[i * copies : (i + 1) * copies]) for i in range(len(arrays))]


def _to_pixels(x, mean, std) -> np.ndarray:
    """Normalised (N, 3, H, W) → (N, H, W, 3) uint8: the inverse of normalise_batch, rounded."""
    import torch

    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    v = ((x * s + m) * 255).round().clamp(0, 255).to(torch.uint8)
    return v.permute(0, 2, 3, 1).contiguous().numpy()
