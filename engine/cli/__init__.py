"""Headless subcommands of main.py; each module has register(subparsers) setting args.run."""

import sys


def device_arg(text: str) -> str:
    """argparse type for --device: a clear one-line error for a device that does not exist here."""
    import argparse

    from engine.models import pick_device

    try:
        pick_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def fail(message: str, code: int = 2) -> int:
    """Print one clear line to stderr and return a non-zero exit code."""
    print(f"fovea: error: {message}", file=sys.stderr)
    return code
