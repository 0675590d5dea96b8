"""Self-describing model files: one torch.save'd dict with the weights and a description
(architecture, classes, image size, normalisation, metrics), and ONNX export.

Loading trusts nothing in the file: the archive's records are size-checked before anything is
unpickled (engine.weights), unpickling runs with ``weights_only=True``, the description is
validated field by field, and every tensor must have the shape the architecture gives it and hold
finite numbers. Each refusal is one line that names what is wrong.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from engine.networks import FoveaModel, ModelMeta, model_skeleton
from engine.paths import atomic_file, check_free_space, write_error
from engine.weights import archive_limits, load_checked_archive

FORMAT_VERSION = 1


def save_model(model: FoveaModel, path: str | Path) -> Path:
    """Write one self-describing file atomically (temp file + rename); OSError with one line when
    the folder lacks the space (checked first) or the write fails."""
    path = Path(path)
    if not model.meta.created:
        model.meta.created = _dt.datetime.now().isoformat(timespec="seconds")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = {
        "fovea_format": FORMAT_VERSION,
        "meta": model.meta.to_dict(),
        "n_features": int(model.n_features),
        "state_dict": state,
    }
    needed = sum(t.numel() * t.element_size() for t in state.values()) + (1 << 20)
    check_free_space(Path(os.path.realpath(path)).parent, needed, f"the model file {path.name}")
    try:
        with atomic_file(path, ".tmp") as tmp:
            torch.save(blob, tmp)
    except (OSError, RuntimeError) as exc:
        raise write_error(path, exc) from None
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu") -> FoveaModel:
    """Load a model file written by save_model (no code runs; see the module's doc).
    ValueError with one line when the file is not a usable Fovea model."""
    blob = load_checked_archive(path, archive_limits(None), "Fovea model file")
    if not isinstance(blob, dict) or "meta" not in blob or not isinstance(blob.get("state_dict"), dict):
        raise ValueError(f"{path} is not a Fovea model file (no meta/state_dict)")
    try:
        meta = ModelMeta.from_dict(blob["meta"])
    except ValueError as exc:
        raise ValueError(f"{path} is not a usable Fovea model: {exc}") from None
    model = model_skeleton(meta)
    _check_state(path, meta, model.state_dict(), blob["state_dict"])
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval()


def _check_state(path, meta: ModelMeta, want: dict, got: dict) -> None:
    """Every tensor present, of the right shape, finite; one line naming the first that is not."""
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing or extra:
        which = f"{len(missing)} missing, e.g. {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise ValueError(f"{path} is damaged: its weights do not fit {meta.arch} ({which})")
    for k, t in want.items():
        v = got[k]
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(t.shape):
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            if k == _last_key(want):
                raise ValueError(
                    f"{path} is damaged: its head gives {shape[0] if shape else '?'} classes but it lists "
                    f"{len(meta.classes)} class names"
                )
            raise ValueError(f"{path} does not fit {meta.arch}: {k} has shape {shape}, expected {tuple(t.shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"{path} is damaged: its weights hold NaN or infinite values (in {k})")


def _last_key(state: dict) -> str:
    """The final classifier's weight (its rows are the classes)."""
    return [k for k in state if k.endswith("weight")][-1]


def export_onnx(model: FoveaModel, path: str | Path, opset: int = 17) -> Path:
    """Write the model as ONNX (input "image": N×3×S×S normalised; output "probs": N×classes).

    Class names and preprocessing go into the file's metadata ("fovea_meta", JSON).
    Needs the optional ``onnx`` package (pip install onnx).
    """
    try:
        import onnx
    except ImportError:
        raise ValueError("ONNX export needs the 'onnx' package: pip install onnx") from None
    path = Path(path)
    size = int(model.meta.image_size)
    net = nn.Sequential(_CopyOf(model), nn.Softmax(dim=1)).eval()
    try:
        with atomic_file(path, ".onnx") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                torch.zeros(1, 3, size, size),
                tmp,
                dynamo=False,
                opset_version=opset,
                input_names=["image"],
                output_names=["probs"],
                dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}},
            )
            proto = onnx.load(tmp)
            entry = proto.metadata_props.add()
            entry.key, entry.value = "fovea_meta", json.dumps(model.meta.to_dict())
            onnx.save(proto, tmp)
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


class _CopyOf(nn.Module):
    """A CPU, fp32, contiguous copy of a model for export (the original stays where it is)."""

    def __init__(self, model: FoveaModel):
        super().__init__()
        import copy

        self.inner = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format).eval()

    def forward(self, x):
        return self.inner(x)
