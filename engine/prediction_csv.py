"""Prediction files: file,class,probability CSVs and Kaggle Dogs vs Cats submissions.

File names go into the CSV as they are on disk: a name that is not valid UTF-8 is written as its
raw bytes (``surrogateescape``), so every row names a file that exists.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from engine.paths import atomic_file
from engine.predictions import Predictions
from engine.sources import _source_text, source_name


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
        csv_file = atomic_file(Path(out), ".csv")
        with csv_file as tmp, open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            _write_csv(f, header, rows)
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
