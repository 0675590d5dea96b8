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

Beside this module: ``engine.kernel_presets`` (the named kernels), ``engine.kernel_layers``
(stacks of layers and the one-pixel breakdown) and ``engine.network_filters`` (a pretrained
network's own first-layer kernels and its activations by depth).
"""

from __future__ import annotations

import math
import re
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


def check_image(image) -> np.ndarray:
    """``image`` as a contiguous H×W or H×W×3 array of uint8 (8-bit pictures) or float64 (layer outputs)."""
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


def check_bias(bias: float) -> float:
    b = float(bias)
    if not math.isfinite(b):
        raise KernelError("the bias must be a finite number")
    return b


def check_divisor(divisor: float) -> float:
    d = float(divisor)
    if d == 0 or not math.isfinite(d):
        raise KernelError("the divisor must be a non-zero number")
    return d


def to_gray(image) -> np.ndarray:
    """BT.601 luma of an RGB uint8 image, exactly round_half_even((9798 R + 19235 G + 3735 B) / 32768)."""
    a = check_image(image)
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
    d = check_divisor(divisor)
    bias = check_bias(bias)
    a = check_image(image)
    flag = _border_flag(border)
    if gray and a.ndim == 3:
        if k.ndim == 3:
            raise KernelError("an RGB kernel needs the colour image; turn grey off")
        a = gray_values(a)
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


def gray_values(a: np.ndarray) -> np.ndarray:
    """The grey input a kernel reads: to_gray of an 8-bit image, the unrounded luma of real values."""
    if a.dtype == np.uint8:
        return to_gray(a)
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
    d = check_divisor(divisor)
    bias = check_bias(bias)
    if mode not in MODES:
        raise KernelError(f"unknown output mode '{mode}'; choose from {', '.join(MODES)}")
    a = check_image(image)
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
