"""The feature cache on disk: content keys, the file index and the per-space store of feature rows.

Every image's features are stored under the hash of the bytes that were decoded for them
(``content_key``), inside a "feature space" named by everything else that decides them
(architecture, the body's exact weights, image size, transform, precision). A file index maps
(path, size, mtime, ctime, inode) → content hash so unchanged files are not re-read; ctime and the
inode change with every edit or replacement, even one that puts the mtime back.

Nothing read back is trusted: each index entry carries a checksum of itself, each stored row a
checksum of its key and its numbers, verified whenever it is read. A damaged entry is dropped
(the file is hashed or its features computed again) and reported in ``problems``.

Layout in ``cache_dir('features')``: ``files.json`` (the index) and one folder per feature space
holding append-only shards: ``*.x.npy`` rows, ``*.sums.npy`` row checksums, ``*.keys.npy`` keys
(written last: a shard with keys is complete).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from engine.config import MAX_IMAGE_FILE_BYTES
from engine.paths import (
    atomic_file,
    cache_dir,
    open_regular_file,
    remove_stale_temp_files,
    write_bytes_atomic,
)

TRANSFORM_ID = "resize-center-crop/area-or-linear/v2"
CACHE_FORMAT = 2  # 2: a checksum per row (a new feature space: format 1's shards are never read)
MAX_SHARDS = 24  # more than this: merge into one
_index_lock = threading.Lock()


def content_key(data: bytes) -> str:
    """The cache key of an image: the hash of its bytes."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_hash(path) -> str:
    """content_key of a file, read in blocks (regular files up to MAX_IMAGE_FILE_BYTES; OSError otherwise)."""
    h = hashlib.blake2b(digest_size=16)
    with open_regular_file(path) as f:
        if os.fstat(f.fileno()).st_size > MAX_IMAGE_FILE_BYTES:
            raise OSError(errno.EFBIG, "file too large")
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def row_checksum(key: str, row: np.ndarray) -> int:
    """What a stored row must hash to: its key and its numbers together (a row moved under another
    key fails as surely as a flipped bit)."""
    h = hashlib.blake2b(key.encode("ascii", "replace"), digest_size=8)
    h.update(np.ascontiguousarray(row, dtype=np.float32).tobytes())
    return int.from_bytes(h.digest(), "little")


def stamp(st: os.stat_result) -> list[int]:
    """What changes whenever a file's content may have: size, mtime, ctime (not settable by touch), inode."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _seal(path: str, st: list, digest: str) -> str:
    text = json.dumps([path, st, digest]).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def _is_key(value) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


class FileIndex:
    """(path, stamp) → content hash, so unchanged files are not re-read. An entry that is damaged,
    of the wrong type or that does not match its own checksum is dropped (and reported)."""

    def __init__(self, root: Path | None = None):
        self.path = (root or cache_dir("features")) / "files.json"
        self.problems: list[str] = []
        self.entries = self._read(report=True)
        self.changed = False

    def _read(self, report: bool = False) -> dict[str, list]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8", errors="surrogateescape"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            if report:
                self.problems.append(f"{self.path} could not be read ({type(exc).__name__}): rebuilt")
            return {}
        if not isinstance(raw, dict):
            if report:
                self.problems.append(f"{self.path} is not an index: rebuilt")
            return {}
        good = {p: e for p, e in raw.items() if self._valid(p, e)}
        if report and len(good) < len(raw):
            self.problems.append(
                f"{self.path}: {len(raw) - len(good)} damaged entries dropped (those files are re-read)"
            )
        return good

    @staticmethod
    def _valid(path, entry) -> bool:
        return (
            isinstance(entry, list)
            and len(entry) == 6
            and all(isinstance(v, int) and not isinstance(v, bool) for v in entry[:4])
            and _is_key(entry[4])
            and entry[5] == _seal(path, entry[:4], entry[4])
        )

    def lookup(self, path: str, st: os.stat_result) -> str | None:
        entry = self.entries.get(path)
        return entry[4] if entry and entry[:4] == stamp(st) else None

    def remember(self, path: str, st: list[int], digest: str) -> None:
        self.entries[path] = [*st, digest, _seal(path, st, digest)]
        self.changed = True

    def key(self, path: str) -> str:
        """Content hash of ``path`` (re-read only when its stamp changed). Raises OSError."""
        st = os.stat(path)
        hit = self.lookup(path, st)
        if hit is not None:
            return hit
        digest = file_hash(path)  # a change after the stat above changes the stamp: hashed again next time
        self.remember(path, stamp(st), digest)
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        with _index_lock:
            on_disk = self._read()  # merge with what another run wrote meanwhile
            on_disk.update(self.entries)
            write_bytes_atomic(self.path, json.dumps(on_disk).encode("utf-8", "surrogateescape"))
        self.changed = False


def _shard_files(keys_file: Path) -> tuple[Path, Path]:
    base = keys_file.name[: -len(".keys.npy")]
    return keys_file.with_name(f"{base}.x.npy"), keys_file.with_name(f"{base}.sums.npy")


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_file(path, ".npy") as tmp, open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)


class FeatureStore:
    """Append-only shards of feature rows for one feature space, addressed by content key, each row
    verified on read (``get``). Damaged shards are removed when opened; ``problems`` says what was
    found, ``bad_rows`` how many rows failed their checksum."""

    def __init__(self, space: str, info: dict | None = None, root: Path | None = None):
        self.dir = (root or cache_dir("features")) / space
        self.dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.dir)
        self.problems: list[str] = []
        self.bad_rows = 0
        if info is not None and not (self.dir / "space.json").exists():
            write_bytes_atomic(self.dir / "space.json", json.dumps(info, indent=1).encode("utf-8"))
        self._rows: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        self._load()

    def _shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.keys.npy"))

    def _load(self) -> None:
        for keys_file in self._shards():
            x_file, sums_file = _shard_files(keys_file)
            try:
                keys = np.load(keys_file, allow_pickle=False)
                x = np.load(x_file, mmap_mode="r", allow_pickle=False)
                sums = np.load(sums_file, allow_pickle=False)
                n = len(keys)
                if keys.ndim != 1 or keys.dtype.kind != "U" or x.ndim != 2 or x.dtype != np.float32:
                    raise ValueError("wrong kind of data")
                if len(x) != n or sums.shape != (n,) or sums.dtype != np.uint64:
                    raise ValueError(f"{n} keys, {len(x)} rows and {len(sums)} checksums")
            except Exception as exc:
                if keys_file.exists():  # else: merged away by another run meanwhile
                    self._drop(keys_file, f"{type(exc).__name__}: {str(exc)[:80]}")
                continue
            for i, k in enumerate(keys.tolist()):
                self._rows[k] = (x, sums, i)

    def _drop(self, keys_file: Path, reason: str) -> None:
        self.problems.append(f"{keys_file.parent.name}/{keys_file.name} is damaged ({reason}): removed, recomputed")
        for f in (keys_file, *_shard_files(keys_file)):
            try:
                f.unlink()
            except OSError:
                pass

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> np.ndarray | None:
        """The row stored under ``key`` (a copy), or None when there is none or it fails its checksum
        or holds a non-finite number (then it is forgotten and counted in ``bad_rows``)."""
        entry = self._rows.get(key)
        if entry is None:
            return None
        x, sums, i = entry
        row = np.array(x[i], dtype=np.float32)
        if row_checksum(key, row) != int(sums[i]) or not np.isfinite(row).all():
            self.bad_rows += 1
            del self._rows[key]
            return None
        return row

    def add(self, keys: list[str], x: np.ndarray) -> None:
        """Write one shard (rows and checksums first, then keys: a shard with keys is complete).
        OSError naming the cache folder when it cannot be written."""
        if not keys:
            return
        x = np.ascontiguousarray(x, dtype=np.float32)
        sums = np.array([row_checksum(k, row) for k, row in zip(keys, x, strict=True)], dtype=np.uint64)
        self._write(keys, x, sums, "")
        for i, k in enumerate(keys):
            self._rows[k] = (x, sums, i)
        if len(self._shards()) > MAX_SHARDS:
            self.compact()

    def _write(self, keys: list[str], x: np.ndarray, sums: np.ndarray, tag: str) -> None:
        name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}{tag}"
        keys_file = self.dir / f"{name}.keys.npy"
        x_file, sums_file = _shard_files(keys_file)
        try:
            _save_npy(x_file, x)
            _save_npy(sums_file, sums)
            _save_npy(keys_file, np.asarray(keys))
        except OSError as exc:
            for f in (x_file, sums_file):
                if f.exists() and not keys_file.exists():
                    f.unlink()
            raise OSError(exc.errno, f"cannot write the feature cache in {self.dir}: {exc.strerror or exc}") from None

    def compact(self) -> None:
        """Merge all shards into one (keeps every row that passes its check; readers that raced
        simply recompute)."""
        old = self._shards()
        rows = {k: row for k in list(self._rows) if (row := self.get(k)) is not None}
        if not rows:
            return
        keys = list(rows)
        x = np.stack([rows[k] for k in keys])
        sums = np.array([row_checksum(k, rows[k]) for k in keys], dtype=np.uint64)
        self._write(keys, x, sums, "-merged")
        self._rows = {k: (x, sums, i) for i, k in enumerate(keys)}
        for keys_file in old:
            for f in (keys_file, *_shard_files(keys_file)):  # keys first: a reader then skips the shard
                try:
                    f.unlink()
                except OSError:
                    pass


def weights_fingerprint(module) -> str:
    """Hash of a module's weights and buffers (an imported weights file changes the features)."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def feature_space(model, device=None) -> tuple[str, dict]:
    """Name (and description) of the space the model's features live in: changing anything that
    decides a row (weights, size, depths stored and their pooling…) names another space."""
    from engine.inference_copy import autocast_dtype

    device = device or next(model.parameters()).device
    amp = autocast_dtype(device)
    info = {
        "arch": model.meta.arch,
        "image_size": int(model.meta.image_size),
        "mean": [float(v) for v in model.meta.mean],
        "std": [float(v) for v in model.meta.std],
        "transform": TRANSFORM_ID,
        "precision": str(amp).replace("torch.", "") if amp else "float32",
        "weights": weights_fingerprint(model.body),
        "cache_format": CACHE_FORMAT,
    }
    if model.meta.depths:  # which body layers' pooled outputs a row holds (absent: the last only)
        info["depths"] = [int(d) for d in model.meta.depths]
        if model.meta.grid:  # and how they are pooled: max ‖ mean, plus a grid of means (networks.pool_depth)
            info["grid"] = int(model.meta.grid)
    digest = hashlib.blake2b(json.dumps(info, sort_keys=True).encode(), digest_size=10).hexdigest()
    return f"{model.meta.arch}-{model.meta.image_size}-{digest}", info
