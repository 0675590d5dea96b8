"""Tools for the attack tests (issue 16): the CLI in a subprocess, hostile files, one-line checks.

Each attack test is named ``test_attack_*`` and its docstring's first line says what the attack
is; ``bench/attacks.py`` runs them all and prints held/failed per attack.
"""

from __future__ import annotations

import io
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import torch

from tests.conftest import ROOT

MEMORY_CAP = 6 << 30  # address space of a CLI subprocess


def run_cli(*args, timeout: float = 180, env: dict | None = None, fsize: int | None = None, cwd=None):
    """``python main.py ARGS`` in a subprocess (bytes arguments allowed); ``fsize``: the largest file
    it may write, in bytes (past it a write fails with EFBIG, as on a full disk)."""

    cap_memory = not torch.cuda.is_available()  # a CUDA context needs far more address space

    def limit():
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if cap_memory:  # a safety net: an attack that still works must not take the machine down
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    full_env = {**os.environ, **(env or {})}
    cmd = [sys.executable, str(ROOT / "main.py"), *[a if isinstance(a, bytes) else str(a) for a in args]]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=full_env, preexec_fn=limit, cwd=cwd)


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def assert_one_line_error(result, *needles: str) -> str:
    """A refused command: exit 2, exactly one line on stderr, no traceback, naming ``needles``."""
    err = text(result.stderr)
    assert result.returncode == 2, (result.returncode, err[-2000:])
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("fovea: error: "), err[-2000:]
    for needle in needles:
        assert needle in err, err
    return err


def assert_usage_error(result, *needles: str) -> str:
    """Refused by the argument parser: exit 2, its usage, then one error line naming ``needles``."""
    err = text(result.stderr)
    assert result.returncode == 2 and "Traceback" not in err, (result.returncode, err[-2000:])
    last = err.strip().splitlines()[-1]
    assert ": error: " in last, err
    for needle in needles:
        assert needle in last, err
    return last


def one_line(message: str, *needles: str) -> None:
    assert "\n" not in message and len(message) < 300, message
    for needle in needles:
        assert needle in message, message


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def tiny_model_file(path: Path, classes=("blue", "red"), size: int = 32) -> Path:
    from engine.models import create_model, save_model

    save_model(create_model("tiny_cnn", list(classes), size), path)
    return path


def rewrite_model_file(src: Path, dst: Path, edit) -> Path:
    """A model file with its blob changed by ``edit(blob)`` (torch.save, the normal format)."""
    blob = torch.load(src, map_location="cpu", weights_only=True)
    edit(blob)
    torch.save(blob, dst)
    return dst


# ---------------------------------------------------------------- pickles that run code when loaded


class _Marker:
    """Unpickling this creates ``path`` (open(path, 'w')): proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _zip_with_data_pkl(data_pkl: bytes) -> bytes:
    """A torch.save zip archive whose data.pkl is replaced."""
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info, data_pkl if info.filename.endswith("data.pkl") else src.read(info.filename))
    return out.getvalue()


def code_running_pickles(marker: Path) -> dict[str, bytes]:
    """Hostile pickles in torch.save's format (and one bare): the first four would run code (create
    ``marker``) if unpickled without weights_only; the others are malformed on purpose."""
    m = str(marker).encode()
    return {
        "REDUCE calling open()": _zip_with_data_pkl(pickle.dumps(_Marker(marker), protocol=2)),
        "OBJ opcode calling open()": _zip_with_data_pkl(b"(cbuiltins\nopen\nV" + m + b"\nVw\no."),
        "INST opcode calling open()": _zip_with_data_pkl(b"(V" + m + b"\nVw\nibuiltins\nopen\n."),
        "bare pickle calling open()": pickle.dumps({"state_dict": {"w": _Marker(marker)}}, protocol=2),
        "persistent id of nothing": _zip_with_data_pkl(b"\x80\x02X\x03\x00\x00\x00abcQ."),
        "REDUCE with bad arguments": _zip_with_data_pkl(b"\x80\x02ccollections\nOrderedDict\nq\x00K\x01\x85R."),
        "memo reference to nothing": _zip_with_data_pkl(b"\x80\x02h\x05."),
    }


FOVEA_REASONS = ("holds Python objects", "not a file written by torch.save")


def compressed_bomb(model_file: Path, dst: Path, nbytes: int) -> Path:
    """``model_file`` with its largest tensor record replaced by ``nbytes`` (< 4 GiB) of deflated
    zeros: about nbytes / 1000 on disk."""
    src = zipfile.ZipFile(model_file)
    entries = {i.filename: src.read(i.filename) for i in src.infolist()}
    biggest = max((n for n in entries if "/data/" in n), key=lambda n: len(entries[n]))
    comp, crc, body, zeros = zlib.compressobj(1, zlib.DEFLATED, -15), 0, bytearray(), bytes(1 << 20)
    for start in range(0, nbytes, len(zeros)):
        chunk = zeros[: min(len(zeros), nbytes - start)]
        body += comp.compress(chunk)
        crc = zlib.crc32(chunk, crc)
    body += comp.flush()
    out, central = io.BytesIO(), []
    for name, data in entries.items():
        method, payload, size, dcrc = (
            (8, bytes(body), nbytes, crc) if name == biggest else (0, data, len(data), zlib.crc32(data))
        )
        fname, offset = name.encode(), out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, dcrc, len(payload), size, len(fname), 0))
        out.write(fname + payload)
        central.append((fname, method, dcrc, len(payload), size, offset))
    cd_start = out.tell()
    for fname, method, dcrc, csize, size, offset in central:
        out.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0,
                dcrc,
                csize,
                size,
                len(fname),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
        )
        out.write(fname)
    cd_size = out.tell() - cd_start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size, cd_start, 0))
    dst.write_bytes(out.getvalue())
    return dst


def peak_rss_mb_of(code: str, timeout: float = 300) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter (repo on sys.path); (its peak RSS in MB, its output)."""
    wrapper = (
        "import resource, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except BaseException as exc:\n"
        "    print('RAISED', type(exc).__name__, str(exc).splitlines()[0] if str(exc) else '')\n"
        "print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    peak = float(out.stdout.rsplit("PEAK_MB", 1)[1].split()[0]) if "PEAK_MB" in out.stdout else float("inf")
    return peak, out.stdout + out.stderr
