"""Where images to classify come from: files, folders, URLs (downloaded into the per-user cache),
``data:`` URLs, PIL images and arrays; and small thumbnails of them for a gallery.

A folder lists every entry named like an image that is not a folder, so a FIFO, a device or a
symlink loop among them is reported on its own row ("skipped: …", "symlink loop") instead of
stopping the listing; local files are read only if they are regular files (engine.images).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from engine.images import ImageError, is_image_name, load_rgb, to_rgb
from engine.jobs import check
from engine.paths import cache_dir, write_bytes_atomic

DOWNLOAD_TIMEOUT = 5.0
MAX_DOWNLOAD_BYTES = 50_000_000


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://", "ftp://", "data:"))


def source_name(source) -> str:
    """Short display name of a source (file name, URL's last part, 'pasted image')."""
    if isinstance(source, (str, Path)):
        s = str(source)
        if s.startswith("data:"):
            return "dropped image data"
        if _is_url(s) or s.startswith("file://"):
            parsed = urllib.parse.urlparse(s)
            tail = urllib.parse.unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
            return tail or parsed.netloc or s
        return Path(s).name
    return "pasted image"


def download_image(url: str, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Fetch an image URL (or decode a data: URL) into the per-user cache; ImageError says why not."""
    digest = hashlib.sha1(url.encode("utf-8", "replace")).hexdigest()[:20]
    folder = cache_dir("downloads")
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        try:
            data = base64.b64decode(payload) if header.endswith(";base64") else urllib.parse.unquote_to_bytes(payload)
        except (binascii.Error, ValueError):
            raise ImageError("the dropped image data is not valid base64") from None
    else:
        for cached in folder.glob(digest + ".*"):
            return cached
        request = urllib.request.Request(url, headers={"User-Agent": "Fovea/0.1 (image classifier)"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                ctype = response.headers.get("Content-Type", "")
                data = response.read(MAX_DOWNLOAD_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ImageError(
                f"could not download the image: the server answered HTTP {exc.code} ({exc.reason})"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ImageError(
                f"could not download the image — are you offline? ({reason}). "
                f"Save it from the browser and drop the file instead."
            ) from None
        except ValueError as exc:
            raise ImageError(f"not a usable link: {exc}") from None
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise ImageError(f"download larger than {MAX_DOWNLOAD_BYTES // 1_000_000} MB — not an image link?")
        if ctype.startswith("text/html"):
            raise ImageError("the link is a web page, not an image (drag the picture itself, or save it first)")
    path = folder / f"{digest}.img"
    write_bytes_atomic(path, data)
    return path


def load_source(source) -> tuple[Image.Image, str | None]:
    """Upright RGB image from a path, URL, PIL image or HWC array; also the local file used (or None)."""
    if isinstance(source, Image.Image):
        return to_rgb(source), None
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8:
            raise ImageError(f"image array must be uint8, got {arr.dtype}")
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise ImageError(f"image array has shape {arr.shape}; expected H×W, H×W×3 or H×W×4")
        return to_rgb(Image.fromarray(np.ascontiguousarray(arr))), None
    s = str(source)
    if s.startswith("file://"):
        s = urllib.request.url2pathname(urllib.parse.urlparse(s).path)
    elif _is_url(s):
        path = download_image(s)
        return load_rgb(path), str(path)
    return load_rgb(s), s


def list_images(folder: str | Path) -> list[str]:
    """Entries named like images directly inside a folder, sorted by name (hidden files and
    folders skipped). A FIFO, device or symlink loop among them stays in the list: reading it
    reports why it was skipped, on its own row."""
    folder = Path(folder)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise ImageError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    out = []
    for e in entries:
        if e.name.startswith(".") or not is_image_name(e.name):
            continue
        try:
            if e.is_dir():
                continue
        except OSError:
            pass  # a symlink loop: listed, and reported when it is read
        out.append(e.path)
    return out


def expand_sources(sources) -> list:
    """Folders become the image files inside them; everything else passes through."""
    out = []
    for s in sources:
        if isinstance(s, (str, Path)) and not _is_url(str(s)) and Path(s).is_dir():
            out.extend(list_images(s))
        else:
            out.append(s)
    return out


def _source_text(source) -> str:
    if isinstance(source, (str, Path)):
        s = str(source)
        return s if not s.startswith("data:") else s[:40] + "…"
    return "pasted image"


def thumbnail_job(sources, size: int = 128, stop=None, workers: int | None = None):
    """Job: small RGB arrays for a gallery. Yields {'type': 'thumbnail', 'index', 'thumbnail' | 'error'}."""
    sources = list(sources)

    def one(src):
        local_file = isinstance(src, (str, Path)) and not _is_url(str(src)) and not str(src).startswith("file://")
        im = load_rgb(src, max_side=size * 2) if local_file else load_source(src)[0]
        im.thumbnail((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()

    with ThreadPoolExecutor(workers or max(2, min(4, os.cpu_count() or 2)), thread_name_prefix="fovea-thumb") as pool:
        futures = [pool.submit(one, s) for s in sources]
        try:
            for i, fut in enumerate(futures):
                check(stop)
                try:
                    yield {"type": "thumbnail", "index": i, "thumbnail": fut.result(), "error": None}
                except Exception as exc:
                    yield {"type": "thumbnail", "index": i, "thumbnail": None, "error": str(exc)}
        finally:
            for fut in futures:
                fut.cancel()
    return len(sources)
