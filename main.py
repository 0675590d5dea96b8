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
]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="fovea", description="Fovea — fast.ai lesson 1 as a desktop app. Run without a command to open the window."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the app (the default)")
    gui.add_argument("dataset", nargs="?", help="dataset folder to open (default: last one, or the sample)")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["gui"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # as given: `train --nproc-per-node` runs it again under torchrun
    if args.command == "gui":
        from gui.app import run_app

        return run_app(args.dataset)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
