"""Save docs/kernels.png: the Kernels tab on the sample cat with the lecture's right-edge Sobel kernel.

Also docs/kernels_filters.png: EfficientNet-Lite0's first-layer filters, one loaded as a kernel.
Run: python docs/shot_kernels.py [--dark]   (works offscreen; --dark: the dark palette, *_dark.png)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait(app, condition, seconds: float = 60) -> None:
    end = time.time() + seconds
    while not condition() and time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    if sys.version_info < (3, 12):  # PySide6 6.12 + Python 3.11 None-refcount bug (see bench/kernels.py)
        import ctypes

        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_pyqtgraph, make_app
    from gui.kernels.panel import KernelPlayground
    from gui.state import AppState
    from gui.theme import dark_palette

    dark = "--dark" in sys.argv[1:]
    suffix = "_dark" if dark else ""
    app = make_app()
    if dark:
        app.setPalette(dark_palette())
        configure_pyqtgraph()
    panel = KernelPlayground(AppState())
    panel.resize(1366, 768)
    panel.show()
    controller, pictures = panel.controller, panel.view.pictures
    wait(app, lambda: controller.renders > 0)
    controller.apply_preset("right_sobel")
    panel.view.layer_controls.relu_check.setChecked(True)
    wait(app, lambda: controller.renderer.settled)
    controller.fit_views()

    def hover(x: int, y: int) -> None:  # a real mouse move over the result picture
        vb = pictures.view_result
        local = QPointF(pictures.views.mapFromScene(vb.mapViewToScene(QPointF(x + 0.5, y + 0.5))))
        vp = pictures.views.viewport()
        QApplication.sendEvent(
            vp, QMouseEvent(QEvent.MouseMove, local, vp.mapToGlobal(local), Qt.NoButton, Qt.NoButton, Qt.NoModifier)
        )

    for _ in range(10):
        app.processEvents()
    hover(263, 129)  # the edge of the cat's right eye
    for _ in range(10):
        app.processEvents()
    out = ROOT / "docs" / f"kernels{suffix}.png"
    panel.grab().save(str(out))
    print(f"saved {out}")

    panel.view.tabs.setCurrentIndex(1)  # the network's own filters
    network = panel.network
    wait(app, lambda: network.filters is not None or "weights" not in panel.view.filters_tab.info.text(), 120)
    wait(app, lambda: network.filters is not None, 120)
    if network.filters is not None:
        panel.view.layer_controls.relu_check.setChecked(False)  # the filter's raw response, before BN and ReLU
        network.use_filter(13)
        wait(app, lambda: controller.renderer.settled)
        for _ in range(10):
            app.processEvents()
        out = ROOT / "docs" / f"kernels_filters{suffix}.png"
        panel.grab().save(str(out))
        print(f"saved {out}")
    panel.shutdown()


if __name__ == "__main__":
    main()
