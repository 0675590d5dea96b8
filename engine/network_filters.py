"""A pretrained network's own kernels: its first-layer filters (RGB kernels the playground can apply) and
its activations by depth (what the layers after them respond to).

torch is imported inside the job functions only: the window imports this module at start-up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.jobs import check
from engine.kernels import KernelError, check_image

_networks: dict[str, object] = {}
_networks_lock = threading.Lock()


def _network(arch: str):
    """The pretrained ImageNet network in eval mode, cached (loading takes a second or two)."""
    from engine.models import WeightsUnavailable, pretrained_network

    with _networks_lock:
        net = _networks.get(arch)
        if net is None:
            try:
                net = pretrained_network(arch).eval()
            except WeightsUnavailable as exc:
                raise RuntimeError(
                    f"{arch}'s pretrained weights are not on this computer ({exc.filename}). Import that "
                    f"file with File ▸ Import weights…, or choose efficientnet_lite0, whose weights ship "
                    f"with Fovea."
                ) from None
            for p in net.parameters():
                p.requires_grad_(False)
            _networks[arch] = net
        return net


@dataclass
class NetworkFilters:
    """A network's first convolution: ``weights`` (n, k, k, 3) RGB kernels and ``tiles`` to show them."""

    arch: str
    weights: np.ndarray  # float64 (n, k, k, 3), input channels in RGB order
    tiles: np.ndarray  # uint8 (n, k, k, 3): 128 + 127·w / max|w| per filter (grey = 0)
    stride: int


def filter_tiles(weights: np.ndarray) -> np.ndarray:
    """Each filter as a small colour picture: mid-grey is 0, brighter/darker is positive/negative."""
    w = np.asarray(weights, dtype=np.float64)
    scale = np.abs(w).reshape(len(w), -1).max(axis=1)
    scale[scale == 0] = 1.0
    return np.clip(np.rint(128.0 + 127.0 * w / scale[:, None, None, None]), 0, 255).astype(np.uint8)


def network_filters(arch: str = "efficientnet_lite0", stop=None):
    """Job generator: the first-layer filters of a pretrained network (EfficientNet-Lite0: 32 of 3×3×3)."""
    from engine.models import first_conv

    yield {"type": "loading", "arch": arch}
    net = _network(arch)
    check(stop)
    conv = first_conv(net)
    w = conv.weight.detach().cpu().double().numpy().transpose(0, 2, 3, 1).copy()
    return NetworkFilters(arch, w, filter_tiles(w), int(conv.stride[0]))


def depth_names(arch: str = "efficientnet_lite0") -> list[str]:
    """The depths activations_by_depth can show, shallow to deep."""
    return [name for name, _ in _depth_points(arch)]


DEFAULT_DEPTHS = {
    "efficientnet_lite0": ["stem", "block 1", "block 2", "block 4", "block 6"],
    "resnet": ["stem", "layer1", "layer2", "layer3", "layer4"],
}


def default_depths(arch: str = "efficientnet_lite0") -> list[str]:
    return DEFAULT_DEPTHS["efficientnet_lite0" if arch.startswith("efficientnet") else "resnet"]


def _depth_points(arch: str) -> list[tuple[str, int]]:
    """(name, index of the body child after which it is read)."""
    if arch.startswith("efficientnet"):
        # body: conv_stem, bn1(+ReLU6), blocks 0..6, conv_head, bn2(+ReLU6)
        return [("stem", 1)] + [(f"block {i}", 2 + i) for i in range(7)] + [("head", 10)]
    # torchvision ResNet body: conv1, bn1, relu, maxpool, layer1..layer4
    return [("stem", 2)] + [(f"layer{i}", 3 + i) for i in range(1, 5)]


def activations_by_depth(
    image,
    arch: str = "efficientnet_lite0",
    depths: list[str] | None = None,
    n_maps: int = 8,
    size: int = 224,
    stop=None,
):
    """Job generator: a few feature maps of ``image`` at chosen depths of the pretrained body.

    The image is resized so its shorter side is ``size``. Per depth, the ``n_maps``
    channels with the most spatial variation are returned, each min–max scaled to uint8.
    Returns a list of dicts: name, depth (1-based position), channels, height, width,
    channel_ids, maps (n, h, w) uint8.
    """
    import torch

    from engine.models import body_from_network

    points = _depth_points(arch)
    names = [n for n, _ in points]
    chosen = list(depths) if depths else default_depths(arch)
    for name in chosen:
        if name not in names:
            raise KernelError(f"unknown depth '{name}' for {arch}; choose from {', '.join(names)}")
    # body child index -> (1-based depth, name)
    wanted = {idx: (pos + 1, name) for pos, (name, idx) in enumerate(points) if name in chosen}
    yield {"type": "loading", "arch": arch}
    net = _network(arch)
    check(stop)
    body, _ = body_from_network(arch, net)
    x = _network_input(image, arch, size)
    results = []
    with torch.inference_mode():
        for i, module in enumerate(body.children()):
            if i > max(wanted):
                break
            x = module(x)
            if i in wanted:
                results.append(_depth_maps(x[0].float(), *wanted[i], n_maps))
                yield {"type": "depth", "name": wanted[i][1], "done": len(results), "total": len(wanted)}
            check(stop)
    return results


def _network_input(image, arch: str, size: int):
    """The image as the network's normalised (1, 3, H, W) input, its shorter side resized to ``size``."""
    from PIL import Image

    from engine.models import normalisation, to_tensor

    a = check_image(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    im = Image.fromarray(a.astype(np.uint8))
    scale = size / min(im.size)
    im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.BILINEAR)
    mean, std = normalisation(arch)
    return to_tensor([im], mean, std)


def _depth_maps(fmap, depth: int, name: str, n_maps: int) -> dict:
    """The ``n_maps`` most varied channels of one (C, H, W) feature map, as activations_by_depth returns them."""
    import torch

    spread = fmap.flatten(1).std(dim=1)
    top = torch.argsort(spread, descending=True)[:n_maps]
    return {
        "name": name,
        "depth": depth,
        "channels": int(fmap.shape[0]),
        "height": int(fmap.shape[1]),
        "width": int(fmap.shape[2]),
        "channel_ids": [int(c) for c in top],
        "maps": _maps_to_uint8(fmap[top].numpy().astype(np.float64)),
    }


def _maps_to_uint8(maps: np.ndarray) -> np.ndarray:
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.rint((maps - lo) * (255.0 / span)).astype(np.uint8)
