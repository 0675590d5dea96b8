"""Run records as data: their states, the rules that read them (is the process alive, is the record
whole, which epoch is best) and how they are shown. No torch here; ``engine.runs`` is the store.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import socket
import stat
from pathlib import Path

from engine.paths import atomic_file

FORMAT = 1
RECORD, CURVES = "run.json", "curves.json"
STATES = ("running", "done", "cancelled", "diverged", "failed")
INTERRUPTED = "interrupted"  # shown for a "running" record whose process is gone (killed, power cut)
MAX_CURVE_POINTS = 2000
MAX_JSON_BYTES = 16 << 20  # a run record is a few kB, its curves ~100 kB: far larger files are not read
METRICS = ("train_loss", "valid_loss", "accuracy")


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def dataset_fingerprint(dataset) -> str:
    """16 hex digits over the classes and every train/valid file's name, label, size and modification
    time: it changes when an image is added, removed, moved or rewritten (without reading any image)."""
    h = hashlib.sha1(json.dumps(list(dataset.classes)).encode())
    for split in ("train", "valid"):
        for path, label in dataset.items(split):
            try:
                st = os.stat(path)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size = mtime = -1
            h.update(f"{split}\0{os.path.relpath(path, dataset.root)}\0{label}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()[:16]


def parse_run_ref(text: str) -> tuple[int, str] | None:
    """``"7"``, ``"run7"``, ``"7:last"`` → (7, "best"|"last"); None when ``text`` is not a run id."""
    m = re.fullmatch(r"(?:run[-_ ]?)?(\d+)(?::(best|last))?", str(text).strip(), re.IGNORECASE)
    return (int(m.group(1)), (m.group(2) or "best").lower()) if m else None


def model_label(info: dict, arch: str = "") -> str:
    """What a model's weights are, in one line: "resnet34 · cats-dogs · run 7 · epoch 5 (best)"."""
    parts = [info.get("arch") or arch] if (info.get("arch") or arch) else []
    if info.get("dataset"):
        parts.append(info["dataset"])
    if not info.get("epoch"):
        return " · ".join(parts + ["pretrained, not trained yet"])
    if info.get("run") is not None:
        parts.append(f"run {info['run']}")
    epoch = f"epoch {info['epoch']}"
    notes = [info["which"]] if info.get("which") else []
    if info.get("state") in ("cancelled", "diverged", "failed", INTERRUPTED):
        notes.append(f"run {info['state']}")
    return " · ".join(parts + [epoch + (f" ({', '.join(notes)})" if notes else "")])


def epochs_trained(rec: dict) -> int:
    """Epochs a run trained: its recorded epochs, or its result's count when larger (Auto records only
    the epoch it keeps, and the count of every stage's epochs in its result)."""
    result = rec.get("result")
    n = result.get("epochs") if isinstance(result, dict) else None
    counted = n if isinstance(n, int) and not isinstance(n, bool) else 0
    return max(len(rec["epochs"]), counted)


def run_summary(rec: dict) -> dict:
    """One line's worth of a run record: what lists (CLI and window) show."""
    best = rec.get("best") or {}
    return {
        "id": rec["id"],
        "state": rec["state"],
        "dataset": rec["dataset"].get("name", ""),
        "dataset_path": rec["dataset"].get("path", ""),
        "arch": rec.get("arch", ""),
        "epochs": epochs_trained(rec),
        "best_epoch": best.get("epoch"),
        "best_accuracy": best.get("accuracy"),
        "best_valid_loss": best.get("valid_loss"),
        "created": rec.get("created", ""),
        "message": rec.get("message", ""),
    }


def thin_values(values: list, limit: int = MAX_CURVE_POINTS) -> list:
    if len(values) <= limit:
        return list(values)
    step = (len(values) - 1) / (limit - 1)
    return [values[round(i * step)] for i in range(limit)]


def beats(point: dict, best: dict | None) -> bool:
    """Whether ``point`` beats ``best`` by validation loss (a non-finite loss never does; ties keep the earlier)."""
    if best is None:
        return True
    new, old = point["valid_loss"], best["valid_loss"]
    return math.isfinite(new) and (not math.isfinite(old) or new < old)


def read_json(path: Path, limit: int = MAX_JSON_BYTES):
    """A store file's JSON; FileNotFoundError when it is missing, ValueError (one line) when it cannot
    be a store file: not a regular file (a FIFO would block for ever), too large, bad JSON or UTF-8,
    absurd nesting."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if info.st_size > limit:
        raise ValueError(f"{info.st_size} bytes, far too large")
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None


def write_json(path: Path, data) -> None:
    with atomic_file(path, ".json") as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, allow_nan=True)


def process_token(pid: int) -> str | None:
    """The process's start time (Linux), so a reused pid is not mistaken for the run's process."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError, ValueError):
        return None


def process_alive(rec: dict) -> bool:
    owner = rec.get("process")
    if not isinstance(owner, dict) or not owner:
        return False  # nothing says who writes it: nobody does
    if owner.get("host") != socket.gethostname():
        return True  # another computer's process: it may well be running
    pid, token = owner.get("pid"), owner.get("token")
    if not isinstance(pid, int):
        return False
    if token is not None and os.path.exists("/proc/self/stat"):
        return process_token(pid) == token
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def record_problem(rec, run_id: int) -> str | None:
    """Why ``rec`` is not a usable run record, or None."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if rec.get("id") != run_id:
        return f"it names run {rec.get('id')!r}"
    for key, kind in (("state", str), ("dataset", dict), ("configs", list), ("epochs", list), ("classes", list)):
        if not isinstance(rec.get(key), kind):
            return f"'{key}' is missing or damaged"
    if rec["state"] not in STATES:
        return f"unknown state {rec['state']!r}"
    if not rec["configs"] or not all(isinstance(c, dict) for c in rec["configs"]):
        return "'configs' is damaged"
    for e in rec["epochs"]:
        if not (isinstance(e, dict) and isinstance(e.get("epoch"), int)) or not all(
            isinstance(e.get(k), (int, float)) for k in METRICS
        ):
            return "an epoch's entry is damaged"
    for which in ("best", "last"):
        entry = rec.get(which)
        if entry is not None and not (
            isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("epoch"), int)
        ):
            return f"its {which} checkpoint entry is damaged"
    return None
