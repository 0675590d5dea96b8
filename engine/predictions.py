"""Predictions: class probabilities for images, with the model's own preprocessing.

Every prediction goes through the model's own preprocessing (``meta.image_size``,
``meta.mean``/``meta.std``): upright RGB (EXIF orientation applied), shorter side
resized to the input size, centre square cropped. Images decode in parallel threads
while the network runs; a file that cannot be used is reported with its reason and
never stops the others.

Test-time augmentation (TTA) averages the softmax probabilities of six views of
each image (``TTA_VIEWS``): the centre crop, its mirror image, and the four corner
crops of the image zoomed in by ``TTA_ZOOM`` (shorter side = 1.15 × input size).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from engine.features import forward_batch_size
from engine.images import ImageError
from engine.inference_copy import fast_inference_copy
from engine.jobs import check
from engine.models import center_crop_size, pick_device, resize_array, resize_center_crop_array, to_tensor
from engine.sources import _source_text, expand_sources, load_source, source_name

TTA_ZOOM = 1.15
TTA_VIEWS = ("centre", "centre flipped", "zoom top-left", "zoom top-right", "zoom bottom-left", "zoom bottom-right")


def warm_up_model(model, device=None) -> None:
    """One forward pass at the model's input size through what predictions run (first passes are
    several times slower; on a CPU this also builds the folded copy)."""
    dev = _resolve_device(model, device)
    was_training = model.training
    try:
        net = _inference_net(model, dev)
        size = int(model.meta.image_size)
        x = torch.zeros(1, 3, size, size)
        with torch.inference_mode():
            _forward(net, x, dev)
    finally:
        if was_training:
            model.train()


def _prepare_model(model: torch.nn.Module, device: torch.device) -> None:
    """Eval mode on ``device``; channels_last (depthwise convs run several times faster that way)."""
    try:
        param = next(model.parameters())
    except StopIteration:
        param = None
    if param is not None and param.device != device:
        model.to(device)
    model.to(memory_format=torch.channels_last)
    model.eval()


_fast_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → (weights key, copy)
_fast_lock = threading.Lock()


def _weights_key(model: torch.nn.Module) -> tuple | None:
    """Changes whenever a parameter or buffer is replaced or modified in place (an optimizer step,
    load_state_dict); None when the tensors keep no version counter (made in inference mode)."""
    try:
        return tuple((t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers()))
    except RuntimeError:
        return None


def _inference_net(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """What predictions run. On a CPU: a BN-folded, channels_last copy of ``model`` (about 2.5×
    the plain module's speed), made once and kept while the model's weights stay the same; the
    model itself is left untouched. On a GPU: the model, in eval mode and channels_last."""
    if device.type != "cpu":
        _prepare_model(model, device)
        return model
    key = _weights_key(model)
    with _fast_lock:
        hit = _fast_copies.get(model)
    if key is not None and hit is not None and hit[0] == key:
        return hit[1]
    size = min(64, int(getattr(getattr(model, "meta", None), "image_size", 64)))
    fast = fast_inference_copy(model, device, size)
    if key is not None:
        with _fast_lock:
            _fast_copies[model] = (key, fast)
    return fast


def _resolve_device(model, device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    return pick_device(device)


# ---------------------------------------------------------------- views


def tta_views(im: Image.Image, size: int) -> list[Image.Image]:
    """The six TTA views (see TTA_VIEWS), each size × size."""
    arr = np.asarray(im, dtype=np.uint8)
    centre = Image.fromarray(resize_center_crop_array(arr, size))
    zs = max(size + 1, round(size * TTA_ZOOM))
    zw, zh = center_crop_size(arr.shape[1], arr.shape[0], zs)
    zoomed = Image.fromarray(resize_array(arr, zw, zh))
    # corners of the centre zs × zs square of the zoomed image
    x0, y0 = (zw - zs) // 2, (zh - zs) // 2
    x1, y1 = x0 + zs - size, y0 + zs - size
    corners = [zoomed.crop((x, y, x + size, y + size)) for y in (y0, y1) for x in (x0, x1)]
    return [centre, centre.transpose(Image.FLIP_LEFT_RIGHT), *corners]


def _decode_one(source, size: int, tta: bool, thumbnail: int):
    t0 = time.perf_counter()
    im, local = load_source(source)
    if tta:
        arrays = [np.asarray(v, dtype=np.uint8) for v in tta_views(im, size)]
    else:  # straight to the array: no round trip through a PIL image
        arrays = [resize_center_crop_array(np.asarray(im, dtype=np.uint8), size)]
    thumb = None
    if thumbnail:
        t = im.copy()
        t.thumbnail((thumbnail, thumbnail), Image.BILINEAR)
        thumb = np.asarray(t, dtype=np.uint8).copy()
    return arrays, thumb, local, im.size, (time.perf_counter() - t0) * 1000.0


# ---------------------------------------------------------------- prediction


@dataclass
class Predictions:
    """What predict_images returns. Rows of ``probs`` for files in ``errors`` are NaN."""

    classes: list[str]
    sources: list
    probs: np.ndarray  # (N, n_classes) float32 softmax probabilities
    errors: dict[int, str] = field(default_factory=dict)  # index → reason
    names: list[str] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    tta: bool = False

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the sources that were predicted."""
        mask = np.ones(len(self.sources), dtype=bool)
        mask[list(self.errors)] = False
        return mask

    @property
    def predicted(self) -> np.ndarray:
        """Index of the most likely class per source (-1 where it failed)."""
        out = np.full(len(self.sources), -1, dtype=np.int64)
        ok = self.ok
        if ok.any():
            out[ok] = self.probs[ok].argmax(1)
        return out


def top_k(probs: np.ndarray, classes: list[str], k: int) -> list[list]:
    """[[class, probability], ...] of the k most likely classes, most likely first."""
    k = min(k, len(classes))
    idx = np.argpartition(-probs, k - 1)[:k] if k < len(classes) else np.arange(len(classes))
    idx = idx[np.argsort(-probs[idx], kind="stable")]
    return [[classes[i], float(probs[i])] for i in idx]


def _forward(model, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.float16):
            logits = model(x)
    else:
        logits = model(x)
    return torch.softmax(logits.float(), dim=1)


def _take_results(batch, names, sources, errors: dict) -> tuple[list[dict], list]:
    """One result record per decoded (or failed) source; (records, [(record, arrays)] to classify)."""
    results, good = [], []
    for i, fut in batch:
        rec = {
            "index": i,
            "name": names[i],
            "source": _source_text(sources[i]),
            "path": None,
            "label": None,
            "prob": float("nan"),
            "top": [],
            "ms": 0.0,
            "size": None,
            "thumbnail": None,
            "error": None,
        }
        try:
            arrays, thumb, local, im_size, ms = fut.result()
        except ImageError as exc:
            rec["error"] = errors[i] = str(exc)
        except Exception as exc:  # never let one file stop the rest
            rec["error"] = errors[i] = f"cannot decode: {exc}"
        else:
            rec.update(path=local, ms=ms, size=list(im_size), thumbnail=thumb)
            good.append((rec, arrays))
        results.append(rec)
    return results, good


def _classify(net, good: list, meta, dev: torch.device, probs: np.ndarray, top: int) -> None:
    """Probabilities of the decoded images (their views averaged) into ``probs`` and their records."""
    classes = list(meta.classes)
    t0 = time.perf_counter()
    x = to_tensor([a for _, arrays in good for a in arrays], meta.mean, meta.std)
    with torch.inference_mode():
        # a CPU runs mid-sized batches fastest (they stay in cache): TTA's six views per
        # image make one batch of 32 images 192 forward passes, run 32 at a time
        step = len(x) if dev.type == "cuda" else forward_batch_size(dev)
        p = torch.cat([_forward(net, x[i : i + step], dev) for i in range(0, len(x), step)])
        p = p.view(len(good), -1, p.shape[1]).mean(1).cpu().numpy()
    share = (time.perf_counter() - t0) * 1000.0 / len(good)
    for (rec, _), row in zip(good, p, strict=True):
        probs[rec["index"]] = row
        rec["ms"] += share
        if top:
            rec["top"] = top_k(row, classes, top)
        best = int(row.argmax())
        rec["label"], rec["prob"] = classes[best], float(row[best])


def predict_images(
    model,
    images_or_paths,
    bs: int = 32,
    device=None,
    tta: bool = False,
    stop=None,
    top: int = 5,
    thumbnail: int = 0,
    workers: int | None = None,
):
    """Job: class probabilities for image files, URLs, PIL images or HWC uint8 arrays.

    Yields {'type': 'predictions', 'done', 'total', 'results': [...]} as batches finish;
    each result: {'index', 'name', 'source' (str), 'path' (local file or None), 'label',
    'prob', 'top' ([[class, p], ...] top-k), 'ms' (decode + this file's share of the
    forward pass), 'size' ([w, h]), 'thumbnail' (HWC uint8 array or None), 'error' (None or
    the reason)}. The first batch holds one image so a drop shows its result at once; later
    batches take every decoded image, up to ``bs``. Returns Predictions.
    """
    if int(bs) < 1:
        raise ValueError(f"batch size must be at least 1 (got {bs})")
    sources = list(images_or_paths)
    n = len(sources)
    meta = model.meta
    classes, size = list(meta.classes), int(meta.image_size)
    dev = _resolve_device(model, device)
    probs = np.full((n, len(classes)), np.nan, dtype=np.float32)
    errors: dict[int, str] = {}
    names = [source_name(s) for s in sources]
    t_start = time.perf_counter()
    was_training = model.training
    workers = workers or max(2, min(4, os.cpu_count() or 2))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="fovea-decode")
    pending: deque = deque()
    next_i = 0
    done = 0
    try:
        net = _inference_net(model, dev)
        while next_i < n or pending:
            check(stop)
            while next_i < n and len(pending) < 2 * bs:
                pending.append((next_i, pool.submit(_decode_one, sources[next_i], size, tta, thumbnail)))
                next_i += 1
            # the oldest decode (wait for it), plus every later one already finished
            batch = [pending.popleft()]
            limit = bs if done else 1  # the very first result goes out alone, as early as possible
            while pending and len(batch) < limit and pending[0][1].done():
                batch.append(pending.popleft())
            results, good = _take_results(batch, names, sources, errors)
            if good:
                _classify(net, good, meta, dev, probs, top)
            done += len(batch)
            yield {"type": "predictions", "done": done, "total": n, "results": results}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if was_training:
            model.train()
    return Predictions(classes, sources, probs, errors, names, time.perf_counter() - t_start, str(dev), tta)


def predict_sources(
    model, sources, bs: int = 32, device=None, tta: bool = False, stop=None, top: int = 5, thumbnail: int = 0
):
    """Job: like predict_images, after expanding folders into their image files.

    First yields {'type': 'sources', 'names': [...], 'sources': [...]} so a view can lay out rows.
    """
    expanded = expand_sources(sources)
    # 'items' are the caller's own objects (path strings or the arrays it passed in), in row order
    yield {
        "type": "sources",
        "names": [source_name(s) for s in expanded],
        "sources": [_source_text(s) for s in expanded],
        "items": list(expanded),
    }
    return (
        yield from predict_images(
            model, expanded, bs=bs, device=device, tta=tta, stop=stop, top=top, thumbnail=thumbnail
        )
    )
