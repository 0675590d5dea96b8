"""The pretrained network's side of the Kernels tab: its first-layer filters (click one to use it as a kernel)
and its activations of the image by depth. Both load on workers, one JobSlot each; torch loads there too.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QObject

from engine.config import DEFAULT_ARCH
from engine.network_filters import NetworkFilters, activations_by_depth, default_depths, depth_names, network_filters
from gui.jobs import JobSlot
from gui.kernels.activations_tab import DEFAULT_MAPS
from gui.kernels.controller import KernelController, error_html
from gui.kernels.view import ACTIVATIONS_TAB, FILTERS_TAB, KernelView


class NetworkController(QObject):
    def __init__(self, kernels: KernelController, view: KernelView, parent: QObject | None = None):
        super().__init__(parent)
        self.kernels, self.view = kernels, view
        self.arch = DEFAULT_ARCH
        self.filters: NetworkFilters | None = None  # the arch's first-layer filters once loaded
        self.depths = default_depths(self.arch)
        self.n_maps = DEFAULT_MAPS
        self.filters_slot = JobSlot("network filters", self)
        self.activations_slot = JobSlot("activations", self)
        view.archChanged.connect(self._on_view_arch)
        view.tabChanged.connect(self._on_view_tab)
        view.filters_tab.filterClicked.connect(self.use_filter)
        view.activations_tab.settingsEdited.connect(self._on_view_activation_settings)
        kernels.imageChanged.connect(self._on_model_image_changed)
        view.activations_tab.show_depths(depth_names(self.arch), self.depths)

    # ------------------------------------------------------------ view changes
    def _on_view_arch(self, arch: str) -> None:
        self.arch = arch
        self.filters = None
        self.depths = default_depths(arch)
        self.view.filters_tab.clear()
        self.view.activations_tab.show_depths(depth_names(arch), self.depths)
        if self.view.current_tab() == FILTERS_TAB:
            self.load_filters()
        elif self.view.current_tab() == ACTIVATIONS_TAB:
            self._refresh_activations()

    def _on_view_tab(self, index: int) -> None:
        if index == FILTERS_TAB and self.filters is None:
            self.load_filters()
        elif index == ACTIVATIONS_TAB and not self.view.activations_tab.has_results():
            self._refresh_activations()

    def _on_view_activation_settings(self, depths: list[str], n_maps: int) -> None:
        self.depths, self.n_maps = depths, n_maps
        self._refresh_activations()

    def _on_model_image_changed(self) -> None:
        if self.view.current_tab() == ACTIVATIONS_TAB:
            self._refresh_activations()
        else:
            self.view.activations_tab.show_results([])  # recomputed for this image when the tab is shown

    # ------------------------------------------------------------ first-layer filters
    def load_filters(self) -> None:
        """Load the first-layer filters of the chosen network on a worker."""
        self.view.filters_tab.set_info(f"Loading {self.arch}'s pretrained weights …")
        self.filters_slot.start(
            network_filters,
            self.arch,
            owner="kernels",
            on_finished=self._on_filters_loaded,
            on_failed=lambda message: self.view.filters_tab.set_info(error_html(message)),
        )

    def _on_filters_loaded(self, filters: NetworkFilters) -> None:
        self.filters = filters
        n, k = filters.weights.shape[:2]
        self.view.filters_tab.show_tiles(filters.tiles)
        self.view.filters_tab.set_info(
            f"<b>{filters.arch}</b>'s first convolution: {n} filters of {k}×{k}×3 (grey = 0, colours show "
            f"which channels a filter adds or subtracts). Click one to load it into the selected layer as an RGB kernel "
            f"and see its response (Ctrl+Z undoes it). (The network slides it with stride {filters.stride}; here it visits every pixel.)"
        )

    def use_filter(self, index: int) -> None:
        """Put filter ``index`` into the selected layer as an RGB kernel, normalise mode, and show its response."""
        if self.filters is None:
            return
        self.view.filters_tab.show_selected(index)
        self.kernels.use_network_filter(self.filters.weights[index], f"{self.filters.arch} filter {index + 1}")

    # ------------------------------------------------------------ activations by depth
    def _refresh_activations(self) -> None:
        if not self.depths:
            self.view.activations_tab.show_results([])
            return
        self.compute_activations()

    def compute_activations(self) -> None:
        """Feature maps of the current image at the chosen depths, on a worker; a newer request supersedes."""
        self.view.activations_tab.set_info(f"Running {self.arch} on the image …")
        self.activations_slot.start(
            activations_by_depth,
            self.kernels.image,
            self.arch,
            list(self.depths),
            self.n_maps,
            owner="kernels",
            on_progress=self._on_activations_progress,
            on_finished=self._on_activations_done,
            on_failed=lambda message: self.view.activations_tab.set_info(error_html(message)),
        )

    def _on_activations_progress(self, rec: dict) -> None:
        if rec.get("type") == "depth":
            self.view.activations_tab.set_info(f"Computed {rec['name']} ({rec['done']} of {rec['total']}) …")

    def _on_activations_done(self, results: list[dict]) -> None:
        self.view.activations_tab.show_results(results)
        self.view.activations_tab.set_info(
            f"{self.arch} on {html.escape(self.kernels.image_name or 'the image')}: "
            "shallow layers respond to edges and colours, deeper ones to larger, "
            "more complex patterns at lower resolution."
        )

    def shutdown(self) -> None:
        self.filters_slot.shutdown()
        self.activations_slot.shutdown()
