"""The playground's layer stack as the user edits it: which layers, their names, which one is selected.

Plain Python (no Qt): the controller calls these edits and then shows the result; tests drive them directly.
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernel_layers import Layer
from engine.kernel_presets import DEFAULT_PRESET, PRESETS
from engine.kernels import format_number

MAX_LAYERS = 8
MAX_UNDO = 100
CUSTOM = "custom"
RGB_NOTE = (
    "A first-layer filter of the pretrained network: it multiplies the R, G and B "
    "neighbourhoods by the three grids and adds everything into one value."
)
CUSTOM_NOTE = "Your own kernel: each output pixel is Σ neighbourhood × weight, ÷ divisor, + bias."


def preset_layer(name: str, relu: bool = False) -> Layer:
    p = PRESETS[name]
    return Layer(p.kernel, float(p.divisor), 0.0, relu)


class LayerStack:
    """Layers with a name each (a preset's, "custom", or a network filter's) and the selected one.

    ``channel`` is the slice of an RGB kernel the grid edits (R, G or B). Every edit can be undone
    (``undo``); a run of edits to one number (scrubbing a cell, typing a divisor) undoes as one.
    """

    def __init__(self) -> None:
        self.layers: list[Layer] = [preset_layer(DEFAULT_PRESET)]
        self.names: list[str] = [DEFAULT_PRESET]
        self.current = 0
        self.channel = 0
        self.mode = "clip"  # how the results become pixels (a network filter switches it to normalise)
        self._undo: list[tuple] = []  # (layers, names, current, channel, mode) before each edit
        self._last_edit: tuple | None = None  # what the newest edit changed, to merge a run of them

    # ------------------------------------------------------------ undo
    def _remember(self, edit: tuple | None = None) -> None:
        """Keep the stack as it is before an edit; ``edit`` names a number being changed again and again
        (a cell, the divisor): a run of edits to the same one is remembered once."""
        if edit is not None and edit == self._last_edit:
            return
        self._last_edit = edit
        self._undo.append((self.snapshot(), list(self.names), self.current, self.channel, self.mode))
        del self._undo[:-MAX_UNDO]

    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> bool:
        """Put the stack back as it was before the newest edit; False if there is none."""
        if not self._undo:
            return False
        self.layers, self.names, self.current, self.channel, self.mode = self._undo.pop()
        self._last_edit = None
        return True

    # ------------------------------------------------------------ reading
    @property
    def layer(self) -> Layer:
        return self.layers[self.current]

    @property
    def name(self) -> str:
        return self.names[self.current]

    def is_rgb(self, i: int | None = None) -> bool:
        """Whether layer ``i`` (default: the selected one) has an N×N×3 kernel."""
        return self.layers[self.current if i is None else i].kernel.ndim == 3

    def title(self, i: int) -> str:
        """ "1. Top Sobel (lecture)  → ReLU": the layer list's line for layer ``i``."""
        name = self.names[i]
        title = PRESETS[name].title if name in PRESETS else ("Custom" if name == CUSTOM else name)
        return f"{i + 1}. {title}" + ("  → ReLU" if self.layers[i].relu else "")

    def titles(self) -> list[str]:
        return [self.title(i) for i in range(len(self.layers))]

    def grid_values(self) -> np.ndarray:
        """What the N×N grid shows: the kernel, or the selected channel's slice of an RGB kernel."""
        k = self.layer.kernel
        return k[..., self.channel] if k.ndim == 3 else k

    def grid_step(self) -> float:
        """Scrub step: 0.05 for RGB kernels and small fractional ones, else 1."""
        k = self.layer.kernel
        return 0.05 if k.ndim == 3 or np.abs(k).max() < 2 and not np.all(k == np.round(k)) else 1.0

    def note(self) -> str:
        """What the selected kernel does, and its weights' sum (the divisor that keeps brightness)."""
        if self.name in PRESETS:
            text = PRESETS[self.name].description
        else:
            text = RGB_NOTE if self.is_rgb() else CUSTOM_NOTE
        return f"{text} Weights sum to {format_number(float(self.layer.kernel.sum()))}."

    def can_divide_by_sum(self) -> bool:
        total = float(self.layer.kernel.sum())
        return total > 0 and not math.isclose(total, self.layer.divisor)

    def snapshot(self) -> list[Layer]:
        """Copies of the layers, safe to hand to a worker thread while editing goes on."""
        return [Layer(ly.kernel.copy(), ly.divisor, ly.bias, ly.relu) for ly in self.layers]

    # ------------------------------------------------------------ editing the selected layer
    def set_cell(self, r: int, c: int, value: float) -> None:
        """One weight changed (in the selected channel of an RGB kernel); the layer becomes custom."""
        self._remember(("cell", self.current, self.channel, r, c))
        k = self.layer.kernel.copy()
        if k.ndim == 3:
            k[r, c, self.channel] = value
        else:
            k[r, c] = value
        self.layer.kernel = k
        self.names[self.current] = CUSTOM

    def use_preset(self, name: str) -> None:
        """Replace the selected layer's kernel, divisor and bias by a preset's (its ReLU stays)."""
        self._remember()
        self.layers[self.current] = preset_layer(name, self.layer.relu)
        self.names[self.current] = name
        self.channel = 0

    def resize(self, n: int) -> bool:
        """Grow (zero padding) or shrink (keep the centre) the selected kernel; False if already n×n."""
        k = self.layer.kernel
        old = k.shape[0]
        if n == old:
            return False
        self._remember()
        if n > old:
            new = np.zeros((n, n) + k.shape[2:])
            o = (n - old) // 2
            new[o : o + old, o : o + old] = k
        else:
            o = (old - n) // 2
            new = k[o : o + n, o : o + n].copy()
        self.layer.kernel = new
        self.names[self.current] = CUSTOM
        return True

    def use_network_filter(self, weights: np.ndarray, name: str) -> None:
        """Put a network's RGB filter into the selected layer (the raw response, before BN; the layer's
        ReLU stays as the user set it)."""
        self._remember()
        self.layers[self.current] = Layer(np.array(weights, dtype=np.float64), 1.0, 0.0, self.layer.relu)
        self.names[self.current] = name
        self.channel = 0
        self.mode = "normalise"  # a filter's response is signed and small: stretched to 0–255 to be seen

    def set_divisor(self, value: float) -> None:
        self._remember(("divisor", self.current))
        self.layer.divisor = float(value)

    def set_bias(self, value: float) -> None:
        self._remember(("bias", self.current))
        self.layer.bias = float(value)

    def set_relu(self, on: bool) -> None:
        self._remember()
        self.layer.relu = bool(on)

    # ------------------------------------------------------------ the stack
    def can_add(self) -> bool:
        return len(self.layers) < MAX_LAYERS

    def can_remove(self) -> bool:
        return len(self.layers) > 1

    def add(self, preset_name: str = "identity", relu: bool = False) -> None:
        """Insert a layer after the selected one and select it."""
        if preset_name not in PRESETS:
            preset_name = "identity"
        self._remember()
        self.current += 1
        self.layers.insert(self.current, preset_layer(preset_name, relu))
        self.names.insert(self.current, preset_name)

    def remove(self) -> bool:
        """Remove the selected layer (never the last one left)."""
        if not self.can_remove():
            return False
        self._remember()
        del self.layers[self.current]
        del self.names[self.current]
        self.current = min(self.current, len(self.layers) - 1)
        return True

    def select(self, i: int) -> bool:
        if i < 0 or i >= len(self.layers) or i == self.current:
            return False
        self.current = i
        self.channel = 0
        self._last_edit = None  # editing the same cell of another layer is a new edit
        return True
