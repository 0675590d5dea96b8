"""Datasets made in the app: a folder Fovea owns under ``data_dir("datasets")``, laid out as
``train/<class>/`` and ``valid/<class>/`` so ``engine.data.scan_dataset`` opens it like any other.

Images are copied in (the user's own files are never touched), named by a hash of their content
(the same picture added twice is found), and placed in train or valid when they arrive:
the first image of a class goes to train, the second to valid, and after that about
``VALID_FRACTION`` of them, chosen by the content hash. Adding images never moves an existing
one; removing images may move one so that every class keeps a training image and, once it has
two images, a validation image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from engine.data import JUNK_NAMES
from engine.images import ImageError, is_image_name, load_rgb, verify_image
from engine.jobs import check
from engine.paths import atomic_file, data_dir
from engine.records import AddingRecord

MARKER = "fovea-dataset.json"
SPLIT_NAMES = ("train", "valid")
VALID_FRACTION = 0.2
NAME_MAX = 64
MAX_FILE_BYTES = 200 << 20
FORBIDDEN = '<>:"/\\|?*'
RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}
# formats copied byte for byte (with this extension); any other image is stored as PNG
KEPT_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}


class MakerError(ValueError):
    """A dataset-maker request that cannot be done; the message says why in one line."""


@dataclass(frozen=True)
class ClassImages:
    name: str
    train: tuple[Path, ...] = ()
    valid: tuple[Path, ...] = ()

    def images(self) -> list[tuple[Path, str]]:
        """(path, split) pairs, train first."""
        return [(p, "train") for p in self.train] + [(p, "valid") for p in self.valid]


@dataclass(frozen=True)
class MadeDataset:
    """What a managed dataset holds now (read from disk by ``read_dataset``)."""

    root: Path
    classes: tuple[ClassImages, ...] = ()

    @property
    def name(self) -> str:
        return self.root.name

    def class_named(self, name: str) -> ClassImages | None:
        return next((c for c in self.classes if c.name == name), None)

    def counts(self) -> dict[str, dict[str, int]]:
        """{class: {'train': n, 'valid': n}} in class order."""
        return {c.name: {"train": len(c.train), "valid": len(c.valid)} for c in self.classes}

    def image_count(self) -> int:
        return sum(len(c.train) + len(c.valid) for c in self.classes)

    def summary(self) -> str:
        train = sum(len(c.train) for c in self.classes)
        valid = sum(len(c.valid) for c in self.classes)
        n = len(self.classes)
        return f"{n} class{'es' if n != 1 else ''} · {train} train · {valid} valid"


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)  # files written into the dataset
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (source, class it is already in)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)

    def message(self, class_name: str) -> str:
        """One line for the status bar."""
        n = len(self.added)
        parts = [f"Added {n} image{'s' if n != 1 else ''} to '{class_name}'"]
        if self.duplicates:
            where = sorted({c for _, c in self.duplicates})
            parts.append(f"{len(self.duplicates)} already there (in {', '.join(map(repr, where))})")
        if self.refused:
            source, reason = self.refused[0]
            more = f" (and {len(self.refused) - 1} more)" if len(self.refused) > 1 else ""
            parts.append(f"refused {Path(source).name or source}: {reason}{more}")
        return " · ".join(parts)


# ---------------------------------------------------------------- names and folders


def datasets_root() -> Path:
    """The folder holding every dataset made in the app."""
    return data_dir("datasets")


def check_name(name: str, what: str = "class") -> str:
    """The name, stripped, if it is safe as a folder name on every system; else MakerError."""
    name = (name or "").strip()
    if not name:
        raise MakerError(f"Give the {what} a name.")
    if len(name) > NAME_MAX:
        raise MakerError(f"A {what} name has at most {NAME_MAX} characters ('{name[:20]}…' has {len(name)}).")
    bad = sorted({ch for ch in name if ch in FORBIDDEN or ord(ch) < 32 or ord(ch) == 127})
    if bad:
        shown = " ".join(repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}" for ch in bad)
        raise MakerError(f"A {what} name can't contain {shown}.")
    if name.startswith("."):
        raise MakerError(f"A {what} name can't start with a dot (the folder would be hidden).")
    if name.endswith("."):
        raise MakerError(f"A {what} name can't end with a dot.")
    if name.lower() in JUNK_NAMES or name.split(".")[0].lower() in RESERVED:
        raise MakerError(f"'{name}' is reserved by some systems: choose another {what} name.")
    return name


def list_datasets() -> list[Path]:
    """Every dataset made in the app, by name."""
    root = datasets_root()
    found = [p for p in root.iterdir() if p.is_dir() and (p / MARKER).is_file()]
    return sorted(found, key=lambda p: p.name.casefold())


def create_dataset(name: str) -> Path:
    """Make an empty managed dataset (train/ and valid/) and return its folder."""
    name = check_name(name, "dataset")
    root = datasets_root()
    if any(p.name.casefold() == name.casefold() for p in root.iterdir()):
        raise MakerError(f"A dataset named '{name}' already exists.")
    folder = root / name
    for split in SPLIT_NAMES:
        (folder / split).mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / MARKER, ".json") as tmp:
        Path(tmp).write_text(json.dumps({"name": name, "created": time.time(), "version": 1}), encoding="utf-8")
    return folder


def delete_dataset(folder: str | Path) -> None:
    """Delete a managed dataset and every image copied into it."""
    shutil.rmtree(managed_folder(folder))


def managed_folder(folder: str | Path) -> Path:
    """``folder`` if it is a dataset made in the app; MakerError for anything else (a user's own folder)."""
    folder = Path(folder).resolve()
    if folder.parent != datasets_root().resolve() or not (folder / MARKER).is_file():
        raise MakerError(f"{folder} is not a dataset made in Fovea; Fovea never changes your own folders.")
    return folder


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def read_dataset(folder: str | Path) -> MadeDataset:
    """What the managed dataset holds now: its classes (train/ folders) and their images per split."""
    folder = managed_folder(folder)
    names = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = tuple(
        ClassImages(n, tuple(_files(folder / "train" / n)), tuple(_files(folder / "valid" / n))) for n in names
    )
    return MadeDataset(folder, classes)


def _existing_class(folder: Path, name: str) -> str | None:
    """The class whose name matches ``name`` ignoring case (folders may be case-insensitive)."""
    train = folder / "train"
    return next((p.name for p in train.iterdir() if p.is_dir() and p.name.casefold() == name.casefold()), None)


def add_class(folder: str | Path, name: str) -> str:
    """Add an empty class; returns its (stripped) name."""
    folder, name = managed_folder(folder), check_name(name)
    existing = _existing_class(folder, name)
    if existing is not None:
        raise MakerError(f"There is already a class '{existing}'.")
    (folder / "train" / name).mkdir()
    return name


def rename_class(folder: str | Path, old: str, new: str) -> str:
    """Rename a class in both splits; returns the new name."""
    folder, new = managed_folder(folder), check_name(new)
    if not (folder / "train" / old).is_dir():
        raise MakerError(f"There is no class '{old}'.")
    if new == old:
        return new
    clash = _existing_class(folder, new)
    if clash is not None and clash != old:
        raise MakerError(f"There is already a class '{clash}'.")
    moved: list[tuple[Path, Path]] = []
    try:
        for split in SPLIT_NAMES:
            src, dst = folder / split / old, folder / split / new
            if src.is_dir():
                step = src.with_name(f".rename-{os.getpid()}-{threading.get_ident()}")
                os.rename(src, step)  # via a temporary name: a case-only rename works on case-insensitive disks
                moved.append((src, step))
                os.rename(step, dst)
                moved[-1] = (src, dst)
    except OSError as exc:
        for src, now in reversed(moved):
            os.rename(now, src)
        raise MakerError(f"Could not rename '{old}' to '{new}': {exc.strerror or exc}") from None
    return new


def delete_class(folder: str | Path, name: str) -> None:
    """Delete a class and its images in both splits."""
    folder = managed_folder(folder)
    if not name or not (folder / "train" / name).is_dir():
        raise MakerError(f"There is no class '{name}'.")
    for split in SPLIT_NAMES:
        if (folder / split / name).is_dir():
            shutil.rmtree(folder / split / name)


# ---------------------------------------------------------------- the split


def _score(path: Path) -> float:
    """Where a file falls in [0, 1): from its content-hash name (any other name is hashed)."""
    stem = path.stem
    try:
        return int(stem[:8], 16) / 2**32
    except ValueError:
        return int(hashlib.sha256(stem.encode()).hexdigest()[:8], 16) / 2**32


def _split_for(digest: str, n_train: int, n_valid: int) -> str:
    """Where a new image of a class with these counts goes (existing images never move)."""
    if n_train == 0:
        return "train"
    if n_valid == 0:
        return "valid"
    return "valid" if int(digest[:8], 16) / 2**32 < VALID_FRACTION else "train"


def _rebalance(folder: Path, name: str) -> None:
    """After removals: keep a training image, and a validation image once the class has two images."""
    train, valid = _files(folder / "train" / name), _files(folder / "valid" / name)
    if not train and valid:
        first = min(valid, key=_score)
        os.replace(first, folder / "train" / name / first.name)
    elif not valid and len(train) >= 2:
        first = min(train, key=_score)
        (folder / "valid" / name).mkdir(parents=True, exist_ok=True)
        os.replace(first, folder / "valid" / name / first.name)
    valid_dir = folder / "valid" / name
    if valid_dir.is_dir() and not any(valid_dir.iterdir()):
        valid_dir.rmdir()  # an empty valid/<class>/ would be reported as a problem by scan_dataset


def remove_images(folder: str | Path, paths: Iterable[str | Path]) -> int:
    """Delete images from the dataset (only files inside it); returns how many were removed."""
    folder = managed_folder(folder)
    touched, removed = set(), 0
    for path in paths:
        path = Path(path).resolve()
        if path.parent.parent.parent != folder or path.parent.parent.name not in SPLIT_NAMES:
            raise MakerError(f"{path} is not an image of this dataset.")
        if path.is_file():
            path.unlink()
            removed += 1
            touched.add(path.parent.name)
    for name in sorted(touched):
        if (folder / "train" / name).is_dir():
            _rebalance(folder, name)
    return removed


# ---------------------------------------------------------------- adding images


def _expand(sources: Iterable) -> list:
    """Folders become the image files directly inside them; files and arrays stay as they are."""
    out = []
    for src in sources:
        if isinstance(src, np.ndarray):
            out.append(src)
            continue
        path = Path(src)
        if path.is_dir():
            out.extend(p for p in sorted(path.iterdir()) if p.is_file() and is_image_name(p.name))
        else:
            out.append(path)
    return out


def _array_png(arr: np.ndarray) -> bytes:
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or arr.size == 0 or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ImageError(f"not an image: an array of shape {arr.shape} and type {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, "PNG")
    return buf.getvalue()


def _file_payload(path: Path) -> tuple[bytes, str, bytes]:
    """(bytes to hash, extension, bytes to store) of an image file; ImageError says why not."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageError(f"too large (over {MAX_FILE_BYTES >> 20} MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}") from None
    reason = verify_image(path)
    if reason:
        raise ImageError(reason)
    with Image.open(path) as im:
        fmt = im.format
    if fmt in KEPT_FORMATS:
        return data, KEPT_FORMATS[fmt], data
    buf = io.BytesIO()
    load_rgb(path).save(buf, "PNG")
    return data, ".png", buf.getvalue()


def _payload(src) -> tuple[bytes, str, bytes]:
    if isinstance(src, np.ndarray):
        png = _array_png(src)
        return png, ".png", png
    return _file_payload(src)


def add_images(
    folder: str | Path, name: str, sources: Iterable, stop: threading.Event | None = None
) -> Iterator[AddingRecord]:
    """Job: copy images (file paths, folders of images, or RGB/grey uint8 arrays) into a class.

    Yields {"type": "adding", "done": i, "total": n}; returns an AddResult. Non-images are
    refused with a reason; an image already in the dataset (same content) is not added twice.
    """
    folder = managed_folder(folder)
    if not (folder / "train" / name).is_dir():
        raise MakerError(f"There is no class '{name}'.")
    sources = _expand(sources)
    known = {p.stem: c.name for c in read_dataset(folder).classes for p, _ in c.images()}
    n_train, n_valid = len(_files(folder / "train" / name)), len(_files(folder / "valid" / name))
    result = AddResult()
    for i, src in enumerate(sources):
        check(stop)
        label = "pasted image" if isinstance(src, np.ndarray) else str(src)
        try:
            key, ext, data = _payload(src)
        except ImageError as exc:
            result.refused.append((label, str(exc)))
        else:
            digest = hashlib.sha256(key).hexdigest()[:20]
            if digest in known:
                result.duplicates.append((label, known[digest]))
            elif not (folder / "train" / name).is_dir():
                raise MakerError(f"The class '{name}' was deleted while images were being added.")
            else:
                split = _split_for(digest, n_train, n_valid)
                target = folder / split / name / f"{digest}{ext}"
                with atomic_file(target, ext) as tmp:
                    Path(tmp).write_bytes(data)
                known[digest] = name
                n_train, n_valid = n_train + (split == "train"), n_valid + (split == "valid")
                result.added.append(str(target))
        yield {"type": "adding", "done": i + 1, "total": len(sources)}
    return result
