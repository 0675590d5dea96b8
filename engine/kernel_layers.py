"""Stacks of kernel layers ("multiply + add, replace negatives with zeros, repeat") and what one layer
computes at one pixel (the playground's inspector). Same arithmetic as engine.kernels, layer by layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine.jobs import check
from engine.kernels import (
    BORDERS,
    MODES,
    KernelError,
    apply_kernel,
    check_divisor,
    check_image,
    gray_values,
    kernel_response,
    to_uint8,
    validate_kernel,
)


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
    current = check_image(image)
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
    a = check_image(image)
    if gray and a.ndim == 3 and k.ndim == 2:
        a = gray_values(a)
    patch = neighbourhood(a, y, x, k.shape[0], border)
    if k.ndim == 3:
        sums = np.array([float((patch * k).sum())])
    else:
        sums = (patch * k[..., None]).sum(axis=(0, 1))
    return PixelBreakdown(int(x), int(y), patch, k, sums, check_divisor(divisor), float(bias))
