"""The Train tab's run history: one JSON file per run (settings, final metrics, curves) in data_dir("runs").

Files are written whole (``atomic_file``) and checked when read: a file that is damaged, or holds values no
run can have, is skipped and named in ``History.skipped`` (the caller reports it once), so the window
always starts, and fast. No torch here: the window reads the history at start-up.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine.config import TrainConfig
from engine.lr_curves import format_lr
from engine.paths import atomic_file, data_dir

HISTORY_LIMIT = 200  # newest files read at start-up
MAX_SAVED_POINTS = 2000  # per-batch points kept in a file
MAX_FILE_BYTES = 4 << 20  # a run file is ~200 kB: far larger ones are not read at all
MAX_EPOCHS = 100_000  # more epochs than any run has (the form allows 500, or 20 cycles × 4)
MAX_POINTS = 10 * MAX_SAVED_POINTS
MAX_ITERATION = 10**9
MAX_TEXT = 4096
REQUIRED_SETTINGS = ("arch", "size", "lr", "epochs")
SERIES = ("x", "loss", "lr", "iteration")  # per-batch curves: position in epochs, loss, LR, iteration
EPOCH_KEYS = ("epoch", "train_loss", "valid_loss", "accuracy", "seconds")


class DamagedRun(ValueError):
    """A history file that cannot be shown; the message says what is wrong, in one line."""


class History(NamedTuple):
    runs: list[tuple[Path, dict]]  # newest first
    skipped: list[tuple[Path, str]]  # damaged files and why


def runs_dir() -> Path:
    return data_dir("runs")


def thin(values, limit: int = MAX_SAVED_POINTS) -> list:
    """At most ``limit`` values, evenly spaced, first and last kept."""
    values = list(values)
    if len(values) <= limit:
        return values
    idx = np.linspace(0, len(values) - 1, limit).round().astype(int)
    return [values[i] for i in idx]


def new_run(config: TrainConfig, status: str, result: dict, seconds: float, **about) -> dict:
    """A run record: ``about`` gives dataset, classes, device, continued, epochs (records) and batches
    (the SERIES as lists, thinned here)."""
    metrics = {k: v for k, v in result.items() if _is_number(v)}
    metrics["seconds"] = round(float(seconds), 2)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}
    batches = about.get("batches", {})
    return {
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "status": status,
        "continued": bool(about.get("continued", False)),
        "dataset": str(about.get("dataset", "")),
        "classes": list(about.get("classes", [])),
        "device": str(about.get("device", "")),
        "settings": settings,
        "metrics": metrics,
        "epochs": [{k: e.get(k) for k in EPOCH_KEYS} for e in about.get("epochs", [])],
        "batches": {k: thin(batches.get(k, [])) for k in SERIES},
    }


def save_run(run: dict) -> Path:
    """Write ``run`` as a new JSON file in the runs folder (whole or not at all); returns its path."""
    folder = runs_dir()
    arch = re.sub(r"[^A-Za-z0-9_.-]", "_", str(run["settings"]["arch"]))[:64]
    stem = f"{re.sub(r'[^0-9T]', '', run['created'])}-{arch}"
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(run, indent=1), encoding="utf-8")
    return path


def delete_run(path: Path) -> None:
    Path(path).unlink(missing_ok=True)


def load_runs(limit: int = HISTORY_LIMIT) -> History:
    """The newest ``limit`` files of the runs folder: the good ones checked and cleaned, the others skipped."""
    runs, skipped = [], []
    for path in sorted(runs_dir().glob("*.json"), reverse=True)[:limit]:
        try:
            runs.append((path, read_run(path)))
        except DamagedRun as exc:
            skipped.append((path, str(exc)))
    return History(runs, skipped)


def read_run(path: Path) -> dict:
    """One history file, checked (``check_run``); DamagedRun says why it cannot be used."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise DamagedRun("not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise DamagedRun(f"{info.st_size} bytes, too large for a run file")
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DamagedRun(exc.strerror or str(exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, absurd nesting or digits
        raise DamagedRun(f"not a run file ({type(exc).__name__})") from None
    return check_run(data)


def check_run(data) -> dict:
    """The run ``data`` (parsed JSON) with every field the window uses checked for type and range,
    unknown fields dropped; DamagedRun names the first field that is wrong."""
    if not isinstance(data, dict):
        raise DamagedRun("not a run record")
    created = data.get("created")
    if not isinstance(created, str) or not _is_timestamp(created):
        raise DamagedRun("created: not a date and time")
    run = {"created": created, "settings": _check_settings(data.get("settings"))}
    for key, default in (("status", "done"), ("dataset", ""), ("device", "")):
        run[key] = _text(data.get(key, default), key)
    run["continued"] = data.get("continued", False)
    if not isinstance(run["continued"], bool):
        raise DamagedRun("continued: not true or false")
    classes = data.get("classes", [])
    if not isinstance(classes, list) or len(classes) > MAX_POINTS:
        raise DamagedRun("classes: not a list of names")
    run["classes"] = [_text(c, "classes") for c in classes]
    metrics = data.get("metrics", {})
    if not isinstance(metrics, dict) or len(metrics) > 100 or not all(map(_is_number, metrics.values())):
        raise DamagedRun("metrics: not a table of numbers")
    run["metrics"] = {_text(k, "metrics"): float(v) for k, v in metrics.items()}
    run["epochs"] = _check_epochs(data.get("epochs", []))
    run["batches"] = _check_batches(data.get("batches", {}))
    return run


def _check_settings(settings) -> dict:
    if not isinstance(settings, dict):
        raise DamagedRun("settings: not a table")
    missing = [k for k in REQUIRED_SETTINGS if k not in settings]
    if missing:
        raise DamagedRun(f"settings: no {', '.join(missing)}")
    out = {}
    for field in dataclasses.fields(TrainConfig):
        if field.name in settings:
            out[field.name] = _check_setting(field.name, settings[field.name], str(field.type))
    if total_epochs(out) is None:
        raise DamagedRun(f"settings: more than {MAX_EPOCHS} epochs")
    return out


def _check_setting(name: str, value, kind: str):
    """``value`` if it fits the TrainConfig annotation ``kind`` (e.g. "int | None", "tuple[float, ...]")."""
    if value is None and "None" in kind:
        return None
    if kind.startswith("tuple[int") and isinstance(value, list) and len(value) <= 16:  # feature depths
        if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1000 for v in value):
            return [int(v) for v in value]
    elif kind.startswith("tuple") and isinstance(value, list) and 0 < len(value) <= 8:
        if all(map(_is_number, value)):
            return [float(v) for v in value]
    elif kind.startswith("bool") and isinstance(value, bool):
        return value
    elif kind.startswith("int") and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    elif kind.startswith("float") and _is_number(value):
        return float(value)
    elif kind.startswith("str") and isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    raise DamagedRun(f"settings: {name} is not {kind.replace('tuple[float, ...]', 'a list of numbers')}")


def _check_epochs(epochs) -> list[dict]:
    if not isinstance(epochs, list) or len(epochs) > MAX_EPOCHS:
        raise DamagedRun("epochs: not a list of epochs")
    out = []
    for rec in epochs:
        if not isinstance(rec, dict) or not _is_position(rec.get("epoch"), MAX_EPOCHS):
            raise DamagedRun("epochs: an epoch without its number")
        if not all(rec.get(k) is None or _is_number(rec[k]) for k in EPOCH_KEYS):
            raise DamagedRun("epochs: a value that is not a number")
        out.append({k: (None if rec.get(k) is None else float(rec[k])) for k in EPOCH_KEYS})
    return out


def _check_batches(batches) -> dict[str, list[float]]:
    if not isinstance(batches, dict):
        raise DamagedRun("batches: not a table")
    out = {}
    for key in SERIES:
        values = batches.get(key, [])
        if not isinstance(values, list) or len(values) > MAX_POINTS or not all(map(_is_number, values)):
            raise DamagedRun(f"batches: {key} is not a list of numbers")
        if key in ("x", "iteration") and not all(_is_position(v, MAX_ITERATION) for v in values):
            raise DamagedRun(f"batches: {key} out of range")
        out[key] = [float(v) for v in values]
    return out


def total_epochs(settings: dict) -> int | None:
    """Epochs of a run's settings (SGDR cycles summed), or None past MAX_EPOCHS (checked term by term:
    ``cycles: 1e6, cycle_mult: 10`` must not take minutes)."""
    cycles = settings.get("cycles")
    if not cycles:
        epochs = settings.get("epochs") or 0
        return epochs if epochs <= MAX_EPOCHS else None
    length, mult, total = settings.get("cycle_len", 1), settings.get("cycle_mult", 1), 0
    for c in range(cycles):
        if c > MAX_EPOCHS:
            return None
        total += length * mult**c if mult <= MAX_EPOCHS else MAX_EPOCHS + 1
        if total > MAX_EPOCHS:
            return None
    return total


def describe_run(run: dict) -> str:
    """One line for the history list: accuracy, network, length, LR, flags, when."""
    s, m = run["settings"], run["metrics"]
    when = run["created"][5:16].replace("T", " ")  # MM-DD HH:MM
    length = f"{s['cycles']} cycles, {total_epochs(s)} ep" if s.get("cycles") else f"{s['epochs']} ep"
    aug = s.get("aug", "none")
    flags = [
        flag
        for flag, on in (
            ("continued", run["continued"]),
            ("pre", s.get("precompute")),
            ("unfrozen", s.get("unfreeze")),
            (aug, aug != "none" and not s.get("precompute")),
            ("TTA", s.get("tta")),
        )
        if on
    ]
    acc = m.get("accuracy", math.nan)
    acc_text = f"{100 * acc:.1f} %" if math.isfinite(acc) else "–"
    status = "" if run["status"] == "done" else f" ({run['status']})"
    return (
        f"{acc_text}  ·  {s['arch']} {s['size']}px · {length} · lr {format_lr(s['lr'])}"
        f"{' · ' + ', '.join(flags) if flags else ''}  ·  {when}{status}"
    )


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and (isinstance(v, float) or abs(v) < 2**63)


def _is_position(v, limit: float) -> bool:
    return _is_number(v) and math.isfinite(v) and -1 <= v <= limit


def _is_timestamp(text: str) -> bool:
    try:
        _dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _text(value, key: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise DamagedRun(f"{key}: not a short text")
    return value
