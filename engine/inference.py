"""Use a model: predict files, URLs and in-memory images, evaluate on labelled images, Grad-CAM.

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

import base64
import binascii
import csv
import hashlib
import math
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.features import fast_inference_copy, forward_batch_size
from engine.images import ImageError, is_image_name, load_rgb, to_rgb
from engine.jobs import check
from engine.models import (
    DEFAULT_ARCH,
    FoveaModel,
    ModelMeta,
    body_from_network,
    center_crop_size,
    imagenet_classes,
    normalisation,
    pick_device,
    pretrained_network,
    resize_array,
    resize_center_crop,
    resize_center_crop_array,
    to_tensor,
)
from engine.paths import atomic_file, cache_dir

TTA_ZOOM = 1.15
TTA_VIEWS = ("centre", "centre flipped", "zoom top-left", "zoom top-right", "zoom bottom-left", "zoom bottom-right")
DOWNLOAD_TIMEOUT = 5.0
MAX_DOWNLOAD_BYTES = 50_000_000
IMAGENET_DATASET = "ImageNet"


# ---------------------------------------------------------------- models


def imagenet_model(arch: str = DEFAULT_ARCH) -> FoveaModel:
    """The pretrained ImageNet network as a 1000-class model (224 px), usable before any training."""
    net = pretrained_network(arch)
    body, n_features = body_from_network(arch, net)
    if hasattr(net, "global_pool"):  # timm EfficientNet: pool → (dropout, off in eval) → classifier
        head = torch.nn.Sequential(net.global_pool, net.classifier)
    else:  # torchvision ResNet: avgpool → flatten → fc
        head = torch.nn.Sequential(net.avgpool, torch.nn.Flatten(1), net.fc)
    mean, std = normalisation(arch)
    meta = ModelMeta(
        arch, imagenet_classes(), 224, mean, std, dataset=IMAGENET_DATASET, settings={"pretrained": "imagenet"}
    )
    return FoveaModel(body, head, meta, n_features).eval()


def is_imagenet_model(model) -> bool:
    return getattr(getattr(model, "meta", None), "dataset", "") == IMAGENET_DATASET


def describe_model(model) -> str:
    """One line naming what a model is: 'ImageNet (pretrained efficientnet_lite0, 1000 classes)'."""
    meta = model.meta
    if is_imagenet_model(model):
        return f"ImageNet (pretrained {meta.arch}, {len(meta.classes)} classes)"
    acc = meta.metrics.get("accuracy") if isinstance(meta.metrics, dict) else None
    acc_text = f", valid accuracy {acc:.1%}" if isinstance(acc, (int, float)) and math.isfinite(acc) else ""
    names = ", ".join(meta.classes[:4]) + (f", … ({len(meta.classes)} classes)" if len(meta.classes) > 4 else "")
    trained_on = f", trained on {meta.dataset}" if meta.dataset else ""
    return f"{meta.arch} classifier for {names} at {meta.image_size} px{trained_on}{acc_text}"


def load_model_job(path: str | Path | None = None, device=None, warm_up: bool = True, stop=None):
    """Job: load a saved model file (or the ImageNet model when path is None), ready to predict.

    warm_up: run one forward pass now, so the first real prediction does not pay for the
    math library's one-time set-up.
    """
    from engine.models import load_model

    yield {"type": "loading", "what": str(path) if path else IMAGENET_DATASET}
    model = imagenet_model() if path is None else load_model(path)
    check(stop)
    if warm_up:
        warm_up_model(model, device)
    return model


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


def copy_model_job(model, stop=None):
    """Job: an independent copy of a model, so later training does not change what is being used."""
    import copy

    yield {"type": "copying"}
    return copy.deepcopy(model).eval()


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


# ---------------------------------------------------------------- loading sources


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
    tmp = folder / f".{digest}.{threading.get_ident()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)
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
    """Image files directly inside a folder, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise ImageError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    return [e.path for e in entries if not e.name.startswith(".") and is_image_name(e.name) and e.is_file()]


def expand_sources(sources) -> list:
    """Folders become the image files inside them; everything else passes through."""
    out = []
    for s in sources:
        if isinstance(s, (str, Path)) and not _is_url(str(s)) and Path(s).is_dir():
            out.extend(list_images(s))
        else:
            out.append(s)
    return out


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
                    rec["error"] = str(exc)
                    errors[i] = rec["error"]
                except Exception as exc:  # never let one file stop the rest
                    rec["error"] = f"cannot decode: {exc}"
                    errors[i] = rec["error"]
                else:
                    rec.update(path=local, ms=ms, size=list(im_size), thumbnail=thumb)
                    good.append((rec, arrays))
                results.append(rec)
            if good:
                t0 = time.perf_counter()
                x = to_tensor([a for _, arrays in good for a in arrays], meta.mean, meta.std)
                with torch.inference_mode():
                    # a CPU runs mid-sized batches fastest (they stay in cache): TTA's six views per
                    # image make one batch of 32 images 192 forward passes, run 32 at a time
                    step = len(x) if dev.type == "cuda" else forward_batch_size(dev)
                    p = torch.cat([_forward(net, x[i : i + step], dev) for i in range(0, len(x), step)])
                    p = p.view(len(good), -1, p.shape[1]).mean(1).cpu().numpy()
                share = (time.perf_counter() - t0) * 1000.0 / len(good)
                for (rec, _), row in zip(good, p, strict=False):
                    probs[rec["index"]] = row
                    rec["ms"] += share
                    if top:
                        rec["top"] = top_k(row, classes, top)
                    best = int(row.argmax())
                    rec["label"], rec["prob"] = classes[best], float(row[best])
            done += len(batch)
            yield {"type": "predictions", "done": done, "total": n, "results": results}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if was_training:
            model.train()
    return Predictions(classes, sources, probs, errors, names, time.perf_counter() - t_start, str(dev), tta)


def _source_text(source) -> str:
    if isinstance(source, (str, Path)):
        s = str(source)
        return s if not s.startswith("data:") else s[:40] + "…"
    return "pasted image"


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


# ---------------------------------------------------------------- evaluation (pure functions)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return float("nan")
    return float((np.asarray(probs).argmax(1) == np.asarray(labels)).mean())


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """cm[i, j] = number of images of true class i predicted as class j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return cm


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (column-wise) and recall (row-wise); NaN where undefined."""
    tp = np.diag(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), np.nan)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), np.nan)
    return precision, recall


def cell_indices(labels: np.ndarray, preds: np.ndarray, true_class: int, predicted_class: int) -> list[int]:
    """Indices of exactly the images in confusion-matrix cell (true i, predicted j)."""
    mask = (np.asarray(labels) == true_class) & (np.asarray(preds) == predicted_class)
    return np.flatnonzero(mask).tolist()


def most_correct(probs, labels, cls: int, k: int = 8) -> list[int]:
    """Images of class ``cls`` predicted correctly, most confident first."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    idx = np.flatnonzero((labels == cls) & (probs.argmax(1) == cls))
    return idx[np.argsort(-probs[idx, cls], kind="stable")][:k].tolist()


def most_incorrect(probs, labels, cls: int, k: int = 8) -> list[int]:
    """Images of class ``cls`` predicted as something else, the most confidently wrong first."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    idx = np.flatnonzero((labels == cls) & (probs.argmax(1) != cls))
    return idx[np.argsort(probs[idx, cls], kind="stable")][:k].tolist()


def most_uncertain(probs, labels, cls: int, k: int = 8) -> list[int]:
    """Images of class ``cls`` where the model hesitated most: P(cls) closest to the best other class."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    idx = np.flatnonzero(labels == cls)
    if len(idx) == 0:
        return []
    others = probs[idx].copy()
    others[:, cls] = -np.inf
    margin = np.abs(probs[idx, cls] - others.max(1))
    return idx[np.argsort(margin, kind="stable")][:k].tolist()


def top_losses(probs, labels, k: int = 8) -> list[int]:
    """Images with the highest cross-entropy loss (lowest probability for their true class)."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    p_true = probs[np.arange(len(labels)), labels]
    return np.argsort(p_true, kind="stable")[:k].tolist()


@dataclass
class Evaluation:
    classes: list[str]
    paths: list[str]
    labels: np.ndarray  # (N,) true class index
    probs: np.ndarray  # (N, C)
    preds: np.ndarray  # (N,) predicted class index
    accuracy: float
    loss: float  # mean cross-entropy
    confusion: np.ndarray  # (C, C) rows = true, columns = predicted
    precision: np.ndarray  # (C,)
    recall: np.ndarray  # (C,)
    tta: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # path → reason (left out of the metrics)
    seconds: float = 0.0

    def cell(self, true_class: int, predicted_class: int) -> list[int]:
        return cell_indices(self.labels, self.preds, true_class, predicted_class)

    def most_correct(self, cls: int, k: int = 8) -> list[int]:
        return most_correct(self.probs, self.labels, cls, k)

    def most_incorrect(self, cls: int, k: int = 8) -> list[int]:
        return most_incorrect(self.probs, self.labels, cls, k)

    def most_uncertain(self, cls: int, k: int = 8) -> list[int]:
        return most_uncertain(self.probs, self.labels, cls, k)

    def top_losses(self, k: int = 8) -> list[int]:
        return top_losses(self.probs, self.labels, k)

    def summary(self) -> str:
        tta = " with TTA" if self.tta else ""
        return (
            f"accuracy {self.accuracy:.1%}{tta} on {len(self.labels)} images "
            f"({int((self.preds != self.labels).sum())} wrong), loss {self.loss:.3f}"
        )


def make_evaluation(
    classes: list[str],
    paths: list[str],
    labels,
    probs,
    tta: bool = False,
    errors: dict[str, str] | None = None,
    seconds: float = 0.0,
) -> Evaluation:
    """All metrics from probabilities and true labels (pure)."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float32).reshape(len(labels), len(classes))
    preds = probs.argmax(1) if len(labels) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(labels, preds, len(classes))
    precision, recall = precision_recall(cm)
    if len(labels):
        p_true = probs[np.arange(len(labels)), labels]
        loss = float(-np.log(np.clip(p_true, 1e-7, 1.0)).mean())
    else:
        loss = float("nan")
    return Evaluation(
        list(classes),
        list(paths),
        labels,
        probs,
        preds,
        accuracy(probs, labels),
        loss,
        cm,
        precision,
        recall,
        tta,
        dict(errors or {}),
        seconds,
    )


def evaluate(model, items, tta: bool = False, stop=None, bs: int = 32, device=None):
    """Job: predict labelled (path, label) items; returns an Evaluation.

    Yields {'type': 'evaluate', 'done', 'total'}. Files that cannot be read are listed in
    ``errors`` and left out of the metrics.
    """
    items = list(items)
    paths = [str(p) for p, _ in items]
    labels = np.array([int(lab) for _, lab in items], dtype=np.int64)
    gen = predict_images(model, paths, bs=bs, device=device, tta=tta, stop=stop, top=0)
    while True:
        try:
            rec = next(gen)
        except StopIteration as end:
            result: Predictions = end.value
            break
        yield {"type": "evaluate", "done": rec["done"], "total": rec["total"]}
    ok = result.ok
    return make_evaluation(
        result.classes,
        [p for p, good in zip(paths, ok, strict=False) if good],
        labels[ok],
        result.probs[ok],
        tta,
        {paths[i]: r for i, r in result.errors.items()},
        result.seconds,
    )


# ---------------------------------------------------------------- Grad-CAM


@dataclass
class GradCam:
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], the original image's shape; 0 outside the crop
    class_index: int
    class_name: str
    prob: float
    box: tuple[int, int, int, int]  # the crop the model saw, in image pixels: left, top, right, bottom


def _cam_parts(model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(body → feature map, head → logits) for FoveaModels and the plain backbones."""
    if hasattr(model, "body") and hasattr(model, "head"):
        return model.body, model.head
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):  # timm networks

        class _Features(torch.nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net.forward_features(x)

        class _Head(_Features):
            def forward(self, x):
                return self.net.forward_head(x)

        return _Features(model), _Head(model)
    if hasattr(model, "layer4") and hasattr(model, "fc"):  # torchvision ResNets
        body = torch.nn.Sequential(*list(model.children())[:-2])
        return body, torch.nn.Sequential(model.avgpool, torch.nn.Flatten(1), model.fc)
    raise ValueError(f"Grad-CAM does not know where the feature map of {type(model).__name__} is")


def grad_cam(
    model, image, class_index: int | None = None, device=None, size: int | None = None, mean=None, std=None
) -> GradCam:
    """Which parts of the image made the model choose a class (Grad-CAM on the last feature map).

    image: path, URL, PIL image or HWC array. class_index: None = the predicted class.
    size/mean/std default to the model's meta (needed for plain backbones without one).
    """
    meta = getattr(model, "meta", None)
    size = size or (meta.image_size if meta else 224)
    mean = mean or (meta.mean if meta else normalisation(DEFAULT_ARCH)[0])
    std = std or (meta.std if meta else normalisation(DEFAULT_ARCH)[1])
    classes = list(meta.classes) if meta else []
    im, _ = load_source(image)
    w, h = im.size
    crop = resize_center_crop(im, size)
    dev = _resolve_device(model, device)
    _cam_parts(model)  # says clearly when the model has no feature map to explain
    was_training = model.training
    try:
        body, head = _cam_parts(_inference_net(model, dev))  # on a CPU the folded copy: the model stays as it is
        x = to_tensor([crop], mean, std).to(dev).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            feats = body(x).float()
        feats = feats.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = head(feats).float()
            probs = torch.softmax(logits, 1)[0]
            c = int(probs.argmax()) if class_index is None else int(class_index)
            # autograd.grad, not backward(): no .grad is left on the model's parameters
            (grads,) = torch.autograd.grad(logits[0, c], feats)
        weights = grads[0].mean(dim=(1, 2))
        cam = torch.einsum("k,khw->hw", weights, feats[0].detach())
        prob = float(probs[c].detach())
    finally:
        if was_training:
            model.train()
    cam = cam.cpu().numpy().astype(np.float32)
    pos = np.maximum(cam, 0)
    if pos.max() > 0:
        cam = pos / pos.max()
    else:  # no positive evidence anywhere: show relative evidence instead of a blank map
        span = cam.max() - cam.min()
        cam = (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)
    return GradCam(
        _cam_to_image(cam, w, h, size), c, classes[c] if c < len(classes) else str(c), prob, _crop_box(w, h, size)
    )


def _crop_box(w: int, h: int, size: int) -> tuple[int, int, int, int]:
    nw, nh = center_crop_size(w, h, size)
    left, top = (nw - size) // 2, (nh - size) // 2
    sx, sy = w / nw, h / nh
    return (round(left * sx), round(top * sy), round((left + size) * sx), round((top + size) * sy))


def _cam_to_image(cam: np.ndarray, w: int, h: int, size: int) -> np.ndarray:
    """Upsample the feature-map CAM onto the crop, and place the crop in the image's frame."""
    import cv2

    nw, nh = center_crop_size(w, h, size)
    left, top = (nw - size) // 2, (nh - size) // 2
    full = np.zeros((nh, nw), dtype=np.float32)
    full[top : top + size, left : left + size] = cv2.resize(cam, (size, size), interpolation=cv2.INTER_CUBIC)
    out = cv2.resize(full, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def gradcam_job(model, image, class_index: int | None = None, stop=None, device=None):
    """Job wrapper of grad_cam (a few hundred ms on a CPU: keep it off the UI thread)."""
    check(stop)
    yield {"type": "gradcam", "class_index": -1 if class_index is None else int(class_index)}
    return grad_cam(model, image, class_index, device)


def explain_job(
    model, image, class_index: int | None = None, cam: bool = True, max_side: int = 640, stop=None, device=None
):
    """Job: a display-sized copy of an image and, with ``cam``, its Grad-CAM overlay.

    Returns {'image': HWC uint8, 'overlay': HWC uint8 or None, 'class_index', 'class_name',
    'prob', 'box' (the crop the model saw, in display pixels)}. Outside that crop the overlay
    is dimmed: the model never saw it.
    """
    import cv2

    check(stop)
    yield {"type": "explain"}
    im, _ = load_source(image)
    shown = im.copy()
    shown.thumbnail((max_side, max_side), Image.BILINEAR)
    rgb = np.asarray(shown, dtype=np.uint8).copy()
    out = {"image": rgb, "overlay": None, "class_index": None, "class_name": "", "prob": float("nan"), "box": None}
    if not cam:
        return out
    check(stop)
    g = grad_cam(model, im, class_index, device)
    h, w = rgb.shape[:2]
    heat = cv2.resize(g.heatmap, (w, h), interpolation=cv2.INTER_AREA)
    overlay = overlay_heatmap(rgb, heat)
    sx, sy = w / im.size[0], h / im.size[1]
    left, top, right, bottom = g.box
    box = (round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))
    outside = np.ones((h, w), dtype=bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    overlay[outside] = (overlay[outside].astype(np.float32) * 0.45 + 40).astype(np.uint8)
    out.update(overlay=overlay, class_index=g.class_index, class_name=g.class_name, prob=g.prob, box=box)
    return out


def overlay_heatmap(rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heatmap (turbo colours, hot = important) over an HWC uint8 image."""
    import cv2

    heat = cv2.applyColorMap((np.clip(heatmap, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB).astype(np.float32)
    if heat.shape[:2] != rgb.shape[:2]:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    a = alpha * (0.35 + 0.65 * np.clip(heatmap, 0, 1))[..., None]  # cold regions stay readable
    if a.shape[:2] != rgb.shape[:2]:
        a = cv2.resize(a[..., 0], (rgb.shape[1], rgb.shape[0]))[..., None]
    return np.clip(rgb.astype(np.float32) * (1 - a) + heat * a, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- thumbnails


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


# ---------------------------------------------------------------- CSV


def dog_class_index(classes: list[str]) -> int:
    """Index of the class named dog/dogs (Kaggle Dogs vs Cats); ValueError if there is none."""
    for i, c in enumerate(classes):
        if c.strip().lower() in ("dog", "dogs"):
            return i
    raise ValueError(
        f"the Kaggle Dogs vs Cats format needs a class named 'dog' or 'dogs'; "
        f"this model's classes are: {', '.join(classes[:10])}{' …' if len(classes) > 10 else ''}"
    )


def prediction_rows(pred: Predictions) -> list[tuple[str, str, float]]:
    """(file, predicted class, probability) for every source that was predicted, in input order."""
    rows = []
    for i, src in enumerate(pred.sources):
        if i in pred.errors:
            continue
        best = int(np.argmax(pred.probs[i]))
        rows.append((_source_text(src), pred.classes[best], float(pred.probs[i, best])))
    return rows


def write_predictions_csv(rows, out) -> None:
    """CSV with header file,class,probability; ``out`` is a path or a text file object."""
    _write_csv(out, ["file", "class", "probability"], [(f, c, f"{p:.6f}") for f, c, p in rows])


def kaggle_rows(names: list[str], p_dog: list[float]) -> list[tuple[str, float]]:
    """(id, P(dog)) with id = file stem, numeric ids in numeric order (Kaggle's sample submission)."""
    rows = [(Path(n).stem, float(p)) for n, p in zip(names, p_dog, strict=False)]
    if all(r[0].isdigit() for r in rows):
        rows.sort(key=lambda r: int(r[0]))
    else:
        rows.sort(key=lambda r: r[0])
    return rows


def write_kaggle_csv(rows, out) -> None:
    """Kaggle Dogs vs Cats submission: header id,label; label = P(dog)."""
    _write_csv(out, ["id", "label"], [(i, f"{p:.6f}") for i, p in rows])


def kaggle_from_predictions(pred: Predictions, fill_unreadable: float | None = 0.5) -> list[tuple[str, float]]:
    """Kaggle rows from predictions; unreadable files get ``fill_unreadable`` (None = leave them out)."""
    dog = dog_class_index(pred.classes)
    names, values = [], []
    for i, name in enumerate(pred.names or [source_name(s) for s in pred.sources]):
        if i in pred.errors:
            if fill_unreadable is None:
                continue
            values.append(fill_unreadable)
        else:
            values.append(float(pred.probs[i, dog]))
        names.append(name)
    return kaggle_rows(names, values)


def _write_csv(out, header, rows) -> None:
    if isinstance(out, (str, Path)):
        with atomic_file(Path(out), ".csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            _write_csv(f, header, rows)
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
