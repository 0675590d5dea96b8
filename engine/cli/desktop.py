"""`fovea install-desktop`: a freedesktop menu entry (with icon) for the current user."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from engine.cli import fail
from engine.paths import atomic_file, resources_dir, write_bytes_atomic

ENTRY = """[Desktop Entry]
Type=Application
Version=1.0
Name=Fovea
GenericName=Image classifier trainer
Comment=fast.ai lesson 1 as an app: image kernels, fine-tune a pretrained CNN, classify images
Exec={exec_line} %f
Icon={icon}
Terminal=false
Categories=Education;Science;Graphics;
Keywords=deep learning;cnn;fastai;image classification;
StartupWMClass={wm_class}
"""

# The app's names, used by gui.app too: X11 sets WM_CLASS's class from the application name and
# Wayland's app id from the desktop file name, which is how a desktop ties the window to this entry.
APP_NAME = "Fovea"
DESKTOP_FILE_NAME = "fovea"


def register(sub) -> None:
    p = sub.add_parser("install-desktop", help="add Fovea to your desktop menu (double-click launch)")
    p.add_argument("--dir", help="applications folder (default: ~/.local/share/applications)")
    p.set_defaults(run=run)


def install_desktop_entry(app_dir: Path | None = None, icon_dir: Path | None = None) -> Path:
    """Write fovea.desktop and its icon for the current user; return the .desktop path."""
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    app_dir = app_dir or data_home / "applications"
    icon_dir = icon_dir or data_home / "icons/hicolor/256x256/apps"
    icon = icon_dir / "fovea.png"
    write_bytes_atomic(icon, (resources_dir() / "fovea.png").read_bytes())
    main_py = Path(__file__).resolve().parents[2] / "main.py"
    exec_line = f"{shlex.quote(sys.executable)} {shlex.quote(str(main_py))} gui"
    entry = app_dir / f"{DESKTOP_FILE_NAME}.desktop"
    with atomic_file(entry, ".desktop") as tmp:
        Path(tmp).write_text(
            ENTRY.format(exec_line=exec_line, icon=icon, wm_class=APP_NAME), encoding="utf-8", errors="surrogateescape"
        )
        os.chmod(tmp, 0o755)
    return entry


def run(args) -> int:
    try:
        entry = install_desktop_entry(Path(args.dir) if args.dir else None)
    except OSError as exc:
        where = f" into {exc.filename}" if exc.filename else ""
        return fail(f"could not install the menu entry{where}: {exc.strerror or exc}")
    print(f"wrote {entry}; Fovea is now in your desktop menu")
    return 0
