"""Create the QApplication and the main window."""

from __future__ import annotations

import os
import sys

WARM_UP_DELAY_MS = 1500


def import_pyqtgraph():
    """pyqtgraph without its CUDA interop: its RawImageWidget imports cuda-python's runtime bindings
    when they are installed (torch's CUDA wheels install them), 0.1–0.2 s of every start for a GPU
    texture path Fovea never uses. A None in sys.modules makes just that import fail; it is removed
    right after, so torch imports the bindings normally later."""
    name = "cuda.bindings.runtime"
    block = "pyqtgraph" not in sys.modules and name not in sys.modules
    if block:
        sys.modules[name] = None
    try:
        import pyqtgraph
    finally:
        if block and sys.modules.get(name, 0) is None:
            del sys.modules[name]
    return pyqtgraph


def configure_pyqtgraph() -> None:
    pg = import_pyqtgraph()
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")


def make_app(argv: list[str] | None = None):
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from engine.paths import resources_dir

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Fovea")
    app.setOrganizationName("Fovea")
    app.setApplicationDisplayName("Fovea")
    app.setDesktopFileName("fovea")
    app.setWindowIcon(QIcon(str(resources_dir() / "fovea.png")))
    configure_pyqtgraph()
    return app


def run_app(dataset: str | None = None) -> int:
    if (
        not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and not os.environ.get("QT_QPA_PLATFORM")
        and sys.platform.startswith("linux")
    ):
        print(
            "fovea: no display found (DISPLAY is not set). Run it on a desktop, or under a virtual "
            "screen: xvfb-run -a python main.py",
            file=sys.stderr,
        )
        return 2
    app = make_app()
    from PySide6.QtCore import QTimer

    from gui.main_window import MainWindow

    window = MainWindow()
    probe = os.environ.get("FOVEA_STARTUP_PROBE")
    if probe:  # bench/startup.py: when did the window appear, and was torch loaded by then?
        from gui.startup_probe import StartupProbe

        StartupProbe(window, probe)
    window.show()
    window.open_initial(dataset)
    # once the first thumbnails are up, import torch and what training and inference need (2–3 s, on a job
    # thread): the window starts without them
    QTimer.singleShot(WARM_UP_DELAY_MS, window.warm_up)
    return app.exec()


def main() -> None:
    """Entry point of the `fovea` GUI script."""
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
