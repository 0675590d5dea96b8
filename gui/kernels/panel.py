"""The Kernels tab: edit a kernel, see what it does to a photo, stack layers, try the network's own filters.

Assembled from a view (gui.kernels.view: widgets only), a controller that owns the image, the layer
stack and the results (gui.kernels.controller), and one for the pretrained network's filters and
activations (gui.kernels.network_controller). Every pixel shown comes from engine.kernel_layers,
the same arithmetic the `kernel` CLI command uses.
"""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.kernels.controller import KernelController
from gui.kernels.image_controls import sample_photo
from gui.kernels.network_controller import NetworkController
from gui.kernels.view import KernelView
from gui.state import AppState

START_PHOTO = "chelsea.png"


class KernelPlayground(QWidget):
    """Kernels tab: kernel grid and presets, original/result views, inspector, layers, network filters."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.file_actions = []  # none for the window's File menu
        self.state = state
        self.view = KernelView()
        self.controller = KernelController(state, self.view, self)
        self.network = NetworkController(self.controller, self.view, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.controller.load_file(sample_photo(START_PHOTO), wait=True)

    def shutdown(self) -> None:
        """Cancel and wait for every job of this tab."""
        self.controller.shutdown()
        self.network.shutdown()
