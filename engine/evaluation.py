"""Evaluation: metrics on labelled images (pure functions on probabilities and labels), the
gallery selections of lesson 1 (most correct, most incorrect, most uncertain, top losses) and the
job that predicts a validation set."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.predictions import Predictions, predict_images


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
