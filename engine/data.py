"""Dataset folders: ``train/<class>/*``, ``valid/<class>/*`` (or val/validation), optional ``test/*``.

Listing never opens an image (25,000 files list in well under a second); images are
verified later by ``verify_dataset``, a job. Every problem is reported with its file
and a reason, never raised, except when the path is not a dataset at all.
"""

from __future__ import annotations

import errno
import os
import random
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engine.images import is_image_name, verify_image

VALID_NAMES = ("valid", "val", "validation")
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
SPLITS = ("train", "valid", "test")
AUTO_VALID_FRACTION = 0.2
AUTO_VALID_SEED = 42


class DatasetError(Exception):
    """The path is not a usable dataset folder (message says why)."""

    def __init__(self, message: str, path: str | Path = ""):
        super().__init__(message)
        self.path = str(path)


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str
    split: str = ""


@dataclass
class Dataset:
    root: Path
    classes: list[str]
    train: list[tuple[str, int]]
    valid: list[tuple[str, int]]
    test: list[str]
    problems: list[Problem] = field(default_factory=list)
    valid_is_auto: bool = False
    valid_dirname: str = "valid"

    def items(self, split: str) -> list[tuple[str, int]]:
        """(path, label) pairs; test images get label -1."""
        if split == "test":
            return [(p, -1) for p in self.test]
        return list(getattr(self, split))

    def counts(self) -> dict[str, dict[str, int]]:
        """{class: {'train': n, 'valid': n}} in class order."""
        out = {c: {"train": 0, "valid": 0} for c in self.classes}
        for split in ("train", "valid"):
            for _, label in getattr(self, split):
                out[self.classes[label]][split] += 1
        return out

    def all_paths(self) -> list[str]:
        return [p for p, _ in self.train] + [p for p, _ in self.valid] + list(self.test)

    def without(self, bad: set[str]) -> Dataset:
        """The same dataset minus files found bad by verification."""
        return Dataset(
            self.root,
            list(self.classes),
            [t for t in self.train if t[0] not in bad],
            [t for t in self.valid if t[0] not in bad],
            [p for p in self.test if p not in bad],
            list(self.problems),
            self.valid_is_auto,
            self.valid_dirname,
        )

    def summary(self, extra_problems: int = 0) -> str:
        """One line of counts; ``extra_problems``: bad images found since listing (by verification)."""
        auto = " (auto 20 % split)" if self.valid_is_auto else ""
        return (
            f"{len(self.classes)} classes · {len(self.train)} train · {len(self.valid)} valid{auto}"
            f" · {len(self.test)} test · {len(self.problems) + extra_problems} problems"
        )


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in JUNK_NAMES


def _file_problem(entry: os.DirEntry) -> str | None:
    """Cheap checks from the directory entry and one stat; no image is opened."""
    try:
        st = entry.stat(follow_symlinks=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if exc.errno == errno.ENOENT and entry.is_symlink():
            return f"dangling symlink (points to {os.readlink(entry.path)})"
        if exc.errno == errno.EACCES:
            return "unreadable: permission denied"
        return f"cannot stat: {exc.strerror}"
    if stat.S_ISDIR(st.st_mode):
        return "a folder named like an image"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    # root can read anything, so also look at the permission bits themselves
    if not os.access(entry.path, os.R_OK) or not (st.st_mode & 0o444):
        return "unreadable: no read permission"
    return None


def _list_images(folder: Path, split: str, problems: list[Problem]) -> list[str]:
    """Image files directly inside folder, sorted by name; problems appended."""
    good = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(Problem(str(folder), f"cannot list folder: {exc.strerror}", split))
        return good
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        if not is_image_name(entry.name):
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            reason = (
                "subfolder ignored (images must sit directly in the class folder)"
                if is_dir
                else "ignored: not an image file name"
            )
            problems.append(Problem(entry.path, reason, split))
            continue
        reason = _file_problem(entry)
        if reason:
            problems.append(Problem(entry.path, reason, split))
        else:
            good.append(entry.path)
    return good


def _class_dirs(split_dir: Path, split: str, problems: list[Problem]) -> dict[str, Path]:
    out = {}
    for entry in sorted(os.scandir(split_dir), key=lambda e: e.name):
        if _is_hidden(entry.name):
            continue
        try:
            if entry.is_dir():
                out[entry.name] = Path(entry.path)
                continue
        except OSError:
            pass
        problems.append(Problem(entry.path, f"ignored: loose file in {split}/ (expected one folder per class)", split))
    return out


def find_split_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def scan_dataset(path: str | Path, seed: int = AUTO_VALID_SEED) -> Dataset:
    """List a dataset folder without opening images. Raises DatasetError if it is not one."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root} does not exist", root)
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a dataset folder (expected a folder with train/ and valid/)", root)
    train_dir = find_split_dir(root, ("train",))
    if train_dir is None:
        if root.name.lower() in ("train", "test") + VALID_NAMES and find_split_dir(root.parent, ("train",)):
            raise DatasetError(f"{root} is the {root.name}/ folder of a dataset: open its parent, {root.parent}", root)
        raise DatasetError(f"{root} has no train/ folder: expected train/<class>/ images (and valid/<class>/)", root)
    problems: list[Problem] = []
    train_classes = _class_dirs(train_dir, "train", problems)
    if not train_classes:
        raise DatasetError(f"{train_dir} has no class folders: put each class's images in train/<class>/", train_dir)
    # a class needs training images: an empty train/<class>/ is reported and left out, never a class
    listed = {c: _list_images(train_classes[c], "train", problems) for c in sorted(train_classes)}
    for c, files in listed.items():
        if not files:
            problems.append(
                Problem(
                    str(train_classes[c]), f"empty class folder: no usable images for class '{c}' — left out", "train"
                )
            )
    classes = [c for c, files in listed.items() if files]
    if not classes:
        raise DatasetError(
            f"{train_dir} has no images in its class folders: put each class's images in train/<class>/", train_dir
        )
    index = {c: i for i, c in enumerate(classes)}
    train: list[tuple[str, int]] = [(f, index[c]) for c in classes for f in listed[c]]

    valid: list[tuple[str, int]] = []
    valid_dir = find_split_dir(root, VALID_NAMES)
    valid_is_auto = valid_dir is None
    if valid_dir is not None:
        for c, d in _class_dirs(valid_dir, "valid", problems).items():
            if c not in index:
                why = "has no training images" if c in train_classes else f"is in {valid_dir.name}/ but not in train/"
                problems.append(Problem(str(d), f"class '{c}' {why} — ignored", "valid"))
                continue
            files = _list_images(d, "valid", problems)
            if not files:
                problems.append(Problem(str(d), f"empty class folder: no usable images for class '{c}'", "valid"))
            valid.extend((f, index[c]) for f in files)
    else:
        train, valid = split_train_valid(train, AUTO_VALID_FRACTION, seed)

    test: list[str] = []
    test_dir = find_split_dir(root, ("test",))
    if test_dir is not None:
        test = _list_images(test_dir, "test", problems)

    return Dataset(root, classes, train, valid, test, problems, valid_is_auto, valid_dir.name if valid_dir else "valid")


def split_train_valid(items: list[tuple[str, int]], fraction: float, seed: int):
    """Seeded per-class split; every class with ≥ 2 images gets at least one valid image."""
    rng = random.Random(seed)
    by_class: dict[int, list[tuple[str, int]]] = {}
    for item in items:
        by_class.setdefault(item[1], []).append(item)
    train, valid = [], []
    for label in sorted(by_class):
        group = sorted(by_class[label])
        rng.shuffle(group)
        n = int(round(len(group) * fraction))
        if len(group) >= 2:
            n = max(1, n)
        valid.extend(sorted(group[:n]))
        train.extend(sorted(group[n:]))
    return train, valid


def verify_dataset(dataset: Dataset, stop: threading.Event | None = None, workers: int | None = None):
    """Job: decode every image in parallel threads (PIL releases the GIL).

    Yields {'done', 'total', 'new_problems'} at most ~10× a second; returns the list of
    Problems for images that fail to decode.
    """
    split_of = {p: "train" for p, _ in dataset.train}
    split_of.update({p: "valid" for p, _ in dataset.valid})
    split_of.update({p: "test" for p in dataset.test})
    paths = list(split_of)
    total = len(paths)
    bad: list[Problem] = []
    pending: list[Problem] = []
    done = 0
    last = time.monotonic()
    workers = workers or max(2, min(8, (os.cpu_count() or 2)))
    with ThreadPoolExecutor(workers, thread_name_prefix="fovea-verify") as pool:
        chunk = 256
        for start in range(0, total, chunk):
            if stop is not None and stop.is_set():
                break
            block = paths[start : start + chunk]
            for path, reason in zip(block, pool.map(verify_image, block), strict=False):
                done += 1
                if reason:
                    problem = Problem(path, reason, split_of[path])
                    bad.append(problem)
                    pending.append(problem)
            now = time.monotonic()
            if pending or now - last > 0.1 or done == total:
                last = now
                yield {"done": done, "total": total, "new_problems": pending}
                pending = []
    if pending or total == 0:
        yield {"done": done, "total": total, "new_problems": pending}
    return bad


def scan_job(path: str | Path, stop: threading.Event | None = None):
    """Job wrapper of scan_dataset so the GUI never lists a large folder on its own thread."""
    yield {"scanning": str(path)}
    return scan_dataset(path)
