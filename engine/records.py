"""The progress records engine jobs yield: plain numbers and strings, typed here once.

A job yields dicts (cheap to make, easy to print as JSON on the CLI); these TypedDicts say
which keys each kind carries, so the GUI and the CLI read them the same way.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class _Precompute(TypedDict):
    type: Literal["precompute"]
    split: str  # train | valid
    done: int
    total: int


class PrecomputeRecord(_Precompute, total=False):
    reused: int  # cached activations found for this many files
    stage: str  # "frozen": caching the frozen early layers' outputs


class BatchRecord(TypedDict):
    type: Literal["batch"]
    epoch: float  # fractional: iteration / iterations per epoch
    iteration: int
    loss: float
    lr: float


class EpochRecord(TypedDict):
    type: Literal["epoch"]
    epoch: int
    train_loss: float
    valid_loss: float
    accuracy: float
    seconds: float


class LRFindRecord(TypedDict):
    type: Literal["lr_find"]
    iteration: int
    total: int
    lr: float
    loss: float
    smoothed: float


class CountRecord(TypedDict):
    """Evaluation and other counted passes."""

    type: Literal["evaluate", "layer", "depth"]
    done: int
    total: int


class PredictionsRecord(TypedDict):
    type: Literal["predictions"]
    done: int
    total: int
    results: list[Any]


class StepRecord(TypedDict):
    """A job announcing what it does next (loading a model, copying it, explaining a class…)."""

    type: Literal["loading", "copying", "gradcam", "explain", "sources", "thumbnail"]


TrainingRecord = PrecomputeRecord | BatchRecord | EpochRecord


class StageRecord(TypedDict):
    """The Auto recipe (engine.recipes) says which stage starts or ended, and why."""

    type: Literal["stage"]
    name: str  # features | head | fine-tune
    why: str


class AddingRecord(TypedDict):
    """Images copied into a dataset made in the app (engine.dataset_maker.add_images)."""

    type: Literal["adding"]
    done: int
    total: int


class FrameRecord(TypedDict):
    """A webcam picture (engine.camera.camera_frames)."""

    type: Literal["frame"]
    number: int
    frame: Any  # (H, W, 3) uint8 RGB
