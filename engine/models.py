"""Models as the rest of Fovea uses them: pick a device, build a pretrained model with a new head
(``create_model``), and the one preprocessing every image goes through.

The parts live in their own modules, re-exported here so ``engine.models`` stays the one import:
network parts in ``engine.networks``, pretrained weights in ``engine.weights``, model files
(save, load, ONNX) in ``engine.model_files``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.config import ARCHITECTURES, DEFAULT_ARCH, TEST_ARCHITECTURES  # noqa: F401 (part of this API)
from engine.model_files import FORMAT_VERSION, export_onnx, load_model, save_model  # noqa: F401
from engine.networks import (  # noqa: F401
    NORMALISATION,
    AdaptiveConcatPool2d,
    FoveaModel,
    ModelMeta,
    TinyCNN,
    bare_network,
    body_from_network,
    depth_channels,
    first_conv,
    make_head,
    normalisation,
)
from engine.networks import bare_network as _bare_network  # noqa: F401 (older name, used by tests)
from engine.paths import resources_dir
from engine.weights import (  # noqa: F401
    WeightsUnavailable,
    import_weights,
    imported_weights_path,
    pretrained_network,
    weights_on_disk,
)


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA when present (unless told otherwise), else CPU."""
    if prefer:
        try:
            device = torch.device(prefer)
        except (RuntimeError, ValueError):
            raise ValueError(f"unknown device '{prefer}' (use cpu, cuda or cuda:N)") from None
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"unsupported device '{prefer}' (use cpu, cuda or cuda:N)")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device '{prefer}' asked for, but no CUDA GPU is available here (use cpu)")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def create_model(
    arch: str,
    classes: list[str],
    image_size: int = 224,
    weights_file: str | Path | None = None,
    pretrained: bool = True,
    depths: tuple[int, ...] = (),
    grid: int = 0,
    hidden: int = 512,
) -> FoveaModel:
    """A pretrained body with a fresh head for ``classes``; body frozen (head-only training).
    ``depths``: body layers whose pooled outputs the head takes (() = the last layer's only);
    ``grid``: each of them but the deepest also pooled per cell of a grid × grid (engine.networks.pool_depth);
    ``hidden``: the head's hidden width, 0 = a linear head (engine.networks.make_head)."""
    net = pretrained_network(arch, weights_file, pretrained)
    body, n_features = body_from_network(arch, net)
    if depths:
        n_features = depth_channels(body, depths, grid)
    mean, std = normalisation(arch)
    grid = int(grid) if depths else 0
    meta = ModelMeta(arch, list(classes), image_size, mean, std, depths=tuple(depths), grid=grid, hidden=int(hidden))
    model = FoveaModel(body, make_head(n_features, len(classes), int(hidden)), meta, n_features)
    model.freeze_to(-1)
    return model


# ---------------------------------------------------------------- preprocessing


def resize_array(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an (H, W, C) uint8 array: area averaging when shrinking (no aliasing),
    bilinear when enlarging. The one resampler everything the model sees goes through."""
    import cv2

    h, w = arr.shape[:2]
    if (width, height) == (w, h):
        return arr
    shrink = width < w or height < h
    return cv2.resize(
        np.ascontiguousarray(arr), (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )


def center_crop_size(w: int, h: int, size: int) -> tuple[int, int]:
    """The (width, height) that makes the shorter side ``size``."""
    scale = size / min(w, h)
    return max(size, round(w * scale)), max(size, round(h * scale))


def resize_center_crop_array(arr: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side of an (H, W, 3) uint8 array to ``size`` and crop the centre square."""
    nw, nh = center_crop_size(arr.shape[1], arr.shape[0], size)
    arr = resize_array(arr, nw, nh)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.ascontiguousarray(arr[top : top + size, left : left + size])


def resize_center_crop(im, size: int):
    """resize_center_crop_array for a PIL image (returns a PIL image)."""
    from PIL import Image

    return Image.fromarray(resize_center_crop_array(np.asarray(im, dtype=np.uint8), size))


def normalise_batch(batch: torch.Tensor, mean, std) -> torch.Tensor:
    """(N, H, W, 3) uint8 → normalised (N, 3, H, W) float32, laid out channels_last.

    One multiply-add per value: (v / 255 − mean) / std = v · scale + shift.
    """
    dev = batch.device
    std_t = torch.tensor(std, dtype=torch.float32, device=dev)
    scale = 1.0 / (255.0 * std_t)
    shift = -torch.tensor(mean, dtype=torch.float32, device=dev) / std_t
    return torch.addcmul(shift, batch.float(), scale).permute(0, 3, 1, 2)  # NHWC memory = channels_last


def to_tensor(images, mean, std) -> torch.Tensor:
    """Stack equal-sized RGB PIL images (or HWC uint8 arrays) into a normalised NCHW float tensor."""
    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    return normalise_batch(torch.from_numpy(arr), mean, std).contiguous()


# ---------------------------------------------------------------- ImageNet


def imagenet_classes() -> list[str]:
    return (resources_dir() / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
