"""The run store's small shared state: which model is current, the model files the user opened, the
store's cap. One JSON file, written atomically under a lock, so two Fovea processes never damage it
(the last change wins); a damaged file reads as the defaults, with a message. No torch here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.paths import atomic_file

try:  # POSIX; elsewhere writes stay atomic, only concurrent read-modify-writes may lose one change
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

STATE_FILE = "state.json"
LOCK_FILE = ".lock"
MAX_OPENED = 20
DEFAULT_KEEP_PER_DATASET = 10


@dataclass
class Cap:
    """How much the store keeps: the newest ``keep_per_dataset`` runs of each dataset, or (when set)
    as many runs, newest first, as fit in ``max_bytes``. The current model's run and runs still
    training are never removed."""

    keep_per_dataset: int | None = DEFAULT_KEEP_PER_DATASET
    max_bytes: int | None = None

    def check(self) -> Cap:
        if self.keep_per_dataset is not None and int(self.keep_per_dataset) < 1:
            raise ValueError(f"keep at least 1 run per dataset (got {self.keep_per_dataset})")
        if self.max_bytes is not None and int(self.max_bytes) < 1:
            raise ValueError(f"the size cap must be positive (got {self.max_bytes} bytes)")
        return self

    def describe(self) -> str:
        parts = []
        if self.keep_per_dataset is not None:
            parts.append(f"the newest {self.keep_per_dataset} runs of each dataset")
        if self.max_bytes is not None:
            parts.append(f"at most {self.max_bytes / 1e9:.3g} GB")
        return "keeps " + " and ".join(parts) if parts else "keeps every run (no cap)"


@contextmanager
def store_lock(root: Path):
    """Exclusive lock over the store (other processes wait); a no-op where fcntl is missing."""
    root.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(root / LOCK_FILE, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _default() -> dict:
    return {"current": None, "opened": [], "cap": asdict(Cap()), "last_id": 0}


def _clean(raw) -> tuple[dict, list[str]]:
    """The state with every field checked; what was damaged is reset and reported."""
    state, problems = _default(), []
    if not isinstance(raw, dict):
        return state, [f"{STATE_FILE} is damaged (not an object): using the defaults"]
    cur = raw.get("current")
    if cur is None or (isinstance(cur, dict) and (_is_run_ref(cur) or isinstance(cur.get("path"), str))):
        state["current"] = cur
    else:
        problems.append(f"{STATE_FILE}: the current model entry is damaged: using the pretrained model")
    opened = raw.get("opened", [])
    if isinstance(opened, list) and all(isinstance(p, str) for p in opened):
        state["opened"] = opened[:MAX_OPENED]
    else:
        problems.append(f"{STATE_FILE}: the list of opened model files is damaged: starting a new one")
    try:
        state["cap"] = asdict(Cap(**raw.get("cap", asdict(Cap()))).check())
    except (TypeError, ValueError):
        problems.append(f"{STATE_FILE}: the cap is damaged: using the default ({Cap().describe()})")
    if isinstance(raw.get("last_id"), int) and raw["last_id"] >= 0:
        state["last_id"] = raw["last_id"]
    return state, problems


def _is_run_ref(ref: dict) -> bool:
    return isinstance(ref.get("run"), int) and ref.get("which", "best") in ("best", "last")


class StoreState:
    """Read and change ``root/state.json``; ``problems`` collects what was found damaged."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.problems: list[str] = []

    @property
    def path(self) -> Path:
        return self.root / STATE_FILE

    def read(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _default()
        except OSError as exc:
            self._report(f"cannot read {self.path}: {exc.strerror or exc}: using the defaults")
            return _default()
        try:
            raw = json.loads(text)
        except ValueError:
            raw = None
        state, problems = _clean(raw)
        for p in problems:
            self._report(p)
        return state

    def update(self, change: Callable[[dict], object]) -> object:
        """Apply ``change(state)`` (it edits the dict in place) under the lock and write the result;
        returns what ``change`` returned. OSError when the store cannot be written."""
        with store_lock(self.root):
            state = self.read()
            out = change(state)
            with atomic_file(self.path, ".json") as tmp, open(tmp, "w", encoding="utf-8") as f:
                json.dump(state, f, indent=1)
            return out

    def _report(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    # ------------------------------------------------------------ fields

    def current(self) -> dict | None:
        return self.read()["current"]

    def set_current(self, ref: dict | None) -> None:
        """``{"run": 7, "which": "best"|"last"}``, ``{"path": "model.pth"}`` or None (the pretrained model)."""
        if ref is not None:
            if "path" in ref:
                ref = {"path": os.path.abspath(str(ref["path"]))}
            else:
                ref = {"run": int(ref["run"]), "which": ref.get("which", "best")}
                if not _is_run_ref(ref):
                    raise ValueError(f"a run's model is its 'best' or 'last' epoch (got {ref['which']!r})")

        def change(state):
            state["current"] = ref

        self.update(change)

    def opened(self) -> list[str]:
        return list(self.read()["opened"])

    def add_opened(self, path: str | Path) -> None:
        """Remember a model file the user opened (newest first, at most ``MAX_OPENED``)."""
        path = os.path.abspath(str(path))

        def change(state):
            state["opened"] = [path] + [p for p in state["opened"] if p != path][: MAX_OPENED - 1]

        self.update(change)

    def forget_opened(self, path: str | Path) -> None:
        path = os.path.abspath(str(path))

        def change(state):
            state["opened"] = [p for p in state["opened"] if p != path]

        self.update(change)

    def cap(self) -> Cap:
        return Cap(**self.read()["cap"])

    def set_cap(self, cap: Cap) -> None:
        cap.check()

        def change(state):
            state["cap"] = asdict(cap)

        self.update(change)
