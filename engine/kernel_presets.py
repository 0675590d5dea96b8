"""The named kernels of the lesson and the playground (Sobel edges, blurs, sharpen…), each with its divisor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.kernels import KernelError


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
