"""A Learner's model and its cached features: the model file a learner writes (with what the weights
are), and the precomputed activations it trains from with precompute on (engine.features)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path

from engine.compute import is_oom, oom_message
from engine.features import fast_inference_copy, feature_space, precompute_features
from engine.models import save_model


def save_learner(learner, path) -> Path:
    """Write ``learner``'s model file (engine.models.save_model) with its metrics, settings, dataset
    and the run and epoch its weights come from (engine.run_training) in the meta."""
    if learner.model is None:
        raise ValueError("there is no trained model to save yet")
    meta = learner.model.meta
    meta.metrics = {
        k: float(v) if isinstance(v, (float, int)) and not isinstance(v, bool) else v
        for k, v in learner.metrics.items()
        if isinstance(v, (float, int, bool, str))
    }
    config = dataclasses.asdict(learner.config)
    meta.settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}
    meta.dataset = str(learner.dataset.root)
    meta.created = _dt.datetime.now().isoformat(timespec="seconds")
    meta.run = dict(learner.weights_from)
    return save_model(learner.model, path)


def precompute_learner_features(learner, stop=None):
    """Job part: compute (or keep) ``learner.features`` for train and valid, the body's activations
    that precompute trains the head on. Yields precompute records."""
    if learner._space is None:
        learner._space = feature_space(learner.model, learner.device)

    def fast_body():
        if learner._fast_body is None:
            size = min(64, learner.config.size)
            learner._fast_body = fast_inference_copy(learner.model.body, learner.device, size)
        return learner._fast_body

    try:
        for split in ("train", "valid"):
            if split in learner.features:
                continue
            try:
                fs = yield from precompute_features(
                    learner.model,
                    learner.dataset.items(split),
                    split,
                    learner.device,
                    stop=stop,
                    workers=learner.config.workers,
                    space=learner._space,
                    fast_body=fast_body,
                )
            except Exception as exc:
                if is_oom(exc):
                    raise RuntimeError(oom_message(learner.config)) from None
                raise
            learner.features[split] = fs
    finally:
        learner._fast_body = None  # an extra copy of the body: free it
