"""Fovea: with no arguments, open the app; with a subcommand, run the same engine headless."""

from __future__ import annotations

import argparse
import sys

# Each module registers one subcommand: register(subparsers) and a run(args) -> int.
COMMAND_MODULES = [
    "engine.cli.scan",
    "engine.cli.desktop",
    "engine.cli.kernel",
    "engine.cli.predict",
    "engine.cli.lr_find",
    "engine.cli.train",
    "engine.cli.runs",
]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="fovea", description="Fovea — fast.ai lesson 1 as a desktop app. Run without a command to open the window."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_gui_arguments(sub.add_parser("gui", help="open the app (the default)"))
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


# Options whose value may start with "-" (``--lr-mult -1,1,1``): argparse would take the value for an
# option and say only "expected one argument"; joined as ``--lr-mult=-1,1,1`` the value reaches its
# own check, which names the rule.
DASH_VALUE_OPTIONS = ("--lr-mult",)


def join_dash_values(argv: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        if argv[i] in DASH_VALUE_OPTIONS and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", nargs="?", help="dataset folder to open (default: last one, or the sample)")


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fovea gui",
        description="Open the app. Qt's own options pass through (-style fusion, -platform offscreen, …).",
    )
    add_gui_arguments(parser)
    return parser


def is_gui_command(argv: list[str]) -> bool:
    """No command, ``gui``, or Qt options first (``main.py -style fusion``): the window."""
    if not argv or argv[0] == "gui":
        return True
    return argv[0].startswith("-") and argv[0] not in ("-h", "--help")


def gui_main(argv: list[str]) -> int:
    """The window, with ``argv`` (after ``gui``): Fovea's own arguments and Qt's."""
    parser = gui_parser()
    if "-h" in argv or "--help" in argv:
        parser.parse_args(["--help"])  # prints the help and exits, before any window
    from gui.app import run_app

    return run_app(argv, parser)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if is_gui_command(argv):
        # Straight to the window: the subcommands' modules (some import torch) are not even loaded.
        return gui_main(argv[1:] if argv and argv[0] == "gui" else argv)
    args = build_parser().parse_args(join_dash_values(argv))
    args.argv = argv  # as given: `train --nproc-per-node` runs it again under torchrun
    from engine.cli import console_for_file_names

    console_for_file_names()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
