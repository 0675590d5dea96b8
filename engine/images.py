"""Decode any image a user may have into upright 8-bit RGB, and say clearly why not.

Files are read once into memory (``read_image_file``): only regular files, and no more bytes than
the header's pixel count can need, so a FIFO, a device or a huge file posing as an image costs
nothing. Decoding then works on those bytes (``decode_rgb``, ``decode_rgb_array``), which lets the
feature cache hash exactly the bytes it decodes.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from engine.config import MAX_IMAGE_FILE_BYTES
from engine.paths import NotRegularFile, open_regular_file

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
# A header claiming more pixels than this is treated as a decompression bomb.
MAX_PIXELS = 100_000_000

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # we enforce MAX_PIXELS ourselves, with a clear message


class ImageError(Exception):
    """An image could not be used; the message says why in plain words."""


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


# ---------------------------------------------------------------- reading


def _open_image_file(path: str | Path):
    """The file opened for reading, if it is a regular file (a FIFO or device is never read)."""
    try:
        return open_regular_file(path)
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except PermissionError:
        raise ImageError("unreadable: permission denied") from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image") from None
    except NotRegularFile as exc:
        raise ImageError(f"skipped: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError("symlink loop") from None
        raise ImageError(f"cannot open: {exc.strerror or exc}") from None


def _not_an_image_reason(head: bytes, name: str) -> str:
    if not head:
        return "empty file (0 bytes)"
    low = head.lstrip().lower()
    disguised = " saved with an image extension" if is_image_name(name) else ""
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low:
        return f"not an image: HTML page{disguised}"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"not an image: text file{disguised}"
    return "not an image: unknown or corrupt format"


def _open_header(f, name: str) -> Image.Image:
    """PIL's view of an open file, header read only; bombs and empty sizes refused."""
    try:
        im = Image.open(f)
    except Image.UnidentifiedImageError:
        f.seek(0)
        raise ImageError(_not_an_image_reason(f.read(512), name)) from None
    except OSError as exc:
        raise ImageError(f"cannot open: {exc}") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise ImageError(f"decompression bomb: header claims {w}×{h} pixels")
    if w < 1 or h < 1:
        im.close()
        raise ImageError(f"invalid size {w}×{h}")
    return im


def byte_bound(width: int, height: int) -> int:
    """The most bytes the file of a width × height image is read up to: 8 per pixel (16-bit RGBA,
    uncompressed) and room for metadata, within MAX_IMAGE_FILE_BYTES."""
    return min(MAX_IMAGE_FILE_BYTES, width * height * 8 + (32 << 20))


def read_image_file(path: str | Path) -> bytes:
    """The bytes of an image file, read once: only a regular file, and never more than its
    header's pixels can need (``byte_bound``). Raises ImageError with a user-facing reason."""
    with _open_image_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ImageError("empty file (0 bytes)")
        if size > MAX_IMAGE_FILE_BYTES:
            raise ImageError(
                f"file too large ({size / 1e6:,.0f} MB; images are read up to {MAX_IMAGE_FILE_BYTES >> 20} MB)"
            )
        im = _open_header(f, Path(path).name)
        w, h = im.size
        bound, data = byte_bound(w, h), b""
        if size <= bound:
            f.seek(0)
            data = f.read(bound + 1)  # + 1: a file that grew meanwhile is caught too
    if size > bound or len(data) > bound:
        raise ImageError(
            f"file much larger than a {w}×{h} image needs ({max(size, len(data)) / 1e6:,.1f} MB): damaged?"
        )
    return data


def _open_bytes(data: bytes, name: str = "") -> Image.Image:
    return _open_header(io.BytesIO(data), name)


# ---------------------------------------------------------------- decoding


def _decode(im: Image.Image) -> None:
    """Force full decode so truncated/corrupt data shows up now, not later."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.load()
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg.lower():
            raise ImageError("truncated image data") from None
        raise ImageError(f"corrupt image data: {msg}") from None
    except (SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageError(f"corrupt image data: {exc}") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Upright 8-bit RGB from any PIL mode (CMYK, 16-bit, palette+alpha, grey...)."""
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # broken EXIF must not make a good picture unusable
        pass
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = arr.max() if arr.size else 0
        scale = 255.0 / 65535.0 if hi > 255 else 1.0
        im = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        im = Image.fromarray(arr.astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def decode_rgb(data: bytes, max_side: int | None = None, name: str = "") -> Image.Image:
    """Fully decode image bytes into an upright RGB image (first frame of animations).

    max_side: let JPEG decode at reduced scale when a small result is enough.
    Raises ImageError with a user-facing reason.
    """
    im = _open_bytes(data, name)
    try:
        if max_side and im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))
        _decode(im)
        out = to_rgb(im)
        if max_side and max(out.size) > max_side:
            out.thumbnail((max_side, max_side), Image.BILINEAR)
        return out
    finally:
        im.close()


def load_rgb(path: str | Path, max_side: int | None = None) -> Image.Image:
    """``decode_rgb`` of a file (``read_image_file``: regular files only, bounded reads)."""
    return decode_rgb(read_image_file(path), max_side, Path(path).name)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _plain_png(data: bytes) -> bool:
    """A complete 8-bit grey, RGB or palette PNG with no transparency and no EXIF chunk:
    every PNG decoder gives exactly the pixels load_rgb gives for it."""
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return False
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour = data[24], data[25]
    return (
        0 < w * h <= MAX_PIXELS
        and depth == 8
        and colour in (0, 2, 3)
        and b"IEND" in data[-12:]
        and b"tRNS" not in data
        and b"eXIf" not in data
    )


def decode_rgb_array(data: bytes, name: str = "") -> np.ndarray:
    """``np.asarray(decode_rgb(data))``: upright RGB, (H, W, 3) uint8; same errors.

    Plain PNGs (the common case of a folder of small images) are decoded by OpenCV,
    which holds no GIL while it decodes, so decoder threads run in parallel; PIL's PNG
    plugin parses chunks in Python (about 2× the time, one thread at a time).
    """
    if _plain_png(data):
        import cv2

        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.dtype == np.uint8:
            if arr.ndim == 2:
                return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
            if arr.shape[2] == 3:
                return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return np.asarray(decode_rgb(data, name=name), dtype=np.uint8)


def load_rgb_array(path: str | Path) -> np.ndarray:
    """``decode_rgb_array`` of a file (read once, bounded)."""
    return decode_rgb_array(read_image_file(path), Path(path).name)


def verify_image(path: str | Path) -> str | None:
    """Decode an image as training would; return the reason it is bad, or None."""
    try:
        im = _open_bytes(read_image_file(path), Path(path).name)
        try:
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            _decode(im)
        finally:
            im.close()
    except ImageError as exc:
        return str(exc)
    except Exception as exc:  # never fatal
        return f"cannot decode: {exc}"
    return None


def image_info(path: str | Path) -> dict:
    """Size, mode, format, frames and EXIF orientation, from the header only."""
    with _open_image_file(path) as f:
        im = _open_header(f, Path(path).name)
        try:
            exif = im.getexif()
            return {
                "width": im.size[0],
                "height": im.size[1],
                "mode": im.mode,
                "format": im.format or "?",
                "frames": getattr(im, "n_frames", 1),
                "orientation": int(exif.get(0x0112, 1)) if exif else 1,
            }
        finally:
            im.close()
