"""Headless subcommands of main.py; each module has register(subparsers) setting args.run."""

import codecs
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


def _file_names(exc: UnicodeError):
    """Encode error handler: a file name that is not valid UTF-8 (decoded with surrogateescape)
    goes out as its original bytes; any other character the console cannot show, as an escape."""
    try:
        return codecs.lookup_error("surrogateescape")(exc)
    except UnicodeError:
        return codecs.lookup_error("backslashreplace")(exc)


def console_for_file_names() -> None:
    """Let stdout and stderr print any file name: printing one that is not valid UTF-8 (or that the
    locale cannot encode) must not crash a command after its work is done."""
    codecs.register_error("fovea-file-names", _file_names)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="fovea-file-names")
            except (ValueError, OSError):
                pass
