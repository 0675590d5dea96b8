"""Headless subcommands of main.py; each module has register(subparsers) setting args.run."""
import sys


def fail(message: str, code: int = 2) -> int:
    """Print one clear line to stderr and return a non-zero exit code."""
    print(f"fovea: error: {message}", file=sys.stderr)
    return code
