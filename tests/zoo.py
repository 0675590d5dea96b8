"""Build a dataset folder full of broken and unusual-but-valid inputs (the foundation issue's zoo)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _rgb(w=32, h=24, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB")


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def bomb_png(width=60000, height=60000) -> bytes:
    """A tiny PNG whose header claims width×height pixels."""
    raw = _png_bytes(Image.new("L", (1, 1)))
    ihdr_start = 8
    length = struct.unpack(">I", raw[ihdr_start : ihdr_start + 4])[0]
    body = bytearray(raw[ihdr_start + 4 : ihdr_start + 8 + length])  # b'IHDR' + data
    body[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)
    return raw[: ihdr_start + 4] + bytes(body) + crc + raw[ihdr_start + 8 + length + 4 :]


def corrupt_png() -> bytes:
    """A PNG whose compressed pixel data is garbage (chunk CRC fixed so only the data is wrong)."""
    raw = bytearray(_png_bytes(_rgb(64, 64, 3)))
    idx = raw.find(b"IDAT")
    length = struct.unpack(">I", raw[idx - 4 : idx])[0]
    data = bytearray(raw[idx + 4 : idx + 4 + length])
    for i in range(2, len(data), 3):
        data[i] ^= 0x5A
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + bytes(data)) & 0xFFFFFFFF)
    return bytes(raw[: idx + 4]) + bytes(data) + crc + bytes(raw[idx + 8 + length :])


def exif_rotated_jpeg() -> bytes:
    """A 40×20 JPEG (red left half, blue right half) with EXIF orientation 6 (display rotated 90° CW)."""
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _jpeg_bytes(im, exif=exif.tobytes())


# name → reason fragment expected in the report
BAD = {
    "train/cat/empty.jpg": "empty file",
    "train/cat/page.jpg": "HTML",
    "train/cat/notes.png": "text file",
    "train/cat/truncated.jpg": "truncated",
    "train/cat/truncated.png": "",  # any reason
    "train/cat/corrupt.png": "corrupt",
    "train/cat/bomb.png": "decompression bomb",
    "train/cat/loop.jpg": "symlink loop",
    "train/cat/dangling.jpg": "dangling symlink",
    "train/cat/folder.jpg": "folder named like an image",
    "train/cat/locked.jpg": "unreadable",
    "train/empty_class": "empty class folder",
    "valid/horse": "not in train",
}

GOOD = [
    "train/cat/upper.JPG",
    "train/cat/photo.webp",
    "train/cat/bitmap.bmp",
    "train/cat/scan.tiff",
    "train/cat/cmyk.jpg",
    "train/cat/deep16.png",
    "train/cat/palette_alpha.png",
    "train/cat/grey.png",
    "train/cat/rotated.jpg",
    "train/cat/animated.gif",
    "train/cat/one_pixel.png",
    "train/cat/trailing.jpg",
    "train/cat/chat noir é.png",
    "train/dog/d1.jpg",
    "train/dog/d2.png",
    "train/dog/d3.jpg",
    "valid/cat/v1.jpg",
    "valid/dog/v2.jpg",
    "test/t1.jpg",
    "test/t2.png",
]


def build_zoo(root: Path) -> Path:
    root = Path(root)
    for d in ("train/cat", "train/dog", "train/empty_class", "valid/cat", "valid/dog", "valid/horse", "test"):
        (root / d).mkdir(parents=True, exist_ok=True)
    w = lambda rel, data: (root / rel).write_bytes(data)  # noqa: E731
    # good, unusual
    w("train/cat/upper.JPG", _jpeg_bytes(_rgb(seed=1)))
    _rgb(seed=2).save(root / "train/cat/photo.webp", "WEBP")
    _rgb(seed=3).save(root / "train/cat/bitmap.bmp", "BMP")
    _rgb(seed=4).save(root / "train/cat/scan.tiff", "TIFF")
    _rgb(seed=5).convert("CMYK").save(root / "train/cat/cmyk.jpg", "JPEG")
    Image.fromarray(np.arange(32 * 24, dtype=np.uint16).reshape(24, 32) * 80).save(root / "train/cat/deep16.png")
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(1, (8, 0, 16, 16))
    pal.save(root / "train/cat/palette_alpha.png", transparency=0)
    _rgb(seed=6).convert("L").save(root / "train/cat/grey.png")
    w("train/cat/rotated.jpg", exif_rotated_jpeg())
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 200, 0), (200, 0, 0), (0, 0, 200))]
    frames[0].save(root / "train/cat/animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.new("RGB", (1, 1), (10, 20, 30)).save(root / "train/cat/one_pixel.png")
    w("train/cat/trailing.jpg", _jpeg_bytes(_rgb(seed=7)) + b"\x00garbage after the end marker" * 10)
    _rgb(seed=8).save(root / "train/cat/chat noir é.png")
    for i, name in enumerate(("d1.jpg", "d2.png", "d3.jpg")):
        _rgb(seed=20 + i).save(root / "train/dog" / name)
    w("valid/cat/v1.jpg", _jpeg_bytes(_rgb(seed=30)))
    w("valid/dog/v2.jpg", _jpeg_bytes(_rgb(seed=31)))
    w("valid/horse/h1.jpg", _jpeg_bytes(_rgb(seed=32)))
    w("test/t1.jpg", _jpeg_bytes(_rgb(seed=40)))
    _rgb(seed=41).save(root / "test/t2.png")
    # hidden junk, ignored
    w("train/cat/.DS_Store", b"\x00\x00\x00\x01Bud1")
    w("train/cat/Thumbs.db", b"\xd0\xcf\x11\xe0")
    # bad
    w("train/cat/empty.jpg", b"")
    w("train/cat/page.jpg", b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>")
    w("train/cat/notes.png", b"this is just some text saved as png\n")
    jpg = _jpeg_bytes(_rgb(256, 256, seed=9))
    w("train/cat/truncated.jpg", jpg[: len(jpg) // 2])
    png = _png_bytes(_rgb(128, 128, seed=10))
    w("train/cat/truncated.png", png[: len(png) // 2])
    w("train/cat/corrupt.png", corrupt_png())
    w("train/cat/bomb.png", bomb_png())
    os.symlink("loop.jpg", root / "train/cat/loop.jpg")
    os.symlink("does-not-exist.jpg", root / "train/cat/dangling.jpg")
    (root / "train/cat/folder.jpg").mkdir()
    w("train/cat/locked.jpg", _jpeg_bytes(_rgb(seed=11)))
    os.chmod(root / "train/cat/locked.jpg", 0)
    return root


def hash_tree(root: Path) -> dict[str, str]:
    """Every entry's bytes (or link target / folder marker), to prove nothing was written."""
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                mode = p.stat().st_mode
                os.chmod(p, mode | 0o400)
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{oct(mode)}"
                os.chmod(p, mode)
    return out
