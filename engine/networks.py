"""Network parts: the backbones' bare networks, the fastai-0.7-style head, layer groups, and what a
model is (``ModelMeta``, ``FoveaModel``). No weights are loaded here (engine.weights does that)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.config import (
    ARCHITECTURES,
    MAX_CLASSES,
    MAX_GRID,
    MAX_HIDDEN,
    MAX_IMAGE_SIZE,
    TEST_ARCHITECTURES,
    check_count,
)

# EfficientNet-Lite was trained on inputs scaled to [-1, 1]; ResNets use ImageNet statistics.
NORMALISATION = {
    "efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "resnet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
RESNETS = ("resnet18", "resnet34", "resnet50")


def normalisation(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return NORMALISATION["efficientnet_lite0" if arch.startswith("efficientnet") else "resnet"]


class TinyCNN(nn.Module):
    """Three conv-BN-ReLU stages (stride 2 each); the test stand-in for a pretrained backbone."""

    def __init__(self, width: int = 16):
        super().__init__()
        layers, c_in = [], 3
        for c_out in (width, 2 * width, 4 * width):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.num_features = c_in
        self.fc = nn.Linear(c_in, 1000)

    def forward(self, x):
        return self.fc(torch.mean(self.features(x), dim=(2, 3)))

    def load_fixed_weights(self) -> None:
        """Deterministic "pretrained" weights, the same in every process."""
        gen = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("weight") and p.dim() > 1:
                    fan_in = p[0].numel()
                    p.copy_(torch.randn(p.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                elif name.endswith("weight"):
                    p.fill_(1.0)
                else:
                    p.zero_()


def bare_network(arch: str) -> nn.Module:
    """``arch``'s ImageNet network (1000-class classifier) with freshly initialised weights."""
    if arch == "tiny_cnn":
        return TinyCNN()
    if arch == "efficientnet_lite0":
        import timm

        return timm.create_model("efficientnet_lite0", pretrained=False)
    if arch in RESNETS:
        import torchvision

        return getattr(torchvision.models, arch)(weights=None)
    raise ValueError(f"unknown architecture '{arch}' (choose from {', '.join(ARCHITECTURES)})")


def body_from_network(arch: str, net: nn.Module) -> tuple[nn.Module, int]:
    """The convolutional body (output: a feature map) and its channel count."""
    if arch == "efficientnet_lite0":
        body = nn.Sequential(net.conv_stem, net.bn1, *net.blocks, net.conv_head, net.bn2)
        return body, net.num_features
    if arch == "tiny_cnn":
        return nn.Sequential(*net.features), net.num_features
    body = nn.Sequential(*list(net.children())[:-2])
    return body, net.fc.in_features


def first_conv(net_or_body: nn.Module) -> nn.Conv2d:
    """The network's first convolution (for showing its filters)."""
    for m in net_or_body.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError("network has no convolution")


class AdaptiveConcatPool2d(nn.Module):
    """Average and max pooling side by side (fastai's concat pool)."""

    def forward(self, x):
        return torch.cat([torch.amax(x, dim=(2, 3)), torch.mean(x, dim=(2, 3))], dim=1)


def grid_means(x: torch.Tensor, grid: int) -> torch.Tensor:
    """The mean of each cell of a grid × grid split of the map, flattened (adaptive average pooling's
    cells, written as slices so that any map size exports to ONNX)."""
    h, w = x.shape[2], x.shape[3]
    cells = []
    for i in range(grid):
        for j in range(grid):
            # bounds floor(i·h/g) to ceil((i+1)·h/g), in non-negative integer arithmetic only: an export
            # traces the map's size, and ONNX's division truncates where Python's floors
            rows = slice((i * h) // grid, ((i + 1) * h + grid - 1) // grid)
            cols = slice((j * w) // grid, ((j + 1) * w + grid - 1) // grid)
            cells.append(x[:, :, rows, cols].mean(dim=(2, 3)))
    return torch.stack(cells, dim=2).flatten(1)


def pool_depth(x: torch.Tensor, grid: int = 0) -> torch.Tensor:
    """One body layer's output as a head takes it: max ‖ mean over the whole map and, with ``grid``, the
    mean of each grid cell too (where a pattern is, not only whether: sleeves, collars)."""
    pooled = AdaptiveConcatPool2d()(x)
    return torch.cat([pooled, grid_means(x, grid)], dim=1) if grid else pooled


def depth_grids(depths, grid: int) -> dict[int, int]:
    """Body layer → its pooling grid: ``grid`` for every depth but the deepest, which is pooled whole
    (and stored last: its columns are the last layer's head's)."""
    deepest = max(depths)
    return {d: (0 if d == deepest else int(grid)) for d in depths}


def pooled_depths(body: nn.Module, x, depths, grid: int = 0) -> torch.Tensor:
    """Pooled outputs (pool_depth) of the body layers numbered ``depths`` (the last one always among them),
    side by side: what a multi-depth head takes."""
    grids, out = depth_grids(depths, grid), []
    for i, layer in enumerate(body.children()):
        x = layer(x)
        if i in grids:
            out.append(pool_depth(x, grids[i]))
    return torch.cat(out, dim=1)


def depth_channels(body: nn.Module, depths, grid: int = 0) -> int:
    """Half the width of pooled_depths (what make_head calls ``n_features``; the width is even)."""
    was = body.training
    device = next(body.parameters()).device
    try:
        with torch.no_grad():
            body.eval()
            width = pooled_depths(body, torch.zeros(1, 3, 32, 32, device=device), depths, grid).shape[1]
    finally:
        body.train(was)
    if width % 2:
        raise ValueError(f"pooled features of depths {depths} with a {grid}×{grid} grid have an odd width {width}")
    return width // 2


def make_head(n_features: int, n_classes: int, hidden: int = 512, p1: float = 0.25, p2: float = 0.5) -> nn.Sequential:
    """fastai 0.7's custom head: concat-pool → BN → dropout → linear → ReLU → BN → dropout → linear;
    ``hidden=0``: a linear head, concat-pool → BN → dropout → linear (standardised features)."""
    if not hidden:
        return nn.Sequential(
            AdaptiveConcatPool2d(), nn.BatchNorm1d(2 * n_features), nn.Dropout(p1), nn.Linear(2 * n_features, n_classes)
        )
    return nn.Sequential(
        AdaptiveConcatPool2d(),
        nn.BatchNorm1d(2 * n_features),
        nn.Dropout(p1),
        nn.Linear(2 * n_features, hidden),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(hidden),
        nn.Dropout(p2),
        nn.Linear(hidden, n_classes),
    )


@dataclass
class ModelMeta:
    arch: str
    classes: list[str]
    image_size: int = 224
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    metrics: dict = field(default_factory=dict)
    created: str = ""
    dataset: str = ""
    settings: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)  # what the weights are: run id, epoch, its metrics, state (engine.runs)
    # body layers whose pooled outputs the head takes, concatenated (engine.depths); () = the last only
    depths: tuple[int, ...] = ()
    grid: int = 0  # with depths: each depth but the deepest also pooled as a grid × grid of means
    hidden: int = 512  # the head's hidden width (make_head); 0 = a linear head

    def to_dict(self) -> dict:
        return {
            "depths": list(self.depths),
            "grid": int(self.grid),
            "hidden": int(self.hidden),
            "arch": self.arch,
            "classes": list(self.classes),
            "image_size": int(self.image_size),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "metrics": dict(self.metrics),
            "created": self.created,
            "dataset": self.dataset,
            "settings": dict(self.settings),
            "run": dict(self.run),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelMeta:
        """A ModelMeta from a file's description; ValueError with one line naming what is wrong."""
        if not isinstance(d, dict):
            raise ValueError("its description is not a dictionary")
        arch = d.get("arch")
        if arch not in ARCHITECTURES + TEST_ARCHITECTURES:
            raise ValueError(f"it was made for the architecture {arch!r}, which this Fovea does not know")
        classes = d.get("classes")
        if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
            raise ValueError("its class names are not a list of text")
        check_count("its number of classes", len(classes), 1, MAX_CLASSES)
        size = check_count("its image size", d.get("image_size", 224), 16, MAX_IMAGE_SIZE, " pixels")
        mean, std = _channel_stats(d.get("mean", (0.5,) * 3), "mean"), _channel_stats(d.get("std", (0.5,) * 3), "std")
        if min(std) <= 0:
            raise ValueError(f"its normalisation std must be above 0 (got {', '.join(f'{v:g}' for v in std)})")
        text = {k: d.get(k, "") for k in ("created", "dataset")}
        extra = {k: d.get(k) or {} for k in ("metrics", "settings", "run")}
        depths = d.get("depths") or []
        if not isinstance(depths, list) or not all(isinstance(v, int) and 0 <= v < 1000 for v in depths):
            raise ValueError("its feature depths are not a list of layer numbers")
        grid = d.get("grid") or 0
        if not isinstance(grid, int) or not 0 <= grid <= MAX_GRID or (grid and not depths):
            raise ValueError(f"its pooling grid must be 0 to {MAX_GRID}, and only with feature depths (got {grid!r})")
        hidden = d.get("hidden", 512)
        if not isinstance(hidden, int) or not 0 <= hidden <= MAX_HIDDEN:
            raise ValueError(f"its head's hidden width must be 0 to {MAX_HIDDEN} (got {hidden!r})")
        if not all(isinstance(v, str) for v in text.values()) or not all(isinstance(v, dict) for v in extra.values()):
            raise ValueError("its description has fields of the wrong type (created, dataset, metrics, settings, run)")
        return cls(
            arch,
            list(classes),
            size,
            mean,
            std,
            extra["metrics"],
            text["created"],
            text["dataset"],
            extra["settings"],
            extra["run"],
            tuple(depths),
            grid,
            hidden,
        )


def _channel_stats(values, name: str) -> tuple[float, float, float]:
    ok = isinstance(values, (list, tuple)) and len(values) == 3
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    if not ok:
        raise ValueError(f"its normalisation {name} must be 3 finite numbers (got {values!r:.60})")
    return tuple(float(v) for v in values)


class FoveaModel(nn.Module):
    """Backbone body + new head; ``meta`` carries everything needed to use it elsewhere."""

    def __init__(self, body: nn.Module, head: nn.Module, meta: ModelMeta, n_features: int):
        super().__init__()
        self.body, self.head, self.meta, self.n_features = body, head, meta, n_features

    def forward(self, x):
        if self.meta.depths:  # the head takes pooled outputs of several body layers (engine.depths)
            return self.head[1:](pooled_depths(self.body, x, self.meta.depths, self.meta.grid))
        return self.head(self.body(x))

    def layer_groups(self) -> list[list[nn.Module]]:
        """Three groups for freezing and differential LRs: early body, late body, head."""
        layers = list(self.body.children())
        cut = _group_cut(self.meta.arch, len(layers))
        return [layers[:cut], layers[cut:], [self.head]]

    def freeze_to(self, n: int) -> None:
        """Freeze groups before n (n=-1 or 2: train the head only; 0: train everything)."""
        groups = self.layer_groups()
        n = n % len(groups) if n < 0 else n
        for i, group in enumerate(groups):
            for module in group:
                for p in module.parameters():
                    p.requires_grad = i >= n

    def unfreeze(self) -> None:
        self.freeze_to(0)

    def train(self, mode: bool = True) -> FoveaModel:
        """Like nn.Module.train, but frozen layer groups stay in eval mode (fastai 0.7's
        set_train_mode): their BatchNorm statistics must not drift away from the
        pretrained ones (or from precomputed features)."""
        super().train(mode)
        if mode:
            for group in self.layer_groups():
                if not any(p.requires_grad for m in group for p in m.parameters()):
                    for m in group:
                        m.eval()
        return self


def multi_depths(arch: str) -> tuple[int, ...]:
    """The body layers a multi-depth head takes for ``arch``: middle and late stages and the last layer
    (middle layers carry what transfers to data far from ImageNet)."""
    if arch == "efficientnet_lite0":
        return (4, 5, 6, 7, 10)  # blocks 2-5 (40, 80, 112, 192 channels) and bn2 (1280)
    if arch.startswith("resnet"):
        return (5, 6, 7)  # layer2, layer3, layer4
    if arch == "tiny_cnn":
        return (5, 8)  # the second stage's ReLU and the last
    raise ValueError(f"no multi-depth layers known for '{arch}'")


def _group_cut(arch: str, n_layers: int) -> int:
    if arch == "efficientnet_lite0":
        return 2 + 4  # conv_stem, bn1, blocks 0-3 | blocks 4-6, conv_head, bn2
    if arch.startswith("resnet"):
        return 6  # conv1, bn1, relu, maxpool, layer1, layer2 | layer3, layer4
    if arch == "tiny_cnn":
        return 3  # first conv-BN-ReLU | the other two
    return max(1, n_layers // 2)


def model_skeleton(meta: ModelMeta) -> FoveaModel:
    """An untrained FoveaModel for ``meta`` (its state dict says which tensors a file must hold)."""
    net = bare_network(meta.arch)
    body, n_features = body_from_network(meta.arch, net)
    if meta.depths:
        n_features = depth_channels(body, meta.depths, meta.grid)
    return FoveaModel(body, make_head(n_features, len(meta.classes), meta.hidden), meta, n_features)


def expected_tensors(arch: str, n_classes: int | None = None) -> dict[str, tuple[tuple[int, ...], int]]:
    """name → (shape, bytes as float32) of the tensors ``arch`` holds: its ImageNet network's, or with
    ``n_classes`` a FoveaModel's. Built on the meta device: nothing is allocated."""
    with torch.device("meta"):
        if n_classes is None:
            net = bare_network(arch)
        else:
            net = model_skeleton(ModelMeta(arch, [str(i) for i in range(n_classes)]))
    return {k: (tuple(t.shape), t.numel() * 4) for k, t in net.state_dict().items()}
