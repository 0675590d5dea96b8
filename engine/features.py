"""Precomputed activations: the frozen body's concat-pooled features, computed once, cached per file.

fastai 0.7 computed the frozen body's activations once and trained only the head on
them; its cache was keyed by the dataset *name*, so an edited folder gave stale
features silently. Here every image's features are stored under the hash of the bytes
that were decoded for them (engine.feature_store), so a touched, modified, added or
removed file costs exactly that file, a renamed or duplicated file costs nothing, and a
file swapped while it is read is stored under what was actually read.

Cached rows are verified when read; a damaged one is computed again and the result says
so (``FeatureSet.repaired``, ``cache_problems``): a damaged cache never crashes a run and
is never trained on.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.feature_store import (  # noqa: F401 (part of this API)
    TRANSFORM_ID,
    FeatureStore,
    FileIndex,
    content_key,
    feature_space,
    file_hash,
    stamp,
    weights_fingerprint,
)
from engine.images import ImageError, decode_rgb_array, read_image_file
from engine.inference_copy import autocast_dtype, fast_inference_copy, pooled_features  # noqa: F401
from engine.jobs import check
from engine.models import FoveaModel, normalise_batch, resize_center_crop_array
from engine.paths import NotRegularFile, check_free_space

SHARD_ROWS = 4096  # rows written per shard (and flushed on cancel)
CHUNK_BATCHES = 8  # images decoded together, in batches of the forward pass


@dataclass
class FeatureSet:
    """Features of one split, in item order (files that failed to decode are left out)."""

    x: torch.Tensor  # (N, 2 × body channels) float32, CPU (with meta.depths: of every depth, side by side)
    y: torch.Tensor  # (N,) int64
    paths: list[str]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    computed: int = 0  # images run through the body this time
    reused: int = 0  # images whose features came from the cache
    repaired: int = 0  # cached rows found damaged and computed again
    cache_problems: list[str] = field(default_factory=list)  # what was found damaged in the cache

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
    return resize_center_crop_array(decode_rgb_array(read_image_file(path), os.path.basename(path)), size)


def images_to_input(arrays, mean, std, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """Stack HWC uint8 arrays into a normalised NCHW float tensor on ``device``.

    The uint8 batch is moved first (4× less to copy to a GPU), then converted.
    """
    batch = torch.from_numpy(np.stack(arrays))
    if device.type == "cuda":
        batch = batch.pin_memory().to(device, non_blocking=True)
    x = normalise_batch(batch, mean, std)  # channels_last already
    return x if channels_last else x.contiguous()


# ---------------------------------------------------------------- decoding


def _decode_task(path: str, size: int):
    """(pixels, content key of the very bytes decoded, the file's stamp before reading, None),
    or (None, None, None, reason)."""
    try:
        st = os.stat(path)  # taken before reading: any later change makes the next run re-read
        data = read_image_file(path)
        arr = resize_center_crop_array(decode_rgb_array(data, os.path.basename(path)), size)
        return arr, content_key(data), stamp(st), None
    except ImageError as exc:
        return None, None, None, str(exc)
    except Exception as exc:  # never let one file kill the run
        return None, None, None, f"cannot decode: {exc}"


def _decode_part(paths: list[str], size: int) -> list:
    return [_decode_task(p, size) for p in paths]


def _start_decoding(pool: ThreadPoolExecutor, paths: list[str], size: int, per_task: int) -> list:
    """Futures of _decode_task results for ``paths``, ``per_task`` files per task (one future
    per file cost ~25 % more than decoding a small image)."""
    return [pool.submit(_decode_part, paths[i : i + per_task], size) for i in range(0, len(paths), per_task)]


# ---------------------------------------------------------------- the job


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

    Yields {"type": "precompute", "split", "done", "total"} after every batch (CPU) or chunk (GPU),
    the last one with "repaired" (damaged cache rows computed again); returns a FeatureSet.
    Decoding runs in threads, a chunk of CHUNK_BATCHES batches at a time.
    ``space``: a precomputed ``feature_space(model, device)`` (hashing the weights takes a moment);
    ``fast_body``: a callable returning a cached ``fast_inference_copy`` of the body.
    Raises DiskFull (an OSError naming the folder) before computing when the cache's disk is full.
    """
    device = device or next(model.parameters()).device
    name, info = space or feature_space(model, device)
    run = _Precompute(model, items, split, device, bs or forward_batch_size(device), stop, fast_body)
    run.store = FeatureStore(name, info)
    return (yield from run.run(workers or default_workers()))


class _Precompute:
    """The state of one precompute run; ``run`` is the job."""

    def __init__(self, model, items, split, device, bs, stop, fast_body):
        self.model, self.items, self.split, self.device, self.bs, self.stop = (
            model,
            list(items),
            split,
            device,
            bs,
            stop,
        )
        self.size, self.mean, self.std = int(model.meta.image_size), model.meta.mean, model.meta.std
        self.amp = autocast_dtype(device)
        self.fast_body, self.body = fast_body, None
        self.store: FeatureStore | None = None
        self.index = FileIndex()
        self.total = len(self.items)
        self.unique = list(dict.fromkeys(p for p, _ in self.items))
        first: dict[str, int] = {}
        for i, (p, _) in enumerate(self.items):
            first.setdefault(p, i)
        self.first = first  # path → its first item index (where its row goes)
        self.out = np.zeros((self.total, 2 * model.n_features), np.float32)
        self.have: dict[str, int] = {}  # content key → item index holding its verified row
        self.keys: dict[str, str] = {}  # path → content key
        self.errors: dict[str, str] = {}
        self.computed_keys: set[str] = set()
        self.pending: tuple[list[str], list[np.ndarray]] = ([], [])
        self.outputs: list[tuple[list[str], list[str], torch.Tensor]] = []  # forward results not yet kept
        self.done = 0

    def record(self, **extra) -> dict:
        return {
            "type": "precompute",
            "split": self.split,
            "done": min(self.done, self.total),
            "total": self.total,
            **extra,
        }

    def run(self, workers: int):
        yield self.record(reused=0)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="fovea-features") as pool:
                self.key_pass(pool)
                missing = self.use_cached()
                self.done = self.total - len(missing)
                yield self.record()
                if missing:
                    needed = len(missing) * (self.out.shape[1] * 4 + 200) + (1 << 20)
                    check_free_space(self.store.dir, needed, "the feature cache")
                for _ in range(2):  # a second round only for files that changed while being read
                    if missing:
                        yield from self.compute(pool, missing)
                    missing = self.still_missing()
                for path in missing:
                    self.errors[path] = "changed while it was being read: run again"
                check(self.stop)
            self.flush()
            self.done = self.total
            yield self.record(repaired=self.repaired())
            return self.result()
        finally:
            # keep what was computed before a cancel or error: the next run resumes from there
            try:
                self.keep_outputs()
                self.flush()
            except Exception:  # a failed GPU or a full disk has nothing more to give
                self.outputs.clear()
            try:
                self.index.save()
            except OSError:
                pass
            self.body = None

    def key_pass(self, pool: ThreadPoolExecutor) -> None:
        def key_of(path):
            try:
                return self.index.key(path), None
            except NotRegularFile as exc:
                return None, f"skipped: {exc.strerror}"
            except OSError as exc:
                return None, f"unreadable: {exc.strerror or exc}"

        for i in range(0, len(self.unique), 512):
            check(self.stop)
            chunk = self.unique[i : i + 512]
            for path, (key, err) in zip(chunk, pool.map(key_of, chunk), strict=True):
                if err:
                    self.errors[path] = err
                else:
                    self.keys[path] = key

    def put(self, path: str, key: str, row: np.ndarray) -> None:
        i = self.first[path]
        self.out[i] = row
        self.have[key] = i

    def use_cached(self) -> list[str]:
        """Verified cached rows into place; the paths whose features must be computed."""
        missing, seen = [], set()
        for path in self.unique:
            key = self.keys.get(path)
            if key is None or key in self.have or key in seen:
                continue
            row = self.store.get(key)
            if row is None:
                seen.add(key)
                missing.append(path)
            else:
                self.put(path, key, row)
        return missing

    def still_missing(self) -> list[str]:
        """Paths that have a key but no row: their twin (same content) changed while it was read."""
        out, seen = [], set()
        for path in self.unique:
            key = self.keys.get(path)
            if key is not None and path not in self.errors and key not in self.have and key not in seen:
                seen.add(key)
                out.append(path)
        return out

    def compute(self, pool: ThreadPoolExecutor, paths: list[str]):
        """Decode a chunk of images, then run the body over it. While the body runs, a GPU works
        asynchronously and the threads decode the next chunk; on a CPU the forward pass is
        synchronous and the decoders would compete with it (decoding small images is bound by the
        GIL; overlapping measured 5-15 % slower on 2 cores), so a CPU decodes between chunks."""
        cpu, bs = self.device.type != "cuda", self.bs
        chunks = [paths[:bs]] + [paths[i : i + bs * CHUNK_BATCHES] for i in range(bs, len(paths), bs * CHUNK_BATCHES)]
        ahead = _start_decoding(pool, chunks[0], self.size, bs)  # decodes while the fast copy is made
        if self.body is None:
            self.body = (
                self.fast_body()
                if self.fast_body
                else fast_inference_copy(self.model.body, self.device, min(self.size, 64))
            )
        with torch.inference_mode():
            for c, chunk in enumerate(chunks):
                decoded = [r for f in ahead for r in f.result()]
                ahead = []
                if not cpu and c + 1 < len(chunks):
                    ahead = _start_decoding(pool, chunks[c + 1], self.size, bs)
                ok = self.take_decoded(chunk, decoded)
                for i in range(0, len(ok), bs):
                    check(self.stop)
                    part = ok[i : i + bs]
                    x = images_to_input([a for _, _, a in part], self.mean, self.std, self.device, channels_last=True)
                    out = pooled_features(self.body, x, self.amp, self.model.meta.depths, self.model.meta.grid)
                    self.outputs.append(([p for p, _, _ in part], [k for _, k, _ in part], out))
                    if cpu:
                        self.keep_outputs()
                        self.done += len(part)
                        yield self.record()  # one per batch: a cancel lands within a batch
                if cpu and c + 1 < len(chunks):
                    ahead = _start_decoding(pool, chunks[c + 1], self.size, bs)
                self.keep_outputs()  # on a GPU: waits for the chunk's results here
                if len(self.pending[0]) >= SHARD_ROWS:
                    self.flush()
                self.done += len(chunk) - (len(ok) if cpu else 0)  # failed files count as done too
                if not cpu:
                    yield self.record()

    def take_decoded(self, paths: list[str], decoded: list) -> list[tuple[str, str, np.ndarray]]:
        """(path, key, pixels) of the files that decoded; errors noted; keys follow what was read."""
        ok = []
        for path, (arr, key, st, err) in zip(paths, decoded, strict=True):
            if err:
                self.errors[path] = err
                continue
            if key != self.keys.get(path):  # the file changed since it was hashed: what was read counts
                self.keys[path] = key
            self.index.remember(path, st, key)
            ok.append((path, key, arr))
        return ok

    def keep_outputs(self) -> None:
        for paths, keys, out in self.outputs:
            for path, key, row in zip(paths, keys, out.cpu().numpy(), strict=True):
                if not np.isfinite(row).all():
                    self.errors[path] = "the network gave non-finite activations for it (damaged weights?)"
                    continue
                self.put(path, key, row)
                self.pending[0].append(key)
                self.pending[1].append(row)
                self.computed_keys.add(key)
        self.outputs.clear()

    def flush(self) -> None:
        keys, rows = self.pending
        if keys:
            self.pending = ([], [])
            self.store.add(keys, np.stack(rows))

    def repaired(self) -> int:
        return self.store.bad_rows

    def result(self) -> FeatureSet:
        kept_idx, labels, kept = [], [], []
        for i, (path, label) in enumerate(self.items):
            key = self.keys.get(path)
            if path in self.errors or key not in self.have:
                self.errors.setdefault(path, "could not be read")
                continue
            j = self.have[key]
            if j != i:
                self.out[i] = self.out[j]
            kept_idx.append(i)
            labels.append(label)
            kept.append(path)
        x = self.out if len(kept_idx) == self.total else self.out[kept_idx]
        reused = sum(self.keys[p] not in self.computed_keys for p in kept)
        problems = self.index.problems + self.store.problems
        if self.store.bad_rows:
            problems.append(f"{self.store.bad_rows} cached row(s) failed their checksum: recomputed")
        return FeatureSet(
            torch.from_numpy(x),
            torch.tensor(labels, dtype=torch.int64),
            kept,
            sorted(self.errors.items()),
            len(self.computed_keys),
            reused,
            self.store.bad_rows,
            problems,
        )
