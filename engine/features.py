"""Precomputed activations: the frozen body's concat-pooled features, computed once, cached per file.

fastai 0.7 computed the frozen body's activations once and trained only the head on
them; its cache was keyed by the dataset *name*, so an edited folder gave stale
features silently. Here every image's features are stored under the hash of the
file's *content*, inside a "feature space" named by everything else that decides
them (architecture, the body's exact weights, image size, transform, precision).
A (path, size, mtime) → content-hash index avoids re-reading unchanged files, so a
touched, modified, added or removed file costs exactly that file, and a renamed or
duplicated file costs nothing.

Layout in ``cache_dir('features')``: ``files.json`` (the content-hash index) and one
folder per feature space holding append-only shards (``*.x.npy`` rows + ``*.keys.npy``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.images import ImageError, load_rgb_array
from engine.jobs import check
from engine.models import AdaptiveConcatPool2d, FoveaModel, normalise_batch, resize_center_crop_array
from engine.paths import cache_dir

TRANSFORM_ID = "resize-center-crop/area-or-linear/v2"
SHARD_ROWS = 4096  # rows written per shard (and flushed on cancel)
CHUNK_BATCHES = 8  # images decoded together, in batches of the forward pass
MAX_SHARDS = 24  # more than this: merge into one
_index_lock = threading.Lock()


@dataclass
class FeatureSet:
    """Features of one split, in item order (files that failed to decode are left out)."""

    x: torch.Tensor  # (N, 2 × body channels) float32, CPU
    y: torch.Tensor  # (N,) int64
    paths: list[str]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    computed: int = 0  # images run through the body this time
    reused: int = 0  # images whose features came from the cache

    def __len__(self) -> int:
        return len(self.paths)


# ---------------------------------------------------------------- helpers shared with training


def default_workers() -> int:
    """Decode threads: PIL releases the GIL, so threads decode in parallel without forking."""
    return max(2, min(8, os.cpu_count() or 2))


def forward_batch_size(device: torch.device) -> int:
    """Batch for the frozen body's forward pass: on CPU mid-sized batches stay in cache
    (32 ran ~25 % faster per image than 64 on a 2-core machine); GPUs want large ones."""
    return 256 if device.type == "cuda" else 32


def load_resized(path: str, size: int) -> np.ndarray:
    """Decode → upright RGB → resize shorter side + centre crop → (size, size, 3) uint8."""
    # exactly what inference does, so features and predictions see the same pixels
    return resize_center_crop_array(load_rgb_array(path), size)


def images_to_input(arrays, mean, std, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """Stack HWC uint8 arrays into a normalised NCHW float tensor on ``device``.

    The uint8 batch is moved first (4× less to copy to a GPU), then converted.
    """
    batch = torch.from_numpy(np.stack(arrays))
    if device.type == "cuda":
        batch = batch.pin_memory().to(device, non_blocking=True)
    x = normalise_batch(batch, mean, std)  # channels_last already
    return x if channels_last else x.contiguous()


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16; None (plain fp32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _inference_clone(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` for inference: the same classes and attributes, its own module tree,
    and every parameter and buffer a detached clone (about 5× faster than ``copy.deepcopy``,
    which walks every attribute of every module in Python while holding the GIL)."""
    import copy

    clone = copy.copy(module)  # shallow: the __dict__ is new, its values shared
    for name, value in module.__dict__.items():
        if isinstance(value, dict):  # _modules, _parameters, _buffers, hook tables
            clone.__dict__[name] = copy.copy(value)
    state = clone.__dict__  # set directly: Module.__setattr__ costs more than the copy
    state["_modules"] = type(module._modules)(
        (k, None if m is None else _inference_clone(m)) for k, m in module._modules.items()
    )
    state["_parameters"] = type(module._parameters)(
        (k, None if p is None else torch.nn.Parameter(p.detach().clone(), requires_grad=False))
        for k, p in module._parameters.items()
    )
    state["_buffers"] = type(module._buffers)(
        (k, None if b is None else b.detach().clone()) for k, b in module._buffers.items()
    )
    return clone


def fast_inference_copy(
    module: torch.nn.Module, device: torch.device, size: int = 64, channels: int = 3
) -> torch.nn.Module:
    """An eval-only copy for a frozen body: BatchNorm folded into the convolution before it,
    channels_last memory. About 2× faster on CPU than the plain module, same results
    (checked on a random ``channels`` × ``size`` × ``size`` image; an unfolded copy is used if
    folding changed the output). The original is left as it was.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    with torch.no_grad():
        fast = _inference_clone(module).eval()
        if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in fast.parameters()):
            fast = fast.float().cpu()
    probe = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = fast(probe)  # before folding: the plain module's output

    def fold(parent: nn.Module) -> bool:
        changed = False
        names = list(parent._modules)
        for prev, name in zip([None] + names[:-1], names, strict=False):
            child = parent._modules[name]
            conv = parent._modules.get(prev) if prev is not None else None
            if (
                isinstance(child, nn.BatchNorm2d)
                and isinstance(conv, nn.Conv2d)
                and child.track_running_stats
                and child.running_mean is not None
            ):
                # in place: ``fast`` is a clone already (fuse_conv_bn_eval would copy each conv again)
                conv.weight, conv.bias = fuse_conv_bn_weights(
                    conv.weight, conv.bias, child.running_mean, child.running_var, child.eps, child.weight, child.bias
                )
                conv.weight.requires_grad_(False)
                conv.bias.requires_grad_(False)
                # timm's BatchNormAct2d applies dropout and an activation after normalising
                rest = [
                    m
                    for m in (getattr(child, "drop", None), getattr(child, "act", None))
                    if m is not None and not isinstance(m, nn.Identity)
                ]
                parent._modules[name] = nn.Sequential(*rest) if rest else nn.Identity()
                changed = True
            elif child is not None:
                changed = fold(child) or changed
        return changed

    if fold(fast):
        with torch.inference_mode():
            got = fast(probe)
        if want.shape != got.shape or (want - got).abs().max() > 1e-3 * (1 + want.abs().max()):
            fast = _inference_clone(module).float().eval().cpu()
    return fast.to(device=device, memory_format=torch.channels_last)


def pooled_features(body: torch.nn.Module, x: torch.Tensor, amp: torch.dtype | None = None) -> torch.Tensor:
    """The body's output, concat-pooled (max ‖ mean) — what head[1:] takes — as float32."""
    with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        out = AdaptiveConcatPool2d()(body(x))
    return out.float()


# ---------------------------------------------------------------- keys


def file_hash(path: str) -> str:
    """Content hash of a file (what its cached features are stored under)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_fingerprint(module: torch.nn.Module) -> str:
    """Hash of a module's weights and buffers (an imported weights file changes the features)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def feature_space(model: FoveaModel, device: torch.device | None = None) -> tuple[str, dict]:
    """Name (and description) of the space the model's features live in."""
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
    }
    digest = hashlib.blake2b(json.dumps(info, sort_keys=True).encode(), digest_size=10).hexdigest()
    return f"{model.meta.arch}-{model.meta.image_size}-{digest}", info


class FileIndex:
    """(path, size, mtime_ns) → content hash, so unchanged files are not re-read."""

    def __init__(self, root: Path | None = None):
        self.path = (root or cache_dir("features")) / "files.json"
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def key(self, path: str) -> str:
        """Content hash of ``path`` (re-hashed only when its size or mtime changed). Raises OSError."""
        st = os.stat(path)
        entry = self.entries.get(path)
        if entry and entry[0] == st.st_size and entry[1] == st.st_mtime_ns:
            return entry[2]
        digest = file_hash(path)
        self.entries[path] = [st.st_size, st.st_mtime_ns, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        with _index_lock:
            try:  # merge with what another run wrote meanwhile
                on_disk = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                on_disk = {}
            on_disk.update(self.entries)
            _atomic_write(self.path, json.dumps(on_disk).encode("utf-8"))
        self.changed = False


class FeatureStore:
    """Append-only shards of feature rows for one feature space, addressed by content hash."""

    def __init__(self, space: str, info: dict | None = None, root: Path | None = None):
        self.dir = (root or cache_dir("features")) / space
        self.dir.mkdir(parents=True, exist_ok=True)
        if info is not None and not (self.dir / "space.json").exists():
            _atomic_write(self.dir / "space.json", json.dumps(info, indent=1).encode("utf-8"))
        self._rows: dict[str, tuple[np.ndarray, int]] = {}
        self._load()

    def _shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.keys.npy"))

    def _load(self) -> None:
        for keys_file in self._shards():
            x_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".x.npy"))
            try:
                keys = np.load(keys_file)
                x = np.load(x_file, mmap_mode="r")
            except (OSError, ValueError):
                continue  # a shard being merged away by another run
            for i, k in enumerate(keys.tolist()):
                self._rows[k] = (x, i)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> np.ndarray:
        x, i = self._rows[key]
        return np.asarray(x[i], dtype=np.float32)

    def add(self, keys: list[str], x: np.ndarray) -> None:
        """Write one shard (rows first, then keys: a shard with keys is complete)."""
        if not keys:
            return
        x = np.ascontiguousarray(x, dtype=np.float32)
        name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        x_file, keys_file = self.dir / f"{name}.x.npy", self.dir / f"{name}.keys.npy"
        _atomic_save(x_file, x)
        _atomic_save(keys_file, np.asarray(keys))
        for i, k in enumerate(keys):
            self._rows[k] = (x, i)
        if len(self._shards()) > MAX_SHARDS:
            self.compact()

    def compact(self) -> None:
        """Merge all shards into one (keeps every row; readers that raced simply re-compute)."""
        old = self._shards()
        keys = list(self._rows)
        if not keys:
            return
        x = np.stack([self.get(k) for k in keys])
        name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}-merged"
        _atomic_save(self.dir / f"{name}.x.npy", x)
        _atomic_save(self.dir / f"{name}.keys.npy", np.asarray(keys))
        self._rows = {k: (x, i) for i, k in enumerate(keys)}
        for keys_file in old:
            for f in (keys_file, keys_file.with_name(keys_file.name.replace(".keys.npy", ".x.npy"))):
                try:
                    f.unlink()
                except OSError:
                    pass


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- the job


def _decode_task(path: str, size: int):
    try:
        return load_resized(path, size), None
    except ImageError as exc:
        return None, str(exc)
    except Exception as exc:  # never let one file kill the run
        return None, f"cannot decode: {exc}"


def _decode_part(paths: list[str], size: int) -> list:
    return [_decode_task(p, size) for p in paths]


def _start_decoding(pool: ThreadPoolExecutor, paths: list[str], size: int, per_task: int) -> list:
    """Futures of _decode_task results for ``paths``, ``per_task`` files per task (one future
    per file cost ~25 % more than decoding a small image)."""
    return [pool.submit(_decode_part, paths[i : i + per_task], size) for i in range(0, len(paths), per_task)]


def precompute_features(
    model: FoveaModel,
    items: list[tuple[str, int]],
    split: str = "train",
    device: torch.device | None = None,
    bs: int | None = None,
    stop: threading.Event | None = None,
    workers: int | None = None,
    space: tuple[str, dict] | None = None,
    fast_body=None,
):
    """Job: features of ``items`` ((path, label) pairs) from the cache, computing only what is missing.

    Yields {"type": "precompute", "split", "done", "total"} after every batch (CPU) or chunk (GPU);
    returns a FeatureSet. Decoding runs in threads, a chunk of CHUNK_BATCHES batches at a time.
    ``space``: a precomputed ``feature_space(model, device)`` (hashing the weights takes a moment);
    ``fast_body``: a callable returning a cached ``fast_inference_copy`` of the body.
    """
    device = device or next(model.parameters()).device
    name, info = space or feature_space(model, device)
    size, mean, std = int(model.meta.image_size), model.meta.mean, model.meta.std
    amp = autocast_dtype(device)
    total = len(items)
    bs = bs or forward_batch_size(device)
    workers = workers or default_workers()
    store = FeatureStore(name, info)
    index = FileIndex()
    errors: dict[str, str] = {}
    keys: dict[str, str] = {}
    pending_keys: list[str] = []
    pending_rows: list[np.ndarray] = []
    computed = 0
    body = None  # the fast copy, made only when something is missing
    last = 0.0

    missing_paths: list[str] = []
    computed_keys: set[str] = set()
    outputs: list[tuple[list[str], torch.Tensor]] = []  # forward results not yet kept

    def keep_outputs() -> int:
        n = 0
        for paths, out in outputs:
            for path, row in zip(paths, out.cpu().numpy(), strict=False):
                pending_keys.append(keys[path])
                pending_rows.append(row)
                computed_keys.add(keys[path])
                n += 1
        outputs.clear()
        return n

    def record(done: int, force: bool = False):
        nonlocal last
        now = time.monotonic()
        if force or now - last > 0.1:
            last = now
            return {"type": "precompute", "split": split, "done": done, "total": total}
        return None

    yield {"type": "precompute", "split": split, "done": 0, "total": total, "reused": 0}
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="fovea-features") as pool:
            paths = [p for p, _ in items]
            unique = list(dict.fromkeys(paths))

            def key_of(path):
                try:
                    return index.key(path), None
                except OSError as exc:
                    return None, f"unreadable: {exc.strerror or exc}"

            for i in range(0, len(unique), 512):
                check(stop)
                chunk = unique[i : i + 512]
                for path, (key, err) in zip(chunk, pool.map(key_of, chunk), strict=False):
                    if err:
                        errors[path] = err
                    else:
                        keys[path] = key
            seen: set[str] = set()
            for path in unique:
                k = keys.get(path)
                if k is not None and k not in store and k not in seen:
                    seen.add(k)
                    missing_paths.append(path)
            done = total - len(missing_paths)
            rec = record(done, force=True)
            yield rec

            # Decode a chunk of images, then run the body over it. While the body runs, a GPU works
            # asynchronously and the threads decode the next chunk; on a CPU the forward pass is
            # synchronous and the decoders would compete with it: decoding small images is bound by
            # the GIL, and a decoder that preempts one of the body's threads stalls them all at their
            # next barrier (overlapping measured 5-15 % slower on 2 cores; running the body on one
            # core fewer while a chunk decodes gained no more than the noise).
            cpu = device.type != "cuda"
            chunk = bs * CHUNK_BATCHES
            # a first chunk of one batch: the body starts as soon as that is decoded
            chunks = [missing_paths[:bs]] if missing_paths else []
            chunks += [missing_paths[i : i + chunk] for i in range(bs, len(missing_paths), chunk)]
            # the first chunk decodes while the fast copy of the body is made
            ahead = _start_decoding(pool, chunks[0], size, bs) if chunks else []
            if chunks:
                body = fast_body() if fast_body else fast_inference_copy(model.body, device, min(size, 64))
            with torch.inference_mode():
                for c, paths in enumerate(chunks):
                    decoded = [r for f in ahead for r in f.result()]
                    ahead = []
                    if not cpu and c + 1 < len(chunks):
                        ahead = _start_decoding(pool, chunks[c + 1], size, bs)
                    ok_paths, arrays = [], []
                    for path, (arr, err) in zip(paths, decoded, strict=False):
                        if err:
                            errors[path] = err
                        else:
                            ok_paths.append(path)
                            arrays.append(arr)
                    for i in range(0, len(arrays), bs):
                        check(stop)
                        x = images_to_input(arrays[i : i + bs], mean, std, device, channels_last=True)
                        outputs.append((ok_paths[i : i + bs], pooled_features(body, x, amp)))
                        if cpu:
                            computed += keep_outputs()
                            done += min(bs, len(arrays) - i)
                            yield record(done, force=True)  # one per batch: a cancel lands within a batch
                    if cpu and c + 1 < len(chunks):
                        ahead = _start_decoding(pool, chunks[c + 1], size, bs)
                    computed += keep_outputs()  # on a GPU: waits for the chunk's results here
                    if len(pending_keys) >= SHARD_ROWS:
                        store.add(pending_keys, np.stack(pending_rows))
                        pending_keys, pending_rows = [], []
                    if cpu:
                        done += len(paths) - len(arrays)  # failed files count as done too
                    else:
                        done += len(paths)
                        yield record(done, force=True)
            check(stop)
        if pending_keys:
            store.add(pending_keys, np.stack(pending_rows))
            pending_keys, pending_rows = [], []
        yield record(total, force=True)
        rows, labels, kept = [], [], []
        reused = 0
        for path, label in items:
            k = keys.get(path)
            if k is None or path in errors or k not in store:
                errors.setdefault(path, "could not be read")
                continue
            rows.append(store.get(k))
            labels.append(label)
            kept.append(path)
            reused += k not in computed_keys
        width = 2 * model.n_features
        x = torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, width)
        return FeatureSet(
            x,
            torch.tensor(labels, dtype=torch.int64),
            kept,
            sorted((p, r) for p, r in errors.items()),
            computed,
            reused,
        )
    finally:
        # keep what was computed before a cancel or error: the next run resumes from there
        try:
            keep_outputs()
        except Exception:  # a failed GPU has nothing to give back
            outputs.clear()
        if pending_keys:
            try:
                store.add(pending_keys, np.stack(pending_rows))
            except OSError:
                pass
        try:
            index.save()
        except OSError:
            pass
        del body
