"""Thumbnails decoded off the UI thread and cached on disk in the per-user cache.

``ThumbnailRequests`` is a last-in-first-out request stack (what the user looks at
now is what they asked for last); ``thumbnail_job`` serves it with a small thread
pool for as long as its stop flag is clear.

A cached thumbnail is a JPEG followed by a checksum of it (JPEG readers stop at the
image's end marker and never see it). A cached file that fails its checksum is made
again, and its record says so once (``repaired``).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from PIL import Image

from engine.images import ImageError, load_rgb
from engine.paths import cache_dir, open_regular_file, write_bytes_atomic

THUMB_SIZE = 128
MAX_PENDING = 2000
SUM_TAG = b"FOVEA-SUM1"  # + 16 bytes: blake2b of the JPEG before it
MAX_THUMB_BYTES = 4 << 20


def thumbnail_file(path: str | Path, size: int = THUMB_SIZE) -> Path:
    """Where the thumbnail of this file version lives (key: path, times, byte size, inode, thumb size)."""
    st = os.stat(path)
    key = f"{os.path.abspath(path)}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_size}\0{st.st_ino}\0{size}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir("thumbnails", digest[:2]) / f"{digest}.jpg"


def _sealed(jpeg: bytes) -> bytes:
    return jpeg + SUM_TAG + hashlib.blake2b(jpeg, digest_size=16).digest()


def thumbnail_intact(target: Path) -> bool:
    """Whether a cached thumbnail is whole: a regular file whose JPEG matches the checksum after it."""
    try:
        with open_regular_file(target) as f:
            data = f.read(MAX_THUMB_BYTES + 1)
    except OSError:
        return False
    jpeg, tag, digest = data[:-26], data[-26:-16], data[-16:]
    return len(data) <= MAX_THUMB_BYTES and tag == SUM_TAG and hashlib.blake2b(jpeg, digest_size=16).digest() == digest


def make_thumbnail(path: str | Path, size: int = THUMB_SIZE) -> Path:
    """Return the cached thumbnail file for ``path``, decoding it first if needed.

    Raises ImageError (user-facing reason) for files that cannot be shown.
    """
    return _thumbnail(path, size)[0]


def _thumbnail(path: str | Path, size: int) -> tuple[Path, bool]:
    """(the cached thumbnail, whether a damaged cached copy was replaced)."""
    try:
        target = thumbnail_file(path, size)
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from None
    exists = os.path.lexists(target)
    if exists and thumbnail_intact(target):
        return target, False
    im = load_rgb(path, max_side=size)
    im.thumbnail((size, size))
    if max(im.size) < size:  # small images (Fashion-MNIST, icons) fill the cell, pixels kept crisp
        scale = size / max(im.size)
        new = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
        im = im.resize(new, Image.NEAREST if scale >= 2 else Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=88)
    if exists and not os.path.isfile(target):
        os.unlink(target)  # something other than a file took its place: never written through
    write_bytes_atomic(target, _sealed(buf.getvalue()))
    return target, exists


class ThumbnailRequests:
    """Thread-safe LIFO stack of paths to thumbnail, without duplicates."""

    def __init__(self, max_pending: int = MAX_PENDING):
        self._items: OrderedDict[str, None] = OrderedDict()
        self._cond = threading.Condition()
        self._max = max_pending

    def request(self, paths) -> None:
        with self._cond:
            for p in paths:
                self._items.pop(p, None)
                self._items[p] = None  # newest at the end
            while len(self._items) > self._max:
                self._items.popitem(last=False)  # forget the oldest (scrolled past)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def take(self, n: int, timeout: float) -> list[str]:
        """Up to n newest paths, waiting up to timeout for the first."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            out = []
            while self._items and len(out) < n:
                out.append(self._items.popitem(last=True)[0])
            return out

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


def thumbnail_job(
    requests: ThumbnailRequests,
    size: int = THUMB_SIZE,
    workers: int = 2,
    stop: threading.Event | None = None,
    idle_exit: bool = False,
):
    """Job: serve thumbnail requests until stopped.

    Yields {'path', 'file', 'error', 'repaired'} per thumbnail (file: cached JPEG path or None;
    repaired: a damaged cached copy was made again).
    idle_exit: return once the stack is empty (CLI, benchmarks and tests).
    Returns the number of thumbnails served.
    """
    served = 0
    in_flight: dict[Future, str] = {}
    stop = stop or threading.Event()
    with ThreadPoolExecutor(workers, thread_name_prefix="fovea-thumb") as pool:
        try:
            while not stop.is_set():
                room = workers * 2 - len(in_flight)
                if room > 0:
                    for p in requests.take(room, 0.0 if in_flight else 0.05):
                        in_flight[pool.submit(_thumbnail, p, size)] = p
                if not in_flight:
                    if idle_exit and len(requests) == 0:
                        break
                    continue
                done, _ = wait(list(in_flight), timeout=0.05, return_when=FIRST_COMPLETED)
                for fut in done:
                    path = in_flight.pop(fut)
                    try:
                        file, repaired = fut.result()
                        yield {"path": path, "file": str(file), "error": None, "repaired": repaired}
                    except ImageError as exc:
                        yield {"path": path, "file": None, "error": str(exc), "repaired": False}
                    except Exception as exc:  # never fatal
                        yield {"path": path, "file": None, "error": f"cannot decode: {exc}", "repaired": False}
                    served += 1
        finally:
            for fut in in_flight:
                fut.cancel()
    return served
