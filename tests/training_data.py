"""Tiny synthetic datasets for the training-engine tests (made in tmp_path, never in the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"blue": (40, 60, 200), "red": (200, 50, 40)}


def write_image(path: Path, colour, seed: int, size: int = 40) -> Path:
    """A noisy picture dominated by ``colour``, different for every seed."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)
    img = base + rng.normal(0, 40, (size, size + 8, 3))
    y, x = rng.integers(0, size - 10, 2)
    img[y : y + 10, x : x + 10] = rng.integers(0, 255, 3)  # a random patch, so images differ
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def make_dataset(root: Path, n_train: int = 16, n_valid: int = 8) -> Path:
    """root/train/<class>/*.png and root/valid/<class>/*.png, two colour classes."""
    seed = 0
    for split, n in (("train", n_train), ("valid", n_valid)):
        for name, colour in COLOURS.items():
            for i in range(n):
                seed += 1
                write_image(root / split / name / f"{name}_{i:03d}.png", colour, seed)
    return root
