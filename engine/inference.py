"""Use a model: the ImageNet model, loading and copying models for use, and (re-exported here, so
``engine.inference`` stays the one import) predictions, evaluation, Grad-CAM and prediction files.

The parts: ``engine.sources`` (files, folders, URLs), ``engine.predictions`` (the prediction job,
TTA), ``engine.evaluation`` (metrics and galleries), ``engine.gradcam``, ``engine.prediction_csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from engine.evaluation import (  # noqa: F401 (part of this API)
    Evaluation,
    accuracy,
    cell_indices,
    confusion_matrix,
    evaluate,
    make_evaluation,
    most_correct,
    most_incorrect,
    most_uncertain,
    precision_recall,
    top_losses,
)
from engine.gradcam import GradCam, explain_job, grad_cam, gradcam_job, overlay_heatmap  # noqa: F401
from engine.jobs import check
from engine.models import (
    DEFAULT_ARCH,
    FoveaModel,
    ModelMeta,
    body_from_network,
    imagenet_classes,
    normalisation,
    pretrained_network,
)
from engine.paths import cache_dir  # noqa: F401
from engine.prediction_csv import (  # noqa: F401
    dog_class_index,
    kaggle_from_predictions,
    kaggle_rows,
    prediction_rows,
    write_kaggle_csv,
    write_predictions_csv,
)
from engine.predictions import (  # noqa: F401
    TTA_VIEWS,
    TTA_ZOOM,
    Predictions,
    _inference_net,
    predict_images,
    predict_sources,
    top_k,
    tta_views,
    warm_up_model,
)
from engine.sources import (  # noqa: F401
    DOWNLOAD_TIMEOUT,
    MAX_DOWNLOAD_BYTES,
    download_image,
    expand_sources,
    list_images,
    load_source,
    source_name,
    thumbnail_job,
)

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


def copy_model_job(model, stop=None):
    """Job: an independent copy of a model, so later training does not change what is being used.
    Made by engine.inference_copy's clone (``copy.deepcopy`` walks every attribute of every module in
    Python, holding the GIL long enough to pause the window)."""
    import copy

    from engine.inference_copy import module_clone

    yield {"type": "copying"}
    with torch.no_grad():
        clone = module_clone(model)
    for mine, theirs in zip(clone.parameters(), model.parameters(), strict=True):
        mine.requires_grad_(theirs.requires_grad)
    if hasattr(model, "meta"):  # what the model is (run, epoch…) must not follow later training
        clone.__dict__["meta"] = copy.deepcopy(model.meta)
    return clone.eval()
