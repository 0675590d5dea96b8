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
    """pyqtgraph's global options; its background and ink come from the palette (gui.theme), so plots
    made afterwards follow a light or dark theme. Call it again after changing the palette."""
    from gui import plot_speed, theme

    pg = import_pyqtgraph()
    plot_speed.install()
    pg.setConfigOptions(
        imageAxisOrder="row-major", antialias=True, background=theme.plot_background(), foreground=theme.plot_ink()
    )


def make_app(argv: list[str] | None = None):
    """The QApplication, named as the desktop entry expects. ``argv`` may carry Qt's own options
    (``-style fusion``, ``-platform offscreen``); Qt takes them out of ``app.arguments()``."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from engine.cli.desktop import APP_NAME, DESKTOP_FILE_NAME
    from engine.paths import resources_dir

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    # X11's WM_CLASS class is the application name and Wayland's app id the desktop file name: the
    # .desktop entry (engine.cli.desktop) is written from the same two constants, so they match.
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(QIcon(str(resources_dir() / "fovea.png")))
    configure_pyqtgraph()
    return app


def has_display(qt_args: list[str]) -> bool:
    """Whether Qt has somewhere to show the window (a display, or a platform chosen explicitly)."""
    return (
        bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))
        or "-platform" in qt_args
        or not sys.platform.startswith("linux")
    )


def run_app(args: list[str] | None = None, parser=None) -> int:
    """Open the window. ``args``: the command line after ``gui`` — Qt's own options and Fovea's
    (``parser``, an argparse parser with a ``dataset`` positional, parses what Qt leaves)."""
    args = list(args or [])
    if not has_display(args):
        print(
            "fovea: no display found (DISPLAY is not set). Run it on a desktop, or under a virtual "
            "screen: xvfb-run -a python main.py",
            file=sys.stderr,
        )
        return 2
    # Qt first: it removes the options it knows with their values. (argparse's parse_known_args
    # cannot know that "fusion" in "-style fusion" belongs to -style and would take it for the dataset.)
    app = make_app([sys.argv[0] if sys.argv else "fovea", *args])
    dataset = parser.parse_args(app.arguments()[1:]).dataset if parser is not None else None
    from PySide6.QtCore import QTimer

    from gui.main_window import MainWindow

    window = MainWindow()
    probe = os.environ.get("FOVEA_STARTUP_PROBE")
    if probe:  # bench/startup.py: when did the window appear, and was torch loaded by then?
        from gui.startup_probe import StartupProbe

        StartupProbe(window, probe)
    window.show()
    window.open_initial(dataset)
    window.load_current_model()  # the model that was current when the app last closed (a job)
    # once the first thumbnails are up, import torch and what training and inference need (2–3 s, on a job
    # thread): the window starts without them
    QTimer.singleShot(WARM_UP_DELAY_MS, window.warm_up)
    return app.exec()


def main() -> None:
    """Entry point of the `fovea` GUI script."""
    from main import gui_main

    sys.exit(gui_main(sys.argv[1:]))
