"""The Kernels tab's controller: owns the image, the layer stack, the output options and the results shown,
and keeps the view in step. Every pixel comes from engine.kernel_layers (as the `kernel` CLI's do).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.jobs import run_to_end
from engine.kernel_layers import Stage, pixel_breakdown
from engine.kernels import KernelError, load_image_array, save_result
from gui import theme
from gui.jobs import JobSlot
from gui.kernels.inspector import breakdown_html
from gui.kernels.renderer import RenderRequest, ResultRenderer
from gui.kernels.stack import CUSTOM, LayerStack
from gui.kernels.view import KernelView
from gui.state import AppState


def error_html(message: str) -> str:
    return f"<span style='color:{theme.css(theme.error_text())}'>{html.escape(message)}</span>"


class KernelController(QObject):
    resultShown = Signal()  # a new result image was put on screen
    imageChanged = Signal()  # a new image is shown (its activations are out of date)

    def __init__(self, state: AppState, view: KernelView, parent: QObject | None = None):
        super().__init__(parent)
        self.state, self.view = state, view
        self.image: np.ndarray = np.zeros((8, 8, 3), dtype=np.uint8)
        self.image_name = ""
        self.stack = LayerStack()
        self.border, self.gray = "replicate", False
        self.stages: list[Stage] = []  # the newest result, one stage per layer
        self.error = ""  # why the newest request gave no result
        self.renders = 0  # results put on screen (tests, bench)
        self.hover: tuple[int, int] | None = None  # the pixel the inspector explains
        self.dataset_image: str | None = None  # the current dataset's first image
        self.load_slot = JobSlot("kernels image", self)
        self.renderer = ResultRenderer(self._render_request, self)
        self.renderer.rendered.connect(self._on_rendered)
        self.renderer.failed.connect(self._on_render_failed)
        self._connect_view()
        state.datasetChanged.connect(self._on_model_dataset_changed)
        self._on_model_dataset_changed(state.dataset)
        self._show_stack()

    def _connect_view(self) -> None:
        v = self.view
        v.fileGiven.connect(self.load_file)
        v.imageGiven.connect(self.set_image)
        v.clipboardEmpty.connect(self._on_view_clipboard_empty)
        v.image_controls.fileRequested.connect(self.load_file)
        v.image_controls.datasetImageRequested.connect(self._on_view_dataset_image)
        v.image_controls.saveRequested.connect(self._on_view_save)
        v.image_controls.fitRequested.connect(self.fit_views)
        k = v.kernel_controls
        k.presetPicked.connect(self.apply_preset)
        k.sizePicked.connect(self._on_view_size)
        k.channelPicked.connect(self._on_view_channel)
        k.cellEdited.connect(self._on_view_cell)
        k.divisorEdited.connect(self._on_view_divisor)
        k.divideBySumRequested.connect(self._on_view_divide_by_sum)
        k.biasEdited.connect(self._on_view_bias)
        v.output_controls.optionsEdited.connect(self._on_view_options)
        layers = v.layer_controls
        layers.layerSelected.connect(self.select_layer)
        layers.addRequested.connect(self.add_layer)
        layers.removeRequested.connect(self.remove_layer)
        layers.reluToggled.connect(self._on_view_relu)
        layers.undoRequested.connect(self.undo)
        v.undoRequested.connect(self.undo)
        v.pictures.pixelHovered.connect(self._on_view_hover)
        v.pictures.hoverLeft.connect(self._on_view_hover_left)

    # ------------------------------------------------------------ the image
    def load_file(self, path, wait: bool = False) -> None:
        """Decode an image file on a worker (big photos take long); wait=True decodes here (start-up)."""
        path = str(path)
        if wait:
            try:
                self.set_image(run_to_end(load_image_array(path)), Path(path).name)
            except Exception as exc:
                self._on_image_failed(path, str(exc))
            return
        self.view.image_controls.set_info(f"Opening {html.escape(Path(path).name)} …")
        self.load_slot.start(
            load_image_array,
            path,
            owner="kernels",
            on_finished=lambda a: self.set_image(a, Path(path).name),
            on_failed=lambda message: self._on_image_failed(path, message),
        )

    def _on_image_failed(self, path: str, message: str) -> None:
        self.view.image_controls.set_info(error_html(f"Could not open {Path(path).name}: {message}"))
        self.state.status(f"Could not open {path}: {message}")

    def set_image(self, array: np.ndarray, name: str = "") -> None:
        """Show a new RGB uint8 image and filter it."""
        a = np.ascontiguousarray(array, dtype=np.uint8)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        same_shape = a.shape == self.image.shape
        self.image, self.image_name = a, name
        h, w = a.shape[:2]
        self.view.show_image(a, f"{html.escape(name or 'image')} · {w}×{h} pixels")
        if not same_shape:
            self.stages = []
            self.view.pictures.show_result(None)
            self.fit_views()
        self.renderer.schedule(supersede=True)  # a result for the previous image never shows
        self.imageChanged.emit()

    def fit_views(self) -> None:
        h, w = self.image.shape[:2]
        self.view.pictures.fit(w, h)

    def _on_view_clipboard_empty(self) -> None:
        self.state.status("The clipboard holds no image")
        self.view.image_controls.set_info("The clipboard holds no image. Copy a picture (or an image file) first.")

    def _on_model_dataset_changed(self, dataset) -> None:
        first = None
        if dataset is not None:
            items = dataset.train or dataset.valid
            first = items[0][0] if items else None
        self.dataset_image = first
        self.view.image_controls.set_dataset_image(first)

    def _on_view_dataset_image(self) -> None:
        if self.dataset_image:
            self.load_file(self.dataset_image)

    # ------------------------------------------------------------ saving
    def _on_view_save(self) -> None:
        if not self.stages:
            return
        stem = Path(self.image_name).stem or "image"
        path = self.view.ask_save_path(str(Path.home() / f"{stem}-{self.stack.name}.png"))
        if path:
            self.save_result(path)

    def save_result(self, path) -> Path | None:
        """Write the result on screen to ``path``; the status bar says where, or why not."""
        try:
            out = save_result(self.shown_result(), path)
        except KernelError as exc:
            self.state.status(str(exc))
            return None
        self.state.status(f"Saved {out}")
        return out

    def shown_result(self) -> np.ndarray | None:
        """The 8-bit result on screen (the selected layer's stage)."""
        if not self.stages:
            return None
        return self.stages[min(self.stack.current, len(self.stages) - 1)].image

    # ------------------------------------------------------------ editing the stack
    def apply_preset(self, name: str) -> None:
        self.stack.use_preset(name)
        self._show_stack()
        self.renderer.schedule()

    def use_network_filter(self, weights: np.ndarray, name: str) -> None:
        """The selected layer becomes this RGB filter (its ReLU kept), in normalise mode, and its response
        is shown. Undo (Ctrl+Z) brings the layer back."""
        with self.renderer.changing():
            self.stack.use_network_filter(weights, name)
            self.view.output_controls.show_mode(self.mode)
            self._show_stack()
            self.renderer.schedule()

    def _on_view_size(self, n: int) -> None:
        if self.stack.resize(n):
            self._show_stack()
            self.renderer.schedule()

    def _on_view_channel(self, index: int) -> None:
        self.stack.channel = index
        if self.stack.is_rgb():
            self.view.kernel_controls.show_channel(self.stack)

    def _on_view_cell(self, r: int, c: int, value: float) -> None:
        renamed = self.stack.name != CUSTOM
        self.stack.set_cell(r, c, value)
        # the grid already shows the number being typed or scrubbed: only the name and note change
        self.view.kernel_controls.show_name(self.stack)
        if renamed:
            self.view.layer_controls.show_title(self.stack, self.stack.current)
        self._show_undo()
        self.renderer.schedule()

    def _on_view_divisor(self, value: float) -> None:
        self.stack.set_divisor(value)
        self.view.kernel_controls.show_note(self.stack)
        self._show_undo()
        self.renderer.schedule()

    def _on_view_divide_by_sum(self) -> None:
        if self.stack.can_divide_by_sum():
            self._on_view_divisor(float(self.stack.layer.kernel.sum()))
            self.view.kernel_controls.show_layer(self.stack)

    def _on_view_bias(self, value: float) -> None:
        self.stack.set_bias(value)
        self._show_undo()
        self.renderer.schedule()

    def _on_view_options(self, mode: str, border: str, gray: bool) -> None:
        self.stack.mode, self.border, self.gray = mode, border, gray
        self.renderer.schedule()

    def set_mode(self, mode: str) -> None:
        self.view.output_controls.show_mode(mode)
        self._on_view_options(mode, self.border, self.gray)

    def _on_view_relu(self, on: bool) -> None:
        self.stack.set_relu(on)
        self.view.layer_controls.show_title(self.stack, self.stack.current)
        self._show_undo()
        self.renderer.schedule()

    def add_layer(self, preset_name: str = "identity", relu: bool = False) -> None:
        """Insert a layer after the selected one and select it."""
        self.stack.add(preset_name, relu)
        self._show_stack()
        self.renderer.schedule()

    def undo(self) -> bool:
        """Undo the newest edit of the layer stack (Ctrl+Z); False if there is none."""
        if not self.stack.undo():
            self.state.status("Nothing to undo in the kernels")
            return False
        self._show_stack()
        self.renderer.schedule()
        return True

    def remove_layer(self) -> None:
        if self.stack.remove():
            self._show_stack()
            self.renderer.schedule()

    def select_layer(self, i: int) -> None:
        """Edit layer ``i`` and show the image after it."""
        if self.stack.select(i):
            self.view.kernel_controls.show_layer(self.stack)
            self.view.layer_controls.show_selection(self.stack)
            self._show_stage()

    # ------------------------------------------------------------ results
    def _render_request(self) -> RenderRequest:
        gray = self.gray and not self.stack.is_rgb(0)  # an RGB kernel reads the colour channels
        return RenderRequest(self.image, self.stack.snapshot(), self.mode, self.border, gray)

    def _on_rendered(self, stages: list[Stage]) -> None:
        self.stages = stages
        self.error = ""
        self._show_stage()

    def _on_render_failed(self, message: str) -> None:
        self.error = message
        self.view.pictures.set_result_title(error_html(message))

    # ------------------------------------------------------------ model changes -> view
    @property
    def mode(self) -> str:
        """The output mode (clip, abs, normalise): kept with the stack, so Undo restores it too."""
        return self.stack.mode

    def _show_stack(self) -> None:
        self.view.output_controls.show_mode(self.stack.mode)
        self.view.kernel_controls.show_layer(self.stack)
        self.view.layer_controls.show_stack(self.stack)
        self.view.output_controls.allow_gray(not self.stack.is_rgb(0))

    def _show_undo(self) -> None:
        self.view.layer_controls.show_undo(self.stack)

    def _show_stage(self) -> None:
        if not self.stages:
            return
        i = min(self.stack.current, len(self.stages) - 1)
        self.view.pictures.show_result(self.stages[i].image)
        n = len(self.stack.layers)
        title = self.stack.title(i).split(". ", 1)[1]
        where = f"after layer {i + 1} of {n}: {title}" if n > 1 else title
        grey = " (grey)" if self.gray and not self.stack.is_rgb(0) else ""
        self.view.pictures.set_titles(f"Original{grey}", f"Result — {html.escape(where)} · {self.mode}")
        self.renders += 1
        if self.hover is not None:
            self.inspect(*self.hover)
        self.resultShown.emit()

    # ------------------------------------------------------------ the pixel inspector
    def _on_view_hover(self, x: int, y: int) -> None:
        if (x, y) != self.hover:
            self.inspect(x, y)

    def _on_view_hover_left(self) -> None:
        self.hover = None
        self.view.pictures.unmark()

    def inspect(self, x: int, y: int) -> str:
        """Explain output pixel (x, y) of the selected layer in the inspector; return the text."""
        self.hover = (x, y)
        i = min(self.stack.current, len(self.stack.layers) - 1)
        layer = self.stack.layers[i]
        self.view.pictures.mark(x, y, layer.kernel.shape[0])
        if i == 0 or i - 1 >= len(self.stages) or self.stages[i - 1].values is None:
            source, gray = self.image, self.gray and not self.stack.is_rgb(0)
        else:
            source, gray = self.stages[i - 1].values, False
        try:
            b = pixel_breakdown(source, layer.kernel, y, x, layer.divisor, layer.bias, self.border, gray)
        except KernelError as exc:
            self.view.inspector.show_error(str(exc))
            return str(exc)
        out = None
        if i < len(self.stages) and self.stages[i].image.shape[:2] == self.image.shape[:2]:
            out = np.atleast_1d(self.stages[i].image[y, x])
        text = breakdown_html(b, i, out, layer.relu, self.mode)
        self.view.inspector.setText(text)
        return text

    def shutdown(self) -> None:
        """Cancel and wait for every job of this tab's image and results."""
        self.renderer.shutdown()
        self.load_slot.shutdown()
