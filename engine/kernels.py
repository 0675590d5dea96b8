"""Image kernels: correlation of a small N×N grid of numbers with every pixel's neighbourhood.

Exact semantics (tests check them against plain loops):

* **Correlation**, not convolution: the kernel is not flipped (the lecture's and
  OpenCV ``filter2D``'s convention). Output pixel (y, x) is
  ``S = Σ_ij k[i, j] · p[y + i - r, x + j - r]`` with r = N // 2, then
  ``v = S / divisor + bias``.
* **Channels:** a 2-D kernel runs on each RGB channel separately, or on the
  grey conversion ``round_half_even((9798 R + 19235 G + 3735 B) / 32768)``
  (ITU-R BT.601 luma in 15-bit fixed point) when ``gray`` is set. A 3-D
  (N, N, 3) "RGB kernel" (a network's first-layer filter) sums over the three
  channels and gives one channel.
* **Borders** (pixels outside the image): ``replicate`` repeats the edge pixel
  (aaa|abc|ccc), ``zero`` reads 0, ``reflect`` mirrors about the edge pixel
  without repeating it (cb|abc|ba; numpy/PyTorch "reflect", OpenCV REFLECT_101).
* **Output modes** to 8 bits: ``clip`` = round to nearest (ties to even) and
  clamp to 0–255; ``abs`` = the same on |v|; ``normalise`` =
  ``round((v - min) · 255 / (max - min))`` with min/max over the whole image, all
  channels together (a constant response gives 0).

Sums, division and bias are computed in 64-bit floats (exact for integer
kernels); rounding is to nearest, ties to even. The implementation is OpenCV's
``filter2D`` (about 20× faster than numpy shift-and-add, 100× faster than torch on
CPU); ``clip``/``abs`` with an integer kernel use its float32 paths directly when
those are provably identical (see ``_uint8_path_is_exact``).
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.jobs import check

MODES = ("clip", "abs", "normalise")
BORDERS = ("replicate", "zero", "reflect")
KERNEL_SIZES = (1, 3, 5, 7)
# Grey = BT.601 luma (0.299, 0.587, 0.114) in 15-bit fixed point; dyadic weights make float32 exact.
GRAY_WEIGHTS = (9798, 19235, 3735)
GRAY_SHIFT = 15


class KernelError(ValueError):
    """A kernel, its text, or an option is unusable; the message says why."""


# ---------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    rows: tuple[tuple[int, ...], ...]
    divisor: int = 1
    description: str = ""

    @property
    def kernel(self) -> np.ndarray:
        return np.array(self.rows, dtype=np.float64)

    @property
    def size(self) -> int:
        return len(self.rows)


_G5 = (1, 4, 6, 4, 1)
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "identity",
            "Identity",
            ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
            description="Copies each pixel: only the centre weight is 1.",
        ),
        Preset(
            "top_sobel",
            "Top Sobel (lecture)",
            ((1, 2, 1), (0, 0, 0), (-1, -2, -1)),
            description="Bright where the pixels above are brighter than those below: top edges.",
        ),
        Preset(
            "bottom_sobel",
            "Bottom Sobel",
            ((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
            description="Bright where the pixels below are brighter than those above.",
        ),
        Preset(
            "left_sobel",
            "Left Sobel",
            ((1, 0, -1), (2, 0, -2), (1, 0, -1)),
            description="Bright where the pixels to the left are brighter than those to the right.",
        ),
        Preset(
            "right_sobel",
            "Right Sobel (lecture)",
            ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
            description="Bright where the pixels to the right are brighter: right edges.",
        ),
        Preset(
            "blur",
            "Blur",
            ((1, 2, 1), (2, 4, 2), (1, 2, 1)),
            16,
            description="A small Gaussian: a weighted average of the neighbourhood.",
        ),
        Preset(
            "box_blur",
            "Box blur",
            ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
            9,
            description="The plain average of the 3×3 neighbourhood.",
        ),
        Preset(
            "sharpen",
            "Sharpen",
            ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
            description="The pixel minus its neighbours' difference: boosts local contrast.",
        ),
        Preset(
            "emboss",
            "Emboss",
            ((-2, -1, 0), (-1, 1, 1), (0, 1, 2)),
            description="A diagonal difference plus the pixel: looks like relief.",
        ),
        Preset(
            "outline",
            "Outline",
            ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1)),
            description="Large where a pixel differs from all its neighbours (a Laplacian).",
        ),
        Preset(
            "gaussian_5x5",
            "Gaussian 5×5",
            tuple(tuple(a * b for b in _G5) for a in _G5),
            256,
            description="A wider Gaussian blur: the outer product of 1 4 6 4 1, divided by 256.",
        ),
    )
}
DEFAULT_PRESET = "top_sobel"


def preset(name: str) -> Preset:
    """The preset called ``name`` (see PRESETS); KernelError lists the choices otherwise."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in PRESETS:
        raise KernelError(f"unknown preset '{name}'; choose from {', '.join(PRESETS)}")
    return PRESETS[key]


# ---------------------------------------------------------------- kernel text

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_EXAMPLE = '"1 2 1; 0 0 0; -1 -2 -1"'


def parse_kernel(text: str) -> np.ndarray:
    """Parse rows separated by ';' or new lines, numbers by spaces or commas, into an N×N array.

    Brackets are ignored, so "[[1,2,1],[0,0,0],[-1,-2,-1]]" works too.
    """
    cleaned = re.sub(r"\]\s*,?\s*\[", ";", text.strip())
    cleaned = cleaned.replace("[", " ").replace("]", " ")
    rows_text = [r for r in re.split(r"[;\n]", cleaned) if r.strip()]
    if not rows_text:
        raise KernelError(f"the kernel is empty; write rows separated by ';', e.g. {_EXAMPLE}")
    rows: list[list[float]] = []
    for i, row in enumerate(rows_text, 1):
        values = []
        for token in (t for t in re.split(r"[,\s]+", row.strip()) if t):
            if not _NUMBER.match(token):
                raise KernelError(f"'{token}' in row {i} of the kernel is not a number")
            values.append(float(token))
        rows.append(values)
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        first = len(rows[0])
        bad = next(i for i, r in enumerate(rows, 1) if len(r) != first)
        raise KernelError(
            f"row {bad} of the kernel has {len(rows[bad - 1])} numbers but row 1 has {first}; "
            "every row needs the same count"
        )
    return validate_kernel(np.array(rows, dtype=np.float64))


def validate_kernel(kernel) -> np.ndarray:
    """Check shape (odd N×N, or N×N×3 for an RGB kernel) and values; return it as float64."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim not in (2, 3) or (k.ndim == 3 and k.shape[2] != 3):
        raise KernelError(f"a kernel is an N×N grid of numbers (or N×N×3 for RGB); got shape {k.shape}")
    rows, cols = k.shape[:2]
    if rows != cols:
        raise KernelError(
            f"the kernel has {rows} row{'s' * (rows != 1)} of {cols} numbers; it must be square (3×3, 5×5 or 7×7)"
        )
    if rows % 2 == 0:
        raise KernelError(
            f"the kernel is {rows}×{rows}; its size must be odd (3×3, 5×5 or 7×7) so that it has a centre pixel"
        )
    if rows not in KERNEL_SIZES:
        raise KernelError(f"the kernel is {rows}×{rows}; the largest allowed is 7×7")
    if not np.isfinite(k).all():
        raise KernelError("the kernel holds a value that is not a finite number")
    return k


def format_kernel(kernel) -> str:
    """The text form parse_kernel reads: "1 2 1; 0 0 0; -1 -2 -1"."""
    k = np.asarray(kernel, dtype=np.float64)
    return "; ".join(" ".join(format_number(v) for v in row) for row in k)


def format_number(v: float) -> str:
    """Integers without a decimal point, others with up to 4 significant decimals."""
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- applying


def _cv2():
    import cv2

    return cv2


def _border_flag(border: str) -> int:
    cv2 = _cv2()
    flags = {"replicate": cv2.BORDER_REPLICATE, "zero": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101}
    if border not in flags:
        raise KernelError(f"unknown border '{border}'; choose from {', '.join(BORDERS)}")
    return flags[border]


def _check_image(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise KernelError(f"an image is H×W (grey) or H×W×3 (RGB); got shape {a.shape}")
    if a.dtype != np.uint8 and a.dtype != np.float64:
        if np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float64)
        elif a.min() < 0 or a.max() > 255:
            raise KernelError("an 8-bit image holds values 0–255")
        else:
            a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def _check_bias(bias: float) -> float:
    b = float(bias)
    if not math.isfinite(b):
        raise KernelError("the bias must be a finite number")
    return b


def _check_divisor(divisor: float) -> float:
    d = float(divisor)
    if d == 0 or not math.isfinite(d):
        raise KernelError("the divisor must be a non-zero number")
    return d


def to_gray(image) -> np.ndarray:
    """BT.601 luma of an RGB uint8 image, exactly round_half_even((9798 R + 19235 G + 3735 B) / 32768)."""
    a = _check_image(image)
    if a.ndim == 2:
        return a
    if a.dtype != np.uint8:
        raise KernelError("grey conversion needs an 8-bit RGB image")
    weights = np.array([GRAY_WEIGHTS], dtype=np.float64) / (1 << GRAY_SHIFT)
    # dyadic weights: every product and sum is exact in float32, so rounding is exact
    return _cv2().transform(a, weights)


def _uint8_path_is_exact(k: np.ndarray, divisor: float, bias: float) -> bool:
    """True when OpenCV's float32 arithmetic (filter2D to 8 bits with kernel k/divisor and delta=bias, or
    convertScaleAbs of the float32 sums) gives exactly the defined result.

    Integer kernel and bias; a power-of-two divisor keeps every partial sum exact, an odd one
    cannot produce a .5 tie and the float error stays below the distance to one (bounds below).
    """
    if not (np.all(k == np.round(k)) and float(bias).is_integer() and float(divisor).is_integer()):
        return False
    d = abs(int(divisor))
    if d & (d - 1) != 0 and d % 2 == 0:
        return False
    n_terms = k.size + 1
    return 255.0 * float(np.abs(k).sum()) * n_terms + abs(bias) * d < 2**22


def _filter(src: np.ndarray, kernel2d: np.ndarray, flag: int, ddepth: int) -> np.ndarray:
    return _cv2().filter2D(src, ddepth, kernel2d, borderType=flag)


def kernel_response(
    image, kernel, divisor: float = 1.0, bias: float = 0.0, border: str = "replicate", gray: bool = False
) -> np.ndarray:
    """The filter output v = S / divisor + bias as float64 (H×W or H×W×3), before the output mode."""
    k = validate_kernel(kernel)
    d = _check_divisor(divisor)
    bias = _check_bias(bias)
    a = _check_image(image)
    flag = _border_flag(border)
    if gray and a.ndim == 3:
        if k.ndim == 3:
            raise KernelError("an RGB kernel needs the colour image; turn grey off")
        a = to_gray(a) if a.dtype == np.uint8 else _gray_float(a)
    cv2 = _cv2()
    if k.ndim == 3:
        if a.ndim != 3:
            raise KernelError("an RGB kernel (N×N×3) needs a 3-channel input")
        s = _filter(np.ascontiguousarray(a[..., 0]), k[..., 0], flag, cv2.CV_64F)
        for c in (1, 2):
            s += _filter(np.ascontiguousarray(a[..., c]), k[..., c], flag, cv2.CV_64F)
    else:
        s = _filter(a, k, flag, cv2.CV_64F)
    if d != 1.0:
        s /= d
    if bias != 0.0:
        s += float(bias)
    return s


def _gray_float(a: np.ndarray) -> np.ndarray:
    w = np.array(GRAY_WEIGHTS, dtype=np.float64) / (1 << GRAY_SHIFT)
    return a @ w


def to_uint8(values: np.ndarray, mode: str = "clip") -> np.ndarray:
    """Turn a filter response into displayable 8-bit pixels (clip, abs or normalise; see module doc)."""
    return _quantise(np.array(values, dtype=np.float64), mode)


def _quantise(v: np.ndarray, mode: str) -> np.ndarray:
    """to_uint8 that overwrites its float64 argument (saves passes over big images)."""
    if mode == "clip":
        np.rint(v, out=v)
    elif mode == "abs":
        np.abs(v, out=v)
        np.rint(v, out=v)
    elif mode == "normalise":
        lo, hi = float(v.min()), float(v.max())
        if not hi > lo:
            return np.zeros(v.shape, dtype=np.uint8)
        v -= lo
        v *= 255.0 / (hi - lo)
        np.rint(v, out=v)
    else:
        raise KernelError(f"unknown output mode '{mode}'; choose from {', '.join(MODES)}")
    np.clip(v, 0, 255, out=v)
    return v.astype(np.uint8)


def apply_kernel(
    image,
    kernel,
    divisor: float = 1.0,
    bias: float = 0.0,
    mode: str = "clip",
    border: str = "replicate",
    gray: bool = False,
) -> np.ndarray:
    """Filter an 8-bit image with an odd N×N kernel; uint8 result (H×W×3, or H×W when grey/RGB kernel)."""
    k = validate_kernel(kernel)
    d = _check_divisor(divisor)
    bias = _check_bias(bias)
    if mode not in MODES:
        raise KernelError(f"unknown output mode '{mode}'; choose from {', '.join(MODES)}")
    a = _check_image(image)
    if a.dtype != np.uint8:
        raise KernelError("apply_kernel takes an 8-bit image")
    if mode in ("clip", "abs") and k.ndim == 2 and _uint8_path_is_exact(k, d, bias):
        cv2 = _cv2()
        flag = _border_flag(border)
        if gray and a.ndim == 3:
            a = to_gray(a)
        if mode == "clip":
            return cv2.filter2D(a, -1, (k / d).astype(np.float32), delta=float(bias), borderType=flag)
        # exact integer sums in float32, then |S / d + b| rounded and saturated in one pass
        return cv2.convertScaleAbs(
            cv2.filter2D(a, cv2.CV_32F, k.astype(np.float32), borderType=flag), alpha=1.0 / d, beta=float(bias)
        )
    return _quantise(kernel_response(a, k, d, bias, border, gray), mode)


# ---------------------------------------------------------------- stacks of layers


@dataclass
class Layer:
    """One convolution layer of the playground's stack: kernel, divisor, bias, optional ReLU after it."""

    kernel: np.ndarray
    divisor: float = 1.0
    bias: float = 0.0
    relu: bool = False


@dataclass
class Stage:
    """The output of one layer: ``values`` (float64, after ReLU if on) feed the next layer; ``image`` shows them."""

    values: np.ndarray | None
    image: np.ndarray


def apply_stack(
    image,
    layers: list[Layer],
    mode: str = "clip",
    border: str = "replicate",
    gray: bool = False,
    keep_values: bool = True,
) -> list[Stage]:
    """Apply layers in sequence ("multiply + add, replace negatives with zeros, repeat").

    Each layer works on the previous layer's real-valued output (not its 8-bit picture);
    every stage's picture uses ``mode``. Intermediate stages always carry their values
    (they are the next layer's input); the last one only with ``keep_values``. A single
    layer without ReLU gives exactly apply_kernel's pixels.
    """
    return list(_iter_stack(image, layers, mode, border, gray, keep_values))


def render_stack(
    image,
    layers: list[Layer],
    mode: str = "clip",
    border: str = "replicate",
    gray: bool = False,
    keep_values: bool = True,
    stop=None,
):
    """Job generator form of apply_stack (big images, off the UI thread); returns the stages."""
    stages: list[Stage] = []
    started = time.perf_counter()
    for stage in _iter_stack(image, layers, mode, border, gray, keep_values):
        stages.append(stage)
        check(stop)
        yield {"type": "layer", "done": len(stages), "total": len(layers), "seconds": time.perf_counter() - started}
    return stages


def _iter_stack(image, layers, mode, border, gray, keep_values):
    if not layers:
        raise KernelError("the stack has no layers")
    if mode not in MODES:
        raise KernelError(f"unknown output mode '{mode}'; choose from {', '.join(MODES)}")
    current = _check_image(image)
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        use_gray = gray and i == 0
        if i == last == 0 and not layer.relu and not keep_values and current.dtype == np.uint8:
            yield Stage(None, apply_kernel(current, layer.kernel, layer.divisor, layer.bias, mode, border, use_gray))
            return
        values = kernel_response(current, layer.kernel, layer.divisor, layer.bias, border, use_gray)
        if layer.relu:
            np.maximum(values, 0.0, out=values)
        yield Stage(values if (keep_values or i < last) else None, to_uint8(values, mode))
        current = values


# ---------------------------------------------------------------- the hover inspector


@dataclass
class PixelBreakdown:
    """neighbourhood × kernel = sum for one output pixel (per channel), as the inspector shows it."""

    x: int
    y: int
    patch: np.ndarray  # (N, N, C) input values around (y, x), borders applied
    kernel: np.ndarray  # (N, N) or (N, N, 3)
    sums: np.ndarray  # (C,) Σ patch·kernel per channel (RGB kernel: one value, summed over channels)
    divisor: float
    bias: float

    @property
    def values(self) -> np.ndarray:
        return self.sums / self.divisor + self.bias


def _border_index(i: np.ndarray, n: int, border: str) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates to valid indices; the mask says which read a zero border."""
    inside = (i >= 0) & (i < n)
    if border == "replicate":
        return np.clip(i, 0, n - 1), np.ones_like(inside)
    if border == "zero":
        return np.clip(i, 0, n - 1), inside
    if n == 1:
        return np.zeros_like(i), np.ones_like(inside)
    period = 2 * (n - 1)
    j = np.mod(i, period)
    return np.where(j >= n, period - j, j), np.ones_like(inside)


def neighbourhood(image, y: int, x: int, size: int, border: str = "replicate") -> np.ndarray:
    """The size×size input values centred on (y, x) as (N, N, C) float64, with the border rule applied."""
    if border not in BORDERS:
        raise KernelError(f"unknown border '{border}'; choose from {', '.join(BORDERS)}")
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    r = size // 2
    rows, rmask = _border_index(np.arange(y - r, y + r + 1), a.shape[0], border)
    cols, cmask = _border_index(np.arange(x - r, x + r + 1), a.shape[1], border)
    patch = a[rows][:, cols].astype(np.float64)
    patch[~(rmask[:, None] & cmask[None, :])] = 0.0
    return patch


def pixel_breakdown(
    image,
    kernel,
    y: int,
    x: int,
    divisor: float = 1.0,
    bias: float = 0.0,
    border: str = "replicate",
    gray: bool = False,
) -> PixelBreakdown:
    """What the filter computes at one pixel of ``image`` (the layer's input)."""
    k = validate_kernel(kernel)
    a = _check_image(image)
    if gray and a.ndim == 3 and k.ndim == 2:
        a = to_gray(a) if a.dtype == np.uint8 else _gray_float(a)
    patch = neighbourhood(a, y, x, k.shape[0], border)
    if k.ndim == 3:
        sums = np.array([float((patch * k).sum())])
    else:
        sums = (patch * k[..., None]).sum(axis=(0, 1))
    return PixelBreakdown(int(x), int(y), patch, k, sums, _check_divisor(divisor), float(bias))


# ---------------------------------------------------------------- files


def save_result(image: np.ndarray, path: str | Path) -> Path:
    """Write an 8-bit result (grey or RGB) to an image file; the extension picks the format.

    Missing parent folders are made; the file appears whole or not at all (temp file + rename).
    """
    from PIL import Image

    from engine.paths import atomic_file

    path = Path(path)
    a = np.asarray(image, dtype=np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise KernelError(
            f"cannot write {path.name}: unknown image format '{path.suffix}' (use .png, .jpg, .bmp, .tif or .webp)"
        )
    try:
        with atomic_file(path, path.suffix) as tmp:
            Image.fromarray(a, "L" if a.ndim == 2 else "RGB").save(tmp, format=fmt)
    except (KeyError, ValueError) as exc:
        raise KernelError(f"cannot write {path.name} as {fmt}: {exc}") from None
    except OSError as exc:
        raise KernelError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def load_image_array(path: str | Path, stop=None):
    """Job generator: decode an image file into an RGB uint8 array (raises engine.images.ImageError)."""
    from engine.images import load_rgb

    yield {"type": "loading", "path": str(path)}
    im = load_rgb(path)
    check(stop)
    return np.asarray(im, dtype=np.uint8).copy()


# ---------------------------------------------------------------- the network's own kernels

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
    from PIL import Image

    from engine.models import body_from_network, normalisation, to_tensor

    points = _depth_points(arch)
    names = [n for n, _ in points]
    chosen = list(depths) if depths else default_depths(arch)
    for name in chosen:
        if name not in names:
            raise KernelError(f"unknown depth '{name}' for {arch}; choose from {', '.join(names)}")
    wanted = [(pos + 1, name, idx) for pos, (name, idx) in enumerate(points) if name in chosen]
    yield {"type": "loading", "arch": arch}
    net = _network(arch)
    check(stop)
    body, _ = body_from_network(arch, net)
    a = _check_image(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    im = Image.fromarray(a.astype(np.uint8))
    scale = size / min(im.size)
    im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.BILINEAR)
    mean, std = normalisation(arch)
    x = to_tensor([im], mean, std)
    results = []
    last = max(idx for _, _, idx in wanted)
    by_index = {idx: (pos, name) for pos, name, idx in wanted}
    with torch.inference_mode():
        for i, module in enumerate(body.children()):
            if i > last:
                break
            x = module(x)
            if i in by_index:
                pos, name = by_index[i]
                fmap = x[0].float()
                spread = fmap.flatten(1).std(dim=1)
                top = torch.argsort(spread, descending=True)[:n_maps]
                maps = fmap[top].numpy().astype(np.float64)
                results.append(
                    {
                        "name": name,
                        "depth": pos,
                        "channels": int(fmap.shape[0]),
                        "height": int(fmap.shape[1]),
                        "width": int(fmap.shape[2]),
                        "channel_ids": [int(c) for c in top],
                        "maps": _maps_to_uint8(maps),
                    }
                )
                yield {"type": "depth", "name": name, "done": len(results), "total": len(wanted)}
            check(stop)
    return results


def _maps_to_uint8(maps: np.ndarray) -> np.ndarray:
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.rint((maps - lo) * (255.0 / span)).astype(np.uint8)
