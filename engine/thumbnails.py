"""Thumbnails decoded off the UI thread and cached on disk in the per-user cache.

``ThumbnailRequests`` is a last-in-first-out request stack (what the user looks at
now is what they asked for last); ``thumbnail_job`` serves it with a small thread
pool for as long as its stop flag is clear.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from PIL import Image

from engine.images import ImageError, load_rgb
from engine.paths import cache_dir

THUMB_SIZE = 128
MAX_PENDING = 2000


def thumbnail_file(path: str | Path, size: int = THUMB_SIZE) -> Path:
    """Where the thumbnail of this file version lives (key: path, mtime, byte size, thumb size)."""
    st = os.stat(path)
    key = f"{os.path.abspath(path)}\0{st.st_mtime_ns}\0{st.st_size}\0{size}".encode("utf-8", "surrogateescape")
    digest = hashlib.sha1(key).hexdigest()
    return cache_dir("thumbnails", digest[:2]) / f"{digest}.jpg"


def make_thumbnail(path: str | Path, size: int = THUMB_SIZE) -> Path:
    """Return the cached thumbnail file for ``path``, decoding it first if needed.

    Raises ImageError (user-facing reason) for files that cannot be shown.
    """
    try:
        target = thumbnail_file(path, size)
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from None
    if target.exists():
        return target
    im = load_rgb(path, max_side=size)
    im.thumbnail((size, size))
    if max(im.size) < size:  # small images (Fashion-MNIST, icons) fill the cell, pixels kept crisp
        scale = size / max(im.size)
        new = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
        im = im.resize(new, Image.NEAREST if scale >= 2 else Image.BICUBIC)
    tmp = target.with_name(f".{target.name}.{threading.get_ident()}.tmp")
    im.save(tmp, "JPEG", quality=88)
    os.replace(tmp, target)
    return target


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

    Yields {'path', 'file', 'error'} per thumbnail (file: cached JPEG path or None).
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
                        in_flight[pool.submit(make_thumbnail, p, size)] = p
                if not in_flight:
                    if idle_exit and len(requests) == 0:
                        break
                    continue
                done, _ = wait(list(in_flight), timeout=0.05, return_when=FIRST_COMPLETED)
                for fut in done:
                    path = in_flight.pop(fut)
                    try:
                        yield {"path": path, "file": str(fut.result()), "error": None}
                    except ImageError as exc:
                        yield {"path": path, "file": None, "error": str(exc)}
                    except Exception as exc:  # never fatal
                        yield {"path": path, "file": None, "error": f"cannot decode: {exc}"}
                    served += 1
        finally:
            for fut in in_flight:
                fut.cancel()
    return served
